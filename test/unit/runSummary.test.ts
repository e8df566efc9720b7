/**
 * The end of a run in the user's terms: where the time went (reading prompts, generating, waiting
 * for a model slot, research, code checks) and, when nearly every draft failed validation, that
 * the model is likely too weak and which model to try.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_MODEL } from "../../src/llm/resolveModel.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { TimeSplit } from "../../src/progress/TimeSplit.ts";
import { createServices } from "../../src/run/createServices.ts";
import { draftsOfRun } from "../../src/run/finishRun.ts";
import { runPipeline } from "../../src/run/runPipeline.ts";
import { formatSummary, type RunSummary } from "../../src/run/summary.ts";
import { STRONGER_MODEL, weakModelAdvice } from "../../src/run/weakModelAdvice.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { answerPerPattern, passingAnswer, ScriptedBackend } from "../helpers/scriptedBackend.ts";

describe("TimeSplit", () => {
  it("sums each phase over its operations and counts the wall time during which one was under way", () => {
    let now = 0;
    const t = new TimeSplit(() => now);
    const a = t.begin("reading");
    now = 1000;
    const b = t.begin("reading");
    now = 3000;
    a();
    now = 4000;
    b();
    a(); // a second end changes nothing
    now = 10_000;
    const c = t.begin("generating");
    now = 12_000;
    const totals = t.totals();
    expect(totals.reading).toEqual({ summedMs: 3000 + 3000, wallMs: 4000, count: 2 });
    // Under way: its wall time counts up to now, its sum when it ends.
    expect(totals.generating).toEqual({ summedMs: 0, wallMs: 2000, count: 0 });
    c();
    expect(t.totals().generating).toEqual({ summedMs: 2000, wallMs: 2000, count: 1 });
    expect(t.totals().research).toEqual({ summedMs: 0, wallMs: 0, count: 0 });
  });

  it("createServices times every research search and code check, and the model calls' phases", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-times-"));
    const db = RunDatabase.open(path.join(dir, "runs.sqlite"));
    try {
      const backend = new ScriptedBackend(() => "hello");
      const services = createServices({
        db,
        backendFor: () => backend,
        events: () => {},
        research: [{ name: "fake", search: async () => [], cacheKey: () => "k" }],
        codeCheck: { check: async () => ({ status: "parses-only", tool: "tree-sitter", message: null }) as never },
      });
      await services.deps.research[0]?.search({ runId: "r", name: "n", summary: "s", categoryTitle: "c", docId: "d", limit: 1 });
      expect(services.deps.research[0]?.cacheKey?.({ runId: "r", name: "n", summary: "s", categoryTitle: "c", docId: "d", limit: 1 })).toBe("k");
      await services.deps.codeCheck?.check("fn main() {}", "rust");
      await services.deps.codeCheck?.check("fn main() {}", "rust");
      await services.deps.llm.generateText({ runId: "r", role: "writer", callKey: "k", prompt: { system: "s", user: "u" }, maxTokens: 8 });
      const totals = services.times.totals();
      expect(totals.research.count).toBe(1);
      expect(totals.codeCheck.count).toBe(2);
      expect(totals.waiting.count).toBe(1);
      expect(totals.reading.count).toBe(1);
      services.close();
    } finally {
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("weak-model advice", () => {
  const run = { model: "random-weights.gguf@1234", processedFiles: 6, quarantinedFiles: 24, publishedDrafts: 8, rejectedDrafts: 70 };

  it("a quarantine-heavy run on a model other than the default: likely too weak, try the default model", () => {
    const w = weakModelAdvice(run);
    expect(w).toMatchObject({ model: run.model, files: 30, quarantinedFiles: 24, drafts: 78, rejectedDrafts: 70 });
    expect(w?.suggestion).toContain(DEFAULT_MODEL.name);
    expect(w?.suggestion).toContain("npm run models -- pull qwen2.5-0.5b-instruct-q4_k_m");
  });

  it("the same on the default model: try the larger catalog model", () => {
    const w = weakModelAdvice({ ...run, model: "hf_Qwen_qwen2.5-0.5b-instruct-q4_k_m.gguf@491400032" });
    expect(w?.suggestion).toContain(`npm run models -- pull ${STRONGER_MODEL.name}`);
    expect(w?.suggestion).toContain(`--model ${STRONGER_MODEL.uri}`);
  });

  it("drafts rejected alone are enough (files kept one draft each), and a good run or too few files say nothing", () => {
    expect(weakModelAdvice({ ...run, processedFiles: 20, quarantinedFiles: 10, publishedDrafts: 20, rejectedDrafts: 90 })).toBeDefined();
    expect(weakModelAdvice({ ...run, processedFiles: 24, quarantinedFiles: 6, publishedDrafts: 70, rejectedDrafts: 12 })).toBeUndefined();
    expect(weakModelAdvice({ ...run, processedFiles: 0, quarantinedFiles: 2, publishedDrafts: 0, rejectedDrafts: 4 })).toBeUndefined();
  });

  it("names models the catalog has, under the names `npm run models -- pull` takes", () => {
    const catalog = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "../../config/models.catalog.json"), "utf8")) as {
      models: { name: string; uri: string }[];
    };
    expect(catalog.models.find((m) => m.name === STRONGER_MODEL.name)?.uri).toBe(STRONGER_MODEL.uri);
    expect(catalog.models.find((m) => m.name === DEFAULT_MODEL.fileName.replace(/\.gguf$/, ""))?.uri).toBe(DEFAULT_MODEL.uri);
  });

  it("counts the drafts of the files this run decided only", () => {
    const rows = [
      { relPath: "a.md", status: "processed" },
      { relPath: "b.md", status: "quarantined" },
      { relPath: "c.md", status: "unchanged" },
    ];
    const drafts = draftsOfRun(rows, [{ relPath: "a.md" }, { relPath: "c.md" }], [{ relPath: "b.md" }, { relPath: "b.md" }, { relPath: "c.md" }]);
    expect(drafts).toEqual({ published: 1, rejected: 2 });
  });
});

describe("the human summary", () => {
  const base: RunSummary = {
    type: "summary",
    status: "done",
    runId: "run-1",
    files: { found: 30, processed: 6, skipped: 0, quarantined: 24, unchanged: 0, pending: 0 },
    skipped: [],
    quarantinedFiles: [],
    patterns: 8,
    llm: { calls: 250, tokens: 99_159, inputTokens: 634_925, reusedInputTokens: 329_794, memoHits: 0 },
    wallMs: 2_439_000,
    resume: null,
    out: "/kb",
  };

  it("says where the time went: summed over calls and as a share of the run", () => {
    const text = formatSummary({
      ...base,
      time: {
        waiting: { summedMs: 3_720_000, wallMs: 290_000, count: 250 },
        reading: { summedMs: 18_720_000, wallMs: 1_900_000, count: 250 },
        generating: { summedMs: 33_600_000, wallMs: 2_220_000, count: 250 },
        research: { summedMs: 48_000, wallMs: 40_000, count: 120 },
        codeCheck: { summedMs: 0, wallMs: 0, count: 0 },
      },
    });
    expect(text).toContain("where the time went (model calls run side by side, so their sums can exceed the wall time):");
    expect(text).toMatch(/ {2}reading prompts +5h12m summed over 250 calls +under way 78% of the run/);
    expect(text).toMatch(/ {2}generating +9h20m summed over 250 calls +under way 91% of the run/);
    expect(text).toMatch(/ {2}waiting for a model slot +1h02m summed over 250 calls +under way 12% of the run/);
    expect(text).toMatch(/ {2}research +48s summed over 120 searches +under way 2% of the run/);
    // A phase that took no time is left out.
    expect(text).not.toContain("code checks");
  });

  it("a quarantine-heavy run ends with a clear line: the model is likely too weak, and which to try", () => {
    const weakModel = weakModelAdvice({ model: "tiny.gguf@1", processedFiles: 6, quarantinedFiles: 24, publishedDrafts: 8, rejectedDrafts: 70 });
    const text = formatSummary({ ...base, ...(weakModel ? { weakModel } : {}) });
    expect(text).toContain(
      "warning: 24 of 30 files were quarantined (every draft failed validation): the model (tiny.gguf@1) is likely too weak for this task.",
    );
    expect(text).toContain("Try the recommended model, Qwen2.5-0.5B-Instruct Q4_K_M (the default): `npm run models -- pull qwen2.5-0.5b-instruct-q4_k_m`");
    expect(text).toContain("docs/MODELS.md");
    expect(formatSummary(base)).not.toContain("too weak");
  });
});

describe("through runPipeline", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-summary-"));
    fs.mkdirSync(path.join(dir, "in"));
    const notes = ["Newtype: wrap a value in a tuple struct.", "Typestate: states as types.", "Builder: build step by step.", "RAII: free on drop."];
    notes.forEach((text, i) => {
      fs.writeFileSync(path.join(dir, "in", `n${i}.md`), `# Note ${i}\n\n${text}\n`);
    });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const options = () => ({
    input: path.join(dir, "in"),
    out: path.join(dir, "kb"),
    db: path.join(dir, "runs.sqlite"),
    research: ["input" as const],
    rustc: false,
  });

  it("a run where the validator rejects every draft: every file quarantined, the summary (and --json) names the weak model; the time split is filled", async () => {
    const rejecting = new ScriptedBackend(
      (req: BackendRequest) =>
        req.role === "validator"
          ? answerPerPattern(req, () => ({ verdict: "fail", problems: ["the summary does not say what the pattern is"] }))
          : passingAnswer(req, { name: "Some pattern", summary: "About something." }),
      { modelId: "weak.gguf@42" },
    );
    const summary = await runPipeline(options(), { models: { backendFor: () => rejecting, concurrency: 2 } });
    expect(summary.status).toBe("done");
    expect(summary.files.quarantined).toBe(4);
    expect(summary.weakModel).toMatchObject({ model: "weak.gguf@42", files: 4, quarantinedFiles: 4 });
    expect(JSON.parse(JSON.stringify(summary)).weakModel.suggestion).toContain("npm run models -- pull");
    expect(formatSummary(summary)).toContain("is likely too weak for this task");
    // The scripted model reports no first token: each call reads until it ends.
    expect(summary.time?.reading.count).toBe(rejecting.calls);
    expect(summary.time?.research.count).toBeGreaterThan(0);
    expect(summary.time?.waiting.count).toBe(rejecting.calls);
  });

  it("a good run says nothing about the model", async () => {
    const good = new ScriptedBackend((req: BackendRequest) => passingAnswer(req, { name: "Some pattern", summary: "About something." }));
    const summary = await runPipeline(options(), { models: { backendFor: () => good, concurrency: 2 } });
    expect(summary.files.processed).toBe(4);
    expect(summary.weakModel).toBeUndefined();
    expect(formatSummary(summary)).not.toContain("too weak");
  });
});
