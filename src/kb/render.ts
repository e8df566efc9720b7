/**
 * Deterministic rendering of the knowledge base: the same entries always give the same bytes
 * (stable order, no timestamps), so re-runs produce minimal diffs.
 */
import { type AliasIndex, buildAliasIndex } from "./aliases.ts";
import { clippyLintUrl, guidelineUrl } from "./crossrefs.ts";
import { assignIds, buildEntry, exampleVerification, NO_PREVIOUS } from "./entries.ts";
import { entryFrontMatter } from "./entryFrontMatter.ts";
import { codeSpan, fenceLang, safeInline, safeUrl, stripControl } from "./markdownSafe.ts";
import { NO_SOURCE_LINKS, type SourceLinker } from "./sourceLinks.ts";
import { CATEGORIES, categoryTitle } from "./taxonomy.ts";
import type { Contribution, Entry, MergeRecord, QuarantineRecord, UnreadRecord } from "./types.ts";
import { draftIdOf } from "./types.ts";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

let defaultAliases: AliasIndex | undefined;

function builtInAliases(): AliasIndex {
  if (!defaultAliases) defaultAliases = buildAliasIndex();
  return defaultAliases;
}

/**
 * Merges contributions that are known to be one pattern into an entry (no matching, no related
 * links): what one draft would publish, for the validator's page check.
 */
export function mergeEntry(contributions: readonly Contribution[], aliases: AliasIndex = builtInAliases()): Entry {
  const sorted = [...contributions].sort((a, b) => byString(draftIdOf(a), draftIdOf(b)));
  const records: MergeRecord[] = sorted.map((c, i) => ({
    draftId: draftIdOf(c),
    relPath: c.relPath,
    name: c.name,
    reason: i === 0 ? "founder" : "same-name",
    ...(i === 0 ? {} : { with: draftIdOf(sorted[0] as Contribution) }),
  }));
  const [ids] = assignIds([{ records, contributions: sorted }], NO_PREVIOUS, aliases);
  return buildEntry({ id: ids?.id ?? "kb-00000000", slug: ids?.slug ?? "pattern", records, contributions: sorted }, aliases);
}

/** Model text is data: it may not open headings, HTML, images, unsafe links or fences in our pages (src/kb/markdownSafe.ts). */
function inline(text: string): string {
  return safeInline(text);
}

function paragraph(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map((p) => inline(p))
    .filter((p) => p !== "")
    .join("\n\n");
}

/** A fence no line of the code can close (longer than any backtick run in it); control characters dropped. */
export function fence(code: string, lang: string): string {
  const text = stripControl(code);
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = "`".repeat(longest + 1);
  return `${ticks}${fenceLang(lang)}\n${text}\n${ticks}`;
}

/** A link only to an http(s) URL; anything else leaves the label alone. */
function link(label: string, url: string): string {
  const href = safeUrl(url);
  return href ? `[${label}](${href})` : label;
}

function lines(a: number, b: number): string {
  return a === b ? `line ${a}` : `lines ${a}-${b}`;
}

const MERGE_REASON: Record<MergeRecord["reason"], string> = {
  founder: "first draft",
  "same-name": "same name as",
  alias: "alias of",
  model: "judged the same pattern as (synthesizer model)",
  override: "merged by override with",
};

/** `lines 12-23`, linked to the span in the source file when the page can reach it. */
function linkedLines(links: SourceLinker, relPath: string, a: number, b: number): string {
  const href = links(relPath, a, b);
  return href ? `[${lines(a, b)}](${href})` : lines(a, b);
}

/** A source file's path as a code span, linked to the file when the page can reach it. */
function linkedPath(links: SourceLinker, relPath: string): string {
  const href = links(relPath);
  return href ? `[${codeSpan(relPath)}](${href})` : codeSpan(relPath);
}

/**
 * A pattern page: YAML front matter (id, name, aliases, category, tags, sources, verification),
 * then the entry. `links` makes sources relative links to the input files and their lines (pages
 * rendered without an input directory name them by path and lines).
 */
