/**
 * Writes GGUF files with random weights in the exact shape of real models. Throughput and memory
 * depend only on a model's shape and quantization, not on its weight values, so these files
 * stand in for models that cannot be downloaded here. Every file says so in its metadata
 * (`general.name` contains "synthetic"; `synthetic.*` keys), and so must every report that uses it.
 *
 * Layout follows llama.cpp's converter for the `llama` and `qwen2` architectures: 2-D weights in
 * the requested type (Q8_0 or F16), 1-D tensors (norms, biases, rope factors) in F32, tied
 * embeddings where the real model ties them (no `output.weight`). Q4_K_M comes from llama.cpp's
 * own `llama-quantize` run on an F16 file (see quantizeGguf.ts).
 */

import fs from "node:fs";
import path from "node:path";
import {
  alignUp,
  f32,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgmlType,
  GgufHeaderWriter,
  type GgufValue,
  LlamaFileType,
  Q8_0_BLOCK_BYTES,
  Q8_0_BLOCK_VALUES,
  str,
  tensorBytes,
  u32,
} from "./ggufFormat.ts";
import { neverEmittedTokens, syntheticTokenizer, type TokenizerMetadata, tokenizerFromGguf } from "./syntheticTokenizer.ts";

/**
 * Bumped when the bytes the writer produces for the same options change, so cached files are
 * rewritten (ensureSyntheticModel compares it with the file's `synthetic.generator_version`).
 * 2: zero embedding rows for the non-ASCII byte-fallback tokens (see neverEmittedTokens).
 */
export const SYNTHETIC_GENERATOR_VERSION = 2;

/** Llama-3-style RoPE frequency scaling (written as the `rope_freqs.weight` tensor, as the converter does). */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContextLength: number;
}

/** The hyper-parameters that decide a model's compute and memory. */
export interface SyntheticShape {
  /** The command-line name, e.g. "qwen2.5-0.5b". */
  name: string;
  /** The real model this shape mirrors (for reports). */
  mirrors: string;
  arch: "llama" | "qwen2";
  layers: number;
  /** Embedding width (`*.embedding_length`). */
  hidden: number;
  heads: number;
  kvHeads: number;
  /** Feed-forward width (`*.feed_forward_length`). */
  ffn: number;
  vocab: number;
  /** Trained context length (`*.context_length`). */
  contextLength: number;
  ropeFreqBase: number;
  rmsEps: number;
  /** Bias tensors on the q/k/v projections (Qwen2). */
  qkvBias: boolean;
  /** Output projection shares the token embedding (no `output.weight`). */
  tiedEmbeddings: boolean;
  ropeScaling?: Llama3RopeScaling;
}

/** Shapes of real models, from their published configs. */
export const SYNTHETIC_SHAPES = {
  "smollm2-135m": {
    name: "smollm2-135m",
    mirrors: "HuggingFaceTB/SmolLM2-135M-Instruct",
    arch: "llama",
    layers: 30,
    hidden: 576,
    heads: 9,
    kvHeads: 3,
    ffn: 1536,
    vocab: 49152,
    contextLength: 8192,
    ropeFreqBase: 100000,
    rmsEps: 1e-5,
    qkvBias: false,
    tiedEmbeddings: true,
  },
  "qwen2.5-0.5b": {
    name: "qwen2.5-0.5b",
    mirrors: "Qwen/Qwen2.5-0.5B-Instruct",
    arch: "qwen2",
    layers: 24,
    hidden: 896,
    heads: 14,
    kvHeads: 2,
    ffn: 4864,
    vocab: 151936,
    contextLength: 32768,
    ropeFreqBase: 1000000,
    rmsEps: 1e-6,
    qkvBias: true,
    tiedEmbeddings: true,
  },
  "llama3.2-1b": {
    name: "llama3.2-1b",
    mirrors: "meta-llama/Llama-3.2-1B-Instruct",
    arch: "llama",
    layers: 16,
    hidden: 2048,
    heads: 32,
    kvHeads: 8,
    ffn: 8192,
    vocab: 128256,
    contextLength: 131072,
    ropeFreqBase: 500000,
    rmsEps: 1e-5,
    qkvBias: false,
    tiedEmbeddings: true,
    ropeScaling: { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 },
  },
} as const satisfies Record<string, SyntheticShape>;

export type SyntheticShapeName = keyof typeof SYNTHETIC_SHAPES;
export type SyntheticQuant = "Q8_0" | "F16";

export function isSyntheticShapeName(name: string): name is SyntheticShapeName {
  return Object.hasOwn(SYNTHETIC_SHAPES, name);
}

