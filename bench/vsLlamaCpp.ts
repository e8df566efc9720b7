/**
 * Our model layer against llama.cpp's own tools on the same synthetic-shape GGUF, same threads,
 * same token counts. Not part of CI: it needs bench/llamacpp/build.sh to have run (~15 min on 2
 * cores) and takes minutes per shape.
 *
 *   npx tsx bench/vsLlamaCpp.ts [--shape qwen2.5-0.5b,smollm2-135m] [--quant Q4_K_M] [--threads 2]
 *                               [--tokens 128] [--runs 3] [--sequences 16] [--temperature 0.8]
 *                               [--label before] [--out docs/bench/vs-llama-cpp.md]
 *
 * Prints a markdown report and writes it into --out under a section named by --label (replacing
 * an earlier section of that label, so "before" and "after" runs sit side by side).
 */

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureSyntheticModel, type SyntheticModelQuant } from "../src/gguf/ensureSyntheticModel.ts";
import { isSyntheticShapeName, SYNTHETIC_SHAPES, type SyntheticShapeName } from "../src/gguf/writeSyntheticGguf.ts";
import type { ModelBackend } from "../src/llm/types.ts";
import {
  benchToolSearch,
  findBenchTool,
  findLlamaCppTools,
  type LlamaCppTools,
  runBatchedBench,
  runLlamaBench,
  type SamplingSettings,
  serverComplete,
  startLlamaServer,
} from "./llamacpp/tools.ts";
import { benchModelLayer } from "./modelLayerBench.ts";
import { quietSample } from "./quiet.ts";
import { formatSummary, ratio, type Summary, summarize } from "./stats.ts";

export interface VsLlamaCppOptions {
  shapes: SyntheticShapeName[];
  quant: SyntheticModelQuant;
  threads: number;
  tokens: number;
  runs: number;
  sequences: number;
  temperature: number;
  label: string;
  out: string;
  /** Which of our backends to measure ("llama" = LlamaModelBackend in-process). */
  backends: string[];
  /** Skip llama.cpp's tools (only our layer). */
  oursOnly: boolean;
  /** Wait for other processes to be idle before each sample and retry contaminated ones (default on). */
  quiet: boolean;
}

export function parseVsLlamaCppArgs(argv: readonly string[]): VsLlamaCppOptions {
  const o: VsLlamaCppOptions = {
    shapes: ["qwen2.5-0.5b", "smollm2-135m"],
    quant: "Q4_K_M",
    threads: Math.max(1, os.availableParallelism()),
    tokens: 128,
    runs: 3,
    sequences: 16,
    temperature: 0.8,
    label: "latest",
    out: "docs/bench/vs-llama-cpp.md",
    backends: ["llama"],
    oursOnly: false,
    quiet: true,
  };
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number >= ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case "--shape": {
        const names = (v ?? "").split(",").filter(Boolean);
        for (const n of names) if (!isSyntheticShapeName(n)) throw new Error(`unknown shape ${n} (known: ${Object.keys(SYNTHETIC_SHAPES).join(", ")})`);
        o.shapes = names as SyntheticShapeName[];
        i++;
        break;
      }
      case "--quant":
        if (v !== "Q4_K_M" && v !== "Q8_0" && v !== "F16") throw new Error(`--quant must be Q4_K_M, Q8_0 or F16, got ${v}`);
        o.quant = v;
        i++;
        break;
      case "--threads":
        o.threads = Math.floor(num(a, v, 1));
        i++;
        break;
      case "--tokens":
        o.tokens = Math.floor(num(a, v, 2));
        i++;
        break;
      case "--runs":
        o.runs = Math.floor(num(a, v, 1));
        i++;
        break;
      case "--sequences":
        o.sequences = Math.floor(num(a, v, 1));
        i++;
        break;
      case "--temperature":
        o.temperature = num(a, v, 0);
        i++;
        break;
      case "--label":
        if (!v || !/^[\w.-]+$/.test(v)) throw new Error("--label needs a word");
        o.label = v;
        i++;
        break;
      case "--out":
        if (!v) throw new Error("--out needs a path");
        o.out = v;
        i++;
        break;
      case "--backend":
        o.backends = (v ?? "").split(",").filter(Boolean);
        i++;
        break;
      case "--ours-only":
        o.oursOnly = true;
        break;
      case "--no-quiet":
        o.quiet = false;
        break;
      default:
        throw new Error(`unknown argument ${a}`);
    }
  }
  return o;
}

