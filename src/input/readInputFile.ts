/**
 * Reads one input file the scan found, so that what is read is what was checked: opened once,
 * without following a link in its last component (O_NOFOLLOW) and without waiting for a writer
 * (O_NONBLOCK: a FIFO swapped in since the scan opens at once instead of hanging the run), then
 * checked on the open handle (fstat: a regular file, the same file the scan saw by device and
 * inode — a path whose folders were swapped for links leads elsewhere — and within the size
 * limit), and read to at most the limit + 1 bytes, so a file that grows while it is read is
 * refused rather than read past --max-file-mb. Never throws for a file: every refusal is a reason.
 */
import fs from "node:fs";

export type ReadResult = { ok: true; bytes: Buffer } | { ok: false; reason: string };

/** `dev:ino` of a file's stat (bigint, so large inode numbers compare exactly). */
export function fileIdentity(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}

const CHUNK = 64 * 1024;

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** `identity`: the scan's `fileIdentity` of the file, when known. */
export async function readInputFile(pathBytes: Buffer, maxBytes: number, identity?: string): Promise<ReadResult> {
  const flags = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(pathBytes, flags);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "EMLINK") return { ok: false, reason: "replaced by a symbolic link since it was found (not followed)" };
    return { ok: false, reason: `cannot read file (${code ?? (e as Error).message})` };
  }
  try {
    const st = await handle.stat({ bigint: true });
    if (!st.isFile()) return { ok: false, reason: "not a regular file (replaced since it was found): not read" };
    if (identity !== undefined && fileIdentity(st) !== identity)
      return { ok: false, reason: "replaced by another file since it was found (its path now leads elsewhere): not read" };
    if (st.size > BigInt(maxBytes)) return { ok: false, reason: `too large (${mib(Number(st.size))} > ${mib(maxBytes)} limit; raise it with --max-file-mb)` };
    // At most limit + 1 bytes: one byte more than allowed is enough to know the file grew past it.
    const cap = maxBytes + 1;
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < cap) {
      const want = Math.min(cap - total, Math.max(CHUNK, Number(st.size) - total + 1));
      const chunk = Buffer.alloc(want);
      const { bytesRead } = await handle.read(chunk, 0, want, total);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
    }
    if (total > maxBytes) return { ok: false, reason: `too large (it grew past the ${mib(maxBytes)} limit while it was read; raise it with --max-file-mb)` };
    return { ok: true, bytes: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total) };
  } catch (e) {
    return { ok: false, reason: `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  } finally {
    await handle.close().catch(() => {});
  }
}
