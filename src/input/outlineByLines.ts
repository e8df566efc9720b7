import { closesFence, type Fence, opensFence } from "./markdownRisk.ts";
import type { MarkdownOutline } from "./types.ts";

/**
 * A markdown outline read line by line, for files the markdown parser should not see
 * (src/input/markdownRisk.ts): ATX and setext headings and fenced code blocks, nothing nested.
 * Linear in the text and without recursion, whatever the input.
 */
export function outlineByLines(lines: readonly string[]): MarkdownOutline {
  const headings: MarkdownOutline["headings"] = [];
  const codes: MarkdownOutline["codes"] = [];
  let fence: (Fence & { startLine: number; lang: string; body: string[] }) | undefined;
  let previousIsText = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (fence) {
      if (closesFence(line, fence)) {
        codes.push({ startLine: fence.startLine, endLine: i + 1, value: fence.body.join("\n"), lang: fence.lang });
        fence = undefined;
      } else fence.body.push(line);
      previousIsText = false;
      continue;
    }
    const opened = opensFence(line);
    if (opened) {
      const info = line.trim().slice(opened.length).trim();
      fence = { ...opened, startLine: i + 1, lang: info.split(/\s/, 1)[0] ?? "", body: [] };
      previousIsText = false;
      continue;
    }
    const atx = atxHeading(line);
    if (atx) {
      headings.push({ ...atx, line: i + 1 });
      previousIsText = false;
      continue;
    }
    const trimmed = line.trim();
    if (previousIsText && /^ {0,3}(=+|-+)[ \t]*$/.test(line)) {
      headings.push({ depth: trimmed.startsWith("=") ? 1 : 2, line: i, text: (lines[i - 1] ?? "").trim() });
      previousIsText = false;
      continue;
    }
    previousIsText = trimmed !== "" && !line.startsWith("    ") && !line.startsWith("\t");
  }
  // An unclosed fence runs to the end of the file, as in CommonMark.
  if (fence) codes.push({ startLine: fence.startLine, endLine: lines.length, value: fence.body.join("\n"), lang: fence.lang });
  return { headings, codes };
}

/** `# Title ##` -> {depth 1, "Title"}; string operations only (no backtracking on long lines). */
function atxHeading(line: string): { depth: number; text: string } | undefined {
  let p = 0;
  while (p < 3 && line[p] === " ") p++;
  let depth = 0;
  while (line[p + depth] === "#") depth++;
  if (depth < 1 || depth > 6) return undefined;
  const after = line[p + depth];
  if (after !== undefined && after !== " " && after !== "\t") return undefined;
  let text = line.slice(p + depth).trim();
  // An optional closing sequence of #s after a space.
  let end = text.length;
  while (end > 0 && text[end - 1] === "#") end--;
  if (end === 0) text = "";
  else if (end < text.length && (text[end - 1] === " " || text[end - 1] === "\t")) text = text.slice(0, end).trim();
  return { depth, text };
}
