import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { currentInputFiles, runEvalCommand } from "../../src/commands/eval/evalCommand.ts";
import { labelsForInput, loadLabels } from "../../src/commands/eval/labels.ts";
import { parseEvalArgs } from "../../src/commands/eval/parseEvalArgs.ts";
import { isTinyTestModel, renderEvalReport } from "../../src/commands/eval/report.ts";
import { scoreKb } from "../../src/commands/eval/score.ts";
import { parseGraphArgs } from "../../src/commands/graph/parseGraphArgs.ts";
import { KnowledgeBase } from "../../src/kb/KnowledgeBase.ts";
import { publishKnowledgeBase } from "../../src/kb/publish/publishKnowledgeBase.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { DRAFTS, fillKb } from "../fixtures/kb/contributions.ts";

const LABELS = path.resolve(import.meta.dirname, "../fixtures/kb/eval/labels.json");
const INPUT_PATHS = [...new Set(DRAFTS.map((d) => d.relPath))].sort();

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-eval-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function fixtureKb(out = path.join(dir, "kb")) {
  const kb = KnowledgeBase.open(out);
  fillKb(kb, DRAFTS);
  publishKnowledgeBase(kb, { judge: "none" });
  const data = { entries: kb.entries(), quarantined: kb.quarantined() };
  kb.close();
  return data;
}

describe("scoring against labels", () => {
  it("gives the known score on the small labelled fixture", () => {
    const { entries, quarantined } = fixtureKb();
    const labels = labelsForInput(loadLabels(LABELS), INPUT_PATHS);
    const s = scoreKb({ entries, quarantined, labels, inputFiles: INPUT_PATHS.length });
    expect({
      labelledFiles: s.labelledFiles,
      labels: s.labels,
      recalled: s.recalled,
      recall: s.recall,
      loose: s.looselyRecalled,
      looseRecall: s.looseRecall,
    }).toEqual({
      labelledFiles: 6,
      labels: 10,
      recalled: 7,
      recall: 0.7,
      loose: 8,
      looseRecall: 0.8,
    });
    const kinds = Object.fromEntries(s.perLabel.map((l) => [l.id, l.matchedBy]));
    expect(kinds).toEqual({
      "C-NEWTYPE": "id",
      "C-BUILDER": "id",
      "C-BITFLAG": null,
      newtype: "id",
      "creational-builder": "name",
      unwrap_used: "id",
      expect_used: "id",
      needless_range_loop: null,
      "mem-swap-idiom": "alias",
      "wrappers-note": "loose",
    });
    expect(s.entries).toBe(6);
    expect(s.unlabelled.map((u) => u.slug)).toEqual(["fluent-builder-api"]);
    expect(s.duplicateLabels).toEqual([
      { file: "clippy/lints.json", id: "unwrap_used", entries: ["avoid-unwrap-on-result", "expect-with-a-message-instead-of-unwrap"] },
    ]);
    expect(s.duplicateEntries).toBe(1);
    expect(s.sameNameGroups).toEqual([]);
    expect(s.verification).toEqual({
      sources: 9,
      review: { "model review passed": 9 },
      examples: { compiles: 1, "no example": 6, "not compile-checked": 2 },
      entriesWithExample: 3,
      quarantinedDrafts: 0,
    });
  });

  it("requires the entry to cite the label's file", () => {
    const { entries } = fixtureKb();
    const onlyOther = new Map([["notes/fluent.md", { path: "notes/fluent.md", patterns: [{ name: "Newtype", id: "newtype" }] }]]);
    expect(scoreKb({ entries, quarantined: [], labels: onlyOther, inputFiles: 1 }).recalled).toBe(0);
  });

  it("pairs input paths with label paths by suffix, so labels for a whole corpus work on a subfolder", () => {
    const labels = {
      files: [
        { path: "corpus/api/type-safety.txt", patterns: [] },
        { path: "api/naming.md", patterns: [] },
      ],
    };
    expect([...labelsForInput(labels, ["api/type-safety.txt", "naming.md", "other.md"]).keys()]).toEqual(["api/type-safety.txt", "naming.md"]);
  });

  it("rejects a labels file of another shape with a hint", () => {
    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, JSON.stringify({ files: [{ path: "x" }] }));
    expect(() => loadLabels(bad)).toThrow(/does not have the expected shape: files\.0\.patterns/);
  });
});

