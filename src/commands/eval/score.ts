/**
 * Scores a knowledge base against ground-truth labels. Pure: kb.json data and labels in, numbers
 * out. The matching rules are documented in docs/KNOWLEDGE-BASE.md ("Evaluation").
 */
import { type AliasIndex, buildAliasIndex, canonicalKey } from "../../kb/aliases.ts";
import { nameSimilarity } from "../../kb/resolve.ts";
import { nameKey } from "../../kb/slug.ts";
import type { Entry, QuarantineRecord } from "../../kb/types.ts";
import type { LabelFile, LabelPattern } from "./labels.ts";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** How an entry matched a label: by ID (cross-reference or file-stem ID), by name, by an alias, or only loosely. */
export type MatchKind = "id" | "name" | "alias" | "loose";

export interface LabelResult {
  /** Input path of the labelled file. */
  file: string;
  id: string;
  name: string;
  /** The strongest way any entry matched (null: not recalled). */
  matchedBy: MatchKind | null;
  /** Slugs of the entries that match it strictly (id, name or alias). */
  entries: string[];
  /** Slugs of entries that match it only loosely. */
  looseEntries: string[];
}

export interface EvalScores {
  inputFiles: number;
  labelledFiles: number;
  labels: number;
  /** Labels matched by an entry through ID, name or alias. */
  recalled: number;
  recall: number;
  /** Labels matched strictly or loosely (shared words). */
  looselyRecalled: number;
  looseRecall: number;
  entries: number;
  /** Entries that match no label strictly: candidate hallucinations, or real finds the labels lack. */
  unlabelled: { slug: string; name: string; sources: string[] }[];
  /** Labels that more than one entry matches strictly: duplicates the synthesis left. */
  duplicateLabels: { file: string; id: string; entries: string[] }[];
  /** Entries beyond the first for each such label (summed). */
  duplicateEntries: number;
  /** Groups of entries whose names are the same after normalisation and aliases. */
  sameNameGroups: string[][];
  verification: VerificationMix;
  perLabel: LabelResult[];
}

export interface VerificationMix {
  /** Sources (drafts) across all entries. */
  sources: number;
  /** Drafts by validation: "model review passed", "model review off", "checks only (not recorded)". */
  review: Record<string, number>;
  /** Drafts by their example's verification ("compiles", "parses only", "not compile-checked", "no example", …). */
  examples: Record<string, number>;
  entriesWithExample: number;
  quarantinedDrafts: number;
}

/** The names an entry answers to, as canonical keys (name, aliases, every draft's name). */
function entryKeys(e: Entry, aliases: AliasIndex): { canonical: Set<string>; plain: Set<string> } {
  const names = [e.name, ...e.aliases, ...e.merges.map((m) => m.name)];
  return { canonical: new Set(names.map((n) => canonicalKey(n, aliases))), plain: new Set(names.map(nameKey)) };
}

/**
 * Strict match of one label against one entry that cites the label's file:
 * - id: the label's ID is one of the entry's cross-references (lint name, C-ID), or names the
 *   entry (a file-stem ID such as "newtype" or "mem-replace", through the alias table);
 * - name: the label's name (or its markdown form) normalises to one of the entry's names;
 * - alias: the label's name and one of the entry's names are aliases in the alias table.
 */
function matchLabel(label: LabelPattern, e: Entry, aliases: AliasIndex): MatchKind | null {
  const keys = entryKeys(e, aliases);
  if (e.crossRefs.clippy.includes(label.id) || e.crossRefs.guidelines.includes(label.id)) return "id";
  if (keys.canonical.has(canonicalKey(label.id, aliases))) return "id";
  const labelNames = [label.name, ...(label.name_raw ? [label.name_raw] : [])];
  if (labelNames.some((n) => keys.plain.has(nameKey(n)))) return "name";
  if (labelNames.some((n) => keys.canonical.has(canonicalKey(n, aliases)))) return "alias";
  return null;
}

