/**
 * The OpenAI-compatible HTTP backend against scripted servers on loopback: the start-up probe,
 * per-endpoint slot accounting, spreading, failover, health checks, streaming, timeouts, usage
 * accounting, structured output and cancellation.
 */
import { afterEach, describe, expect, it } from "vitest";
import { OpenAiBackend, type OpenAiBackendOptions } from "../../src/llm/OpenAiBackend.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { ScriptedOpenAiServer, scriptedServer } from "../helpers/scriptedOpenAiServer.ts";

const servers: ScriptedOpenAiServer[] = [];
const backends: OpenAiBackend[] = [];

async function server(options: Parameters<typeof scriptedServer>[0] = {}): Promise<ScriptedOpenAiServer> {
  const s = await scriptedServer(options);
  servers.push(s);
  return s;
}

async function connect(endpoints: string[], extra: Partial<OpenAiBackendOptions> = {}): Promise<OpenAiBackend> {
  const b = await OpenAiBackend.connect({
    endpoints,
    contextSize: 4096,
    roleCaps: {},
    maxConcurrent: 16,
    healthIntervalMs: 100,
    healthTimeoutMs: 200,
    ...extra,
  });
  backends.push(b);
  return b;
}

function call(b: OpenAiBackend, extra: Partial<BackendRequest> = {}) {
  return b.generate({ role: "extractor", prompt: { system: "sys", user: "user text" }, maxTokens: 64, temperature: 0, ...extra });
}

const LLAMA_PROPS = (slots: number, nCtx: number) => ({
  total_slots: slots,
  model_path: "/models/dir/stories260K-chatml.gguf",
  default_generation_settings: { n_ctx: nCtx },
});

afterEach(async () => {
  for (const b of backends.splice(0)) await b.dispose();
  for (const s of servers.splice(0)) await s.kill().catch(() => {});
});

describe("OpenAiBackend: probe", () => {
  it("takes slots, context per slot and the model file from llama-server's /props; the identity leaves the URL out", async () => {
    const a = await server({
      props: LLAMA_PROPS(3, 512),
      health: true,
      models: [{ id: "/models/dir/stories260K-chatml.gguf", meta: { n_params: 292896, size: 1185376 } }],
    });
    const b = await connect([a.url, `${a.url}/v1/`], { contextSize: 4096 });
    expect(b.endpointStats()).toEqual([{ url: a.url, slots: 3, inFlight: 0, up: true, calls: 0, failures: 0 }]);
    expect(b.contextTokens).toBe(512);
    expect(b.modelId).toBe("endpoint:stories260K-chatml.gguf (n_params=292896, size=1185376)");
    expect(b.modelId).not.toContain("127.0.0.1");
  });

  it("uses the configured slots (default 4) and context where the server does not report them", async () => {
    const a = await server({ models: [{ id: "qwen2.5:0.5b" }, { id: "llama3" }] });
    const b = await connect([a.url], { contextSize: 2048, model: "llama3" });
    expect(b.endpointStats()[0]?.slots).toBe(4);
    expect(b.contextTokens).toBe(2048);
    expect([b.model, b.modelId]).toEqual(["llama3", "endpoint:llama3"]);
    const c = await connect([a.url], { slots: 7 });
    expect([c.endpointStats()[0]?.slots, c.model]).toEqual([7, "qwen2.5:0.5b"]);
  });

  it("refuses endpoints that serve different models, a model the server lacks, and a server that answers nothing", async () => {
    const a = await server({ models: [{ id: "m1" }] });
    const b = await server({ models: [{ id: "m2" }] });
    await expect(connect([a.url, b.url])).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringMatching(/different models: endpoint:m1 .* endpoint:m2/),
    });
    await expect(connect([a.url], { model: "nope" })).rejects.toMatchObject({ code: "ENDPOINT_UNSUPPORTED", message: expect.stringContaining("it lists: m1") });
    const dead = b.url;
    await b.kill();
    servers.splice(servers.indexOf(b), 1);
    await expect(connect([dead])).rejects.toMatchObject({ code: "ENDPOINT_UNREACHABLE", message: expect.stringContaining(dead) });
  });

  it("measures characters per token with /tokenize for prompt budgets, else estimates 3 per token", async () => {
    const a = await server({ charsPerToken: 2 });
    const b = await connect([a.url]);
    // 2 chars/token measured, x 0.9 for safety: about 500, never fewer.
    expect(b.countTokens("x".repeat(900))).toBeGreaterThanOrEqual(500);
    expect(b.countTokens("x".repeat(900))).toBeLessThanOrEqual(505);
    const plain = await server();
    const c = await connect([plain.url]);
    expect(c.countTokens("x".repeat(900))).toBe(300);
  });
});

