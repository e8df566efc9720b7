/** Run-level defaults, defined once: the CLI's help, the library API and Studio all read them here. */

/** Knowledge-base directory when none is given. */
export const DEFAULT_OUT_DIR = "./kb";
/** Run database (checkpoints, per-file progress, caches) when none is given. */
export const DEFAULT_RUN_DB = "checkpoints/runs.sqlite";
/** Files larger than this many MiB are skipped (bounded memory). */
export const DEFAULT_MAX_FILE_MB = 8;
/** The same limit in bytes (what the scan and the graph state use). */
export const DEFAULT_MAX_FILE_BYTES = DEFAULT_MAX_FILE_MB * 1024 * 1024;
/**
 * Tokens per sequence (context) of a model the agents config gives no contextSize: capped by the
 * model's trained context (4096 for the test models), and lowered by the memory plan when the
 * budget is short (src/llm/memoryPlan.ts; docs/MODELS.md "How much context"). Twice what every
 * prompt of the corpus needs at its largest answer (test/model/promptsFitCorpus.test.ts passes at
 * 4096): larger files fit one extractor chunk, and later stages see them whole.
 */
export const DEFAULT_CONTEXT_SIZE = 8192;
/** A plan that lowers the context for memory but not below this says so as information, not as a warning: every prompt still fits whole. */
export const QUIET_CONTEXT_FLOOR = 4096;
/** Concurrent calls per OpenAI-compatible server that does not report its slots (`--endpoint-slots`). */
export const DEFAULT_ENDPOINT_SLOTS = 4;

/** `npm run graph -- --watch`: quiet time after the last change to the input before a re-run starts (an editor's save is a burst of events). */
export const WATCH_DEBOUNCE_MS = 300;
/** …and the longest a re-run waits while changes keep coming. */
export const WATCH_MAX_WAIT_MS = 2_000;