export function renderEntryPage(entry: Entry, links: SourceLinker = NO_SOURCE_LINKS): string {
  const out: string[] = [];
  out.push(entryFrontMatter(entry, links), "");
  out.push(`# ${inline(entry.name)}`, "");
  out.push(`- ID: ${codeSpan(entry.id)}`);
  out.push(`- Category: [${categoryTitle(entry.category)}](../categories/${entry.category}.md)`);
  if (entry.tags.length > 0) out.push(`- Tags: ${entry.tags.map(codeSpan).join(", ")}`);
  if (entry.aliases.length > 0) out.push(`- Also called: ${entry.aliases.map(inline).join("; ")}`);
  out.push("", paragraph(entry.summary), "");
  out.push("## Example", "");
  if (entry.example) {
    const ex = entry.example;
    const verification = exampleVerification(ex);
    out.push(`From ${codeSpan(ex.relPath)} ${linkedLines(links, ex.relPath, ex.startLine, ex.endLine)} (${inline(ex.unitId)}), quoted verbatim:`, "");
    out.push(fence(ex.code, ex.lang || "rust"), "");
    if (verification) out.push(`Verification: ${inline(verification)}${ex.verification?.detail ? ` — ${inline(ex.verification.detail)}` : ""}.`, "");
  } else {
    out.push("No code example in the sources.", "");
  }
  out.push("## When to use", "", ...entry.whenToUse.map((x) => `- ${inline(x)}`), "");
  out.push("## When not to use", "", ...entry.whenNotToUse.map((x) => `- ${inline(x)}`), "");
  out.push("## Pitfalls", "");
  if (entry.pitfalls.length > 0) out.push(...entry.pitfalls.map((x) => `- ${inline(x)}`));
  else out.push("None recorded.");
  out.push("", "## Related", "");
  if (entry.related.length > 0) for (const r of entry.related) out.push(`- [${inline(r.name)}](${r.slug}.md) — ${r.why.map(inline).join("; ")}`);
  else out.push("None recorded.");
  out.push("", "## Cross-references", "");
  const refs = [
    ...entry.crossRefs.clippy.map((l) => `- Clippy lint ${link(codeSpan(l), clippyLintUrl(l))}`),
    ...entry.crossRefs.guidelines.map((g) => `- Rust API Guidelines ${link(inline(g), guidelineUrl(g))}`),
  ];
  if (refs.length > 0) out.push(...refs);
  else out.push("None named in the sources.");
  out.push("", "## Sources", "");
  for (const s of entry.sources) {
    const where = s.evidence.map((e) => `${inline(e.unitId)} ${linkedLines(links, s.relPath, e.startLine, e.endLine)}`).join("; ");
    out.push(`- ${linkedPath(links, s.relPath)}${where ? ` (${where})` : ""} — ${inline(s.verification)}`);
  }
  for (const r of entry.research) {
    const label = r.url ? link(inline(r.title), r.url) : inline(r.title);
    out.push(`- ${label} — ${inline(r.provider)}: ${codeSpan(r.citation)}`);
  }
  out.push("", "## Merge record", "");
  for (const m of entry.merges) {
    const how = m.reason === "founder" ? MERGE_REASON.founder : `${MERGE_REASON[m.reason]} ${codeSpan(m.with ?? "?")}`;
    out.push(`- ${codeSpan(m.draftId)} “${inline(m.name)}”: ${how}${m.detail ? ` — ${inline(m.detail)}` : ""}`);
  }
  out.push("");
  return out.join("\n");
}

function sourceFiles(entries: readonly Entry[]): number {
  return new Set(entries.flatMap((e) => e.sources.map((s) => s.relPath))).size;
}

