import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type BenchResult, matchBench, readBenchResults } from "../../src/commands/models/benchResults.ts";
import { loadCatalog } from "../../src/commands/models/catalog.ts";
import { formatPlan, type PlanOptions, planModels } from "../../src/commands/models/plan.ts";
import { isUserError } from "../../src/errors.ts";
import { type ChosenBackend, NO_SERVER_REASON } from "../../src/llm/chooseBackend.ts";

const MiB = 1024 ** 2;
const IN_PROCESS: ChosenBackend = { backend: "node-llama-cpp", reason: NO_SERVER_REASON };
const PATCHED_SERVER: ChosenBackend = {
  backend: "llama-server",
  reason: "llama-server 0.4.0-dev from the build cache (/c/llama-server), with the project's grammar patch",
};
const GiB = 1024 ** 3;
const catalog = loadCatalog();
let tmp: string;
let emptyModels: string;
let benchDir: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "models-plan-"));
  emptyModels = path.join(tmp, "models");
  benchDir = path.join(tmp, "bench");
  fs.mkdirSync(emptyModels);
  fs.mkdirSync(benchDir);
  const base = { quant: "Q4_K_M", threads: 2, aggregateTokPerSec: 100, perAgentTokPerSec: 10 };
  fs.writeFileSync(
    path.join(benchDir, "one.json"),
    JSON.stringify({ ...base, modelShape: "qwen2.5-0.5b", n: 30, aggregateTokPerSec: 210.5, perAgentTokPerSec: 7.0, synthetic: true }),
  );
  fs.writeFileSync(
    path.join(benchDir, "many.json"),
    JSON.stringify([
      { ...base, modelShape: "llama3.2-1b", n: 8, date: "2026-01-01" },
      { ...base, modelShape: "llama3.2-1b", n: 16 },
      { modelShape: "llama3.2-1b", n: "lots" },
    ]),
  );
  fs.writeFileSync(path.join(benchDir, "wrapped.json"), JSON.stringify({ results: [{ ...base, modelShape: "llama3.2-1b", n: 64 }] }));
  fs.writeFileSync(path.join(benchDir, "broken.json"), "{");
});

function options(overrides: Partial<PlanOptions> = {}): PlanOptions {
  return {
    catalog,
    directory: emptyModels,
    agents: 30,
    contextSize: 4096,
    minContextSize: 2048,
    budgetBytes: 24 * GiB,
    budgetSource: "--memory 24GB",
    reserveBytes: 200 * MiB,
    benchDir,
    engine: IN_PROCESS,
    ...overrides,
  };
}

describe("bench results", () => {
  it("reads objects, arrays and {results}, skipping what does not fit with a warning", () => {
    const r = readBenchResults(benchDir);
    expect(r.results.map((x) => `${x.modelShape}/${x.n}`).sort()).toEqual(["llama3.2-1b/16", "llama3.2-1b/64", "llama3.2-1b/8", "qwen2.5-0.5b/30"]);
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings.join("\n")).toMatch(/broken\.json: not JSON/);
    expect(r.warnings.join("\n")).toMatch(/many\.json \[2\]: not a bench result/);
    expect(readBenchResults(path.join(tmp, "nope")).dirExists).toBe(false);
  });

  it("matches shape and quant, exact n first, else the nearest measured n on each side", () => {
    const mk = (n: number, date?: string): BenchResult => ({
      modelShape: "s",
      quant: "Q8_0",
      threads: 1,
      n,
      aggregateTokPerSec: n,
      perAgentTokPerSec: 1,
      date,
      file: "f",
    });
    const all = [mk(8), mk(16), mk(30, "2026-01-01"), mk(30, "2026-02-01")];
    expect(matchBench(all, "S", "q8_0", 30).exact?.date).toBe("2026-02-01");
    const near = matchBench(all, "s", "Q8_0", 20);
    expect([near.exact, near.below?.n, near.above?.n]).toEqual([undefined, 16, 30]);
    expect(matchBench(all, "s", "Q4_K_M", 30)).toEqual({ exact: undefined, below: undefined, above: undefined });
  });
});

