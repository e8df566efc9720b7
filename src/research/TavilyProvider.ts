import type { TavilyClient, TavilySearchOptions } from "@tavily/core";
import { isAbortError } from "../errors.ts";
import { abortReason, RateLimiter, sleep } from "./RateLimiter.ts";
import { ResearchError } from "./ResearchError.ts";
import type { ResearchHitSource, ResearchProvider, ResearchQuery } from "./types.ts";

const EXCERPT_CHARS = 360;
const QUERY_MAX_CHARS = 120;

export interface TavilyProviderOptions {
  apiKey: string;
  /** Alternative endpoint (`TAVILY_BASE_URL`); tests point it at a loopback server. Passed to the client as `apiBaseURL`. */
  baseUrl?: string;
  /** Results per query; default: the query's own limit (the run's research-results setting). */
  maxResults?: number;
  /** Only search these domains (e.g. doc.rust-lang.org, docs.rs). */
  includeDomains?: readonly string[];
  /** Never return results from these domains. */
  excludeDomains?: readonly string[];
  searchDepth?: "basic" | "advanced";
  /** Time limit per request (default 15 s). */
  timeoutMs?: number;
  /** Extra attempts after a transient failure (timeout, network, 429, 5xx); default 2. */
  maxRetries?: number;
  /** First backoff; doubles each retry, with ±20% jitter (default 500 ms). */
  backoffMs?: number;
  /** Minimum spacing between request starts (default 1000 ms). */
  minIntervalMs?: number;
  /** Test seams. */
  client?: Pick<TavilyClient, "search">;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/**
 * Web research through Tavily's official client (@tavily/core). The only thing sent is a short
 * query built from the pattern's name and its fixed category title — never the summary or any
 * other text of the input files. Requests are rate limited, transient failures retried with
 * exponential backoff, and every failure surfaces as a typed `ResearchError` (bad key, quota,
 * rate limit, timeout, network …) so the caller can fall back to the other providers.
 */
export class TavilyProvider implements ResearchProvider {
  readonly name = "tavily";
  /** Requests actually sent (tests and reports). */
  requests = 0;
  private readonly client: Pick<TavilyClient, "search">;
  private readonly limiter: RateLimiter;
  private readonly wait: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly options: TavilyProviderOptions) {
    // apiKey is passed explicitly, so the client never falls back to reading TAVILY_API_KEY itself.
    this.client = options.client ?? lazyClient(options.apiKey, options.baseUrl);
    this.wait = options.sleep ?? sleep;
    this.limiter = new RateLimiter(options.minIntervalMs ?? 1000, Date.now, this.wait);
  }

  cacheKey(query: ResearchQuery): string {
    return JSON.stringify({ q: webQuery(query), ...this.searchOptions(query) });
  }

  async search(query: ResearchQuery): Promise<ResearchHitSource[]> {
    const q = webQuery(query);
    if (q === "") return [];
    const opts = this.searchOptions(query);
    const maxRetries = this.options.maxRetries ?? 2;
    const base = this.options.backoffMs ?? 500;
    const random = this.options.random ?? Math.random;
    for (let attempt = 0; ; attempt++) {
      await this.limiter.acquire(query.signal);
      try {
        this.requests++;
        const res = await withAbort(this.client.search(q, { ...opts, timeout: (this.options.timeoutMs ?? 15_000) / 1000 }), query.signal);
        return res.results.slice(0, opts.maxResults).map((r) => ({
          provider: this.name,
          title: flat(r.title || r.url).slice(0, 160),
          citation: r.url,
          url: r.url,
          excerpt: excerpt(r.content ?? ""),
        }));
      } catch (e) {
        if (isAbortError(e) || query.signal?.aborted) throw e;
        const err = classifyTavilyError(e, this.options.timeoutMs ?? 15_000);
        if (!err.retryable || attempt >= maxRetries) throw err;
        const delay = base * 2 ** attempt * (0.8 + 0.4 * random());
        await this.wait(delay, query.signal);
      }
    }
  }

  private searchOptions(query: ResearchQuery): TavilySearchOptions & { maxResults: number } {
    return {
      maxResults: this.options.maxResults ?? query.limit,
      searchDepth: this.options.searchDepth ?? "basic",
      ...(this.options.includeDomains?.length ? { includeDomains: [...this.options.includeDomains] } : {}),
      ...(this.options.excludeDomains?.length ? { excludeDomains: [...this.options.excludeDomains] } : {}),
    };
  }
}

/**
 * The query sent to the web: "Rust", the pattern's name and its category title, cleaned and cut
 * short. The name is a few words the extractor chose (at most 60 characters by schema); the
 * category comes from a fixed list. Nothing else about the input leaves the machine.
 */
