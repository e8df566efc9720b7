import { getNodeValue, type Node as JsonNode, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import { MAX_UNITS_PER_FILE } from "./capUnits.ts";
import { splitLong } from "./parseMarkdown.ts";
import type { SourceUnit } from "./types.ts";

const NAME_FIELDS = ["name", "title", "id", "key", "lint", "pattern"];
const FENCE = /```([\w+-]*)[^\n]*\n([\s\S]*?)\n?```/g;

export type ParsedJson = { ok: true; title: string | undefined; units: SourceUnit[]; notes: string[] } | { ok: false; reason: string };

/**
 * Arrays and objects nested deeper than this are not read: the JSON reader recurses per level
 * (10,000 levels overflowed the stack here) and rendering a deep value grows with depth squared.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Reads a JSON file as records, whatever its shape: a plain array, an object wrapping an array
 * (`{"lints": [...]}`), an object keyed by name, or such shapes nested a few levels down.
 * Fenced code inside string values becomes code units that point back at the record.
 */
export function parseJson(text: string, maxUnits = MAX_UNITS_PER_FILE): ParsedJson {
  const deep = depthBeyond(text, MAX_JSON_DEPTH);
  if (deep !== undefined) return { ok: false, reason: `JSON nested deeper than ${MAX_JSON_DEPTH} levels (line ${lineAt(lineStarts(text), deep)}), not read` };
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  if (!root || errors.length > 0) {
    const first = errors[0];
    const where = first ? ` at line ${lineAt(lineStarts(text), first.offset)}` : "";
    return { ok: false, reason: `invalid JSON${first ? `: ${printParseErrorCode(first.error)}` : ""}${where}` };
  }
  const starts = lineStarts(text);
  const found: { node: JsonNode; name: string | undefined }[] = [];
  collectRecords(root, found, 0);
  const units: SourceUnit[] = [];
  const codeUnits: SourceUnit[] = [];
  let recordNo = 0;
  const notes: string[] = [];
  for (const [i, { node, name }] of found.entries()) {
    if (units.length + codeUnits.length >= maxUnits) {
      // The rest is not even rendered; src/input/capUnits.ts trims the last record's extra units.
      notes.push(
        `truncated: ${found.length - i} of ${found.length} records not read, from line ${lineAt(starts, node.offset)} on (at most ${maxUnits} units per file)`,
      );
      break;
    }
    const title = name ?? recordName(node) ?? `record ${i + 1}`;
    const startLine = lineAt(starts, node.offset);
    const endLine = lineAt(starts, node.offset + node.length);
    let body = renderRecord(node, title);
    const id = `R${++recordNo}`;
    body = body.replace(FENCE, (_m, lang: string, code: string) => {
      const cid = `C${codeUnits.length + 1}`;
      codeUnits.push({ id: cid, kind: "code", title: "code", startLine, endLine, text: code, lang, parent: id });
      return `[code ${cid}]`;
    });
    const parts = splitLong(body, startLine, endLine);
    // Record text is rendered, so its own lines do not map 1:1 to the file: every part keeps the record's span.
    parts.forEach((part, k) => {
      units.push({
        id: k === 0 ? id : `${id}.${k + 1}`,
        kind: "record",
        title: parts.length > 1 ? `${title} (part ${k + 1})` : title,
        startLine,
        endLine,
        text: part.text,
      });
    });
  }
  const rootValue = root.type === "object" ? (getNodeValue(root) as Record<string, unknown>) : undefined;
  const docTitle = typeof rootValue?.title === "string" ? rootValue.title : typeof rootValue?.collection === "string" ? rootValue.collection : undefined;
  return { ok: true, title: docTitle, units: [...units, ...codeUnits], notes };
}

/** Offset of the first bracket that opens level `max + 1` (strings skipped), or undefined. Linear, no recursion. */
function depthBeyond(text: string, max: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return i;
    } else if (c === 93 || c === 125) depth--;
  }
  return undefined;
}

function collectRecords(node: JsonNode, out: { node: JsonNode; name: string | undefined }[], depth: number): void {
  if (node.type === "array") {
    const objects = (node.children ?? []).filter((c) => c.type === "object");
    if (objects.length > 0) for (const o of objects) out.push({ node: o, name: undefined });
    else out.push({ node, name: undefined });
    return;
  }
  if (node.type !== "object") {
    out.push({ node, name: undefined });
    return;
  }
  const props = (node.children ?? []).filter((p) => p.type === "property" && p.children?.length === 2);
  const valueNode = (p: JsonNode) => p.children?.[1];
  const keyOf = (p: JsonNode) => String(p.children?.[0]?.value ?? "");
  const arrayProps = props.filter((p) => {
    const v = valueNode(p);
    return v?.type === "array" && (v.children ?? []).some((c) => c.type === "object");
  });
  if (arrayProps.length > 0 && depth < 4) {
    for (const p of arrayProps) {
      const v = valueNode(p);
      if (v) collectRecords(v, out, depth + 1);
    }
    return;
  }
  const objectProps = props.filter((p) => valueNode(p)?.type === "object");
  if (props.length >= 2 && objectProps.length >= (props.length * 2) / 3) {
    for (const p of objectProps) {
      const v = valueNode(p);
      if (v) out.push({ node: v, name: keyOf(p) });
    }
    return;
  }
  if (objectProps.length === 1 && props.length <= 3 && depth < 4) {
    const v = valueNode(objectProps[0] as JsonNode);
    if (v) {
      collectRecords(v, out, depth + 1);
      return;
    }
  }
  out.push({ node, name: undefined });
}

function recordName(node: JsonNode): string | undefined {
  if (node.type !== "object") return undefined;
  const value = getNodeValue(node) as Record<string, unknown>;
  for (const f of NAME_FIELDS) {
    const v = value[f];
    if (typeof v === "string" && v.trim() !== "") return v.trim();
  }
  return undefined;
}

function renderRecord(node: JsonNode, title: string): string {
  const value = getNodeValue(node) as unknown;
  if (value === null || typeof value !== "object" || Array.isArray(value)) return `${title}\n${JSON.stringify(value, null, 2)}`;
  const lines = [title];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v === "string") lines.push(v.includes("\n") ? `${k}:\n${v}` : `${k}: ${v}`);
    else lines.push(`${k}: ${JSON.stringify(v)}`);
  }
  return lines.join("\n");
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function lineAt(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] ?? 0) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}
