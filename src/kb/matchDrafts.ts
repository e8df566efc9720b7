/**
 * Matching the stored drafts into entries: names and aliases, the overrides file, the synthesizer
 * model's cached pair judgments, and the previous assignment (IDs and slugs survive re-runs).
 * Deterministic: the same drafts, overrides, judgments and previous assignment give the same entries.
 */
import { createHash } from "node:crypto";
import { UserError } from "../errors.ts";
import { ALIAS_TABLE, type AliasIndex, buildAliasIndex } from "./aliases.ts";
import { assignIds, buildEntry, linkRelated } from "./entries.ts";
import type { KnowledgeBase } from "./KnowledgeBase.ts";
import { OVERRIDES_FILE, readOverrides } from "./overridesFile.ts";
import { type CandidatePair, candidatePairs, DEFAULT_MAX_MERGE_PAIRS, type MatchDraft, type Overrides, resolveDrafts } from "./resolve.ts";
import type { PendingPair } from "./store/JudgmentStore.ts";
import type { Contribution, Entry } from "./types.ts";
import { draftIdOf } from "./types.ts";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The store's drafts and cached judgments, and its overrides file. */
type MatchSource = Pick<KnowledgeBase, "outDir" | "contributions" | "judgment" | "previousAssignment">;

/** Cache key of a pair judgment: the judge and what it was shown about both drafts (order-free). */
function pairKey(judge: string, pair: CandidatePair): string {
  const fmt = (d: MatchDraft) => `${d.name}\n${d.category}\n${d.summary}`;
  const [x, y] = [fmt(pair.a), fmt(pair.b)].sort(byString);
  return createHash("sha256").update(`${judge}\u0000${x}\u0000${y}`).digest("hex").slice(0, 32);
}

function toMatchDraft(c: Contribution): MatchDraft {
  return { draftId: draftIdOf(c), relPath: c.relPath, name: c.name, category: c.category, summary: c.summary, crossRefs: c.crossRefs };
}

function aliasIndexOf(overrides: Overrides): AliasIndex {
  try {
    return buildAliasIndex(ALIAS_TABLE, overrides.aliases);
  } catch (e) {
    throw new UserError("CONFIG_INVALID", `${OVERRIDES_FILE}: ${(e as Error).message}`, "Give each alias one canonical name.");
  }
}

/** Candidate pairs (best first, at most maxPairs) whose judgment by `judge` is not cached yet. */
export function pendingPairs(kb: MatchSource, judge: string, maxPairs: number = DEFAULT_MAX_MERGE_PAIRS): PendingPair[] {
  const overrides = readOverrides(kb.outDir);
  const drafts = kb.contributions().map(toMatchDraft);
  return candidatePairs(drafts, overrides, aliasIndexOf(overrides), maxPairs)
    .map((pair) => ({ key: pairKey(judge, pair), pair }))
    .filter((p) => kb.judgment(p.key) === undefined);
}

/** Every draft matched into an entry (slug order, related entries linked), with the override IDs that name no draft. */
export function matchDrafts(kb: MatchSource, judge: string, maxPairs: number): { entries: Entry[]; unknownOverrideIds: string[] } {
  const overrides = readOverrides(kb.outDir);
  const aliases = aliasIndexOf(overrides);
  const contributions = kb.contributions();
  const byDraft = new Map(contributions.map((c) => [draftIdOf(c), c]));
  const resolution = resolveDrafts(contributions.map(toMatchDraft), overrides, aliases, (pair) => kb.judgment(pairKey(judge, pair)), maxPairs);
  const groups = resolution.groups.map((records) => ({
    records,
    contributions: records.map((r) => byDraft.get(r.draftId)).filter((c): c is Contribution => c !== undefined),
  }));
  const ids = assignIds(groups, kb.previousAssignment(), aliases);
  const built = groups
    .map((g, i) => buildEntry({ id: ids[i]?.id ?? "", slug: ids[i]?.slug ?? "", records: g.records, contributions: g.contributions }, aliases))
    .sort((a, b) => byString(a.slug, b.slug));
  return { entries: linkRelated(built), unknownOverrideIds: resolution.unknownOverrideIds };
}