describe("the report", () => {
  it("says the scores are meaningless when the model is a tiny test model, and only then", () => {
    expect(isTinyTestModel("llama-2-tiny-random-chatml.gguf@1750784")).toBe(true);
    expect(isTinyTestModel("stories260K.gguf@1185376")).toBe(true);
    expect(isTinyTestModel("my-model.gguf@4000000")).toBe(true);
    expect(isTinyTestModel("qwen2.5-0.5b-instruct-q4_k_m.gguf@491400032")).toBe(false);
    const { entries, quarantined } = fixtureKb();
    const s = scoreKb({ entries, quarantined, labels: labelsForInput(loadLabels(LABELS), INPUT_PATHS), inputFiles: 7 });
    const ctx = { runId: "run-x", input: "/in", labelsFile: "/labels.json", reused: true };
    const tiny = renderEvalReport(s, { ...ctx, modelId: "stories260K.gguf@1185376" });
    expect(tiny).toMatch(/These scores are meaningless/);
    const real = renderEvalReport(s, { ...ctx, modelId: "qwen2.5-0.5b-instruct-q4_k_m.gguf@491400032" });
    expect(real).not.toMatch(/meaningless/);
    expect(real).toContain("| Recall, strict (ID, name or alias) | 7/10 (70.0%) |");
    expect(real).toContain("| Entries matching no label | 1 (16.7%) |");
    expect(real).toContain("| Labels matched by more than one entry (duplicates left) | 1 (1 extra entries) |");
    expect(real).toContain("| `patterns/builder.md` | creational-builder: Builder | name | builder |");
    expect(renderEvalReport(s, { ...ctx, modelId: "qwen@491400032" })).toBe(real.replace("qwen2.5-0.5b-instruct-q4_k_m.gguf@491400032", "qwen@491400032"));
  });
});

describe("parseEvalArgs", () => {
  it("takes its own flags out and hands the rest to the graph command's parser", () => {
    const r = parseEvalArgs(["--input", "in", "--labels", "l.json", "--out", "o", "--model", "m.gguf", "--threads", "1", "--report=r.md", "--json"]);
    const graph = parseGraphArgs(["--input", "in", "--out", "o", "--model", "m.gguf", "--threads", "1", "--json"]);
    if (graph.kind !== "run") throw new Error("graph parse");
    expect(r).toEqual({ kind: "run", options: { labels: "l.json", report: "r.md", rerun: false, graph: graph.options } });
  });

  it("passes the model-server options through to the pipeline (--endpoint twice, --endpoint-model, --api-key-env)", () => {
    const r = parseEvalArgs([
      "--input",
      "in",
      "--labels",
      "l.json",
      "--endpoint",
      "http://127.0.0.1:8080",
      "--endpoint=http://127.0.0.1:8081",
      "--endpoint-model",
      "m",
      "--api-key-env",
      "K",
    ]);
    expect(r.kind === "run" && r.options.graph).toMatchObject({
      endpoints: ["http://127.0.0.1:8080", "http://127.0.0.1:8081"],
      endpointModel: "m",
      apiKeyEnv: "K",
    });
  });

  it("accepts --labels=FILE and --rerun", () => {
    const r = parseEvalArgs(["--input=in", "--labels=l.json", "--rerun"]);
    expect(r.kind === "run" && [r.options.labels, r.options.rerun, r.options.graph.input]).toEqual(["l.json", true, "in"]);
  });

  it.each([
    [["--input", "in"], /--labels FILE is required/],
    [["--labels", "l.json"], /--input DIR is required/],
    [["--input", "in", "--labels"], /--labels needs a value/],
    [["--input", "in", "--labels", "l", "--rerun", "--resume"], /contradict/],
    [["--input", "in", "--labels", "l", "--bogus"], /Unknown option/],
  ])("rejects %j", (argv, message) => {
    const r = parseEvalArgs(argv);
    expect(r.kind).toBe("error");
    if (r.kind === "error") expect(r.message).toMatch(message);
  });
});

