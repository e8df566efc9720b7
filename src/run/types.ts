import type { Env } from "../config/env.ts";
import type { AgentsConfig } from "../llm/agentsConfig.ts";
import type { BackendForRole } from "../llm/types.ts";
import type { PipelineEvent } from "../progress/events.ts";

/** Roles whose generation limit `maxTokens` may set. */
export type MaxTokensRole = "extractor" | "researcher" | "writer" | "validator";

/**
 * What a pipeline run is asked to do: the library's options (`runPipeline`), and what `npm run graph`'s
 * flags parse into. Relative paths resolve against the process's working directory.
 */
export interface PipelineOptions {
  /** Directory of research files (.md, .txt, .json). Not needed to resume a run by ID. */
  input?: string;
  /** Knowledge-base directory (default `./kb`). */
  out?: string;
  /** Run database: checkpoints, per-file progress, caches (default `checkpoints/runs.sqlite`). */
  db?: string;
  /** `true`: continue the newest unfinished run for input and out; a run ID: continue that run. */
  resume?: true | string;
  /**
   * With `resume: RUN_ID`: continue from this checkpoint of the run's history instead of its latest
   * (time travel; Studio forks). A finished run may be continued this way.
   */
  checkpointId?: string;
  /** ID for a NEW run (default: a fresh UUIDv7). Studio starts runs on threads it created with this. */
  runId?: string;
  /** Default model for every role (path or `hf:` URI; default `RUST_KB_MODEL`, else the built-in default). */
  model?: string;
  /** Agents config file (default config/agents.json). */
  agentsConfig?: string;
  /** Per-role agent counts over the config's, e.g. `extractor=4,writer=2`. */
  agents?: string;
  /** `role=PATH|URI`: a role runs on a model of its own. */
  roleModels?: string[];
  contextSize?: number;
  /** Memory budget instead of a share of free memory, e.g. `6GB`. */
  memoryBudget?: string;
  /** auto | node-llama-cpp | llama | llama-server. */
  backend?: string;
  /** Per-role generation limits over the defaults. */
  maxTokens?: Partial<Record<MaxTokensRole, number>>;
  /** OpenAI-compatible model servers serve the models instead of local files. */
  endpoints?: string[];
  endpointModel?: string;
  /** Name of the environment variable that holds the servers' API key. */
  apiKeyEnv?: string;
  endpointSlots?: number;
  /** LLM calls (and files) in flight; default: the total agent count. */
  concurrency?: number;
  /** CPU threads for generation (default `RUST_KB_THREADS`, else the machine's). */
  threads?: number;
  /** Ask the validator model to review drafts (default true). */
  llmReview?: boolean;
  /** Files larger than this many MiB are skipped (default 8). */
  maxFileMb?: number;
  /** Where models are downloaded (default `RUST_KB_MODELS_DIR`, else node-llama-cpp's directory). */
  modelsDir?: string;
  /** Research providers (default input, docs, and tavily when TAVILY_API_KEY is set). */
  research?: ("input" | "docs" | "tavily")[];
  /** More documentation folders for the docs index. */
  libraries?: string[];
  /** Docs index file (default docs-index.sqlite next to the run database). */
  docsIndex?: string;
  tavilyIncludeDomains?: string[];
  tavilyExcludeDomains?: string[];
  /** Compile-check examples with rustc where it is installed (default true; false: parse-only checks). */
  rustc?: boolean;
  /** Keep every checkpoint of a finished run (default: compacted to the final state). */
  keepHistory?: boolean;
  /** Also write the static HTML site into <out>/site when the run finishes. */
  site?: boolean;
  /** Re-process every file even when the ledger says it is unchanged. */
  force?: boolean;
  /** Write into a non-empty out directory that holds no knowledge base (its files are left alone). */
  forceOut?: boolean;
  /** Drop entries of files missing from the input even when none or most of them are missing. */
  prune?: boolean;
  /** Take over the output lock of a run on another host. */
  breakLock?: boolean;
}

/** How the caller follows and controls a run. */
export interface PipelineHooks {
  /** Aborting stops the run: calls in flight are dropped, every finished step is kept (status "interrupted"). */
  signal?: AbortSignal;
  /** Every progress event (files discovered, model calls, files finished, messages). */
  onEvent?: (event: PipelineEvent) => void;
  /** Environment values (default: read from process.env once). */
  env?: Env;
  /**
   * Bring your own models: the backend serving each role (a ModelBackend: src/llm/types.ts), instead
   * of loading the configured ones. The benchmarks pass scripted or timed backends; the run still
   * records the backends' model IDs, so a resume with other models re-processes the files.
   */
  models?: RunModels;
  /**
   * Keep the models the run loads for later runs (watch mode): the run takes them from here when
   * they are loaded already with the same models and agents, and leaves them loaded when it ends;
   * the keeper's owner disposes them (src/run/KeptModels.ts).
   */
  keptModels?: ModelKeeper;
  /**
   * The output lock, when the caller holds it across runs (watch mode): the run writes under it
   * instead of taking one of its own, and leaves it held.
   */
  outputLock?: HeldOutputLock;
}

/** The models a run uses: the backend serving each role, and how many files and calls may be in flight. */
export interface RunModels {
  backendFor: BackendForRole;
  concurrency: number;
  sequences?: number;
  /** Files in flight that keep a CPU engine busy without delaying every file (src/llm/cpuFilesInFlight.ts); undefined: the sequences bound them. */
  filesInFlight?: number;
}

/** Loaded models that outlive one run (implemented by KeptModels). */
export interface ModelKeeper {
  /** The models kept under `key`, else opens them with `open` (whose cleanups the keeper runs when it lets them go). */
  get(key: string, open: (onCleanup: (cleanup: () => Promise<void> | void) => void) => Promise<RunModels>): Promise<RunModels>;
}

/** An output lock a caller holds (src/store/OutputLock.ts): its file is `<out>/.kb/lock`. */
export interface HeldOutputLock {
  readonly file: string;
}

/** What a run records so a resume continues it with the same models and settings. */
export interface RecordedOptions {
  /** The run's default model (roles whose config source is null). */
  model: string;
  /** The agents configuration after overrides. */
  agents: AgentsConfig;
  llmReview: boolean;
  maxFileBytes: number;
  /** Per-role generation limits over the defaults (absent: the defaults). */
  maxTokens?: PipelineOptions["maxTokens"];
}
