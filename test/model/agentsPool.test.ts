/**
 * Several agents on one loaded model with the tiny real GGUFs: every call gets a sequence of its
 * own while it runs, no more calls run than there are sequences, and every sequence comes back.
 */

import type { Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEnv } from "../../src/config/env.ts";
import { applyOverrides, loadAgentsConfig } from "../../src/llm/agentsConfig.ts";
import { LlamaModelBackend, openLlama } from "../../src/llm/LlamaBackend.ts";
import { LlmService } from "../../src/llm/LlmService.ts";
import { openPool, planPool } from "../../src/llm/ModelPool.ts";
import { ROLES } from "../../src/llm/roles.ts";
import { sharedModel } from "../helpers/scriptedBackend.ts";

let llama: Llama;
beforeAll(async () => {
  llama = await openLlama({ maxThreads: 1, gpu: false });
});
afterAll(async () => {
  await llama.dispose();
});

describe("agents sharing one context", () => {
  it("gives every concurrent call its own sequence and returns them all", async () => {
    const backend = await LlamaModelBackend.load(llama, {
      modelPath: sharedModel("llama-2-tiny-random-chatml.gguf"),
      sequences: 4,
      contextSize: 512,
      threads: 1,
      roleCaps: { extractor: 2, researcher: 2, writer: 2, validator: 2, synthesizer: 1 },
    });
    const held = new Set<number>();
    const seen = new Set<number>();
    let maxHeld = 0;
    const acquire = backend.scheduler.acquire.bind(backend.scheduler);
    backend.scheduler.acquire = async (role, signal) => {
      const lease = await acquire(role, signal);
      expect(held.has(lease.slot), `slot ${lease.slot} handed out twice`).toBe(false);
      held.add(lease.slot);
      seen.add(lease.slot);
      maxHeld = Math.max(maxHeld, held.size);
      const release = lease.release;
      return {
        ...lease,
        release: () => {
          held.delete(lease.slot);
          release();
        },
      };
    };
    const llm = new LlmService({ backendFor: () => backend });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        llm.generateText({
          runId: "t",
          role: ROLES[i % ROLES.length] ?? "writer",
          callKey: `c${i}`,
          prompt: { system: "s", user: `question ${i}` },
          maxTokens: 12,
        }),
      ),
    );
    expect(results.every((r) => r.outputTokens > 0)).toBe(true);
    expect(maxHeld).toBe(4);
    expect(seen).toEqual(new Set([0, 1, 2, 3]));
    expect(held.size).toBe(0);
    expect(backend.scheduler.stats()).toMatchObject({ slots: 4, free: 4, waiting: { extractor: 0, writer: 0 } });
    expect(llm.counters.calls).toBe(12);
    await backend.dispose();
  });

  it("loads two model files once each and routes every role to its own", async () => {
    const config = applyOverrides(loadAgentsConfig(), { roleModels: ["synthesizer=stories"], contextSize: 512, memoryBudget: "4GB" });
    const plan = await planPool(config, {
      env: readEnv(),
      resolveSource: async (s) => (s === "stories" ? sharedModel("stories260K-chatml.gguf") : sharedModel("llama-2-tiny-random-chatml.gguf")),
      threads: 2,
      concurrency: 3,
    });
    const pool = await openPool(llama, plan);
    try {
      expect(pool.backends).toHaveLength(2);
      expect(pool.backendFor("synthesizer").modelId).toMatch(/^stories260K-chatml/);
      for (const r of ["extractor", "researcher", "writer", "validator"] as const) expect(pool.backendFor(r).modelId).toMatch(/^llama-2-tiny-random-chatml/);
      expect(plan.models.map((m) => m.threads)).toEqual([1, 1]);
      const llm = new LlmService({ backendFor: pool.backendFor });
      const r = await llm.generateText({ runId: "t", role: "synthesizer", callKey: "s", prompt: { system: "s", user: "Once upon a time" }, maxTokens: 8 });
      expect(r.outputTokens).toBeGreaterThan(0);
    } finally {
      await pool.dispose();
    }
  });
});
