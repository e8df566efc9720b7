/**
 * The knowledge base as a static HTML site (`npm run kb -- site`): a home page with the categories
 * and their counts and a search box, a page per pattern (highlighted example, verification
 * verdict, sources linked to the input files' lines, related entries, cross-references), a page
 * per category and the quarantine list. Pages come from the same markdown as the KB's own pages
 * (src/kb/render.ts) through markdown-it, so the site and the markdown never disagree. The search
 * runs in the browser over the entries of kb.json, loaded as a script so it works from file://.
 *
 * Writes only inside the site directory, only files it wrote before (listed with their hashes in
 * its manifest) and still holding the bytes it wrote, and deterministically: the same knowledge
 * base gives the same bytes.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../../../errors.ts";
import { writeFileAtomic } from "../../../util/atomicWrite.ts";
import { ownedPath } from "../../../util/ownedPath.ts";
import { realPathOf } from "../../../util/realPathOf.ts";
import { contentHash, fileHash } from "../../fileHash.ts";
import { stripControl } from "../../markdownSafe.ts";
import { renderCategoryPage, renderEntryPage, renderQuarantine } from "../../render.ts";
import { sourceLinker } from "../../sourceLinks.ts";
import { CATEGORIES, categoryTitle } from "../../taxonomy.ts";
import type { Entry, QuarantineRecord, UnreadRecord } from "../../types.ts";
import { markdownToHtml } from "./markdownToHtml.ts";

/** The site's own record of the files it wrote (it never touches others). */
export const SITE_MANIFEST = ".kb-site.json";
const ASSETS = path.join(path.dirname(fileURLToPath(import.meta.url)), "assets");

export interface SiteSource {
  entries: readonly Entry[];
  quarantined: readonly QuarantineRecord[];
  /** Source files with units a model did not read in full (shown on the quarantine page). */
  unread?: readonly UnreadRecord[];
  /** The input directory of the run that built the knowledge base (sources link to it), if known. */
  inputDir: string | undefined;
}

export interface SiteResult {
  dir: string;
  /** Every file of the site (relative paths, sorted). */
  files: string[];
  /** Files whose bytes changed. */
  written: string[];
  /** Files of an earlier site that are no longer part of it. */
  removed: string[];
  /** Files left alone: not written by this tool, edited since, or reached through a link (reported, never replaced). */
  kept: string[];
}

