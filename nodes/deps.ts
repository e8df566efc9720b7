import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { KnowledgeBase } from "../src/kb/KnowledgeBase.ts";
import { DEFAULT_MAX_MERGE_PAIRS } from "../src/kb/resolve.ts";
import type { CodeVerification } from "../src/kb/types.ts";
import type { LlmService } from "../src/llm/LlmService.ts";
import type { Role } from "../src/llm/roles.ts";
import type { EventSink } from "../src/progress/events.ts";
import type { PromptLibrary } from "../src/prompts/PromptLibrary.ts";
import type { ResearchProvider } from "../src/research/types.ts";
import type { Ledger } from "../src/store/Ledger.ts";
import type { RunDatabase } from "../src/store/RunDatabase.ts";
import type { NodeFault } from "../src/testing/faults.ts";
import type { WriteFs } from "../src/util/atomicWrite.ts";
import type { TaskTracker } from "../src/util/TaskTracker.ts";

/** Settings that change what the nodes produce (part of the run's settings hash). */
export interface PipelineSettings {
  /** Patterns kept per file. */
  maxPatternsPerFile: number;
  /** Times the validator may send a draft back to the writer before quarantining it. */
  maxRepairRounds: number;
  /** Research results per pattern and provider. */
  researchResults: number;
  /** Ask the validator model to review drafts after the deterministic checks. */
  llmReview: boolean;
  /** Generation limits per role. */
  maxTokens: { extractor: number; researcher: number; writer: number; validator: number };
  /** Attempts for each structured generation. */
  maxAttempts: number;
  /** Candidate pairs of entries the synthesizer model may judge per run (the best by name similarity). */
  maxMergePairs: number;
  /** Generation limit of one synthesizer pair judgment. */
  synthesizerMaxTokens: number;
}

export const DEFAULT_SETTINGS: PipelineSettings = {
  maxPatternsPerFile: 6,
  maxRepairRounds: 2,
  researchResults: 4,
  llmReview: true,
  maxTokens: { extractor: 900, researcher: 160, writer: 900, validator: 240 },
  maxAttempts: 3,
  maxMergePairs: DEFAULT_MAX_MERGE_PAIRS,
  synthesizerMaxTokens: 120,
};

/** Scheduling priority of each stage within one file (callPriority puts the file's start order first). */
const STAGE_PRIORITY = { extractor: 0, researcher: 1, writer: 2, validator: 3 } as const;

/** Everything a node needs, injected (tests pass fakes; nothing is created at import time). */
export interface NodeDeps {
  llm: LlmService;
  db: RunDatabase;
  prompts: PromptLibrary;
  research: ResearchProvider[];
  kb: (outDir: string) => KnowledgeBase;
  /** The incremental-run ledger of an output directory. */
  ledger: (outDir: string) => Ledger;
  events: EventSink;
  settings: PipelineSettings;
  /** Identity of the model that serves a role (the synthesizer's pair judgments are cached per model). */
  modelIdFor?: (role: Role) => string;
  /** Tracks files in flight, so a failed run can wait for its other files to stop. */
  tasks?: TaskTracker;
  /** Checks an example's code (src/validate/rustCheck.ts RustChecker); absent: examples are not checked. */
  codeCheck?: { check(code: string, lang: string): Promise<CodeVerification> };
  /** Test-only (RUST_KB_TEST_FAULTS, src/testing/faults.ts): the node that throws, as a bug would, for matching files. */
  nodeFault?: NodeFault;
  /** Test-only (RUST_KB_TEST_FAULTS): the file system the knowledge base's pages are written through. */
  writeFs?: WriteFs;
}

/** Per-run values the nodes read from the graph config. */
export interface RunContext {
  runId: string;
  signal: AbortSignal | undefined;
  /** The order in which this run started the file (0 first; processFile sets `file_rank`); 0 outside a file. */
  fileRank: number;
}

export function runContext(config: LangGraphRunnableConfig | undefined): RunContext {
  const runId = config?.configurable?.thread_id;
  if (typeof runId !== "string" || runId === "") throw new Error("graph config needs configurable.thread_id (the run ID)");
  const rank = config?.configurable?.file_rank;
  return { runId, signal: config?.signal, fileRank: typeof rank === "number" && Number.isFinite(rank) ? rank : 0 };
}

/**
 * A model call's scheduling priority (higher first, used where calls wait for the engine): the file
 * started earlier first, so files finish in the order they started and the first result comes after
 * little more than one file's work; within a file, the later stage.
 */
export function callPriority(fileRank: number, stage: keyof typeof STAGE_PRIORITY): number {
  return STAGE_PRIORITY[stage] - 10 * fileRank;
}