const PROMPTS = [
  "Summarize the ownership rules of Rust in three short sentences for a new team member.",
  "List the trade-offs of using Arc<Mutex<T>> versus message passing between threads in Rust.",
  "Explain when a Rust library should return Result instead of panicking, with one example.",
  "Describe the builder pattern in Rust and when it beats a constructor with many arguments.",
];

interface ShapeResult {
  shape: SyntheticShapeName;
  file: string;
  bytes: number;
  llamaBench?: Summary;
  batched?: Summary;
  server1?: Summary;
  serverN?: Summary;
  ours: Record<string, { one: Summary; many: Summary }>;
}

/** Sample bookkeeping for the report: how many samples were retried because others used the CPU. */
const gateStats = { discarded: 0, maxOtherShare: 0 };

function gateFor(o: VsLlamaCppOptions): <T>(measure: () => Promise<T>) => Promise<T> {
  return async (measure) => {
    if (!o.quiet) return await measure();
    const s = await quietSample(measure);
    gateStats.discarded += s.discarded;
    gateStats.maxOtherShare = Math.max(gateStats.maxOtherShare, s.otherShare);
    return s.value;
  };
}

/** Server generation rate by the same difference method as the model layer (see modelLayerBench.ts). */
async function benchServer(url: string, n: number, o: VsLlamaCppOptions, s: SamplingSettings): Promise<number[]> {
  const fire = async (tokens: number) => {
    const t0 = performance.now();
    const r = await Promise.all(
      Array.from({ length: n }, (_, i) => serverComplete(url, chatml(PROMPTS[i % PROMPTS.length] ?? ""), tokens, { ...s, seed: s.seed + i })),
    );
    return { tokens: r.reduce((a, x) => a + x.predicted, 0), ms: performance.now() - t0 };
  };
  await fire(4);
  const samples: number[] = [];
  const gate = gateFor(o);
  for (let r = 0; r < o.runs; r++)
    samples.push(
      await gate(async () => {
        const short = await fire(1);
        const long = await fire(o.tokens);
        return ((long.tokens - short.tokens) / (long.ms - short.ms)) * 1000;
      }),
    );
  return samples;
}

function chatml(user: string): string {
  return `<|im_start|>system\nYou are a benchmark.<|im_end|>\n<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n`;
}

async function loadBackend(kind: string, model: string, o: VsLlamaCppOptions, sequences: number): Promise<{ backend: ModelBackend; dispose(): Promise<void> }> {
  if (kind !== "llama" && kind !== "server") throw new Error(`unknown backend ${kind} (known: llama, server)`);
  const { openLlama, LlamaModelBackend } = await import("../src/llm/LlamaBackend.ts");
  const { LlamaServerBackend } = await import("../src/llm/LlamaServerBackend.ts");
  const llama = await openLlama({ maxThreads: o.threads, gpu: false });
  const common = { modelPath: model, sequences, contextSize: o.tokens + 256, threads: o.threads, roleCaps: { extractor: sequences } };
  const backend =
    kind === "llama"
      ? await LlamaModelBackend.load(llama, common)
      : await LlamaServerBackend.start(llama, { ...common, serverBin: findBenchTool("llama-server") });
  return {
    backend,
    async dispose() {
      await backend.dispose();
      await llama.dispose();
    },
  };
}

function load(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(", ");
}

function log(line: string): void {
  process.stderr.write(`[vs-llama-cpp] ${line}\n`);
}

