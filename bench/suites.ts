/**
 * The measurements behind `npm run bench`. Every generation figure uses the same method as
 * bench/modelLayerBench.ts: (tokens of T-token calls - tokens of 1-token calls) / (wall difference),
 * so prompt processing cancels out and only generation is timed.
 */
import { execFileSync } from "node:child_process";
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import { readEnv } from "../src/config/env.ts";
import { LlamaModelBackend } from "../src/llm/LlamaBackend.ts";
import { LlmService } from "../src/llm/LlmService.ts";
import { ROLES } from "../src/llm/roles.ts";
import { threadsPerModel } from "../src/llm/threads.ts";
import { REPO_ROOT, tsxEntryArgs } from "../src/util/nodeEntry.ts";
import { peakRss } from "./machine.ts";
import { type Summary, summarize } from "./stats.ts";

export interface GenOptions {
  threads: number;
  tokens: number;
  repeats: number;
  temperature: number;
  /** Tokens per sequence of the contexts the throughput runs use. */
  contextSize: number;
}

export interface ThroughputPoint {
  n: number;
  aggregate: Summary;
  perAgent: Summary;
  peakRssBytes: number;
}

const SYSTEM = "You are a benchmark.";
const prompt = (i: number) => `Agent ${i}: explain one idiomatic Rust pattern and when to use it, in a few sentences.`;

async function longMinusShort(run: (maxTokens: number) => Promise<number>, repeats: number): Promise<number[]> {
  await run(4); // warm-up: first-call allocations, page-in of the weights
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const short = await run(1);
    const t1 = performance.now();
    const long = await run(Number.POSITIVE_INFINITY);
    const t2 = performance.now();
    const ms = t2 - t1 - (t1 - t0);
    samples.push(ms > 0 ? ((long - short) / ms) * 1000 : Number.NaN);
  }
  return samples;
}

function point(n: number, samples: number[], peak: number): ThroughputPoint {
  return { n, aggregate: summarize(samples), perAgent: summarize(samples.map((s) => s / n)), peakRssBytes: peak };
}

/**
 * N agents through the engine: LlmService over LlamaModelBackend (the fair scheduler, the
 * sequence pool, token accounting) — exactly the path pipeline nodes use — with the calls spread
 * over all five roles.
 */
export async function engineThroughput(llama: Llama, modelPath: string, n: number, o: GenOptions): Promise<ThroughputPoint> {
  const backend = await LlamaModelBackend.load(llama, { modelPath, sequences: n, contextSize: o.contextSize, threads: o.threads, roleCaps: {} });
  try {
    const llm = new LlmService({ backendFor: () => backend });
    let call = 0;
    const run = async (maxTokens: number) => {
      const rs = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          llm.generateText({
            runId: "bench",
            role: ROLES[i % ROLES.length] ?? "writer",
            callKey: `bench-${call++}`,
            prompt: { system: SYSTEM, user: prompt(i) },
            maxTokens: Number.isFinite(maxTokens) ? maxTokens : o.tokens,
          }),
        ),
      );
      return rs.reduce((a, r) => a + r.outputTokens, 0);
    };
    const { result, peak } = await peakRss(() => longMinusShort(run, o.repeats));
    return point(n, result, peak);
  } finally {
    await backend.dispose();
  }
}