describe("OpenAiBackend: structured output", () => {
  it("sends the schema as response_format json_schema on a streamed call with usage requested", async () => {
    const a = await server({ reply: () => ({ text: '{"a":1}' }) });
    const b = await connect([a.url]);
    const schema = { type: "object", properties: { a: { type: "number" } }, required: ["a"] };
    const r = await call(b, { grammarSchema: schema, seed: 2, temperature: 0.7 });
    expect(r.text).toBe('{"a":1}');
    const body = a.chatCalls()[0] as unknown as Record<string, unknown>;
    expect(body).toMatchObject({
      model: "scripted-model",
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 64,
      seed: 2,
      temperature: 0.7,
      response_format: { type: "json_schema", json_schema: { name: "output", schema, strict: true } },
    });
  });

  it("refuses a server that ignores the schema, naming what it lacks and the opt-in", async () => {
    const a = await server({ ignoreSchema: true });
    await expect(connect([a.url])).rejects.toMatchObject({
      code: "ENDPOINT_UNSUPPORTED",
      message: expect.stringContaining("did not follow the schema"),
      hint: expect.stringContaining('"structuredOutput": "prompted"'),
    });
  });

  it("refuses a server that rejects response_format", async () => {
    const a = await server({ probeStatus: 400 });
    await expect(connect([a.url])).rejects.toMatchObject({
      code: "ENDPOINT_UNSUPPORTED",
      message: expect.stringContaining("rejected a request with response_format json_schema (400"),
    });
  });

  it("prompted mode puts the schema in the system prompt and sends no response_format", async () => {
    const a = await server({ ignoreSchema: true, reply: () => ({ text: '{"a":1}' }) });
    const b = await connect([a.url], { structuredOutput: "prompted" });
    await call(b, { grammarSchema: { type: "object" } });
    const body = a.chatCalls()[0];
    expect(body?.response_format).toBeUndefined();
    expect(body?.messages[0]?.content).toMatch(/^sys\n\nAnswer with one JSON object .*\{"type":"object"\}$/s);
  });
});

describe("OpenAiBackend: slots, spreading and failover", () => {
  it("never sends an endpoint more calls than its slots and spreads calls over endpoints", async () => {
    const opts = { props: LLAMA_PROPS(2, 4096), reply: () => ({ text: "abcdefgh", delayMs: 20 }) };
    const a = await server(opts);
    const b = await server(opts);
    const be = await connect([a.url, b.url]);
    expect(be.scheduler.slots).toBe(4);
    const out = await Promise.all(Array.from({ length: 12 }, () => call(be)));
    expect(out.every((o) => o.text === "abcdefgh")).toBe(true);
    expect([a.maxInFlight, b.maxInFlight]).toEqual([2, 2]);
    expect(a.completed - 1 + (b.completed - 1)).toBe(12); // minus each server's probe
    expect(Math.abs(a.completed - b.completed)).toBeLessThanOrEqual(2);
    expect(be.endpointStats().map((e) => e.calls)).toEqual([a.completed - 1, b.completed - 1]);
  });

  it("sends calls with the same affinity key back to the endpoint that served it", async () => {
    const a = await server();
    const b = await server();
    const be = await connect([a.url, b.url]);
    await call(be, { affinityKey: "file-1" });
    const first = a.chatCalls().length === 1 ? a : b;
    for (let i = 0; i < 3; i++) await call(be, { affinityKey: "file-1" });
    expect(first.chatCalls()).toHaveLength(4);
  });

  it("moves a call whose stream is cut to another endpoint, takes the failed one out, and repeats no finished call", async () => {
    const a = await server({ reply: () => ({ text: "a".repeat(40), delayMs: 5, cutAfterChunks: 2 }) });
    const b = await server({ reply: () => ({ text: "b".repeat(40), delayMs: 5 }) });
    const messages: string[] = [];
    const be = await connect([a.url, b.url], { onMessage: (_l, t) => messages.push(t), healthIntervalMs: 60_000 });
    const out = await Promise.all(Array.from({ length: 6 }, () => call(be)));
    expect(out.every((o) => o.text === "b".repeat(40))).toBe(true);
    expect(b.completed - 1).toBe(6);
    const stats = be.endpointStats();
    expect(stats[0]).toMatchObject({ up: false, calls: 0 });
    expect(stats[0]?.failures).toBeGreaterThan(0);
    expect(messages.some((m) => m.includes(`${a.url} taken out`))).toBe(true);
  });

  it("a killed endpoint's in-flight calls finish on the other; it comes back when it answers again", async () => {
    const slow = { props: LLAMA_PROPS(2, 4096), health: true, reply: () => ({ text: "x".repeat(200), delayMs: 10, chunkChars: 2 }) };
    const a = await server(slow);
    const b = await server(slow);
    const be = await connect([a.url, b.url]);
    const calls = Array.from({ length: 4 }, () => call(be));
    await new Promise((r) => setTimeout(r, 100));
    expect(a.inFlight).toBe(2);
    const port = Number(new URL(a.url).port);
    await a.kill();
    const out = await Promise.all(calls);
    expect(out.every((o) => o.text === "x".repeat(200))).toBe(true);
    expect(be.endpointStats()[0]?.up).toBe(false);
    // Restarted on the same port with the same model: it joins again.
    const again = await new ScriptedOpenAiServer(slow).start(port);
    servers.push(again);
    await expect.poll(() => be.endpointStats()[0]?.up, { timeout: 3000 }).toBe(true);
    await call(be);
  });

  it("takes out an endpoint whose health check stops answering and retries its hung call elsewhere", async () => {
    let hang = true;
    const a = await server({ health: true, reply: () => (hang ? { hang: true } : { text: "a" }) });
    const b = await server({ health: true, reply: () => ({ text: "b" }) });
    const be = await connect([a.url, b.url], { slots: 1 });
    const first = call(be); // goes to a (fewest calls, first) and hangs
    await expect.poll(() => a.chatCalls().length).toBe(1);
    a.healthy = false;
    expect((await first).text).toBe("b");
    expect(be.endpointStats()[0]?.up).toBe(false);
    hang = false;
  });

  it("a stalled stream (no chunk within the timeout) moves to another endpoint; a slow but steady stream does not", async () => {
    const a = await server({ reply: () => ({ hang: true }) });
    const b = await server({ reply: () => ({ text: "y".repeat(40), delayMs: 60, chunkChars: 4 }) });
    const be = await connect([a.url, b.url], { slots: 1, timeoutMs: 300, healthIntervalMs: 60_000 });
    const [r1, r2] = await Promise.all([call(be), call(be)]);
    // 10 chunks 60 ms apart = 600 ms in all, twice the timeout: streaming keeps it alive.
    expect([r1.text, r2.text]).toEqual(["y".repeat(40), "y".repeat(40)]);
    expect(be.endpointStats()[0]?.up).toBe(false);
  });

  it("retries a busy answer (503) and reports a bad request (400) at once", async () => {
    let n = 0;
    const a = await server({ reply: () => (n++ === 0 ? { status: 503 } : { text: "fine" }) });
    const be = await connect([a.url]);
    expect((await call(be)).text).toBe("fine");
    const bad = await server({ reply: () => ({ status: 400 }) });
    const be2 = await connect([bad.url]);
    await expect(call(be2)).rejects.toMatchObject({ code: "MODEL_GENERATION_FAILED", message: expect.stringContaining("400 scripted 400") });
    expect(bad.chatCalls()).toHaveLength(1);
  });

  it("stops with a clear error when every endpoint stays out", async () => {
    const a = await server({ health: true, reply: () => ({ text: "x", cutAfterChunks: 0 }) });
    const be = await connect([a.url], { unavailableTimeoutMs: 300 });
    a.healthy = false;
    await expect(call(be)).rejects.toMatchObject({ code: "ENDPOINT_UNREACHABLE" });
  });
});

