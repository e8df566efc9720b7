/**
 * The CLI end to end on a slice of the shared corpus with the project's trained test model (it
 * answers every role in shape, so files are processed and pages written — the success path): the
 * knowledge base written, the summary, the checkpoint DB, reproducibility, a SIGKILL + --resume
 * cycle that ends with the same pages, Ctrl-C, and the offline no-model path. The first run, and the
 * runs that are killed or interrupted, are real processes; the others go through the same parser and
 * command in this process (test/helpers/inProcessCli.ts).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startCli, summaryOf } from "../helpers/cli.ts";
import { runInProcess } from "../helpers/inProcessCli.ts";
import { sharedCorpus, trainedModel } from "../helpers/scriptedBackend.ts";

const MODEL = trainedModel();
/**
 * Markdown, indented text and JSON from three sources, nested a few levels deep; the smaller files
 * of each source, since the model's work (not the file count) is most of a run's time.
 */
const SLICE = [
  "rust-patterns/idioms/default.md",
  "rust-patterns/patterns/behavioural/newtype.txt",
  "api-guidelines/flexibility.md",
  "clippy/clippy_lints_iterators.json",
];

let tmp: string;
let input: string;

/** Deterministic settings: one call in flight, greedy decoding (the default), one thread. */
function args(out: string, db: string, extra: string[] = []): string[] {
  return ["--input", input, "--out", out, "--db", db, "--model", MODEL, "--threads", "1", "--concurrency", "1", "--no-llm-review", "--json", ...extra];
}

