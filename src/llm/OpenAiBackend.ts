/**
 * The one module that owns the HTTP model client: a ModelBackend over OpenAI-compatible model
 * servers (Ollama, LM Studio, llama.cpp's llama-server, vLLM) through the official `openai` package
 * (6.x: it runs on Node 20; 7.x and @langchain/openai 1.6 need Node 22).
 *
 * - Several endpoints serve one model: each has its slots (from llama-server's /props, else the
 *   configured `slots`, default 4); a call goes to the endpoint with the most free slots (or to the
 *   one that served its affinity key last, whose prompt cache holds the shared prefix).
 * - A FairScheduler in front shares the calls fairly across roles, exactly as with local models.
 * - Structured output: `response_format: {type: "json_schema"}`, checked by a probe at start; a
 *   server that does not constrain is refused with a clear error unless the model opts into the
 *   prompted-JSON mode (`structuredOutput: "prompted"`).
 * - Failure handling: a call whose endpoint fails (connection refused or cut, no answer within the
 *   timeout, health check failing) is retried on another endpoint; finished calls are never
 *   repeated. A failed endpoint is polled and comes back when it answers with the same model.
 * - Streaming, so a long generation never hits a client-side timeout; the request's signal
 *   (Ctrl-C) cancels the HTTP request.
 * - Token counts from the response's `usage` (and `prompt_tokens_details.cached_tokens` or
 *   llama-server's `timings.cache_n` for prompt tokens served from the server's cache).
 * - `countTokens` is synchronous (prompt budgeting), so it is an estimate: characters divided by a
 *   chars-per-token ratio measured with the server's /tokenize route where it has one (llama-server,
 *   vLLM), else 3 (fewer than the 3.5-4.5 characters per token that 32k+ BPE vocabularies give on
 *   English and Rust, so budgets err on the safe side); every response's `usage.prompt_tokens`
 *   then lowers the ratio when the estimate was too generous.
 */

import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from "openai";
import { DEFAULT_ENDPOINT_SLOTS } from "../config/defaults.ts";
import { UserError } from "../errors.ts";
import {
  describeFetchError,
  type EndpointProbe,
  EndpointProbeError,
  endpointRoot,
  modelIdentity,
  pickModel,
  probeEndpoint,
  requestJson,
  tokenizeCount,
} from "./endpointProbe.ts";
import { FairScheduler } from "./FairScheduler.ts";
import type { Role } from "./roles.ts";
import type { BackendRequest, BackendResult, ModelBackend, StopReason } from "./types.ts";

export type StructuredOutputMode = "json_schema" | "prompted";

export interface OpenAiBackendOptions {
  /** Base URLs (with or without `/v1`) of servers that serve the same model. */
  endpoints: string[];
  /** Model name on the servers; default: the first one /v1/models lists. */
  model?: string;
  /** The API key's value (read from the environment by the caller); never logged or stored. */
  apiKey?: string;
  /** Slots per endpoint when the server does not report them (default 4). */
  slots?: number;
  /** Tokens per call the pipeline may use (capped by the server's context per slot where it reports it). */
  contextSize: number;
  /** Max concurrent calls per role (agent counts). */
  roleCaps: Partial<Record<Role, number>>;
  /** Max calls in flight over all endpoints (the plan's sequences). */
  maxConcurrent: number;
  structuredOutput?: StructuredOutputMode;
  /** Longest wait for the response to start or for the next streamed chunk (default 300 s); then the call moves to another endpoint. */
  timeoutMs?: number;
  /** Health-check period (default 5 s) and its timeout (default 5 s); `healthFailures` misses in a row take an endpoint out (default 2). */
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  healthFailures?: number;
  /** How long calls wait when every endpoint is out before the run stops (default 120 s). */
  unavailableTimeoutMs?: number;
  /** Warnings and notices (an endpoint taken out or back). */
  onMessage?: (level: "warn" | "info", text: string) => void;
  /** Called after every finished call (the benchmark measures client overhead with it). */
  onCall?: (stats: CallStats) => void;
}

export interface CallStats {
  endpoint: string;
  /** From sending the request to the end of the stream, as this process saw it. */
  clientMs: number;
  /** The server's own prompt + generation time, where it reports it (llama-server `timings`). */
  serverMs: number | undefined;
  outputTokens: number;
}