describe("npm run eval (pipeline injected)", () => {
  /** Writes the fixture input files, and a fake pipeline that records a finished run and finalizes the KB as the real one would. */
  async function setup() {
    const input = path.join(dir, "in");
    for (const rel of INPUT_PATHS) {
      fs.mkdirSync(path.dirname(path.join(input, rel)), { recursive: true });
      fs.writeFileSync(path.join(input, rel), rel.endsWith(".json") ? '[{"lint": "unwrap_used", "group": "restriction"}]\n' : `# ${rel}\n\nNotes.\n`);
    }
    const out = path.join(dir, "kb");
    const db = path.join(dir, "runs.sqlite");
    let n = 0;
    const pipeline = vi.fn(async () => {
      const runId = `run-${++n}`;
      const rdb = RunDatabase.open(db);
      rdb.createRun({
        id: runId,
        input,
        out,
        model: "stories260K.gguf@1185376",
        settings: JSON.stringify({ options: { model: "m" } }),
        startedAt: "t",
        pid: null,
      });
      rdb.setRunStatus(runId, "done");
      rdb.close();
      const kb = KnowledgeBase.open(out);
      fillKb(kb, DRAFTS);
      publishKnowledgeBase(kb, { judge: "none", run: { runId, inputDir: input, files: await currentInputFiles(input, [out, db], 1e6) } });
      kb.close();
      return 0;
    });
    const evalOnce = async (...extra: string[]) => {
      const parsed = parseEvalArgs(["--input", input, "--out", out, "--db", db, "--labels", LABELS, "--json", ...extra]);
      if (parsed.kind !== "run") throw new Error("parse");
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const code = await runEvalCommand(parsed.options, { stdout, stderr }, pipeline);
      return { code, stdout: stdout.read()?.toString() ?? "", stderr: stderr.read()?.toString() ?? "" };
    };
    return { input, out, pipeline, evalOnce };
  }

  it("runs the pipeline the first time, reuses the finished run next time, and runs again when the input changes", async () => {
    const { input, out, pipeline, evalOnce } = await setup();
    const first = await evalOnce();
    expect(first.code, first.stderr).toBe(0);
    expect(pipeline).toHaveBeenCalledTimes(1);
    const result = JSON.parse(first.stdout.trim().split("\n").at(-1) ?? "{}");
    expect(result).toMatchObject({ type: "eval", runId: "run-1", reused: false, meaningless: true, scores: { recalled: 7, labels: 10 } });
    expect(fs.readFileSync(path.join(out, ".runs", "eval-run-1.md"), "utf8")).toMatch(/These scores are meaningless/);

    const second = await evalOnce();
    expect(pipeline).toHaveBeenCalledTimes(1);
    expect(second.stderr).toMatch(/Reusing the knowledge base .*run run-1 finished over the same input/);
    expect(JSON.parse(second.stdout.trim())).toMatchObject({ reused: true, runId: "run-1" });

    fs.appendFileSync(path.join(input, "patterns/newtype.md"), "More.\n");
    const third = await evalOnce();
    expect(pipeline).toHaveBeenCalledTimes(2);
    expect(third.stderr).toMatch(/Running the pipeline \(the input files changed since that run\)/);

    await evalOnce("--rerun");
    expect(pipeline).toHaveBeenCalledTimes(3);
    await evalOnce("--model", "other.gguf");
    expect(pipeline).toHaveBeenCalledTimes(4);
  });

  it("writes the report where --report says, and passes the pipeline's failure through", async () => {
    const { pipeline, evalOnce } = await setup();
    const report = path.join(dir, "r", "report.md");
    expect((await evalOnce("--report", report)).code).toBe(0);
    expect(fs.existsSync(report)).toBe(true);
    pipeline.mockResolvedValueOnce(130);
    const r = await evalOnce("--rerun");
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/did not finish \(exit code 130\); nothing to score/);
  });
});
