import { BIDI_CONTROL_CLASS } from "../util/bidiControls.ts";
import type { SourceLinker } from "./sourceLinks.ts";
import type { Entry } from "./types.ts";

/** Escaped in front matter: what YAML does not allow unescaped (DEL, C1 controls, non-characters) and bidi controls. */
const ESCAPED = new RegExp(`[\\u007f-\\u0084\\u0086-\\u009f\\ufeff\\ufffe\\uffff${BIDI_CONTROL_CLASS}]`, "g");

/**
 * A double-quoted YAML scalar: JSON's escapes are valid YAML; the characters YAML does not allow
 * unescaped are escaped too, and so are bidi controls (the value keeps them; the page, read as
 * text, shows `\u202e` instead of reordering the line).
 */
function quoted(value: string): string {
  return JSON.stringify(value).replace(ESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A YAML scalar: bare for IDs from our own vocabularies, else double-quoted. */
function scalar(value: string): string {
  return /^[a-z0-9][a-z0-9-]*$/.test(value) && !/^(true|false|null|yes|no|on|off|y|n|~|\d+)$/.test(value) ? value : quoted(value);
}

function list(key: string, values: readonly string[], indent = ""): string[] {
  if (values.length === 0) return [`${indent}${key}: []`];
  return [`${indent}${key}:`, ...values.map((v) => `${indent}  - ${scalar(v)}`)];
}

/**
 * YAML front matter of a pattern page, for the tools people keep notes in (Obsidian reads
 * `aliases` and `tags`; MkDocs, mdBook preprocessors, Docusaurus and static-site generators read
 * `title` and the rest as page metadata). Model text is only ever a quoted scalar, so it cannot
 * end the block or add keys. Deterministic: the entry's own order, no timestamps.
 */
export function entryFrontMatter(entry: Entry, links: SourceLinker): string {
  const out: string[] = ["---", `id: ${scalar(entry.id)}`, `title: ${quoted(entry.name)}`, `name: ${quoted(entry.name)}`];
  out.push(
    ...list(
      "aliases",
      entry.aliases.map((a) => a.replace(/\s+/g, " ").trim()),
    ),
  );
  out.push(`category: ${scalar(entry.category)}`);
  out.push(...list("tags", entry.tags));
  out.push("sources:");
  for (const s of entry.sources) {
    out.push(`  - path: ${quoted(s.relPath)}`);
    out.push(
      ...list(
        "lines",
        s.evidence.map((e) => (e.startLine === e.endLine ? `${e.startLine}` : `${e.startLine}-${e.endLine}`)),
        "    ",
      ),
    );
    const first = s.evidence[0];
    const link = links(s.relPath, first?.startLine, first?.endLine);
    if (link) out.push(`    link: ${quoted(link)}`);
    out.push(`    verification: ${quoted(s.verification)}`);
  }
  const ex = entry.example;
  out.push("verification:");
  if (!ex) out.push("  example: none");
  else {
    out.push(`  example: ${scalar(ex.verification?.status ?? "unchecked")}`);
    out.push(`  example_source: ${quoted(`${ex.relPath}:${ex.startLine}-${ex.endLine}`)}`);
    if (ex.verification) out.push(`  checker: ${quoted(ex.verification.checker)}`, `  detail: ${quoted(ex.verification.detail)}`);
  }
  out.push("---");
  return out.join("\n");
}