export interface EndpointStats {
  url: string;
  slots: number;
  inFlight: number;
  up: boolean;
  /** Calls finished on this endpoint. */
  calls: number;
  /** Attempts that failed on this endpoint (and were retried elsewhere or reported). */
  failures: number;
}

interface Endpoint {
  root: string;
  client: OpenAI;
  slots: number;
  inFlight: number;
  up: boolean;
  calls: number;
  failures: number;
  healthMisses: number;
  checking: boolean;
  /** llama.cpp's llama-server (from the probe): asked to report its prompt reading as it goes. */
  llamaServer: boolean;
  attempts: Set<AbortController>;
}

interface GateWaiter {
  affinityKey: string | undefined;
  resolve: (e: Endpoint) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort?: () => void;
  timer?: NodeJS.Timeout;
}

/** Why an attempt was cut from our side. */
class EndpointDown extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EndpointDown";
  }
}

const DEFAULT_CHARS_PER_TOKEN = 3;
/** A text of prose and Rust used once to measure the server tokenizer's characters per token. */
const CALIBRATION = `Use the newtype pattern when a plain type would let callers mix up values: wrap it in a tuple struct,
implement only the traits that make sense, and let the compiler reject the rest.

\`\`\`rust
pub struct Meters(pub f64);
impl std::ops::Add for Meters {
    type Output = Meters;
    fn add(self, other: Meters) -> Meters { Meters(self.0 + other.0) }
}
fn parse(input: &str) -> Result<Vec<u32>, std::num::ParseIntError> {
    input.split(',').map(|s| s.trim().parse::<u32>()).collect()
}
\`\`\`
Pitfalls: Deref on a newtype leaks the inner API; prefer explicit methods. See clippy::new_without_default.`;

/** The JSON schema the start-up probe asks for: one enum value the model could not produce by accident. */
const PROBE_SCHEMA = {
  type: "object",
  properties: { probe: { type: "string", enum: ["rust-kb-ok"] } },
  required: ["probe"],
  additionalProperties: false,
};

export class OpenAiBackend implements ModelBackend {
  readonly modelId: string;
  readonly contextTokens: number;
  readonly scheduler: FairScheduler;
  /** The model name sent with every request. */
  readonly model: string;
  readonly structuredOutput: StructuredOutputMode;
  private readonly endpoints: Endpoint[];
  private readonly waiters: GateWaiter[] = [];
  private readonly affinity = new Map<string, Endpoint>();
  private charsPerToken: number;
  private healthTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private readonly opts: Required<
    Pick<OpenAiBackendOptions, "timeoutMs" | "healthIntervalMs" | "healthTimeoutMs" | "healthFailures" | "unavailableTimeoutMs">
  > &
    OpenAiBackendOptions;

  private constructor(options: OpenAiBackendOptions, endpoints: Endpoint[], model: string, modelId: string, contextTokens: number, charsPerToken: number) {
    this.opts = {
      timeoutMs: 300_000,
      healthIntervalMs: 5_000,
      healthTimeoutMs: 5_000,
      healthFailures: 2,
      unavailableTimeoutMs: 120_000,
      ...options,
    };
    this.endpoints = endpoints;
    this.model = model;
    this.modelId = modelId;
    this.contextTokens = contextTokens;
    this.charsPerToken = charsPerToken;
    this.structuredOutput = options.structuredOutput ?? "json_schema";
    const total = endpoints.reduce((a, e) => a + e.slots, 0);
    this.scheduler = new FairScheduler(Math.max(1, Math.min(options.maxConcurrent, total)), options.roleCaps);
    this.healthTimer = setInterval(() => void this.healthCheck(), this.opts.healthIntervalMs);
    this.healthTimer.unref();
  }

