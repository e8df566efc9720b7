/**
 * On a CPU engine a run keeps a few files per thread in flight (src/llm/cpuFilesInFlight.ts), not one
 * per sequence: the run's own events show how many files were between their first node and their end.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { cpuCallsAtOnce, cpuFilesInFlight } from "../../src/llm/cpuFilesInFlight.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";
import { runPipeline } from "../../src/run/index.ts";
import { REPO } from "../helpers/cli.ts";

const MODEL = path.join(REPO, "test/fixtures/models/rust-kb-tiny.gguf");
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-cpu-inflight-"));
  // Four of the example notes: without the rule all four would be in flight at once.
  const notes = path.join(REPO, "examples/notes");
  const files = fs
    .readdirSync(notes, { recursive: true, encoding: "utf8" })
    .filter((rel) => fs.statSync(path.join(notes, rel)).isFile())
    .sort()
    .slice(0, 4);
  for (const rel of files) {
    fs.mkdirSync(path.dirname(path.join(tmp, "notes", rel)), { recursive: true });
    fs.copyFileSync(path.join(notes, rel), path.join(tmp, "notes", rel));
  }
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

it("the rule: one file per thread, at least 2", () => {
  expect(cpuFilesInFlight(1)).toBe(2);
  expect(cpuFilesInFlight(2)).toBe(2);
  expect(cpuFilesInFlight(8)).toBe(8);
  expect(cpuCallsAtOnce(1)).toBe(1);
  expect(cpuCallsAtOnce(2)).toBe(1);
  expect(cpuCallsAtOnce(8)).toBe(4);
});

it("a run on the CPU without --concurrency keeps at most the rule's files in flight and model calls at once, with more sequences than that", async () => {
  const inFlight = new Set<string>();
  let peak = 0;
  let sequences = 0;
  // Model calls as [start, end] in ms, and their time waiting for the engine. The next call starts
  // when the lease is handed over, a few hundred ms of JavaScript before the previous call's
  // finished event (seen: 250-360 ms), so only an overlap of more than half the shorter call counts.
  const open = new Map<string, number>();
  const spans: [number, number][] = [];
  let waited = 0;
  let ran = 0;
  const onEvent = (e: PipelineEvent) => {
    if (e.type === "model_loaded") sequences = e.sequences;
    if (e.type === "node_started") {
      inFlight.add(e.path);
      peak = Math.max(peak, inFlight.size);
    }
    if (e.type === "file_finished") inFlight.delete(e.path);
    if (e.type === "llm_call_started") open.set(`${e.role} ${e.path}`, performance.now());
    if (e.type === "llm_call_finished" && !e.memo) {
      const start = open.get(`${e.role} ${e.path}`);
      if (start !== undefined) spans.push([start, performance.now()]);
      waited += e.waitMs ?? 0;
      ran += e.ms;
    }
  };
  const summary = await runPipeline(
    {
      input: path.join(tmp, "notes"),
      out: path.join(tmp, "kb"),
      db: path.join(tmp, "runs.sqlite"),
      model: MODEL,
      threads: 1,
      llmReview: false,
      research: ["input"],
      rustc: false,
    },
    { onEvent },
  );
  expect(summary.status).toBe("done");
  expect(summary.files.processed + summary.files.quarantined).toBe(4);
  // More sequences than files in flight: the rule, not the sequences, bounded them.
  expect(sequences).toBeGreaterThan(cpuFilesInFlight(1));
  expect(peak).toBeLessThanOrEqual(cpuFilesInFlight(1));
  expect(peak).toBeGreaterThanOrEqual(2);
  // Two files in flight, one model call at a time.
  expect(spans.length).toBeGreaterThan(8);
  const overlaps = spans.filter(([s1, e1], i) =>
    spans.some(([s2, e2], j) => i !== j && Math.min(e1, e2) - Math.max(s1, s2) > 0.5 * Math.min(e1 - s1, e2 - s2)),
  );
  expect(overlaps).toEqual([]);
  // With 30 free sequences, only the limit makes a call wait: here calls wait a good part of their time.
  expect(waited).toBeGreaterThan(0.25 * ran);
  expect(cpuCallsAtOnce(1)).toBe(1);
}, 600_000);
