/**
 * Publishing the knowledge base: the one place its files are written. The synthesize step and
 * `npm run kb -- rebuild` publish the pages, kb.json and its schema (`publishKnowledgeBase`); a
 * run's `--site` and `npm run kb -- site` publish the static site (`publishSite`). The store
 * (src/kb/KnowledgeBase.ts) only holds rows.
 */
import type { WriteFs } from "../../util/atomicWrite.ts";
import type { KnowledgeBase, PublishingRun } from "../KnowledgeBase.ts";
import { matchDrafts } from "../matchDrafts.ts";
import { DEFAULT_MAX_MERGE_PAIRS } from "../resolve.ts";
import { renderKbFiles } from "./renderKbFiles.ts";
import { writeKbFiles } from "./writeKbFiles.ts";

export interface PublishOptions {
  /** Identity of the pair judge (model and prompt hash); default: the one the last publish used. */
  judge?: string;
  /** Candidate pairs considered (default DEFAULT_MAX_MERGE_PAIRS). */
  maxPairs?: number;
  /** The run that publishes: recorded so `npm run eval` can tell whether the KB is reusable. */
  run?: PublishingRun;
  /** The file system pages and kb.json are written through (tests inject failures; default the real one). */
  writeFs?: WriteFs;
}

export interface PublishResult {
  entries: number;
  quarantined: number;
  /** Output files (relative paths) whose bytes changed. */
  written: string[];
  /** IDs of entries that are new or whose content changed. */
  changedEntries: string[];
  /** Draft IDs named in the overrides file that do not exist. */
  unknownOverrideIds: string[];
  /** Files left alone: not written by this tool (a page would replace them), or edited since it wrote them (a page it no longer needs). */
  kept: string[];
}

/**
 * Matches all drafts into entries (names and aliases, cached model judgments, overrides), writes
 * every page, kb.json and its schema, and records the entries in the store (with their full-text
 * index). Deterministic: the same drafts, overrides, judgments and previous assignment always give
 * the same bytes; unchanged files are not rewritten.
 */
export function publishKnowledgeBase(kb: KnowledgeBase, options: PublishOptions = {}): PublishResult {
  const judge = options.judge ?? kb.meta("judge") ?? "";
  const { entries, unknownOverrideIds } = matchDrafts(kb, judge, options.maxPairs ?? DEFAULT_MAX_MERGE_PAIRS);
  const quarantined = kb.quarantined();
  const unread = kb.unread();
  // Sources link to the input files (relative) when the run that builds or last built the KB is known.
  const inputDir = options.run?.inputDir ?? kb.lastRun()?.inputDir;
  const files = writeKbFiles(kb.outDir, kb.writtenFiles, renderKbFiles(kb.outDir, { entries, quarantined, unread }, inputDir), options.writeFs);
  const changedEntries = kb.recordEntries(entries, judge, options.run);
  return {
    entries: entries.length,
    quarantined: quarantined.length,
    written: files.written,
    changedEntries,
    unknownOverrideIds,
    kept: files.kept,
  };
}

/** What publishing left alone, and why (the graph run and `npm run kb -- rebuild` print it). */
export function keptMessage(kept: readonly string[]): string {
  return `Left alone (not written by this tool, or edited since it wrote them): ${kept.join(", ")}. Move them away to let the knowledge base use those paths.`;
}
