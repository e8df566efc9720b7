/**
 * Which drafts are the same pattern. Pure and order-independent: the same drafts, overrides and
 * judgments always give the same groups, whatever order files finished in.
 *
 * 1. Overrides first: `merge` pairs join, `separate` pairs may never end up in one group.
 * 2. Names: drafts whose canonical name keys are equal join (normalised name, singular words,
 *    then the alias table).
 * 3. Model: the groups left are compared pairwise by a cheap similarity of their names (shared
 *    words, shared cross-references); the best `maxPairs` pairs are candidates for the
 *    synthesizer model, and pairs it judged "same" join.
 * Every join is an edge processed in that order (then by score and ID), and an edge that would put
 * a `separate` pair in one group is skipped.
 */
import { type AliasIndex, canonicalKey } from "./aliases.ts";
import type { CrossRefs } from "./crossrefs.ts";
import { nameKey } from "./slug.ts";
import type { MergeRecord } from "./types.ts";

export interface MatchDraft {
  draftId: string;
  relPath: string;
  name: string;
  category: string;
  summary: string;
  crossRefs: CrossRefs;
}

/** User decisions that beat the matcher (the overrides file, see docs/KNOWLEDGE-BASE.md). */
export interface Overrides {
  /** Draft-ID pairs to put in one entry. */
  merge: [string, string][];
  /** Draft-ID pairs never to put in one entry (undoes a merge of any kind). */
  separate: [string, string][];
  /** More aliases: alias name -> canonical name. */
  aliases: Record<string, string>;
}

export interface Judgment {
  same: boolean;
  reason: string;
}

/** Two groups the model may be asked about, represented by their founder drafts. */
export interface CandidatePair {
  a: MatchDraft;
  b: MatchDraft;
  score: number;
}

export interface Resolution {
  /** Groups in founder-ID order; each lists its merge records, founder first. */
  groups: MergeRecord[][];
  /** Override entries that name drafts that do not exist (reported, not fatal). */
  unknownOverrideIds: string[];
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const STOP = new Set([
  "a",
  "an",
  "the",
  "of",
  "for",
  "to",
  "in",
  "on",
  "with",
  "and",
  "or",
  "use",
  "using",
  "rust",
  "via",
  "by",
  "is",
  "are",
  "be",
  "as",
  "over",
  "into",
]);

function nameTokens(name: string): Set<string> {
  return new Set(
    nameKey(name)
      .split(" ")
      .filter((t) => t !== "" && !STOP.has(t)),
  );
}

function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let inter = 0;
  for (const t of a) if (b.has(t)) inter++;
  return inter / (a.size + b.size - inter);
}

/** How alike two names look (0..1): word overlap, or 0.5 when one name's words contain the other's. */
export function nameSimilarity(a: string, b: string): number {
  return tokenSimilarity(nameTokens(a), nameTokens(b));
}

function tokenSimilarity(ta: Set<string>, tb: Set<string>): number {
  const j = jaccard(ta, tb);
  const contained = ta.size > 0 && tb.size > 0 && ([...ta].every((t) => tb.has(t)) || [...tb].every((t) => ta.has(t)));
  return Math.max(j, contained ? 0.5 : 0);
}

type Edge = { a: string; b: string; reason: MergeRecord["reason"]; detail?: string };

class Groups {
  private readonly parent = new Map<string, string>();
  private readonly members = new Map<string, Set<string>>();
  readonly edges: Edge[] = [];

  constructor(
    ids: readonly string[],
    private readonly apart: readonly [string, string][],
  ) {
    for (const id of ids) {
      this.parent.set(id, id);
      this.members.set(id, new Set([id]));
    }
  }

  find(id: string): string {
    let r = id;
    while (this.parent.get(r) !== r) r = this.parent.get(r) ?? r;
    return r;
  }

