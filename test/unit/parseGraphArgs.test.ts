import { describe, expect, it } from "vitest";
import { parseGraphArgs } from "../../src/commands/graph/parseGraphArgs.ts";

describe("parseGraphArgs", () => {
  it("requires --input", () => {
    expect(parseGraphArgs([])).toEqual({ kind: "error", message: "--input DIR is required" });
  });

  it("fills documented defaults", () => {
    const r = parseGraphArgs(["--input", "notes"]);
    expect(r.kind).toBe("run");
    if (r.kind !== "run") return;
    expect(r.options).toMatchObject({ input: "notes", out: "./kb", db: "checkpoints/runs.sqlite", resume: false, json: false, llmReview: true, maxFileMb: 8 });
    expect(r.options.concurrency).toBeUndefined();
    expect(r.options.model).toBeUndefined();
  });

  it("parses every option", () => {
    const r = parseGraphArgs([
      "--input",
      "a b",
      "--out",
      "o",
      "--model",
      "hf:x/y:Q4_K_M",
      "--db",
      "d.sqlite",
      "--resume",
      "--concurrency",
      "3",
      "--threads",
      "2",
      "--json",
      "--no-llm-review",
      "--context-size",
      "1024",
      "--max-file-mb",
      "2",
    ]);
    expect(r).toEqual({
      kind: "run",
      options: {
        input: "a b",
        out: "o",
        model: "hf:x/y:Q4_K_M",
        db: "d.sqlite",
        resume: true,
        concurrency: 3,
        threads: 2,
        json: true,
        llmReview: false,
        maxFileMb: 2,
        contextSize: 1024,
        modelsDir: undefined,
      },
    });
  });

  it("accepts directory names that start with a dash via --input=", () => {
    const r = parseGraphArgs(["--input=-notes"]);
    expect(r.kind === "run" && r.options.input).toBe("-notes");
  });

  it.each([
    [["--input", "x", "--concurrency", "0"], "--concurrency must be a positive integer"],
    [["--input", "x", "--threads", "two"], "--threads must be a positive integer"],
    [["--input", "x", "--bogus"], "Unknown option"],
    [["--input", "x", "stray"], "positional"],
  ])("rejects %j", (argv, message) => {
    const r = parseGraphArgs(argv);
    expect(r.kind).toBe("error");
    if (r.kind === "error") expect(r.message).toContain(message);
  });

  it("--endpoint is repeatable and comes with the server's model name, key variable and slots", () => {
    const r = parseGraphArgs([
      "--input",
      "n",
      "--endpoint",
      "http://127.0.0.1:8080",
      "--endpoint",
      "http://127.0.0.1:8081/",
      "--endpoint",
      "http://127.0.0.1:8080",
      "--endpoint-model",
      "qwen2.5:0.5b",
      "--api-key-env",
      "MY_KEY",
      "--endpoint-slots",
      "3",
    ]);
    expect(r.kind === "run" && r.options).toMatchObject({
      model: undefined,
      endpoints: ["http://127.0.0.1:8080", "http://127.0.0.1:8081/"],
      endpointModel: "qwen2.5:0.5b",
      apiKeyEnv: "MY_KEY",
      endpointSlots: 3,
    });
  });

  it.each([
    [["--input", "x", "--endpoint", "http://a:1", "--model", "m.gguf"], "--model and --endpoint both name the run's model"],
    [["--input", "x", "--endpoint", ""], "--endpoint needs a URL"],
    [["--input", "x", "--endpoint", "http://a:1", "--api-key-env", "sk-12345"], "NAME of an environment variable"],
    [["--input", "x", "--endpoint", "http://a:1", "--endpoint-slots", "0"], "--endpoint-slots must be a positive integer"],
  ])("rejects endpoint misuse %j", (argv, message) => {
    const r = parseGraphArgs(argv);
    expect(r.kind).toBe("error");
    if (r.kind === "error") expect(r.message).toContain(message);
  });

  it("--max-tokens sets every role's limit or some roles'", () => {
    const all = parseGraphArgs(["--input", "n", "--max-tokens", "200"]);
    expect(all.kind === "run" && all.options.maxTokens).toEqual({ extractor: 200, researcher: 200, writer: 200, validator: 200 });
    const some = parseGraphArgs(["--input", "n", "--max-tokens", "extractor=400, writer=300"]);
    expect(some.kind === "run" && some.options.maxTokens).toEqual({ extractor: 400, writer: 300 });
    for (const bad of ["synthesizer=10", "writer=abc", "8", "extractor=400,"]) {
      const r = parseGraphArgs(["--input", "n", "--max-tokens", bad]);
      expect(r.kind === "error" && r.message).toMatch(/--max-tokens takes a number or role=N pairs/);
    }
  });

  it("returns help for -h", () => {
    expect(parseGraphArgs(["-h"])).toEqual({ kind: "help" });
  });
});
