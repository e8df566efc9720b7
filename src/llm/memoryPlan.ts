/**
 * Memory arithmetic for running N agents (parallel sequences) on loaded models: how much the
 * weights, the KV cache and a context's fixed buffers take, what fits a budget, and how to shrink
 * a configuration (context per sequence first, then sequences) down to floors when it does not.
 *
 * Shared by `npm run models -- plan` and the pipeline's memory-aware admission, with one set of
 * defaults (DEFAULT_MEMORY_SHARE of the free memory as the budget, DEFAULT_MEMORY_RESERVE kept back),
 * so a plan printed before a run and the admission decision at the start of that run agree — on the
 * same machine state: both take a share of the memory free at that moment (the run takes free VRAM
 * instead when a discrete GPU will hold the models; `plan` always takes RAM). Everything here is pure
 * except `readModelMemoryProfile`, which reads a GGUF file through node-llama-cpp's GGUF insights.
 *
 * The model of memory, per loaded model with one context of N sequences of C tokens each:
 *
 *   total = weights + overhead + N x (kvBytesPerToken x pad(C) + kvBytesPerSequenceFixed)
 *
 * `overhead` is the context's compute and output buffers, measured at the profiled context size and
 * sequence count; it only grows with the context, so treating it as fixed while shrinking is
 * conservative. `pad(C)` rounds up to llama.cpp's 256-token context padding.
 */
import { DEFAULT_CONTEXT_SIZE } from "../config/defaults.ts";
import { type Llama, loadLlamaCpp } from "./llamaCpp.ts";

/** llama.cpp pads each sequence's context to a multiple of this (node-llama-cpp's contextSizePad). */
const CONTEXT_PAD = 256;

/**
 * Floors the shrinking stops at. A context under 2048 tokens no longer holds a research chunk plus
 * the instructions and the structured answer; one sequence is the least a model can serve.
 */
export const DEFAULT_MIN_CONTEXT_SIZE = 2048;
export const DEFAULT_MIN_SEQUENCES = 1;

/** Without an explicit budget, the models may use this share of the memory free at the start. */
export const DEFAULT_MEMORY_SHARE = 0.8;
/**
 * Kept back for the process itself (Node.js, tsx and the llama.cpp addon measured 127-138 MiB
 * before any model, docs/BENCHMARKS.md), on top of the models' arithmetic.
 */
export const DEFAULT_MEMORY_RESERVE = "256MB";

/** Where a profile's numbers came from; shown next to the arithmetic. */
export type ProfileSource = "gguf" | "shape" | "manual";

/** Memory figures of one model, independent of how many sequences it will serve. */
export interface ModelMemoryProfile {
  /** Shown in the arithmetic, e.g. the catalog name or file name. */
  label: string;
  /** Resident weights (CPU RAM + GPU VRAM), bytes. */
  weightsBytes: number;
  /** KV cache per sequence per context token, bytes (all full-attention layers, K and V). */
  kvBytesPerToken: number;
  /**
   * Per-sequence memory that does not grow with the context, bytes: the KV cache of sliding-window
   * layers (capped at the window) and per-sequence output buffers (logits: vocabulary x 4 bytes).
   */
  kvBytesPerSequenceFixed: number;
  /** Compute and output buffers of one context, bytes, at `profiledContextSize`. */
  overheadBytes: number;
  /** Context size the overhead was measured at (informational). */
  profiledContextSize?: number;
  /** The model's training context; a sequence never gets more than this. */
  trainContextSize?: number;
  source: ProfileSource;
  /** Caveats printed under the arithmetic (e.g. "overhead estimated from the vocabulary size"). */
  notes?: string[];
}

/** One model of a configuration and how many sequences (agents) it should serve. */
export interface MemoryRequest {
  profile: ModelMemoryProfile;
  sequences: number;
}

export interface FitOptions {
  budgetBytes: number;
  /** Requested tokens per sequence (the same for every model, capped by each model's training context). */
  contextSize: number;
  /** Set aside for the process itself (runtime, graph, buffers outside llama.cpp). Default 0. */
  reserveBytes?: number;
  minContextSize?: number;
  minSequences?: number;
}

export type FitOutcome = "fits" | "shrunk-context" | "shrunk-sequences" | "refused";

export interface ModelFit {
  label: string;
  source: ProfileSource;
  requestedSequences: number;
  sequences: number;
  /** Tokens per sequence this model gets (the plan's context, capped by its training context). */
  contextSize: number;
  weightsBytes: number;
  overheadBytes: number;
  kvPerSequenceBytes: number;
  totalBytes: number;
  notes: string[];
}