async function benchShape(shape: SyntheticShapeName, o: VsLlamaCppOptions, tools: LlamaCppTools | undefined): Promise<ShapeResult> {
  const file = await ensureSyntheticModel({ toolSearch: benchToolSearch(), shape, quant: o.quant, threads: o.threads, onProgress: log });
  const res: ShapeResult = { shape, file, bytes: fs.statSync(file).size, ours: {} };
  const sampling: SamplingSettings = { temperature: o.temperature, topK: 40, topP: 0.95, minP: 0, seed: 1 };
  if (tools) {
    const gate = gateFor(o);
    log(`${shape}: llama-bench`);
    const single: number[] = [];
    for (let r = 0; r < o.runs; r++)
      single.push(...(await gate(() => runLlamaBench(tools.bench, { model: file, threads: o.threads, tokens: o.tokens, repetitions: 1 }))));
    res.llamaBench = summarize(single);
    log(`${shape}: llama-batched-bench x${o.sequences}`);
    const batched: number[] = [];
    for (let r = 0; r < o.runs; r++)
      batched.push(
        await gate(() => runBatchedBench(tools.batchedBench, { model: file, threads: o.threads, tokens: o.tokens, sequences: o.sequences, promptTokens: 32 })),
      );
    res.batched = summarize(batched);
    for (const n of [1, o.sequences]) {
      log(`${shape}: llama-server, ${n} concurrent request(s)`);
      const server = await startLlamaServer(tools.server, { model: file, threads: o.threads, parallel: n, contextPerSlot: o.tokens + 256 });
      try {
        const s = summarize(await benchServer(server.url, n, o, sampling));
        if (n === 1) res.server1 = s;
        else res.serverN = s;
      } finally {
        await server.stop();
      }
    }
  }
  for (const kind of o.backends) {
    const r: { one?: Summary; many?: Summary } = {};
    for (const n of [1, o.sequences]) {
      log(`${shape}: our model layer (${kind}), ${n} sequence(s)`);
      const { backend, dispose } = await loadBackend(kind, file, o, n);
      try {
        const samples = await benchModelLayer(backend, {
          sequences: n,
          tokens: o.tokens,
          repetitions: o.runs,
          temperature: o.temperature,
          prompts: PROMPTS,
          gate: gateFor(o),
        });
        if (n === 1) r.one = summarize(samples);
        else r.many = summarize(samples);
      } finally {
        await dispose();
      }
    }
    res.ours[kind] = { one: r.one ?? summarize([]), many: r.many ?? summarize([]) };
  }
  return res;
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  return `${cpu}, ${os.availableParallelism()} logical cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.platform()} ${os.arch()}, Node ${process.version}`;
}

function nodeLlamaCppVersion(): string {
  try {
    return JSON.parse(fs.readFileSync("node_modules/node-llama-cpp/package.json", "utf8")).version;
  } catch {
    return "?";
  }
}

