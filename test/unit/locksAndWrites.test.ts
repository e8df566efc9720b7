import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { isUserError } from "../../src/errors.ts";
import type { SourceDocument } from "../../src/input/types.ts";
import { OutputLock, takeOver } from "../../src/store/OutputLock.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { type WriteFs, writeFileAtomic } from "../../src/util/atomicWrite.ts";
import { isProcessAlive, procState } from "../../src/util/processAlive.ts";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-locks-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The real file system, with writes cut to `max` bytes each and every call logged. */
function shortWriteFs(max: number, log: string[], writeResult?: (n: number) => number): WriteFs {
  return {
    openSync: (f, flags, mode) => {
      log.push(`open ${path.basename(f)}`);
      return fs.openSync(f, flags, mode);
    },
    writeSync: (fd, buf, off, len) => {
      const n = fs.writeSync(fd, buf, off, Math.min(len, max));
      log.push("write");
      return writeResult ? writeResult(n) : n;
    },
    fsyncSync: (fd) => {
      log.push("fsync");
      fs.fsyncSync(fd);
    },
    closeSync: (fd) => fs.closeSync(fd),
    renameSync: (a, b) => {
      log.push("rename");
      fs.renameSync(a, b);
    },
    rmSync: (f, o) => fs.rmSync(f, o),
  };
}