/** Text for HTML: no control or bidi character (as in the pages), `&<>"` escaped. */
function escapeHtml(s: string): string {
  return stripControl(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function page(options: { title: string; root: string; body: string; scripts?: string[] }): string {
  const scripts = (options.scripts ?? []).map((s) => `<script src="${options.root}${s}"></script>`).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)}</title>
<link rel="stylesheet" href="${options.root}style.css">
</head>
<body>
<header class="site"><div class="bar">
<a class="home" href="${options.root}index.html">Rust patterns knowledge base</a>
<form action="${options.root}index.html" method="get" role="search"><input type="search" id="q" name="q" placeholder="Search patterns" aria-label="Search patterns"></form>
</div></header>
<main>
${options.body}
</main>
${scripts}
</body>
</html>
`;
}

/** The page's markdown without its YAML front matter (the site shows the same data in the page). */
function withoutFrontMatter(markdown: string): string {
  return markdown.replace(/^---\n[\s\S]*?\n---\n+/, "");
}

/**
 * Link targets between the KB's markdown pages (`../categories/x.md`, `builder.md`) become the
 * site's HTML pages; anything else (sources in the input directory, web URLs) is left as it is.
 */
function siteHref(pageRel: string, pages: ReadonlySet<string>): (href: string) => string {
  return (href) => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("#")) return href;
    const hash = href.indexOf("#");
    const target = hash >= 0 ? href.slice(0, hash) : href;
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(pageRel), decodeURIComponent(target)));
    if (!pages.has(resolved)) return href;
    return `${target.replace(/\.md$/, ".html")}${hash >= 0 ? href.slice(hash) : ""}`;
  };
}

function verdict(entry: Entry): { status: string; text: string } {
  if (!entry.example) return { status: "none", text: "no code example" };
  const v = entry.example.verification;
  if (!v) return { status: "unchecked", text: "example not compile-checked" };
  const words: Record<string, string> = {
    compiles: "example compiles",
    "parses-only": "example parses (not compiled)",
    fails: "example fails to compile",
    "not-checkable": "example could not be checked",
  };
  return { status: v.status, text: words[v.status] ?? v.status };
}

function firstSentence(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  const m = /^(.{20,200}?[.!?])(\s+(?=[A-Z])|$)/.exec(flat);
  return m?.[1] ?? (flat.length > 200 ? `${flat.slice(0, 199)}…` : flat);
}

function homePage(entries: readonly Entry[], quarantined: number): string {
  const used = CATEGORIES.filter((c) => entries.some((e) => e.category === c.id));
  const out: string[] = [`<h1>Rust patterns knowledge base</h1>`];
  const files = new Set(entries.flatMap((e) => e.sources.map((s) => s.relPath))).size;
  out.push(
    `<p class="meta">${entries.length} ${entries.length === 1 ? "entry" : "entries"} in ${used.length} ${used.length === 1 ? "category" : "categories"}, from ${files} source ${files === 1 ? "file" : "files"}.${
      quarantined > 0 ? ` ${quarantined} ${quarantined === 1 ? "draft" : "drafts"} failed validation: see <a href="quarantine.html">the quarantine</a>.` : ""
    }</p>`,
  );
  out.push(`<div id="results" aria-live="polite"></div>`);
  out.push(`<h2>Categories</h2>`, `<ul class="categories">`);
  for (const c of used)
    out.push(
      `<li><a href="categories/${c.id}.html">${escapeHtml(c.title)}</a> <span class="count">${entries.filter((e) => e.category === c.id).length}</span></li>`,
    );
  out.push(`</ul>`);
  for (const c of used) {
    out.push(`<h2 id="${c.id}"><a href="categories/${c.id}.html">${escapeHtml(c.title)}</a></h2>`, "<ul>");
    for (const e of entries.filter((x) => x.category === c.id))
      out.push(
        `<li><a href="patterns/${encodeURIComponent(e.slug)}.html">${escapeHtml(e.name)}</a> <span class="badge ${verdict(e).status}">${escapeHtml(verdict(e).status)}</span> — ${escapeHtml(firstSentence(e.summary))}</li>`,
      );
    out.push("</ul>");
  }
  if (entries.length === 0) out.push(`<p>No entries yet. Build some with <code>npm run graph -- --input DIR</code>.</p>`);
  return page({ title: "Rust patterns knowledge base", root: "", body: out.join("\n"), scripts: ["search-index.js", "search.js"] });
}

/** What the browser searches: the entries of kb.json, cut to their searchable fields. */
function searchIndex(entries: readonly Entry[]): string {
  const data = entries.map((e) => ({
    slug: e.slug,
    name: e.name,
    aliases: e.aliases,
    category: e.category,
    categoryTitle: categoryTitle(e.category),
    tags: e.tags,
    refs: [...e.crossRefs.clippy, ...e.crossRefs.guidelines],
    summary: e.summary,
    text: [...e.whenToUse, ...e.whenNotToUse, ...e.pitfalls].join(" "),
  }));
  // `<` escaped so no string can close the script element; no control or bidi character shown in results.
  return `window.KB_SEARCH = ${JSON.stringify(data, (_key, value: unknown) => (typeof value === "string" ? stripControl(value) : value), 1).replace(/</g, "\\u003c")};\n`;
}

/** All files of the site, as relative path -> content. */
function renderSite(source: SiteSource, siteDir: string): Map<string, string> {
  const { entries, quarantined } = source;
  const files = new Map<string, string>();
  const links = sourceLinker(path.join(siteDir, "patterns"), source.inputDir);
  const used = CATEGORIES.filter((c) => entries.some((e) => e.category === c.id));
  const mdPages = new Set<string>(["index.md", "quarantine.md", ...entries.map((e) => `patterns/${e.slug}.md`), ...used.map((c) => `categories/${c.id}.md`)]);

  files.set("index.html", homePage(entries, quarantined.length));
  for (const e of entries) {
    const rel = `patterns/${e.slug}.md`;
    const v = verdict(e);
    const body = markdownToHtml(withoutFrontMatter(renderEntryPage(e, links)), siteHref(rel, mdPages));
    const badge = `<p class="verdict">Verification: <span class="badge ${v.status}">${escapeHtml(v.text)}</span> · <a href="../categories/${e.category}.html">${escapeHtml(categoryTitle(e.category))}</a></p>`;
    files.set(`patterns/${e.slug}.html`, page({ title: `${e.name} — Rust patterns`, root: "../", body: `${badge}\n${body}` }));
  }
  for (const c of used) {
    const rel = `categories/${c.id}.md`;
    const body = markdownToHtml(
      renderCategoryPage(
        c.id,
        entries.filter((e) => e.category === c.id),
        links,
      ),
      siteHref(rel, mdPages),
    );
    files.set(`categories/${c.id}.html`, page({ title: `${c.title} — Rust patterns`, root: "../", body }));
  }
  files.set(
    "quarantine.html",
    page({
      title: "Quarantine — Rust patterns",
      root: "",
      body: markdownToHtml(renderQuarantine(quarantined, sourceLinker(siteDir, source.inputDir), source.unread), siteHref("quarantine.md", mdPages)),
    }),
  );
  files.set("search-index.js", searchIndex(entries));
  for (const asset of ["search.js", "style.css"]) files.set(asset, fs.readFileSync(path.join(ASSETS, asset), "utf8"));
  return files;
}

/** Largest manifest read (a site's manifest lists a few hundred files). */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/**
 * The files an earlier site recorded, with the hash of the bytes written; a manifest written before
 * hashes were recorded (`files` a list) gives no hash: its files are adopted once, as they were
 * treated then. Undefined: no manifest (or not a regular file of reasonable size, never read).
 */
function readManifest(dir: string): Map<string, string | undefined> | undefined {
  const file = path.join(dir, SITE_MANIFEST);
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!st?.isFile() || st.size > MAX_MANIFEST_BYTES) return undefined;
  try {
    const data = JSON.parse(fs.readFileSync(file, "utf8")) as { files?: unknown };
    if (Array.isArray(data.files)) return new Map(data.files.filter((f): f is string => typeof f === "string").map((f) => [f, undefined]));
    if (data.files && typeof data.files === "object") return new Map(Object.entries(data.files).filter((e): e is [string, string] => typeof e[1] === "string"));
    return new Map();
  } catch {
    return undefined;
  }
}

/** The line that reports what writeSite left alone. */
export function siteKeptMessage(kept: readonly string[]): string {
  return `Left alone in the site (not written by this tool, edited since it wrote them, or reached through a link): ${kept.join(", ")}. Move them away to let the site use those paths.`;
}

/** A manifest entry that could name a file of the site at all (not empty, absolute, `.` or `..`, no control character to print). */
function isPlainRelative(rel: string): boolean {
  return (
    rel !== "" && !path.isAbsolute(rel) && !/[\u0000-\u001f\u007f-\u009f]/.test(rel) && !rel.split(/[\\/]/).some((p) => p === "" || p === "." || p === "..")
  );
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Writes the site into `siteDir` (its real path: links resolved, a dangling one refused). A
 * directory that holds other files and no site manifest is refused. In a site written before,
 * the manifest records each file's hash, as the knowledge base records its pages: a file is
 * replaced or removed only when it is recorded and its bytes are still the ones written; a file
 * that is not recorded, or was edited since, is left alone and reported (`kept`), and so is any
 * path that leaves the site once links are followed or is not a regular file (src/util/ownedPath.ts).
 */
export function writeSite(source: SiteSource, siteDir: string): SiteResult {
  const dir = realPathOf(siteDir);
  if (dir === undefined)
    throw new UserError(
      "USAGE",
      `The site directory ${path.resolve(siteDir)} goes through a symbolic link that points nowhere (or loops).`,
      "Remove or fix the link, or choose another --site-dir.",
    );
  const previous = readManifest(dir);
  let existing: string[] = [];
  try {
    existing = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  if (previous === undefined && existing.length > 0)
    throw new UserError(
      "OUTPUT_NOT_KB",
      `${dir} holds other files (${existing.sort().slice(0, 3).join(", ")}) and no site written by this tool.`,
      "Choose a new or empty directory with --site-dir, or move those files away.",
    );
  const files = renderSite(source, dir);
  const recorded = previous ?? new Map<string, string | undefined>();
  const manifest = new Map<string, string>();
  const written: string[] = [];
  const removed: string[] = [];
  const kept: string[] = [];
  for (const [rel, hash] of [...recorded].sort((a, b) => byString(a[0], b[0]))) {
    if (files.has(rel)) continue;
    const full = ownedPath(dir, rel);
    const now = full === undefined ? undefined : fileHash(full);
    if (full !== undefined && now !== undefined && (hash === undefined || now === hash)) {
      fs.rmSync(full, { force: true });
      removed.push(rel);
    } else if (full === undefined ? isPlainRelative(rel) && fs.lstatSync(path.join(dir, rel), { throwIfNoEntry: false }) !== undefined : now !== undefined)
      kept.push(rel); // edited since, or reached through a link now: theirs (entries such as `.` or `../x` name nothing of the site)
  }
  for (const [rel, content] of [...files].sort((a, b) => byString(a[0], b[0]))) {
    const full = ownedPath(dir, rel);
    const hash = contentHash(content);
    const now = full === undefined ? undefined : fileHash(full);
    const ours = recorded.has(rel) && (recorded.get(rel) === undefined || recorded.get(rel) === now);
    if (full === undefined || (now !== undefined && now !== hash && !ours)) {
      kept.push(rel); // someone else's file, one of ours edited since, or a path that leaves the site
      continue;
    }
    if (writeFileAtomic(full, content)) written.push(rel);
    manifest.set(rel, hash);
  }
  const list = [...files.keys()].sort(byString);
  writeFileAtomic(path.join(dir, SITE_MANIFEST), `${JSON.stringify({ version: 2, files: Object.fromEntries(manifest) }, null, 1)}\n`);
  return { dir, files: list, written, removed, kept: kept.sort(byString) };
}
