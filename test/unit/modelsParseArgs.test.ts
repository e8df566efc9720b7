import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_PLAN_AGENTS, parseModelsArgs } from "../../src/commands/models/parseModelsArgs.ts";
import { DEFAULT_AGENTS_CONFIG, loadAgentsConfig, parseAgentsConfig } from "../../src/llm/agentsConfig.ts";
import { parseByteSize } from "../../src/llm/memoryPlan.ts";

const GiB = 1024 ** 3;

describe("parseModelsArgs", () => {
  it("asks for a command and names the valid ones", () => {
    expect(parseModelsArgs([])).toEqual({ kind: "error", message: "a command is required: list, pull, inspect, plan" });
    expect(parseModelsArgs(["fetch"])).toMatchObject({ kind: "error", message: expect.stringContaining('unknown command "fetch"') });
  });

  it("shows help for -h, --help and help", () => {
    for (const argv of [["-h"], ["--help"], ["help"], ["pull", "--help"]]) expect(parseModelsArgs(argv)).toEqual({ kind: "help" });
  });

  it("parses list with a directory and JSON output", () => {
    expect(parseModelsArgs(["list", "--dir", "/m", "--json"])).toEqual({ kind: "list", options: { dir: "/m", json: true } });
    expect(parseModelsArgs(["list", "extra"])).toMatchObject({ kind: "error" });
  });

  it("parses pull with one target; --no-checksum turns the sha256 check off", () => {
    expect(parseModelsArgs(["pull", "qwen3-0.6b-q8_0"])).toEqual({
      kind: "pull",
      options: { dir: undefined, json: false, target: "qwen3-0.6b-q8_0", checksum: true },
    });
    expect(parseModelsArgs(["pull", "hf:a/b/c.gguf", "--no-checksum"])).toMatchObject({ options: { target: "hf:a/b/c.gguf", checksum: false } });
    expect(parseModelsArgs(["pull"])).toMatchObject({ kind: "error", message: expect.stringContaining("pull takes one model") });
    expect(parseModelsArgs(["pull", "a", "b"])).toMatchObject({ kind: "error" });
  });

  it("rejects options that belong to another command", () => {
    expect(parseModelsArgs(["list", "--memory", "24GB"])).toEqual({ kind: "error", message: "--memory does not apply to list" });
    expect(parseModelsArgs(["pull", "x", "--context", "10"])).toEqual({ kind: "error", message: "--context does not apply to pull" });
  });

  it("parses inspect with context and agents (defaults: the run's 8192 tokens and the users' 30)", () => {
    expect(parseModelsArgs(["inspect", "m.gguf"])).toMatchObject({ kind: "inspect", options: { target: "m.gguf", contextSize: 8192, agents: 30, cpu: false } });
    expect(parseModelsArgs(["inspect", "m.gguf", "--context", "2048", "--agents", "8", "--cpu"])).toMatchObject({
      options: { contextSize: 2048, agents: 8, cpu: true },
    });
    expect(parseModelsArgs(["inspect", "m.gguf", "--agents", "0"])).toEqual({ kind: "error", message: '--agents must be a positive integer, got "0"' });
    expect(DEFAULT_PLAN_AGENTS).toBe(30);
  });

  it("parses plan: memory in powers of 1024, models with optional agent counts", () => {
    const r = parseModelsArgs(["plan", "--agents", "30", "--memory", "24GB", "--context", "4096", "a", "b"]);
    expect(r).toMatchObject({
      kind: "plan",
      options: {
        agents: 30,
        memoryBytes: 24 * GiB,
        memoryText: "24GB",
        contextSize: 4096,
        minContextSize: 2048,
        reserveBytes: 256 * 1024 ** 2,
        benchDir: ".bench/results",
        models: [
          { target: "a", agents: undefined },
          { target: "b", agents: undefined },
        ],
      },
    });
    expect(parseModelsArgs(["plan", "a=28", "b=2"])).toMatchObject({
      options: {
        memoryBytes: undefined,
        models: [
          { target: "a", agents: 28 },
          { target: "b", agents: 2 },
        ],
      },
    });
    expect(parseModelsArgs(["plan", "https://h/x.gguf?download=true"])).toMatchObject({ options: { models: [{ target: "https://h/x.gguf?download=true" }] } });
  });

  it("rejects bad plan values with a sentence", () => {
    expect(parseModelsArgs(["plan", "--memory", "lots"])).toEqual({ kind: "error", message: '--memory must be a size such as 24GB or 512MB, got "lots"' });
    expect(parseModelsArgs(["plan", "a=0"])).toEqual({ kind: "error", message: 'agent count in "a=0" must be at least 1' });
    expect(parseModelsArgs(["plan", "a=x"])).toEqual({ kind: "error", message: '"a=x": write NAME=N with N a positive integer' });
    expect(parseModelsArgs(["plan", "--context", "1024", "--min-context", "2048"])).toEqual({
      kind: "error",
      message: "--min-context (2048) is above --context (1024)",
    });
    expect(parseModelsArgs(["plan", "--reserve", "0"])).toMatchObject({ options: { reserveBytes: 0 } });
    expect(parseModelsArgs(["plan", "--dir", ""])).toEqual({ kind: "error", message: "--dir needs a value" });
  });

  it("lowers the default context floor to a smaller requested context", () => {
    expect(parseModelsArgs(["plan", "--context", "1024"])).toMatchObject({ options: { contextSize: 1024, minContextSize: 1024 } });
  });

  it("gives plan the run's admission defaults: the same reserve as config/agents.json and the config schema", () => {
    const plan = parseModelsArgs(["plan"]);
    if (plan.kind !== "plan") throw new Error(JSON.stringify(plan));
    expect(plan.options.memoryBytes).toBeUndefined();
    const shipped = loadAgentsConfig().memory;
    const { memory: _shippedMemory, ...withoutMemory } = JSON.parse(fs.readFileSync(DEFAULT_AGENTS_CONFIG, "utf8"));
    const schemaDefault = parseAgentsConfig(withoutMemory).memory;
    for (const memory of [shipped, schemaDefault]) {
      expect(parseByteSize(memory.reserve)).toBe(plan.options.reserveBytes);
      expect(memory.budget).toBe("auto");
      expect(memory.share).toBe(0.8);
    }
    expect(parseModelsArgs(["--help"])).toMatchObject({ kind: "help" });
  });
});
