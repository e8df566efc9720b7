/**
 * The job benchmark's engine mode: the same slice as replay mode through the real pipeline on a
 * loaded model (a synthetic-shape GGUF by default), timed. Per call: waiting for a sequence, prompt
 * evaluation (until the first generated text), generation (grammar sampling included: node-llama-cpp
 * does not report it apart); per run: research, code check and checkpoint time; the finishing
 * curve of files; llama.cpp's lower bound for the same tokens (llama-bench prompt processing and
 * llama-batched-bench generation at the concurrency reached) when bench/.build/bin has the tools;
 * and a timeline of calls per sequence (SVG).
 */
import { spawnSync } from "node:child_process";
import { setMaxListeners } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import { filesInFlight } from "../../nodes/processFile.ts";
import { LlamaModelBackend, openLlama } from "../../src/llm/LlamaBackend.ts";
import type { Role } from "../../src/llm/roles.ts";
import type { BackendRequest, BackendResult, ModelBackend } from "../../src/llm/types.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";
import { InputSetProvider } from "../../src/research/InputSetProvider.ts";
import type { ResearchProvider } from "../../src/research/types.ts";
import { createServices } from "../../src/run/createServices.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { CodeCheckCache } from "../../src/validate/CodeCheckCache.ts";
import { RustChecker } from "../../src/validate/rustCheck.ts";
import { findLlamaCppTools, runBatchedBench } from "../llamacpp/tools.ts";
import type { TimelineCall } from "./timelineSvg.ts";

export interface EngineOptions {
  modelPath: string;
  corpusDir: string;
  files: string[];
  threads: number;
  sequences: number;
  roleCaps: Partial<Record<Role, number>>;
  concurrency: number;
  contextSize: number;
  rustc: boolean;
  log: (line: string) => void;
}

export interface EngineCall extends TimelineCall {
  queued: number;
  promptTokens: number;
  reusedPromptTokens: number;
  generatedTokens: number;
}

export interface EngineResult {
  mode: "engine";
  model: string;
  threads: number;
  sequences: number;
  filesInFlight: number;
  files: number;
  calls: number;
  promptTokens: number;
  reusedPromptTokens: number;
  evaluatedPromptTokens: number;
  generatedTokens: number;
  sourceTokens: number;
  wallMs: number;
  /** Sums over calls (sequence-seconds: calls overlap). */
  seconds: { waitingForSequence: number; promptEvaluation: number; generationWithGrammar: number; research: number; codeCheck: number; checkpointing: number };
  byRole: Partial<Record<Role, { calls: number; evaluatedPromptTokens: number; generatedTokens: number; seconds: number }>>;
  /** Milliseconds from the start at which each file finished, in order. */
  fileFinishedMs: number[];
  peakConcurrentCalls: number;
  lowerBound?: { ppTokPerSec: number; tgTokPerSec: number; atSequences: number; seconds: number; efficiency: number; build: string };
  lowerBoundMissing?: string;
  timeline: EngineCall[];
}

/** Wraps a backend to time every call and record which sequence served it. */
class TimedBackend implements ModelBackend {
  readonly calls: EngineCall[] = [];
  private active = 0;
  peak = 0;
  constructor(
    private readonly inner: ModelBackend,
    private readonly t0: number,
  ) {}
  get modelId(): string {
    return this.inner.modelId;
  }
  get contextTokens(): number {
    return this.inner.contextTokens;
  }
  countTokens(text: string): number {
    return this.inner.countTokens(text);
  }
  async generate(request: BackendRequest): Promise<BackendResult> {
    const now = () => performance.now() - this.t0;
    const queued = now();
    let start = queued;
    let first = -1;
    const result = await this.inner.generate({
      ...request,
      onStart: () => {
        start = now();
        this.peak = Math.max(this.peak, ++this.active);
        request.onStart?.();
      },
      onFirstToken: () => {
        first = now();
      },
    });
    this.active--;
    const end = now();
    this.calls.push({
      sequence: result.sequence ?? 0,
      role: request.role,
      file: request.affinityKey ?? "(run)",
      queued,
      start,
      firstToken: first < 0 ? end : first,
      end,
      promptTokens: result.inputTokens,
      reusedPromptTokens: result.reusedInputTokens ?? 0,
      generatedTokens: result.outputTokens,
    });
    return result;
  }
}

