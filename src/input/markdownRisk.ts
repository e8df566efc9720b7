/**
 * Shapes of markdown that make the markdown parser (micromark, via mdast-util-from-markdown) slow
 * beyond reason or overflow the stack: 30,000 nested blockquotes on one line threw "Maximum call
 * stack size exceeded", and nested emphasis or lists grow with the square of their count (time
 * per size: `npx tsx bench/inputParse.ts`). Real notes stay far below these caps; a file above
 * them is read line by line instead (src/input/outlineByLines.ts).
 */

/** Nesting of blockquotes and list items one line may open (indentation before a list marker counts as depth). */
export const MAX_MARKDOWN_NESTING = 32;
/** Emphasis runs (`*`, `_`) or link brackets in one paragraph. */
export const MAX_INLINE_MARKERS = 200;

/**
 * Says why the markdown parser should not see this text, or undefined when it is safe. One pass,
 * linear in the text: each line's container prefix is measured (inside fenced code too, since a
 * fence opened in a blockquote closes with it), and outside fenced code, emphasis and bracket
 * markers are counted per paragraph (blank-line separated). It errs on the side of "risky": a
 * false alarm only means the file is read line by line.
 */
export function markdownRisk(lines: readonly string[]): string | undefined {
  let fence: Fence | undefined;
  let emphasis = 0;
  let brackets = 0;
  let paragraphStart = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    // The prefix is measured inside fences too: a fence opened in a blockquote ends with it.
    let pos = 0;
    let depth = 0;
    for (;;) {
      let ws = 0;
      while (pos < line.length && (line[pos] === " " || line[pos] === "\t")) {
        ws += line[pos] === "\t" ? 4 : 1;
        pos++;
      }
      const marker = containerMarkerLength(line, pos);
      if (marker === 0) break;
      depth += line[pos] === ">" ? 1 : 1 + (ws >> 1);
      pos += marker;
      if (depth > MAX_MARKDOWN_NESTING) return `blockquotes or lists nested deeper than ${MAX_MARKDOWN_NESTING} levels (line ${i + 1})`;
    }
    if (fence) {
      if (closesFence(line.slice(pos), fence)) fence = undefined;
      continue;
    }
    const opened = opensFence(line, pos);
    if (opened) {
      fence = opened;
      continue;
    }
    if (line.trim() === "") {
      emphasis = 0;
      brackets = 0;
      paragraphStart = i + 1;
      continue;
    }
    for (let k = pos; k < line.length; k++) {
      const c = line[k];
      if (c === "[") brackets++;
      else if (c === "*" || c === "_") {
        const start = k;
        while (line[k + 1] === c) k++;
        // snake_case underscores inside a word cannot open or close emphasis.
        if (c === "_" && isWordChar(line[start - 1]) && isWordChar(line[k + 1])) continue;
        emphasis++;
      }
    }
    if (emphasis > MAX_INLINE_MARKERS || brackets > MAX_INLINE_MARKERS)
      return `more than ${MAX_INLINE_MARKERS} ${emphasis > MAX_INLINE_MARKERS ? "emphasis markers" : "link brackets"} in one paragraph (line ${paragraphStart + 1})`;
  }
  return undefined;
}

export interface Fence {
  char: string;
  length: number;
}

/** A fence opener (``` or ~~~, at most 3 spaces in) at `pos`, or undefined. */
export function opensFence(line: string, pos = 0): Fence | undefined {
  let p = pos;
  while (p < line.length && p - pos < 3 && line[p] === " ") p++;
  const char = line[p];
  if (char !== "`" && char !== "~") return undefined;
  let n = 0;
  while (line[p + n] === char) n++;
  if (n < 3) return undefined;
  // A backtick fence's info string may not contain backticks (else it is inline code).
  if (char === "`" && line.indexOf("`", p + n) >= 0) return undefined;
  return { char, length: n };
}

export function closesFence(line: string, fence: Fence): boolean {
  const t = line.trim();
  if (t.length < fence.length) return false;
  for (let i = 0; i < t.length; i++) if (t[i] !== fence.char) return false;
  return true;
}

/** Length of a blockquote or list marker at `pos` (`>`, `-`, `*`, `+`, `1.`, `1)` then a space), else 0. */
function containerMarkerLength(line: string, pos: number): number {
  const c = line[pos];
  if (c === ">") return 1;
  const spaceAfter = (p: number) => p >= line.length || line[p] === " " || line[p] === "\t";
  if ((c === "-" || c === "*" || c === "+") && spaceAfter(pos + 1)) return 1;
  let p = pos;
  while (p < line.length && p - pos < 9 && line.charCodeAt(p) >= 48 && line.charCodeAt(p) <= 57) p++;
  if (p > pos && (line[p] === "." || line[p] === ")") && spaceAfter(p + 1)) return p + 1 - pos;
  return 0;
}

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[\p{L}\p{N}]/u.test(c);
}