  /**
   * Probes every endpoint (models, slots, context, tokenizer, JSON-schema support) and returns a
   * backend when at least one answers with the model; endpoints that do not answer yet start out
   * and join when their health check passes.
   */
  static async connect(options: OpenAiBackendOptions): Promise<OpenAiBackend> {
    if (options.endpoints.length === 0) throw new Error("OpenAiBackend needs at least one endpoint");
    const roots = [...new Set(options.endpoints.map(endpointRoot))];
    const probeOpts = { apiKey: options.apiKey, timeoutMs: Math.min(options.timeoutMs ?? 30_000, 30_000) };
    const reachable = reachableProbes(await probeAll(roots, probeOpts));
    const { model, modelId } = servedModel(reachable, options.model);
    const contextTokens = Math.min(options.contextSize, ...reachable.map((p) => p.contextPerSlot ?? Number.POSITIVE_INFINITY));
    const endpoints = roots.map((root) =>
      newEndpoint(
        root,
        reachable.find((p) => p.root === root),
        options,
      ),
    );
    for (const e of endpoints) if (!e.up) options.onMessage?.("warn", `model server ${e.root} does not answer yet; calls go to the others until it does`);
    const tokenized = await tokenizeCount(reachable[0]?.root ?? "", CALIBRATION, model, probeOpts);
    const charsPerToken = tokenized ? (CALIBRATION.length / tokenized) * 0.9 : DEFAULT_CHARS_PER_TOKEN;
    const backend = new OpenAiBackend(options, endpoints, model, modelId, Math.max(256, contextTokens), charsPerToken);
    try {
      if (backend.structuredOutput === "json_schema") await Promise.all(endpoints.filter((e) => e.up).map((e) => backend.checkJsonSchema(e)));
    } catch (e) {
      await backend.dispose();
      throw e;
    }
    return backend;
  }

  countTokens(text: string): number {
    return Math.ceil(text.length / this.charsPerToken);
  }

  endpointStats(): EndpointStats[] {
    return this.endpoints.map((e) => ({ url: e.root, slots: e.slots, inFlight: e.inFlight, up: e.up, calls: e.calls, failures: e.failures }));
  }

  async generate(request: BackendRequest): Promise<BackendResult> {
    if (this.disposed) throw new Error("OpenAiBackend is disposed");
    const lease = await this.scheduler.acquire(request.role, { signal: request.signal, affinityKey: request.affinityKey, priority: request.priority });
    try {
      request.onStart?.();
      const maxAttempts = 2 * this.endpoints.length + 2;
      let lastError: unknown;
      for (let attempt = 1; ; attempt++) {
        const ep = await this.take(request.signal, request.affinityKey);
        try {
          const result = await this.attempt(ep, request);
          ep.calls++;
          if (request.affinityKey !== undefined) this.affinity.set(request.affinityKey, ep);
          return result;
        } catch (e) {
          if (request.signal?.aborted) throw abortReason(request.signal);
          const kind = classify(e);
          if (kind === "fatal") throw toUserError(e, ep.root);
          ep.failures++;
          lastError = e;
          if (kind === "down") this.markDown(ep, describe(e));
          if (attempt >= maxAttempts)
            throw new UserError(
              "ENDPOINT_UNREACHABLE",
              `A model call failed ${attempt} times on the model servers; last: ${describe(lastError)}`,
              "Check the servers (docs/SCALING.md), then resume with --resume: finished work is kept.",
              { cause: lastError },
            );
          if (kind === "busy") await sleep(Math.min(2000, 100 * 2 ** attempt), request.signal);
        } finally {
          this.give(ep);
        }
      }
    } finally {
      lease.release();
    }
  }