export async function runEngine(o: EngineOptions): Promise<EngineResult> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "kb-job-engine-"));
  const input = path.join(work, "input");
  const out = path.join(work, "kb");
  fs.mkdirSync(input);
  const llama = await openLlama({ maxThreads: o.threads, gpu: "auto" });
  try {
    const model = await LlamaModelBackend.load(llama, {
      modelPath: o.modelPath,
      sequences: o.sequences,
      contextSize: o.contextSize,
      threads: o.threads,
      roleCaps: o.roleCaps,
    });
    let sourceTokens = 0;
    for (const rel of o.files) {
      const src = path.join(o.corpusDir, rel);
      fs.copyFileSync(src, path.join(input, path.basename(rel)));
      sourceTokens += model.countTokens(fs.readFileSync(src, "utf8"));
    }
    const t0 = performance.now();
    const timed = new TimedBackend(model, t0);
    const spent = { research: 0, codeCheck: 0, checkpointing: 0 };
    const time = async <T>(key: keyof typeof spent, fn: () => Promise<T>): Promise<T> => {
      const s = performance.now();
      try {
        return await fn();
      } finally {
        spent[key] += performance.now() - s;
      }
    };
    const db = RunDatabase.open(path.join(work, "runs.sqlite"));
    const inputProvider = new InputSetProvider(db);
    const research: ResearchProvider = { name: inputProvider.name, search: (q) => time("research", () => inputProvider.search(q)) };
    const checker = new RustChecker({ cache: new CodeCheckCache(db.connection), forbiddenDirs: [input, out], ...(o.rustc ? {} : { rustc: false }) });
    const fileFinishedMs: number[] = [];
    const onEvent = (e: PipelineEvent) => {
      if (e.type === "file_finished") fileFinishedMs.push(performance.now() - t0);
    };
    const services = createServices({
      db,
      backendFor: () => timed,
      events: onEvent,
      research: [research],
      codeCheck: { check: (code, lang) => time("codeCheck", () => checker.check(code, lang)) },
    });
    const checkpointer = db.checkpointer();
    for (const method of ["put", "putWrites"] as const) {
      const original = checkpointer[method].bind(checkpointer) as (...a: unknown[]) => Promise<unknown>;
      (checkpointer as unknown as Record<string, unknown>)[method] = (...a: unknown[]) => time("checkpointing", () => original(...a));
    }
    const abort = new AbortController();
    setMaxListeners(0, abort.signal);
    o.log(`engine: ${o.files.length} files on ${path.basename(o.modelPath)}, ${o.sequences} sequences, ${o.threads} threads…`);
    try {
      const graph = buildPipelineGraph(services.deps, { concurrency: o.concurrency, sequences: o.sequences, checkpointer });
      await graph.invoke(
        { inputDir: input, outDir: out, exclude: [path.join(work, "runs.sqlite"), out] },
        { configurable: { thread_id: "engine" }, signal: abort.signal, recursionLimit: 500, durability: "sync" },
      );
    } finally {
      services.close();
      db.close();
    }
    const wallMs = performance.now() - t0;
    await model.dispose();
    const calls = timed.calls;
    const sum = (f: (c: EngineCall) => number, list: readonly EngineCall[] = calls) => list.reduce((a, c) => a + f(c), 0);
    const promptTokens = sum((c) => c.promptTokens);
    const reused = sum((c) => c.reusedPromptTokens);
    const generated = sum((c) => c.generatedTokens);
    const byRole: EngineResult["byRole"] = {};
    for (const role of new Set(calls.map((c) => c.role as Role))) {
      const mine = calls.filter((c) => c.role === role);
      byRole[role] = {
        calls: mine.length,
        evaluatedPromptTokens: sum((c) => c.promptTokens - c.reusedPromptTokens, mine),
        generatedTokens: sum((c) => c.generatedTokens, mine),
        seconds: sum((c) => c.end - c.start, mine) / 1000,
      };
    }
    const result: EngineResult = {
      mode: "engine",
      model: path.basename(o.modelPath),
      threads: o.threads,
      sequences: o.sequences,
      filesInFlight: filesInFlight(o.concurrency, o.sequences),
      files: o.files.length,
      calls: calls.length,
      promptTokens,
      reusedPromptTokens: reused,
      evaluatedPromptTokens: promptTokens - reused,
      generatedTokens: generated,
      sourceTokens,
      wallMs,
      seconds: {
        waitingForSequence: sum((c) => c.start - c.queued) / 1000,
        promptEvaluation: sum((c) => c.firstToken - c.start) / 1000,
        generationWithGrammar: sum((c) => c.end - c.firstToken) / 1000,
        research: spent.research / 1000,
        codeCheck: spent.codeCheck / 1000,
        checkpointing: spent.checkpointing / 1000,
      },
      byRole,
      fileFinishedMs,
      peakConcurrentCalls: timed.peak,
      timeline: calls,
    };
    const tools = findLlamaCppTools();
    if ("missing" in tools) result.lowerBoundMissing = `llama.cpp tools not built (${tools.missing.join(", ")}): bash bench/llamacpp/build.sh`;
    else {
      o.log("engine: llama.cpp lower bound (llama-bench pp512, llama-batched-bench tg)…");
      try {
        const pp = llamaBenchPromptRate(tools.bench, o.modelPath, o.threads);
        const atSequences = Math.max(1, timed.peak);
        const tg = await runBatchedBench(tools.batchedBench, { model: o.modelPath, threads: o.threads, tokens: 128, sequences: atSequences, promptTokens: 64 });
        const seconds = result.evaluatedPromptTokens / pp + generated / tg;
        result.lowerBound = {
          ppTokPerSec: pp,
          tgTokPerSec: tg,
          atSequences,
          seconds,
          efficiency: seconds / (wallMs / 1000),
          build: tools.buildInfo.commit ?? "?",
        };
      } catch (e) {
        result.lowerBoundMissing = `llama.cpp tools failed: ${(e as Error).message.slice(0, 300)}`;
      }
    }
    return result;
  } finally {
    await llama.dispose();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** llama-bench prompt processing rate (pp512), tok/s. */
function llamaBenchPromptRate(bin: string, model: string, threads: number): number {
  const r = spawnSync(bin, ["-m", model, "-t", String(threads), "-p", "512", "-n", "0", "-r", "3", "-o", "json"], { encoding: "utf8", timeout: 600_000 });
  if (r.status !== 0) throw new Error(`llama-bench failed (${r.status}): ${String(r.stderr).slice(-2000)}`);
  const rows = JSON.parse(r.stdout) as Array<{ n_prompt: number; n_gen: number; avg_ts: number }>;
  const row = rows.find((x) => x.n_prompt === 512 && x.n_gen === 0);
  if (!row) throw new Error(`llama-bench printed no pp512 row: ${r.stdout.slice(0, 500)}`);
  return row.avg_ts;
}

export function engineMarkdown(r: EngineResult): string {
  const s = (x: number) => `${x.toFixed(1)} s`;
  const lines = [
    `### Engine mode: ${r.model}`,
    "",
    `${r.files} files, ${r.threads} threads, ${r.sequences} sequences, ${r.filesInFlight} files in flight at most, ${r.peakConcurrentCalls} calls at once at the peak.`,
    "",
    `- wall ${s(r.wallMs / 1000)} (${s(r.wallMs / 1000 / Math.max(1, r.files))} per file); ${r.calls} calls; ${r.evaluatedPromptTokens} prompt tokens evaluated of ${r.promptTokens} (${r.reusedPromptTokens} from the KV cache), ${r.generatedTokens} generated, ${r.sourceTokens} source tokens (${(r.evaluatedPromptTokens / Math.max(1, r.sourceTokens)).toFixed(2)} evaluated per source token)`,
    `- files finished at: ${r.fileFinishedMs.map((ms) => s(ms / 1000)).join(", ")}`,
    r.lowerBound
      ? `- llama.cpp lower bound for the same tokens: ${s(r.lowerBound.seconds)} (pp512 ${r.lowerBound.ppTokPerSec.toFixed(0)} tok/s, tg at ${r.lowerBound.atSequences} sequences ${r.lowerBound.tgTokPerSec.toFixed(0)} tok/s, build ${r.lowerBound.build}); **job efficiency ${(r.lowerBound.efficiency * 100).toFixed(0)}%**`
      : `- llama.cpp lower bound: not measured (${r.lowerBoundMissing ?? "?"})`,
    "",
    "| phase (summed over calls/operations; they overlap) | seconds |",
    "|---|---|",
    `| waiting for a sequence | ${s(r.seconds.waitingForSequence)} |`,
    `| prompt evaluation (until the first generated text) | ${s(r.seconds.promptEvaluation)} |`,
    `| generation, grammar sampling included | ${s(r.seconds.generationWithGrammar)} |`,
    `| research | ${s(r.seconds.research)} |`,
    `| code check | ${s(r.seconds.codeCheck)} |`,
    `| checkpointing | ${s(r.seconds.checkpointing)} |`,
    "",
    "| role | calls | evaluated prompt tokens | generated | seconds in calls |",
    "|---|---|---|---|---|",
    ...Object.entries(r.byRole).map(([role, f]) => `| ${role} | ${f.calls} | ${f.evaluatedPromptTokens} | ${f.generatedTokens} | ${s(f.seconds)} |`),
    "",
  ];
  return lines.join("\n");
}
