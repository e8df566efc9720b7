import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { Reporter } from "../../src/progress/Reporter.ts";
import { formatSummary, type RunSummary, resumeCommand, shellQuote } from "../../src/run/summary.ts";

function streams() {
  const err = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  const out = new PassThrough();
  let e = "";
  let o = "";
  err.on("data", (d) => {
    e += d;
  });
  out.on("data", (d) => {
    o += d;
  });
  return { err, out, text: () => ({ err: e, out: o }) };
}

describe("Reporter", () => {
  it("prints plain progress lines when stderr is not a terminal: agents per role, files per stage, reading and generation rates, ETA", () => {
    const s = streams();
    let now = 0;
    const r = new Reporter({ err: s.err, out: s.out, json: false, now: () => now });
    r.handle({ type: "files_discovered", found: 3, toProcess: 2, skipped: 1 });
    r.handle({ type: "node_started", path: "a.md", node: "writer" });
    r.handle({ type: "node_started", path: "b.md", node: "extractor" });
    now = 16_000;
    r.handle({ type: "llm_call_started", role: "writer", path: "a.md" });
    now = 32_000;
    r.handle({ type: "llm_tokens", role: "writer", path: "a.md", read: 800, generated: 0, ms: 16_000 });
    expect(r.counts.active.writer).toBe(1);
    const { err, out } = s.text();
    expect(err).toContain("found 3 files: 2 to process, 1 skipped");
    expect(err).toMatch(/… 0\/2 files; in flight 1 extracting, 1 writing; agents extractor 0 {2}researcher 0 {2}writer 1 /);
    // No call has finished: nothing measured yet to base an ETA on.
    expect(err).toMatch(/read \d+ tok\/s \(800 prompt tokens\), generated 0 tok\/s \(0\); elapsed 32s, ETA --/);
    expect(out).toBe("");
    now = 34_000;
    r.handle({ type: "llm_tokens", role: "writer", path: "a.md", read: 0, generated: 100, ms: 2000 });
    r.handle({ type: "llm_call_finished", role: "writer", path: "a.md", outputTokens: 100, ms: 18_000, readMs: 16_000, memo: false, evaluatedTokens: 800 });
    r.handle({ type: "file_finished", path: "a.md", status: "processed", patterns: 2 });
    expect(s.text().err).toMatch(/\[1\/2\] processed a\.md \(2 patterns\) — read \d+ tok\/s \(800 prompt tokens\), generated \d+ tok\/s \(100\), ETA /);
    expect(r.counts).toMatchObject({ done: 1, processed: 1, tokens: 100, read: 800, active: { writer: 0 } });
    expect(r.stages()).toEqual({ extractor: 1 });
  });

  it("rates: prompt tokens read and tokens generated per second over the last 20 s, each report spread over the time it covers", () => {
    const s = streams();
    let now = 0;
    const r = new Reporter({ err: s.err, out: s.out, json: false, now: () => now });
    r.handle({ type: "llm_call_started", role: "extractor" });
    now = 40_000;
    // 4000 tokens read over the last 40 s: half of them fall in the window.
    r.handle({ type: "llm_tokens", role: "extractor", read: 4000, generated: 0, ms: 40_000 });
    expect(r.promptTokensPerSecond()).toBe(100);
    now = 50_000;
    r.handle({ type: "llm_tokens", role: "extractor", read: 0, generated: 50, ms: 10_000 });
    expect(r.tokensPerSecond()).toBe(2.5);
    expect(r.promptTokensPerSecond()).toBe(50);
  });

  it("writes one JSON object per line on stdout with --json", () => {
    const s = streams();
    const r = new Reporter({ err: s.err, out: s.out, json: true });
    r.handle({ type: "file_skipped", path: "x.md", reason: "empty file" });
    r.handle({ type: "node_started", path: "y.md", node: "extractor" });
    const lines = s
      .text()
      .out.trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { type: "file_skipped", path: "x.md", reason: "empty file" },
      { type: "node_started", path: "y.md", node: "extractor" },
    ]);
  });

  it("--json progress lines carry what the display shows: files per stage, agents per role, both rates, token totals, ETA", () => {
    const s = streams();
    let now = 0;
    const r = new Reporter({ err: s.err, out: s.out, json: true, now: () => now });
    r.handle({
      type: "files_discovered",
      found: 2,
      toProcess: 2,
      skipped: 0,
      files: [
        { path: "a.md", bytes: 900 },
        { path: "b.md", bytes: 1200 },
      ],
    });
    r.handle({ type: "node_started", path: "a.md", node: "validator" });
    r.handle({ type: "node_started", path: "b.md", node: "researcher" });
    now = 3000;
    r.handle({ type: "llm_call_started", role: "validator", path: "a.md" });
    const ticks = s
      .text()
      .out.trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === "progress");
    expect(ticks).toHaveLength(1);
    expect(ticks[0]).toEqual({
      type: "progress",
      files: { done: 0, total: 2 },
      stages: { researcher: 1, validator: 1 },
      active: { extractor: 0, researcher: 0, writer: 0, validator: 1, synthesizer: 0 },
      tokensPerSecond: 0,
      promptTokensPerSecond: 0,
      tokens: { read: 0, generated: 0 },
      elapsedMs: 3000,
      etaMs: null,
    });
  });

  it("draws a live block on a terminal: files done/total, elapsed, ETA, agents per role, rates, files per stage", () => {
    const s = streams();
    s.err.isTTY = true;
    s.err.columns = 200;
    let now = 0;
    const r = new Reporter({ err: s.err, out: s.out, json: false, now: () => now });
    r.handle({ type: "files_discovered", found: 4, toProcess: 4, skipped: 0 });
    r.handle({ type: "node_started", path: "b.md", node: "extractor" });
    r.handle({ type: "node_started", path: "c.md", node: "writer" });
    r.handle({ type: "llm_call_started", role: "extractor", path: "b.md" });
    r.handle({ type: "llm_call_started", role: "writer", path: "c.md" });
    now = 65_000;
    r.handle({ type: "file_finished", path: "a.md", status: "processed", patterns: 1 });
    const { err } = s.text();
    expect(err).toMatch(/files {2}1\/4 .* 25% {3}elapsed 1m05s {3}ETA --/);
    expect(err).toMatch(/agents extractor 1 {2}researcher 0 {2}writer 1 {2}validator 0 {2}synthesizer 0/);
    expect(err).toContain("in flight 1 extracting, 1 writing");
    expect(err).toMatch(/tokens read 0 tok\/s \(0 prompt tokens\), generated 0 tok\/s \(0\)/);
    expect(err).toContain("\x1b[");
    r.stop();
  });

  it("keeps every line of the live block within a narrow terminal, with short words where the long ones do not fit", () => {
    const s = streams();
    s.err.isTTY = true;
    s.err.columns = 50;
    const r = new Reporter({ err: s.err, out: s.out, json: false, now: () => 0 });
    r.handle({ type: "files_discovered", found: 30, toProcess: 30, skipped: 0 });
    const nodes = [
      "extractor",
      "extractor",
      "extractor",
      "extractor",
      "researcher",
      "researcher",
      "writer",
      "writer",
      "writer",
      "writer",
      "writer",
      "validator",
    ];
    nodes.forEach((node, i) => {
      r.handle({ type: "node_started", path: `f${i}.md`, node });
    });
    for (const role of ["extractor", "writer", "writer"] as const) r.handle({ type: "llm_call_started", role });
    const lines = r.statusLines();
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(49);
    expect(lines).toContain("in flight 4 ext 2 res 5 wri 1 val");
    expect(lines).toContain("agents ext 1 res 0 wri 2 val 0 syn 0");
    // Wide enough, the words are spelled out.
    expect(r.statusLines(120)).toContain("in flight 4 extracting, 2 researching, 5 writing, 1 validating");
  });

  it("ignores memo hits when counting active agents, and reports nothing after close", () => {
    const s = streams();
    const r = new Reporter({ err: s.err, out: s.out, json: true });
    r.handle({ type: "llm_call_started", role: "writer" });
    r.handle({ type: "llm_call_finished", role: "writer", outputTokens: 0, ms: 0, memo: true });
    expect(r.counts.active.writer).toBe(1);
    r.close();
    r.handle({ type: "file_skipped", path: "late.md", reason: "x" });
    expect(s.text().out).not.toContain("late.md");
  });
});

