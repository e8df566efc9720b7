import type { SourceUnit } from "./types.ts";

/**
 * Units read from one file at most (sections and records, and code blocks, together). Real notes
 * hold tens (the shared corpus: 63 at most); every unit may cost model calls, so a file of millions
 * of tiny records must not turn into millions of them.
 */
export const MAX_UNITS_PER_FILE = 1000;

export interface CappedUnits {
  units: SourceUnit[];
  /** Why some units were left out (for the report), when they were. */
  truncated?: string;
}

/**
 * Keeps the first `max` units in file order, each section or record together with its code
 * blocks, so no kept unit points at a dropped one. Linear in the number of units.
 */
export function capUnits(units: readonly SourceUnit[], max = MAX_UNITS_PER_FILE): CappedUnits {
  if (units.length <= max) return { units: [...units] };
  const parents = new Set(units.filter((u) => u.kind !== "code").map((u) => u.id));
  const children = new Map<string, SourceUnit[]>();
  const groups: SourceUnit[][] = [];
  for (const u of units) {
    if (u.kind === "code" && u.parent !== undefined && parents.has(u.parent)) {
      const list = children.get(u.parent) ?? [];
      list.push(u);
      children.set(u.parent, list);
    }
  }
  for (const u of units) {
    if (u.kind === "code" && u.parent !== undefined && parents.has(u.parent)) continue;
    groups.push([u, ...(children.get(u.id) ?? [])]);
  }
  // File order (stable for ties: a record and its code blocks share the record's first line).
  const order = groups.map((g, i) => ({ g, i })).sort((a, b) => (a.g[0]?.startLine ?? 0) - (b.g[0]?.startLine ?? 0) || a.i - b.i);
  const kept = new Set<SourceUnit>();
  let firstDropped: SourceUnit | undefined;
  for (const { g } of order) {
    for (const u of g) {
      if (kept.size < max) kept.add(u);
      else firstDropped ??= u;
    }
  }
  const out = units.filter((u) => kept.has(u));
  const where = firstDropped ? `, from line ${firstDropped.startLine} on` : "";
  return { units: out, truncated: `truncated: ${units.length - out.length} of ${units.length} units not read${where} (at most ${max} units per file)` };
}
