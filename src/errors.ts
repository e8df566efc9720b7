/**
 * Errors a user can hit. Each carries a stable `code` (for scripts and tests) and a message that
 * says what happened and what to do next.
 */
export type UserErrorCode =
  | "USAGE"
  | "INPUT_NOT_FOUND"
  | "INPUT_NOT_DIRECTORY"
  | "OUTPUT_INSIDE_INPUT"
  | "OUTPUT_NOT_WRITABLE"
  /** --out has other files in it and no knowledge base (use --force-out to write there anyway). */
  | "OUTPUT_NOT_KB"
  | "DISK_FULL"
  | "MODEL_NOT_FOUND"
  | "MODEL_DOWNLOAD_FAILED"
  | "MODEL_HOST_UNREACHABLE"
  | "MODEL_VERIFY_FAILED"
  | "MODEL_LOAD_FAILED"
  | "MODEL_GENERATION_FAILED"
  /** An OpenAI-compatible model server cannot be reached, lacks what the pipeline needs, or refused the key. */
  | "ENDPOINT_UNREACHABLE"
  | "ENDPOINT_UNSUPPORTED"
  | "ENDPOINT_AUTH"
  | "MEMORY_BUDGET"
  | "CONFIG_INVALID"
  | "NO_RUN_TO_RESUME"
  | "RUN_LOCKED"
  /** A Studio run named an input or output directory outside the roots the server was started with. */
  | "PATH_OUTSIDE_ROOTS"
  | "DB_ERROR"
  /** No knowledge base where a reader looks for one (`npm run kb -- mcp --kb DIR`). */
  | "KB_NOT_FOUND"
  /** A knowledge base written by another version of the tool, whose store this version does not read. */
  | "KB_VERSION"
  | "PROMPT_TEMPLATE"
  /** A bug: an error the code did not expect, outside any one file (inside a file it quarantines that file). */
  | "INTERNAL_ERROR";

/** Exit codes of the commands: 0 done, 1 failed (the message says what to do), 2 usage error, 130 interrupted. */
export const EXIT = { done: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** Codes that mean "the command was used wrongly" (exit 2) rather than "the run failed" (exit 1). */
const USAGE_CODES: ReadonlySet<UserErrorCode> = new Set<UserErrorCode>([
  "USAGE",
  "INPUT_NOT_FOUND",
  "INPUT_NOT_DIRECTORY",
  "OUTPUT_INSIDE_INPUT",
  "OUTPUT_NOT_KB",
  "NO_RUN_TO_RESUME",
  "CONFIG_INVALID",
]);

/** The exit code of a command stopped by this error (or a summary's record of one): 2 for a usage error, else 1. */
export function exitCodeOf(e: { code: string }): number {
  return USAGE_CODES.has(e.code as UserErrorCode) ? EXIT.usage : EXIT.failed;
}

export class UserError extends Error {
  readonly code: UserErrorCode;
  /** What the user should do next; printed under the message. */
  readonly hint: string | undefined;

  constructor(code: UserErrorCode, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UserError";
    this.code = code;
    this.hint = hint;
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** True for the errors an aborted generation or a drained run throws. */
export function isAbortError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return e.name === "AbortError" || e.name === "GraphDrained" || (e as { code?: string }).code === "ABORT_ERR";
}

/**
 * True for errors that would hit every file, so the run stops (resumable) instead of setting one
 * file aside: interruptions, user errors (disk full, model failures, configuration), and errno or
 * SQLite codes from the environment. Anything else thrown while processing a file is a problem
 * with that file (or a bug it triggers): the file is quarantined with the reason.
 */
export function isRunLevelError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 8; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (isAbortError(cur) || isUserError(cur)) return true;
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && /^(E[A-Z0-9]+|SQLITE_[A-Z_]+)$/.test(code)) return true;
  }
  return false;
}

const NODE = Symbol("rust-kb.node");

/** Records the pipeline node an error escaped from (the innermost node wins); the error keeps its type. */
export function markErrorNode(e: unknown, node: string): unknown {
  const err = e instanceof Error ? e : new Error(String(e));
  if (!(NODE in err)) Object.defineProperty(err, NODE, { value: node, enumerable: false });
  return err;
}

/** The node an error escaped from, when one was recorded. */
export function errorNode(e: unknown): string | undefined {
  return e instanceof Error && NODE in e ? String((e as unknown as Record<symbol, unknown>)[NODE]) : undefined;
}

/** "TypeError: x is undefined", for a report (the error's class says what kind of failure it was). */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const msg = e.message.split("\n", 1)[0] ?? "";
  return e.name && e.name !== "Error" ? `${e.name}: ${msg}` : msg;
}

/** Maps low-level filesystem errors to user errors with advice; returns undefined if not one we know. */
export function fsErrorToUserError(e: unknown, what: string): UserError | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  // better-sqlite3 reports SQLite's own codes for the same conditions.
  if (code === "SQLITE_FULL" || code === "SQLITE_IOERR_WRITE")
    return new UserError(
      "DISK_FULL",
      `No space left on the device while writing ${what}.`,
      "Free some disk space, then resume with the same command plus --resume; finished work is kept.",
      { cause: e },
    );
  if (code === "SQLITE_READONLY" || code === "SQLITE_CANTOPEN")
    return new UserError(
      "OUTPUT_NOT_WRITABLE",
      `Cannot write ${what} (${code}).`,
      "Choose a writable --out directory (or fix its permissions), then resume with --resume; finished work is kept.",
      { cause: e },
    );
  if (code === "ENOSPC" || code === "EDQUOT")
    return new UserError(
      "DISK_FULL",
      `No space left on the device while writing ${what}.`,
      "Free some disk space, then resume with the same command plus --resume; finished work is kept.",
      { cause: e },
    );
  if (code === "EROFS" || code === "EACCES" || code === "EPERM")
    return new UserError(
      "OUTPUT_NOT_WRITABLE",
      `Cannot write ${what} (${code}).`,
      "Choose a writable --out directory (or fix its permissions), then resume with --resume; finished work is kept.",
      { cause: e },
    );
  return undefined;
}

/** The error a stopped run's work is aborted with (Ctrl-C, SIGTERM, a caller's abort, or a sibling file's failure). */
export class InterruptedError extends Error {
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
    this.name = "AbortError";
  }
}

/** Finds the user-facing meaning of an error, however deep LangGraph wrapped it. */
export function toUserError(e: unknown): UserError {
  for (let cur: unknown = e, depth = 0; cur && depth < 8; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (isUserError(cur)) return cur;
    const fsErr = fsErrorToUserError(cur, "the knowledge base or checkpoint");
    if (fsErr) return fsErr;
  }
  // Not a model failure (those are UserErrors from LlmService): a bug, named as one, with where it happened.
  const node = errorNode(e);
  return new UserError(
    "INTERNAL_ERROR",
    `The run stopped on an unexpected error${node ? ` in the ${node} node` : ""}: ${describeError(e)}`,
    "Finished work is saved: resume with --resume. If it repeats, report it with this message.",
    { cause: e },
  );
}