describe("writeFileAtomic", () => {
  it("writes every byte when the system takes a few at a time (short writes)", () => {
    const file = path.join(dir, "page.md");
    const content = "ünïcode 🦀 ".repeat(50);
    const log: string[] = [];
    expect(writeFileAtomic(file, content, shortWriteFs(7, log))).toBe(true);
    expect(fs.readFileSync(file, "utf8")).toBe(content);
    expect(log.filter((l) => l === "write").length).toBe(Math.ceil(Buffer.byteLength(content) / 7));
  });

  it("fsyncs the file before the rename and the directory after it", () => {
    const log: string[] = [];
    writeFileAtomic(path.join(dir, "a.md"), "x", shortWriteFs(100, log));
    expect(log.filter((l) => !l.startsWith("write"))).toEqual([
      expect.stringMatching(/^open \.tmp-a\.md\.\d+\.[0-9a-f]{8}\.kbtmp$/),
      "fsync",
      "rename",
      `open ${path.basename(dir)}`,
      "fsync",
    ]);
  });

  it("a device that takes no more bytes is a DISK_FULL error; the old file stays and no temp file is left", () => {
    const file = path.join(dir, "page.md");
    fs.writeFileSync(file, "old");
    let err: unknown;
    try {
      writeFileAtomic(
        file,
        "new content",
        shortWriteFs(4, [], (n) => (n === 4 ? 4 : 0)),
      );
    } catch (e) {
      err = e;
    }
    expect(isUserError(err) && err.code).toBe("DISK_FULL");
    expect((err as Error).message).toMatch(/No space left on the device while writing .*page\.md/);
    expect(fs.readFileSync(file, "utf8")).toBe("old");
    expect(fs.readdirSync(dir)).toEqual(["page.md"]);
  });

  it("ENOSPC from write(2) is the same clear error", () => {
    const io = shortWriteFs(100, []);
    io.writeSync = () => {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    };
    expect(() => writeFileAtomic(path.join(dir, "x.md"), "x", io)).toThrow(expect.objectContaining({ code: "DISK_FULL" }));
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

/** A process that has exited but is not reaped yet: `sh` forks `sleep 0`, then becomes `sleep 5`, which never waits for it. */
async function zombie(): Promise<{ pid: number; stop: () => void }> {
  const child = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] });
  const pid = await new Promise<number>((resolve) => child.stdout.once("data", (d) => resolve(Number(String(d).trim()))));
  for (let i = 0; i < 50 && procState(pid) !== "Z"; i++) await new Promise((r) => setTimeout(r, 20));
  return { pid, stop: () => child.kill("SIGKILL") };
}

const lockFile = () => path.join(dir, ".kb", "lock");
function plantLock(info: Record<string, unknown>, mtimeSecondsAgo = 0): string {
  fs.mkdirSync(path.join(dir, ".kb"), { recursive: true });
  const text = JSON.stringify({ runId: "run-other", db: "x.sqlite", startedAt: "t", host: os.hostname(), ...info });
  fs.writeFileSync(lockFile(), text);
  if (mtimeSecondsAgo > 0) {
    const t = new Date(Date.now() - mtimeSecondsAgo * 1000);
    fs.utimesSync(lockFile(), t, t);
  }
  return text;
}

describe.skipIf(process.platform !== "linux")("zombies", () => {
  it("a zombie answers kill(pid, 0) but is not alive", async () => {
    const z = await zombie();
    try {
      expect(procState(z.pid)).toBe("Z");
      expect(() => process.kill(z.pid, 0)).not.toThrow();
      expect(isProcessAlive(z.pid)).toBe(false);
      expect(isProcessAlive(process.pid)).toBe(true);
    } finally {
      z.stop();
    }
  });

  it("a lock held by a zombie is taken over (resume right after a SIGKILL)", async () => {
    const z = await zombie();
    try {
      plantLock({ pid: z.pid });
      const lock = OutputLock.acquire(dir, { runId: "run-me", db: "y" });
      expect(JSON.parse(fs.readFileSync(lockFile(), "utf8")).runId).toBe("run-me");
      lock.release();
    } finally {
      z.stop();
    }
  });
});

describe("OutputLock", () => {
  it("appears complete or not at all, and leaves no temporary file", () => {
    const lock = OutputLock.acquire(dir, { runId: "run-me", db: "y" });
    expect(JSON.parse(fs.readFileSync(lockFile(), "utf8"))).toMatchObject({ runId: "run-me", pid: process.pid, host: os.hostname() });
    expect(fs.readdirSync(path.join(dir, ".kb"))).toEqual(["lock"]);
    lock.release();
    expect(fs.readdirSync(path.join(dir, ".kb"))).toEqual([]);
  });

  it("a fresh lock still being written (empty) is not deleted; an old unreadable one is taken over", () => {
    fs.mkdirSync(path.join(dir, ".kb"));
    fs.writeFileSync(lockFile(), "");
    expect(() => OutputLock.acquire(dir, { runId: "run-me", db: "y" })).toThrow(/being written by another process/);
    expect(fs.existsSync(lockFile())).toBe(true);
    const t = new Date(Date.now() - 60_000);
    fs.utimesSync(lockFile(), t, t);
    OutputLock.acquire(dir, { runId: "run-me", db: "y" }).release();
  });

  it("stale takeover never deletes a fresh lock another process linked in after the stale one was judged", () => {
    const stale = plantLock({ pid: 2 ** 22 + 7 });
    // Another process took over first: the lock now holds its fresh content.
    const fresh = JSON.stringify({ runId: "run-fresh", pid: process.ppid, host: os.hostname(), db: "z", startedAt: "now" });
    fs.writeFileSync(lockFile(), fresh);
    takeOver(lockFile(), stale);
    expect(fs.readFileSync(lockFile(), "utf8")).toBe(fresh);
    expect(fs.readdirSync(path.join(dir, ".kb"))).toEqual(["lock"]);
    // The judged stale lock itself is moved away.
    fs.writeFileSync(lockFile(), stale);
    takeOver(lockFile(), stale);
    expect(fs.existsSync(lockFile())).toBe(false);
  });

  it("a lock from another host is never stale: a clear message, and --break-lock takes it", () => {
    plantLock({ pid: 2 ** 22 + 7, host: "build-server-7" }, 3600);
    let err: unknown;
    try {
      OutputLock.acquire(dir, { runId: "run-me", db: "y" });
    } catch (e) {
      err = e;
    }
    expect(isUserError(err) && err.code).toBe("RUN_LOCKED");
    expect((err as Error).message).toMatch(/on host build-server-7.*no way to tell/);
    expect(isUserError(err) && err.hint).toMatch(/--break-lock/);
    expect(OutputLock.holder(dir)?.host).toBe("build-server-7");
    const lock = OutputLock.acquire(dir, { runId: "run-me", db: "y" }, { breakLock: true });
    expect(OutputLock.holder(dir)).toBeUndefined(); // our own
    expect(JSON.parse(fs.readFileSync(lockFile(), "utf8")).runId).toBe("run-me");
    lock.release();
  });

  it("--break-lock never overrides a live process on this host", async () => {
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    try {
      plantLock({ pid: child.pid });
      expect(() => OutputLock.acquire(dir, { runId: "run-me", db: "y" }, { breakLock: true })).toThrow(/is writing to/);
    } finally {
      child.kill();
    }
  });

  it("works on a file system without hard links (exFAT): exclusive create, still one winner", () => {
    const link = vi.spyOn(fs, "linkSync").mockImplementation(() => {
      throw Object.assign(new Error("EPERM: operation not permitted, link"), { code: "EPERM" });
    });
    try {
      const lock = OutputLock.acquire(dir, { runId: "run-me", db: "y" });
      expect(link).toHaveBeenCalled();
      expect(JSON.parse(fs.readFileSync(lockFile(), "utf8")).runId).toBe("run-me");
      expect(() => OutputLock.acquire(dir, { runId: "run-two", db: "y" })).toThrow(/is writing to/);
      lock.release();
      expect(fs.readdirSync(path.join(dir, ".kb"))).toEqual([]);
    } finally {
      link.mockRestore();
    }
  });

  it("release leaves a lock that is no longer its own", () => {
    const lock = OutputLock.acquire(dir, { runId: "run-me", db: "y" });
    const other = JSON.stringify({ runId: "run-me", pid: process.pid, host: os.hostname(), db: "y", startedAt: "later" });
    fs.writeFileSync(lockFile(), other);
    lock.release();
    expect(fs.readFileSync(lockFile(), "utf8")).toBe(other);
  });
});

function doc(id: string, relPath: string): SourceDocument {
  return {
    id,
    relPath,
    format: "markdown",
    title: relPath,
    lineCount: 1,
    units: [{ id: "u1", title: "t", text: `text of ${relPath}`, startLine: 1, endLine: 1 }],
    notes: [],
  } as unknown as SourceDocument;
}

describe("RunDatabase compaction with a concurrent run", () => {
  it("never deletes a document a live run has stored but not indexed yet", async () => {
    const file = path.join(dir, "runs.sqlite");
    const a = RunDatabase.open(file);
    const b = RunDatabase.open(file);
    try {
      await a.checkpointer().getTuple({ configurable: { thread_id: "run-a" } }); // creates LangGraph's tables
      a.putDocument(doc("doc-a", "a.md"), "run-a");
      a.indexDocument("run-a", doc("doc-a", "a.md"));
      // Run B has stored its document; its indexing comes later.
      b.putDocument(doc("doc-b", "b.md"), "run-b");
      b.putBlob("blob-b", { draft: 1 }, "run-b");
      a.compactRun("run-a");
      expect(b.getDocument("doc-b").relPath).toBe("b.md");
      expect(b.getBlob<{ draft: number }>("blob-b").draft).toBe(1);
      b.indexDocument("run-b", doc("doc-b", "b.md"));
      expect(b.searchUnits("run-b", "text", 5).map((h) => h.relPath)).toEqual(["b.md"]);
      // Run A's own document is no longer needed by anyone: compaction frees it.
      expect(() => a.getDocument("doc-a")).toThrow(/not in the run database/);
    } finally {
      a.close();
      b.close();
    }
  });
});
