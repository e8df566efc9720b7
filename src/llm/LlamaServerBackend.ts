/**
 * A second model backend: llama.cpp's own `llama-server` (built from the llama.cpp source that
 * node-llama-cpp ships, see bench/llamacpp/build.sh) in a child process, driven over loopback HTTP
 * with one server slot per sequence and continuous batching.
 *
 * Why it exists: on a 2-core machine node-llama-cpp's in-process decode ran at ~0.7x of llama.cpp's
 * own tools single-stream and ~0.2-0.4x with 16 sequences, with the same instructions per token
 * (docs/PROFILE.md); llama-server is llama.cpp's own scheduler and runs at llama.cpp's speed.
 * The default engine where its binary is found: `npm install` builds it once (scripts/installLlamaServer.ts).
 *
 * Same contract as LlamaModelBackend: `generate` waits for a free slot (FairScheduler), each call
 * starts from an empty slot (no prompt cache carried between calls), greedy at temperature 0,
 * grammar-constrained output from a JSON schema (llama.cpp's own schema-to-grammar converter),
 * token counts from the model's own vocabulary (loaded vocab-only in process for `countTokens`).
 */

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { UserError } from "../errors.ts";
import { freePort } from "../util/freePort.ts";
import { type GuardedProcess, spawnGuarded } from "../util/spawnGuarded.ts";
import { FairScheduler } from "./FairScheduler.ts";
import type { Llama, LlamaModel } from "./llamaCpp.ts";
import type { Role } from "./roles.ts";
import type { BackendRequest, BackendResult, ModelBackend, StopReason } from "./types.ts";

export interface LlamaServerBackendOptions {
  modelPath: string;
  /** Parallel sequences = server slots (`-np`). */
  sequences: number;
  /** Tokens per sequence (the server gets sequences x contextSize). */
  contextSize: number;
  threads: number;
  /** Max concurrent calls per role (agent counts); the sum may exceed `sequences`. */
  roleCaps: Partial<Record<Role, number>>;
  /** Path of the llama-server binary; undefined = not found. */
  serverBin: string | undefined;
  /** Loopback port (default: a free one). */
  port?: number;
  /** How long to wait for the model to load (default 5 min). */
  startupTimeoutMs?: number;
  /** Called with the server's log lines (default: kept in memory for error messages only). */
  onLog?: (line: string) => void;
  /** Between SIGTERM and SIGKILL when the server is stopped (default 5 s). */
  stopGraceMs?: number;
}

/** Environment variables the server may need (libraries, GPU selection); nothing else of ours, no keys. */
const SERVER_ENV = /^(PATH|HOME|TMPDIR|LANG|LC_[A-Z]+|LD_LIBRARY_PATH|DYLD_LIBRARY_PATH|(CUDA|HIP|ROCR|GGML|VK|OMP|GOMP|GPU_DEVICE_ORDINAL|ZE)_?[A-Z0-9_]*)$/;
const NO_KEEP_ALIVE = new http.Agent({ keepAlive: false });
/** llama-server's log line when the port was taken between our pick and its bind. */
const BIND_FAILED = /couldn't bind HTTP server socket|address already in use/i;

/** Sampling settings node-llama-cpp uses by default, so both backends sample alike. */
const TOP_K = 40;
const TOP_P = 0.95;

export class LlamaServerBackend implements ModelBackend {
  readonly modelId: string;
  readonly contextTokens: number;
  readonly scheduler: FairScheduler;
  readonly threads: number;
  readonly url: string;
  private disposed = false;

  private constructor(
    private readonly server: GuardedProcess,
    /** Bearer token of this server (random per start; never logged). */
    private readonly apiKey: string,
    private readonly vocab: LlamaModel,
    url: string,
    modelId: string,
    contextTokens: number,
    threads: number,
    scheduler: FairScheduler,
    /** The llama-server process id (the watchdog's child on POSIX), once known. */
    readonly serverPid: () => number | undefined,
  ) {
    this.url = url;
    this.modelId = modelId;
    this.contextTokens = contextTokens;
    this.threads = threads;
    this.scheduler = scheduler;
  }