describe("OpenAiBackend: accounting and cancellation", () => {
  it("takes token counts from usage, and cached prompt tokens from usage or llama-server's timings", async () => {
    const a = await server({
      reply: (_b, i) =>
        i === 0
          ? { text: "hello", usage: { prompt_tokens: 120, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 100 } }, finishReason: "length" }
          : { text: "hi", usage: { prompt_tokens: 50, completion_tokens: 2 }, timings: { cache_n: 30, prompt_ms: 5, predicted_ms: 6 } },
    });
    const stats: number[] = [];
    const be = await connect([a.url], { onCall: (s) => stats.push(s.serverMs ?? -1) });
    expect(await call(be)).toEqual({ text: "hello", inputTokens: 120, reusedInputTokens: 100, outputTokens: 7, stopReason: "maxTokens" });
    expect(await call(be)).toEqual({ text: "hi", inputTokens: 50, reusedInputTokens: 30, outputTokens: 2, stopReason: "eogToken" });
    expect(stats).toEqual([-1, 11]);
  });

  it("falls back to estimates when the server sends no usage", async () => {
    const a = await server({ reply: () => ({ text: "abcdefgh", usage: null, chunkChars: 2 }) });
    const be = await connect([a.url]);
    const r = await call(be);
    expect([r.outputTokens, r.inputTokens]).toEqual([4, be.countTokens("sys") + be.countTokens("user text")]);
  });

  it("cancels the HTTP request when the caller aborts (Ctrl-C)", async () => {
    const a = await server({ reply: () => ({ text: "z".repeat(400), delayMs: 20, chunkChars: 1 }) });
    const be = await connect([a.url]);
    const ctl = new AbortController();
    const p = call(be, { signal: ctl.signal });
    await expect.poll(() => a.inFlight).toBe(1);
    ctl.abort();
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
    await expect.poll(() => a.clientAborts).toBe(1);
    expect(be.endpointStats()[0]).toMatchObject({ up: true, inFlight: 0 });
  });
});
