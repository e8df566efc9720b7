import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readEnv } from "../../src/config/env.ts";
import { applyOverrides, loadAgentsConfig, parseAgentsConfig } from "../../src/llm/agentsConfig.ts";
import { planPool } from "../../src/llm/ModelPool.ts";
import type { ModelMemoryProfile } from "../../src/llm/memoryPlan.ts";

const MiB = 1024 * 1024;

describe("agents config", () => {
  it("ships the users' plan: 10 extractors, 8 researchers, 6 writers, 4 validators, 2 synthesizers on one model", () => {
    const c = loadAgentsConfig();
    expect(Object.fromEntries(Object.entries(c.roles).map(([r, s]) => [r, s.agents]))).toEqual({
      extractor: 10,
      researcher: 8,
      writer: 6,
      validator: 4,
      synthesizer: 2,
    });
    expect(Object.keys(c.models)).toEqual(["default"]);
    expect(c.memory).toMatchObject({ budget: "auto", share: 0.8, reserve: "256MB" });
  });

  it.each([
    [{ roles: { extractor: { model: "nope", agents: 1 } } }, /roles\.extractor\.model: no model "nope"/],
    [{ roles: { writer: { model: "default", agents: 0 } } }, /roles\.writer\.agents/],
    [{ surprise: true }, /Unrecognized key/],
    [{ memory: { budget: "lots" } }, /memory\.budget/],
    [{ models: { default: { source: null, backend: "ollama" } } }, /models\.default\.backend/],
  ])("reports what is wrong with %j", (patch, message) => {
    const base = JSON.parse(fs.readFileSync(path.resolve("config/agents.json"), "utf8"));
    const merged = {
      ...base,
      ...patch,
      roles: { ...base.roles, ...(patch as { roles?: object }).roles },
      memory: { ...base.memory, ...(patch as { memory?: object }).memory },
    };
    expect(() => parseAgentsConfig(merged, "test config")).toThrow(message);
  });

  it("reports unreadable files with the path", () => {
    const f = path.join(os.tmpdir(), `agents-${process.pid}.json`);
    fs.writeFileSync(f, "{ nope");
    expect(() => loadAgentsConfig(f)).toThrow(/Cannot read the agents config .*agents-\d+\.json/);
    fs.rmSync(f);
  });

  it("applies command-line overrides and drops models no role uses", () => {
    const c = applyOverrides(loadAgentsConfig(), {
      agents: "extractor=4,writer=2",
      roleModels: ["synthesizer=/models/big.gguf"],
      contextSize: 2048,
      memoryBudget: "6GB",
    });
    expect(c.roles.extractor.agents).toBe(4);
    expect(c.roles.writer.agents).toBe(2);
    expect(c.roles.synthesizer.model).toBe("synthesizer-model");
    expect(c.models["synthesizer-model"]).toEqual({ source: "/models/big.gguf", contextSize: 2048, backend: "auto" });
    expect(c.models.default?.contextSize).toBe(2048);
    expect(c.memory.budget).toBe("6GB");
    expect(() => applyOverrides(c, { agents: "painter=3" })).toThrow(/--agents takes role=count/);
    expect(() => applyOverrides(c, { roleModels: ["writer"] })).toThrow(/--role-model takes role=PATH/);
  });
});

/** Hand-checkable profiles: weights W, KV per token k (no fixed part), overhead O. */
function profile(label: string, weightsMiB: number, kvKiBPerToken: number, overheadMiB = 0): ModelMemoryProfile {
  return {
    label,
    weightsBytes: weightsMiB * MiB,
    kvBytesPerToken: kvKiBPerToken * 1024,
    kvBytesPerSequenceFixed: 0,
    overheadBytes: overheadMiB * MiB,
    source: "manual",
    trainContextSize: 32768,
  };
}

