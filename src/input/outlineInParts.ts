import type { Nodes, Root } from "mdast";
import { fromMarkdown } from "mdast-util-from-markdown";
import { closesFence, type Fence, opensFence } from "./markdownRisk.ts";
import type { MarkdownOutline } from "./types.ts";

/**
 * Lines one parse holds when a safe boundary allows. micromark's work grows with the square of
 * the containers in one parse (short nested lists, even with paragraphs between them; setext
 * headings): doubling their count took 3-4x the time here. Parsing in parts bounds that to the
 * part's size (`npx tsx bench/inputParse.ts`).
 */
const PART_LINES = 200;
/** Without a safe boundary, a part ends at a blank line after this many lines (one huge list): headings and code stay found, nesting across the cut is lost. */
const MAX_PART_LINES = 500;
/** Without even a blank line (outside fenced code), a part ends here whatever the line. */
const FORCED_PART_LINES = 600;
const HTML_OPEN = /^ {0,3}(<!--|<\?|<![A-Za-z]|<!\[CDATA\[|<(pre|script|style|textarea)(\s|>|$))/i;
const HTML_CLOSE = /-->|\?>|>|\]\]>|<\/(pre|script|style|textarea)>/i;

/** The outline of the whole text, parsed in parts cut where a parse in one piece would mean the same for headings and code. */
export function outlineInParts(lines: readonly string[]): MarkdownOutline {
  const headings: MarkdownOutline["headings"] = [];
  const codes: MarkdownOutline["codes"] = [];
  const starts = partStarts(lines);
  for (const [k, start] of starts.entries()) {
    const end = starts[k + 1] ?? lines.length;
    const part = outlineOf(fromMarkdown(lines.slice(start, end).join("\n")));
    for (const h of part.headings) headings.push({ ...h, line: h.line + start });
    for (const c of part.codes) codes.push({ ...c, startLine: c.startLine + start, endLine: c.endLine + start });
  }
  return { headings, codes };
}

/**
 * 0-based first lines of the parts: after a blank line, at a line that starts in column 0 with
 * text that cannot continue a list, blockquote, code block or HTML block (outside fenced code).
 * With no such line for MAX_PART_LINES, a part ends at a blank line, and at FORCED_PART_LINES anywhere.
 */
export function partStarts(lines: readonly string[]): number[] {
  const starts = [0];
  let fence: Fence | undefined;
  let html = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const size = i - (starts[starts.length - 1] ?? 0);
    if (fence) {
      if (closesFence(line, fence)) fence = undefined;
    } else if (html) {
      if (HTML_CLOSE.test(line)) html = false;
    } else {
      const safe =
        size >= PART_LINES &&
        (lines[i - 1] ?? "").trim() === "" &&
        line.trim() !== "" &&
        line[0] !== " " &&
        line[0] !== "\t" &&
        line[0] !== ">" &&
        !/^([-*+]|\d{1,9}[.)])([ \t]|$)/.test(line);
      if (safe || (size >= MAX_PART_LINES && line.trim() === "")) starts.push(i);
      else if (size >= FORCED_PART_LINES) starts.push(i);
      fence = /^ {0,3}[`~]/.test(line) ? opensFence(line) : undefined;
      if (!fence && HTML_OPEN.test(line)) html = !HTML_CLOSE.test(line.slice(line.indexOf("<") + 2));
    }
  }
  return starts;
}

/** Top-level headings and every code block of a parsed tree (walked without recursion). */
export function outlineOf(tree: Root): MarkdownOutline {
  const headings: MarkdownOutline["headings"] = [];
  for (const n of tree.children)
    if (n.type === "heading" && n.position) headings.push({ depth: n.depth, line: n.position.start.line, text: plainText(n) ?? "" });
  const codes: MarkdownOutline["codes"] = [];
  const stack: Nodes[] = [tree];
  while (stack.length > 0) {
    const node = stack.pop() as Nodes;
    if (node.type === "code") {
      if (node.position) codes.push({ startLine: node.position.start.line, endLine: node.position.end.line, value: node.value, lang: node.lang ?? "" });
      continue;
    }
    if ("children" in node) for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i] as Nodes);
  }
  return { headings, codes };
}

/** The text of a node and its descendants, joined (walked without recursion). */
function plainText(node: Nodes | undefined): string | undefined {
  if (!node) return undefined;
  if ("value" in node && typeof node.value === "string") return node.value;
  const out: string[] = [];
  const stack: Nodes[] = [node];
  while (stack.length > 0) {
    const n = stack.pop() as Nodes;
    if ("value" in n && typeof n.value === "string") out.push(n.value);
    else if ("children" in n) for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i] as Nodes);
  }
  return out.join("").trim();
}