  /** Joins the groups of a and b unless a `separate` pair would end up together. */
  join(edge: Edge): boolean {
    const ra = this.find(edge.a);
    const rb = this.find(edge.b);
    if (ra === rb) return false;
    const ma = this.members.get(ra) ?? new Set();
    const mb = this.members.get(rb) ?? new Set();
    for (const [x, y] of this.apart) if ((ma.has(x) && mb.has(y)) || (ma.has(y) && mb.has(x))) return false;
    const [keep, drop] = byString(ra, rb) <= 0 ? [ra, rb] : [rb, ra];
    this.parent.set(drop, keep);
    const merged = new Set([...ma, ...mb]);
    this.members.set(keep, merged);
    this.members.delete(drop);
    this.edges.push(edge);
    return true;
  }

  mayJoin(a: string, b: string): boolean {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return false;
    const ma = this.members.get(ra) ?? new Set();
    const mb = this.members.get(rb) ?? new Set();
    for (const [x, y] of this.apart) if ((ma.has(x) && mb.has(y)) || (ma.has(y) && mb.has(x))) return false;
    return true;
  }

  /** Member sets, each sorted, in order of their first member. */
  sets(): string[][] {
    return [...this.members.values()].map((s) => [...s].sort(byString)).sort((x, y) => byString(x[0] ?? "", y[0] ?? ""));
  }
}

function groupByNames(drafts: readonly MatchDraft[], overrides: Overrides, aliases: AliasIndex): { groups: Groups; known: Set<string>; unknown: string[] } {
  const sorted = [...drafts].sort((x, y) => byString(x.draftId, y.draftId));
  const known = new Set(sorted.map((d) => d.draftId));
  const unknown = [...new Set([...overrides.merge, ...overrides.separate].flat().filter((id) => !known.has(id)))].sort(byString);
  const apart = overrides.separate.filter(([x, y]) => known.has(x) && known.has(y));
  const groups = new Groups(
    sorted.map((d) => d.draftId),
    apart,
  );
  for (const [x, y] of [...overrides.merge]
    .map(([x, y]): [string, string] => (byString(x, y) <= 0 ? [x, y] : [y, x]))
    .sort((p, q) => byString(p.join("\n"), q.join("\n")))) {
    if (known.has(x) && known.has(y)) groups.join({ a: x, b: y, reason: "override" });
  }
  const byKey = new Map<string, MatchDraft[]>();
  for (const d of sorted) {
    const key = canonicalKey(d.name, aliases);
    if (key === "") continue;
    const list = byKey.get(key) ?? [];
    list.push(d);
    byKey.set(key, list);
  }
  for (const key of [...byKey.keys()].sort(byString)) {
    const list = byKey.get(key) ?? [];
    const first = list[0];
    if (!first) continue;
    for (const d of list.slice(1)) {
      // Join with the first member this draft may join (a `separate` override can block the first).
      const partner = list.find((p) => p !== d && groups.mayJoin(p.draftId, d.draftId)) ?? first;
      groups.join({ a: partner.draftId, b: d.draftId, reason: nameKey(partner.name) === nameKey(d.name) ? "same-name" : "alias" });
    }
  }
  return { groups, known, unknown };
}

/** Candidate pairs the synthesizer model is asked about per run, at most (the best by name similarity). */
export const DEFAULT_MAX_MERGE_PAIRS = 40;

/**
 * The pairs of name groups worth asking the model about, best first, at most `maxPairs`. A pair
 * qualifies when the names share words (similarity >= 0.34, or one name's words contain the
 * other's) or the groups share a cross-reference and at least one name word.
 */