export interface FitResult {
  outcome: FitOutcome;
  /** True when the (possibly shrunk) configuration fits the budget. */
  fits: boolean;
  requestedContextSize: number;
  /** Context per sequence the plan settled on (before each model's training-context cap). */
  contextSize: number;
  models: ModelFit[];
  /** Sum of the models' totals. */
  modelsBytes: number;
  reserveBytes: number;
  /** modelsBytes + reserveBytes. */
  totalBytes: number;
  budgetBytes: number;
  minContextSize: number;
  minSequences: number;
}

/** Rounds a context size up to llama.cpp's padding. */
export function padContextSize(contextSize: number, pad = CONTEXT_PAD): number {
  if (!Number.isFinite(contextSize) || contextSize <= 0) return 0;
  return Math.ceil(contextSize / pad) * pad;
}

/** The context a sequence of this model actually gets: the request, capped by the training context. */
function effectiveContextSize(profile: ModelMemoryProfile, contextSize: number): number {
  return profile.trainContextSize && profile.trainContextSize > 0 ? Math.min(contextSize, profile.trainContextSize) : contextSize;
}

/** KV cache bytes one sequence of `contextSize` tokens takes. */
export function kvBytesPerSequence(profile: ModelMemoryProfile, contextSize: number): number {
  const c = padContextSize(effectiveContextSize(profile, contextSize));
  return profile.kvBytesPerToken * c + profile.kvBytesPerSequenceFixed;
}

/** weights + overhead + sequences x KV per sequence. */
export function modelMemoryBytes(profile: ModelMemoryProfile, contextSize: number, sequences: number): number {
  return profile.weightsBytes + profile.overheadBytes + sequences * kvBytesPerSequence(profile, contextSize);
}

/**
 * How many sequences of `contextSize` tokens fit `budgetBytes` next to this model's weights,
 * overhead and the reserve (0 when not even the weights fit).
 */
export function maxSequencesThatFit(profile: ModelMemoryProfile, contextSize: number, budgetBytes: number, reserveBytes = 0): number {
  const free = budgetBytes - reserveBytes - profile.weightsBytes - profile.overheadBytes;
  const perSequence = kvBytesPerSequence(profile, contextSize);
  if (free < 0) return 0;
  if (perSequence <= 0) return Number.POSITIVE_INFINITY;
  return Math.floor(free / perSequence);
}

