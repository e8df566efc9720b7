import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runRunsCommand } from "../../src/commands/runs/runsCommand.ts";
import type { RunDetails } from "../../src/commands/runs/runsReport.ts";
import { readEnv } from "../../src/config/env.ts";
import { KnowledgeBase } from "../../src/kb/KnowledgeBase.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function io() {
  let out = "";
  let err = "";
  return {
    io: {
      stdout: {
        write: (s: string) => {
          out += s;
          return true;
        },
      } as unknown as NodeJS.WritableStream,
      stderr: {
        write: (s: string) => {
          err += s;
          return true;
        },
      } as unknown as NodeJS.WritableStream,
      env: readEnv({}),
      onSignal: () => () => {},
      exitNow: (code: number): never => {
        throw new Error(`exit ${code}`);
      },
    },
    out: () => out,
    err: () => err,
  };
}

/** A run database with one finished run (two files, two model calls) and its knowledge base with a quarantined draft. */
function fixture(): { db: string; out: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "runs-cmd-"));
  dirs.push(dir);
  const dbFile = path.join(dir, "runs.sqlite");
  const out = path.join(dir, "kb");
  const db = RunDatabase.open(dbFile);
  db.createRun({
    id: "r1",
    input: path.join(dir, "in"),
    out,
    model: "m",
    settings: JSON.stringify({ hash: "h1" }),
    startedAt: "2026-01-01T00:00:00.000Z",
    pid: null,
  });
  db.upsertFile("r1", "a.md", { status: "processed", patterns: 2 });
  db.upsertFile("r1", "b.md", { status: "quarantined" });
  for (const [key, ms] of [
    ["k1", 120],
    ["k2", 80],
  ] as const) {
    db.putMemo(
      "r1",
      key,
      { text: "{}", inputTokens: 10, outputTokens: 5, stopReason: "eogToken" },
      {
        runId: "r1",
        callKey: key,
        role: "writer",
        modelId: "m",
        inputTokens: 10,
        outputTokens: 5,
        ms,
        stopReason: "eogToken",
      },
    );
  }
  db.setRunStatus("r1", "done", { endedAt: "2026-01-01T00:01:00.000Z", summary: JSON.stringify({ wallMs: 60_000 }) });
  db.close();
  const kb = KnowledgeBase.open(out);
  kb.replaceFile("b.md", [], [{ relPath: "b.md", patternKey: "p", name: "Bad draft", problems: ["no example"] }]);
  kb.replaceFile("other.md", [], [{ relPath: "other.md", patternKey: "p", name: "Not this run", problems: ["x"] }]);
  kb.close();
  return { db: dbFile, out };
}

describe("npm run runs (runRunsCommand)", () => {
  it("show: totals from the run database (model time included) and this run's quarantined drafts, read without touching the knowledge base", async () => {
    const f = fixture();
    const before = fs.readdirSync(path.join(f.out, ".kb")).sort();
    const t = io();
    expect(await runRunsCommand({ kind: "show", db: f.db, json: true, id: "r1" }, t.io)).toBe(0);
    const d = JSON.parse(t.out()) as RunDetails;
    expect(d.totals).toEqual({ calls: 2, inputTokens: 20, outputTokens: 10, modelMs: 200, wallMs: 60_000 });
    expect(d.files).toMatchObject({ total: 2, finished: 2 });
    expect(d.quarantined).toEqual([{ relPath: "b.md", name: "Bad draft", problems: ["no example"] }]);
    // Read-only: no -wal/-shm left behind in the knowledge base's folder.
    expect(fs.readdirSync(path.join(f.out, ".kb")).sort()).toEqual(before);
  });

  it("show prints quarantine reasons (model text) without control or bidi characters (issue 23)", async () => {
    const f = fixture();
    const kb = KnowledgeBase.open(f.out);
    kb.replaceFile("b.md", [], [{ relPath: "b.md", patternKey: "p", name: "Bad\u202E draft", problems: ["reviewer: \u001b]0;owned\u0007no\u2066 example"] }]);
    kb.close();
    const t = io();
    expect(await runRunsCommand({ kind: "show", db: f.db, json: false, id: "r1" }, t.io)).toBe(0);
    expect(t.out()).toContain("no example");
    expect(t.out()).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  });

  it("list, compact and delete; an unknown run is a usage error (exit 2)", async () => {
    const f = fixture();
    const list = io();
    expect(await runRunsCommand({ kind: "list", db: f.db, json: true }, list.io)).toBe(0);
    expect((JSON.parse(list.out()) as { id: string }[]).map((r) => r.id)).toEqual(["r1"]);

    const compact = io();
    expect(await runRunsCommand({ kind: "compact", db: f.db, json: true, id: "--done" }, compact.io)).toBe(0);
    expect((JSON.parse(compact.out()) as { id: string }[]).map((r) => r.id)).toEqual(["r1"]);

    const missing = io();
    expect(await runRunsCommand({ kind: "show", db: f.db, json: false, id: "nope" }, missing.io)).toBe(2);
    expect(missing.err()).toContain("NO_RUN_TO_RESUME");

    const del = io();
    expect(await runRunsCommand({ kind: "delete", db: f.db, json: true, id: "r1" }, del.io)).toBe(0);
    expect(JSON.parse(del.out())).toEqual({ deleted: "r1" });
    const after = io();
    await runRunsCommand({ kind: "list", db: f.db, json: true }, after.io);
    expect(JSON.parse(after.out())).toEqual([]);
  });
});

describe("a run database that is not there", () => {
  it("list says so and creates nothing; show refuses with exit 2", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "runs-none-"));
    dirs.push(dir);
    const db = path.join(dir, "sub", "runs.sqlite");
    const a = io();
    expect(await runRunsCommand({ kind: "list", db, json: false }, a.io)).toBe(0);
    expect(a.out()).toContain("No run database at");
    const b = io();
    expect(await runRunsCommand({ kind: "show", id: "x", db, json: false }, b.io)).toBe(2);
    expect(b.err()).toContain("There is no run database");
    expect(fs.existsSync(path.join(dir, "sub"))).toBe(false);
  });
});