  private async attempt(ep: Endpoint, request: BackendRequest): Promise<BackendResult> {
    const ctl = new AbortController();
    ep.attempts.add(ctl);
    const onAbort = () => ctl.abort(request.signal?.reason);
    request.signal?.addEventListener("abort", onAbort, { once: true });
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ctl.abort(new EndpointDown(`no answer from ${ep.root} for ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
    };
    const started = performance.now();
    try {
      arm();
      const stream = await ep.client.chat.completions.create(this.requestBody(ep, request), { signal: ctl.signal });
      const streamed = await readStream(stream, request, arm);
      if (ctl.signal.aborted) throw ctl.signal.reason;
      if (streamed.finish === undefined) throw new EndpointDown(`${ep.root} ended the response without finishing it`);
      return this.result(ep, request, { ...streamed, finish: streamed.finish }, performance.now() - started);
    } catch (e) {
      // The SDK reports our own abort as APIUserAbortError: give the reason we aborted with.
      if (ctl.signal.aborted && ctl.signal.reason instanceof EndpointDown) throw ctl.signal.reason;
      throw e;
    } finally {
      clearTimeout(idle);
      request.signal?.removeEventListener("abort", onAbort);
      ep.attempts.delete(ctl);
    }
  }

  private requestBody(ep: Endpoint, request: BackendRequest): OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming {
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      { role: "system", content: this.systemPrompt(request) },
      { role: "user", content: request.prompt.user },
    ];
    const body: OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming = {
      model: this.model,
      messages,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      stream: true,
      stream_options: { include_usage: true },
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
    };
    // llama-server streams its prompt reading (`prompt_progress`) when asked; other servers may refuse unknown fields.
    if (ep.llamaServer) Object.assign(body, { return_progress: true });
    if (request.grammarSchema && this.structuredOutput === "json_schema")
      body.response_format = { type: "json_schema", json_schema: { name: "output", schema: request.grammarSchema, strict: true } };
    return body;
  }

  /** The finished call's result and token counts; the server's prompt count corrects the tokens estimate. */
  private result(ep: Endpoint, request: BackendRequest, streamed: Streamed & { finish: string }, clientMs: number): BackendResult {
    const { usage, timings, chunks } = streamed;
    const estimatedInput = this.countTokens(request.prompt.system) + this.countTokens(request.prompt.user);
    const inputTokens = usage?.prompt_tokens ?? estimatedInput;
    if (usage?.prompt_tokens) {
      // Lower the ratio when the estimate was too generous: prompt budgets must not overshoot.
      const observed = (request.prompt.system.length + request.prompt.user.length) / usage.prompt_tokens;
      if (observed > 0 && observed < this.charsPerToken) this.charsPerToken = Math.max(0.5, observed);
    }
    const outputTokens = usage?.completion_tokens ?? chunks;
    const cached = usage?.prompt_tokens_details?.cached_tokens ?? timings?.cache_n;
    this.opts.onCall?.({
      endpoint: ep.root,
      clientMs,
      serverMs: timings?.prompt_ms !== undefined && timings.predicted_ms !== undefined ? timings.prompt_ms + timings.predicted_ms : undefined,
      outputTokens,
    });
    return {
      text: streamed.text,
      inputTokens,
      ...(typeof cached === "number" ? { reusedInputTokens: Math.max(0, Math.min(inputTokens, cached)) } : {}),
      outputTokens,
      stopReason: mapFinishReason(streamed.finish),
    };
  }

  /** The system prompt; in prompted-JSON mode it carries the schema the answer must follow. */
  private systemPrompt(request: BackendRequest): string {
    if (!request.grammarSchema || this.structuredOutput !== "prompted") return request.prompt.system;
    return `${request.prompt.system}\n\nAnswer with one JSON object and nothing else (no prose, no code fences). It must match this JSON Schema:\n${JSON.stringify(request.grammarSchema)}`;
  }

  /** Asks for an output only a JSON-schema-constrained decoder produces reliably. */
  private async checkJsonSchema(ep: Endpoint): Promise<void> {
    const hint =
      'Use a server version that supports response_format {"type": "json_schema"} on /v1/chat/completions (docs/SCALING.md), or opt into prompted JSON for this model with "structuredOutput": "prompted" in config/agents.json (the schema then goes into the prompt, and outputs that do not parse are retried).';
    let content: string | null | undefined;
    try {
      const r = await ep.client.chat.completions.create(
        {
          model: this.model,
          messages: [
            { role: "system", content: "You answer in JSON." },
            { role: "user", content: "Reply with a JSON object." },
          ],
          // Room for the grammar's optional whitespace with a small vocabulary (stories260K: ~30 tokens).
          max_tokens: 256,
          temperature: 0,
          response_format: { type: "json_schema", json_schema: { name: "probe", schema: PROBE_SCHEMA, strict: true } },
        },
        { timeout: this.opts.timeoutMs },
      );
      content = r.choices[0]?.message?.content;
    } catch (e) {
      if (e instanceof APIError && e.status !== undefined && e.status >= 400 && e.status < 500 && e.status !== 401 && e.status !== 403 && e.status !== 429)
        throw new UserError(
          "ENDPOINT_UNSUPPORTED",
          `${ep.root} rejected a request with response_format json_schema (${e.status}: ${shortMessage(e)}): it cannot constrain output to a schema.`,
          hint,
        );
      throw toUserError(e, ep.root);
    }
    let ok = false;
    try {
      ok = (JSON.parse(content ?? "") as { probe?: unknown }).probe === "rust-kb-ok";
    } catch {
      ok = false;
    }
    if (!ok)
      throw new UserError(
        "ENDPOINT_UNSUPPORTED",
        `${ep.root} accepted response_format json_schema but did not follow the schema (asked for {"probe": "rust-kb-ok"}, got ${JSON.stringify((content ?? "").slice(0, 120))}): it ignores the constraint.`,
        hint,
      );
  }

  // --- endpoint choice (slot accounting per endpoint) ---

  private take(signal: AbortSignal | undefined, affinityKey: string | undefined): Promise<Endpoint> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const now = this.pick(affinityKey);
    if (now) {
      now.inFlight++;
      return Promise.resolve(now);
    }
    return new Promise((resolve, reject) => {
      const w: GateWaiter = { affinityKey, resolve, reject, signal };
      if (signal) {
        w.onAbort = () => {
          this.dropWaiter(w);
          reject(abortReason(signal));
        };
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.waiters.push(w);
      this.armUnavailable(w);
    });
  }

  private give(ep: Endpoint): void {
    ep.inFlight--;
    this.dispatch();
  }

  private pick(affinityKey: string | undefined): Endpoint | undefined {
    const preferred = affinityKey !== undefined ? this.affinity.get(affinityKey) : undefined;
    if (preferred?.up && preferred.inFlight < preferred.slots) return preferred;
    let best: Endpoint | undefined;
    for (const e of this.endpoints) {
      if (!e.up || e.inFlight >= e.slots) continue;
      // Spread by load: the lowest share of busy slots, then the fewest calls served.
      if (!best || e.inFlight / e.slots < best.inFlight / best.slots || (e.inFlight / e.slots === best.inFlight / best.slots && e.calls < best.calls)) best = e;
    }
    return best;
  }

  private dispatch(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0] as GateWaiter;
      const ep = this.pick(w.affinityKey);
      if (!ep) return;
      this.dropWaiter(w);
      ep.inFlight++;
      w.resolve(ep);
    }
  }

  private dropWaiter(w: GateWaiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    clearTimeout(w.timer);
    if (w.signal && w.onAbort) w.signal.removeEventListener("abort", w.onAbort);
  }

  /** With every endpoint out, a waiting call gives up after `unavailableTimeoutMs`. */
  private armUnavailable(w: GateWaiter): void {
    if (this.endpoints.some((e) => e.up) || w.timer) return;
    w.timer = setTimeout(() => {
      this.dropWaiter(w);
      w.reject(
        new UserError(
          "ENDPOINT_UNREACHABLE",
          `Every model server has been out for ${Math.round(this.opts.unavailableTimeoutMs / 1000)} s: ${this.endpoints.map((e) => e.root).join(", ")}.`,
          "Restart the servers, then resume with --resume: finished work is kept.",
        ),
      );
    }, this.opts.unavailableTimeoutMs);
  }

  // --- health ---

  private markDown(ep: Endpoint, why: string): void {
    if (!ep.up || this.disposed) return;
    ep.up = false;
    ep.healthMisses = 0;
    this.opts.onMessage?.("warn", `model server ${ep.root} taken out (${why}); its calls move to the other servers`);
    for (const ctl of ep.attempts) ctl.abort(new EndpointDown(`${ep.root} was taken out: ${why}`));
    for (const w of this.waiters) this.armUnavailable(w);
  }

  private async healthCheck(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => this.checkOne(e)));
  }

  private async checkOne(ep: Endpoint): Promise<void> {
    if (ep.checking || this.disposed) return;
    ep.checking = true;
    try {
      if (ep.up) {
        let ok = false;
        try {
          const r = await requestJson(ep.root, "/health", { apiKey: this.opts.apiKey, timeoutMs: this.opts.healthTimeoutMs });
          // Servers without /health (Ollama, LM Studio) answer 404: then /v1/models is the check.
          ok =
            r !== undefined &&
            (r.status < 400 ||
              (r.status === 404 &&
                (await requestJson(ep.root, "/v1/models", { apiKey: this.opts.apiKey, timeoutMs: this.opts.healthTimeoutMs }))?.json !== undefined));
        } catch {
          ok = false;
        }
        ep.healthMisses = ok ? 0 : ep.healthMisses + 1;
        if (ep.healthMisses >= this.opts.healthFailures) this.markDown(ep, `health check failed ${ep.healthMisses} times`);
        return;
      }
      // Out: back only when it serves the same model again.
      let probe: EndpointProbe;
      try {
        probe = await probeEndpoint(ep.root, { apiKey: this.opts.apiKey, timeoutMs: this.opts.healthTimeoutMs });
      } catch {
        return;
      }
      const m = pickModel(probe, this.opts.model ?? this.model);
      const id = m ? modelIdentity(probe, m) : undefined;
      if (id !== this.modelId) {
        this.opts.onMessage?.("warn", `model server ${ep.root} answers again but serves ${id ?? "another model"}, not ${this.modelId}; it stays out`);
        return;
      }
      if (this.disposed) return;
      ep.slots = slotsOf(probe, this.opts.slots);
      ep.llamaServer = probe.llamaServer === true;
      ep.up = true;
      ep.healthMisses = 0;
      this.opts.onMessage?.("info", `model server ${ep.root} is back`);
      this.dispatch();
    } finally {
      ep.checking = false;
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    clearInterval(this.healthTimer);
    for (const e of this.endpoints) for (const ctl of e.attempts) ctl.abort(new EndpointDown("the run is closing"));
    for (const w of [...this.waiters]) {
      this.dropWaiter(w);
      w.reject(new EndpointDown("the run is closing"));
    }
  }
}

/** Probes every endpoint at once; each answer is a probe or the error it gave. */
function probeAll(roots: readonly string[], probeOpts: { apiKey: string | undefined; timeoutMs: number }): Promise<ProbeOutcome[]> {
  return Promise.all(
    roots.map((r) =>
      probeEndpoint(r, probeOpts).then(
        (p) => ({ ok: true as const, p }),
        (e: unknown) => ({ ok: false as const, e }),
      ),
    ),
  );
}

type ProbeOutcome = { ok: true; p: EndpointProbe } | { ok: false; e: unknown };

/** The endpoints that answered; a refused key, or no answer at all, stops here. */
function reachableProbes(probes: readonly ProbeOutcome[]): EndpointProbe[] {
  const auth = probes.find((p) => !p.ok && p.e instanceof EndpointProbeError && (p.e.status === 401 || p.e.status === 403));
  if (auth && !auth.ok)
    throw new UserError(
      "ENDPOINT_AUTH",
      (auth.e as Error).message,
      "Put the server's API key in an environment variable and name it with --api-key-env NAME (or apiKeyEnv in config/agents.json).",
    );
  const reachable = probes.flatMap((p) => (p.ok ? [p.p] : []));
  if (reachable.length === 0)
    throw new UserError(
      "ENDPOINT_UNREACHABLE",
      `No model server answered:\n  ${probes.map((p) => (p.ok ? "" : (p.e as Error).message)).join("\n  ")}`,
      "Start the server (docs/SCALING.md has the command for Ollama, LM Studio, llama-server and vLLM) or fix the --endpoint URL.",
    );
  return reachable;
}

/** The model the endpoints serve: every reachable endpoint must serve the same one (its identity goes into the run's settings). */
function servedModel(reachable: readonly EndpointProbe[], wanted: string | undefined): { model: string; modelId: string } {
  let model: string | undefined;
  let modelId: string | undefined;
  for (const p of reachable) {
    const m = pickModel(p, wanted);
    if (!m)
      throw new UserError(
        "ENDPOINT_UNSUPPORTED",
        `${p.root} does not serve ${wanted === undefined ? "any model" : `the model "${wanted}"`} (it lists: ${p.models.map((x) => x.id).join(", ") || "none"}).`,
        "Name one of the listed models with --endpoint-model (or model in config/agents.json), or load the model on the server.",
      );
    const id = modelIdentity(p, m);
    if (modelId !== undefined && id !== modelId)
      throw new UserError(
        "CONFIG_INVALID",
        `The endpoints serve different models: ${modelId} at ${reachable[0]?.root}, ${id} at ${p.root}.`,
        "Point every --endpoint of a model at servers that run the same model file.",
      );
    model ??= m.id;
    modelId = id;
  }
  if (model === undefined || modelId === undefined) throw new Error("unreachable: no model picked");
  return { model, modelId };
}

/** An endpoint with its client; up when its probe answered. */
function newEndpoint(root: string, probe: EndpointProbe | undefined, options: OpenAiBackendOptions): Endpoint {
  return {
    root,
    client: new OpenAI({
      baseURL: `${root}/v1`,
      // The SDK insists on a key; local servers ignore the header.
      apiKey: options.apiKey ?? "no-key",
      // Never pick up OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment for someone else's server.
      organization: null,
      project: null,
      maxRetries: 0,
      timeout: options.timeoutMs ?? 300_000,
      logLevel: "off",
    }),
    slots: slotsOf(probe, options.slots),
    llamaServer: probe?.llamaServer === true,
    inFlight: 0,
    up: probe !== undefined,
    calls: 0,
    failures: 0,
    healthMisses: 0,
    checking: false,
    attempts: new Set(),
  };
}

interface Streamed {
  text: string;
  finish: string | undefined;
  /** Streamed pieces with text (about one token each). */
  chunks: number;
  usage: OpenAI.Completions.CompletionUsage | undefined;
  timings: { cache_n?: number; prompt_ms?: number; predicted_ms?: number } | undefined;
}

/** Reads a streamed completion, reporting progress as it comes; `arm` restarts the idle timeout on every chunk. */
async function readStream(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>, request: BackendRequest, arm: () => void): Promise<Streamed> {
  const out: Streamed = { text: "", finish: undefined, chunks: 0, usage: undefined, timings: undefined };
  for await (const chunk of stream) {
    arm();
    const choice = chunk.choices?.[0];
    const delta = choice?.delta?.content;
    const progress = (chunk as { prompt_progress?: { cache?: number; processed?: number } }).prompt_progress;
    if (typeof progress?.processed === "number") request.onProgress?.({ read: Math.max(0, progress.processed - (progress.cache ?? 0)) });
    if (delta) {
      if (out.chunks === 0) request.onFirstToken?.();
      out.text += delta;
      out.chunks++;
      // A streamed piece is about one token (an estimate: the usage at the end is the count).
      request.onProgress?.({ generated: out.chunks });
    }
    if (choice?.finish_reason) out.finish = choice.finish_reason;
    if (chunk.usage) out.usage = chunk.usage;
    const t = (chunk as { timings?: Streamed["timings"] }).timings;
    if (t) out.timings = t;
  }
  return out;
}

function slotsOf(probe: EndpointProbe | undefined, configured: number | undefined): number {
  return probe?.slots ?? configured ?? DEFAULT_ENDPOINT_SLOTS;
}

/** What a failed attempt means: the endpoint is gone, it is busy for now, or the request itself is wrong. */
function classify(e: unknown): "down" | "busy" | "fatal" {
  if (e instanceof EndpointDown) return "down";
  if (e instanceof UserError) return "fatal";
  if (e instanceof APIUserAbortError) return "down";
  if (e instanceof APIConnectionError) return "down";
  if (e instanceof APIError) {
    const s = e.status ?? 0;
    if (s === 408 || s === 409 || s === 429 || s >= 500) return "busy";
    return "fatal";
  }
  // A stream cut mid-way surfaces as a plain error from fetch/undici ("terminated", ECONNRESET).
  return "down";
}

function shortMessage(e: APIError): string {
  const body = e.error as { message?: unknown } | undefined;
  const msg = typeof body?.message === "string" ? body.message : e.message;
  return msg.slice(0, 300);
}

function describe(e: unknown): string {
  if (e instanceof APIError && e.status !== undefined) return `${e.status} ${shortMessage(e)}`;
  if (e instanceof Error) return describeFetchError(e);
  return String(e);
}

function toUserError(e: unknown, root: string): UserError {
  if (e instanceof UserError) return e;
  if (e instanceof APIError && (e.status === 401 || e.status === 403))
    return new UserError(
      "ENDPOINT_AUTH",
      `${root} refused the request (${e.status}): the API key is missing or wrong.`,
      "Name the environment variable that holds the key with --api-key-env NAME (or apiKeyEnv in config/agents.json).",
      { cause: e },
    );
  return new UserError(
    "MODEL_GENERATION_FAILED",
    `${root} answered a model call with ${describe(e)}`,
    "If the prompt is too long for the server's context, start the server with a larger context per slot (or lower --context-size); then resume with --resume.",
    { cause: e },
  );
}

function mapFinishReason(reason: string): StopReason {
  switch (reason) {
    case "stop":
      return "eogToken";
    case "length":
      return "maxTokens";
    default:
      return "other";
  }
}

function abortReason(signal: AbortSignal): unknown {
  if (signal.reason instanceof Error) return signal.reason;
  const e = new Error("The operation was aborted");
  e.name = "AbortError";
  return e;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
