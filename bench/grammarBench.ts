/**
 * Free vs grammar-constrained generation on the same engine, and what the grammar's rejections cost
 * (issue 12). Not part of CI: it needs llama-server built by bench/llamacpp/build.sh, which applies
 * bench/llamacpp/patches/grammar-candidates.diff (rejection counters in the server's timings, and the
 * `grammar_candidates` request field: 0 = llama.cpp's own behaviour, N = test the N most likely tokens
 * before masking the whole vocabulary).
 *
 *   npm run bench -- --vs-llama-cpp --grammar [--model PATH | --shape qwen2.5-0.5b,smollm2-135m]
 *        [--quant Q4_K_M] [--sequences 1,16,30] [--tokens 128] [--runs 3] [--temperature 0]
 *        [--schemas extractor,loose,ids] [--candidates 0,64] [--backend llama,server] [--no-quiet]
 *        [--label grammar] [--out docs/bench/grammar.md]
 *
 * Per model, sequence count and schema it measures, by the difference method of bench/modelLayerBench.ts
 * (N-token calls minus 1-token calls, so prompt processing cancels out), aggregate generation tok/s of
 *  - llama-server without a grammar and with the schema's grammar as llama.cpp ships it (a server
 *    started with LLAMA_GRAMMAR_NO_PREFILTER=1, grammar_candidates 0), then with the patch (prefilter
 *    on, each `--candidates` value), plus the server's own counts: tokens checked against the grammar,
 *    rejections, rejections resolved among the candidates, full-vocabulary masks, and the time spent
 *    per rejection and per mask;
 *  - our backends (`llama` = node-llama-cpp in process, `server` = LlamaServerBackend) free and with the
 *    same grammar. node-llama-cpp samples first and masks on rejection like llama-server
 *    (AddonSampler.cpp), but its addon has no counters: its cost per rejection is the extra time per
 *    token divided by the rejection rate the server measured on the same model, schema and (greedy)
 *    sampling.
 */

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { extractorSchema } from "../nodes/schemas.ts";
import { ensureSyntheticModel, type SyntheticModelQuant } from "../src/gguf/ensureSyntheticModel.ts";
import { isSyntheticShapeName, SYNTHETIC_SHAPES, type SyntheticShapeName } from "../src/gguf/writeSyntheticGguf.ts";
import { type GrammarSchema, zodToGrammarSchema } from "../src/llm/jsonSchema.ts";
import type { ModelBackend } from "../src/llm/types.ts";
import { benchToolSearch, findBenchTool, startLlamaServer } from "./llamacpp/tools.ts";
import { quietSample } from "./quiet.ts";
import { formatSummary, ratio, type Summary, summarize } from "./stats.ts";
import { upsertSection } from "./vsLlamaCpp.ts";

export interface GrammarBenchOptions {
  /** GGUF files to measure; synthetic shapes are generated into .bench/models. */
  models: string[];
  shapes: SyntheticShapeName[];
  quant: SyntheticModelQuant;
  threads: number;
  tokens: number;
  runs: number;
  sequences: number[];
  temperature: number;
  schemas: SchemaName[];
  candidates: number[];
  backends: string[];
  quiet: boolean;
  label: string;
  out: string;
}

export const SCHEMA_NAMES = ["extractor", "loose", "ids"] as const;
export type SchemaName = (typeof SCHEMA_NAMES)[number];

const UNIT_IDS = Array.from({ length: 12 }, (_, i) => `u${i + 1}`);

/**
 * The schemas compared (item 3 of issue 12):
 *  - extractor: the pipeline's extractor schema (bounded strings, category and evidence ID enums);
 *  - loose: the same fields as free text, unbounded (what a schema without enums and bounds looks like);
 *  - ids: only what must be structured under grammar (a bounded name, the category and evidence enums);
 *    free text (the summary) would be generated without a grammar and validated after.
 */
