import { describe, expect, it } from "vitest";
import {
  fitToBudget,
  formatBytes,
  formatFitArithmetic,
  kvBytesPerSequence,
  type ModelMemoryProfile,
  maxSequencesThatFit,
  modelMemoryBytes,
  padContextSize,
  parseByteSize,
  profileFromShape,
} from "../../src/llm/memoryPlan.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** weights 100 MiB, buffers 10 MiB, 1 KiB of KV per token: 4 MiB per sequence at 4096 tokens. */
function model(overrides: Partial<ModelMemoryProfile> = {}): ModelMemoryProfile {
  return { label: "m", weightsBytes: 100 * MiB, overheadBytes: 10 * MiB, kvBytesPerToken: KiB, kvBytesPerSequenceFixed: 0, source: "manual", ...overrides };
}

describe("memory arithmetic", () => {
  it("pads contexts up to llama.cpp's 256 tokens", () => {
    expect(padContextSize(4096)).toBe(4096);
    expect(padContextSize(4000)).toBe(4096);
    expect(padContextSize(1)).toBe(256);
  });

  it("KV per sequence = KV per token x padded context + the fixed part, capped by the training context", () => {
    expect(kvBytesPerSequence(model(), 4096)).toBe(4 * MiB);
    expect(kvBytesPerSequence(model({ kvBytesPerSequenceFixed: 3 * KiB }), 4000)).toBe(4 * MiB + 3 * KiB);
    expect(kvBytesPerSequence(model({ trainContextSize: 2048 }), 4096)).toBe(2 * MiB);
  });

  it("a model's total is weights + overhead + N x KV per sequence", () => {
    // 100 + 10 + 30 x 4 = 230 MiB
    expect(modelMemoryBytes(model(), 4096, 30)).toBe(230 * MiB);
  });

  it("counts the sequences that fit next to the weights", () => {
    // (1024 - 100 - 10) / 4 = 228.5 -> 228
    expect(maxSequencesThatFit(model(), 4096, GiB)).toBe(228);
    // reserve 200 MiB: (1024 - 200 - 110) / 4 = 178.5 -> 178
    expect(maxSequencesThatFit(model(), 4096, GiB, 200 * MiB)).toBe(178);
    expect(maxSequencesThatFit(model(), 4096, 50 * MiB)).toBe(0);
  });
});