/** Loose match: the label's name and one of the entry's names share most words (similarity >= 0.5). */
function looseMatch(label: LabelPattern, e: Entry): boolean {
  const names = [e.name, ...e.aliases, ...e.merges.map((m) => m.name)];
  return names.some((n) => nameSimilarity(label.name, n) >= 0.5);
}

const ORDER: Record<MatchKind, number> = { id: 0, name: 1, alias: 2, loose: 3 };

function pct(n: number, d: number): number {
  return d === 0 ? 0 : Math.round((n / d) * 10000) / 10000;
}

function exampleStatus(verification: string): string {
  const m = /example ([^;]+)$/.exec(verification);
  return m?.[1]?.trim() ?? "no example";
}

export function scoreKb(input: {
  entries: readonly Entry[];
  quarantined: readonly QuarantineRecord[];
  /** Input path -> its label record (see labelsForInput). */
  labels: ReadonlyMap<string, LabelFile>;
  inputFiles: number;
  aliases?: AliasIndex;
}): EvalScores {
  const aliases = input.aliases ?? buildAliasIndex();
  const entries = [...input.entries].sort((a, b) => byString(a.slug, b.slug));
  const perLabel: LabelResult[] = [];
  const strictlyMatched = new Set<string>();
  for (const [file, record] of [...input.labels.entries()].sort((a, b) => byString(a[0], b[0]))) {
    const citing = entries.filter((e) => e.sources.some((s) => s.relPath === file));
    for (const label of record.patterns) {
      let best: MatchKind | null = null;
      const strict: string[] = [];
      const loose: string[] = [];
      for (const e of citing) {
        const m = matchLabel(label, e, aliases);
        if (m) {
          strict.push(e.slug);
          strictlyMatched.add(e.slug);
          if (best === null || ORDER[m] < ORDER[best]) best = m;
        } else if (looseMatch(label, e)) {
          loose.push(e.slug);
          if (best === null) best = "loose";
        }
      }
      perLabel.push({ file, id: label.id, name: label.name, matchedBy: best, entries: strict, looseEntries: loose });
    }
  }
  const labels = perLabel.length;
  const recalled = perLabel.filter((l) => l.matchedBy !== null && l.matchedBy !== "loose").length;
  const looselyRecalled = perLabel.filter((l) => l.matchedBy !== null).length;
  const duplicateLabels = perLabel.filter((l) => l.entries.length > 1).map((l) => ({ file: l.file, id: l.id, entries: l.entries }));
  const sameName = new Map<string, string[]>();
  for (const e of entries) {
    const k = canonicalKey(e.name, aliases);
    sameName.set(k, [...(sameName.get(k) ?? []), e.slug]);
  }
  const review: Record<string, number> = {};
  const examples: Record<string, number> = {};
  let sources = 0;
  for (const e of entries)
    for (const s of e.sources) {
      sources++;
      const r = s.verification.includes("model review passed")
        ? "model review passed"
        : s.verification.includes("model review off")
          ? "model review off"
          : "checks only (review not recorded)";
      review[r] = (review[r] ?? 0) + 1;
      const x = exampleStatus(s.verification);
      examples[x] = (examples[x] ?? 0) + 1;
    }
  return {
    inputFiles: input.inputFiles,
    labelledFiles: input.labels.size,
    labels,
    recalled,
    recall: pct(recalled, labels),
    looselyRecalled,
    looseRecall: pct(looselyRecalled, labels),
    entries: entries.length,
    unlabelled: entries.filter((e) => !strictlyMatched.has(e.slug)).map((e) => ({ slug: e.slug, name: e.name, sources: e.sources.map((s) => s.relPath) })),
    duplicateLabels,
    duplicateEntries: duplicateLabels.reduce((n, d) => n + d.entries.length - 1, 0),
    sameNameGroups: [...sameName.values()].filter((g) => g.length > 1),
    verification: {
      sources,
      review: sortKeys(review),
      examples: sortKeys(examples),
      entriesWithExample: entries.filter((e) => e.example !== null).length,
      quarantinedDrafts: input.quarantined.length,
    },
    perLabel,
  };
}

function sortKeys(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).sort((a, b) => byString(a[0], b[0])));
}