/** Every file under dir except the KB store (.kb/), as relative path -> bytes. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      const rel = path.relative(dir, full);
      if (rel === ".kb" || rel.startsWith(".runs")) continue;
      if (e.isDirectory()) walk(full);
      else out.set(rel, fs.readFileSync(full, "utf8"));
    }
  };
  walk(dir);
  return out;
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-e2e-"));
  input = path.join(tmp, "notes dir");
  for (const rel of SLICE) {
    const dest = path.join(input, rel);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(sharedCorpus("rust-research", rel), dest);
  }
  fs.writeFileSync(path.join(input, "empty.md"), "");
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("npm run graph on a corpus slice with a tiny model", () => {
  let first: Awaited<ReturnType<typeof runCli>>;
  const outA = () => path.join(tmp, "kb-a");
  const dbA = () => path.join(tmp, "a.sqlite");

  beforeAll(async () => {
    first = await runCli("graph", args(outA(), dbA()));
  });

  it("finishes with exit 0 and a summary scripts can rely on", () => {
    expect(first.code, first.stderr).toBe(0);
    const s = summaryOf(first);
    expect(s).toMatchObject({ type: "summary", status: "done", resume: null, files: { found: SLICE.length + 1, skipped: 1 } });
    expect(s.files.processed + s.files.quarantined + s.files.skipped).toBe(s.files.found);
    expect(s.skipped).toEqual([{ path: "empty.md", reason: "empty file" }]);
    // A model that answers: files are processed, not quarantined, and each gives at least one entry.
    expect(s.files.processed).toBeGreaterThanOrEqual(SLICE.length - 1);
    expect(s.patterns).toBeGreaterThanOrEqual(s.files.processed);
    expect(s.llm.calls).toBeGreaterThan(0);
    expect(s.llm.tokens).toBeGreaterThan(0);
    expect(typeof s.wallMs).toBe("number");
    // Progress events come before the summary, one JSON object per line.
    expect(first.events.some((e) => e.type === "file_finished")).toBe(true);
    // The extractor tells the display how many patterns each file goes on with (the ETA weighs the later stages by them).
    const extracted = new Map(first.events.filter((e) => e.type === "node_finished" && e.node === "extractor").map((e) => [e.path, e.patterns]));
    expect(extracted.size).toBe(SLICE.length);
    for (const e of first.events.filter((x) => x.type === "file_finished" && x.status === "processed"))
      expect(extracted.get(e.path) as number, String(e.path)).toBeGreaterThanOrEqual(e.patterns as number);
    expect(
      first.stdout
        .trim()
        .split("\n")
        .every((l) => l.startsWith("{")),
    ).toBe(true);
    expect(first.stderr).toContain("Done.");
  });

  it("writes an index, one page per pattern with every section, and code quoted verbatim from its source", () => {
    const index = fs.readFileSync(path.join(outA(), "index.md"), "utf8");
    const pages = fs.readdirSync(path.join(outA(), "patterns"));
    expect(pages.length).toBe(summaryOf(first).patterns);
    let examples = 0;
    for (const page of pages) {
      expect(index).toContain(`(patterns/${page})`);
      const text = fs.readFileSync(path.join(outA(), "patterns", page), "utf8");
      for (const h of ["## Example", "## When to use", "## When not to use", "## Pitfalls", "## Sources"]) expect(text).toContain(`\n${h}\n`);
      const m = /From `([^`]+)` (?:lines? \d+(?:-\d+)?|\[lines? \d+(?:-\d+)?\]\([^)\s]+\)) \((C\d+)\), quoted verbatim:\n\n(`{3,})\w*\n([\s\S]*?)\n\3\n/.exec(
        text,
      );
      if (!m) continue;
      examples++;
      const rel = m[1] ?? "";
      const code = m[4] ?? "";
      const raw = fs.readFileSync(path.join(input, rel), "utf8");
      // The page's code is the source's code: raw for markdown, de-indented for the text files'
      // indented blocks, JSON-escaped inside the JSON files' strings.
      const haystack = rel.endsWith(".json") ? raw : rel.endsWith(".txt") ? raw.replace(/^ {4}/gm, "") : raw;
      const needle = rel.endsWith(".json") ? JSON.stringify(code).slice(1, -1) : code;
      expect(haystack, `${page} quotes ${m[2]} of ${rel}`).toContain(needle);
    }
    expect(examples).toBeGreaterThan(0);
    const kb = JSON.parse(fs.readFileSync(path.join(outA(), "kb.json"), "utf8"));
    expect(kb.entries).toHaveLength(pages.length);
    expect(fs.existsSync(path.join(outA(), "quarantine.md"))).toBe(true);
  });

  it("records the run, every file's progress and every LLM call in the checkpoint DB", () => {
    const db = new Database(dbA(), { readonly: true });
    try {
      const s = summaryOf(first);
      const run = db.prepare("SELECT * FROM runs WHERE id = ?").get(s.runId) as Record<string, unknown>;
      expect(run).toMatchObject({ status: "done", input, out: outA() });
      const files = db.prepare("SELECT rel_path, status, node FROM run_files WHERE run_id = ?").all(s.runId) as { status: string; node: string }[];
      expect(files).toHaveLength(SLICE.length + 1);
      expect(files.filter((f) => f.status !== "skipped").every((f) => f.node === "done")).toBe(true);
      expect((db.prepare("SELECT COUNT(*) AS n FROM llm_calls WHERE run_id = ?").get(s.runId) as { n: number }).n).toBe(s.llm.calls);
      // A finished run is compacted: its final checkpoint stays, the step history and call texts go.
      expect((db.prepare("SELECT COUNT(*) AS n FROM checkpoints WHERE thread_id = ?").get(s.runId) as { n: number }).n).toBe(1);
      expect((db.prepare("SELECT COUNT(*) AS n FROM llm_memo WHERE run_id = ?").get(s.runId) as { n: number }).n).toBe(0);
      expect((db.prepare("SELECT COUNT(*) AS n FROM blob_runs WHERE run_id = ?").get(s.runId) as { n: number }).n).toBe(0);
    } finally {
      db.close();
    }
  });

  it("npm run runs lists, shows and deletes the run", async () => {
    const id = summaryOf(first).runId as string;
    const list = await runInProcess("runs", ["list", "--db", dbA()]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+done\\s+${SLICE.length + 1}/${SLICE.length + 1}`));
    const show = await runInProcess("runs", ["show", id, "--db", dbA(), "--json"]);
    const details = JSON.parse(show.stdout);
    expect(details).toMatchObject({ id, status: "done", input, out: outA(), files: { total: SLICE.length + 1, finished: SLICE.length + 1 } });
    expect(details.fileRows.find((f: { relPath: string }) => f.relPath === "empty.md")).toMatchObject({ status: "skipped", reason: "empty file" });
    expect(details.totals.calls).toBe(summaryOf(first).llm.calls);
    const copy = path.join(tmp, "a-copy.sqlite");
    fs.copyFileSync(dbA(), copy);
    const del = await runInProcess("runs", ["delete", id, "--db", copy]);
    expect(del.code, del.stderr).toBe(0);
    expect((await runInProcess("runs", ["show", id, "--db", copy])).code).toBe(2);
  });

  it("writes byte-identical pages when run again with the same settings", async () => {
    const again = await runInProcess("graph", args(path.join(tmp, "kb-b"), path.join(tmp, "b.sqlite")));
    expect(again.code, again.stderr).toBe(0);
    expect(snapshot(path.join(tmp, "kb-b"))).toEqual(snapshot(outA()));
  });

  it("resumes after SIGKILL without repeating finished LLM calls, and ends byte-identical", async () => {
    const out = path.join(tmp, "kb-killed");
    const db = path.join(tmp, "killed.sqlite");
    const handle = startCli("graph", args(out, db));
    // Kill once a couple of files are done and another is in progress.
    await handle.waitFor((e) => e.type === "file_finished");
    await handle.waitFor((e) => e.type === "node_started" && e.node === "writer");
    handle.child.kill("SIGKILL");
    const killed = await handle.done;
    expect(killed.signal).toBe("SIGKILL");
    const dbh = new Database(db, { readonly: true });
    const callsAtKill = (dbh.prepare("SELECT COUNT(*) AS n FROM llm_calls").get() as { n: number }).n;
    dbh.close();
    expect(callsAtKill).toBeGreaterThan(0);
    expect(callsAtKill).toBeLessThan(summaryOf(first).llm.calls);

    const resumed = await runInProcess("graph", args(out, db, ["--resume"]));
    expect(resumed.code, resumed.stderr).toBe(0);
    const s = summaryOf(resumed);
    expect(s.status).toBe("done");
    const total = summaryOf(first).llm.calls;
    // Finished calls are never made again: the resumed process makes exactly the ones that were missing.
    expect(s.llm.calls).toBe(total - callsAtKill);
    // Nodes that had finished before the kill did not start again.
    const count = (events: Record<string, unknown>[], type: string) => {
      const m = new Map<string, number>();
      for (const e of events) if (e.type === type) m.set(`${e.path}|${e.node}`, (m.get(`${e.path}|${e.node}`) ?? 0) + 1);
      return m;
    };
    const ref = count(first.events, "node_started");
    const killedStarted = count(killed.events, "node_started");
    const killedFinished = count(killed.events, "node_finished");
    const resumedStarted = count(resumed.events, "node_started");
    for (const [key, n] of ref) {
      const inFlight = (killedStarted.get(key) ?? 0) - (killedFinished.get(key) ?? 0);
      expect((killedFinished.get(key) ?? 0) + (resumedStarted.get(key) ?? 0), key).toBeLessThanOrEqual(n + inFlight);
    }
    expect(snapshot(out)).toEqual(snapshot(outA()));
  });

  it("stops cleanly on SIGINT with exit 130 and the resume command, then resumes to the end", async () => {
    const out = path.join(tmp, "kb-int");
    const db = path.join(tmp, "int.sqlite");
    const handle = startCli("graph", args(out, db));
    await handle.waitFor((e) => e.type === "file_finished");
    handle.child.kill("SIGINT");
    const stopped = await handle.done;
    expect(stopped.code, stopped.stderr).toBe(130);
    const s = summaryOf(stopped);
    expect(s.status).toBe("interrupted");
    expect(s.resume).toContain("--resume");
    expect(stopped.stderr).toContain("resume with:");
    const resumed = await runInProcess("graph", args(out, db, ["--resume"]));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(snapshot(out)).toEqual(snapshot(outA()));
  });
});

describe("without a model", () => {
  it("stops before any work, offline, and says how to get one", async () => {
    const models = fs.mkdtempSync(path.join(os.tmpdir(), "kb-nomodel-"));
    const out = path.join(models, "kb");
    const r = await runCli("graph", ["--input", sharedCorpus("rust-research"), "--out", out, "--db", path.join(models, "db.sqlite")], {
      env: { RUST_KB_MODELS_DIR: models, RUST_KB_OFFLINE: "1", RUST_KB_MODEL: "" },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not downloaded yet/);
    expect(r.stderr).toMatch(/--model \/path\/to/);
    expect(r.stderr).toMatch(/huggingface\.co\/Qwen\/Qwen2\.5-0\.5B-Instruct-GGUF/);
    expect(fs.existsSync(path.join(out, "index.md"))).toBe(false);
    fs.rmSync(models, { recursive: true, force: true });
  });

  it("rejects a model path that does not exist with exit 1 and a hint", async () => {
    const r = await runInProcess("graph", [
      "--input",
      sharedCorpus("rust-research"),
      "--model",
      "/nonexistent/model.gguf",
      "--db",
      path.join(tmp, "x.sqlite"),
      "--out",
      path.join(tmp, "x"),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No model file at \/nonexistent\/model.gguf/);
  });

  it("treats a missing input directory as a usage error (exit 2)", async () => {
    const r = await runInProcess("graph", ["--input", path.join(tmp, "does-not-exist")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not exist/);
  });
});