describe("fitToBudget", () => {
  it("keeps a configuration that fits as asked", () => {
    const r = fitToBudget([{ profile: model(), sequences: 30 }], { budgetBytes: GiB, contextSize: 4096, reserveBytes: 200 * MiB });
    expect(r.outcome).toBe("fits");
    expect(r.totalBytes).toBe(430 * MiB);
    expect(formatFitArithmetic(r)).toEqual([
      "m: weights 100.0 MiB + overhead 10.00 MiB + KV 4.00 MiB x 30 = 230.0 MiB",
      "total 230.0 MiB + reserve 200.0 MiB = 430.0 MiB <= budget 1.00 GiB: fits",
    ]);
  });

  it("shrinks the context first: 30 x 1 KiB x C <= 200 - 110 MiB gives C = 3072", () => {
    const r = fitToBudget([{ profile: model(), sequences: 30 }], { budgetBytes: 200 * MiB, contextSize: 4096 });
    expect(r.outcome).toBe("shrunk-context");
    expect(r.contextSize).toBe(3072);
    expect(r.models[0]?.sequences).toBe(30);
    expect(r.totalBytes).toBe(200 * MiB);
  });

  it("then takes sequences away at the floor context: (160 - 110) / 2 MiB = 25 sequences", () => {
    const r = fitToBudget([{ profile: model(), sequences: 30 }], { budgetBytes: 160 * MiB, contextSize: 4096, minContextSize: 2048 });
    expect(r.outcome).toBe("shrunk-sequences");
    expect(r.contextSize).toBe(2048);
    expect(r.models[0]?.sequences).toBe(25);
    expect(r.totalBytes).toBe(160 * MiB);
    expect(formatFitArithmetic(r)[1]).toBe(
      "total 160.0 MiB = 160.0 MiB <= budget 160.0 MiB: fits only with the context at its floor (2048 tokens) and fewer sequences (m 30 -> 25)",
    );
  });

  it("refuses when even the floors do not fit, and shows the arithmetic at the floors", () => {
    // 100 + 10 + 1 x 2 MiB = 112 MiB > 105 MiB
    const r = fitToBudget([{ profile: model(), sequences: 30 }], { budgetBytes: 105 * MiB, contextSize: 4096, minContextSize: 2048 });
    expect(r.outcome).toBe("refused");
    expect(r.fits).toBe(false);
    expect(r.models[0]?.sequences).toBe(1);
    expect(formatFitArithmetic(r)).toEqual([
      "m: weights 100.0 MiB + overhead 10.00 MiB + KV 2.00 MiB x 1 = 112.0 MiB (2048 tokens/seq)",
      "total 112.0 MiB = 112.0 MiB > budget 105.0 MiB: does not fit even at the floors (2048 tokens, 1 sequence per model)",
    ]);
  });

  it("takes sequences from the model with the most, ties going to the costlier one", () => {
    // At 2048 tokens A costs 2 MiB a sequence, B 4 MiB. 4xA + 4xB = 24 MiB > 17 MiB.
    // Tie -> B 3 (20), A has most -> A 3 (18), tie -> B 2 (14 <= 17).
    const a = model({ label: "A", weightsBytes: 0, overheadBytes: 0 });
    const b = model({ label: "B", weightsBytes: 0, overheadBytes: 0, kvBytesPerToken: 2 * KiB });
    const r = fitToBudget(
      [
        { profile: a, sequences: 4 },
        { profile: b, sequences: 4 },
      ],
      { budgetBytes: 17 * MiB, contextSize: 2048 },
    );
    expect(r.outcome).toBe("shrunk-sequences");
    expect(r.models.map((m) => m.sequences)).toEqual([3, 2]);
    expect(r.totalBytes).toBe(14 * MiB);
  });
});

describe("profileFromShape", () => {
  it("Qwen2.5-0.5B: 24 layers x 2 KV heads x 64 x (K+V) x 2 bytes = 12 KiB per token; logits 151936 x 512 x 4", () => {
    const p = profileFromShape("q", 491e6, { layers: 24, kvHeads: 2, headDim: 64, vocab: 151936 }, 32768);
    expect(p.kvBytesPerToken).toBe(12 * KiB);
    expect(p.kvBytesPerSequenceFixed).toBe(0);
    expect(p.overheadBytes).toBe(151936 * 512 * 4);
    expect(kvBytesPerSequence(p, 4096)).toBe(48 * MiB);
  });

  it("Gemma 3 1B: only every 6th layer keeps the whole context, the other 22 keep a 512-token window", () => {
    const p = profileFromShape("g", 806e6, { layers: 26, kvHeads: 1, headDim: 256, vocab: 262144, slidingWindow: 512, slidingWindowPattern: 6 });
    expect(p.kvBytesPerToken).toBe(4 * 1024); // 4 global layers x 1 x 256 x 4
    expect(p.kvBytesPerSequenceFixed).toBe(22 * 1024 * 512);
    expect(p.overheadBytes).toBe(262144 * 512 * 4 + 22 * 1024 * 512);
  });
});

describe("sizes", () => {
  it.each([
    ["24GB", 24 * GiB],
    ["24 GiB", 24 * GiB],
    ["24g", 24 * GiB],
    ["512MB", 512 * MiB],
    ["1.5GB", 1.5 * GiB],
    ["200mib", 200 * MiB],
    ["1073741824", GiB],
    ["64KB", 64 * KiB],
  ])("parses %s", (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(["", "abc", "0", "-1GB", "12 bytes", "5 GBs"])("rejects %j", (text) => {
    expect(parseByteSize(text)).toBeUndefined();
  });

  it("formats bytes in binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(300 * MiB)).toBe("300.0 MiB");
    expect(formatBytes(24 * GiB)).toBe("24.00 GiB");
  });
});
