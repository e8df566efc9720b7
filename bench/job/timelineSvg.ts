/** An SVG timeline of model calls: one row per sequence, one bar per call (waiting, prompt, generation), idle gaps visible. */

export interface TimelineCall {
  sequence: number;
  role: string;
  file: string;
  /** Milliseconds from the run's start. */
  start: number;
  firstToken: number;
  end: number;
}

const ROLE_COLORS: Record<string, string> = {
  extractor: "#1f77b4",
  researcher: "#2ca02c",
  writer: "#ff7f0e",
  validator: "#9467bd",
  synthesizer: "#8c564b",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function timelineSvg(title: string, calls: readonly TimelineCall[], sequences: number, wallMs: number): string {
  const left = 70;
  const rowH = 18;
  const width = 1000;
  const top = 40;
  const height = top + sequences * rowH + 50;
  const span = Math.max(1, wallMs);
  const x = (ms: number) => left + (ms / span) * (width - left - 10);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="18" font-size="13">${esc(title)}</text>`,
  ];
  for (let s = 0; s < sequences; s++) {
    const y = top + s * rowH;
    parts.push(`<text x="4" y="${y + 12}">seq ${s}</text>`, `<line x1="${left}" y1="${y + rowH - 1}" x2="${width - 10}" y2="${y + rowH - 1}" stroke="#eee"/>`);
  }
  for (const c of calls) {
    const y = top + c.sequence * rowH + 2;
    const color = ROLE_COLORS[c.role] ?? "#7f7f7f";
    const tip = `<title>${esc(`${c.role} ${c.file}: ${((c.end - c.start) / 1000).toFixed(1)} s (prompt ${((c.firstToken - c.start) / 1000).toFixed(1)} s)`)}</title>`;
    // Prompt evaluation lighter, generation solid.
    parts.push(
      `<rect x="${x(c.start).toFixed(1)}" y="${y}" width="${Math.max(0.5, x(c.firstToken) - x(c.start)).toFixed(1)}" height="${rowH - 5}" fill="${color}" opacity="0.45">${tip}</rect>`,
      `<rect x="${x(c.firstToken).toFixed(1)}" y="${y}" width="${Math.max(0.5, x(c.end) - x(c.firstToken)).toFixed(1)}" height="${rowH - 5}" fill="${color}">${tip}</rect>`,
    );
  }
  const axisY = top + sequences * rowH + 14;
  for (let i = 0; i <= 10; i++) {
    const ms = (span * i) / 10;
    parts.push(`<text x="${x(ms).toFixed(1)}" y="${axisY}" text-anchor="middle">${(ms / 1000).toFixed(0)} s</text>`);
  }
  let lx = left;
  for (const [role, color] of Object.entries(ROLE_COLORS)) {
    parts.push(`<rect x="${lx}" y="${axisY + 10}" width="10" height="10" fill="${color}"/>`, `<text x="${lx + 14}" y="${axisY + 19}">${role}</text>`);
    lx += 110;
  }
  parts.push(`<text x="${lx}" y="${axisY + 19}">light: prompt evaluation, solid: generation; gaps: sequence idle</text>`, "</svg>");
  return `${parts.join("\n")}\n`;
}