  /** Starts llama-server for the model and waits until it answers /health. */
  static async start(llama: Llama, options: LlamaServerBackendOptions): Promise<LlamaServerBackend> {
    const serverBin = options.serverBin;
    if (serverBin === undefined || !fs.existsSync(serverBin))
      throw new UserError(
        "MODEL_LOAD_FAILED",
        serverBin === undefined
          ? "The llama-server backend was chosen, but llama-server was not found (looked in the build cache and PATH)."
          : `The llama-server backend was chosen, but there is no llama-server at ${serverBin}.`,
        "Build llama-server once with `bash scripts/buildLlamaServer.sh` (offline, ~15 min on 2 cores; it reuses a same-commit build of `bash bench/llamacpp/build.sh`) or point RUST_KB_LLAMA_SERVER at a llama-server binary; or use the default backend (--backend node-llama-cpp).",
      );
    const stat = fs.statSync(options.modelPath);
    const modelId = `${path.basename(options.modelPath)}@${stat.size}`;
    // A random key per start, so no other local process can use this server; it reaches the
    // server in its environment (LLAMA_API_KEY), which other users cannot read, not on its command line.
    const apiKey = randomBytes(24).toString("hex");
    const env: Record<string, string> = { LLAMA_API_KEY: apiKey };
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && SERVER_ENV.test(k)) env[k] = v;
    const redact = (text: string) => text.split(apiKey).join("[api-key]");
    let log = "";
    let server: GuardedProcess | undefined;
    let port = 0;
    const deadline = Date.now() + (options.startupTimeoutMs ?? 300_000);
    try {
      // The port is picked free, then released for the server to bind: another process can take it
      // in between, and then the server exits on bind; a new port is picked, a few times.
      for (let attempt = 1; ; attempt++) {
        port = options.port ?? (await freePort());
        log = "";
        const keep = (d: Buffer) => {
          const text = redact(d.toString());
          log = (log + text).slice(-20_000);
          options.onLog?.(text);
        };
        server = spawnGuarded(serverBin, serverArgs(options, port), {
          env,
          graceMs: options.stopGraceMs ?? 5000,
          onStdout: keep,
          onStderr: keep,
        });
        const ready = await waitReady(server, `http://127.0.0.1:${port}`, apiKey, deadline, () => log);
        if (ready === "ready") break;
        await server.exited;
        if (ready === "bind-failed" && options.port === undefined && attempt < 5) continue;
        throw new Error(ready === "bind-failed" ? `port ${port} was taken: ${log.slice(-2000)}` : ready);
      }
    } catch (e) {
      if (server) {
        server.kill();
        await server.exited;
      }
      throw new UserError(
        "MODEL_LOAD_FAILED",
        `Could not start llama-server for ${options.modelPath}: ${(e as Error).message}`,
        "Check the model file and the server binary.",
        {
          cause: e,
        },
      );
    }
    const url = `http://127.0.0.1:${port}`;
    const started = server;
    let vocab: LlamaModel;
    try {
      vocab = await llama.loadModel({ modelPath: options.modelPath, vocabOnly: true });
    } catch (e) {
      started.stop();
      await started.exited;
      throw e;
    }
    const serverPid = await started.pid;
    const scheduler = new FairScheduler(options.sequences, options.roleCaps);
    return new LlamaServerBackend(started, apiKey, vocab, url, modelId, options.contextSize, options.threads, scheduler, () => serverPid);
  }

  countTokens(text: string): number {
    return this.vocab.tokenize(text, false, "trimLeadingSpace").length;
  }

  async generate(request: BackendRequest): Promise<BackendResult> {
    if (this.disposed) throw new Error("LlamaServerBackend is disposed");
    const lease = await this.scheduler.acquire(request.role, { signal: request.signal, affinityKey: request.affinityKey, priority: request.priority });
    try {
      request.onStart?.();
      // The prompt is rendered by the server from the model's own chat template; generation goes
      // through /completion so a JSON schema constrains only the response (as in node-llama-cpp),
      // not the template's generation prefix (/v1/chat/completions wraps it in a larger grammar).
      const rendered = await this.post<{ prompt: string }>(
        "/apply-template",
        {
          messages: [
            { role: "system", content: request.prompt.system },
            { role: "user", content: request.prompt.user },
          ],
        },
        request.signal,
      );
      const body: Record<string, unknown> = {
        prompt: rendered.prompt,
        n_predict: request.maxTokens,
        temperature: request.temperature,
        top_k: TOP_K,
        top_p: TOP_P,
        min_p: 0,
        repeat_penalty: 1,
        seed: request.seed ?? -1,
        // The slot keeps its last prompt; the scheduler sends a file's calls back to the same slot,
        // so the server evaluates only what follows their shared prefix.
        id_slot: lease.slot,
        cache_prompt: true,
        // Streamed: a long generation is never cut by a client-side timeout, and an abort stops it.
        stream: true,
        // Chunks while the prompt is read (`prompt_progress`), for the live display's reading rate.
        return_progress: true,
      };
      if (request.grammarSchema) body.json_schema = request.grammarSchema;
      const out = await this.completion(body, request);
      const grammar = grammarFromTimings(out.timings);
      return {
        text: out.content,
        inputTokens: out.tokens_evaluated,
        reusedInputTokens: reusedFromTimings(out.tokens_evaluated, out.timings),
        sequence: lease.slot,
        outputTokens: out.tokens_predicted,
        stopReason: mapStopType(out.stop_type),
        ...(grammar ? { grammar } : {}),
      };
    } finally {
      lease.release();
    }
  }

  private async post<T>(route: string, body: unknown, signal: AbortSignal | undefined): Promise<T> {
    let text = "";
    await this.request(route, body, signal, (chunk) => {
      text += chunk;
    });
    return JSON.parse(text) as T;
  }

  /**
   * /completion, streamed: progress while the prompt is read, the pieces of content (each with the
   * tokens generated so far), then the final chunk's counts.
   */
  private async completion(body: Record<string, unknown>, request: BackendRequest): Promise<CompletionResult> {
    const { signal, onFirstToken: onFirstText, onProgress } = request;
    let content = "";
    let final: CompletionResult | undefined;
    let pending = "";
    const take = (line: string) => {
      if (line.startsWith("error:")) throw generationError("/completion", 200, line.slice(6).trim());
      if (!line.startsWith("data:")) return;
      const data = line.slice(5).trim();
      if (data === "" || data === "[DONE]") return;
      const chunk = JSON.parse(data) as Partial<CompletionResult> & { stop?: boolean; error?: unknown; prompt_progress?: PromptProgress };
      if (chunk.error !== undefined) throw generationError("/completion", 200, JSON.stringify(chunk.error));
      // `processed` counts the slot's tokens so far, the cached prefix (`cache`) included.
      const p = chunk.prompt_progress;
      if (p && typeof p.processed === "number") onProgress?.({ read: Math.max(0, p.processed - (p.cache ?? 0)) });
      if (chunk.content && typeof chunk.tokens_predicted === "number") onProgress?.({ generated: chunk.tokens_predicted });
      if (content === "" && chunk.content) onFirstText?.();
      content += chunk.content ?? "";
      if (chunk.stop) final = { ...(chunk as CompletionResult), content };
    };
    await this.request("/completion", body, signal, (piece) => {
      pending += piece;
      let i = pending.indexOf("\n");
      while (i >= 0) {
        take(pending.slice(0, i).replace(/\r$/, ""));
        pending = pending.slice(i + 1);
        i = pending.indexOf("\n");
      }
    });
    if (pending.trim() !== "") take(pending.trim());
    if (!final) throw generationError("/completion", 200, "the stream ended without a final chunk");
    return final;
  }

  /**
   * POSTs JSON to the server with our key, passing the response body on as it arrives. node:http,
   * not fetch: fetch (undici) gives up on a response after 300 s without headers or data.
   */
  private request(route: string, body: unknown, signal: AbortSignal | undefined, onData: (text: string) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // An abort rejects with the signal's reason, as fetch does (AbortError by default).
      const fail = (e: unknown) => reject(signal?.aborted ? (signal.reason ?? e) : e);
      const payload = Buffer.from(JSON.stringify(body));
      const req = http.request(
        `${this.url}${route}`,
        {
          method: "POST",
          headers: { "content-type": "application/json", "content-length": payload.length, authorization: `Bearer ${this.apiKey}` },
          signal,
          // A fresh connection per call: the server may close idle kept-alive ones under us.
          agent: NO_KEEP_ALIVE,
        },
        (res) => {
          res.setEncoding("utf8");
          if (res.statusCode !== 200) {
            let text = "";
            res.on("data", (d: string) => {
              if (text.length < 4000) text += d;
            });
            res.on("end", () => reject(generationError(route, res.statusCode ?? 0, text)));
            res.on("error", fail);
            return;
          }
          res.on("data", (d: string) => {
            try {
              onData(d);
            } catch (e) {
              req.destroy();
              reject(e);
            }
          });
          res.on("end", () => (signal?.aborted ? fail(new Error("aborted")) : resolve()));
          res.on("error", fail);
          res.on("aborted", () => fail(new Error("llama-server closed the connection mid-answer")));
        },
      );
      req.on("error", fail);
      req.end(payload);
    });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    // The watchdog stops the server: SIGTERM, then SIGKILL after the grace period.
    this.server.stop();
    const timer = setTimeout(() => this.server.kill(), 30_000);
    await this.server.exited;
    clearTimeout(timer);
    await this.vocab.dispose();
  }
}

