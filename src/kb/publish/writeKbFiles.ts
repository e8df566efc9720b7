import fs from "node:fs";
import path from "node:path";
import { type WriteFs, writeFileAtomic } from "../../util/atomicWrite.ts";
import { ownedPath } from "../../util/ownedPath.ts";
import { contentHash, fileHash } from "../fileHash.ts";
import type { WrittenFiles } from "../store/WrittenFiles.ts";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Writes the knowledge base's files into `outDir` and removes the ones it no longer needs — only
 * files this tool wrote: each write is recorded (path and content hash) in `record` before it
 * happens. A file that is not ours is never overwritten or removed, and one of ours the user has
 * edited since (its hash differs) is not removed either; both are reported in `kept`.
 */
export function writeKbFiles(
  outDir: string,
  record: WrittenFiles,
  files: ReadonlyMap<string, string>,
  writeFs?: WriteFs,
): { written: string[]; kept: string[] } {
  const recorded = record.hashes();
  const removed = removeUnneeded(outDir, record, recorded, files);
  const written = [...removed.written];
  const kept = [...removed.kept];
  for (const [rel, content] of files) {
    const full = ownedPath(outDir, rel);
    if (full === undefined) {
      kept.push(rel); // a folder on the way is a link out of --out, or a link sits where the page goes
      continue;
    }
    const hash = contentHash(content);
    const now = fileHash(full);
    if (now !== undefined && !recorded.has(rel) && now !== hash) {
      kept.push(rel); // someone else's file where our page would go
      continue;
    }
    record.record(rel, hash);
    if (writeFileAtomic(full, content, writeFs)) written.push(rel);
  }
  return { written: written.sort(byString), kept: kept.sort(byString) };
}

/** Removes recorded files no longer part of the knowledge base that still hold the bytes written; each is forgotten either way. */
function removeUnneeded(
  outDir: string,
  record: WrittenFiles,
  recorded: ReadonlyMap<string, string>,
  files: ReadonlyMap<string, string>,
): { written: string[]; kept: string[] } {
  const written: string[] = [];
  const kept: string[] = [];
  for (const [rel, hash] of [...recorded].sort((a, b) => byString(a[0], b[0]))) {
    if (files.has(rel)) continue;
    // Only inside --out once links are followed, and only a regular file (src/util/ownedPath.ts).
    const full = ownedPath(outDir, rel);
    const now = full === undefined ? undefined : fileHash(full);
    // Edited by the user since, or reached through a link now: theirs.
    const theirs = full === undefined ? fs.lstatSync(path.join(outDir, rel), { throwIfNoEntry: false }) !== undefined : now !== undefined && now !== hash;
    if (full !== undefined && now === hash) {
      fs.rmSync(full, { force: true });
      written.push(rel);
    } else if (theirs) kept.push(rel);
    record.forget(rel);
  }
  return { written, kept };
}
