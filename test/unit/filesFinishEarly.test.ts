import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import { FairScheduler } from "../../src/llm/FairScheduler.ts";
import type { BackendRequest, BackendResult, ModelBackend } from "../../src/llm/types.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";
import { Reporter } from "../../src/progress/Reporter.ts";
import { createServices } from "../../src/run/createServices.ts";
import { resumedTotals } from "../../src/run/openRunRecord.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-early-"));
  fs.mkdirSync(path.join(dir, "in"));
  for (let i = 1; i <= 6; i++)
    fs.writeFileSync(
      path.join(dir, "in", `f${i}.md`),
      `# Idiom ${i}\n\nUse idiom number ${i} to keep values owned and moved safely.\n\n\`\`\`rust\nlet x${i} = ${i};\n\`\`\`\n`,
    );
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Answers every role validly, through a FairScheduler of `slots` sequences, taking a little time per call. */
class SlowScheduledBackend implements ModelBackend {
  readonly modelId = "scheduled@1";
  readonly contextTokens = 8192;
  readonly scheduler: FairScheduler;
  constructor(slots: number) {
    this.scheduler = new FairScheduler(slots);
  }
  countTokens(text: string): number {
    return Math.ceil(text.length / 4);
  }
  async generate(request: BackendRequest): Promise<BackendResult> {
    const lease = await this.scheduler.acquire(request.role, { signal: request.signal, affinityKey: request.affinityKey, priority: request.priority });
    try {
      request.onStart?.();
      await new Promise((r) => setTimeout(r, 5));
      const text = answer(request);
      return { text, inputTokens: 10, outputTokens: 10, stopReason: "eogToken" };
    } finally {
      lease.release();
    }
  }
}

function answer(req: BackendRequest): string {
  const file = /f\d\.md/.exec(req.prompt.user)?.[0] ?? req.affinityKey ?? "f?.md";
  const name = `Idiom ${file.slice(1, 2)} ownership`;
  const codeOffered = /\bC1\b/.test(JSON.stringify(req.grammarSchema ?? {}));
  const draft = {
    summary: "This idiom keeps values owned and moves them safely between the places that need them.",
    whenToUse: ["when a value must move to a new owner"],
    whenNotToUse: ["when a borrow is enough for the caller"],
    pitfalls: [],
    example: codeOffered ? "C1" : "none",
    sources: [],
  };
  const schema = JSON.stringify(req.grammarSchema ?? {});
  switch (req.role) {
    case "extractor":
      return JSON.stringify({ patterns: [{ name, category: "ownership-borrowing", summary: "Keeps values owned and moved safely.", evidence: ["S1"] }] });
    case "researcher":
      return schema.includes('"byPattern"') ? JSON.stringify({ byPattern: { p1: { relevant: [], note: "" } } }) : JSON.stringify({ relevant: [], note: "" });
    case "writer":
      return schema.includes('"byPattern"') ? JSON.stringify({ byPattern: { p1: draft } }) : JSON.stringify(draft);
    case "validator":
      return schema.includes('"byPattern"')
        ? JSON.stringify({ byPattern: { p1: { verdict: "pass", problems: [] } } })
        : JSON.stringify({ verdict: "pass", problems: [] });
    case "synthesizer":
      return JSON.stringify({ verdict: "different", reason: "scripted judgment" });
  }
}

describe("files finish early", () => {
  it("with 6 files and a concurrency of 2, the first file finishes before the last file starts its extractor", async () => {
    const db = RunDatabase.open(path.join(dir, "runs.sqlite"));
    const backend = new SlowScheduledBackend(2);
    const events: { e: PipelineEvent; t: number }[] = [];
    let t = 0;
    const services = createServices({ db, backendFor: () => backend, events: (e) => events.push({ e, t: t++ }) });
    try {
      const graph = buildPipelineGraph(services.deps, { concurrency: 2, checkpointer: db.checkpointer() });
      await graph.invoke(
        { inputDir: path.join(dir, "in"), outDir: path.join(dir, "kb"), exclude: [] },
        { configurable: { thread_id: "early" }, recursionLimit: 300 },
      );
    } finally {
      services.close();
      db.close();
    }
    const finishes = events.filter((x) => x.e.type === "file_finished");
    const extractorStarts = events.filter((x) => x.e.type === "node_started" && x.e.node === "extractor");
    expect(finishes).toHaveLength(6);
    expect(extractorStarts).toHaveLength(6);
    const firstFinish = finishes[0]?.t ?? Number.POSITIVE_INFINITY;
    const lastStart = extractorStarts.at(-1)?.t ?? -1;
    expect(firstFinish).toBeLessThan(lastStart);
    // Files finish along the run, not all at its end: half of them before the last file starts.
    expect(finishes.filter((x) => x.t < lastStart).length).toBeGreaterThanOrEqual(3);
  });
});

