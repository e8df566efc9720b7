import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SyntheticShape, writeSyntheticGguf } from "../../src/gguf/writeSyntheticGguf.ts";

/** Small enough to write and run in well under a second, but every tensor kind of the qwen2 shape. */
const tiny: SyntheticShape = {
  name: "tiny-qwen",
  mirrors: "nothing (test shape)",
  arch: "qwen2",
  layers: 2,
  hidden: 128,
  heads: 4,
  kvHeads: 2,
  ffn: 256,
  vocab: 4096,
  contextLength: 1024,
  ropeFreqBase: 1000000,
  rmsEps: 1e-6,
  qkvBias: true,
  tiedEmbeddings: true,
};

let dir: string;
let llama: Llama;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "synthetic-gguf-model-"));
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: 1, logLevel: LlamaLogLevel.error, progressLogs: false });
});
afterAll(async () => {
  await llama?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("synthetic GGUF in node-llama-cpp", () => {
  for (const quant of ["Q8_0", "F16"] as const) {
    it(`loads a ${quant} file, tokenizes, and generates the requested tokens`, async () => {
      const out = path.join(dir, `tiny-${quant}.gguf`);
      await writeSyntheticGguf({ shape: tiny, quant, outPath: out });
      const { LlamaCompletion } = await import("node-llama-cpp");
      const model = await llama.loadModel({ modelPath: out });
      try {
        expect(model.fileInfo.metadata.general.name).toContain("synthetic");
        expect(model.trainContextSize).toBe(1024);
        expect(model.tokenize("the quick brown fox").length).toBeGreaterThan(0);
        const context = await model.createContext({ contextSize: 256, threads: 1 });
        const sequence = context.getSequence();
        const completion = new LlamaCompletion({ contextSequence: sequence });
        const before = sequence.tokenMeter.getState();
        await completion.generateCompletion("Once upon a time", { maxTokens: 8 });
        const used = sequence.tokenMeter.diff(before);
        // Random weights may hit EOS early; never more than asked, at least one token.
        expect(used.usedOutputTokens).toBeGreaterThan(0);
        expect(used.usedOutputTokens).toBeLessThanOrEqual(8);
        await context.dispose();
      } finally {
        await model.dispose();
      }
    });
  }
});
