/**
 * What the MCP server says, as pure functions of the knowledge base's entries: each answer is a
 * markdown text escaped as the pages are (src/kb/markdownSafe.ts; a pattern's text is its page,
 * rendered by src/kb/render.ts) plus the same content as data. Every answer is bounded in size.
 */
import { clippyLintUrl, guidelineUrl } from "../../../kb/crossrefs.ts";
import { safeInline, safeUrl, stripControl } from "../../../kb/markdownSafe.ts";
import { renderEntryPage } from "../../../kb/render.ts";
import type { SearchHit } from "../../../kb/searchEntries.ts";
import type { SourceLinker } from "../../../kb/sourceLinks.ts";
import { CATEGORIES, categoryTitle } from "../../../kb/taxonomy.ts";
import type { Entry } from "../../../kb/types.ts";

/** Size limits of the answers (characters). */
export const MCP_LIMITS = {
  /** A page or any other text answer; a longer one is cut at a line with a note. */
  text: 24_000,
  /** An example's code in the structured answer. */
  code: 8_000,
  /** One list item (when to use, pitfalls, …) or summary in the structured answer. */
  item: 2_000,
  /** Search hits per call. */
  hits: 50,
} as const;

const URI_SCHEME = "rust-kb";

export const patternUri = (slug: string) => `${URI_SCHEME}://pattern/${encodeURIComponent(slug)}`;
export const categoryUri = (id: string) => `${URI_SCHEME}://category/${encodeURIComponent(id)}`;
export const INDEX_URI = `${URI_SCHEME}://index`;
export const PATTERN_URI_TEMPLATE = `${URI_SCHEME}://pattern/{slug}`;
export const CATEGORY_URI_TEMPLATE = `${URI_SCHEME}://category/{id}`;

/** Text cut at a line boundary to `limit` characters, saying where the rest is. */
export function bounded(text: string, limit: number, rest: string): string {
  if (text.length <= limit) return text;
  const cut = text.lastIndexOf("\n", limit - 200);
  return `${text.slice(0, cut > 0 ? cut : limit - 200)}\n\n… (cut at ${limit} characters; ${rest})\n`;
}

/** Plain text from data: control characters dropped, at most `limit` characters. */
function plain(text: string, limit: number = MCP_LIMITS.item): string {
  const s = stripControl(text);
  return s.length <= limit ? s : `${s.slice(0, limit - 1)}…`;
}

export interface SearchAnswer {
  text: string;
  structured: { query: string; hits: { id: string; slug: string; name: string; category: string; snippet: string; uri: string }[] };
}

export function searchAnswer(query: string, hits: readonly SearchHit[]): SearchAnswer {
  const lines = hits.map(
    (h, i) => `${i + 1}. [${safeInline(h.name)}](${patternUri(h.slug)}) — \`${h.slug}\`, ${categoryTitle(h.category)}\n   ${safeInline(h.snippet)}`,
  );
  const text =
    hits.length === 0
      ? `No entry matches "${safeInline(query)}".`
      : `${hits.length} ${hits.length === 1 ? "entry matches" : "entries match"} "${safeInline(query)}" (best first; get_pattern with the slug gives the page):\n\n${lines.join("\n")}`;
  return {
    text: bounded(text, MCP_LIMITS.text, "ask for fewer hits"),
    structured: {
      query: plain(query),
      hits: hits.map((h) => ({ id: h.id, slug: h.slug, name: plain(h.name), category: h.category, snippet: plain(h.snippet), uri: patternUri(h.slug) })),
    },
  };
}

