/**
 * Prompts longer than the context, on the tiny real model (llama-2-tiny, context 512 here): the
 * backend on its own silently drops the start of the prompt (the file and the instructions);
 * through LlmService every role's prompt is shortened to fit first, so the model sees its head and
 * its step.
 */
import type { Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaModelBackend, openLlama } from "../../src/llm/LlamaBackend.ts";
import { LlmService } from "../../src/llm/LlmService.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { sharedModel } from "../helpers/scriptedBackend.ts";

let llama: Llama;
let backend: LlamaModelBackend;
beforeAll(async () => {
  llama = await openLlama({ maxThreads: 1, gpu: false });
  backend = await LlamaModelBackend.load(llama, {
    modelPath: sharedModel("llama-2-tiny-random-chatml.gguf"),
    sequences: 1,
    contextSize: 512,
    threads: 1,
    roleCaps: { extractor: 1, researcher: 1, writer: 1, validator: 1, synthesizer: 1 },
  });
});
afterAll(async () => {
  await backend?.dispose();
  await llama?.dispose();
});

const user = ["File: notes.md", ...Array.from({ length: 120 }, (_, i) => `[C${i + 1}] code\nfn f${i}() { let x = ${i}; }`), "Step: write entries."].join("\n");

describe("a prompt longer than the context", () => {
  it("is silently cut by the backend alone: most of the prompt never reaches the model", async () => {
    expect(backend.countTokens(user)).toBeGreaterThan(2 * backend.contextTokens);
    const r = await backend.generate({ role: "writer", prompt: { system: "sys", user }, maxTokens: 16, temperature: 0 });
    expect(r.inputTokens).toBeLessThan(backend.contextTokens);
  });

  it("is shortened to fit by LlmService for every role, keeping the file header and the step", async () => {
    const sent: BackendRequest[] = [];
    // The real backend object goes to LlmService (its countTokens is a method that needs its `this`).
    const generate = backend.generate.bind(backend);
    backend.generate = (req: BackendRequest) => {
      sent.push(req);
      return generate(req);
    };
    const llm = new LlmService({ backendFor: () => backend });
    for (const role of ["extractor", "researcher", "writer", "validator", "synthesizer"] as const)
      await llm.generateText({ runId: "r", role, callKey: role, prompt: { system: "sys", user }, maxTokens: 16 });
    expect(sent).toHaveLength(5);
    for (const req of sent) {
      expect(backend.countTokens(req.prompt.system) + backend.countTokens(req.prompt.user) + req.maxTokens).toBeLessThan(backend.contextTokens);
      expect(req.prompt.user.startsWith("File: notes.md\n[C1] code")).toBe(true);
      expect(req.prompt.user.endsWith("Step: write entries.")).toBe(true);
    }
  });
});
