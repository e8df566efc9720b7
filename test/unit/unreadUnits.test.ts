/**
 * Units a model does not read in full are reported (issue 26): which file, which role, which unit
 * IDs, how and why — in the run database (so a resumed run still reports them), the run summary
 * (`unread` and its line), kb.json (`unread`) and quarantine.md ("Not read in full").
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { batchesThatFit } from "../../nodes/stagePrompt.ts";
import { chunkUnits, fitUnits } from "../../nodes/unitChunks.ts";
import type { SourceUnit } from "../../src/input/types.ts";
import type { KbJson } from "../../src/kb/schema.ts";
import { unreadUnits } from "../../src/llm/promptUnits.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";
import { runPipeline } from "../../src/run/runPipeline.ts";
import { formatSummary } from "../../src/run/summary.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { passingAnswer, ScriptedBackend } from "../helpers/scriptedBackend.ts";

const count = (t: string) => Math.ceil(t.length / 4);
const unit = (id: string, chars: number): SourceUnit => ({
  id,
  kind: "section",
  title: `Section ${id}`,
  text: `${id} `.repeat(Math.ceil(chars / (id.length + 1))).slice(0, chars),
  startLine: 1,
  endLine: 2,
});

describe("units as prompts show them", () => {
  it("a cut's characters name the units left out entirely and the ones cut into", () => {
    const units = ["[S1] a\nfirst", "[S2] b\nsecond unit", "[S3] c\nthird", "[S4] d\nfourth"].map((text, i) => ({ id: `S${i + 1}`, text }));
    const user = `File: x.md\n\n${units.map((u) => u.text).join("\n\n")}\n\nStep: find the patterns.`;
    const start = user.indexOf("second");
    const end = user.indexOf("fourth") + 2;
    const got = unreadUnits({ role: "extractor", callKey: "x.md|extractor|chunk0#a0", user, source: { file: "x.md", units } }, { start, end });
    expect(got.map((u) => [u.unitId, u.how, u.why])).toEqual([
      ["S2", "shortened", "context-cut"],
      ["S3", "left-out", "context-cut"],
      ["S4", "shortened", "context-cut"],
    ]);
    expect(got.every((u) => u.relPath === "x.md" && u.role === "extractor")).toBe(true);
    expect(unreadUnits({ role: "writer", callKey: "k", user, source: { file: "x.md", units } })).toEqual([]);
  });

  it("chunks hold every unit once, whole when it fits, within the budget measured on the joined text", () => {
    const units = [unit("S1", 300), unit("S2", 300), unit("S3", 2000), unit("S4", 100), unit("S5", 10_000)];
    const budget = 600;
    const chunks = chunkUnits(units, count, budget);
    expect(chunks.flatMap((c) => c.units.map((u) => u.id))).toEqual(["S1", "S2", "S3", "S4", "S5"]);
    for (const c of chunks) expect(count(c.text)).toBeLessThanOrEqual(budget);
    // Only the unit longer than a whole chunk is shortened, and flagged; S3 (2,000 characters) is whole.
    expect(chunks.flatMap((c) => c.shown.filter((u) => u.shortened).map((u) => u.id))).toEqual(["S5"]);
    expect(chunks.find((c) => c.units.some((u) => u.id === "S3"))?.text).toContain(units[2]?.text);
  });

  it("a block fitted to a room shortens the longest units first, and leaves out the last when even short forms do not fit", () => {
    const units = [unit("S1", 200), unit("S2", 4000), unit("S3", 4000)];
    const fitted = fitUnits(units, count, 900);
    expect(count(fitted.text)).toBeLessThanOrEqual(900);
    expect(fitted.shown.map((u) => [u.id, Boolean(u.shortened), Boolean(u.leftOut)])).toEqual([
      ["S1", false, false],
      ["S2", true, false],
      ["S3", true, false],
    ]);
    const tiny = fitUnits(units, count, 20);
    expect(count(tiny.text)).toBeLessThanOrEqual(20);
    expect(tiny.shown.filter((u) => u.leftOut).map((u) => u.id)).toContain("S3");
  });
});

describe("batches of a later step's patterns", () => {
  it("are one call when the prompt shares the file's block; else grow only while the prompt stays as good, with every unit whole", () => {
    const keys = ["p1", "p2", "p3", "p4", "p5"];
    expect(batchesThatFit(keys, () => "shared")).toEqual([keys]);
    // Shared for up to two patterns, own units for three, shortened beyond.
    const form = (b: readonly string[]) => (b.length <= 2 ? "shared" : b.length === 3 ? "own" : "fitted");
    expect(batchesThatFit(keys, form)).toEqual([["p1", "p2"], ["p3", "p4"], ["p5"]]);
    // A pattern whose prompt needs its units shortened is asked alone.
    expect(batchesThatFit(keys, (b) => (b.includes("p2") ? "fitted" : "own"))).toEqual([["p1"], ["p2"], ["p3", "p4", "p5"]]);
    expect(batchesThatFit([], () => "shared")).toEqual([]);
  });
});

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-unread-"));
  fs.mkdirSync(path.join(dir, "in"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const options = () => ({
  input: path.join(dir, "in"),
  out: path.join(dir, "kb"),
  db: path.join(dir, "runs.sqlite"),
  research: ["input" as const],
  rustc: false,
});
const pattern = { name: "Newtype", summary: "Wrap a value in a tuple struct to give it a distinct type." };
const kbJson = () => JSON.parse(fs.readFileSync(path.join(dir, "kb", "kb.json"), "utf8")) as KbJson;
const sections = (n: number, words: number) =>
  Array.from({ length: n }, (_, i) => `## Part ${i + 1}\n\n${`Newtype wrappers keep values apart, part ${i + 1}. `.repeat(words)}\n`).join("\n");

describe("a unit a model does not read in full is reported", () => {
  it("a forced cut: in the run database, the summary's field and line, kb.json and quarantine.md, and after a resume", async () => {
    fs.writeFileSync(path.join(dir, "in", "long.md"), `# Newtypes\n\n${sections(12, 8)}`);
    // A context too small for the extractor's prompt and its answer: the last-resort fit has to cut the units.
    const controller = new AbortController();
    const events: PipelineEvent[] = [];
    const first = new ScriptedBackend(
      (req: BackendRequest) => {
        if (req.role === "writer") controller.abort();
        return passingAnswer(req, pattern);
      },
      { contextTokens: 700 },
    );
    const interrupted = await runPipeline(options(), {
      models: { backendFor: () => first, concurrency: 1 },
      signal: controller.signal,
      onEvent: (e) => events.push(e),
    });
    expect(interrupted.status).toBe("interrupted");
    const warning = events.find((e) => e.type === "message" && e.text.includes("long.md|extractor|chunk0#a0: the extractor prompt was shortened"));
    expect(warning).toMatchObject({ level: "warn", text: expect.stringMatching(/\(long\.md: S\d+(, S\d+)* left out/) });

    const db = RunDatabase.open(options().db);
    const recorded = db.listUnread(interrupted.runId ?? "");
    db.close();
    const cut = recorded.filter((u) => u.role === "extractor" && u.why === "context-cut");
    expect(cut.length).toBeGreaterThan(0);
    expect(cut.every((u) => u.relPath === "long.md" && /^S\d+$/.test(u.unitId))).toBe(true);
    const leftOut = cut.filter((u) => u.how === "left-out").map((u) => u.unitId);
    expect(leftOut.length).toBeGreaterThan(0);

    // The resumed run does not repeat the extractor, yet reports what it missed: the record is in the run database.
    const second = new ScriptedBackend((req: BackendRequest) => passingAnswer(req, pattern), { contextTokens: 700 });
    const summary = await runPipeline({ ...options(), resume: interrupted.runId ?? "" }, { models: { backendFor: () => second, concurrency: 1 } });
    expect(summary.status).toBe("done");
    expect(second.callsFor("extractor")).toEqual([]);
    const file = summary.unread?.find((f) => f.path === "long.md");
    expect(file?.units.filter((u) => u.role === "extractor" && u.how === "left-out").map((u) => u.id)).toEqual(leftOut);
    expect(formatSummary(summary)).toMatch(
      new RegExp(`\\n {2}not read in full long\\.md: extractor left out ${leftOut.join(", ")} \\(prompt cut to fit the context\\)`),
    );
    expect(formatSummary(summary)).toMatch(/\nunits not read in full: \d+ in 1 file \(listed in quarantine\.md and kb\.json\)\n/);

    const inKb = kbJson().unread.find((f) => f.relPath === "long.md");
    expect(inKb?.units.filter((u) => u.role === "extractor" && u.how === "left-out").map((u) => u.unitId)).toEqual(leftOut);
    expect(inKb?.units.every((u) => u.title.startsWith("Newtypes") && u.startLine > 0 && u.endLine >= u.startLine)).toBe(true);
    const quarantine = fs.readFileSync(path.join(dir, "kb", "quarantine.md"), "utf8");
    expect(quarantine).toContain("# Not read in full");
    // Each unit with its title and its lines, linked to the input file.
    expect(quarantine).toMatch(
      new RegExp(
        `\\n- ${leftOut[0]} Newtypes &gt; Part \\d+ \\(\\[lines \\d+-\\d+\\]\\(\\.\\./in/long\\.md#L\\d+-L\\d+\\)\\): left out of the extractor's prompt, cut to fit the model's context\\n`,
      ),
    );
  });

  it("the chunks the extractor does not send once the file's pattern limit is reached are reported as not read", async () => {
    fs.writeFileSync(path.join(dir, "in", "big.md"), `# Newtypes\n\n${sections(40, 30)}`);
    const backend = new ScriptedBackend(
      (req: BackendRequest) =>
        req.role === "extractor"
          ? JSON.stringify({
              patterns: Array.from({ length: 6 }, (_, i) => ({
                name: `Pattern ${i + 1}`,
                category: "type-safety",
                summary: "A pattern of the file.",
                evidence: ["S2"],
              })),
            })
          : passingAnswer(req, pattern),
      { contextTokens: 2048 },
    );
    const summary = await runPipeline(options(), { models: { backendFor: () => backend, concurrency: 1 } });
    expect(summary.status).toBe("done");
    expect(backend.callsFor("extractor")).toHaveLength(1);
    const chunk0 = backend.callsFor("extractor")[0]?.prompt.user ?? "";
    const unsent = summary.unread?.find((f) => f.path === "big.md")?.units ?? [];
    expect(unsent.length).toBeGreaterThan(0);
    for (const u of unsent) {
      expect(u).toMatchObject({ role: "extractor", how: "left-out", why: "pattern-limit" });
      expect(chunk0).not.toContain(`[${u.id}] `);
    }
    expect(unsent.map((u) => u.id)).toContain("S41");
    expect(kbJson().unread[0]?.units.map((u) => u.unitId)).toEqual(unsent.map((u) => u.id));
  });

  it("a run whose prompts all fit reports nothing", async () => {
    fs.writeFileSync(path.join(dir, "in", "short.md"), "# Newtype\n\nWrap a value in a tuple struct.\n\n```rust\nstruct Meters(f64);\n```\n");
    const backend = new ScriptedBackend((req: BackendRequest) => passingAnswer(req, pattern), { contextTokens: 4096 });
    const summary = await runPipeline(options(), { models: { backendFor: () => backend, concurrency: 1 } });
    expect(summary.unread).toEqual([]);
    expect(formatSummary(summary)).not.toContain("not read in full");
    expect(kbJson().unread).toEqual([]);
    expect(fs.readFileSync(path.join(dir, "kb", "quarantine.md"), "utf8")).not.toContain("Not read in full");
  });
});