export function renderIndex(entries: readonly Entry[], quarantined: number): string {
  const out: string[] = ["# Rust patterns knowledge base", ""];
  const used = CATEGORIES.filter((c) => entries.some((e) => e.category === c.id));
  out.push(
    `${entries.length} ${entries.length === 1 ? "entry" : "entries"} in ${used.length} ${used.length === 1 ? "category" : "categories"}, from ${sourceFiles(entries)} source ${sourceFiles(entries) === 1 ? "file" : "files"}.`,
    'Search from the terminal: `npm run kb -- search "QUERY"`; the same content as data: [kb.json](kb.json) ([schema](kb.schema.json)).',
  );
  if (quarantined > 0) out.push(`${quarantined} ${quarantined === 1 ? "draft" : "drafts"} failed validation: see [quarantine.md](quarantine.md).`);
  out.push("");
  if (used.length > 0) {
    out.push("| Category | Entries |", "|---|---:|");
    for (const cat of used) out.push(`| [${cat.title}](categories/${cat.id}.md) | ${entries.filter((e) => e.category === cat.id).length} |`);
    out.push("");
  }
  for (const cat of used) {
    const list = entries.filter((e) => e.category === cat.id);
    out.push(`## [${cat.title}](categories/${cat.id}.md) (${list.length})`, "");
    for (const e of list) out.push(`- [${inline(e.name)}](patterns/${e.slug}.md) — ${firstSentence(e.summary)}`);
    out.push("");
  }
  return out.join("\n");
}

export function renderCategoryPage(categoryId: string, entries: readonly Entry[], links: SourceLinker = NO_SOURCE_LINKS): string {
  const out: string[] = [
    `# ${categoryTitle(categoryId)}`,
    "",
    `${entries.length} ${entries.length === 1 ? "entry" : "entries"}. [All categories](../index.md)`,
    "",
  ];
  for (const e of entries) {
    out.push(`## [${inline(e.name)}](../patterns/${e.slug}.md)`, "", paragraph(e.summary), "");
    if (e.tags.length > 0) out.push(`Tags: ${e.tags.map(codeSpan).join(", ")}`, "");
    out.push(`Sources: ${e.sources.map((s) => linkedPath(links, s.relPath)).join(", ")}`, "");
  }
  return out.join("\n");
}

/** `links` are relative to the directory the quarantine page is in (the KB's or the site's root). */
export function renderQuarantine(records: readonly QuarantineRecord[], links: SourceLinker = NO_SOURCE_LINKS, unread: readonly UnreadRecord[] = []): string {
  const out: string[] = ["# Quarantine", "", "Drafts that did not pass validation after the allowed repair rounds. They are not in the knowledge base.", ""];
  if (records.length === 0) out.push("Nothing is quarantined.", "");
  for (const r of records) {
    out.push(`## ${inline(r.name)} — ${linkedPath(links, r.relPath)} (${inline(r.patternKey)})`, "");
    for (const p of r.problems) out.push(`- ${inline(p)}`);
    out.push("");
  }
  if (unread.length > 0) {
    out.push("# Not read in full", "", "Units of these files a model did not read in full (the knowledge base may miss what they teach):", "");
    for (const f of unread) {
      out.push(`## ${linkedPath(links, f.relPath)}`, "");
      for (const u of f.units)
        out.push(`- ${inline(u.unitId)} ${inline(u.title)} (${linkedLines(links, f.relPath, u.startLine, u.endLine)}): ${UNREAD_TEXT[u.why](u.role, u.how)}`);
      out.push("");
    }
  }
  return out.join("\n");
}

const UNREAD_TEXT: Record<UnreadRecord["units"][number]["why"], (role: string, how: "left-out" | "shortened") => string> = {
  "context-cut": (role, how) => `${how === "left-out" ? "left out of" : "shortened in"} the ${role}'s prompt, cut to fit the model's context`,
  "no-room": (role, how) => `${how === "left-out" ? "left out of" : "shortened in"} the ${role}'s prompt: the context had no room for all of it`,
  "pattern-limit": (role) => `not read by the ${role}: the file's limit of patterns was found before it`,
};

function firstSentence(text: string): string {
  const flat = inline(text);
  // A sentence ends at . ! or ? followed by a capital letter or the end ("the ? operator" does not end one).
  const m = /^(.{20,200}?[.!?])(\s+(?=[A-Z])|$)/.exec(flat);
  return m?.[1] ?? (flat.length > 200 ? `${flat.slice(0, 199)}…` : flat);
}