/** The same generation straight through node-llama-cpp (LlamaChat on one context's sequences), no pipeline code. */
export async function rawThroughput(llama: Llama, modelPath: string, n: number, o: GenOptions): Promise<ThroughputPoint> {
  const { LlamaChat } = await import("node-llama-cpp");
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: o.contextSize, sequences: n, threads: o.threads });
  const sequences: LlamaContextSequence[] = Array.from({ length: n }, () => context.getSequence());
  try {
    const run = async (maxTokens: number) => {
      const rs = await Promise.all(
        sequences.map(async (seq, i) => {
          const used = await chatOnce(LlamaChat, seq, i, maxTokens, o);
          await seq.clearHistory();
          return used;
        }),
      );
      return rs.reduce((a, b) => a + b, 0);
    };
    const { result, peak } = await peakRss(() => longMinusShort(run, o.repeats));
    return point(n, result, peak);
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/**
 * The naive alternative: k separate copies of the model (weights read into memory per copy, no
 * shared mmap), one context of one sequence each. Threads as the agent pool assigns them to several
 * models (src/llm/threads.ts): divided between the copies, or all to each when libuv's pool has
 * one thread and the copies' decodes take turns.
 */
export async function copiesThroughput(llama: Llama, modelPath: string, k: number, o: GenOptions): Promise<ThroughputPoint> {
  const { LlamaChat } = await import("node-llama-cpp");
  const threadsEach =
    threadsPerModel(
      o.threads,
      Array.from({ length: k }, () => 1),
      readEnv().uvThreadpoolSize,
    )[0] ?? 1;
  const models: LlamaModel[] = [];
  const contexts: LlamaContext[] = [];
  try {
    for (let i = 0; i < k; i++) {
      const model = await llama.loadModel({ modelPath, useMmap: false });
      models.push(model);
      contexts.push(await model.createContext({ contextSize: o.contextSize, sequences: 1, threads: threadsEach }));
    }
    const run = async (maxTokens: number) => {
      const rs = await Promise.all(
        contexts.map(async (ctx, i) => {
          const seq = ctx.getSequence();
          const used = await chatOnce(LlamaChat, seq, i, maxTokens, o);
          seq.dispose();
          return used;
        }),
      );
      return rs.reduce((a, b) => a + b, 0);
    };
    const { result, peak } = await peakRss(() => longMinusShort(run, o.repeats));
    return point(k, result, peak);
  } finally {
    for (const c of contexts) await c.dispose();
    for (const m of models) await m.dispose();
  }
}

/** Prompt processing: tokens/s evaluating a ~`promptTokens` prompt on a fresh sequence. */
export async function promptProcessing(llama: Llama, modelPath: string, promptTokens: number, o: GenOptions): Promise<Summary> {
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: promptTokens + 64, sequences: 1, threads: o.threads });
  try {
    const seq = context.getSequence();
    const text = Array.from({ length: promptTokens }, (_, i) => `word${i % 97}`).join(" ");
    const tokens = model.tokenize(text).slice(0, promptTokens);
    await seq.evaluateWithoutGeneratingNewTokens(tokens.slice(0, 16));
    await seq.clearHistory();
    const samples: number[] = [];
    for (let r = 0; r < o.repeats; r++) {
      const t0 = performance.now();
      await seq.evaluateWithoutGeneratingNewTokens(tokens);
      samples.push((tokens.length / (performance.now() - t0)) * 1000);
      await seq.clearHistory();
    }
    return summarize(samples);
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/** Runs bench/memoryProbe.ts in a fresh process (with the npm scripts' libuv setting) and returns its figures. */
export function probeMemory(modelPath: string, n: number, contextSize: number, threads: number): { runtimeRss: number; rss: number; peakRss: number } {
  const out = execFileSync(process.execPath, tsxEntryArgs("bench/memoryProbe.ts", modelPath, String(n), String(contextSize), String(threads)), {
    cwd: REPO_ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = out.trim().split("\n").pop() ?? "";
  return JSON.parse(line) as { runtimeRss: number; rss: number; peakRss: number };
}

/** One raw LlamaChat call on `seq` (the benchmark prompt for agent `i`); returns the tokens generated. */
async function chatOnce(
  LlamaChat: typeof import("node-llama-cpp").LlamaChat,
  seq: LlamaContextSequence,
  i: number,
  maxTokens: number,
  o: GenOptions,
): Promise<number> {
  const before = seq.tokenMeter.getState();
  const chat = new LlamaChat({ contextSequence: seq, autoDisposeSequence: false });
  await chat.generateResponse(
    [
      { type: "system", text: SYSTEM },
      { type: "user", text: prompt(i) },
      { type: "model", response: [] },
    ],
    { maxTokens: Number.isFinite(maxTokens) ? maxTokens : o.tokens, temperature: o.temperature },
  );
  chat.dispose({ disposeSequence: false });
  return seq.tokenMeter.diff(before).usedOutputTokens;
}
