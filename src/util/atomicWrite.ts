import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { isProcessAlive } from "./processAlive.ts";

let fault: { code: string; after: number; writes: number } | undefined;

/** Test-only (src/testing/faults.ts): make writes after the first `after` fail with errno `code`. */
export function setWriteFault(spec: { code: string; after: number } | undefined): void {
  fault = spec ? { ...spec, writes: 0 } : undefined;
}

/** Prefix of temporary files; readers and the output listing ignore these. */
export const TEMP_PREFIX = ".tmp-";

/**
 * Writes a file so that readers only ever see the old or the new content: write a hidden
 * temporary file in the same directory, fsync it, then rename over the target. Unchanged content is
 * not rewritten. Returns whether the file changed.
 */
export function writeFileAtomic(file: string, content: string): boolean {
  try {
    if (fs.readFileSync(file, "utf8") === content) return false;
  } catch {
    // missing or unreadable: write it
  }
  if (fault && ++fault.writes > fault.after) {
    const e = new Error(`${fault.code}: injected write failure, write '${file}'`) as NodeJS.ErrnoException;
    e.code = fault.code;
    throw e;
  }
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `${TEMP_PREFIX}${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}`);
  try {
    const fd = fs.openSync(tmp, "w");
    try {
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return true;
}

/**
 * Removes temporary files a killed process left behind (they were never visible under a real
 * name). A temp file whose writer is still alive (its pid is in the name) is left alone, so a
 * second reader opening the same output directory cannot break a write in progress.
 */
export function removeStaleTemps(dir: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) removeStaleTemps(full);
    else if (e.name.startsWith(TEMP_PREFIX) && !writerAlive(e.name)) fs.rmSync(full, { force: true });
  }
}

function writerAlive(tempName: string): boolean {
  const pid = Number(/\.(\d+)\.[0-9a-f]{8}$/.exec(tempName)?.[1]);
  return pid !== process.pid && isProcessAlive(pid);
}
