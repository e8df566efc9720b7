import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fsErrorToUserError } from "../errors.ts";
import { isProcessAlive } from "./processAlive.ts";

/** Prefix of temporary files; readers and the output listing ignore these. */
export const TEMP_PREFIX = ".tmp-";

/** Exactly the temporary names writeFileAtomic makes: `.tmp-<target>.<pid>.<8 hex>.kbtmp`. */
const TEMP_NAME = /^\.tmp-.+\.(\d+)\.[0-9a-f]{8}\.kbtmp$/;

/** The file-system calls a write makes; tests pass a fake to provoke short writes and failures. */
export interface WriteFs {
  openSync(file: string, flags: string, mode?: number): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  rmSync(file: string, options: { force: boolean }): void;
}

/** The real file system (tests wrap it: src/testing/faults.ts). */
export const REAL_WRITE_FS: WriteFs = {
  openSync: (file, flags, mode) => fs.openSync(file, flags, mode),
  writeSync: (fd, buffer, offset, length) => fs.writeSync(fd, buffer, offset, length),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (from, to) => fs.renameSync(from, to),
  rmSync: (file, options) => fs.rmSync(file, options),
};

/** Writes every byte of `data` at the file's current position, however many calls that takes. */
export function writeAll(io: Pick<WriteFs, "writeSync">, fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.length) {
    const n = io.writeSync(fd, data, offset, data.length - offset);
    if (n <= 0) {
      // write(2) returning 0 for a non-empty buffer: the device takes no more (a full disk or quota).
      const e = new Error(`ENOSPC: no space left on device, wrote ${offset} of ${data.length} bytes`) as NodeJS.ErrnoException;
      e.code = "ENOSPC";
      throw e;
    }
    offset += n;
  }
}

/** Flushes a directory's entries (a rename in it) to disk; file systems that cannot fsync a directory are tolerated. */
export function fsyncDir(dir: string, io: Pick<WriteFs, "openSync" | "fsyncSync" | "closeSync"> = REAL_WRITE_FS): void {
  let fd: number;
  try {
    fd = io.openSync(dir, "r");
  } catch {
    return;
  }
  try {
    io.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "ENOTSUP" && code !== "EISDIR" && code !== "EBADF") throw e;
  } finally {
    io.closeSync(fd);
  }
}

/**
 * Writes a file so that readers only ever see the old or the new content: write a hidden
 * temporary file in the same directory (every byte, short writes retried), fsync it, rename it over
 * the target, then fsync the directory so the rename survives a power loss. Unchanged content is
 * not rewritten. Returns whether the file changed. A full disk or a read-only target throws the
 * project's UserError (DISK_FULL, OUTPUT_NOT_WRITABLE) and leaves the old file as it was.
 */
export function writeFileAtomic(file: string, content: string, io: WriteFs = REAL_WRITE_FS): boolean {
  try {
    if (fs.readFileSync(file, "utf8") === content) return false;
  } catch {
    // missing or unreadable: write it
  }
  const dir = path.dirname(file);
  const tmp = path.join(dir, tempName(path.basename(file)));
  try {
    fs.mkdirSync(dir, { recursive: true });
    try {
      const fd = io.openSync(tmp, "wx", 0o644);
      try {
        writeAll(io, fd, Buffer.from(content, "utf8"));
        io.fsyncSync(fd);
      } finally {
        io.closeSync(fd);
      }
      io.renameSync(tmp, file);
    } catch (e) {
      io.rmSync(tmp, { force: true });
      throw e;
    }
    fsyncDir(dir, io);
  } catch (e) {
    throw fsErrorToUserError(e, file) ?? e;
  }
  return true;
}

function tempName(target: string): string {
  return `${TEMP_PREFIX}${target}.${process.pid}.${randomBytes(4).toString("hex")}.kbtmp`;
}

/**
 * Removes temporary files a killed process left behind (they were never visible under a real
 * name), in exactly the folders given (not below them) and only names writeFileAtomic makes: a
 * user's own `.tmp-notes` is never touched. A temp file whose writer is still alive (its pid is in
 * the name) is left alone, so a second writer cannot break a write in progress.
 */
export function removeStaleTemps(dirs: readonly string[]): string[] {
  const removed: string[] = [];
  for (const dir of dirs) {
    let entries: fs.Dirent[];
    try {
      // A folder replaced by a link leads elsewhere: nothing there is ours to clean.
      if (fs.lstatSync(dir).isSymbolicLink()) continue;
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const pid = Number(TEMP_NAME.exec(e.name)?.[1]);
      if (!e.isFile() || !Number.isInteger(pid) || pid === process.pid || isProcessAlive(pid)) continue;
      fs.rmSync(path.join(dir, e.name), { force: true });
      removed.push(path.join(dir, e.name));
    }
  }
  return removed;
}
