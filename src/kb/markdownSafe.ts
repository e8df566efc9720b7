/**
 * Text from input files and models is data: in our pages it can open no HTML, no image, no link
 * with an unsafe scheme, no heading and no fence, and a code span holding it cannot be closed early.
 * Control characters (ESC sequences included) and bidi controls never reach a page, so `cat page.md`
 * is safe too and a page reads as its bytes.
 */
import { BIDI_CONTROL_CLASS } from "../util/bidiControls.ts";

/**
 * C0 controls except tab and newline, DEL and C1 controls (ESC sequences lose their ESC), and the
 * bidi controls that make text display unlike its bytes (src/util/bidiControls.ts).
 */
const CONTROL = new RegExp(`[\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f${BIDI_CONTROL_CLASS}]`, "g");

export function stripControl(text: string): string {
  return text.replace(CONTROL, "");
}

/**
 * A URL a page may link to: absolute http(s) (normalised, parentheses and spaces percent-encoded so
 * it cannot end the link early), or undefined for anything else (javascript:, data:, file:, …).
 */
export function safeUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(stripControl(url).trim());
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return undefined;
  return parsed.href.replace(/[()<> ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A link destination found in model text: http(s), or a relative path without a scheme. */
function safeDestination(dest: string): string | undefined {
  // Entities and backslash escapes are decoded by renderers (`javascript&#58;…`): never trusted.
  if (/[&\\]/.test(dest)) return undefined;
  if (/^[a-z][a-z0-9+.-]*:/i.test(dest)) return safeUrl(dest);
  if (dest.startsWith("//")) return undefined; // scheme-relative: another host
  return dest.replace(/[()<> ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `&`, `<` and `>` as entities: no raw HTML and no entity of the model's own. */
function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const IMAGE = /!\[([^\]]*)\]\(([^)]*)\)|!\[([^\]]*)\]\[[^\]]*\]/g;
const LINK = /\[([^\]]*)\]\(\s*([^)\s]*)(?:\s+"[^"]*")?\s*\)/g;

/**
 * One line of prose from data: whitespace folded, control characters dropped, HTML escaped,
 * images reduced to their alt text, links kept only with a safe destination (else their text), and
 * no block opened at its start: no heading, list item (`- `, `* `, `+ `, `1. `, `1) `), quote,
 * thematic break or setext underline (`---`, `***`, `___`, `===`), fence or link-reference
 * definition (the first character is backslash-escaped, which every renderer shows as itself).
 */
export function safeInline(text: string): string {
  let s = stripControl(text).replace(/\s+/g, " ").trim();
  s = s.replace(IMAGE, (_m, alt1: string | undefined, _src, alt2: string | undefined) => (alt1 ?? alt2 ?? "").trim());
  // Links are rebuilt from their parts; everything else is escaped.
  const parts: string[] = [];
  let last = 0;
  for (const m of s.matchAll(LINK)) {
    parts.push(escapeHtml(s.slice(last, m.index)));
    const label = escapeHtml(m[1] ?? "");
    const dest = safeDestination(m[2] ?? "");
    parts.push(dest ? `[${label}](${dest})` : label);
    last = (m.index ?? 0) + m[0].length;
  }
  parts.push(escapeHtml(s.slice(last)));
  s = parts.join("");
  // Block syntax at the start: a heading, a link-reference definition, a fence, a list item, a
  // thematic break or setext underline (`-`, `*`, `+`, `_`, `=`), an ordered list item (`1.`, `1)`).
  return s
    .replace(/^#+/, (m) => m.replace(/#/g, "\\#"))
    .replace(/^(\[(?=[^\]]*\]:)|`{3,}|~{3,}|[-*+_=])/, (m) => `\\${m}`)
    .replace(/^(\d{1,9})([.)])/, "$1\\$2");
}

/**
 * A code span that holds `text` verbatim and cannot be closed early: its backtick run is longer
 * than any in the text (padded with spaces when the text starts or ends with a backtick). Newlines
 * and control characters become spaces; HTML inside a code span is never interpreted.
 */
export function codeSpan(text: string): string {
  const flat = stripControl(text.replace(/[\r\n\t]+/g, " "));
  const longest = Math.max(0, ...[...flat.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = "`".repeat(longest + 1);
  const pad = flat.startsWith("`") || flat.endsWith("`") || (flat.startsWith(" ") && flat.endsWith(" ") && flat.trim() !== "") ? " " : "";
  return flat === "" ? "` `" : `${ticks}${pad}${flat}${pad}${ticks}`;
}

/** An info string for a fence: a language name only (a backtick there would break the fence). */
export function fenceLang(lang: string): string {
  return /^[A-Za-z0-9_+.#-]{1,32}$/.test(lang) ? lang : "";
}
