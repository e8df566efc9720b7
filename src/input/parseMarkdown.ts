import type { Code, Heading, Nodes, Root } from "mdast";
import { fromMarkdown } from "mdast-util-from-markdown";
import type { SourceUnit } from "./types.ts";

/** Units longer than this are split at paragraph (then line, then character) boundaries. */
export const MAX_UNIT_CHARS = 4000;

/** `[code: rust]` is how the plain-text files mark an indented code block's language. */
const CODE_MARKER = /^\[code:\s*([\w+-]*)\]\s*$/;

export interface ParsedMarkdown {
  title: string | undefined;
  units: SourceUnit[];
}

/**
 * Splits markdown (and markdown-like plain text: setext headings, indented code) into prose
 * sections and code blocks with 1-based line spans. Section texts are the source lines with each
 * code block replaced by a `[code Cn]` marker, so the model sees where the code sits.
 */
export function parseMarkdown(text: string): ParsedMarkdown {
  const lines = text.split("\n");
  const tree: Root = fromMarkdown(text);
  const headings = tree.children.filter((n): n is Heading => n.type === "heading" && n.position !== undefined);
  const codes: Code[] = [];
  collectCode(tree, codes);

  const codeIds = new Map<Code, string>();
  for (const [i, c] of codes.entries()) codeIds.set(c, `C${i + 1}`);

  const title = plainText(headings.find((h) => h.depth === 1) ?? headings[0]);

  // Section boundaries: a preamble before the first heading, then one section per heading.
  const starts: { line: number; heading?: Heading }[] = [];
  if (headings.length === 0 || lineOf(headings[0], "start") > 1) starts.push({ line: 1 });
  for (const h of headings) starts.push({ line: lineOf(h, "start"), heading: h });

  const units: SourceUnit[] = [];
  const stack: { depth: number; text: string }[] = [];
  let sectionNo = 0;
  const codeUnits: SourceUnit[] = [];

  starts.forEach((start, i) => {
    const end = (starts[i + 1]?.line ?? lines.length + 1) - 1;
    if (start.heading) {
      const depth = start.heading.depth;
      while (stack.length > 0 && (stack[stack.length - 1]?.depth ?? 0) >= depth) stack.pop();
      stack.push({ depth, text: plainText(start.heading) ?? "" });
    }
    const sectionTitle = stack.map((s) => s.text).join(" > ") || "(preamble)";
    const inSection = codes.filter((c) => lineOf(c, "start") >= start.line && lineOf(c, "start") <= end);
    // Rebuild the section from its source lines, each code block replaced by one marker line.
    const entries: Line[] = [];
    for (let ln = start.line; ln <= end; ln++) {
      const code = inSection.find((c) => ln >= lineOf(c, "start") && ln <= lineOf(c, "end"));
      if (code) {
        if (ln === lineOf(code, "start")) entries.push({ text: `[code ${codeIds.get(code)}]`, startLine: ln, endLine: lineOf(code, "end") });
        continue;
      }
      entries.push({ text: lines[ln - 1] ?? "", startLine: ln, endLine: ln });
    }
    while (entries.length > 0 && (entries[0]?.text ?? "").trim() === "") entries.shift();
    while (entries.length > 0 && (entries[entries.length - 1]?.text ?? "").trim() === "") entries.pop();
    if (entries.length === 0) return;
    const parts = splitLines(entries);
    for (const [k, part] of parts.entries()) {
      sectionNo++;
      const id = `S${sectionNo}`;
      units.push({
        id,
        kind: "section",
        title: parts.length > 1 ? `${sectionTitle} (part ${k + 1})` : sectionTitle,
        startLine: part.startLine,
        endLine: part.endLine,
        text: part.text,
      });
      for (const c of inSection) {
        const cl = lineOf(c, "start");
        if (cl >= part.startLine && cl <= part.endLine) codeUnits.push(codeUnit(c, codeIds.get(c) ?? "C?", id));
      }
    }
  });
  // Code blocks whose section was empty (or that sit in the preamble alone) still become units.
  for (const c of codes) {
    const id = codeIds.get(c) ?? "C?";
    if (!codeUnits.some((u) => u.id === id)) codeUnits.push(codeUnit(c, id, undefined));
  }
  codeUnits.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
  return { title, units: [...units, ...codeUnits] };
}

function codeUnit(code: Code, id: string, parent: string | undefined): SourceUnit {
  let value = code.value;
  let lang = code.lang ?? "";
  const firstLine = value.split("\n", 1)[0] ?? "";
  const marker = CODE_MARKER.exec(firstLine);
  if (marker) {
    lang = marker[1] ?? "";
    value = value.slice(firstLine.length + 1);
  }
  return {
    id,
    kind: "code",
    title: "code",
    startLine: lineOf(code, "start"),
    endLine: lineOf(code, "end"),
    text: value,
    lang,
    ...(parent ? { parent } : {}),
  };
}

function collectCode(node: Nodes, out: Code[]): void {
  if (node.type === "code" && node.position) {
    out.push(node);
    return;
  }
  if ("children" in node) for (const child of node.children) collectCode(child as Nodes, out);
}

function lineOf(node: { position?: { start: { line: number }; end: { line: number } } } | undefined, which: "start" | "end"): number {
  return node?.position?.[which].line ?? 1;
}

export function plainText(node: Nodes | undefined): string | undefined {
  if (!node) return undefined;
  if ("value" in node && typeof node.value === "string") return node.value;
  if ("children" in node)
    return node.children
      .map((c) => plainText(c as Nodes) ?? "")
      .join("")
      .trim();
  return "";
}

/** A line of a unit's text with the source lines it stands for (a code marker stands for the whole block). */
export interface Line {
  text: string;
  startLine: number;
  endLine: number;
}

/**
 * Joins lines into parts of at most `max` characters, cutting at blank lines once a part is half
 * full, else at line ends; a single over-long line is cut at character boundaries and every piece
 * keeps that line's number.
 */
export function splitLines(lines: readonly Line[], max = MAX_UNIT_CHARS): Line[] {
  const parts: Line[] = [];
  let buf: Line[] = [];
  let size = 0;
  const flush = () => {
    const first = buf[0];
    const last = buf[buf.length - 1];
    if (first && last) {
      const text = buf.map((l) => l.text).join("\n");
      if (text.trim() !== "") parts.push({ text, startLine: first.startLine, endLine: last.endLine });
    }
    buf = [];
    size = 0;
  };
  for (const line of lines) {
    if (line.text.length > max) {
      flush();
      for (let k = 0; k < line.text.length; k += max) parts.push({ text: line.text.slice(k, k + max), startLine: line.startLine, endLine: line.endLine });
      continue;
    }
    if (size + line.text.length + 1 > max || (size > max / 2 && line.text.trim() === "")) flush();
    if (buf.length === 0 && line.text.trim() === "") continue;
    buf.push(line);
    size += line.text.length + 1;
  }
  flush();
  return parts;
}

/** Splits plain text whose lines all stand for one span (a JSON record) into parts. */
export function splitLong(text: string, startLine: number, endLine: number, max = MAX_UNIT_CHARS): Line[] {
  return splitLines(
    text.split("\n").map((t) => ({ text: t, startLine, endLine })),
    max,
  );
}