export function webQuery(query: Pick<ResearchQuery, "name" | "categoryTitle">): string {
  const name = query.name
    .replace(/[^\p{L}\p{N}_:+&<>' -]+/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  if (name === "") return "";
  const withRust = /\brust\b/i.test(name) ? name : `Rust ${name}`;
  const cat = query.categoryTitle;
  const q = cat && cat !== "Other" && !withRust.toLowerCase().includes(cat.toLowerCase()) ? `${withRust} (${cat})` : withRust;
  return q.length <= QUERY_MAX_CHARS ? q : q.slice(0, QUERY_MAX_CHARS).replace(/\s+\S*$/, "");
}

const NETWORK = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ENETUNREACH|EHOSTUNREACH|EPIPE|ETIMEDOUT|socket hang up|Network Error|getaddrinfo/i;

/**
 * @tavily/core 0.7.13 throws plain `Error`s: "Request timed out after N seconds.", "<status>
 * Error: <body>" when the body has no `detail.error`, the service's `detail.error` text otherwise
 * (the status is then lost), or "An unexpected error occurred … <AxiosError …>" for network
 * failures. This maps those onto our codes, using the status where the message still has it and
 * the wording of Tavily's documented errors where it does not.
 */
export function classifyTavilyError(e: unknown, timeoutMs: number): ResearchError {
  const P = "tavily";
  const msg = e instanceof Error ? e.message : String(e);
  const name = e instanceof Error ? e.name : "";
  if (name === "TavilyKeylessLimitError")
    return new ResearchError(P, "QUOTA", "Tavily refused the request: no API key and the keyless limit is reached.", {
      hint: "Set TAVILY_API_KEY.",
      cause: e,
    });
  if (/^Request timed out after/i.test(msg))
    return new ResearchError(P, "TIMEOUT", `Tavily did not answer within ${Math.round(timeoutMs / 100) / 10} s.`, {
      hint: "Check the network connection.",
      cause: e,
    });
  const statusMatch = /^(\d{3}) Error:/.exec(msg);
  const status = statusMatch ? Number(statusMatch[1]) : undefined;
  if (status !== undefined) return fromStatus(status, msg, e);
  if (/unexpected error occurred/i.test(msg) && NETWORK.test(msg))
    return new ResearchError(P, "NETWORK", `Tavily could not be reached (${(NETWORK.exec(msg) ?? ["network error"])[0]}).`, {
      hint: "Check the network connection (or TAVILY_BASE_URL).",
      cause: e,
    });
  if (/usage limit|exceeds your plan|pay-as-you-go|quota|credits|upgrade your plan/i.test(msg)) return fromStatus(432, msg, e);
  if (/rate limit|too many requests/i.test(msg)) return fromStatus(429, msg, e);
  if (/invalid api key|missing or invalid|unauthori[sz]ed|api key/i.test(msg)) return fromStatus(401, msg, e);
  if (/forbidden/i.test(msg)) return fromStatus(403, msg, e);
  if (/internal (server )?error|bad gateway|service unavailable|gateway time-?out/i.test(msg)) return fromStatus(500, msg, e);
  return new ResearchError(P, "UNKNOWN", `Tavily search failed: ${msg.slice(0, 200)}`, { cause: e });
}

function fromStatus(status: number, msg: string, cause: unknown): ResearchError {
  const P = "tavily";
  const detail = msg.replace(/^\d{3} Error:\s*/, "").slice(0, 160);
  if (status === 401)
    return new ResearchError(P, "BAD_KEY", "Tavily rejected the API key (401).", { status, hint: "Check TAVILY_API_KEY (keys start with tvly-).", cause });
  if (status === 432 || status === 433 || status === 403)
    return new ResearchError(P, "QUOTA", `Tavily refused the request: the key's usage limit is reached (${status}).`, {
      status,
      hint: "Raise the limit on the Tavily dashboard or wait for the next period.",
      cause,
    });
  if (status === 429) return new ResearchError(P, "RATE_LIMITED", "Tavily is rate limiting this key (429).", { status, cause });
  if (status === 400) return new ResearchError(P, "BAD_REQUEST", `Tavily refused the query (400): ${detail}`, { status, cause });
  if (status >= 500) return new ResearchError(P, "SERVER", `Tavily failed (${status}).`, { status, cause });
  return new ResearchError(P, "UNKNOWN", `Tavily answered ${status}: ${detail}`, { status, cause });
}

function withAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

function flat(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

function excerpt(text: string): string {
  const f = flat(text);
  return f.length <= EXCERPT_CHARS ? f : `${f.slice(0, EXCERPT_CHARS - 1)}…`;
}

/** The official client, loaded on the first search: runs without a key never load it (a third of a second at every start). */
function lazyClient(apiKey: string, baseUrl: string | undefined): Pick<TavilyClient, "search"> {
  let client: Promise<Pick<TavilyClient, "search">> | undefined;
  return {
    search: async (query, options) => {
      client ??= import("@tavily/core").then(({ tavily }) => tavily({ apiKey, ...(baseUrl ? { apiBaseURL: baseUrl.replace(/\/+$/, "") } : {}) }));
      return (await client).search(query, options);
    },
  };
}