export interface WriteSyntheticGgufOptions {
  shape: SyntheticShapeName | SyntheticShape;
  quant: SyntheticQuant;
  outPath: string;
  /** PRNG seed for the weights (default 1): the same options give the same bytes. */
  seed?: number;
  /** Copy the tokenizer from this GGUF (padded to the shape's vocabulary) instead of the built-in synthetic one. */
  tokenizerFrom?: string;
}

export interface SyntheticGgufInfo {
  path: string;
  shape: SyntheticShape;
  quant: SyntheticQuant;
  bytes: number;
  tensorCount: number;
  parameters: number;
}

interface TensorPlan {
  name: string;
  dims: number[];
  type: GgmlType;
  fill: "random" | "ones" | "smallRandom" | "ropeFreqs";
  /** Rows (along the last dimension) written as zeros: token rows of the embedding/output. */
  zeroRows?: ReadonlySet<number>;
}

export function resolveShape(shape: SyntheticShapeName | SyntheticShape): SyntheticShape {
  if (typeof shape !== "string") return shape;
  if (!isSyntheticShapeName(shape)) throw new Error(`unknown synthetic shape ${shape}`);
  return SYNTHETIC_SHAPES[shape];
}

function headDim(s: SyntheticShape): number {
  return s.hidden / s.heads;
}