export function benchSchema(name: SchemaName): GrammarSchema {
  switch (name) {
    case "extractor":
      return zodToGrammarSchema(extractorSchema(UNIT_IDS, 4, 1));
    case "loose":
      return zodToGrammarSchema(
        z.object({
          patterns: z.array(z.object({ name: z.string(), category: z.string(), summary: z.string(), evidence: z.array(z.string()) })),
        }),
      );
    case "ids":
      return zodToGrammarSchema(
        z.object({
          patterns: z
            .array(
              z.object({
                name: z.string().min(3).max(60),
                category: extractorSchema(UNIT_IDS, 1).shape.patterns.element.shape.category,
                evidence: z
                  .array(z.enum(UNIT_IDS as [string, ...string[]]))
                  .min(1)
                  .max(4),
              }),
            )
            .min(1)
            .max(4),
        }),
      );
  }
}

export function parseGrammarBenchArgs(argv: readonly string[]): GrammarBenchOptions {
  const o: GrammarBenchOptions = {
    models: [],
    shapes: [],
    quant: "Q4_K_M",
    threads: Math.max(1, os.availableParallelism()),
    tokens: 128,
    runs: 3,
    sequences: [1, 16, 30],
    temperature: 0,
    schemas: ["extractor"],
    candidates: [0, 64],
    backends: ["llama"],
    quiet: true,
    label: "grammar",
    out: "docs/bench/grammar.md",
  };
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number >= ${min}, got ${v}`);
    return n;
  };
  const list = (v: string | undefined) => (v ?? "").split(",").filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case "--grammar":
        break;
      case "--model":
        if (!v) throw new Error("--model needs a GGUF path");
        o.models.push(v);
        i++;
        break;
      case "--shape":
        for (const n of list(v)) if (!isSyntheticShapeName(n)) throw new Error(`unknown shape ${n} (known: ${Object.keys(SYNTHETIC_SHAPES).join(", ")})`);
        o.shapes = list(v) as SyntheticShapeName[];
        i++;
        break;
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
        o.sequences = list(v).map((x) => Math.floor(num(a, x, 1)));
        i++;
        break;
      case "--temperature":
        o.temperature = num(a, v, 0);
        i++;
        break;
      case "--schemas":
        for (const n of list(v))
          if (!(SCHEMA_NAMES as readonly string[]).includes(n)) throw new Error(`unknown schema ${n} (known: ${SCHEMA_NAMES.join(", ")})`);
        o.schemas = list(v) as SchemaName[];
        i++;
        break;
      case "--candidates":
        o.candidates = list(v).map((x) => Math.floor(num(a, x, 0)));
        i++;
        break;
      case "--backend":
        for (const b of list(v)) if (b !== "llama" && b !== "server") throw new Error(`unknown backend ${b} (known: llama, server)`);
        o.backends = list(v);
        i++;
        break;
      case "--no-quiet":
        o.quiet = false;
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
      default:
        throw new Error(`unknown argument ${a}`);
    }
  }
  if (o.models.length === 0 && o.shapes.length === 0) o.shapes = ["qwen2.5-0.5b", "smollm2-135m"];
  return o;
}

const PROMPTS = [
  "Extract the Rust patterns of these notes as JSON. u1: Use the newtype pattern to give a primitive a meaning. u2: Builders replace constructors with many arguments.",
  "Extract the Rust patterns of these notes as JSON. u1: RAII guards release locks when dropped. u2: Prefer &str parameters over &String.",
  "Extract the Rust patterns of these notes as JSON. u1: Return Result from library code instead of panicking. u2: Use thiserror for error enums.",
  "Extract the Rust patterns of these notes as JSON. u1: Arc<Mutex<T>> shares state; channels pass ownership. u2: Prefer iterators over index loops.",
];

function chatml(user: string): string {
  return `<|im_start|>system\nYou are a careful extractor. Answer with JSON only.<|im_end|>\n<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n`;
}

/** The grammar counters of grammar-candidates.diff (absent from an unpatched llama-server). */
export interface GrammarCounts {
  checked: number;
  rejected: number;
  candHit: number;
  fullMask: number;
  rejectMs: number;
  maskMs: number;
}

const ZERO: GrammarCounts = { checked: 0, rejected: 0, candHit: 0, fullMask: 0, rejectMs: 0, maskMs: 0 };

function addCounts(a: GrammarCounts, b: GrammarCounts): GrammarCounts {
  return {
    checked: a.checked + b.checked,
    rejected: a.rejected + b.rejected,
    candHit: a.candHit + b.candHit,
    fullMask: a.fullMask + b.fullMask,
    rejectMs: a.rejectMs + b.rejectMs,
    maskMs: a.maskMs + b.maskMs,
  };
}

/** Reads the counters from a /completion response's `timings` (zeros when the server has no patch or no grammar ran). */
export function countsFromTimings(t: Record<string, unknown> | undefined): GrammarCounts {
  const n = (k: string) => (typeof t?.[k] === "number" ? (t[k] as number) : 0);
  return {
    checked: n("grammar_n_checked"),
    rejected: n("grammar_n_rejected"),
    candHit: n("grammar_n_cand_hit"),
    fullMask: n("grammar_n_full_mask"),
    rejectMs: n("grammar_reject_ms"),
    maskMs: n("grammar_mask_ms"),
  };
}

interface ServerCall {
  predicted: number;
  counts: GrammarCounts;
}

async function serverCall(
  url: string,
  prompt: string,
  tokens: number,
  o: { temperature: number; seed: number; schema?: GrammarSchema; candidates?: number },
): Promise<ServerCall> {
  const body: Record<string, unknown> = {
    prompt,
    n_predict: tokens,
    cache_prompt: false,
    temperature: o.temperature,
    top_k: 40,
    top_p: 0.95,
    min_p: 0,
    seed: o.seed,
    repeat_penalty: 1.0,
  };
  // A grammar ends in EOS; ignore_eos would leave no valid token, so only free runs ignore it.
  if (o.schema) {
    body.json_schema = o.schema;
    if (o.candidates !== undefined) body.grammar_candidates = o.candidates;
  } else body.ignore_eos = true;
  const res = await fetch(`${url}/completion`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`llama-server /completion: ${res.status} ${(await res.text()).slice(0, 500)}`);
  const out = (await res.json()) as { timings: Record<string, unknown> & { predicted_n: number } };
  return { predicted: out.timings.predicted_n, counts: countsFromTimings(out.timings) };
}

interface Point {
  rate: Summary;
  /** Counters summed over the measured long runs (grammar rows only). */
  counts: GrammarCounts;
  /** Generated tokens per sequence in the long runs (grammars can end early). */
  tokensPerSeq: number;
}

type Gate = <T>(measure: () => Promise<T>) => Promise<T>;

/** Difference method: (tokens of N-token calls - of 1-token calls) / (wall difference). */
async function measure(
  runs: number,
  gate: Gate,
  fire: (tokens: number) => Promise<{ tokens: number; counts: GrammarCounts }>,
  tokens: number,
  sequences: number,
): Promise<Point> {
  await fire(4);
  const samples: number[] = [];
  let counts = ZERO;
  let generated = 0;
  for (let r = 0; r < runs; r++) {
    samples.push(
      await gate(async () => {
        const t0 = performance.now();
        const short = await fire(1);
        const t1 = performance.now();
        const long = await fire(tokens);
        const t2 = performance.now();
        counts = addCounts(counts, long.counts);
        generated += long.tokens;
        return ((long.tokens - short.tokens) / (t2 - t1 - (t1 - t0))) * 1000;
      }),
    );
  }
  return { rate: summarize(samples), counts, tokensPerSeq: generated / Math.max(1, runs * sequences) };
}

interface ModelResult {
  label: string;
  bytes: number;
  vocab?: number;
  rows: Row[];
}

interface Row {
  sequences: number;
  schema: SchemaName;
  engine: string;
  free: Point;
  grammar: Array<{ variant: string; point: Point }>;
}

const gateStats = { discarded: 0, maxOtherShare: 0 };

function gateFor(o: GrammarBenchOptions): Gate {
  return async (m) => {
    if (!o.quiet) return await m();
    const s = await quietSample(m);
    gateStats.discarded += s.discarded;
    gateStats.maxOtherShare = Math.max(gateStats.maxOtherShare, s.otherShare);
    return s.value;
  };
}

function log(line: string): void {
  process.stderr.write(`[grammar-bench] ${line}\n`);
}

/**
 * One llama-server run per prefilter setting: "off" (LLAMA_GRAMMAR_NO_PREFILTER=1, the server
 * inherits this process's environment) measures free generation and llama.cpp's own path
 * (grammar_candidates 0); "on" measures the patch at each --candidates value.
 */
async function benchServerRows(bin: string, file: string, o: GrammarBenchOptions, n: number): Promise<Row[]> {
  const rows = new Map<SchemaName, Row>();
  let free: Point | undefined;
  for (const prefilter of ["off", "on"] as const) {
    const saved = process.env.LLAMA_GRAMMAR_NO_PREFILTER;
    if (prefilter === "off") process.env.LLAMA_GRAMMAR_NO_PREFILTER = "1";
    else delete process.env.LLAMA_GRAMMAR_NO_PREFILTER;
    let server: Awaited<ReturnType<typeof startLlamaServer>>;
    try {
      server = await startLlamaServer(bin, { model: file, threads: o.threads, parallel: n, contextPerSlot: o.tokens + 384 });
    } finally {
      if (saved === undefined) delete process.env.LLAMA_GRAMMAR_NO_PREFILTER;
      else process.env.LLAMA_GRAMMAR_NO_PREFILTER = saved;
    }
    try {
      const url = server.url;
      const fire = (schema?: GrammarSchema, candidates?: number) => async (tokens: number) => {
        const r = await Promise.all(
          Array.from({ length: n }, (_, i) =>
            serverCall(url, chatml(PROMPTS[i % PROMPTS.length] ?? ""), tokens, { temperature: o.temperature, seed: 1 + i, schema, candidates }),
          ),
        );
        return { tokens: r.reduce((a, x) => a + x.predicted, 0), counts: r.reduce((a, x) => addCounts(a, x.counts), ZERO) };
      };
      if (prefilter === "off") {
        log(`llama-server x${n}: free`);
        free = await measure(o.runs, gateFor(o), fire(), o.tokens, n);
      }
      for (const schemaName of o.schemas) {
        const schema = benchSchema(schemaName);
        const row = rows.get(schemaName) ?? { sequences: n, schema: schemaName, engine: "llama-server", free: free as Point, grammar: [] };
        rows.set(schemaName, row);
        for (const c of prefilter === "off" ? [0] : o.candidates) {
          log(`llama-server x${n}: ${schemaName} grammar, prefilter ${prefilter}, grammar_candidates ${c}`);
          row.grammar.push({
            variant: prefilter === "off" ? "mask on rejection (llama.cpp)" : c === 0 ? "prefilter only" : `prefilter + top-${c} candidates (patch default)`,
            point: await measure(o.runs, gateFor(o), fire(schema, c), o.tokens, n),
          });
        }
      }
    } finally {
      await server.stop();
    }
  }
  return [...rows.values()];
}

async function benchOursRows(kind: string, file: string, o: GrammarBenchOptions, n: number, serverBin: string | undefined): Promise<Row[]> {
  const { openLlama, LlamaModelBackend } = await import("../src/llm/LlamaBackend.ts");
  const { LlamaServerBackend } = await import("../src/llm/LlamaServerBackend.ts");
  const llama = await openLlama({ maxThreads: o.threads, gpu: false });
  const common = { modelPath: file, sequences: n, contextSize: o.tokens + 384, threads: o.threads, roleCaps: { extractor: n } };
  const backend: ModelBackend & { dispose(): Promise<void> } =
    kind === "llama" ? await LlamaModelBackend.load(llama, common) : await LlamaServerBackend.start(llama, { ...common, serverBin });
  const rows: Row[] = [];
  try {
    const fire = (schema?: GrammarSchema) => async (tokens: number) => {
      const r = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          backend.generate({
            role: "extractor",
            prompt: { system: "You are a careful extractor. Answer with JSON only.", user: PROMPTS[i % PROMPTS.length] ?? "" },
            maxTokens: tokens,
            temperature: o.temperature,
            seed: 1 + i,
            grammarSchema: schema,
          }),
        ),
      );
      return { tokens: r.reduce((a, x) => a + x.outputTokens, 0), counts: ZERO };
    };
    const engine = kind === "llama" ? "ours, node-llama-cpp in process" : "ours, LlamaServerBackend";
    log(`${engine} x${n}: free`);
    const free = await measure(o.runs, gateFor(o), fire(), o.tokens, n);
    for (const schemaName of o.schemas) {
      log(`${engine} x${n}: ${schemaName} grammar`);
      const point = await measure(o.runs, gateFor(o), fire(benchSchema(schemaName)), o.tokens, n);
      rows.push({
        sequences: n,
        schema: schemaName,
        engine,
        free,
        grammar: [{ variant: kind === "llama" ? "node-llama-cpp 3.21.1" : "server default", point }],
      });
    }
  } finally {
    await backend.dispose();
    await llama.dispose();
  }
  return rows;
}

/** ms per rejection for a row without counters, from the llama-server row of the same sequences and schema (llama.cpp's path). */
export function derivedPerRejection(rows: readonly Row[], row: Row, grammar: Point): number | undefined {
  const ref = rows
    .find((x) => x.engine === "llama-server" && x.sequences === row.sequences && x.schema === row.schema)
    ?.grammar.find((g) => g.variant.startsWith("mask on rejection"))?.point.counts;
  if (!ref || ref.checked === 0 || ref.rejected === 0) return undefined;
  const g = grammar.rate.median;
  const f = row.free.rate.median;
  if (!(g > 0) || !(f > 0)) return undefined;
  return (1000 / g - 1000 / f) / (ref.rejected / ref.checked);
}

function pct(a: number, b: number): string {
  return b > 0 ? `${((100 * a) / b).toFixed(1)}%` : "—";
}

function renderGrammarReport(o: GrammarBenchOptions, results: ModelResult[], meta: { started: string; server: string }): string {
  const L: string[] = [];
  L.push(`### ${o.label} — ${meta.started}`);
  L.push("");
  L.push(
    `Machine: ${os.cpus()[0]?.model ?? "?"}, ${os.availableParallelism()} logical cores, ${os.platform()} ${os.arch()}, Node ${process.version}; llama-server ${meta.server}. Threads ${o.threads}, up to ${o.tokens} generated tokens per sequence, temperature ${o.temperature} (top-k 40, top-p 0.95), ${o.runs} runs; tok/s are aggregate generation rates, median (min-max), by the difference method (N-token minus 1-token calls). ${o.quiet ? `Samples waited for a quiet machine (${gateStats.discarded} retried; highest share of a core used by others in a kept sample: ${(gateStats.maxOtherShare * 100).toFixed(0)}%).` : "Samples were taken without waiting for a quiet machine (--no-quiet)."}`,
  );
  L.push("");
  L.push(
    "Rejected = sampled tokens the grammar rejected / tokens checked. Resolved = rejections resolved among the top candidates (no full mask). ms/rejection = server time spent after a rejection (candidates and masks) per rejection; ms/mask = time of one full-vocabulary mask and re-sample.",
  );
  for (const m of results) {
    L.push("");
    L.push(`#### ${m.label} (${(m.bytes / 1e6).toFixed(0)} MB)`);
    L.push("");
    L.push(
      "| engine | seqs | schema | free tok/s | grammar | grammar tok/s | vs free | tokens/seq | rejected | resolved | full masks | ms/rejection | ms/mask |",
    );
    L.push("|---|---:|---|---|---|---|---|---:|---|---|---:|---:|---:|");
    for (const r of m.rows) {
      for (const g of r.grammar) {
        const c = g.point.counts;
        const counted = c.checked > 0;
        const derived = counted ? undefined : derivedPerRejection(m.rows, r, g.point);
        L.push(
          `| ${r.engine} | ${r.sequences} | ${r.schema} | ${formatSummary(r.free.rate)} | ${g.variant} | ${formatSummary(g.point.rate)} | ${ratio(g.point.rate, r.free.rate)} | ${g.point.tokensPerSeq.toFixed(0)} | ${counted ? `${pct(c.rejected, c.checked)} of ${c.checked}` : "—"} | ${counted ? pct(c.candHit, c.rejected) : "—"} | ${counted ? c.fullMask : "—"} | ${counted && c.rejected > 0 ? (c.rejectMs / c.rejected).toFixed(2) : derived !== undefined ? `${derived.toFixed(2)} (derived)` : "—"} | ${counted && c.fullMask > 0 ? (c.maskMs / c.fullMask).toFixed(2) : "—"} |`,
        );
      }
    }
  }
  L.push("");
  L.push(
    "(derived) = engines without counters (node-llama-cpp's addon): the extra machine time per generated token, 1000/grammar - 1000/free (aggregate tok/s: sampling is serial), divided by the rejection rate llama-server measured on the same model, schema and sequences with llama.cpp's own path (grammar_candidates 0); at temperature 0 both engines see the same logits, so the same tokens are rejected.",
  );
  L.push("");
  return L.join("\n");
}

