import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readEnv } from "../../src/config/env.ts";
import { applyOverrides, loadAgentsConfig } from "../../src/llm/agentsConfig.ts";
import { chooseBackend, parseBackendChoice } from "../../src/llm/chooseBackend.ts";
import { planPool } from "../../src/llm/ModelPool.ts";
import type { ModelMemoryProfile } from "../../src/llm/memoryPlan.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "choose-backend-"));
const serverBin = path.join(dir, "llama-server");
fs.writeFileSync(serverBin, "#!/bin/sh\n", { mode: 0o755 });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const profile: ModelMemoryProfile = {
  label: "small",
  weightsBytes: 400 * 2 ** 20,
  kvBytesPerToken: 12 * 1024,
  kvBytesPerSequenceFixed: 0,
  overheadBytes: 0,
  source: "manual",
};

async function plan(options: { backend?: string; llamaServerBin?: string | null; defaultBackend?: string; cudaLikely?: boolean }) {
  const config = applyOverrides(loadAgentsConfig(), { memoryBudget: "64GB", ...(options.backend ? { backend: options.backend } : {}) });
  return await planPool(config, {
    resolveSource: async () => "/models/default.gguf",
    readProfile: async () => profile,
    threads: 2,
    uvThreadpoolSize: 1,
    llamaServerBin: options.llamaServerBin,
    env: { ...readEnv(), backend: options.defaultBackend ?? "auto" },
    cudaLikely: options.cudaLikely ?? false,
  });
}

describe("default engine choice", () => {
  it("auto takes llama-server when its binary is present and stays in process when it is not", () => {
    expect(chooseBackend("auto", { serverBin: serverBin })).toMatchObject({ backend: "llama-server", reason: expect.stringContaining(serverBin) });
    expect(chooseBackend("auto", { serverBin: undefined })).toMatchObject({ backend: "node-llama-cpp", reason: expect.stringMatching(/buildLlamaServer/) });
    expect(chooseBackend("auto", { serverBin, cudaLikely: true }).backend).toBe("node-llama-cpp");
  });

  it("an explicit backend wins over what is found", () => {
    expect(chooseBackend("node-llama-cpp", { serverBin }).backend).toBe("node-llama-cpp");
    expect(chooseBackend("llama-server", { serverBin: undefined }).backend).toBe("llama-server");
    expect(parseBackendChoice("llama")).toBe("node-llama-cpp");
    expect(parseBackendChoice("auto")).toBe("auto");
    expect(parseBackendChoice("ollama")).toBeUndefined();
  });

  it("the plan of a default config runs llama-server when the binary exists, in process when it does not", async () => {
    expect((await plan({ llamaServerBin: serverBin })).models.map((m) => m.backend)).toEqual(["llama-server"]);
    expect((await plan({ llamaServerBin: path.join(dir, "missing") })).models.map((m) => m.backend)).toEqual(["node-llama-cpp"]);
    expect((await plan({ llamaServerBin: null })).models.map((m) => m.backend)).toEqual(["node-llama-cpp"]);
    // A path given from outside (RUST_KB_LLAMA_SERVER) is named; this stub prints no version and no help.
    expect((await plan({ llamaServerBin: serverBin })).models[0]?.backendReason).toBe(
      `llama-server set by RUST_KB_LLAMA_SERVER (${serverBin}), grammar patch unknown`,
    );
  });

  it("--backend llama (or node-llama-cpp) forces the in-process engine even with llama-server present", async () => {
    expect((await plan({ backend: "llama", llamaServerBin: serverBin })).models.map((m) => m.backend)).toEqual(["node-llama-cpp"]);
    expect((await plan({ backend: "node-llama-cpp", llamaServerBin: serverBin })).models.map((m) => m.backend)).toEqual(["node-llama-cpp"]);
    expect((await plan({ backend: "llama-server", llamaServerBin: null })).models.map((m) => m.backend)).toEqual(["llama-server"]);
  });

  it("RUST_KB_BACKEND (how the test helpers pin the engine) stands in for auto, but not for an explicit choice", async () => {
    expect((await plan({ llamaServerBin: serverBin, defaultBackend: "node-llama-cpp" })).models.map((m) => m.backend)).toEqual(["node-llama-cpp"]);
    expect((await plan({ backend: "llama-server", defaultBackend: "node-llama-cpp" })).models.map((m) => m.backend)).toEqual(["llama-server"]);
    await expect(plan({ defaultBackend: "ollama" })).rejects.toMatchObject({ code: "CONFIG_INVALID" });
  });
});