/** Checks a shape is one llama.cpp can load and the writer can store. */
export function validateShape(s: SyntheticShape, quant: SyntheticQuant): void {
  const ints: Array<keyof SyntheticShape> = ["layers", "hidden", "heads", "kvHeads", "ffn", "vocab", "contextLength"];
  for (const k of ints) {
    const v = s[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new Error(`shape ${s.name}: ${k} must be a positive integer`);
  }
  if (s.hidden % s.heads !== 0) throw new Error(`shape ${s.name}: hidden ${s.hidden} is not a multiple of heads ${s.heads}`);
  if (s.heads % s.kvHeads !== 0) throw new Error(`shape ${s.name}: heads ${s.heads} is not a multiple of kvHeads ${s.kvHeads}`);
  if (headDim(s) % 2 !== 0) throw new Error(`shape ${s.name}: head dimension must be even for RoPE`);
  if (quant === "Q8_0") {
    for (const [k, v] of [
      ["hidden", s.hidden],
      ["ffn", s.ffn],
    ] as const) {
      if (v % Q8_0_BLOCK_VALUES !== 0) throw new Error(`shape ${s.name}: ${k} ${v} is not a multiple of ${Q8_0_BLOCK_VALUES} (Q8_0 rows)`);
    }
  }
}

function planTensors(s: SyntheticShape, quant: SyntheticQuant, zeroTokenRows: ReadonlySet<number> = new Set()): TensorPlan[] {
  const w: GgmlType = quant === "Q8_0" ? GgmlType.Q8_0 : GgmlType.F16;
  const hd = headDim(s);
  const qDim = s.heads * hd;
  const kvDim = s.kvHeads * hd;
  const plan: TensorPlan[] = [
    { name: "token_embd.weight", dims: [s.hidden, s.vocab], type: w, fill: "random", zeroRows: zeroTokenRows },
    { name: "output_norm.weight", dims: [s.hidden], type: GgmlType.F32, fill: "ones" },
  ];
  if (!s.tiedEmbeddings) plan.push({ name: "output.weight", dims: [s.hidden, s.vocab], type: w, fill: "random", zeroRows: zeroTokenRows });
  if (s.ropeScaling) plan.push({ name: "rope_freqs.weight", dims: [hd / 2], type: GgmlType.F32, fill: "ropeFreqs" });
  for (let i = 0; i < s.layers; i++) {
    const b = `blk.${i}.`;
    plan.push({ name: `${b}attn_norm.weight`, dims: [s.hidden], type: GgmlType.F32, fill: "ones" });
    plan.push({ name: `${b}attn_q.weight`, dims: [s.hidden, qDim], type: w, fill: "random" });
    plan.push({ name: `${b}attn_k.weight`, dims: [s.hidden, kvDim], type: w, fill: "random" });
    plan.push({ name: `${b}attn_v.weight`, dims: [s.hidden, kvDim], type: w, fill: "random" });
    if (s.qkvBias) {
      plan.push({ name: `${b}attn_q.bias`, dims: [qDim], type: GgmlType.F32, fill: "smallRandom" });
      plan.push({ name: `${b}attn_k.bias`, dims: [kvDim], type: GgmlType.F32, fill: "smallRandom" });
      plan.push({ name: `${b}attn_v.bias`, dims: [kvDim], type: GgmlType.F32, fill: "smallRandom" });
    }
    plan.push({ name: `${b}attn_output.weight`, dims: [qDim, s.hidden], type: w, fill: "random" });
    plan.push({ name: `${b}ffn_norm.weight`, dims: [s.hidden], type: GgmlType.F32, fill: "ones" });
    plan.push({ name: `${b}ffn_gate.weight`, dims: [s.hidden, s.ffn], type: w, fill: "random" });
    plan.push({ name: `${b}ffn_up.weight`, dims: [s.hidden, s.ffn], type: w, fill: "random" });
    plan.push({ name: `${b}ffn_down.weight`, dims: [s.ffn, s.hidden], type: w, fill: "random" });
  }
  return plan;
}

const elementsOf = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Parameter count of a shape (tied embeddings counted once). */
export function syntheticParameterCount(shape: SyntheticShapeName | SyntheticShape): number {
  return planTensors(resolveShape(shape), "F16").reduce((sum, t) => sum + elementsOf(t.dims), 0);
}

/** The llama3 RoPE frequency factors, computed as llama.cpp's converter does. */
export function llama3RopeFactors(s: SyntheticShape): Float32Array {
  const r = s.ropeScaling;
  const dim = headDim(s);
  const out = new Float32Array(dim / 2);
  if (!r) return out.fill(1);
  const lowWavelen = r.originalContextLength / r.lowFreqFactor;
  const highWavelen = r.originalContextLength / r.highFreqFactor;
  for (let i = 0; i < dim / 2; i++) {
    const freq = 1 / s.ropeFreqBase ** ((2 * i) / dim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = r.factor;
    else {
      const smooth = (r.originalContextLength / wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / r.factor + smooth);
    }
  }
  return out;
}

/** xorshift128: fast, seedable, good enough for weights nobody reads. */
class Rng {
  private readonly state = new Uint32Array(4);
  constructor(seed: number) {
    // splitmix32 to spread the seed over the state
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.state[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.state[0] === 0) this.state[0] = 1;
  }
  fill(words: Uint32Array): void {
    const s = this.state;
    let a = s[0] ?? 1;
    let b = s[1] ?? 0;
    let c = s[2] ?? 0;
    let d = s[3] ?? 0;
    for (let i = 0; i < words.length; i++) {
      const t = a ^ (a << 11);
      a = b;
      b = c;
      c = d;
      d = (d ^ (d >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
      words[i] = d;
    }
    s[0] = a;
    s[1] = b;
    s[2] = c;
    s[3] = d;
  }
}

const CHUNK_BYTES = 1 << 22;
/** Q8_0 scale so that uniform int8 weights have a standard deviation of about 0.02. */
const Q8_0_SCALE_F16 = 0x0d1c; // ~3.1e-4 as IEEE half

async function writeTensorData(fh: fs.promises.FileHandle, t: TensorPlan, s: SyntheticShape, rng: Rng): Promise<number> {
  const elements = elementsOf(t.dims);
  const bytes = tensorBytes(t.type, elements);
  if (t.type === GgmlType.F32) {
    const values = new Float32Array(elements);
    if (t.fill === "ones") values.fill(1);
    else if (t.fill === "ropeFreqs") values.set(llama3RopeFactors(s));
    else {
      const words = new Uint32Array(elements);
      rng.fill(words);
      for (let i = 0; i < elements; i++) values[i] = ((words[i] ?? 0) / 0x100000000 - 0.5) * 0.04;
    }
    await fh.write(new Uint8Array(values.buffer));
    return bytes;
  }
  // Chunk sizes are whole Q8_0 blocks (34 bytes) and whole 4-byte words.
  const unit = t.type === GgmlType.Q8_0 ? Q8_0_BLOCK_BYTES * 2 : 4;
  const chunkCap = Math.floor(CHUNK_BYTES / unit) * unit;
  const words = new Uint32Array(chunkCap / 4);
  const buf = Buffer.from(words.buffer);
  let left = bytes;
  while (left > 0) {
    const n = Math.min(left, chunkCap);
    rng.fill(words);
    if (t.type === GgmlType.F16) {
      // Random sign and mantissa, exponent 3..10: |w| in [2^-12, 2^-4), never Inf/NaN/denormal.
      for (let i = 0; i < words.length; i++) {
        const w = words[i] ?? 0;
        words[i] = ((w & 0x83ff83ff) | ((((w >>> 10) & 0x00070007) + 0x00030003) << 10)) >>> 0;
      }
    } else {
      for (let off = 0; off < n; off += Q8_0_BLOCK_BYTES) buf.writeUInt16LE(Q8_0_SCALE_F16, off);
    }
    if (t.zeroRows && t.zeroRows.size > 0) {
      // Rows are ne0 values long; row r covers bytes [r * rowBytes, (r + 1) * rowBytes) of the tensor.
      const rowBytes = tensorBytes(t.type, t.dims[0] ?? 1);
      const chunkStart = bytes - left;
      const first = Math.floor(chunkStart / rowBytes);
      const last = Math.floor((chunkStart + n - 1) / rowBytes);
      for (let r = first; r <= last; r++) {
        if (!t.zeroRows.has(r)) continue;
        const from = Math.max(0, r * rowBytes - chunkStart);
        const to = Math.min(n, (r + 1) * rowBytes - chunkStart);
        buf.fill(0, from, to);
      }
    }
    await fh.write(buf, 0, n);
    left -= n;
  }
  return bytes;
}

function shapeMetadata(s: SyntheticShape, quant: SyntheticQuant, seed: number): Array<[string, GgufValue]> {
  const a = s.arch;
  const hd = headDim(s);
  const meta: Array<[string, GgufValue]> = [
    ["general.architecture", str(a)],
    ["general.type", str("model")],
    ["general.name", str(`synthetic ${s.name} (random weights, shape of ${s.mirrors})`)],
    ["general.file_type", u32(quant === "Q8_0" ? LlamaFileType.MOSTLY_Q8_0 : LlamaFileType.MOSTLY_F16)],
    ["general.quantization_version", u32(2)],
    ["general.alignment", u32(GGUF_DEFAULT_ALIGNMENT)],
    ["synthetic.shape", str(s.name)],
    ["synthetic.mirrors", str(s.mirrors)],
    ["synthetic.seed", u32(seed)],
    ["synthetic.generator_version", u32(SYNTHETIC_GENERATOR_VERSION)],
    [`${a}.block_count`, u32(s.layers)],
    [`${a}.context_length`, u32(s.contextLength)],
    [`${a}.embedding_length`, u32(s.hidden)],
    [`${a}.feed_forward_length`, u32(s.ffn)],
    [`${a}.attention.head_count`, u32(s.heads)],
    [`${a}.attention.head_count_kv`, u32(s.kvHeads)],
    [`${a}.attention.key_length`, u32(hd)],
    [`${a}.attention.value_length`, u32(hd)],
    [`${a}.rope.dimension_count`, u32(hd)],
    [`${a}.rope.freq_base`, f32(s.ropeFreqBase)],
    [`${a}.attention.layer_norm_rms_epsilon`, f32(s.rmsEps)],
    [`${a}.vocab_size`, u32(s.vocab)],
  ];
  return meta;
}

/**
 * Writes a synthetic GGUF to `outPath` (through a temporary file renamed at the end, so a cut-off
 * run never leaves a truncated model behind).
 */
export async function writeSyntheticGguf(options: WriteSyntheticGgufOptions): Promise<SyntheticGgufInfo> {
  const shape = resolveShape(options.shape);
  const seed = options.seed ?? 1;
  validateShape(shape, options.quant);
  const tokenizer: TokenizerMetadata = options.tokenizerFrom ? tokenizerFromGguf(options.tokenizerFrom, shape.vocab) : syntheticTokenizer(shape.vocab);
  const metadata = [...shapeMetadata(shape, options.quant, seed), ...tokenizer];
  const plan = planTensors(shape, options.quant, new Set(neverEmittedTokens(tokenizer)));

  const header = new GgufHeaderWriter();
  for (const ch of GGUF_MAGIC) header.u8(ch.charCodeAt(0));
  header.u32(GGUF_VERSION);
  header.u64(plan.length);
  header.u64(metadata.length);
  for (const [key, value] of metadata) header.keyValue(key, value);
  let offset = 0;
  const offsets: number[] = [];
  for (const t of plan) {
    header.string(t.name);
    header.u32(t.dims.length);
    for (const d of t.dims) header.u64(d);
    header.u32(t.type);
    header.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + tensorBytes(t.type, elementsOf(t.dims)), GGUF_DEFAULT_ALIGNMENT);
  }
  header.zeros(alignUp(header.length, GGUF_DEFAULT_ALIGNMENT) - header.length);

  fs.mkdirSync(path.dirname(path.resolve(options.outPath)), { recursive: true });
  const tmp = `${options.outPath}.${process.pid}.tmp`;
  const fh = await fs.promises.open(tmp, "w");
  const rng = new Rng(seed);
  let written = 0;
  try {
    await fh.write(header.bytes());
    written = header.length;
    const dataStart = written;
    for (let i = 0; i < plan.length; i++) {
      const t = plan[i] as TensorPlan;
      const at = dataStart + (offsets[i] ?? 0);
      if (at > written) {
        await fh.write(Buffer.alloc(at - written));
        written = at;
      }
      written += await writeTensorData(fh, t, shape, rng);
    }
    const end = dataStart + offset;
    if (end > written) {
      await fh.write(Buffer.alloc(end - written));
      written = end;
    }
  } catch (e) {
    await fh.close();
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  await fh.close();
  fs.renameSync(tmp, options.outPath);
  return {
    path: options.outPath,
    shape,
    quant: options.quant,
    bytes: written,
    tensorCount: plan.length,
    parameters: plan.reduce((sum, t) => sum + elementsOf(t.dims), 0),
  };
}