export function renderReport(
  o: VsLlamaCppOptions,
  results: ShapeResult[],
  meta: { started: string; loadBefore: string; loadAfter: string; build: string },
): string {
  const L: string[] = [];
  L.push(`### ${o.label} — ${meta.started}`);
  L.push("");
  L.push(
    `Machine: ${machine()}. Load average (1/5/15 min) before: ${meta.loadBefore}; after: ${meta.loadAfter}. node-llama-cpp ${nodeLlamaCppVersion()}; llama.cpp tools ${meta.build}. UV_THREADPOOL_SIZE of this process (in-process backends): ${process.env.UV_THREADPOOL_SIZE ?? "unset (libuv default 4)"}.`,
  );
  L.push(
    `Models: SYNTHETIC random-weight GGUFs in the exact shape of the named models (${o.quant}, from src/gguf/writeSyntheticGguf.ts + llama-quantize). Threads ${o.threads}, ${o.tokens} generated tokens per sequence, ${o.sequences} sequences, sampling: temperature ${o.temperature}, top-k 40, top-p 0.95 (llama-bench and llama-batched-bench do not sample). Figures are generation tok/s (aggregate over sequences), median (min-max) of ${o.runs} runs. ${o.quiet ? `Each sample waited for other processes to go idle and was retried if they used more than 10% of a core meanwhile (${gateStats.discarded} retried; highest share of a core used by others in a kept sample: ${(gateStats.maxOtherShare * 100).toFixed(0)}%).` : "Samples were taken without waiting for a quiet machine (--no-quiet)."}`,
  );
  L.push("");
  const kinds = o.backends;
  L.push(
    `| shape (file MB) | llama-bench 1 stream | llama-server 1 request | ${kinds.map((k) => `ours (${k}) 1 seq | vs server | vs llama-bench`).join(" | ")} |`,
  );
  L.push(`|---|---|---|${kinds.map(() => "---|---|---").join("|")}|`);
  for (const r of results) {
    const cells = kinds.map((k) => {
      const ours = r.ours[k];
      if (!ours) return "— | — | —";
      return `${formatSummary(ours.one)} | ${r.server1 ? ratio(ours.one, r.server1) : "—"} | ${r.llamaBench ? ratio(ours.one, r.llamaBench) : "—"}`;
    });
    L.push(
      `| ${r.shape} (${(r.bytes / 1e6).toFixed(0)}) | ${r.llamaBench ? formatSummary(r.llamaBench) : "—"} | ${r.server1 ? formatSummary(r.server1) : "—"} | ${cells.join(" | ")} |`,
    );
  }
  L.push("");
  const n = o.sequences;
  L.push(
    `| shape | llama-batched-bench ${n} seq | llama-server ${n} requests | ${kinds.map((k) => `ours (${k}) ${n} seq | vs batched-bench | vs server`).join(" | ")} |`,
  );
  L.push(`|---|---|---|${kinds.map(() => "---|---|---").join("|")}|`);
  for (const r of results) {
    const cells = kinds.map((k) => {
      const ours = r.ours[k];
      if (!ours) return "— | — | —";
      return `${formatSummary(ours.many)} | ${r.batched ? ratio(ours.many, r.batched) : "—"} | ${r.serverN ? ratio(ours.many, r.serverN) : "—"}`;
    });
    L.push(`| ${r.shape} | ${r.batched ? formatSummary(r.batched) : "—"} | ${r.serverN ? formatSummary(r.serverN) : "—"} | ${cells.join(" | ")} |`);
  }
  L.push("");
  return L.join("\n");
}

/** Replaces (or appends) the section of this label in the report file. */
export function upsertSection(existing: string, label: string, section: string): string {
  const start = `<!-- vs-llama-cpp:${label}:start -->`;
  const end = `<!-- vs-llama-cpp:${label}:end -->`;
  const block = `${start}\n${section}\n${end}`;
  const i = existing.indexOf(start);
  const j = existing.indexOf(end);
  if (i >= 0 && j > i) return existing.slice(0, i) + block + existing.slice(j + end.length);
  return `${existing.trimEnd()}\n\n${block}\n`;
}

export async function runVsLlamaCpp(o: VsLlamaCppOptions): Promise<string> {
  const found = o.oursOnly ? undefined : findLlamaCppTools();
  if (found && "missing" in found)
    throw new Error(`llama.cpp tools missing (${found.missing.join(", ")}): run \`bash bench/llamacpp/build.sh\` first (or pass --ours-only)`);
  const tools = found;
  const started = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const loadBefore = load();
  const results: ShapeResult[] = [];
  for (const shape of o.shapes) results.push(await benchShape(shape, o, tools));
  const build = tools ? `${tools.buildInfo.commit?.slice(0, 7) ?? "?"} (${tools.buildInfo.variant ?? "?"} CPU variant)` : "not run";
  const section = renderReport(o, results, { started, loadBefore, loadAfter: load(), build });
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  const existing = fs.existsSync(o.out) ? fs.readFileSync(o.out, "utf8") : "# Our model layer vs llama.cpp's own tools\n";
  fs.writeFileSync(o.out, upsertSection(existing, o.label, section));
  return section;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (isMain) {
  try {
    const options = parseVsLlamaCppArgs(process.argv.slice(2));
    const section = await runVsLlamaCpp(options);
    process.stdout.write(`${section}\n`);
    try {
      process.stderr.write(`uptime: ${execFileSync("uptime").toString()}`);
    } catch {
      // no uptime binary
    }
  } catch (e) {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  }
}
