/**
 * Input parsing on hostile and large shapes: milliseconds (best of 3) to parse and cap one file
 * the way discovery does. Run on a quiet machine: `npx tsx bench/inputParse.ts [--scale 1]`.
 * Linear behaviour shows as time growing with size at a steady ms/MB; the hostile shapes
 * (nesting, emphasis runs) must stay in the same range as ordinary text of their size.
 */
import { capUnits } from "../src/input/capUnits.ts";
import { parseJson } from "../src/input/parseJson.ts";
import { parseMarkdown } from "../src/input/parseMarkdown.ts";

const scaleArg = process.argv.indexOf("--scale");
const scale = scaleArg > 0 ? Number(process.argv[scaleArg + 1]) : 1;

const codeBlocks = (n: number) => `# Big\n\n${Array.from({ length: n }, (_, i) => `Text ${i}.\n\n\`\`\`rust\nlet x${i} = ${i};\n\`\`\`\n`).join("\n")}`;
const cases: [string, () => string, "md" | "json"][] = [
  ...[1000, 4000, 16000].map((n): [string, () => string, "md"] => [`markdown, ${n * scale} code blocks in one section`, () => codeBlocks(n * scale), "md"]),
  ["markdown, 100k nested blockquotes on one line", () => `# Q\n\n${"> ".repeat(100_000 * scale)}x\n`, "md"],
  ["markdown, 2k nested emphasis markers", () => `# E\n\n${"*a ".repeat(2000 * scale)}x${" a*".repeat(2000 * scale)}\n`, "md"],
  ["markdown, 400-level indented list", () => `# L\n\n${Array.from({ length: 400 * scale }, (_, i) => `${"  ".repeat(i)}- item ${i}`).join("\n")}\n`, "md"],
  ["markdown, 15k nested list items, no blank line", () => "- a\n  - b\n    - c\n".repeat(5000 * scale), "md"],
  ["markdown, 5k setext headings", () => "a\n=\n".repeat(5000 * scale), "md"],
  ["markdown, 2k short lists between paragraphs", () => "- a\n  - b\n    - c\n\npara\n\n".repeat(2000 * scale), "md"],
  ["JSON, 50k records", () => JSON.stringify(Array.from({ length: 50_000 * scale }, (_, i) => ({ name: `r${i}`, text: "x" }))), "json"],
  ["JSON, 100k levels deep", () => "[".repeat(100_000 * scale) + "]".repeat(100_000 * scale), "json"],
];

for (const [label, make, kind] of cases) {
  const text = make();
  let best = Number.POSITIVE_INFINITY;
  let units = 0;
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    if (kind === "md") units = capUnits(parseMarkdown(text).units).units.length;
    else {
      const r = parseJson(text);
      units = r.ok ? capUnits(r.units).units.length : 0;
    }
    best = Math.min(best, performance.now() - t);
  }
  const mb = text.length / 1048576;
  console.log(
    `${label.padEnd(48)} ${mb.toFixed(2).padStart(6)} MB ${best.toFixed(0).padStart(7)} ms ${(best / mb).toFixed(0).padStart(7)} ms/MB  ${units} units`,
  );
}