describe("summary", () => {
  it("quotes paths so the printed resume command works with spaces, quotes and leading dashes", () => {
    expect(shellQuote("plain/path")).toBe("plain/path");
    expect(shellQuote("my notes")).toBe("'my notes'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(resumeCommand("-notes", "kb dir", "db.sqlite")).toBe("npm run graph -- --input ./-notes --out 'kb dir' --db db.sqlite --resume");
  });

  it("formats a human summary with every count and the resume command", () => {
    const s: RunSummary = {
      type: "summary",
      status: "interrupted",
      runId: "run-1",
      files: { found: 5, processed: 2, skipped: 1, quarantined: 1, unchanged: 0, pending: 1 },
      skipped: [{ path: "e.md", reason: "empty file" }],
      quarantinedFiles: [{ path: "q.md", reason: "every draft failed validation (see quarantine.md)" }],
      patterns: 3,
      llm: { calls: 7, tokens: 420, inputTokens: 900, reusedInputTokens: 300, memoHits: 2 },
      wallMs: 12_345,
      resume: "npm run graph -- --input n --out o --db d --resume",
      out: "/o",
    };
    const text = formatSummary(s);
    expect(text).toContain("Interrupted — resumable. Run run-1");
    expect(text).toContain("files: 5 found, 2 processed, 1 skipped, 1 quarantined, 1 not finished");
    expect(text).toContain("skipped e.md: empty file");
    expect(text).toContain("LLM: 7 calls, 420 tokens generated, 2 reused from before the interruption");
    expect(text).toContain("prompt tokens: 900, of which 300 served from the KV cache");
    expect(text).toContain("resume with: npm run graph -- --input n --out o --db d --resume");
  });
});
