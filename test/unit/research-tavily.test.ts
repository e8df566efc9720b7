import http from "node:http";
import type { AddressInfo } from "node:net";
import Database from "better-sqlite3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { categoryTitle } from "../../src/kb/taxonomy.ts";
import { CachedProvider } from "../../src/research/CachedProvider.ts";
import { ResearchError } from "../../src/research/ResearchError.ts";
import { ResilientProvider } from "../../src/research/ResilientProvider.ts";
import { SearchCache } from "../../src/research/SearchCache.ts";
import { classifyTavilyError, TavilyProvider, type TavilyProviderOptions, webQuery } from "../../src/research/TavilyProvider.ts";
import type { ResearchQuery } from "../../src/research/types.ts";

/**
 * A loopback server that answers like Tavily's POST /search. The API key picks the behaviour:
 * good, bad key (401), quota (432 with Tavily's detail text, 433 without), slow (timeout),
 * flaky (500 then 200) and rate limited (429 then 200).
 */
interface Received {
  at: number;
  auth: string | undefined;
  body: Record<string, unknown>;
}

let server: http.Server;
let baseUrl: string;
const received: Received[] = [];
const attemptsByKey = new Map<string, number>();

function answer(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function okBody(query: string, max: number) {
  const results = [1, 2, 3, 4, 5].slice(0, max).map((i) => ({
    title: `Result ${i} about ${query}`,
    url: `https://example.org/rust/${i}`,
    content: `Excerpt ${i}:   the newtype pattern wraps a type   to give it a distinct identity.`,
    score: 1 - i / 10,
    raw_content: null,
  }));
  return { query, answer: null, images: [], results, response_time: 0.01, request_id: "req-1" };
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => {
      raw += c;
    });
    req.on("end", () => {
      const body = JSON.parse(raw || "{}") as Record<string, unknown>;
      const auth = req.headers.authorization;
      received.push({ at: Date.now(), auth, body });
      if (req.method !== "POST" || req.url !== "/search") return answer(res, 404, { detail: { error: "Not found" } });
      const key = (auth ?? "").replace(/^Bearer /, "");
      const n = (attemptsByKey.get(key) ?? 0) + 1;
      attemptsByKey.set(key, n);
      const q = String(body.query);
      const max = Number(body.max_results ?? 5);
      switch (key) {
        case "tvly-good":
          return answer(res, 200, okBody(q, max));
        case "tvly-bad":
          return answer(res, 401, { detail: { error: "Unauthorized: missing or invalid API key." } });
        case "tvly-quota":
          return answer(res, 432, {
            detail: { error: "This request exceeds your plan's set usage limit. Please upgrade your plan or contact support@tavily.com" },
          });
        case "tvly-quota-plain":
          return answer(res, 433, {});
        case "tvly-slow":
          setTimeout(() => answer(res, 200, okBody(q, max)), 1500);
          return;
        case "tvly-flaky":
          return n === 1 ? answer(res, 500, { detail: { error: "Internal error" } }) : answer(res, 200, okBody(q, max));
        case "tvly-rate":
          return n === 1 ? answer(res, 429, { detail: { error: "Rate limit exceeded" } }) : answer(res, 200, okBody(q, max));
        default:
          return answer(res, 401, { detail: { error: "Unauthorized: missing or invalid API key." } });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  received.length = 0;
  attemptsByKey.clear();
});

const SECRET = "SECRET-NOTE-TEXT-4711";
const query = (over: Partial<ResearchQuery> = {}): ResearchQuery => ({
  runId: "run-1",
  name: "Newtype pattern",
  summary: `Wrap a type in a tuple struct. ${SECRET}`,
  categoryTitle: categoryTitle("type-safety"),
  docId: "doc-1",
  limit: 3,
  ...over,
});

function provider(apiKey: string, over: Partial<TavilyProviderOptions> = {}) {
  return new TavilyProvider({ apiKey, baseUrl, minIntervalMs: 0, backoffMs: 5, timeoutMs: 2000, ...over });
}

describe("TavilyProvider against a loopback Tavily", () => {
  it("returns results with URLs as citations, sending only a short query built from the pattern name", async () => {
    const hits = await provider("tvly-good", { includeDomains: ["doc.rust-lang.org"], excludeDomains: ["example.com"] }).search(query());
    expect(hits).toHaveLength(3);
    expect(hits[0]).toMatchObject({ provider: "tavily", url: "https://example.org/rust/1", citation: "https://example.org/rust/1" });
    expect(hits[0]?.excerpt).toBe("Excerpt 1: the newtype pattern wraps a type to give it a distinct identity.");
    expect(received).toHaveLength(1);
    const sent = received[0] as Received;
    expect(sent.auth).toBe("Bearer tvly-good");
    expect(sent.body.query).toBe("Rust Newtype pattern (Type safety)");
    expect(sent.body.max_results).toBe(3);
    expect(sent.body.include_domains).toEqual(["doc.rust-lang.org"]);
    expect(sent.body.exclude_domains).toEqual(["example.com"]);
    // Nothing but the query leaves the machine: the summary (model text about the input) is never sent.
    expect(JSON.stringify(sent.body)).not.toContain(SECRET);
  });

  it("maps a rejected key (401) to BAD_KEY without retrying", async () => {
    const err = await provider("tvly-bad")
      .search(query())
      .catch((e) => e);
    expect(err).toBeInstanceOf(ResearchError);
    expect(err).toMatchObject({ code: "BAD_KEY", disablesProvider: true, retryable: false });
    expect(err.hint).toMatch(/TAVILY_API_KEY/);
    expect(received).toHaveLength(1);
  });

  it("maps a used-up quota to QUOTA, with and without Tavily's detail text (432, 433)", async () => {
    await expect(provider("tvly-quota").search(query())).rejects.toMatchObject({ code: "QUOTA" });
    await expect(provider("tvly-quota-plain").search(query())).rejects.toMatchObject({ code: "QUOTA", status: 433 });
    expect(received).toHaveLength(2);
  });

  it("times out a slow answer, retries, then reports TIMEOUT", async () => {
    const p = provider("tvly-slow", { timeoutMs: 200, maxRetries: 1 });
    const t0 = Date.now();
    await expect(p.search(query())).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(Date.now() - t0).toBeLessThan(1400);
    expect(p.requests).toBe(2);
  });

  it("retries a server error and a rate limit with backoff, then succeeds", async () => {
    const flaky = provider("tvly-flaky");
    expect(await flaky.search(query())).toHaveLength(3);
    expect(flaky.requests).toBe(2);
    const rate = provider("tvly-rate");
    expect(await rate.search(query())).toHaveLength(3);
    expect(rate.requests).toBe(2);
  });

  it("reports NETWORK when nothing listens at the base URL", async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const p = new TavilyProvider({ apiKey: "tvly-good", baseUrl: `http://127.0.0.1:${port}`, minIntervalMs: 0, backoffMs: 5, maxRetries: 1 });
    await expect(p.search(query())).rejects.toMatchObject({ code: "NETWORK", disablesProvider: true });
    expect(p.requests).toBe(2);
  });

  it("spaces request starts by the rate limit across concurrent searches", async () => {
    const p = provider("tvly-good", { minIntervalMs: 150 });
    await Promise.all([p.search(query({ name: "Newtype" })), p.search(query({ name: "Builder" })), p.search(query({ name: "RAII guard" }))]);
    const times = received.map((r) => r.at).sort((a, b) => a - b);
    expect(times).toHaveLength(3);
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(120);
    expect((times[2] as number) - (times[1] as number)).toBeGreaterThanOrEqual(120);
  });

  it("stops waiting when the run is aborted", async () => {
    const ac = new AbortController();
    const p = provider("tvly-slow", { timeoutMs: 5000 }).search(query({ signal: ac.signal }));
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("fallback and cache", () => {
  it("switches a provider with a bad key off after one request, with one message naming the others", async () => {
    const warnings: string[] = [];
    const inner = provider("tvly-bad");
    const p = new ResilientProvider(inner, { onWarn: (t) => warnings.push(t), others: ["input", "docs", "tavily"] });
    expect(await p.search(query())).toEqual([]);
    expect(await p.search(query({ name: "Builder" }))).toEqual([]);
    expect(inner.requests).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/rejected the API key.*tavily research is off for the rest of this run; continuing with input, docs/);
    expect(p.disabledBy?.code).toBe("BAD_KEY");
  });

  it("answers a repeated query from SQLite: a resumed run makes no second request", async () => {
    const db = new Database(":memory:");
    const first = new TavilyProvider({ apiKey: "tvly-good", baseUrl, minIntervalMs: 0 });
    const hits = await new CachedProvider(first, new SearchCache(db)).search(query());
    // A later run: new provider objects over the same database.
    const second = new TavilyProvider({ apiKey: "tvly-good", baseUrl, minIntervalMs: 0 });
    const cached = new CachedProvider(second, new SearchCache(db));
    expect(await cached.search(query())).toEqual(hits);
    expect(first.requests).toBe(1);
    expect(second.requests).toBe(0);
    expect(cached.stats).toEqual({ hits: 1, misses: 0 });
    // Another query, or other domain filters, is another cache key.
    await cached.search(query({ name: "Builder pattern" }));
    expect(second.requests).toBe(1);
    expect(new SearchCache(db).count("tavily")).toBe(2);
    db.close();
  });

  it("does not cache failures", async () => {
    const db = new Database(":memory:");
    const cache = new SearchCache(db);
    await expect(new CachedProvider(provider("tvly-bad"), cache).search(query())).rejects.toBeInstanceOf(ResearchError);
    expect(cache.count()).toBe(0);
    db.close();
  });
});

describe("webQuery and error mapping", () => {
  it("keeps the query short and free of markup", () => {
    expect(webQuery({ name: "`Rc<RefCell<T>>` shared *mutable* state", categoryTitle: categoryTitle("ownership-borrowing") })).toBe(
      "Rust Rc<RefCell<T>> shared mutable state (Ownership and borrowing)",
    );
    expect(webQuery({ name: "Rust error handling", categoryTitle: categoryTitle("other") })).toBe("Rust error handling");
    expect(webQuery({ name: "x".repeat(300), categoryTitle: categoryTitle("other") }).length).toBeLessThanOrEqual(120);
  });

  it("classifies the client's plain errors", () => {
    expect(classifyTavilyError(new Error("Request timed out after 15 seconds."), 15000).code).toBe("TIMEOUT");
    expect(classifyTavilyError(new Error("503 Error: {}"), 1).code).toBe("SERVER");
    expect(
      classifyTavilyError(new Error("An unexpected error occurred while making the request. Error: AxiosError: getaddrinfo ENOTFOUND api.tavily.com"), 1).code,
    ).toBe("NETWORK");
    expect(classifyTavilyError(new Error("Rate limit exceeded. Please slow down."), 1).code).toBe("RATE_LIMITED");
    // The client keeps only the detail text of a 500; it must still count as a transient server error.
    expect(classifyTavilyError(new Error("Internal error"), 1)).toMatchObject({ code: "SERVER", retryable: true });
    expect(classifyTavilyError(new Error("something new"), 1)).toMatchObject({ code: "UNKNOWN", retryable: true, disablesProvider: false });
  });
});
