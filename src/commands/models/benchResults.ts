/**
 * Benchmark results `plan` reads to show expected tokens/s. The benchmark (`npm run bench`) writes
 * them; this module defines the format and reads it. Format (docs/MODELS.md): JSON files in
 * `.bench/results/` (or `--bench-dir`), each holding one result object, an array of them, or
 * `{ "results": [...] }`, where a result is
 *
 *   { "modelShape": "qwen2.5-0.5b", "quant": "Q4_K_M", "threads": 2, "n": 30,
 *     "aggregateTokPerSec": 210.5, "perAgentTokPerSec": 7.0,
 *     "synthetic": true, "contextSize": 4096, "machine": "2 vCPU x86-64, 7.8 GiB", "date": "2026-11-26T05:00:00Z" }
 *
 * `modelShape` is the catalog's `shape.id` (the same names as `npm run bench -- --synthetic NAME`),
 * `n` the number of concurrent agents (sequences), `engine` the engine measured ("node-llama-cpp"
 * or "llama-server"; absent = node-llama-cpp, what `npm run bench -- --synthetic` measures). Files
 * or entries that do not fit are skipped with a warning, never guessed at.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { MODEL_BACKENDS, type ModelBackendKind } from "../../llm/chooseBackend.ts";

export const DEFAULT_BENCH_DIR = ".bench/results";

export const BenchResultSchema = z
  .object({
    modelShape: z.string().min(1),
    quant: z.string().min(1),
    threads: z.number().int().positive(),
    n: z.number().int().positive(),
    aggregateTokPerSec: z.number().nonnegative(),
    perAgentTokPerSec: z.number().nonnegative(),
    synthetic: z.boolean().optional(),
    contextSize: z.number().int().positive().optional(),
    machine: z.string().optional(),
    gpu: z.string().nullable().optional(),
    date: z.string().optional(),
    engine: z.enum(MODEL_BACKENDS).optional(),
  })
  .passthrough();

export type BenchResult = z.infer<typeof BenchResultSchema> & { file: string };

export interface BenchRead {
  results: BenchResult[];
  warnings: string[];
  /** False when the directory does not exist. */
  dirExists: boolean;
}

/** Reads every `*.json` in `dir` (not recursive). */
export function readBenchResults(dir: string): BenchRead {
  const results: BenchResult[] = [];
  const warnings: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith(".json"));
  } catch {
    return { results, warnings, dirExists: false };
  }
  for (const name of names.sort()) {
    const file = path.join(dir, name);
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
      warnings.push(`${file}: not JSON (${(e as Error).message}); skipped`);
      continue;
    }
    const list = Array.isArray(data)
      ? data
      : data && typeof data === "object" && Array.isArray((data as { results?: unknown }).results)
        ? (data as { results: unknown[] }).results
        : [data];
    list.forEach((item, i) => {
      const r = BenchResultSchema.safeParse(item);
      if (r.success) results.push({ ...r.data, file });
      else
        warnings.push(
          `${file}${list.length > 1 ? ` [${i}]` : ""}: not a bench result (${r.error.issues[0]?.path.join(".")}: ${r.error.issues[0]?.message}); skipped`,
        );
    });
  }
  return { results, warnings, dirExists: true };
}

/** The engine a result was measured on (results written before the field existed were node-llama-cpp's). */
export function benchEngine(r: BenchResult): ModelBackendKind {
  return r.engine ?? "node-llama-cpp";
}

export interface BenchMatch {
  /** A result at exactly this many agents, the most recent by date. */
  exact: BenchResult | undefined;
  /** Otherwise the closest measured agent counts below and above. */
  below: BenchResult | undefined;
  above: BenchResult | undefined;
}

function newest(a: BenchResult, b: BenchResult): BenchResult {
  return (b.date ?? "") > (a.date ?? "") ? b : a;
}

/** Results for this shape and quantization (case-insensitive), nearest to `agents`; only those of `engine` when given. */
export function matchBench(results: readonly BenchResult[], shape: string, quant: string, agents: number, engine?: ModelBackendKind): BenchMatch {
  const same = results.filter(
    (r) =>
      r.modelShape.toLowerCase() === shape.toLowerCase() &&
      r.quant.toUpperCase() === quant.toUpperCase() &&
      (engine === undefined || benchEngine(r) === engine),
  );
  let exact: BenchResult | undefined;
  let below: BenchResult | undefined;
  let above: BenchResult | undefined;
  for (const r of same) {
    if (r.n === agents) exact = exact ? newest(exact, r) : r;
    else if (r.n < agents) below = !below || r.n > below.n ? r : r.n === below.n ? newest(below, r) : below;
    else above = !above || r.n < above.n ? r : r.n === above.n ? newest(above, r) : above;
  }
  return exact ? { exact, below: undefined, above: undefined } : { exact, below, above };
}

/** How an engine is named in the plan's text. */
export const ENGINE_WORDS: Record<ModelBackendKind, string> = { "node-llama-cpp": "node-llama-cpp in process", "llama-server": "llama-server" };

export function formatBenchResult(r: BenchResult): string {
  const extra = [ENGINE_WORDS[benchEngine(r)], r.synthetic ? "synthetic weights" : undefined, r.machine, r.date?.slice(0, 10)].filter(Boolean).join(", ");
  return `n=${r.n}, ${r.threads} threads: ${r.aggregateTokPerSec.toFixed(1)} tok/s aggregate, ${r.perAgentTokPerSec.toFixed(1)} tok/s per agent${extra ? ` (${extra})` : ""} [${path.basename(r.file)}]`;
}