export async function runGrammarBench(o: GrammarBenchOptions): Promise<string> {
  const serverBin = findBenchTool("llama-server");
  if (!serverBin) throw new Error("llama-server not found: run `bash bench/llamacpp/build.sh` (it applies bench/llamacpp/patches/) first");
  const started = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const files: Array<{ label: string; file: string }> = o.models.map((f) => ({ label: path.basename(f), file: f }));
  for (const shape of o.shapes)
    files.push({
      label: `synthetic ${shape} ${o.quant}`,
      file: await ensureSyntheticModel({ toolSearch: benchToolSearch(), shape, quant: o.quant, threads: o.threads, onProgress: log }),
    });
  const results: ModelResult[] = [];
  for (const { label, file } of files) {
    const rows: Row[] = [];
    for (const n of o.sequences) {
      rows.push(...(await benchServerRows(serverBin, file, o, n)));
      for (const kind of o.backends) rows.push(...(await benchOursRows(kind, file, o, n, serverBin)));
    }
    results.push({ label, bytes: fs.statSync(file).size, rows });
  }
  let server = serverBin;
  // build-info.json sits beside the binary (bench/.build/bin) or one folder up (the build cache).
  for (const f of [path.join(path.dirname(serverBin), "build-info.json"), path.join(path.dirname(serverBin), "..", "build-info.json")]) {
    try {
      const info = JSON.parse(fs.readFileSync(f, "utf8")) as { commit?: string; patches?: string };
      server = `${String(info.commit ?? "?").slice(0, 7)}${info.patches ? ` + ${info.patches}` : " (no project patches)"}`;
      break;
    } catch {
      // not here
    }
  }
  const section = renderGrammarReport(o, results, { started, server });
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  const existing = fs.existsSync(o.out) ? fs.readFileSync(o.out, "utf8") : "# Free vs grammar-constrained generation (issue 12)\n";
  fs.writeFileSync(o.out, upsertSection(existing, o.label, section));
  return section;
}
