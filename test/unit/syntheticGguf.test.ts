import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GgmlType, tensorBytes } from "../../src/gguf/ggufFormat.ts";
import { readGgufHeader } from "../../src/gguf/readGgufHeader.ts";
import { neverEmittedTokens, syntheticTokenizer } from "../../src/gguf/syntheticTokenizer.ts";
import {
  llama3RopeFactors,
  SYNTHETIC_SHAPES,
  type SyntheticShape,
  syntheticParameterCount,
  validateShape,
  writeSyntheticGguf,
} from "../../src/gguf/writeSyntheticGguf.ts";

/** A qwen2-style shape small enough to write in milliseconds. */
const tinyQwen: SyntheticShape = {
  name: "tiny-qwen",
  mirrors: "nothing (test shape)",
  arch: "qwen2",
  layers: 2,
  hidden: 64,
  heads: 4,
  kvHeads: 2,
  ffn: 96,
  vocab: 1000,
  contextLength: 512,
  ropeFreqBase: 10000,
  rmsEps: 1e-6,
  qkvBias: true,
  tiedEmbeddings: true,
};
const tinyLlama: SyntheticShape = { ...tinyQwen, name: "tiny-llama", arch: "llama", qkvBias: false, tiedEmbeddings: false, layers: 1 };

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "synthetic-gguf-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const sha = (p: string) => createHash("sha256").update(fs.readFileSync(p)).digest("hex");

describe("writeSyntheticGguf", () => {
  it("writes a GGUF v3 header with the shape's hyper-parameters and a synthetic label", async () => {
    const out = path.join(dir, "q.gguf");
    const info = await writeSyntheticGguf({ shape: tinyQwen, quant: "Q8_0", outPath: out });
    const h = readGgufHeader(out);
    expect(h.version).toBe(3);
    expect(String(h.metadata.get("general.name"))).toContain("synthetic");
    expect(h.metadata.get("synthetic.shape")).toBe("tiny-qwen");
    expect(h.metadata.get("general.architecture")).toBe("qwen2");
    expect(h.metadata.get("qwen2.block_count")).toBe(2);
    expect(h.metadata.get("qwen2.embedding_length")).toBe(64);
    expect(h.metadata.get("qwen2.attention.head_count")).toBe(4);
    expect(h.metadata.get("qwen2.attention.head_count_kv")).toBe(2);
    expect(h.metadata.get("qwen2.feed_forward_length")).toBe(96);
    expect(h.metadata.get("qwen2.rope.freq_base")).toBe(10000);
    expect(h.metadata.get("qwen2.attention.layer_norm_rms_epsilon")).toBeCloseTo(1e-6, 10);
    expect(h.metadata.get("general.file_type")).toBe(7);
    expect((h.metadata.get("tokenizer.ggml.tokens") as string[]).length).toBe(1000);
    expect((h.metadata.get("tokenizer.ggml.scores") as number[]).length).toBe(1000);
    expect((h.metadata.get("tokenizer.ggml.token_type") as number[]).length).toBe(1000);
    expect(info.tensorCount).toBe(h.tensors.length);
  });

  it("lays out tensors with the converter's names, dims and types, 32-byte aligned, filling the file exactly", async () => {
    const out = path.join(dir, "q2.gguf");
    await writeSyntheticGguf({ shape: tinyQwen, quant: "Q8_0", outPath: out });
    const h = readGgufHeader(out);
    const byName = new Map(h.tensors.map((t) => [t.name, t]));
    // tied embeddings: no output.weight; qwen2: q/k/v biases in F32
    expect(byName.has("output.weight")).toBe(false);
    expect(byName.get("token_embd.weight")).toMatchObject({ dims: [64, 1000], type: GgmlType.Q8_0 });
    expect(byName.get("blk.1.attn_q.weight")).toMatchObject({ dims: [64, 64], type: GgmlType.Q8_0 });
    expect(byName.get("blk.1.attn_k.weight")).toMatchObject({ dims: [64, 32], type: GgmlType.Q8_0 });
    expect(byName.get("blk.1.attn_k.bias")).toMatchObject({ dims: [32], type: GgmlType.F32 });
    expect(byName.get("blk.0.ffn_down.weight")).toMatchObject({ dims: [96, 64], type: GgmlType.Q8_0 });
    expect(byName.get("blk.0.attn_norm.weight")).toMatchObject({ dims: [64], type: GgmlType.F32 });
    expect(h.tensors.length).toBe(2 + 2 * 12);
    let end = 0;
    for (const t of h.tensors) {
      expect(t.offset % 32).toBe(0);
      expect(t.offset).toBeGreaterThanOrEqual(end);
      end =
        t.offset +
        tensorBytes(
          t.type as 0 | 1 | 8,
          t.dims.reduce((a, b) => a * b, 1),
        );
    }
    expect(h.dataOffset % 32).toBe(0);
    expect(fs.statSync(out).size).toBe(h.dataOffset + Math.ceil(end / 32) * 32);
  });

  it("stores Q8_0 blocks with a finite f16 scale and F16 weights without Inf/NaN", async () => {
    const q8 = path.join(dir, "s.gguf");
    await writeSyntheticGguf({ shape: tinyQwen, quant: "Q8_0", outPath: q8 });
    const h = readGgufHeader(q8);
    const emb = h.tensors.find((t) => t.name === "token_embd.weight");
    const buf = fs.readFileSync(q8);
    const at = h.dataOffset + (emb?.offset ?? 0);
    expect(buf.readUInt16LE(at)).toBe(buf.readUInt16LE(at + 34));
    expect((buf.readUInt16LE(at) >> 10) & 0x1f).not.toBe(0x1f);

    const f16 = path.join(dir, "f.gguf");
    await writeSyntheticGguf({ shape: tinyLlama, quant: "F16", outPath: f16 });
    const hf = readGgufHeader(f16);
    expect(hf.metadata.get("general.file_type")).toBe(1);
    const out = hf.tensors.find((t) => t.name === "output.weight");
    expect(out).toMatchObject({ dims: [64, 1000], type: GgmlType.F16 });
    const fb = fs.readFileSync(f16);
    const start = hf.dataOffset + (out?.offset ?? 0);
    let nonFinite = 0;
    for (let i = 0; i < 64 * 1000; i++) if (((fb.readUInt16LE(start + 2 * i) >> 10) & 0x1f) === 0x1f) nonFinite++;
    expect(nonFinite).toBe(0);
  });

  it("gives the non-ASCII byte-fallback tokens all-zero embedding rows and no other token", async () => {
    const never = neverEmittedTokens(syntheticTokenizer(1000));
    expect(never.length).toBe(128);
    for (const quant of ["Q8_0", "F16"] as const) {
      const out = path.join(dir, `z-${quant}.gguf`);
      await writeSyntheticGguf({ shape: tinyQwen, quant, outPath: out });
      const h = readGgufHeader(out);
      const emb = h.tensors.find((t) => t.name === "token_embd.weight");
      const buf = fs.readFileSync(out);
      const rowBytes = quant === "Q8_0" ? (64 / 32) * 34 : 64 * 2;
      const rowIsZero = (r: number) =>
        buf.subarray(h.dataOffset + (emb?.offset ?? 0) + r * rowBytes, h.dataOffset + (emb?.offset ?? 0) + (r + 1) * rowBytes).every((b) => b === 0);
      const zeroRows = Array.from({ length: 1000 }, (_, r) => r).filter(rowIsZero);
      expect(zeroRows).toEqual(never);
    }
  });

  it("is deterministic for a seed and differs across seeds", async () => {
    const a = path.join(dir, "a.gguf");
    const b = path.join(dir, "b.gguf");
    const c = path.join(dir, "c.gguf");
    await writeSyntheticGguf({ shape: tinyQwen, quant: "Q8_0", outPath: a, seed: 7 });
    await writeSyntheticGguf({ shape: tinyQwen, quant: "Q8_0", outPath: b, seed: 7 });
    await writeSyntheticGguf({ shape: tinyQwen, quant: "Q8_0", outPath: c, seed: 8 });
    expect(sha(a)).toBe(sha(b));
    expect(sha(a)).not.toBe(sha(c));
  });

  it("is read the same way by node-llama-cpp's GGUF parser", async () => {
    const out = path.join(dir, "n.gguf");
    await writeSyntheticGguf({ shape: tinyQwen, quant: "Q8_0", outPath: out });
    const { readGgufFileInfo } = await import("node-llama-cpp");
    const info = await readGgufFileInfo(out, { logWarnings: false });
    expect(info.version).toBe(3);
    expect(info.tensorInfo?.length).toBe(26);
    const meta = info.metadata as unknown as { general: { name: string }; qwen2: { block_count: number } };
    expect(meta.general.name).toContain("synthetic");
    expect(meta.qwen2.block_count).toBe(2);
  });

  it("rejects shapes llama.cpp or Q8_0 cannot hold", () => {
    expect(() => validateShape({ ...tinyQwen, heads: 5 }, "F16")).toThrow(/multiple of heads/);
    expect(() => validateShape({ ...tinyQwen, kvHeads: 3 }, "F16")).toThrow(/multiple of kvHeads/);
    expect(() => validateShape({ ...tinyQwen, ffn: 100 }, "Q8_0")).toThrow(/Q8_0/);
    expect(() => validateShape({ ...tinyQwen, ffn: 100 }, "F16")).not.toThrow();
  });
});

