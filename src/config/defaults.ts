/** Run-level defaults, defined once: the CLI's help, the library API and Studio all read them here. */

/** Knowledge-base directory when none is given. */
export const DEFAULT_OUT_DIR = "./kb";
/** Run database (checkpoints, per-file progress, caches) when none is given. */
export const DEFAULT_RUN_DB = "checkpoints/runs.sqlite";
/** Files larger than this many MiB are skipped (bounded memory). */
export const DEFAULT_MAX_FILE_MB = 8;
/** The same limit in bytes (what the scan and the graph state use). */
export const DEFAULT_MAX_FILE_BYTES = DEFAULT_MAX_FILE_MB * 1024 * 1024;
/** Tokens per sequence (context) of a model the agents config gives no contextSize (capped by the model). */
export const DEFAULT_CONTEXT_SIZE = 4096;
/** Concurrent calls per OpenAI-compatible server that does not report its slots (`--endpoint-slots`). */
export const DEFAULT_ENDPOINT_SLOTS = 4;

/** `npm run graph -- --watch`: quiet time after the last change to the input before a re-run starts (an editor's save is a burst of events). */
export const WATCH_DEBOUNCE_MS = 300;
/** …and the longest a re-run waits while changes keep coming. */
export const WATCH_MAX_WAIT_MS = 2_000;
