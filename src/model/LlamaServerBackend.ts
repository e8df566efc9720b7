/**
 * A second model backend: llama.cpp's own `llama-server` (built from the llama.cpp source that
 * node-llama-cpp ships, see bench/llamacpp/build.sh) in a child process, driven over loopback HTTP
 * with one server slot per sequence and continuous batching.
 *
 * Why it exists: on a 2-core machine node-llama-cpp's in-process decode ran at ~0.7x of llama.cpp's
 * own tools single-stream and ~0.2-0.4x with 16 sequences, with the same instructions per token
 * (docs/PROFILE.md); llama-server is llama.cpp's own scheduler and runs at llama.cpp's speed.
 * It is opt-in: it needs the llama-server binary, which `npm install` does not build.
 *
 * Same contract as LlamaModelBackend: `generate` waits for a free slot (FairScheduler), each call
 * starts from an empty slot (no prompt cache carried between calls), greedy at temperature 0,
 * grammar-constrained output from a JSON schema (llama.cpp's own schema-to-grammar converter),
 * token counts from the model's own vocabulary (loaded vocab-only in process for `countTokens`).
 */

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Llama, LlamaModel } from "node-llama-cpp";
import { UserError } from "../errors.ts";
import { FairScheduler } from "./FairScheduler.ts";
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
}

/** Sampling settings node-llama-cpp uses by default, so both backends sample alike. */
const TOP_K = 40;
const TOP_P = 0.95;

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no free port"))));
    });
  });
}

export class LlamaServerBackend implements ModelBackend {
  readonly modelId: string;
  readonly contextTokens: number;
  readonly scheduler: FairScheduler;
  readonly threads: number;
  readonly url: string;
  private disposed = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
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
          ? "The llama-server backend was chosen, but llama-server was not found (looked in the build cache, bench/.build/bin and PATH)."
          : `The llama-server backend was chosen, but there is no llama-server at ${serverBin}.`,
        "Build llama-server once with `bash scripts/buildLlamaServer.sh` (offline, ~15 min on 2 cores; or `bash bench/llamacpp/build.sh` for every tool) or point RUST_KB_LLAMA_SERVER at a llama-server binary; or use the default backend (--backend node-llama-cpp).",
      );
    const stat = fs.statSync(options.modelPath);
    const modelId = `${path.basename(options.modelPath)}@${stat.size}`;
    const port = options.port ?? (await freePort());
    const args = [
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
    // On POSIX the server runs under a small sh watchdog that holds the read end of our stdin pipe:
    // when this process ends in any way (even SIGKILL, which runs no handler) the pipe closes and
    // the watchdog kills the server, so no server outlives the run. dispose() closes the pipe too.
    const watchdog = process.platform !== "win32";
    const child = watchdog
      ? spawn("/bin/sh", ["-c", WATCHDOG, serverBin, ...args], { stdio: ["pipe", "pipe", "pipe"] })
      : spawn(serverBin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    let serverPid: number | undefined = watchdog ? undefined : child.pid;
    const keep = (d: Buffer) => {
      let s = d.toString();
      if (serverPid === undefined) {
        const m = /rust-kb-llama-server-pid (\d+)\n/.exec(s);
        if (m) {
          serverPid = Number(m[1]);
          s = s.replace(m[0], "");
        }
      }
      log = (log + s).slice(-20_000);
      options.onLog?.(s);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    child.stdin?.on("error", () => {});
    // Never leave a server behind if this process ends without dispose() (crash, process.exit).
    const killOnExit = () => {
      child.kill("SIGKILL");
      if (serverPid !== undefined && serverPid !== child.pid) killQuietly(serverPid);
    };
    process.once("exit", killOnExit);
    const exited = new Promise<void>((resolve) =>
      child.on("close", () => {
        process.removeListener("exit", killOnExit);
        resolve();
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + (options.startupTimeoutMs ?? 300_000);
    try {
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`llama-server exited (${child.exitCode ?? child.signalCode}): ${log.slice(-2000)}`);
        try {
          const res = await fetch(`${url}/health`);
          if (res.status === 200) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`llama-server did not become ready in time: ${log.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } catch (e) {
      child.stdin?.end();
      child.kill("SIGKILL");
      await exited;
      throw new UserError(
        "MODEL_LOAD_FAILED",
        `Could not start llama-server for ${options.modelPath}: ${(e as Error).message}`,
        "Check the model file and the server binary.",
        {
          cause: e,
        },
      );
    }
    let vocab: LlamaModel;
    try {
      vocab = await llama.loadModel({ modelPath: options.modelPath, vocabOnly: true });
    } catch (e) {
      child.stdin?.end();
      child.kill("SIGTERM");
      await exited;
      throw e;
    }
    const scheduler = new FairScheduler(options.sequences, options.roleCaps);
    return new LlamaServerBackend(child, exited, vocab, url, modelId, options.contextSize, options.threads, scheduler, () => serverPid);
  }

  countTokens(text: string): number {
    return this.vocab.tokenize(text, false, "trimLeadingSpace").length;
  }

  async generate(request: BackendRequest): Promise<BackendResult> {
    if (this.disposed) throw new Error("LlamaServerBackend is disposed");
    const lease = await this.scheduler.acquire(request.role, { signal: request.signal, affinityKey: request.affinityKey, priority: request.priority });
    try {
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
        stream: false,
      };
      if (request.grammarSchema) body.json_schema = request.grammarSchema;
      const out = await this.post<{
        content: string;
        tokens_predicted: number;
        tokens_evaluated: number;
        stop_type?: string;
        timings?: { cache_n?: number; prompt_n?: number };
      }>("/completion", body, request.signal);
      return {
        text: out.content,
        inputTokens: out.tokens_evaluated,
        reusedInputTokens: reusedFromTimings(out.tokens_evaluated, out.timings),
        outputTokens: out.tokens_predicted,
        stopReason: mapStopType(out.stop_type),
      };
    } finally {
      lease.release();
    }
  }

  private async post<T>(route: string, body: unknown, signal: AbortSignal | undefined): Promise<T> {
    const res = await fetch(`${this.url}${route}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: signal ?? null,
    });
    if (!res.ok) {
      const text = await res.text();
      throw new UserError(
        "MODEL_GENERATION_FAILED",
        `llama-server ${route} answered ${res.status}: ${text.slice(0, 500)}`,
        "See the server log; lower maxTokens or the prompt size.",
      );
    }
    return (await res.json()) as T;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    // Closing the pipe makes the watchdog stop the server (SIGTERM) and exit when it has.
    this.child.stdin?.end();
    if (!this.child.stdin && this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      const pid = this.serverPid();
      if (pid !== undefined && pid !== this.child.pid) killQuietly(pid, "SIGKILL");
      this.child.kill("SIGKILL");
    }, 10_000);
    await this.exited;
    clearTimeout(timer);
    await this.vocab.dispose();
  }
}

/**
 * sh script: start the server ($0 with "$@") in the background, report its pid on stderr, and kill
 * it when our end of the stdin pipe closes (dispose, exit, crash); exit with the server's status.
 */
const WATCHDOG =
  'exec 3<&0; "$0" "$@" </dev/null 3<&- & srv=$!; echo "rust-kb-llama-server-pid $srv" >&2; ' +
  '(read _ <&3; kill "$srv" 2>/dev/null) 3<&3 & exec 3<&-; wait "$srv"';

function killQuietly(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
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
