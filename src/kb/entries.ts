/**
 * From groups of drafts to knowledge-base entries: stable IDs and slugs, the display name,
 * category, tags, the best example, merged sections, sources with their verification status, and
 * related entries (both ways). Pure and deterministic.
 */
import { createHash } from "node:crypto";
import { type AliasIndex, canonicalKey } from "./aliases.ts";
import { mergeCrossRefs } from "./crossrefs.ts";
import { publicResearchRef } from "./publicResearchRef.ts";
import { nameKey, slugify } from "./slug.ts";
import { tagsFor } from "./tags.ts";
import { CATEGORIES, type CategoryId } from "./taxonomy.ts";
import type { Contribution, Entry, EntrySource, ExampleRef, MergeRecord, RelatedRef } from "./types.ts";
import { draftIdOf } from "./types.ts";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** What the store remembers of the last publish, so IDs and slugs survive re-runs. */
export interface PreviousAssignment {
  /** Draft ID -> entry ID it was in. */
  entryOfDraft: ReadonlyMap<string, string>;
  /** Entry ID -> slug. */
  slugOfEntry: ReadonlyMap<string, string>;
}

export const NO_PREVIOUS: PreviousAssignment = { entryOfDraft: new Map(), slugOfEntry: new Map() };

/** The example's verification status (`compiles`, `parses-only`, `fails`, `not-checkable`), when the validator checked it. */
export function exampleVerification(ex: ExampleRef | null | undefined): string | undefined {
  return ex?.verification?.status;
}

const VERIFICATION_RANK: Record<string, number> = { compiles: 3, "parses-only": 2, "not-checkable": 1, fails: 0 };

/** Higher is better: compiles > parses only > not checkable or not checked > fails. */
function verificationRank(ex: ExampleRef): number {
  return VERIFICATION_RANK[ex.verification?.status ?? ""] ?? 1;
}

const RUST_LANGS = new Set(["rust", "rs", "", "no_run", "ignore", "should_panic", "compile_fail", "edition2018", "edition2021"]);

/**
 * The best example among the drafts: better verification first, then Rust over other languages,
 * then a readable size (3-40 lines), then the draft-ID order.
 */
function bestExample(contributions: readonly Contribution[]): ExampleRef | null {
  const candidates = contributions
    .filter((c) => c.example)
    .map((c) => ({ ex: c.example as ExampleRef, id: draftIdOf(c) }))
    .map(({ ex, id }) => {
      const lines = ex.code.split("\n").length;
      return { ex, id, rank: [verificationRank(ex), RUST_LANGS.has(ex.lang.split(",")[0]?.trim() ?? "") ? 1 : 0, lines >= 3 && lines <= 40 ? 1 : 0] };
    });
  candidates.sort((x, y) => {
    for (let i = 0; i < x.rank.length; i++) {
      const d = (y.rank[i] ?? 0) - (x.rank[i] ?? 0);
      if (d !== 0) return d;
    }
    return byString(x.id, y.id);
  });
  return candidates[0]?.ex ?? null;
}

function uniq(xs: readonly string[]): string[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const k = x.trim().toLowerCase();
    if (k === "" || seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Display name: the alias table's name when the entry's names are in it, else the most used draft name (then shortest, then A-Z). */
function displayName(contributions: readonly Contribution[], aliases: AliasIndex): string {
  for (const c of contributions) {
    const row = aliases.lookup(nameKey(c.name));
    if (row) return row.name;
  }
  const counts = new Map<string, number>();
  for (const c of contributions) counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].length - b[0].length || byString(a[0], b[0]))[0]?.[0] ?? "";
}

/** Category: the alias table's when it has one, else the drafts' majority (ties: taxonomy order). */
function entryCategory(contributions: readonly Contribution[], aliases: AliasIndex): CategoryId {
  for (const c of contributions) {
    const cat = aliases.lookup(nameKey(c.name))?.category;
    if (cat) return cat;
  }
  const counts = new Map<CategoryId, number>();
  for (const c of contributions) counts.set(c.category, (counts.get(c.category) ?? 0) + 1);
  const order = (id: CategoryId) => CATEGORIES.findIndex((x) => x.id === id);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || order(a[0]) - order(b[0]))[0]?.[0] ?? "other";
}

function verificationText(c: Contribution): string {
  const parts = ["grounding checks passed"];
  if (c.validation?.review === "passed") parts.push("model review passed");
  else if (c.validation?.review === "off") parts.push("model review off");
  if (c.validation && c.validation.round > 1) parts.push(`repaired in round ${c.validation.round}`);
  const ex = exampleVerification(c.example);
  if (c.example) parts.push(`example ${ex ?? "not compile-checked"}`);
  return parts.join("; ");
}

export interface EntryDraftGroup {
  id: string;
  slug: string;
  records: readonly MergeRecord[];
  contributions: readonly Contribution[];
}