interface CompletionResult {
  content: string;
  tokens_predicted: number;
  tokens_evaluated: number;
  stop_type?: string;
  timings?: { cache_n?: number; prompt_n?: number; grammar_n_checked?: number; grammar_n_rejected?: number; grammar_reject_ms?: number };
}

/** llama-server's report while it reads a prompt (`return_progress`): the prompt's tokens, those taken from the slot's cache, and those in the slot so far. */
interface PromptProgress {
  total?: number;
  cache?: number;
  processed?: number;
}

/** The project's patched llama-server reports its grammar sampling per request (bench/llamacpp/patches); others report nothing. */
function grammarFromTimings(t: CompletionResult["timings"]): BackendResult["grammar"] {
  if (typeof t?.grammar_n_checked !== "number") return undefined;
  return { checked: t.grammar_n_checked, rejected: t.grammar_n_rejected ?? 0, rejectMs: t.grammar_reject_ms ?? 0 };
}

function generationError(route: string, status: number, text: string): UserError {
  return new UserError(
    "MODEL_GENERATION_FAILED",
    `llama-server ${route} answered ${status}: ${text.slice(0, 500)}`,
    "See the server log; lower maxTokens or the prompt size.",
  );
}

function serverArgs(options: LlamaServerBackendOptions, port: number): string[] {
  return [
    "-m",
    options.modelPath,
    "-t",
    String(options.threads),
    "-tb",
    String(options.threads),
    "-c",
    String(options.sequences * options.contextSize),
    "-np",
    String(options.sequences),
    "--no-kv-unified",
    "-fa",
    "auto",
    "-cram",
    "0",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
  ];
}

