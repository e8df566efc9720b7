/**
 * Documentation pages cut into sections a search can point at: each with the page anchor it
 * starts at (so a citation opens the exact place), a title and plain text. HTML goes through
 * html-to-text (compiled once); rustdoc's boilerplate (trait and blanket implementation lists,
 * which repeat the same text on every type) is left out.
 */
import { compile } from "html-to-text";

export interface DocSection {
  /** `id` of the element the section starts at ("" for the top of the page). */
  anchor: string;
  title: string;
  text: string;
}

export interface DocPage {
  title: string;
  sections: DocSection[];
}

/** Sections shorter than this (after trimming) carry no information worth a result. */
const MIN_TEXT = 40;
/** Longer sections are cut: the search ranks on the start, the citation opens the full page. */
const MAX_TEXT = 6000;

const toText = compile({
  wordwrap: false,
  selectors: [
    { selector: "a", options: { ignoreHref: true } },
    { selector: "img", format: "skip" },
    { selector: "button", format: "skip" },
    { selector: "h1", options: { uppercase: false } },
    { selector: "h2", options: { uppercase: false } },
    { selector: "h3", options: { uppercase: false } },
    { selector: "h4", options: { uppercase: false } },
    { selector: "h5", options: { uppercase: false } },
    { selector: "h6", options: { uppercase: false } },
    { selector: "table", format: "dataTable", options: { uppercaseHeaderCells: false } },
  ],
});

/** rustdoc sections that list implementations (the same text on hundreds of pages). */
const SKIP_SECTION =
  /^(trait-implementations|synthetic-implementations|blanket-implementations|implementors|synthetic-implementors|deref-methods-.*|dyn-compatibility|object-safety)$/;
/** Where a section starts: a heading with an id, or a rustdoc item (method, variant, field …). */
const BOUNDARY =
  /<(h[1-4])\b[^>]*?\bid="([^"]+)"[^>]*>|<(section|span)\b[^>]*?\bid="((?:method|tymethod|variant|structfield|associatedtype|associatedconstant|impl)[.-][^"]*)"[^>]*>/gi;

export function htmlSections(html: string): DocPage {
  const title = decodeEntities(stripTags(/<title>([\s\S]*?)<\/title>/i.exec(html)?.[1] ?? "")).trim();
  let body = /<main\b[^>]*>([\s\S]*?)<\/main>/i.exec(html)?.[1] ?? /<body\b[^>]*>([\s\S]*?)<\/body>/i.exec(html)?.[1] ?? html;
  body = body
    .replace(/<(script|style|nav|noscript|template|svg|button|iframe)\b[\s\S]*?<\/\1>/gi, "")
    .replace(/<a\b[^>]*\bclass="(?:src|anchor|tooltip)[^"]*"[^>]*>[\s\S]*?<\/a>/gi, "")
    .replace(/<!--[\s\S]*?-->/g, "");
  body = dropRustdocLists(body);

  const starts: { at: number; anchor: string }[] = [{ at: 0, anchor: "" }];
  for (const m of body.matchAll(BOUNDARY)) {
    const anchor = m[2] ?? m[4] ?? "";
    if (anchor === "" || anchor === "main-content") continue;
    starts.push({ at: m.index ?? 0, anchor });
  }
  const sections: DocSection[] = [];
  const seen = new Set<string>();
  for (const [i, s] of starts.entries()) {
    const chunk = body.slice(s.at, starts[i + 1]?.at ?? body.length);
    if (chunk.trim() === "") continue;
    const heading = /<(h[1-6])\b[^>]*>([\s\S]*?)<\/\1>/i.exec(chunk)?.[2];
    const sectionTitle = heading ? decodeEntities(stripTags(heading)).replace(/\s+/g, " ").replace(/^§\s*/, "").trim() : "";
    const text = tidy(toText(chunk));
    if (text.length < MIN_TEXT || text.replace(sectionTitle, "").trim().length < MIN_TEXT / 2) continue;
    // Methods of generic wrappers (Wrapping<u8>, Wrapping<u16>, …) repeat the same text: keep the first.
    const key = text.slice(0, 400);
    if (seen.has(key)) continue;
    seen.add(key);
    sections.push({ anchor: s.anchor, title: sectionTitle || title, text: text.slice(0, MAX_TEXT) });
  }
  return { title, sections };
}

function dropRustdocLists(body: string): string {
  const heads = [...body.matchAll(/<h2\b[^>]*?\bid="([^"]+)"[^>]*\bclass="[^"]*section-header[^"]*"[^>]*>/gi)];
  if (heads.length === 0) return body;
  let out = body.slice(0, heads[0]?.index ?? 0);
  for (const [i, h] of heads.entries()) {
    const end = heads[i + 1]?.index ?? body.length;
    if (!SKIP_SECTION.test(h[1] ?? "")) out += body.slice(h.index ?? 0, end);
  }
  return out;
}

/** Markdown split at ATX headings (outside code fences), anchors as GitHub and mdBook make them. */
export function markdownSections(md: string, fallbackTitle: string): DocPage {
  const lines = md.replace(/\r\n?/g, "\n").split("\n");
  const sections: DocSection[] = [];
  const used = new Map<string, number>();
  let title = "";
  let current: { anchor: string; title: string; lines: string[] } = { anchor: "", title: fallbackTitle, lines: [] };
  let fence: string | null = null;
  const flush = () => {
    const text = tidy(current.lines.join("\n"));
    if (text.length >= MIN_TEXT) sections.push({ anchor: current.anchor, title: current.title, text: text.slice(0, MAX_TEXT) });
  };
  for (const line of lines) {
    const f = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (f?.[1]) {
      if (fence === null) fence = f[1];
      else if (f[1][0] === fence[0] && f[1].length >= fence.length) fence = null;
    }
    const h = fence === null ? /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line) : null;
    if (h?.[2] !== undefined) {
      flush();
      const text = h[2].replace(/`/g, "").trim();
      if (!title && h[1] === "#") title = text;
      const base = slugify(text);
      const n = used.get(base) ?? 0;
      used.set(base, n + 1);
      current = { anchor: n === 0 ? base : `${base}-${n}`, title: text, lines: [line] };
      continue;
    }
    current.lines.push(line);
  }
  flush();
  return { title: title || fallbackTitle, sections };
}

/** Plain text in blocks of about 60 lines, cut at blank lines. */
export function textSections(text: string, fallbackTitle: string): DocPage {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const sections: DocSection[] = [];
  let start = 0;
  for (let i = 0; i <= lines.length; i++) {
    const atEnd = i === lines.length;
    if (atEnd || (i - start >= 60 && lines[i]?.trim() === "") || i - start >= 120) {
      const body = tidy(lines.slice(start, i).join("\n"));
      if (body.length >= MIN_TEXT) sections.push({ anchor: "", title: `${fallbackTitle}, lines ${start + 1}-${i}`, text: body.slice(0, MAX_TEXT) });
      start = i + 1;
    }
  }
  return { title: fallbackTitle, sections };
}

/** GitHub-style heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function slugify(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function tidy(s: string): string {
  return s
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

function stripTags(s: string): string {
  return s.replace(/<[^>]*>/g, "");
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " ", "#39": "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === "#") {
      const code = e[1] === "x" || e[1] === "X" ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m;
    }
    return NAMED[e.toLowerCase()] ?? m;
  });
}