export function candidatePairs(drafts: readonly MatchDraft[], overrides: Overrides, aliases: AliasIndex, maxPairs: number): CandidatePair[] {
  if (maxPairs <= 0) return [];
  const { groups } = groupByNames(drafts, overrides, aliases);
  const byId = new Map(drafts.map((d) => [d.draftId, d]));
  const sets = groups.sets().map((ids) => ids.map((id) => byId.get(id)).filter((d): d is MatchDraft => d !== undefined));
  // Each name's words and each group's references once (not once per pair: a thousand entries make half a million pairs).
  const tokens = sets.map((g) => g.map((d) => nameTokens(d.name)));
  const refs = sets.map((g) => new Set(g.flatMap((d) => [...d.crossRefs.clippy, ...d.crossRefs.guidelines])));
  // Only groups whose names share a word can qualify (similarity 0 never does): pair those through a word index.
  const groupsOfWord = new Map<string, number[]>();
  tokens.forEach((names, i) => {
    for (const word of new Set(names.flatMap((t) => [...t]))) {
      const list = groupsOfWord.get(word);
      if (list) list.push(i);
      else groupsOfWord.set(word, [i]);
    }
  });
  const partners = sets.map(() => new Set<number>());
  for (const list of groupsOfWord.values()) for (const i of list) for (const j of list) if (j > i) partners[i]?.add(j);
  const pairs: CandidatePair[] = [];
  for (let i = 0; i < sets.length; i++) {
    for (const j of [...(partners[i] ?? [])].sort((x, y) => x - y)) {
      const a = sets[i]?.[0];
      const b = sets[j]?.[0];
      if (!a || !b || !groups.mayJoin(a.draftId, b.draftId)) continue;
      let sim = 0;
      for (const x of tokens[i] ?? []) for (const y of tokens[j] ?? []) sim = Math.max(sim, tokenSimilarity(x, y));
      const ri = refs[i] ?? new Set<string>();
      const shared = [...(refs[j] ?? [])].some((r) => ri.has(r));
      if (!(sim >= 0.34 || (shared && sim > 0))) continue;
      const score = Math.round((sim + (shared ? 0.2 : 0) + (a.category === b.category ? 0.05 : 0)) * 1000) / 1000;
      pairs.push({ a, b, score });
    }
  }
  pairs.sort((p, q) => q.score - p.score || byString(p.a.draftId, q.a.draftId) || byString(p.b.draftId, q.b.draftId));
  return pairs.slice(0, maxPairs);
}

/**
 * Groups the drafts. `judged` answers for a candidate pair from the judgment cache (undefined
 * when the model was not asked: the pair stays apart).
 */
export function resolveDrafts(
  drafts: readonly MatchDraft[],
  overrides: Overrides,
  aliases: AliasIndex,
  judged: (pair: CandidatePair) => Judgment | undefined,
  maxPairs: number,
): Resolution {
  const { groups, unknown } = groupByNames(drafts, overrides, aliases);
  for (const pair of candidatePairs(drafts, overrides, aliases, maxPairs)) {
    const j = judged(pair);
    if (j?.same) groups.join({ a: pair.a.draftId, b: pair.b.draftId, reason: "model", detail: j.reason });
  }
  const byId = new Map(drafts.map((d) => [d.draftId, d]));
  const adjacency = new Map<string, Edge[]>();
  for (const e of groups.edges) {
    adjacency.set(e.a, [...(adjacency.get(e.a) ?? []), e]);
    adjacency.set(e.b, [...(adjacency.get(e.b) ?? []), e]);
  }
  const out: MergeRecord[][] = [];
  for (const ids of groups.sets()) {
    const founder = ids[0];
    if (!founder) continue;
    const records = new Map<string, MergeRecord>();
    const record = (id: string, reason: MergeRecord["reason"], withId?: string, detail?: string): MergeRecord => {
      const d = byId.get(id);
      return {
        draftId: id,
        relPath: d?.relPath ?? "",
        name: d?.name ?? "",
        reason,
        ...(withId ? { with: withId } : {}),
        ...(detail ? { detail } : {}),
      };
    };
    records.set(founder, record(founder, "founder"));
    // Breadth-first from the founder along the edges that were accepted: each draft records the edge it was reached by.
    const queue = [founder];
    while (queue.length > 0) {
      const cur = queue.shift() as string;
      const next = (adjacency.get(cur) ?? []).map((e) => ({ e, other: e.a === cur ? e.b : e.a })).sort((x, y) => byString(x.other, y.other));
      for (const { e, other } of next) {
        if (records.has(other)) continue;
        records.set(other, record(other, e.reason, cur, e.detail));
        queue.push(other);
      }
    }
    out.push(ids.map((id) => records.get(id) ?? record(id, "founder")));
  }
  return { groups: out, unknownOverrideIds: unknown };
}
