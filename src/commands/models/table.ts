/** Plain-text tables for the models commands (no colours, so output pipes and diffs cleanly). */

export type Align = "left" | "right";

export interface Column {
  header: string;
  align?: Align;
}

/** Renders rows under headers, columns padded to their widest cell, separated by two spaces. */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? "";
        const w = widths[i] ?? 0;
        return c.align === "right" ? cell.padStart(w) : cell.padEnd(w);
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
