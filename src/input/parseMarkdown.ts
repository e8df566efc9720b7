import { markdownRisk } from "./markdownRisk.ts";
import { outlineByLines } from "./outlineByLines.ts";
import { outlineInParts } from "./outlineInParts.ts";
import type { MarkdownOutline, SourceUnit } from "./types.ts";

/** Units longer than this are split at paragraph (then line, then character) boundaries. */
const MAX_UNIT_CHARS = 4000;

/** `[code: rust]` is how the plain-text files mark an indented code block's language. */
const CODE_MARKER = /^\[code:\s*([\w+-]*)\]\s*$/;

export interface ParsedMarkdown {
  title: string | undefined;
  units: SourceUnit[];
  /** How the file was read when it was not the usual way (for the report). */
  notes: string[];
}

/**
 * Splits markdown (and markdown-like plain text: setext headings, indented code) into prose
 * sections and code blocks with 1-based line spans. Section texts are the source lines with each
 * code block replaced by a `[code Cn]` marker, so the model sees where the code sits. Text the
 * markdown parser would choke on (src/input/markdownRisk.ts) is read line by line instead.
 */
export function parseMarkdown(text: string): ParsedMarkdown {
  const lines = text.split("\n");
  const risk = markdownRisk(lines);
  if (risk) return { ...unitsFromOutline(lines, outlineByLines(lines)), notes: [`read line by line (headings and fenced code only): ${risk}`] };
  return { ...unitsFromOutline(lines, outlineInParts(lines)), notes: [] };
}

/**
 * Builds the units from the file's lines and outline: one section per top-level heading (plus a
 * preamble), code blocks as their own units pointing at the section part they sit in. Linear in
 * lines plus code blocks: sections and code blocks are both in line order, so one cursor walks each.
 */
export function unitsFromOutline(lines: readonly string[], outline: MarkdownOutline): { title: string | undefined; units: SourceUnit[] } {
  const { headings } = outline;
  const codes = [...outline.codes].sort((a, b) => a.startLine - b.startLine);
  const codeId = (i: number) => `C${i + 1}`;
  const title = (headings.find((h) => h.depth === 1) ?? headings[0])?.text;

  // Section boundaries: a preamble before the first heading, then one section per heading.
  const starts: { line: number; heading?: MarkdownOutline["headings"][number] }[] = [];
  if (headings.length === 0 || (headings[0]?.line ?? 1) > 1) starts.push({ line: 1 });
  for (const h of headings) starts.push({ line: h.line, heading: h });

  const units: SourceUnit[] = [];
  const parentOf: (string | undefined)[] = codes.map(() => undefined);
  const stack: { depth: number; text: string }[] = [];
  let sectionNo = 0;
  let first = 0; // first code block not before the current section

  for (const [i, start] of starts.entries()) {
    const end = (starts[i + 1]?.line ?? lines.length + 1) - 1;
    if (start.heading) {
      const depth = start.heading.depth;
      while (stack.length > 0 && (stack[stack.length - 1]?.depth ?? 0) >= depth) stack.pop();
      stack.push({ depth, text: start.heading.text });
    }
    const sectionTitle = stack.map((s) => s.text).join(" > ") || "(preamble)";
    while (first < codes.length && (codes[first]?.startLine ?? 0) < start.line) first++;
    let last = first; // one past the last code block starting in this section
    while (last < codes.length && (codes[last]?.startLine ?? 0) <= end) last++;
    // Rebuild the section from its source lines, each code block replaced by one marker line.
    const entries: Line[] = [];
    let k = first;
    for (let ln = start.line; ln <= end; ln++) {
      while (k < last && (codes[k]?.endLine ?? 0) < ln) k++;
      const code = k < last ? codes[k] : undefined;
      if (code && ln >= code.startLine && ln <= code.endLine) {
        if (ln === code.startLine) entries.push({ text: `[code ${codeId(k)}]`, startLine: ln, endLine: code.endLine });
        continue;
      }
      entries.push({ text: lines[ln - 1] ?? "", startLine: ln, endLine: ln });
    }
    let from = 0;
    let to = entries.length;
    while (from < to && (entries[from]?.text ?? "").trim() === "") from++;
    while (to > from && (entries[to - 1]?.text ?? "").trim() === "") to--;
    if (from < to) {
      const parts = splitLines(from === 0 && to === entries.length ? entries : entries.slice(from, to));
      let c = first;
      for (const [p, part] of parts.entries()) {
        sectionNo++;
        const id = `S${sectionNo}`;
        units.push({
          id,
          kind: "section",
          title: parts.length > 1 ? `${sectionTitle} (part ${p + 1})` : sectionTitle,
          startLine: part.startLine,
          endLine: part.endLine,
          text: part.text,
        });
        while (c < last && (codes[c]?.startLine ?? 0) < part.startLine) c++;
        while (c < last && (codes[c]?.startLine ?? 0) <= part.endLine) parentOf[c++] = id;
      }
    }
    first = last;
  }
  // Code blocks whose section was empty (or that sit in the preamble alone) still become units, without a parent.
  const codeUnits = codes.map((c, i) => codeUnit(c, codeId(i), parentOf[i]));
  return { title, units: [...units, ...codeUnits] };
}

function codeUnit(code: MarkdownOutline["codes"][number], id: string, parent: string | undefined): SourceUnit {
  let value = code.value;
  let lang = code.lang;
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
    startLine: code.startLine,
    endLine: code.endLine,
    text: value,
    lang,
    ...(parent ? { parent } : {}),
  };
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
function splitLines(lines: readonly Line[], max = MAX_UNIT_CHARS): Line[] {
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
