import { Annotation } from "@langchain/langgraph";
import { DEFAULT_MAX_FILE_BYTES } from "../src/config/defaults.ts";
import type { SkippedFile } from "../src/input/scanInput.ts";
import type { LedgerSettings } from "../src/store/Ledger.ts";
import type { DraftRef, FileOutcome, FileTask, PatternItem, Verdict } from "./types.ts";

const replace = <T>(_old: T, next: T): T => next;
const merge = <T>(old: Record<string, T>, next: Record<string, T>): Record<string, T> => ({ ...old, ...next });

/** State of one file's trip through extractor -> researcher -> writer <-> validator -> recordFile. */
export const FileState = Annotation.Root({
  /** Path of the file relative to the input directory. */
  relPath: Annotation<string>(),
  /** ID of the parsed document in the run database (the text itself stays out of graph state). */
  docId: Annotation<string>(),
  /** Knowledge-base directory the file's drafts are recorded in. */
  outDir: Annotation<string>(),
  /** Patterns the extractor found, in file order. */
  patterns: Annotation<PatternItem[]>({ reducer: replace, default: () => [] }),
  /** Why extraction produced nothing usable (when it did not). */
  extractProblems: Annotation<string[]>({ reducer: replace, default: () => [] }),
  /** Research pack blob hash per pattern key. */
  research: Annotation<Record<string, string>>({ reducer: merge, default: () => ({}) }),
  /** Latest draft per pattern key. */
  drafts: Annotation<Record<string, DraftRef>>({ reducer: merge, default: () => ({}) }),
  /** Latest validator verdict per pattern key. */
  verdicts: Annotation<Record<string, Verdict>>({ reducer: merge, default: () => ({}) }),
  /** Writer rounds done (0 before the first draft). */
  round: Annotation<number>({ reducer: replace, default: () => 0 }),
  /** What recordFile did with this file (published, quarantined or skipped). */
  outcome: Annotation<FileOutcome | null>({ reducer: replace, default: () => null }),
});
export type FileStateType = typeof FileState.State;
export type FileStateUpdate = typeof FileState.Update;

/** State of a whole run: the file list fanned out to per-file subgraphs and their outcomes. */
export const PipelineState = Annotation.Root({
  /** Input directory (absolute). */
  inputDir: Annotation<string>(),
  /** Output (knowledge-base) directory (absolute). */
  outDir: Annotation<string>(),
  /** Absolute paths never read as input (output directory, checkpoint DB). */
  exclude: Annotation<string[]>({ reducer: replace, default: () => [] }),
  /** Files larger than this are skipped (bounded memory). */
  maxFileBytes: Annotation<number>({ reducer: replace, default: () => DEFAULT_MAX_FILE_BYTES }),
  /** Supported files found under the input directory. */
  found: Annotation<number>({ reducer: replace, default: () => 0 }),
  /** Files to run through the subgraph (new or changed since the knowledge base last saw them). */
  files: Annotation<FileTask[]>({ reducer: replace, default: () => [] }),
  /** Files whose content and settings match the ledger: kept in the knowledge base, not re-processed. */
  unchanged: Annotation<FileTask[]>({ reducer: replace, default: () => [] }),
  /** Settings this run's output depends on (compared with the ledger). */
  settings: Annotation<LedgerSettings | null>({ reducer: replace, default: () => null }),
  /** Re-process every file whatever the ledger says. */
  force: Annotation<boolean>({ reducer: replace, default: () => false }),
  /** Drop the entries of files missing from the input even when none or most of them are missing (`--prune`). */
  prune: Annotation<boolean>({ reducer: replace, default: () => false }),
  /** Files not processed, with the reason. */
  skipped: Annotation<SkippedFile[]>({ reducer: replace, default: () => [] }),
  /** One outcome per processed file (appended as files finish). */
  results: Annotation<FileOutcome[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  /** Totals written by the synthesize node. */
  kb: Annotation<{ entries: number; quarantined: number } | null>({ reducer: replace, default: () => null }),
});
export type PipelineStateType = typeof PipelineState.State;
