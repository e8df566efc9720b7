import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fsErrorToUserError, UserError } from "../errors.ts";
import { fsyncDir, TEMP_PREFIX, writeAll } from "../util/atomicWrite.ts";
import { isProcessAlive } from "../util/processAlive.ts";

export interface LockInfo {
  runId: string;
  pid: number;
  host: string;
  db: string;
  startedAt: string;
}

export interface AcquireOptions {
  /**
   * `--break-lock`: take over a lock this machine cannot check — one held by a process on another
   * host (a shared disk), or one whose content cannot be read. A live process on this host is never
   * overridden.
   */
  breakLock?: boolean;
}

/** An unreadable lock younger than this may be a writer of an older version still filling it in. */
const UNREADABLE_GRACE_MS = 5_000;

/**
 * One writer per output directory: `<out>/.kb/lock`. Every writer takes it — graph runs, `npm run
 * kb` merge/separate/rebuild and Studio runs.
 *
 * Acquisition is atomic: the lock's full content is written and fsynced to a temporary file, then
 * hard-linked to `lock` (link(2) fails with EEXIST if the lock exists), so a reader never sees an
 * empty or half-written lock. A lock whose process is gone (same host, pid not alive or a zombie)
 * is stale: it is renamed to a unique name, its content is checked to be the stale lock that was
 * judged (not a fresh one another process linked in meanwhile, which is put back), and the link is
 * retried. A lock from another host is never judged stale: the message names it and `--break-lock`
 * takes it over. Taking the lock also proves the directory is writable before any work starts.
 */
export class OutputLock {
  private constructor(
    readonly file: string,
    readonly info: LockInfo,
  ) {}

  static acquire(outDir: string, info: Omit<LockInfo, "pid" | "host" | "startedAt">, options: AcquireOptions = {}): OutputLock {
    const dir = path.join(outDir, ".kb");
    const file = path.join(dir, "lock");
    const mine: LockInfo = { ...info, pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
    const tmp = path.join(dir, `${TEMP_PREFIX}lock.${process.pid}.${randomBytes(4).toString("hex")}.kbtmp`);
    // A live holder is refused before anything is written (a refused writer leaves no trace).
    const current = readLockText(file);
    const currentHolder = current === undefined ? undefined : parseLock(current);
    if (currentHolder) refuseIfHeld(currentHolder, outDir, options);
    try {
      mkdirReportingCause(dir);
      const fd = fs.openSync(tmp, "wx", 0o644);
      try {
        writeAll(fs, fd, Buffer.from(`${JSON.stringify(mine)}\n`));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw fsErrorToUserError(e, `the output directory ${outDir}`) ?? e;
    }
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          placeExclusively(tmp, file);
          fsyncDir(dir);
          return new OutputLock(file, mine);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw fsErrorToUserError(e, `the output directory ${outDir}`) ?? e;
        }
        const seen = readLockText(file);
        if (seen === undefined) continue; // released between our link and our read: try again
        const held = parseLock(seen);
        if (held) refuseIfHeld(held, outDir, options);
        else if (!options.breakLock && lockAgeMs(file) < UNREADABLE_GRACE_MS) {
          throw new UserError(
            "RUN_LOCKED",
            `The lock ${file} is being written by another process.`,
            "Another run may be starting on the same --out; try again in a few seconds.",
          );
        }
        takeOver(file, seen);
      }
      throw new UserError("RUN_LOCKED", `Could not take the lock ${file}.`, "Another run may be starting on the same --out; try again.");
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Who holds the lock on this output directory now, if anyone alive (a foreign host's lock counts as held). */
  static holder(outDir: string): LockInfo | undefined {
    const text = readLockText(path.join(outDir, ".kb", "lock"));
    const held = text === undefined ? undefined : parseLock(text);
    if (!held) return undefined;
    if (held.host !== os.hostname()) return held;
    return held.pid !== process.pid && isProcessAlive(held.pid) ? held : undefined;
  }

  release(): void {
    const text = readLockText(this.file);
    const held = text === undefined ? undefined : parseLock(text);
    if (held && held.pid === this.info.pid && held.runId === this.info.runId && held.startedAt === this.info.startedAt) fs.rmSync(this.file, { force: true });
  }
}

/**
 * Puts the complete temp file in place as `file`, failing with EEXIST if it exists: a hard link
 * (atomic, content complete at once). File systems without hard links (FAT/exFAT drives, some
 * FUSE mounts) get an exclusive create + copy instead: still one winner, and a reader that finds
 * it half-written waits UNREADABLE_GRACE_MS before judging it.
 */
function placeExclusively(tmp: string, file: string): void {
  try {
    fs.linkSync(tmp, file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS" && code !== "EMLINK") throw e;
    fs.copyFileSync(tmp, file, fs.constants.COPYFILE_EXCL);
  }
}

/** Throws RUN_LOCKED when the lock's holder may still be writing: a live process here, or any process on another host (unless --break-lock). */
function refuseIfHeld(held: LockInfo, outDir: string, options: AcquireOptions): void {
  if (held.host !== os.hostname() && !options.breakLock)
    throw new UserError(
      "RUN_LOCKED",
      `Run ${held.runId} (pid ${held.pid} on host ${held.host}, started ${held.startedAt}, database ${held.db}) holds the lock on ${outDir}; from ${os.hostname()} there is no way to tell whether it is still running.`,
      `If that run is over (check on ${held.host}), run again with --break-lock; otherwise wait for it or choose another --out.`,
    );
  if (held.host === os.hostname() && (held.pid === process.pid || isProcessAlive(held.pid)))
    throw new UserError(
      "RUN_LOCKED",
      `Run ${held.runId} (pid ${held.pid} on ${held.host}, started ${held.startedAt}, database ${held.db}) is writing to ${outDir} right now.`,
      "Wait for it to finish or stop it (Ctrl-C in its terminal), or choose another --out.",
    );
}

/**
 * Moves a stale lock out of the way without ever deleting a fresh one: rename it to a unique name
 * (atomic), then compare what was moved with what was judged stale. If another process replaced the
 * lock in between, what was moved is its fresh lock: it is put back.
 */
export function takeOver(file: string, judged: string): void {
  // A temporary name of ours: if we die right here, the next writer's cleanup removes it.
  const aside = path.join(path.dirname(file), `${TEMP_PREFIX}lock-stale.${process.pid}.${randomBytes(4).toString("hex")}.kbtmp`);
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return; // someone else removed it: just retry
    throw e;
  }
  if (readLockText(aside) === judged) {
    fs.rmSync(aside, { force: true });
    return;
  }
  try {
    fs.linkSync(aside, file);
  } catch {
    // A third process took the lock meanwhile; the moved lock's owner will find its lock replaced.
  }
  fs.rmSync(aside, { force: true });
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

function readLockText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.runId !== "string" || typeof v.pid !== "number" || typeof v.host !== "string") return undefined;
    return { runId: v.runId, pid: v.pid, host: v.host, db: String(v.db ?? ""), startedAt: String(v.startedAt ?? "") };
  } catch {
    return undefined;
  }
}

function lockAgeMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}
