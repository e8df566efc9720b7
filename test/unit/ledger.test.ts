import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseRunsArgs } from "../../src/commands/runs/parseRunsArgs.ts";
import { Ledger } from "../../src/store/Ledger.ts";
import { OutputLock } from "../../src/store/OutputLock.ts";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-ledger-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const settings = { settingsHash: "s1", modelId: "m1", promptsHash: "p1" };

describe("Ledger", () => {
  it("classifies files as new, unchanged, changed in content, or made with other settings", () => {
    const ledger = Ledger.open(dir);
    expect(ledger.classify("a.md", "doc1", settings)).toEqual({ kind: "new" });
    ledger.record({ relPath: "a.md", docId: "doc1", ...settings, status: "processed", runId: "r1" });
    expect(ledger.classify("a.md", "doc1", settings)).toEqual({ kind: "unchanged" });
    expect(ledger.classify("a.md", "doc2", settings)).toEqual({ kind: "content" });
    expect(ledger.classify("a.md", "doc1", { settingsHash: "s2", modelId: "m2", promptsHash: "p1" })).toEqual({ kind: "settings", what: ["model m1 -> m2"] });
    expect(ledger.classify("a.md", "doc1", { settingsHash: "s2", modelId: "m1", promptsHash: "p2" })).toEqual({ kind: "settings", what: ["prompts changed"] });
    expect(ledger.classify("a.md", "doc1", { ...settings, settingsHash: "s3" })).toEqual({ kind: "settings", what: ["pipeline settings changed"] });
    ledger.close();
  });

  it("forgets deleted files and survives reopening", () => {
    const ledger = Ledger.open(dir);
    for (const p of ["a.md", "b.md", "c.md"]) ledger.record({ relPath: p, docId: p, ...settings, status: "processed", runId: "r1" });
    expect(ledger.removeNotIn(new Set(["a.md", "c.md"]))).toEqual(["b.md"]);
    ledger.close();
    const again = Ledger.open(dir);
    expect(again.all().map((e) => e.relPath)).toEqual(["a.md", "c.md"]);
    again.close();
  });
});

describe("OutputLock", () => {
  it("refuses a second writer while the first is alive, naming its run", async () => {
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    try {
      fs.mkdirSync(path.join(dir, ".kb"), { recursive: true });
      fs.writeFileSync(
        path.join(dir, ".kb", "lock"),
        JSON.stringify({ runId: "run-other", pid: child.pid, host: os.hostname(), db: "x.sqlite", startedAt: "t" }),
      );
      expect(() => OutputLock.acquire(dir, { runId: "run-me", db: "y" })).toThrow(/Run run-other \(pid \d+/);
      expect(OutputLock.holder(dir)?.runId).toBe("run-other");
    } finally {
      child.kill();
    }
  });

  it("takes over a lock whose process is gone, and releases its own", async () => {
    const child = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" });
    await new Promise((r) => child.on("exit", r));
    fs.mkdirSync(path.join(dir, ".kb"), { recursive: true });
    fs.writeFileSync(path.join(dir, ".kb", "lock"), JSON.stringify({ runId: "run-dead", pid: child.pid, host: os.hostname(), db: "x", startedAt: "t" }));
    const lock = OutputLock.acquire(dir, { runId: "run-me", db: "y" });
    expect(JSON.parse(fs.readFileSync(path.join(dir, ".kb", "lock"), "utf8")).runId).toBe("run-me");
    lock.release();
    expect(fs.existsSync(path.join(dir, ".kb", "lock"))).toBe(false);
  });
});

describe("parseRunsArgs", () => {
  it.each([
    [["list"], { kind: "list", db: "checkpoints/runs.sqlite", json: false }],
    [["show", "r1", "--db", "d.sqlite"], { kind: "show", db: "d.sqlite", json: false, id: "r1" }],
    [["resume", "r1", "--threads", "2"], { kind: "resume", db: "checkpoints/runs.sqlite", json: false, id: "r1", threads: 2 }],
    [["delete", "r1", "--json"], { kind: "delete", db: "checkpoints/runs.sqlite", json: true, id: "r1" }],
    [["compact", "--done"], { kind: "compact", db: "checkpoints/runs.sqlite", json: false, id: "--done" }],
  ])("%j", (argv, expected) => {
    expect(parseRunsArgs(argv)).toEqual(expected);
  });
  it.each([[[]], [["show"]], [["frobnicate"]], [["compact", "r1", "--done"]], [["resume", "r1", "--threads", "0"]]])("rejects %j", (argv) => {
    expect(parseRunsArgs(argv).kind).toBe("error");
  });
});
