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
import { EventEmitter, setMaxListeners } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import { filesInFlight } from "../../nodes/processFile.ts";
import { CPU_HOLD_MS, cpuCallsAtOnce, cpuFilesInFlight } from "../../src/llm/cpuFilesInFlight.ts";
import { LlamaModelBackend, openLlama } from "../../src/llm/LlamaBackend.ts";
import { LlamaServerBackend } from "../../src/llm/LlamaServerBackend.ts";
import type { Role } from "../../src/llm/roles.ts";
import type { BackendRequest, BackendResult, ModelBackend } from "../../src/llm/types.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";
import { InputSetProvider } from "../../src/research/InputSetProvider.ts";
import type { ResearchProvider } from "../../src/research/types.ts";
import { createServices } from "../../src/run/createServices.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { CodeCheckCache } from "../../src/validate/CodeCheckCache.ts";
import { RustChecker } from "../../src/validate/rustCheck.ts";
import { findBenchTool, findLlamaCppTools, runBatchedBench } from "../llamacpp/tools.ts";
import { type EtaAccuracy, etaAccuracy, etaAccuracyText, type TimedEvent } from "./etaAccuracy.ts";
import type { TimelineCall } from "./timelineSvg.ts";

export interface EngineOptions {
  modelPath: string;
  corpusDir: string;
  files: string[];
  threads: number;
  sequences: number;
  roleCaps: Partial<Record<Role, number>>;
  concurrency: number;
  /** Apply the run's CPU rule (src/llm/cpuFilesInFlight.ts: files in flight, calls at once) when llama.cpp finds no GPU, as a run without --concurrency does. */
  cpuFilesInFlight?: boolean;
  contextSize: number;
  rustc: boolean;
  /** The engine: node-llama-cpp in this process, or llama.cpp's llama-server (the default engine where it is built). */
  backend: "node-llama-cpp" | "llama-server";
  /** false: requests go out without their JSON schema (free generation; answers validated as usual). */
  grammar: boolean;
  log: (line: string) => void;
}

/** Per role: calls asked (first attempts), answers that parsed and validated on that first attempt, and repair rounds. */
export interface FirstTry {
  asked: number;
  validFirst: number;
  /** Writer calls of a second or later round (r2, r3…): drafts the validator sent back. */
  repairRounds: number;
}

export interface EngineCall extends TimelineCall {
  callKey: string;
  /** The answer's first 400 characters (kept only without the grammar). */
  text?: string;
  queued: number;
  promptTokens: number;
  reusedPromptTokens: number;
  generatedTokens: number;
}

export interface EngineResult {
  mode: "engine";
  model: string;
  backend: EngineOptions["backend"];
  grammar: boolean;
  /** Files processed / quarantined (file_finished events). */
  processed: number;
  quarantined: number;
  firstTry: Partial<Record<Role, FirstTry>>;
  /** Without the grammar: up to 12 answers that did not parse or validate (the first 400 characters), to see what free generation gets wrong. */
  failedAnswers?: { callKey: string; text: string }[];
  /** Grammar sampling summed over calls, where the engine reports it (patched llama-server). */
  grammarStats?: { checked: number; rejected: number; rejectMs: number };
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
  lowerBound?: { ppTokPerSec: number; tgTokPerSec: number; atSequences: number; seconds: number; efficiency: number; build: string; atDepth?: DepthBound };
  lowerBoundMissing?: string;
  timeline: EngineCall[];
  /** Every progress event of the run, timed (ms from the start): a recording the ETA can be replayed on. */
  events: TimedEvent[];
  /** How right the live display's ETA was, asked once a second during this run (bench/job/etaAccuracy.ts). */
  eta: EtaAccuracy;
}

/**
 * llama.cpp's lower bound at the depths the job's tokens were really processed at: prompt tokens
 * evaluated after the prefix already in the sequence (llama-bench pp512 at depth `ppDepth`), and
 * tokens generated after their call's prompt (llama-batched-bench at `tgDepth`). Attention grows
 * with the tokens a sequence holds, so the shallow bound (pp512 from an empty cache, tg after a
 * 64-token prompt) understates what llama.cpp itself needs for a job whose prompts are thousands
 * of tokens long; both are reported.
 */
export interface DepthBound {
  ppDepth: number;
  tgDepth: number;
  ppTokPerSec: number;
  tgTokPerSec: number;
  seconds: number;
  efficiency: number;
}