describe("smallest files first", () => {
  it("starts files in order of size (ties by path), and the checkpointed list keeps that order", async () => {
    // Sizes that path order would get wrong: f1 largest, f4 and f6 the same size.
    const pad = { f1: 900, f2: 300, f3: 0, f4: 120, f5: 600, f6: 120 } as const;
    for (const [name, extra] of Object.entries(pad)) fs.appendFileSync(path.join(dir, "in", `${name}.md`), `\n${"Owned values move. ".repeat(extra / 20)}\n`);
    const db = RunDatabase.open(path.join(dir, "runs.sqlite"));
    const backend = new SlowScheduledBackend(1);
    const started: string[] = [];
    let discovered: string[] = [];
    const services = createServices({
      db,
      backendFor: () => backend,
      events: (e) => {
        if (e.type === "node_started" && e.node === "extractor" && e.path) started.push(e.path);
        if (e.type === "files_discovered") discovered = (e.files ?? []).map((f) => f.path);
      },
    });
    try {
      const graph = buildPipelineGraph(services.deps, { concurrency: 1, checkpointer: db.checkpointer() });
      const config = { configurable: { thread_id: "order" }, recursionLimit: 300 };
      await graph.invoke({ inputDir: path.join(dir, "in"), outDir: path.join(dir, "kb"), exclude: [] }, config);
      const expected = ["f3.md", "f4.md", "f6.md", "f2.md", "f5.md", "f1.md"];
      expect(started).toEqual(expected);
      expect(discovered).toEqual(expected);
      const state = await graph.getState(config);
      expect((state.values.files as { relPath: string }[]).map((f) => f.relPath)).toEqual(expected);
    } finally {
      services.close();
      db.close();
    }
  });
});

describe("a resumed run shows its real totals", () => {
  it("counts files to process and those finished before the interruption from the run's file rows", () => {
    const rows = [
      { status: "processed", node: "done" },
      { status: "quarantined", node: "done" },
      { status: "skipped", node: "done" },
      { status: "pending", node: "writer" },
      { status: "pending", node: "discover" },
      { status: "skipped", node: "discover" },
      { status: "unchanged", node: "discover" },
    ];
    expect(resumedTotals(rows)).toEqual({ type: "files_discovered", found: 7, toProcess: 5, skipped: 1, alreadyDone: 3 });
    expect(resumedTotals([{ status: "skipped", node: "discover" }])).toBeUndefined();
  });

  it("the progress display starts from the files already done, and its ETA counts only the files left", () => {
    let now = 0;
    let err = "";
    const sink = new Writable({
      write(c, _e, cb) {
        err += String(c);
        cb();
      },
    });
    const r = new Reporter({ err: sink, out: sink, json: false, live: false, now: () => now });
    r.handle({ type: "files_discovered", found: 10, toProcess: 10, skipped: 0, alreadyDone: 6 });
    expect(r.counts).toMatchObject({ total: 10, done: 6 });
    // One file walks its four stages in 60 s here (each: 1000 prompt tokens read in 5 s, 100 generated in 10 s).
    for (const role of ["extractor", "researcher", "writer", "validator"] as const) {
      r.handle({ type: "node_started", path: "a.md", node: role });
      r.handle({ type: "llm_call_started", role, path: "a.md" });
      now += 5000;
      r.handle({ type: "llm_tokens", role, path: "a.md", read: 1000, generated: 0, ms: 5000 });
      now += 10_000;
      r.handle({ type: "llm_tokens", role, path: "a.md", read: 0, generated: 100, ms: 10_000 });
      r.handle({ type: "llm_call_finished", role, path: "a.md", outputTokens: 100, ms: 15_000, readMs: 5000, memo: false, evaluatedTokens: 1000 });
    }
    r.handle({ type: "file_finished", path: "a.md", status: "processed", patterns: 1 });
    expect(err).toContain("[7/10]");
    // Three files to go at a minute each: 3 minutes (not 60 s / 7 files x 3).
    expect(err).toContain("ETA 3m00s");
  });
});
