import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.ts";
import { KB_SCHEMA_VERSION, KnowledgeBase, SCHEMA_VERSION_KEY } from "./KnowledgeBase.ts";
import { KB_JSON_VERSION } from "./schema.ts";
import type { Entry } from "./types.ts";

/** What a reader answers from: the store as of one moment, with the entries parsed once. */
export interface KbSnapshot {
  kb: KnowledgeBase;
  /** Every entry, in slug order (parsed on first use, then kept until the store changes). */
  entries(): readonly Entry[];
  /** The entry with this slug (a map built on first use). */
  bySlug(slug: string): Entry | undefined;
}

/**
 * The knowledge base in a directory, for a process that answers many questions over a long time
 * (`npm run kb -- mcp`). It opens the store read-only when first asked, so a server may start
 * before the knowledge base exists and says so on each question; it reopens the store when a run
 * changed it (a run beside it, `--watch` included), and refuses a store another version wrote.
 * Nothing in the directory is created or changed.
 */
export class KbReader {
  readonly dir: string;
  private open: { stamp: string; snapshot: KbSnapshot } | undefined;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** The knowledge base as it is now; throws a UserError when there is none or it is of another version. */
  snapshot(): KbSnapshot {
    const stamp = storeStamp(path.join(this.dir, ".kb", "kb.sqlite"));
    if (this.open && this.open.stamp === stamp) return this.open.snapshot;
    this.close();
    if (stamp === "missing")
      throw new UserError(
        "KB_NOT_FOUND",
        `There is no knowledge base in ${this.dir} yet.`,
        "Build one with `npm run graph -- --input NOTES --out DIR`, or point the server at one (`npm run kb -- mcp --kb DIR`).",
      );
    const kb = KnowledgeBase.openReadOnly(this.dir);
    try {
      checkVersion(kb, this.dir);
    } catch (e) {
      kb.close();
      throw e;
    }
    this.open = { stamp, snapshot: snapshotOf(kb) };
    return this.open.snapshot;
  }

  close(): void {
    this.open?.snapshot.kb.close();
    this.open = undefined;
  }
}

function snapshotOf(kb: KnowledgeBase): KbSnapshot {
  let entries: Entry[] | undefined;
  let bySlug: Map<string, Entry> | undefined;
  const all = () => {
    entries ??= kb.entries();
    return entries;
  };
  return {
    kb,
    entries: all,
    bySlug: (slug) => {
      bySlug ??= new Map(all().map((e) => [e.slug, e]));
      return bySlug.get(slug);
    },
  };
}

/**
 * Changes whenever a writer commits: the store's identity, size and time, and, while a writer has
 * it open, its -wal file's size and time (each commit appends to it).
 */
function storeStamp(file: string): string {
  const main = fs.statSync(file, { throwIfNoEntry: false });
  if (!main) return "missing";
  const wal = fs.statSync(`${file}-wal`, { throwIfNoEntry: false });
  return `${main.ino}:${main.size}:${main.mtimeMs}|${wal ? `${wal.size}:${wal.mtimeMs}` : "-"}`;
}

const REBUILD_HINT = "Run `npm run graph` again with the same --input and --out: this version re-renders the knowledge base in its own format.";

/** A store written by another version (its recorded schema, else kb.json's) is refused with what to do. */
function checkVersion(kb: KnowledgeBase, dir: string): void {
  let recorded: string | undefined;
  try {
    recorded = kb.meta(SCHEMA_VERSION_KEY);
    kb.entries();
  } catch (e) {
    throw new UserError("KB_VERSION", `The knowledge base in ${dir} has a store this version cannot read (${(e as Error).message}).`, REBUILD_HINT, {
      cause: e,
    });
  }
  if (recorded !== undefined) {
    if (recorded !== String(KB_SCHEMA_VERSION))
      throw new UserError(
        "KB_VERSION",
        `The knowledge base in ${dir} was written by another version of rust-kb (store version ${recorded}; this version reads ${KB_SCHEMA_VERSION}).`,
        REBUILD_HINT,
      );
    return;
  }
  // Stores finalized before the version was recorded: kb.json says which format the same finalize wrote.
  const jsonVersion = kbJsonVersion(path.join(dir, "kb.json"));
  if (jsonVersion !== undefined && jsonVersion !== KB_JSON_VERSION)
    throw new UserError(
      "KB_VERSION",
      `The knowledge base in ${dir} was written by another version of rust-kb (kb.json schemaVersion ${jsonVersion}; this version reads ${KB_JSON_VERSION}).`,
      REBUILD_HINT,
    );
}

/** kb.json's `schemaVersion`, read from the start of the file (it is the second key), or undefined. */
function kbJsonVersion(file: string): number | undefined {
  let head: string;
  try {
    const fd = fs.openSync(file, "r");
    try {
      const buf = Buffer.alloc(512);
      head = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString("utf8");
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const m = /"schemaVersion"\s*:\s*(\d+)/.exec(head);
  return m ? Number(m[1]) : undefined;
}
