/**
 * Generation speed of our model layer (`ModelBackend.generate`, i.e. LlamaModelBackend over
 * node-llama-cpp) with N concurrent calls on one context.
 *
 * Generation rate = (tokens of N-token calls - tokens of 1-token calls) / (wall of N-token calls -
 * wall of 1-token calls), with the same prompts: prompt processing and the first token cancel out,
 * as llama-bench (-p 0) and llama-batched-bench (S_TG) leave them out. The same method is used for
 * llama-server in vsLlamaCpp.ts.
 */

import type { ModelBackend } from "../src/llm/types.ts";

export interface ModelLayerBenchOptions {
  /** Concurrent calls (each gets its own sequence). */
  sequences: number;
  /** Generated tokens per call. */
  tokens: number;
  repetitions: number;
  temperature: number;
  seed?: number;
  /** One user prompt per sequence (cycled). */
  prompts: readonly string[];
  /** Wraps each measured repetition, e.g. to wait for a quiet machine (bench/quiet.ts). */
  gate?: (measure: () => Promise<number>) => Promise<number>;
}

export interface BatchTiming {
  outputTokens: number;
  wallMs: number;
}

async function batch(backend: ModelBackend, o: ModelLayerBenchOptions, maxTokens: number): Promise<BatchTiming> {
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: o.sequences }, (_, i) =>
      backend.generate({
        role: "extractor",
        prompt: { system: "You are a benchmark.", user: o.prompts[i % o.prompts.length] ?? "Hello" },
        maxTokens,
        temperature: o.temperature,
        seed: (o.seed ?? 1) + i,
      }),
    ),
  );
  return { outputTokens: results.reduce((s, r) => s + r.outputTokens, 0), wallMs: performance.now() - t0 };
}

/** Aggregate generation tok/s samples (one per repetition). */
export async function benchModelLayer(backend: ModelBackend, o: ModelLayerBenchOptions): Promise<number[]> {
  await batch(backend, o, 4); // warm-up: first-call allocations, page-in of mmapped weights
  const samples: number[] = [];
  const measure = async () => {
    const short = await batch(backend, o, 1);
    const long = await batch(backend, o, o.tokens);
    const tokens = long.outputTokens - short.outputTokens;
    const ms = long.wallMs - short.wallMs;
    return ms > 0 ? (tokens / ms) * 1000 : Number.NaN;
  };
  for (let r = 0; r < o.repetitions; r++) samples.push(await (o.gate ? o.gate(measure) : measure()));
  return samples;
}
