/**
 * `inspect` (and the GGUF side of the memory plan) on the tiny real GGUFs in ../shared/models and
 * on a synthetic-shape model (random weights in SmolLM2-135M's exact shape, written by
 * src/gguf/writeSyntheticGguf.ts into a temporary directory).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCatalog } from "../../src/commands/models/catalog.ts";
import { formatInspect, inspectModel, resolveInspectTarget } from "../../src/commands/models/inspect.ts";
import { formatPlan, planModels } from "../../src/commands/models/plan.ts";
import { SYNTHETIC_SHAPES, syntheticParameterCount, writeSyntheticGguf } from "../../src/gguf/writeSyntheticGguf.ts";
import { kvBytesPerSequence, maxSequencesThatFit, profileFromShape } from "../../src/llm/memoryPlan.ts";
import { REPO, startCli } from "../helpers/cli.ts";

const MODELS = path.join(REPO, "../shared/models");
let tmp: string;
let synthetic: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "models-inspect-"));
  synthetic = path.join(tmp, "synthetic-smollm2-135m-Q8_0.gguf");
  await writeSyntheticGguf({ shape: "smollm2-135m", quant: "Q8_0", outPath: synthetic });
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("inspect on the tiny GGUFs", () => {
  it("stories260K: llama, 292.8K F32 parameters, SentencePiece vocab 512, no chat template, 640 B of KV per token", async () => {
    const r = await inspectModel(path.join(MODELS, "stories260K.gguf"), { contextSize: 2048, agents: 4 });
    expect(r.summary).toMatchObject({
      architecture: "llama",
      parameters: 292_800,
      layers: 5,
      embedding: 64,
      heads: 8,
      kvHeads: 4,
      headDim: 8,
      trainContextSize: 2048,
      chatTemplate: { present: false },
      tokenizer: { model: "llama", vocabSize: 512 },
    });
    expect(r.summary.tensorTypes.map((t) => t.type)).toEqual(["F32"]);
    expect(r.summary.tensorTypes[0]?.bytes).toBe(292_800 * 4);
    // 5 layers x 4 KV heads x 8 dims x (K + V) x 2 bytes
    expect(r.profile.kvBytesPerToken).toBeGreaterThanOrEqual(640);
    expect(r.profile.kvBytesPerToken).toBeLessThan(640 * 1.01);
    expect(r.profile.weightsBytes).toBe(292_800 * 4);
    const text = formatInspect(r);
    expect(text).toContain("Chat template none (node-llama-cpp will guess a chat wrapper; prefer a model with a template)");
    expect(text).toMatch(/4 agents x 2048 tokens: weights 1\.12 MiB \+ buffers [\d.]+ MiB \+ KV 1\.2\d MiB x 4 = /);
  });

  it("stories260K-chatml: the same model with a ChatML template", async () => {
    const r = await inspectModel(path.join(MODELS, "stories260K-chatml.gguf"), { contextSize: 2048, agents: 1 });
    expect(r.summary.chatTemplate).toMatchObject({ present: true, family: "chatml" });
  });

  it("llama-2-tiny-random: F16 weights, Llama-2 vocab 32000, 4096 context, 32 B of KV per token", async () => {
    const r = await inspectModel(path.join(MODELS, "llama-2-tiny-random.gguf"), { contextSize: 4096, agents: 2 });
    expect(r.summary).toMatchObject({ architecture: "llama", fileType: "MOSTLY_F16", layers: 1, trainContextSize: 4096, tokenizer: { vocabSize: 32000 } });
    expect(r.summary.tensorTypes[0]?.type).toBe("F16");
    expect(r.profile.kvBytesPerToken).toBeGreaterThanOrEqual(32);
    expect(r.profile.kvBytesPerToken).toBeLessThan(32 * 1.01);
    // Its 32000-word vocabulary makes the output buffers (32000 x 512 x 4 bytes) the biggest item.
    expect(r.profile.overheadBytes).toBeGreaterThan(32000 * 512 * 4 * 0.9);
  });

  it("refuses a catalog model that is not downloaded, saying how to get it", async () => {
    await expect(resolveInspectTarget("qwen3-0.6b-q8_0", loadCatalog(), tmp)).rejects.toMatchObject({
      code: "MODEL_NOT_FOUND",
      hint: expect.stringContaining("npm run models -- pull qwen3-0.6b-q8_0"),
    });
  });
});

describe("inspect on a synthetic-shape model (SmolLM2-135M shape, random Q8_0 weights)", () => {
  it("reads the real shape back and sizes its KV cache as the shape formula does", async () => {
    const shape = SYNTHETIC_SHAPES["smollm2-135m"];
    const r = await inspectModel(synthetic, { contextSize: 4096, agents: 30 });
    expect(r.summary).toMatchObject({
      architecture: "llama",
      fileType: "MOSTLY_Q8_0",
      parameters: syntheticParameterCount("smollm2-135m"),
      layers: shape.layers,
      embedding: shape.hidden,
      heads: shape.heads,
      kvHeads: shape.kvHeads,
      headDim: shape.hidden / shape.heads,
      trainContextSize: shape.contextLength,
      tokenizer: { vocabSize: shape.vocab },
    });
    expect(r.summary.name).toContain("synthetic");
    expect(r.summary.tensorTypes[0]?.type).toBe("Q8_0");
    // 30 layers x 3 KV heads x 64 dims x (K + V) x 2 bytes = 23040 B per token; 90 MiB per agent at 4096.
    const fromShape = profileFromShape("shape", fs.statSync(synthetic).size, { layers: 30, kvHeads: 3, headDim: 64, vocab: 49152 });
    expect(fromShape.kvBytesPerToken).toBe(23040);
    expect(Math.abs(r.profile.kvBytesPerToken - 23040) / 23040).toBeLessThan(0.01);
    expect(Math.abs(kvBytesPerSequence(r.profile, 4096) - 90 * 1024 * 1024) / (90 * 1024 * 1024)).toBeLessThan(0.01);
    // The shape-only overhead estimate (output logits of one batch) is within 10% of the GGUF-based one.
    expect(Math.abs(r.profile.overheadBytes - fromShape.overheadBytes) / r.profile.overheadBytes).toBeLessThan(0.1);
  });

  it("npm run models -- inspect FILE --json reports the same through the CLI", async () => {
    const run = await startCli("models", ["inspect", synthetic, "--json", "--agents", "8", "--context", "2048"]).done;
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { summary: { layers: number }; agents: number; contextSize: number; machine: { gpu: unknown } };
    expect(report.summary.layers).toBe(30);
    expect([report.agents, report.contextSize]).toEqual([8, 2048]);
    expect(report.machine).toHaveProperty("gpu");
  });
});

describe("plan from a GGUF file", () => {
  it("profiles the file and takes agents away when 30 do not fit 32 MiB at the model's whole 2048-token context", async () => {
    const file = path.join(MODELS, "stories260K.gguf");
    const r = await planModels([{ target: file, agents: undefined }], {
      catalog: loadCatalog(),
      directory: tmp,
      agents: 30,
      contextSize: 2048,
      minContextSize: 2048,
      budgetBytes: 32 * 1024 * 1024,
      budgetSource: "test",
      reserveBytes: 0,
      benchDir: path.join(tmp, "no-bench"),
      engine: { backend: "node-llama-cpp", reason: "node-llama-cpp in process (test)" },
    });
    const m = r.models[0];
    expect(m?.file).toBe(file);
    expect(m?.profile.source).toBe("gguf");
    expect(m?.fit.outcome).toBe("shrunk-sequences");
    const expected = maxSequencesThatFit(m!.profile, 2048, 32 * 1024 * 1024);
    expect(expected).toBeGreaterThan(10);
    expect(expected).toBeLessThan(30);
    expect(m?.fit.models[0]?.sequences).toBe(expected);
    expect(formatPlan(r)).toContain(`fits only with the context at its floor (2048 tokens) and fewer sequences (stories260K.gguf 30 -> ${expected})`);
  });
});
