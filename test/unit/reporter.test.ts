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
  it("prints plain progress lines when stderr is not a terminal, with counts, rate and ETA", () => {
    const s = streams();
    let now = 0;
    const r = new Reporter({ err: s.err, out: s.out, json: false, now: () => now });
    r.handle({ type: "files_discovered", found: 3, toProcess: 2, skipped: 1 });
    r.handle({ type: "llm_call_started", role: "writer" });
    now = 2000;
    r.handle({ type: "llm_call_finished", role: "writer", outputTokens: 100, ms: 2000, memo: false });
    r.handle({ type: "file_finished", path: "a.md", status: "processed", patterns: 2 });
    const { err, out } = s.text();
    expect(err).toContain("found 3 files: 2 to process, 1 skipped");
    expect(err).toMatch(/\[1\/2\] processed a\.md \(2 patterns\) — 50 tok\/s, ETA 2s/);
    expect(out).toBe("");
    expect(r.counts).toMatchObject({ done: 1, processed: 1, tokens: 100, active: { writer: 0 } });
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

  it("draws a live block on a terminal: files done/total, agents per role, tokens/s, elapsed and ETA", () => {
    const s = streams();
    s.err.isTTY = true;
    s.err.columns = 200;
    let now = 0;
    const r = new Reporter({ err: s.err, out: s.out, json: false, now: () => now });
    r.handle({ type: "files_discovered", found: 4, toProcess: 4, skipped: 0 });
    r.handle({ type: "llm_call_started", role: "extractor" });
    r.handle({ type: "llm_call_started", role: "writer" });
    now = 65_000;
    r.handle({ type: "file_finished", path: "a.md", status: "processed", patterns: 1 });
    const { err } = s.text();
    expect(err).toMatch(/files {2}1\/4 .* 25% {3}elapsed 1m05s {3}ETA 3m15s/);
    expect(err).toMatch(/agents extractor 1 {2}researcher 0 {2}writer 1 {2}validator 0 {2}synthesizer 0/);
    expect(err).toContain("\x1b[");
    r.stop();
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
