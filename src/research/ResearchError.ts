/**
 * Why a research provider could not answer. The code tells the caller what to do: retry the same
 * query (transient), skip this query, or stop using the provider for the rest of the run and fall
 * back to the others (a bad key, an exhausted quota, no network).
 */
export type ResearchErrorCode =
  /** The API key was rejected (HTTP 401). */
  | "BAD_KEY"
  /** The plan's or the pay-as-you-go quota is used up (HTTP 432/433), or the key may not use this endpoint (403). */
  | "QUOTA"
  /** Too many requests in a short time (HTTP 429). */
  | "RATE_LIMITED"
  /** No answer within the time limit. */
  | "TIMEOUT"
  /** The service could not be reached (refused, DNS, reset, offline). */
  | "NETWORK"
  /** The service failed (HTTP 5xx). */
  | "SERVER"
  /** The service refused the request as malformed (HTTP 400). */
  | "BAD_REQUEST"
  /** A local index could not be read or built. */
  | "INDEX"
  | "UNKNOWN";

// UNKNOWN too: the Tavily client drops the HTTP status when the body has an error text, so a 5xx may arrive unnamed.
const RETRYABLE: ReadonlySet<ResearchErrorCode> = new Set(["RATE_LIMITED", "TIMEOUT", "NETWORK", "SERVER", "UNKNOWN"]);
/** After these (and their retries) every later query would fail the same way. */
const DISABLES: ReadonlySet<ResearchErrorCode> = new Set(["BAD_KEY", "QUOTA", "NETWORK", "TIMEOUT", "INDEX"]);

export class ResearchError extends Error {
  readonly code: ResearchErrorCode;
  readonly provider: string;
  /** HTTP status when the service answered. */
  readonly status: number | undefined;
  /** What the user can do about it. */
  readonly hint: string;

  constructor(provider: string, code: ResearchErrorCode, message: string, options: { status?: number; hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "ResearchError";
    this.provider = provider;
    this.code = code;
    this.status = options.status;
    this.hint = options.hint ?? "";
  }

  /** Worth asking again after a pause. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }

  /** The provider should be switched off for the rest of the run (after retries, where retryable). */
  get disablesProvider(): boolean {
    return DISABLES.has(this.code);
  }
}

export function isResearchError(e: unknown): e is ResearchError {
  return e instanceof ResearchError;
}