function evaluate(requests: readonly MemoryRequest[], contextSize: number, sequences: readonly number[]): ModelFit[] {
  return requests.map((r, i) => {
    const n = sequences[i] ?? 0;
    const kv = kvBytesPerSequence(r.profile, contextSize);
    return {
      label: r.profile.label,
      source: r.profile.source,
      requestedSequences: r.sequences,
      sequences: n,
      contextSize: effectiveContextSize(r.profile, contextSize),
      weightsBytes: r.profile.weightsBytes,
      overheadBytes: r.profile.overheadBytes,
      kvPerSequenceBytes: kv,
      totalBytes: r.profile.weightsBytes + r.profile.overheadBytes + n * kv,
      notes: r.profile.notes ?? [],
    };
  });
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * Fits a configuration (models and their sequence counts, one context size for all) into a budget.
 * If it does not fit as asked: first lower the context per sequence (in steps of 256 tokens) down to
 * `minContextSize`; if that is not enough, keep the floor context and take sequences away one at a
 * time from the model that has the most (ties: the one whose sequences cost more, then the first)
 * down to `minSequences` each; if it still does not fit, the result is "refused" with the numbers
 * at the floors.
 */
export function fitToBudget(requests: readonly MemoryRequest[], options: FitOptions): FitResult {
  const reserveBytes = options.reserveBytes ?? 0;
  const minSequences = Math.max(0, options.minSequences ?? DEFAULT_MIN_SEQUENCES);
  const requestedContext = options.contextSize;
  const minContextSize = Math.min(options.minContextSize ?? DEFAULT_MIN_CONTEXT_SIZE, requestedContext);
  const limit = options.budgetBytes - reserveBytes;
  const requested = requests.map((r) => r.sequences);
  const build = (outcome: FitOutcome, contextSize: number, sequences: readonly number[]): FitResult => {
    const models = evaluate(requests, contextSize, sequences);
    const modelsBytes = sum(models.map((m) => m.totalBytes));
    return {
      outcome,
      fits: outcome !== "refused",
      requestedContextSize: requestedContext,
      contextSize,
      models,
      modelsBytes,
      reserveBytes,
      totalBytes: modelsBytes + reserveBytes,
      budgetBytes: options.budgetBytes,
      minContextSize,
      minSequences,
    };
  };
  const total = (contextSize: number, sequences: readonly number[]) => sum(requests.map((r, i) => modelMemoryBytes(r.profile, contextSize, sequences[i] ?? 0)));

  if (total(requestedContext, requested) <= limit) return build("fits", requestedContext, requested);

  // 1. Shrink the context: the largest multiple of the padding, between the floor and the request, that fits.
  const step = CONTEXT_PAD;
  for (let c = Math.floor(requestedContext / step) * step; c >= minContextSize; c -= step) {
    if (c < requestedContext && total(c, requested) <= limit) return build("shrunk-context", c, requested);
  }

  // 2. At the floor context, take sequences away.
  const floorContext = minContextSize;
  const sequences = requested.map((n) => n);
  const costs = requests.map((r) => kvBytesPerSequence(r.profile, floorContext));
  while (total(floorContext, sequences) > limit) {
    let pick = -1;
    for (let i = 0; i < sequences.length; i++) {
      const n = sequences[i] ?? 0;
      if (n <= minSequences) continue;
      if (pick < 0) {
        pick = i;
        continue;
      }
      const best = sequences[pick] ?? 0;
      if (n > best || (n === best && (costs[i] ?? 0) > (costs[pick] ?? 0))) pick = i;
    }
    if (pick < 0) return build("refused", floorContext, sequences);
    sequences[pick] = (sequences[pick] ?? 0) - 1;
  }
  return build("shrunk-sequences", floorContext, sequences);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** 1536 -> "1.50 KiB"; binary units, two decimals above bytes, one above 100. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? "-" : "";
  let v = Math.abs(bytes);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${sign}${Math.round(v)} B`;
  return `${sign}${v >= 100 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[u]}`;
}

/**
 * Parses a memory size: "24GB", "24 GiB", "512MB", "1.5g", "1073741824". Units are powers of 1024
 * (as RAM is sold: a "24 GB" machine has 24 GiB), so GB and GiB mean the same. Returns undefined
 * when the text is not a size.
 */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]);
  const prefix = (m[2] ?? "").toLowerCase();
  if (prefix === "" && m[3] && m[3].toLowerCase() !== "b") return undefined;
  const power = { "": 0, k: 1, m: 2, g: 3, t: 4 }[prefix] ?? 0;
  const bytes = Math.round(value * 1024 ** power);
  return Number.isFinite(bytes) && bytes > 0 ? bytes : undefined;
}

/**
 * The arithmetic of a fit, one line per model and a total line, in the form
 * `label: weights A + overhead O + KV B x N = C` and `total C + reserve R = T <= budget D: fits`.
 */
export function formatFitArithmetic(result: FitResult): string[] {
  const lines: string[] = [];
  for (const m of result.models) {
    const ctx = m.contextSize !== result.requestedContextSize ? ` (${m.contextSize} tokens/seq)` : "";
    lines.push(
      `${m.label}: weights ${formatBytes(m.weightsBytes)} + overhead ${formatBytes(m.overheadBytes)} + KV ${formatBytes(m.kvPerSequenceBytes)} x ${m.sequences} = ${formatBytes(m.totalBytes)}${ctx}`,
    );
  }
  const reserve = result.reserveBytes > 0 ? ` + reserve ${formatBytes(result.reserveBytes)}` : "";
  const models = result.models.length > 1 ? `models ${formatBytes(result.modelsBytes)}` : `${formatBytes(result.modelsBytes)}`;
  const cmp = result.totalBytes <= result.budgetBytes ? "<=" : ">";
  const verdict = {
    fits: "fits",
    "shrunk-context": `fits with the context shrunk from ${result.requestedContextSize} to ${result.contextSize} tokens per sequence`,
    "shrunk-sequences": `fits only with the context at its floor (${result.contextSize} tokens) and fewer sequences (${result.models
      .map((m) => `${m.label} ${m.requestedSequences} -> ${m.sequences}`)
      .join(", ")})`,
    refused: `does not fit even at the floors (${result.minContextSize} tokens, ${result.minSequences} sequence${result.minSequences === 1 ? "" : "s"} per model)`,
  }[result.outcome];
  lines.push(`total ${models}${reserve} = ${formatBytes(result.totalBytes)} ${cmp} budget ${formatBytes(result.budgetBytes)}: ${verdict}`);
  return lines;
}

/** The hyper-parameters the KV cache depends on (a catalog entry's `shape`). */
export interface KvShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  /** Sliding-window attention: window size, and every `slidingWindowPattern`-th layer is a global one. */
  slidingWindow?: number;
  slidingWindowPattern?: number;
}

/** llama.cpp's default micro-batch: the compute buffers are sized for this many tokens. */
const DEFAULT_UBATCH = 512;

/**
 * A profile from a model's shape alone, for models not downloaded yet. KV: each attention layer
 * keeps K and V of `kvHeads x headDim` values per token in F16 (2 bytes), so per token
 * `layers x kvHeads x headDim x 2 x 2` bytes; sliding-window layers keep only `window` tokens per
 * sequence. Overhead: estimated as the output logits of one micro-batch (`vocab x 512 x 4` bytes,
 * usually the largest compute buffer) plus the sliding-window layers' batch slack; the other
 * compute buffers are not included, so the GGUF-based profile is the one to trust.
 */
export function profileFromShape(label: string, weightsBytes: number, shape: KvShape, trainContextSize?: number): ModelMemoryProfile {
  const perLayerToken = shape.kvHeads * shape.headDim * 2 * 2;
  const pattern = shape.slidingWindow ? (shape.slidingWindowPattern ?? 1) : 0;
  const globalLayers = pattern > 0 ? Math.floor(shape.layers / pattern) : shape.layers;
  const localLayers = shape.layers - globalLayers;
  const window = shape.slidingWindow ?? 0;
  const notes = ["weights = the catalog's file size; overhead = output logits of one 512-token batch (other compute buffers not included)"];
  if (localLayers > 0) notes.push(`${localLayers} of ${shape.layers} layers use a ${window}-token sliding window`);
  return {
    label,
    weightsBytes,
    kvBytesPerToken: globalLayers * perLayerToken,
    kvBytesPerSequenceFixed: localLayers * perLayerToken * window,
    overheadBytes: shape.vocab * DEFAULT_UBATCH * 4 + localLayers * perLayerToken * DEFAULT_UBATCH,
    trainContextSize,
    source: "shape",
    notes,
  };
}

export interface ReadProfileOptions {
  /** Context per sequence the overhead is measured at (default 4096). */
  contextSize?: number;
  /** Sequences the per-sequence cost is measured with (default 2; pass the planned count for an exact figure there). */
  sequences?: number;
  /** Reuse a started llama.cpp (its GPU, if any, is used); otherwise a CPU-only reader is used. */
  llama?: Llama;
  /** Layers offloaded to the GPU: 0 (CPU), or "max" for all when `llama` has a GPU. Default "max". */
  gpuLayers?: 0 | "max";
  label?: string;
}

/**
 * Reads a GGUF file and returns its memory profile, from node-llama-cpp's GGUF insights (the
 * "V2" estimates, which size the buffers the way llama.cpp allocates them). The per-token and
 * per-sequence KV figures come from differences of four context estimates: (C, 1), (C, N),
 * (C/2, 1), (C/2, N).
 */
export async function readModelMemoryProfile(ggufPath: string, options: ReadProfileOptions = {}): Promise<ModelMemoryProfile> {
  const { readGgufFileInfo, GgufInsights } = await loadLlamaCpp();
  const path = await import("node:path");
  const info = await readGgufFileInfo(ggufPath, { logWarnings: false });
  const insights = await GgufInsights.from(info, options.llama);
  const gpu = options.llama !== undefined && options.llama.gpu !== false;
  const gpuLayers = gpu && options.gpuLayers !== 0 ? insights.totalLayers : 0;
  const train = insights.trainContextSize;
  const requested = options.contextSize ?? DEFAULT_CONTEXT_SIZE;
  const c = padContextSize(train && train > 0 ? Math.min(requested, train) : requested);
  const half = Math.max(CONTEXT_PAD, padContextSize(Math.floor(c / 2)));
  const n = Math.max(2, options.sequences ?? 2);
  const weights = await insights.estimateModelResourceRequirementsV2({ gpuLayers });
  const ctx = async (contextSize: number, sequences: number) => {
    const r = await insights.estimateContextResourceRequirementsV2({ contextSize, modelGpuLayers: gpuLayers, sequences });
    return r.cpuRam + r.gpuVram;
  };
  const a1 = await ctx(c, 1);
  const aN = await ctx(c, n);
  const perSeqFull = (aN - a1) / (n - 1);
  let kvBytesPerToken = perSeqFull / c;
  let fixed = 0;
  if (half < c) {
    const h1 = await ctx(half, 1);
    const hN = await ctx(half, n);
    const perSeqHalf = (hN - h1) / (n - 1);
    const slope = (perSeqFull - perSeqHalf) / (c - half);
    if (slope > 0) {
      kvBytesPerToken = slope;
      fixed = Math.max(0, perSeqFull - slope * c);
    }
  }
  return {
    label: options.label ?? path.basename(ggufPath),
    // Rounded up: the estimates are differences of differences, and a plan should err on the safe side.
    weightsBytes: weights.cpuRam + weights.gpuVram,
    kvBytesPerToken: Math.ceil(kvBytesPerToken),
    kvBytesPerSequenceFixed: Math.ceil(fixed),
    overheadBytes: Math.ceil(Math.max(0, a1 - perSeqFull)),
    profiledContextSize: c,
    trainContextSize: train,
    source: "gguf",
    notes: gpu ? [`${gpuLayers} layers on the GPU (${options.llama?.gpu})`] : [],
  };
}
