/**
 * The project's trained test model (test/fixtures/models/rust-kb-tiny.gguf, issue 21) is the model
 * its card describes: the file is the one the card names, its vocabulary and chat template render
 * prompts token for token as the random-weight test model's do, and llama.cpp's greedy answer to
 * one prompt of each role is the answer PyTorch computed from the same GGUF's weights when it was
 * written (rust-kb-tiny.check.json) — so the GGUF means what was trained.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import type { Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPromptTokenizer, openLlama } from "../../src/llm/LlamaBackend.ts";
import type { Llama, LlamaModel } from "../../src/llm/llamaCpp.ts";
import { sharedModel, trainedModel } from "../helpers/scriptedBackend.ts";

const MODEL = trainedModel();
const CARD = MODEL.replace(/\.gguf$/, ".md");
const CHECK = MODEL.replace(/\.gguf$/, ".check.json");
const EOS = 2;

let llama: Llama;
let model: LlamaModel;

beforeAll(async () => {
  llama = await openLlama({ maxThreads: 2, gpu: false });
  model = await llama.loadModel({ modelPath: MODEL });
});
afterAll(async () => {
  await model?.dispose();
  await llama?.dispose();
});

describe("the trained test model", () => {
  it("is the file its model card names, under the 16 MiB the training machine can send back", () => {
    const bytes = fs.readFileSync(MODEL);
    const card = fs.readFileSync(CARD, "utf8");
    expect(card).toContain(createHash("sha256").update(bytes).digest("hex"));
    expect(card).toContain(bytes.length.toLocaleString("en-US"));
    expect(bytes.length).toBeLessThanOrEqual(16 * 1024 * 1024);
  });

  it("renders and counts prompts exactly as the random-weight Llama-2 ChatML test model does", async () => {
    const trained = await loadPromptTokenizer(llama, MODEL);
    const reference = await loadPromptTokenizer(llama, sharedModel("llama-2-tiny-random-chatml.gguf"));
    try {
      const system = "You are a Rust expert who builds a knowledge base.";
      const user = "File: notes/newtype.md\n\n[S1] Newtype\n# Newtype\n\nUse `struct Meters(f64);` to give a value its own type.";
      expect(trained.promptTokens(system, user)).toEqual(reference.promptTokens(system, user));
      expect(trained.countTokens(user)).toBe(reference.countTokens(user));
    } finally {
      await trained.dispose();
      await reference.dispose();
    }
  });

  it("gives llama.cpp's greedy answer for each role that PyTorch computed from the same weights", { timeout: 120_000 }, async () => {
    const { checks } = JSON.parse(fs.readFileSync(CHECK, "utf8")) as { checks: { role: string; prompt: number[]; greedy: number[] }[] };
    expect(checks.map((c) => c.role).sort()).toEqual(["extractor", "researcher", "synthesizer", "validator", "writer"]);
    const context = await model.createContext({ contextSize: 4096, threads: 2 });
    try {
      const sequence = context.getSequence();
      for (const check of checks) {
        await sequence.clearHistory();
        const out: number[] = [];
        const want = check.greedy.filter((t) => t !== EOS);
        for await (const token of sequence.evaluate(check.prompt as Token[], { temperature: 0 })) {
          if (Number(token) === EOS || out.length >= want.length) break;
          out.push(Number(token));
        }
        // The answer starts as JSON and is the same token for token (Q8_0 on both sides).
        expect(model.detokenize(out as Token[]).startsWith("{"), check.role).toBe(true);
        expect(out, check.role).toEqual(want);
      }
    } finally {
      await context.dispose();
    }
  });
});