/** Token-weighted mean depths of a job's calls: where its prompt tokens were evaluated and its tokens generated. */
export function jobDepths(calls: readonly { promptTokens: number; reusedPromptTokens: number; generatedTokens: number }[]): { pp: number; tg: number } {
  let ppW = 0;
  let pp = 0;
  let tgW = 0;
  let tg = 0;
  for (const c of calls) {
    const evaluated = Math.max(0, c.promptTokens - c.reusedPromptTokens);
    pp += evaluated * (c.reusedPromptTokens + evaluated / 2);
    ppW += evaluated;
    tg += c.generatedTokens * (c.promptTokens + c.generatedTokens / 2);
    tgW += c.generatedTokens;
  }
  return { pp: ppW > 0 ? Math.round(pp / ppW) : 0, tg: tgW > 0 ? Math.round(tg / tgW) : 0 };
}

/** Wraps a backend to time every call and record which sequence served it. */
class TimedBackend implements ModelBackend {
  readonly calls: EngineCall[] = [];
  private active = 0;
  peak = 0;
  grammar?: { checked: number; rejected: number; rejectMs: number };
  constructor(
    private readonly inner: ModelBackend,
    private readonly t0: number,
    private readonly withGrammar: boolean,
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
    const { grammarSchema, ...rest } = request;
    const result = await this.inner.generate({
      ...rest,
      ...(this.withGrammar && grammarSchema ? { grammarSchema } : {}),
      onStart: () => {
        start = now();
        this.peak = Math.max(this.peak, ++this.active);
        request.onStart?.();
      },
      onFirstToken: () => {
        first = now();
        request.onFirstToken?.();
      },
    });
    this.active--;
    const end = now();
    if (result.grammar) {
      const g = this.grammar ?? { checked: 0, rejected: 0, rejectMs: 0 };
      this.grammar = g;
      g.checked += result.grammar.checked;
      g.rejected += result.grammar.rejected;
      g.rejectMs += result.grammar.rejectMs;
    }
    this.calls.push({
      callKey: request.callKey ?? "",
      ...(this.withGrammar ? {} : { text: result.text.slice(0, 400) }),
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
    const common = { modelPath: o.modelPath, sequences: o.sequences, contextSize: o.contextSize, threads: o.threads, roleCaps: o.roleCaps };
    const model =
      o.backend === "llama-server"
        ? await LlamaServerBackend.start(llama, { ...common, serverBin: findBenchTool("llama-server") })
        : await LlamaModelBackend.load(llama, common);
    const cpuRule = o.cpuFilesInFlight === true && llama.gpu === false;
    const concurrency = cpuRule ? Math.min(o.concurrency, cpuFilesInFlight(o.threads)) : o.concurrency;
    if (cpuRule) model.scheduler.limitActive(cpuCallsAtOnce(o.threads), CPU_HOLD_MS);
    let sourceTokens = 0;
    for (const rel of o.files) {
      const src = path.join(o.corpusDir, rel);
      // Relative paths kept: two chapters of one name (idioms/deref.md, anti_patterns/deref.md) stay two files.
      fs.mkdirSync(path.dirname(path.join(input, rel)), { recursive: true });
      fs.copyFileSync(src, path.join(input, rel));
      sourceTokens += model.countTokens(fs.readFileSync(src, "utf8"));
    }
    const t0 = performance.now();
    const timed = new TimedBackend(model, t0, o.grammar);
    // Research, code checks and the model calls' phases are timed by the services (src/progress/TimeSplit.ts), as in every run.
    const spent = { checkpointing: 0 };
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
    const research: ResearchProvider = inputProvider;
    const checker = new RustChecker({ cache: new CodeCheckCache(db.connection), forbiddenDirs: [input, out], ...(o.rustc ? {} : { rustc: false }) });
    const fileFinishedMs: number[] = [];
    const finished = { processed: 0, quarantined: 0 };
    const recorded: TimedEvent[] = [];
    const onEvent = (e: PipelineEvent) => {
      recorded.push({ ms: performance.now() - t0, event: e });
      if (e.type !== "file_finished") return;
      fileFinishedMs.push(performance.now() - t0);
      if (e.status === "processed") finished.processed++;
      if (e.status === "quarantined") finished.quarantined++;
    };
    const services = createServices({
      db,
      backendFor: () => timed,
      events: onEvent,
      research: [research],
      codeCheck: checker,
    });
    const checkpointer = db.checkpointer();
    for (const method of ["put", "putWrites"] as const) {
      const original = checkpointer[method].bind(checkpointer) as (...a: unknown[]) => Promise<unknown>;
      (checkpointer as unknown as Record<string, unknown>)[method] = (...a: unknown[]) => time("checkpointing", () => original(...a));
    }
    const abort = new AbortController();
    // As openPipelineRun: LangGraph adds a listener per Send task to the signals it derives from this one.
    setMaxListeners(0, abort.signal);
    if (EventEmitter.defaultMaxListeners < 1000) setMaxListeners(1000);
    o.log(`engine: ${o.files.length} files on ${path.basename(o.modelPath)}, ${o.sequences} sequences, ${o.threads} threads…`);
    try {
      const graph = buildPipelineGraph(services.deps, { concurrency, sequences: o.sequences, checkpointer });
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
    const split = services.times.totals();
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
      backend: o.backend,
      grammar: o.grammar,
      ...finished,
      firstTry: firstTry(calls),
      ...(o.grammar ? {} : { failedAnswers: failedAnswers(calls) }),
      ...(timed.grammar ? { grammarStats: timed.grammar } : {}),
      threads: o.threads,
      sequences: o.sequences,
      filesInFlight: filesInFlight(concurrency, o.sequences),
      files: o.files.length,
      calls: calls.length,
      promptTokens,
      reusedPromptTokens: reused,
      evaluatedPromptTokens: promptTokens - reused,
      generatedTokens: generated,
      sourceTokens,
      wallMs,
      seconds: {
        waitingForSequence: split.waiting.summedMs / 1000,
        promptEvaluation: split.reading.summedMs / 1000,
        generationWithGrammar: split.generating.summedMs / 1000,
        research: split.research.summedMs / 1000,
        codeCheck: split.codeCheck.summedMs / 1000,
        checkpointing: spent.checkpointing / 1000,
      },
      byRole,
      fileFinishedMs,
      peakConcurrentCalls: timed.peak,
      timeline: calls,
      events: recorded,
      eta: etaAccuracy(recorded, wallMs),
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
        o.log("engine: the same at the job's depths…");
        const depths = jobDepths(calls);
        const ppDeep = llamaBenchPromptRate(tools.bench, o.modelPath, o.threads, depths.pp);
        const tgDeep = await runBatchedBench(tools.batchedBench, {
          model: o.modelPath,
          threads: o.threads,
          tokens: 64,
          sequences: atSequences,
          promptTokens: Math.max(64, depths.tg),
        });
        const deepSeconds = result.evaluatedPromptTokens / ppDeep + generated / tgDeep;
        result.lowerBound = {
          ppTokPerSec: pp,
          tgTokPerSec: tg,
          atSequences,
          seconds,
          efficiency: seconds / (wallMs / 1000),
          build: tools.buildInfo.commit ?? "?",
          atDepth: {
            ppDepth: depths.pp,
            tgDepth: Math.max(64, depths.tg),
            ppTokPerSec: ppDeep,
            tgTokPerSec: tgDeep,
            seconds: deepSeconds,
            efficiency: deepSeconds / (wallMs / 1000),
          },
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

/**
 * First-try validity per role from the calls' keys: a structured call is `<key>#a<attempt>`, and an
 * attempt after the first means the first answer did not parse or validate; writer keys carry the
 * repair round (`…|r2#a0`: the validator sent the draft back).
 */
function firstTry(calls: readonly EngineCall[]): Partial<Record<Role, FirstTry>> {
  const out: Partial<Record<Role, FirstTry>> = {};
  const retried = new Set(calls.flatMap((c) => (/#a[1-9]\d*$/.test(c.callKey) ? [c.callKey.replace(/#a\d+$/, "")] : [])));
  for (const c of calls) {
    if (!/#a0$/.test(c.callKey)) continue;
    const f = out[c.role as Role] ?? { asked: 0, validFirst: 0, repairRounds: 0 };
    out[c.role as Role] = f;
    f.asked++;
    if (!retried.has(c.callKey.replace(/#a0$/, ""))) f.validFirst++;
    if (/\|r([2-9]|\d\d+)#a0$/.test(c.callKey)) f.repairRounds++;
  }
  return out;
}

/** Answers a later attempt of the same call replaced: they did not parse or validate. */
function failedAnswers(calls: readonly EngineCall[]): { callKey: string; text: string }[] {
  const keys = new Set(calls.map((c) => c.callKey));
  return calls
    .filter((c) => {
      const m = /^(.*)#a(\d+)$/.exec(c.callKey);
      return m !== null && keys.has(`${m[1]}#a${Number(m[2]) + 1}`);
    })
    .slice(0, 12)
    .map((c) => ({ callKey: c.callKey, text: c.text ?? "" }));
}

/** llama-bench prompt processing rate (pp512), tok/s. */
function llamaBenchPromptRate(bin: string, model: string, threads: number, depth = 0): number {
  const r = spawnSync(bin, ["-m", model, "-t", String(threads), "-p", "512", "-n", "0", "-d", String(depth), "-r", "3", "-o", "json"], {
    encoding: "utf8",
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`llama-bench failed (${r.status}): ${String(r.stderr).slice(-2000)}`);
  const rows = JSON.parse(r.stdout) as Array<{ n_prompt: number; n_gen: number; avg_ts: number }>;
  const row = rows.find((x) => x.n_prompt === 512 && x.n_gen === 0);
  if (!row) throw new Error(`llama-bench printed no pp512 row: ${r.stdout.slice(0, 500)}`);
  return row.avg_ts;
}

/** The file whose last call ended first (the single-file run to compare the first finished file with). */
function firstFileDone(timeline: readonly EngineCall[]): string {
  const last = new Map<string, number>();
  for (const c of timeline) last.set(c.file, Math.max(last.get(c.file) ?? 0, c.end));
  return [...last.entries()].sort((a, b) => a[1] - b[1])[0]?.[0] ?? "?";
}

export function engineMarkdown(r: EngineResult): string {
  const s = (x: number) => `${x.toFixed(1)} s`;
  const lines = [
    `### Engine mode: ${r.model} on ${r.backend}${r.grammar ? "" : " WITHOUT the JSON grammar"}`,
    "",
    `${r.files} files, ${r.threads} threads, ${r.sequences} sequences, ${r.filesInFlight} files in flight at most, ${r.peakConcurrentCalls} calls at once at the peak.`,
    "",
    `- files: ${r.processed} processed, ${r.quarantined} quarantined; first file done at ${s((r.fileFinishedMs[0] ?? 0) / 1000)} (${firstFileDone(r.timeline)}), half the files at ${s((r.fileFinishedMs[Math.ceil(r.files / 2) - 1] ?? 0) / 1000)}, ${r.fileFinishedMs.filter((ms) => ms <= r.wallMs / 2).length} files done at half the wall time`,
    r.grammarStats
      ? `- grammar (llama-server counters): ${r.grammarStats.checked} sampled tokens checked, ${r.grammarStats.rejected} rejected (${((100 * r.grammarStats.rejected) / Math.max(1, r.grammarStats.checked)).toFixed(1)}%), ${r.grammarStats.rejectMs.toFixed(0)} ms after rejections (${(r.grammarStats.rejectMs / Math.max(1, r.grammarStats.rejected)).toFixed(2)} ms per rejection)`
      : `- grammar counters: ${r.grammar ? "not reported by this engine" : "no grammar"}`,
    `- wall ${s(r.wallMs / 1000)} (${s(r.wallMs / 1000 / Math.max(1, r.files))} per file); ${r.calls} calls; ${r.evaluatedPromptTokens} prompt tokens evaluated of ${r.promptTokens} (${r.reusedPromptTokens} from the KV cache), ${r.generatedTokens} generated, ${r.sourceTokens} source tokens (${(r.evaluatedPromptTokens / Math.max(1, r.sourceTokens)).toFixed(2)} evaluated per source token)`,
    `- files finished at: ${r.fileFinishedMs.map((ms) => s(ms / 1000)).join(", ")}`,
    `- the live display's ETA against the time really left (asked once a second, until 10% of the wall is left): ${etaAccuracyText(r.eta)}`,
    r.lowerBound
      ? `- llama.cpp lower bound for the same tokens: ${s(r.lowerBound.seconds)} (pp512 ${r.lowerBound.ppTokPerSec.toFixed(0)} tok/s, tg at ${r.lowerBound.atSequences} sequences ${r.lowerBound.tgTokPerSec.toFixed(0)} tok/s, build ${r.lowerBound.build}); **job efficiency ${(r.lowerBound.efficiency * 100).toFixed(0)}%**`
      : `- llama.cpp lower bound: not measured (${r.lowerBoundMissing ?? "?"})`,
    ...(r.lowerBound?.atDepth
      ? [
          `- the same at the job's depths (pp512 after ${r.lowerBound.atDepth.ppDepth} tokens ${r.lowerBound.atDepth.ppTokPerSec.toFixed(0)} tok/s, tg after ${r.lowerBound.atDepth.tgDepth} tokens at ${r.lowerBound.atSequences} sequences ${r.lowerBound.atDepth.tgTokPerSec.toFixed(0)} tok/s): ${s(r.lowerBound.atDepth.seconds)}; **job efficiency at depth ${(r.lowerBound.atDepth.efficiency * 100).toFixed(0)}%**`,
        ]
      : []),
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
    "| role | calls | evaluated prompt tokens | generated | seconds in calls | valid on the first try | repair rounds |",
    "|---|---|---|---|---|---|---|",
    ...Object.entries(r.byRole).map(([role, f]) => {
      const t = r.firstTry[role as Role];
      const first = t ? `${t.validFirst}/${t.asked} (${((100 * t.validFirst) / Math.max(1, t.asked)).toFixed(0)}%)` : "-";
      return `| ${role} | ${f.calls} | ${f.evaluatedPromptTokens} | ${f.generatedTokens} | ${s(f.seconds)} | ${first} | ${t?.repairRounds ?? 0} |`;
    }),
    "",
  ];
  return lines.join("\n");
}