export interface PatternData {
  id: string;
  slug: string;
  uri: string;
  /** The page in the knowledge-base directory. */
  page: string;
  name: string;
  aliases: string[];
  category: string;
  categoryTitle: string;
  tags: string[];
  summary: string;
  whenToUse: string[];
  whenNotToUse: string[];
  pitfalls: string[];
  example: {
    code: string;
    lang: string;
    path: string;
    lines: string;
    link?: string;
    /** The code check's verdict: compiles, parses-only, fails, not-checkable; absent when not checked. */
    verdict?: string;
    detail?: string;
    checker?: string;
  } | null;
  sources: { path: string; lines: string[]; link?: string; verification: string }[];
  research: { title: string; provider: string; url?: string }[];
  related: { slug: string; name: string; why: string[]; uri: string }[];
  clippyLints: { name: string; url: string }[];
  apiGuidelines: { id: string; url: string }[];
}

const span = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);

/**
 * One entry: its page (as `patterns/<slug>.md` holds it, source links relative to that page) and
 * the same content as data. `links` are the page's links to the input files.
 */
export function patternAnswer(entry: Entry, links: SourceLinker): { text: string; structured: PatternData } {
  const text = bounded(renderEntryPage(entry, links), MCP_LIMITS.text, `the whole page is patterns/${entry.slug}.md in the knowledge base`);
  const ex = entry.example;
  const items = (xs: readonly string[]) => xs.slice(0, 50).map((x) => plain(x));
  const structured: PatternData = {
    id: entry.id,
    slug: entry.slug,
    uri: patternUri(entry.slug),
    page: `patterns/${entry.slug}.md`,
    name: plain(entry.name),
    aliases: items(entry.aliases),
    category: entry.category,
    categoryTitle: categoryTitle(entry.category),
    tags: [...entry.tags],
    summary: plain(entry.summary),
    whenToUse: items(entry.whenToUse),
    whenNotToUse: items(entry.whenNotToUse),
    pitfalls: items(entry.pitfalls),
    example: ex
      ? {
          code: plain(ex.code, MCP_LIMITS.code),
          lang: plain(ex.lang, 32),
          path: plain(ex.relPath),
          lines: span(ex.startLine, ex.endLine),
          ...optional("link", links(ex.relPath, ex.startLine, ex.endLine)),
          ...(ex.verification ? { verdict: ex.verification.status, detail: plain(ex.verification.detail), checker: plain(ex.verification.checker, 200) } : {}),
        }
      : null,
    sources: entry.sources.map((s) => ({
      path: plain(s.relPath),
      lines: s.evidence.map((e) => span(e.startLine, e.endLine)),
      ...optional("link", links(s.relPath)),
      verification: plain(s.verification),
    })),
    research: entry.research.map((r) => ({
      title: plain(r.title),
      provider: plain(r.provider, 40),
      ...optional("url", r.url === undefined ? undefined : safeUrl(r.url)),
    })),
    related: entry.related.map((r) => ({ slug: r.slug, name: plain(r.name), why: items(r.why), uri: patternUri(r.slug) })),
    clippyLints: entry.crossRefs.clippy.map((name) => ({ name, url: clippyLintUrl(name) })),
    apiGuidelines: entry.crossRefs.guidelines.map((id) => ({ id, url: guidelineUrl(id) })),
  };
  return { text, structured };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

export interface CategoriesAnswer {
  text: string;
  structured: { entries: number; categories: { id: string; title: string; count: number; uri: string }[] };
}

/** The taxonomy's categories that have entries, with their counts, in taxonomy order. */
export function categoriesAnswer(entries: readonly Entry[]): CategoriesAnswer {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.category, (counts.get(e.category) ?? 0) + 1);
  const categories = CATEGORIES.filter((c) => counts.has(c.id)).map((c) => ({
    id: c.id,
    title: c.title,
    count: counts.get(c.id) ?? 0,
    uri: categoryUri(c.id),
  }));
  const text =
    entries.length === 0
      ? "The knowledge base has no entries yet."
      : `${entries.length} entries in ${categories.length} categories (search_patterns takes a category ID as a filter):\n\n${categories
          .map((c) => `- \`${c.id}\` ${c.title}: ${c.count}`)
          .join("\n")}`;
  return { text, structured: { entries: entries.length, categories } };
}