describe("SYNTHETIC_SHAPES", () => {
  it("match the real models' parameter counts", () => {
    // Published sizes: SmolLM2-135M 134.5M, Qwen2.5-0.5B 494M, Llama-3.2-1B 1.236B (tied embeddings).
    expect(syntheticParameterCount("smollm2-135m") / 1e6).toBeCloseTo(134.5, 0);
    expect(syntheticParameterCount("qwen2.5-0.5b") / 1e6).toBeCloseTo(494.0, 0);
    expect(syntheticParameterCount("llama3.2-1b") / 1e9).toBeCloseTo(1.236, 2);
  });

  it("are all valid for Q8_0", () => {
    for (const shape of Object.values(SYNTHETIC_SHAPES)) expect(() => validateShape(shape, "Q8_0")).not.toThrow();
  });

  it("give llama3.2-1b llama3 RoPE factors from 1 (high frequencies) to 32 (low)", () => {
    const f = llama3RopeFactors(SYNTHETIC_SHAPES["llama3.2-1b"]);
    expect(f.length).toBe(32);
    expect(f[0]).toBe(1);
    expect(f[31]).toBe(32);
  });
});

describe("syntheticTokenizer", () => {
  it("has exactly the requested number of unique tokens with byte fallback and ChatML controls", () => {
    for (const size of [300, 49152, 151936]) {
      const meta = new Map(syntheticTokenizer(size));
      const tokens = meta.get("tokenizer.ggml.tokens")?.value as string[];
      expect(tokens.length).toBe(size);
      expect(new Set(tokens).size).toBe(size);
      expect(tokens).toContain("<0x0A>");
      expect(tokens).toContain("<|im_end|>");
    }
  });
});