describe("planModels", () => {
  it("plans a catalog model that is not downloaded from its shape, with the arithmetic and the bench figure", async () => {
    const r = await planModels([{ target: "qwen2.5-0.5b-instruct-q4_k_m", agents: undefined }], options());
    const m = r.models[0];
    expect(m?.file).toBeUndefined();
    // weights 491e6 (catalog) + logits 151936 x 512 x 4 = 311164928 + 30 x 12 KiB x 4096
    expect(m?.fit.modelsBytes).toBe(491e6 + 311164928 + 30 * 48 * MiB);
    expect(m?.fit.outcome).toBe("fits");
    // (24 GiB - 200 MiB - 491e6 - 311164928) / 48 MiB = 491.9 (reserve as passed in options())
    expect(m?.maxAgents).toBe(491);
    expect(m?.bench?.exact?.aggregateTokPerSec).toBe(210.5);
    const text = formatPlan(r);
    expect(text).toContain("qwen2.5-0.5b-instruct-q4_k_m: weights 468.3 MiB + overhead 296.8 MiB + KV 48.00 MiB x 30 = 2.15 GiB");
    expect(text).toContain("<= budget 24.00 GiB: fits");
    expect(text).toContain("n=30, 2 threads: 210.5 tok/s aggregate, 7.0 tok/s per agent (node-llama-cpp in process, synthetic weights) [one.json]");
  });

  it("says so when no bench result exists, and shows other agent counts without interpolating", async () => {
    const r = await planModels(
      [
        { target: "gemma-3-1b-it-q8_0", agents: undefined },
        { target: "llama-3.2-1b-instruct-q4_k_m", agents: undefined },
      ],
      options(),
    );
    const text = formatPlan(r);
    expect(text).toMatch(/tokens\/s: no bench result for shape gemma3-1b Q8_0 in /);
    expect(text).toMatch(/no bench result at n=30; measured nearby \(not interpolated\):\n {4}n=16.*\n {4}n=64/);
  });

  it("shrinks the context of a mix to fit: 28 x Qwen 0.5B + 2 x SmolLM2 1.7B in 4 GiB gets 2816 tokens", async () => {
    const r = await planModels(
      [
        { target: "qwen2.5-0.5b-instruct-q4_k_m", agents: 28 },
        { target: "smollm2-1.7b-instruct-q4_k_m", agents: 2 },
      ],
      options({ budgetBytes: 4 * GiB }),
    );
    expect(r.mode).toBe("mix");
    expect(r.mix?.outcome).toBe("shrunk-context");
    expect(r.mix?.contextSize).toBe(2816);
    // fixed: (491e6 + 311164928) + (1060e6 + 100663296); KV: (28 x 12288 + 2 x 196608) x 2816
    expect(r.mix?.modelsBytes).toBe(491e6 + 311164928 + 1060e6 + 100663296 + (28 * 12288 + 2 * 196608) * 2816);
    expect(formatPlan(r)).toContain("fits with the context shrunk from 4096 to 2816 tokens per sequence");
  });

  it("refuses a half-specified mix and unknown models with a UserError", async () => {
    await expect(
      planModels(
        [
          { target: "qwen3-0.6b-q8_0", agents: 2 },
          { target: "qwen3-0.6b-q4_k_m", agents: undefined },
        ],
        options(),
      ),
    ).rejects.toSatisfy((e) => isUserError(e) && e.code === "USAGE");
    await expect(planModels([{ target: "qwen9", agents: undefined }], options())).rejects.toSatisfy((e) => isUserError(e) && e.code === "MODEL_NOT_FOUND");
  });
});

describe("the engine the plan assumes", () => {
  let engineBench: string;
  beforeAll(() => {
    engineBench = path.join(tmp, "engine-bench");
    fs.mkdirSync(engineBench);
    const base = { modelShape: "qwen2.5-0.5b", quant: "Q4_K_M", threads: 2, n: 30 };
    // Written before results named their engine: node-llama-cpp's.
    fs.writeFileSync(path.join(engineBench, "in-process.json"), JSON.stringify({ ...base, aggregateTokPerSec: 100, perAgentTokPerSec: 3.3 }));
    fs.writeFileSync(
      path.join(engineBench, "server.json"),
      JSON.stringify({ ...base, engine: "llama-server", aggregateTokPerSec: 130, perAgentTokPerSec: 4.3 }),
    );
  });
  const qwen = [{ target: "qwen2.5-0.5b-instruct-q4_k_m", agents: undefined }];

  it("names the engine and its speed basis, and takes the bench figure measured on that engine", async () => {
    const server = await planModels(qwen, options({ benchDir: engineBench, engine: PATCHED_SERVER }));
    expect(server.models[0]?.bench?.exact?.aggregateTokPerSec).toBe(130);
    const text = formatPlan(server);
    expect(text).toContain(`Engine: ${PATCHED_SERVER.reason}.`);
    expect(text).toMatch(/Speed basis: tok\/s are bench results of free generation measured on llama-server .*this llama-server keeps about 0\.98x of it/);
    const inProcess = await planModels(qwen, options({ benchDir: engineBench }));
    expect(inProcess.models[0]?.bench?.exact?.aggregateTokPerSec).toBe(100);
    expect(formatPlan(inProcess)).toMatch(/Engine: node-llama-cpp in process \(no llama-server built.*\n.*node-llama-cpp in process keeps about 0\.65x of it/);
  });

  it("shows a figure measured on the other engine only marked as such", async () => {
    const r = await planModels(qwen, options({ engine: PATCHED_SERVER }));
    expect(r.models[0]?.benchEngine).toBe("node-llama-cpp");
    const text = formatPlan(r);
    expect(text).toContain("211 (7.0/agent, node-llama-cpp in process)");
    expect(text).toContain("tokens/s: no bench result on llama-server for this shape; the figures below are node-llama-cpp in process's");
  });

  it("an unpatched llama-server's cost is stated under the engine", async () => {
    const unpatched: ChosenBackend = {
      backend: "llama-server",
      reason: "llama-server 6810 (80fb11ac) found on PATH (/opt/homebrew/bin/llama-server), without the project's grammar patch",
      cost: "llama-server without the project's grammar patch, llama.cpp as shipped ran at 0.56x of its free rate",
    };
    const text = formatPlan(await planModels(qwen, options({ benchDir: engineBench, engine: unpatched })));
    expect(text).toContain(
      "found on PATH (/opt/homebrew/bin/llama-server), without the project's grammar patch.\n  llama-server without the project's grammar patch",
    );
    expect(text).toContain("this llama-server keeps about 0.56x of it");
  });
});