describe("planPool (admission)", () => {
  // The test run's environment (vitest.config.ts pins RUST_KB_BACKEND to node-llama-cpp).
  const env = readEnv();
  const resolveSource = async (s: string | null) => s ?? "/models/default.gguf";
  const profiles: Record<string, ModelMemoryProfile> = {
    "/models/default.gguf": profile("small", 400, 12),
    "/models/big.gguf": profile("big", 1000, 28),
  };
  const readProfile = async (file: string) => profiles[file] ?? profile(file, 1, 1);
  const budget = (bytes: number) => async () => ({ bytes, what: "free RAM" });

  it("loads each file once with sequences for every agent that uses it, and divides the threads", async () => {
    const config = applyOverrides(loadAgentsConfig(), { roleModels: ["synthesizer=/models/big.gguf"], memoryBudget: "64GB" });
    const plan = await planPool(config, { env, resolveSource, readProfile, threads: 8 });
    expect(plan.models.map((m) => [m.label, m.roles, m.sequences, m.threads])).toEqual([
      ["small", ["extractor", "researcher", "writer", "validator"], 28, 7],
      ["big", ["synthesizer"], 2, 1],
    ]);
    expect(plan.fit.outcome).toBe("fits");
  });

  it("with one libuv pool thread the models' decodes take turns, so each model gets every thread", async () => {
    const config = applyOverrides(loadAgentsConfig(), { roleModels: ["synthesizer=/models/big.gguf"], memoryBudget: "64GB" });
    const plan = await planPool(config, { env, resolveSource, readProfile, threads: 8, uvThreadpoolSize: 1 });
    expect(plan.models.map((m) => [m.label, m.threads])).toEqual([
      ["small", 8],
      ["big", 8],
    ]);
  });

  it("two config keys naming one file share one load", async () => {
    const config = applyOverrides(loadAgentsConfig(), { roleModels: ["writer=/models/default.gguf"], memoryBudget: "64GB" });
    const plan = await planPool(config, { env, resolveSource, readProfile, threads: 2 });
    expect(plan.models).toHaveLength(1);
    expect(plan.models[0]?.sequences).toBe(30);
  });

  it("--concurrency caps every role and every model's sequences", async () => {
    const plan = await planPool(applyOverrides(loadAgentsConfig(), { memoryBudget: "64GB" }), { env, resolveSource, readProfile, threads: 2, concurrency: 3 });
    expect(plan.models[0]?.sequences).toBe(3);
    expect(plan.models[0]?.roleCaps).toEqual({ extractor: 3, researcher: 3, writer: 3, validator: 3, synthesizer: 2 });
    expect(plan.concurrency).toBe(3);
  });

  it("shrinks the context per sequence first when the budget is short", async () => {
    // Budget 80% of 2500 MiB = 2000 MiB, less the 256 MiB reserve: 1744 MiB for the model.
    // 400 MiB weights + 30 x 12 KiB x 8192 (the default) = 3280 MiB does not fit, nor 4096 (1840 MiB); 30 x 12 KiB x 3584 = 1260 MiB does
    // (3840 would need 1350 MiB of KV, over the 1344 MiB left).
    const plan = await planPool(loadAgentsConfig(), { env, resolveSource, readProfile, threads: 2, freeMemory: budget(2500 * MiB) });
    expect(plan.fit.outcome).toBe("shrunk-context");
    expect(plan.models[0]?.contextSize).toBe(3584);
    expect(plan.models[0]?.sequences).toBe(30);
  });

  it("--backend puts every model on llama-server; one file with two backends is refused", async () => {
    const c = applyOverrides(loadAgentsConfig(), { roleModels: ["synthesizer=/models/big.gguf"], backend: "llama-server", memoryBudget: "64GB" });
    expect(Object.values(c.models).map((m) => m.backend)).toEqual(["llama-server", "llama-server"]);
    const plan = await planPool(c, { env, resolveSource, readProfile, threads: 2, uvThreadpoolSize: 1 });
    expect(plan.models.map((m) => [m.label, m.backend, m.threads])).toEqual([
      ["small", "llama-server", 1],
      ["big", "llama-server", 1],
    ]);
    expect(() => applyOverrides(loadAgentsConfig(), { backend: "ollama" })).toThrow(/--backend takes auto, node-llama-cpp, llama-server or llama/);
    const mixed = applyOverrides(loadAgentsConfig(), { roleModels: ["writer=/models/default.gguf"], memoryBudget: "64GB" });
    mixed.models["writer-model"] = { source: "/models/default.gguf", contextSize: 4096, backend: "llama-server" };
    await expect(planPool(mixed, { env, resolveSource, readProfile, threads: 2 })).rejects.toThrow(/same file .* with different backends/);
  });

  it("refuses before loading, with the arithmetic and what to change", async () => {
    const run = planPool(loadAgentsConfig(), { env, resolveSource, readProfile, threads: 2, freeMemory: budget(800 * MiB) });
    await expect(run).rejects.toThrow(/does not fit the memory budget \(80% of 800\.0 MiB free RAM\)/);
    await expect(run).rejects.toThrow(/small: weights 400\.0 MiB \+ overhead 0 B \+ KV 24\.00 MiB x 1 = 424\.0 MiB/);
    await expect(run).rejects.toMatchObject({ code: "MEMORY_BUDGET", hint: expect.stringMatching(/fewer agents/) });
  });

  it("--endpoint puts every model on the servers: nothing resolved, read or admitted locally; --role-model roles stay local", async () => {
    const touched: string[] = [];
    const spy = {
      resolveSource: async (src: string | null) => {
        touched.push(`resolve:${src}`);
        return resolveSource(src);
      },
      readProfile: async (file: string) => {
        touched.push(`read:${file}`);
        return readProfile(file);
      },
      freeMemory: async () => {
        touched.push("free");
        return { bytes: 64 * 1024 * MiB, what: "free RAM" };
      },
    };
    const c = applyOverrides(loadAgentsConfig(), {
      endpoints: ["http://127.0.0.1:8080/v1/", "http://127.0.0.1:8081"],
      endpointModel: "qwen",
      apiKeyEnv: "K",
      endpointSlots: 3,
    });
    expect(c.models.default).toMatchObject({ endpoint: ["http://127.0.0.1:8080/v1/", "http://127.0.0.1:8081"], model: "qwen", apiKeyEnv: "K", slots: 3 });
    const plan = await planPool(c, { env, ...spy, threads: 2, concurrency: 12 });
    expect(touched).toEqual([]);
    expect(plan.models).toEqual([
      expect.objectContaining({
        backend: "endpoint",
        roles: ["extractor", "researcher", "writer", "validator", "synthesizer"],
        sequences: 12,
        endpoint: { urls: ["http://127.0.0.1:8080", "http://127.0.0.1:8081"], model: "qwen", apiKeyEnv: "K", slots: 3 },
      }),
    ]);
    const mixed = applyOverrides(loadAgentsConfig(), {
      endpoints: ["http://127.0.0.1:8080"],
      roleModels: ["synthesizer=/models/big.gguf"],
      memoryBudget: "64GB",
    });
    const plan2 = await planPool(mixed, { env, ...spy, threads: 2 });
    expect(plan2.models.map((m) => [m.backend, m.roles])).toEqual([
      ["node-llama-cpp", ["synthesizer"]],
      ["endpoint", ["extractor", "researcher", "writer", "validator"]],
    ]);
    // Only the local role's file is resolved and read (the budget is given, so free memory is not probed).
    expect(touched).toEqual(["resolve:/models/big.gguf", "read:/models/big.gguf"]);
  });

  it("refuses endpoint settings without an endpoint and URLs with credentials (without echoing them)", () => {
    expect(() => applyOverrides(loadAgentsConfig(), { endpointModel: "m" })).toThrow(/--endpoint-model applies to a model server, and no --endpoint is given/);
    const withSecret = () => applyOverrides(loadAgentsConfig(), { endpoints: ["http://user:s3cret@127.0.0.1:8080"] });
    expect(withSecret).toThrow(/must not carry credentials/);
    try {
      withSecret();
    } catch (e) {
      expect(String((e as Error).message)).not.toContain("s3cret");
    }
    expect(() => parseAgentsConfig({ ...loadAgentsConfig(), models: { default: { source: null, slots: 2 } } })).toThrow(
      /"slots" applies only to a model with an "endpoint"/,
    );
  });
});
