/**
 * Runs llama.cpp's own tools (built by bench/llamacpp/build.sh into bench/.build/bin) and parses
 * their figures: llama-bench (1 stream, no sampling), llama-batched-bench (N sequences, no
 * sampling) and llama-server (HTTP requests with sampling, 1 or N at a time).
 */

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Env, readEnv } from "../../src/config/env.ts";
import { findLlamaCppTool, type ToolSearch } from "../../src/util/llamaCppTools.ts";

/** Where bench/llamacpp/build.sh puts llama.cpp's tools (a developer build). */
const BENCH_BIN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", ".build", "bin");

/**
 * Where the benches (and the model tests that start llama.cpp's tools) look for one: the run's
 * places (the build cache the environment names, then PATH) with bench/.build/bin between them.
 * The product itself never looks under bench/.
 */
export function benchToolSearch(env: Pick<Env, "llamaCppCache"> = readEnv()): ToolSearch {
  return { cacheRoot: env.llamaCppCache, binDirs: [BENCH_BIN_DIR] };
}

/** A llama.cpp tool where the benches look (benchToolSearch), or undefined. */
export function findBenchTool(name: string): string | undefined {
  return findLlamaCppTool(name, benchToolSearch());
}

export interface LlamaCppTools {
  bench: string;
  batchedBench: string;
  server: string;
  /** Contents of bench/.build/bin/build-info.json (commit, CPU variant). */
  buildInfo: Record<string, string>;
}

/** The built tools, or a list of what is missing. */
export function findLlamaCppTools(binDir = BENCH_BIN_DIR): LlamaCppTools | { missing: string[] } {
  const names = { bench: "llama-bench", batchedBench: "llama-batched-bench", server: "llama-server" } as const;
  const missing = Object.values(names).filter((n) => !fs.existsSync(path.join(binDir, n)));
  if (missing.length > 0) return { missing };
  let buildInfo: Record<string, string> = {};
  try {
    buildInfo = JSON.parse(fs.readFileSync(path.join(binDir, "build-info.json"), "utf8"));
  } catch {
    // built by hand: no info
  }
  return {
    bench: path.join(binDir, names.bench),
    batchedBench: path.join(binDir, names.batchedBench),
    server: path.join(binDir, names.server),
    buildInfo,
  };
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(bin: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface LlamaCppRunOptions {
  model: string;
  threads: number;
  /** Generated tokens per sequence. */
  tokens: number;
  /** Flash attention: "auto" is both llama.cpp's and node-llama-cpp's default. */
  flashAttention?: "auto" | "on" | "off";
  timeoutMs?: number;
}

/** llama-bench text generation (`-p 0 -n tokens`): one tok/s sample per repetition. */
export async function runLlamaBench(bin: string, o: LlamaCppRunOptions & { repetitions: number }): Promise<number[]> {
  const args = [
    "-m",
    o.model,
    "-t",
    String(o.threads),
    "-p",
    "0",
    "-n",
    String(o.tokens),
    "-r",
    String(o.repetitions),
    "-fa",
    o.flashAttention ?? "auto",
    "-o",
    "json",
  ];
  const r = await run(bin, args, o.timeoutMs ?? 600_000);
  if (r.code !== 0) throw new Error(`llama-bench failed (${r.code}): ${r.stderr.slice(-2000)}`);
  const rows = JSON.parse(r.stdout) as Array<{ n_gen: number; samples_ts?: number[]; avg_ts: number }>;
  const row = rows.find((x) => x.n_gen === o.tokens);
  if (!row) throw new Error(`llama-bench printed no tg${o.tokens} row: ${r.stdout.slice(0, 500)}`);
  return row.samples_ts ?? [row.avg_ts];
}

/** llama-batched-bench: aggregate generation tok/s (S_TG) of `sequences` parallel sequences, one run. */
export async function runBatchedBench(bin: string, o: LlamaCppRunOptions & { sequences: number; promptTokens: number }): Promise<number> {
  const ctx = o.sequences * (o.promptTokens + o.tokens + 16);
  const args = [
    "-m",
    o.model,
    "-t",
    String(o.threads),
    "-tb",
    String(o.threads),
    "-c",
    String(ctx),
    "-b",
    "2048",
    "-ub",
    "512",
    "-npp",
    String(o.promptTokens),
    "-ntg",
    String(o.tokens),
    "-npl",
    String(o.sequences),
    "-fa",
    o.flashAttention ?? "auto",
    "--output-format",
    "jsonl",
  ];
  const r = await run(bin, args, o.timeoutMs ?? 600_000);
  if (r.code !== 0) throw new Error(`llama-batched-bench failed (${r.code}): ${r.stderr.slice(-2000)}`);
  const line = (r.stdout + r.stderr).split("\n").find((l) => l.trim().startsWith("{") && l.includes('"speed_tg"'));
  if (!line) throw new Error(`llama-batched-bench printed no jsonl row: ${r.stdout.slice(-1000)} ${r.stderr.slice(-1000)}`);
  return (JSON.parse(line) as { speed_tg: number }).speed_tg;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

export interface LlamaServerHandle {
  url: string;
  stop(): Promise<void>;
}

/** Starts llama-server on a free loopback port and waits until /health answers 200. */
export async function startLlamaServer(
  bin: string,
  o: { model: string; threads: number; parallel: number; contextPerSlot: number; flashAttention?: "auto" | "on" | "off" },
): Promise<LlamaServerHandle> {
  const port = await freePort();
  const args = [
    "-m",
    o.model,
    "-t",
    String(o.threads),
    "-tb",
    String(o.threads),
    "-c",
    String(o.parallel * o.contextPerSlot),
    "-np",
    String(o.parallel),
    "-fa",
    o.flashAttention ?? "auto",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "-cram",
    "0",
  ];
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-20000);
  });
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`llama-server exited (${child.exitCode}): ${log.slice(-2000)}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`llama-server did not become healthy: ${log.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface SamplingSettings {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  seed: number;
}

export interface CompletionTiming {
  /** Generated tokens. */
  predicted: number;
  /** Generation time in ms, excluding prompt processing (the server's own timer). */
  predictedMs: number;
  /** Wall time of the whole request in ms. */
  wallMs: number;
}

/** One /completion request with sampling; EOS ignored so every request generates `tokens`. */
export async function serverComplete(url: string, prompt: string, tokens: number, s: SamplingSettings): Promise<CompletionTiming> {
  const t0 = performance.now();
  const res = await fetch(`${url}/completion`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      prompt,
      n_predict: tokens,
      ignore_eos: true,
      cache_prompt: false,
      temperature: s.temperature,
      top_k: s.topK,
      top_p: s.topP,
      min_p: s.minP,
      seed: s.seed,
      repeat_penalty: 1.0,
    }),
  });
  if (!res.ok) throw new Error(`llama-server /completion: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { timings: { predicted_n: number; predicted_ms: number } };
  return { predicted: body.timings.predicted_n, predictedMs: body.timings.predicted_ms, wallMs: performance.now() - t0 };
}