/**
 * Waits until the server answers /health, then checks that it is ours: it must refuse a wrong key
 * and accept ours (only our child has it), so a process that took the port is never sent a prompt.
 */
async function waitReady(server: GuardedProcess, url: string, apiKey: string, deadline: number, log: () => string): Promise<"ready" | "bind-failed" | string> {
  let ended = false;
  let foreign: string | undefined;
  void server.exited.then(() => {
    ended = true;
  });
  for (;;) {
    if (ended) return BIND_FAILED.test(log()) ? "bind-failed" : `llama-server exited: ${log().slice(-2000)}`;
    const health = await getStatus(`${url}/health`, undefined);
    if (health === 200) {
      const wrong = await getStatus(`${url}/props`, randomBytes(24).toString("hex"));
      const right = await getStatus(`${url}/props`, apiKey);
      if (wrong === 401 && right === 200) return "ready";
      // Another process answers on the port: ours will exit on its failed bind (then a new port is tried).
      foreign = `another server answers on ${url} (${wrong} to a wrong key, ${right} to ours)`;
    }
    if (Date.now() > deadline) return `llama-server did not become ready in time${foreign ? `; ${foreign}` : ""}: ${log().slice(-2000)}`;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function getStatus(url: string, key: string | undefined): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { headers: key ? { authorization: `Bearer ${key}` } : {}, timeout: 10_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

/** llama-server's `stop_type`: "eos" (end-of-generation token), "limit" (n_predict), "word" (stop string). */
/**
 * Prompt tokens the server took from the slot's cache: `timings.cache_n` where the server reports
 * it, else the prompt minus what it processed (`prompt_n`); 0 when it reports neither.
 */
export function reusedFromTimings(promptTokens: number, timings: { cache_n?: number; prompt_n?: number } | undefined): number {
  if (typeof timings?.cache_n === "number") return Math.max(0, Math.min(promptTokens, timings.cache_n));
  if (typeof timings?.prompt_n === "number") return Math.max(0, promptTokens - timings.prompt_n);
  return 0;
}

function mapStopType(stopType: string | undefined): StopReason {
  switch (stopType) {
    case "eos":
      return "eogToken";
    case "limit":
      return "maxTokens";
    case "word":
      return "stopGenerationTrigger";
    default:
      return "other";
  }
}