/** Merges one group of drafts into an entry (related links are filled in later by `linkRelated`). */
export function buildEntry(group: EntryDraftGroup, aliases: AliasIndex): Entry {
  const sorted = [...group.contributions].sort((a, b) => byString(draftIdOf(a), draftIdOf(b)));
  const example = bestExample(sorted);
  // The summary comes from the draft that gave the example (its text talks about that code), else the first draft.
  const primary = sorted.find((c) => example && c.example === example) ?? sorted[0];
  if (!primary) throw new Error("an entry needs at least one draft");
  const ordered = [primary, ...sorted.filter((c) => c !== primary)];
  const name = displayName(sorted, aliases);
  const category = entryCategory(sorted, aliases);
  const crossRefs = mergeCrossRefs(sorted.map((c) => c.crossRefs ?? { clippy: [], guidelines: [] }));
  const row = aliases.lookup(nameKey(name));
  const aliasNames = uniq([...sorted.map((c) => c.name), ...(row ? [row.name] : [])])
    .filter((n) => nameKey(n) !== nameKey(name))
    .sort(byString)
    .slice(0, 8);
  const research = new Map<string, Contribution["research"][number]>();
  for (const c of ordered)
    for (const raw of c.research) {
      const r = publicResearchRef(raw);
      if (!research.has(r.citation)) research.set(r.citation, r);
    }
  const sources: EntrySource[] = sorted.map((c) => ({
    relPath: c.relPath,
    draftId: draftIdOf(c),
    evidence: [...c.evidence].sort((a, b) => a.startLine - b.startLine || byString(a.unitId, b.unitId)),
    verification: verificationText(c),
  }));
  return {
    id: group.id,
    slug: group.slug,
    name,
    aliases: aliasNames,
    category,
    tags: tagsFor({ names: [name, ...aliasNames], summary: ordered.map((c) => c.summary).join("\n"), category, crossRefs }),
    summary: primary.summary,
    whenToUse: uniq(ordered.flatMap((c) => c.whenToUse)).slice(0, 8),
    whenNotToUse: uniq(ordered.flatMap((c) => c.whenNotToUse)).slice(0, 6),
    pitfalls: uniq(ordered.flatMap((c) => c.pitfalls)).slice(0, 6),
    example,
    related: [],
    crossRefs,
    sources,
    research: [...research.values()].sort((a, b) => byString(a.citation, b.citation)),
    merges: [...group.records],
  };
}

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}

/**
 * Gives each group an entry ID and slug. A group keeps the ID most of its drafts had last time
 * (larger groups choose first; ties by ID); a new group gets `kb-` + a hash of its founder's
 * canonical name, so the same pattern found again gets the same ID. Slugs stay with their IDs;
 * new slugs come from the display name, with -2, -3 … when taken.
 */
export function assignIds(
  groups: readonly { records: readonly MergeRecord[]; contributions: readonly Contribution[] }[],
  previous: PreviousAssignment,
  aliases: AliasIndex,
): { id: string; slug: string }[] {
  const order = groups
    .map((g, i) => ({ g, i, founder: g.records[0]?.draftId ?? "" }))
    .sort((x, y) => y.g.records.length - x.g.records.length || byString(x.founder, y.founder));
  const ids: string[] = new Array(groups.length).fill("");
  const takenIds = new Set<string>();
  for (const { g, i } of order) {
    const votes = new Map<string, number>();
    for (const r of g.records) {
      const prev = previous.entryOfDraft.get(r.draftId);
      if (prev) votes.set(prev, (votes.get(prev) ?? 0) + 1);
    }
    const choice = [...votes.entries()].sort((a, b) => b[1] - a[1] || byString(a[0], b[0])).find(([id]) => !takenIds.has(id))?.[0];
    if (choice) {
      ids[i] = choice;
      takenIds.add(choice);
    }
  }
  for (const { g, i, founder } of order) {
    if (ids[i]) continue;
    const first = g.contributions.find((c) => draftIdOf(c) === founder) ?? g.contributions[0];
    const key = canonicalKey(first?.name ?? founder, aliases);
    let id = `kb-${shortHash(key)}`;
    for (let n = 2; takenIds.has(id); n++) id = `kb-${shortHash(`${key}#${n}`)}`;
    ids[i] = id;
    takenIds.add(id);
  }
  const slugs: string[] = new Array(groups.length).fill("");
  const takenSlugs = new Set<string>();
  for (const { i } of order) {
    const prev = previous.slugOfEntry.get(ids[i] ?? "");
    if (prev && !takenSlugs.has(prev)) {
      slugs[i] = prev;
      takenSlugs.add(prev);
    }
  }
  // Slugs of entries that are gone stay reserved only while nothing else needs them: a new entry takes a free name first.
  for (const { g, i } of order) {
    if (slugs[i]) continue;
    const base = slugify(displayName(g.contributions, aliases));
    let slug = base;
    for (let n = 2; takenSlugs.has(slug); n++) slug = `${base}-${n}`;
    slugs[i] = slug;
    takenSlugs.add(slug);
  }
  return groups.map((_, i) => ({ id: ids[i] ?? "", slug: slugs[i] ?? "" }));
}

const MAX_RELATED = 6;

