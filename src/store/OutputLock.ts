import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fsErrorToUserError, UserError } from "../errors.ts";
import { isProcessAlive } from "../util/processAlive.ts";

export interface LockInfo {
  runId: string;
  pid: number;
  host: string;
  db: string;
  startedAt: string;
}

/**
 * One writer per output directory: `<out>/.kb/lock`, created exclusively. A lock whose process is
 * gone (same host, pid not alive) is stale and taken over, so a crashed run never leaves the
 * directory stuck. Taking the lock also proves the directory is writable before any work starts.
 */
export class OutputLock {
  private constructor(
    readonly file: string,
    readonly info: LockInfo,
  ) {}

  static acquire(outDir: string, info: Omit<LockInfo, "pid" | "host" | "startedAt">): OutputLock {
    const dir = path.join(outDir, ".kb");
    const file = path.join(dir, "lock");
    const mine: LockInfo = { ...info, pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
    try {
      mkdirReportingCause(dir);
    } catch (e) {
      throw fsErrorToUserError(e, `the output directory ${outDir}`) ?? e;
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = fs.openSync(file, "wx");
        try {
          fs.writeSync(fd, `${JSON.stringify(mine)}\n`);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        return new OutputLock(file, mine);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "EEXIST") throw fsErrorToUserError(e, `the output directory ${outDir}`) ?? e;
      }
      const held = readLock(file);
      if (held && isHeld(held)) {
        throw new UserError(
          "RUN_LOCKED",
          `Run ${held.runId} (pid ${held.pid} on ${held.host}, started ${held.startedAt}, database ${held.db}) is writing to ${outDir} right now.`,
          "Wait for it to finish or stop it (Ctrl-C in its terminal), or choose another --out.",
        );
      }
      // Stale (its process is gone) or unreadable: remove and try again.
      fs.rmSync(file, { force: true });
    }
    throw new UserError("RUN_LOCKED", `Could not take the lock ${file}.`, "Another run may be starting on the same --out; try again.");
  }

  /** Who holds the lock on this output directory now, if anyone alive. */
  static holder(outDir: string): LockInfo | undefined {
    const held = readLock(path.join(outDir, ".kb", "lock"));
    return held && isHeld(held) ? held : undefined;
  }

  release(): void {
    const held = readLock(this.file);
    if (held && held.pid === this.info.pid && held.runId === this.info.runId) fs.rmSync(this.file, { force: true });
  }
}

/**
 * `mkdir -p` that reports why it failed: Node's recursive mkdir answers ENOENT on a read-only file
 * system, so on ENOENT the deepest missing directory is created alone to surface EROFS/EACCES.
 */
function mkdirReportingCause(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    let missing = dir;
    while (!fs.existsSync(path.dirname(missing)) && path.dirname(missing) !== missing) missing = path.dirname(missing);
    fs.mkdirSync(missing);
    throw e;
  }
}

function readLock(file: string): LockInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as LockInfo;
  } catch {
    return undefined;
  }
}

function isHeld(lock: LockInfo): boolean {
  if (lock.host !== os.hostname()) return true; // another machine (shared disk): cannot check, assume alive
  return lock.pid !== process.pid && isProcessAlive(lock.pid);
}