/**
 * Related entries, both ways. Two entries are related when they cite the same lint or guideline
 * (3 per shared reference), one's text names the other (2; multi-word names only, so common words
 * do not link), one's research cites the other's source file (1), or they come from the same
 * source file (1). Each entry keeps its best MAX_RELATED by score, and every kept link is added
 * in the other direction too.
 */
export function linkRelated(entries: readonly Entry[]): Entry[] {
  const why = relatedScores(entries);
  const keep = entries.map(() => new Set<number>());
  for (const [i, mine] of why.entries()) {
    const ranked = [...mine.keys()]
      .sort((x, y) => (mine.get(y)?.score ?? 0) - (mine.get(x)?.score ?? 0) || byString(entries[x]?.slug ?? "", entries[y]?.slug ?? ""))
      .slice(0, MAX_RELATED);
    for (const j of ranked) {
      keep[i]?.add(j);
      keep[j]?.add(i);
    }
  }
  return entries.map((e, i) => {
    const related: RelatedRef[] = [...(keep[i] ?? [])].map((j) => {
      const o = entries[j] as Entry;
      return { id: o.id, slug: o.slug, name: o.name, why: [...(why[i]?.get(j)?.reasons ?? [])].sort(byString) };
    });
    related.sort((x, y) => byString(x.slug, y.slug));
    return { ...e, related };
  });
}

type PairScores = Map<number, { score: number; reasons: string[] }>;

/** Entry indexes by each key `keysOf` gives an entry. */
function indexBy(entries: readonly Entry[], keysOf: (e: Entry) => readonly string[]): Map<string, number[]> {
  const index = new Map<string, number[]>();
  entries.forEach((e, i) => {
    for (const k of new Set(keysOf(e))) {
      const list = index.get(k);
      if (list) list.push(i);
      else index.set(k, [i]);
    }
  });
  return index;
}

/**
 * Scores and reasons per pair of entries (both directions), found through indexes (by reference,
 * source file, cited path and name) rather than by comparing every pair: a thousand entries are
 * half a million pairs.
 */
function relatedScores(entries: readonly Entry[]): PairScores[] {
  const why = entries.map((): PairScores => new Map());
  const add = (i: number, j: number, score: number, reason: string) => {
    for (const [x, y] of [
      [i, j],
      [j, i],
    ] as const) {
      const pairs = why[x] as PairScores;
      const cur = pairs.get(y) ?? { score: 0, reasons: [] };
      cur.score += score;
      if (!cur.reasons.includes(reason)) cur.reasons.push(reason);
      pairs.set(y, cur);
    }
  };
  // Both cite a lint or a guideline: 3 for each one they share.
  for (const refs of [indexBy(entries, (e) => e.crossRefs.clippy), indexBy(entries, (e) => e.crossRefs.guidelines)])
    for (const [ref, list] of refs) for (const [x, i] of list.entries()) for (const j of list.slice(x + 1)) add(i, j, 3, `both cite ${ref}`);
  // One's text names the other (multi-word names only): the name's key is a run of words in the text's key.
  const byName = indexBy(entries, (e) => [nameKey(e.name)].filter((k) => k.includes(" ")));
  const lengths = [...new Set([...byName.keys()].map((k) => k.split(" ").length))];
  entries.forEach((x, i) => {
    const words = nameKey([x.summary, ...x.whenToUse, ...x.whenNotToUse, ...x.pitfalls].join(" "))
      .split(" ")
      .filter(Boolean);
    const named = new Set<number>();
    for (const len of lengths)
      for (let at = 0; at + len <= words.length; at++) for (const j of byName.get(words.slice(at, at + len).join(" ")) ?? []) if (j !== i) named.add(j);
    for (const j of named) add(i, j, 2, `${x.name} mentions ${(entries[j] as Entry).name}`);
  });
  // One's research cites a source file of the other (the citation is the path, or the path and a `:` suffix).
  const byFile = indexBy(entries, (e) => e.sources.map((s) => s.relPath));
  entries.forEach((x, i) => {
    const cited = new Set<number>();
    for (const r of x.research)
      for (let at = r.citation.indexOf(":"); ; at = r.citation.indexOf(":", at + 1)) {
        for (const j of byFile.get(at < 0 ? r.citation : r.citation.slice(0, at)) ?? []) if (j !== i) cited.add(j);
        if (at < 0) break;
      }
    for (const j of cited) add(i, j, 1, `research cites a source of ${(entries[j] as Entry).name}`);
  });
  // The same source file: 1, named by the first shared file.
  const sharing = entries.map(() => new Set<number>());
  for (const list of byFile.values()) for (const i of list) for (const j of list) if (j > i) sharing[i]?.add(j);
  sharing.forEach((js, i) => {
    const mine = new Set((entries[i] as Entry).sources.map((s) => s.relPath));
    for (const j of js) {
      const first = [...new Set((entries[j] as Entry).sources.map((s) => s.relPath))].filter((f) => mine.has(f)).sort(byString)[0];
      if (first !== undefined) add(i, j, 1, `same source: ${first}`);
    }
  });
  return why;
}
