import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fsErrorToUserError, UserError } from "../errors.ts";
import { openSqlite, openSqliteReadOnly, type SqliteConnection } from "../store/openSqlite.ts";
import { removeStaleTemps } from "../util/atomicWrite.ts";
import type { PreviousAssignment } from "./entries.ts";
import { fileHash } from "./fileHash.ts";
import { OVERRIDES_FILE } from "./overridesFile.ts";
import { categoryPagePath, entryPagePath, FIXED_FILES, PAGE_DIRS } from "./pageLayout.ts";
import type { Judgment } from "./resolve.ts";
import type { SearchFilters, SearchHit } from "./searchEntries.ts";
import { ENTRY_TABLES, EntryStore } from "./store/EntryStore.ts";
import { JUDGMENT_TABLES, JudgmentStore, type PendingPair } from "./store/JudgmentStore.ts";
import { META_TABLES, MetaStore } from "./store/MetaStore.ts";
import { SOURCE_FILE_TABLES, SourceFileStore } from "./store/SourceFileStore.ts";
import { WRITTEN_FILE_TABLES, WrittenFiles } from "./store/WrittenFiles.ts";
import { CATEGORIES } from "./taxonomy.ts";
import type { Contribution, Entry, QuarantineRecord, UnreadRecord } from "./types.ts";

/** Version of what the store and the pages hold (part of the run settings hash). */
export const KB_SCHEMA_VERSION = 2;
/** Meta key: the KB_SCHEMA_VERSION of the publish that wrote the entries. */
export const SCHEMA_VERSION_KEY = "schemaVersion";
/** Meta key: this store records the files it writes (set once; legacy stores adopt their pages then). */
const FILES_RECORDED = "filesRecorded";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** What the last publish recorded about the run that wrote the knowledge base. */
export interface KbRunInfo {
  runId: string;
  inputDir: string;
  inputFingerprint: string;
  judge: string;
}

/** The run that publishes, recorded so `npm run eval` can tell whether the KB is reusable. */
export interface PublishingRun {
  runId: string;
  inputDir: string;
  files: readonly { relPath: string; docId: string }[];
}

/** Hash of an input set (paths and content hashes), to tell whether a knowledge base was built from it. */
export function inputFingerprint(files: readonly { relPath: string; docId: string }[]): string {
  const h = createHash("sha256");
  for (const f of [...files].sort((a, b) => byString(a.relPath, b.relPath))) h.update(`${f.relPath}\u0000${f.docId}\n`);
  return h.digest("hex").slice(0, 32);
}

/**
 * The knowledge-base store in an output directory, `<out>/.kb/kb.sqlite`: one connection shared by
 * a store per concern, each owning its tables — what each source file contributed
 * ({@link SourceFileStore}), the synthesizer model's pair judgments ({@link JudgmentStore}), the
 * entries with their draft assignment and full-text index ({@link EntryStore}), the output files
 * written ({@link WrittenFiles}) and named values ({@link MetaStore}). It holds rows only: matching
 * is src/kb/matchDrafts.ts, pages, kb.json and the site are written by src/kb/publish/.
 */
export class KnowledgeBase {
  readonly outDir: string;
  /** The output files this tool wrote (the publisher's record). */
  readonly writtenFiles: WrittenFiles;
  private readonly db: SqliteConnection;
  private readonly sources: SourceFileStore;
  private readonly judgments: JudgmentStore;
  private readonly entryStore: EntryStore;
  private readonly metaStore: MetaStore;

  private constructor(outDir: string, db: SqliteConnection) {
    this.outDir = outDir;
    this.db = db;
    this.sources = new SourceFileStore(db);
    this.judgments = new JudgmentStore(db);
    this.entryStore = new EntryStore(db);
    this.metaStore = new MetaStore(db);
    this.writtenFiles = new WrittenFiles(db);
  }

  static open(outDir: string): KnowledgeBase {
    const dir = path.resolve(outDir);
    try {
      fs.mkdirSync(path.join(dir, ".kb"), { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      // Only our own temporary names, only in the folders we write (a user's `.tmp-x` elsewhere stays).
      removeStaleTemps([dir, path.join(dir, ".kb"), ...PAGE_DIRS.map((d) => path.join(dir, d))]);
      const db = openSqlite(path.join(dir, ".kb", "kb.sqlite"));
      // Each store's CREATE statements are kept verbatim, indentation included: SQLite stores their text.
      db.exec(SOURCE_FILE_TABLES + JUDGMENT_TABLES + ENTRY_TABLES + META_TABLES + WRITTEN_FILE_TABLES);
      const kb = new KnowledgeBase(dir, db);
      kb.adoptLegacyPages();
      return kb;
    } catch (e) {
      const fsErr = fsErrorToUserError(e, `the output directory ${dir}`);
      if (fsErr) throw fsErr;
      throw new UserError("OUTPUT_NOT_WRITABLE", `Cannot open the knowledge base in ${dir}: ${(e as Error).message}`, "Choose another --out directory.", {
        cause: e,
      });
    }
  }

  /** Opens a knowledge base a run has written (for `npm run kb` and `npm run eval`); never creates one. */
  static openExisting(outDir: string): KnowledgeBase {
    return KnowledgeBase.open(KnowledgeBase.requireExisting(outDir));
  }

  /** The absolute path of a directory that holds a knowledge base, or a USAGE error saying how to make one. */
  static requireExisting(outDir: string): string {
    const dir = path.resolve(outDir);
    if (!fs.existsSync(path.join(dir, ".kb", "kb.sqlite")))
      throw new UserError(
        "USAGE",
        `There is no knowledge base in ${dir}.`,
        "Build one with `npm run graph -- --input DIR --out DIR`, or pass the --out directory of an existing one.",
      );
    return dir;
  }

  /**
   * Opens a knowledge base for reading only (`npm run kb -- list|search|show`): nothing in the
   * directory is created, changed or removed. A store that was closed cleanly is read from a copy
   * in memory (opening it read-only would leave SQLite's -wal and -shm files behind); while a writer
   * has it open (its -wal exists) it is read through a read-only connection, which sees the
   * writer's committed work.
   */
  static openReadOnly(outDir: string): KnowledgeBase {
    const dir = path.resolve(outDir);
    const file = path.join(KnowledgeBase.requireExisting(dir), ".kb", "kb.sqlite");
    try {
      return new KnowledgeBase(dir, openSqliteReadOnly(file));
    } catch (e) {
      throw new UserError(
        "DB_ERROR",
        `Cannot read the knowledge base in ${dir}: ${(e as Error).message}`,
        "If a run was killed while writing it, `npm run kb -- rebuild --out DIR` recovers it; otherwise run `npm run graph` again (same --input and --out).",
        {
          cause: e,
        },
      );
    }
  }

  /**
   * Whether a directory may be used as --out without --force-out: it does not exist, is empty (an
   * overrides file prepared in advance aside), or holds a knowledge base this tool made (`.kb/`).
   */
  static isUsableOutDir(outDir: string): { ok: true } | { ok: false; entries: string[] } {
    let names: string[];
    try {
      names = fs.readdirSync(outDir).filter((n) => n !== OVERRIDES_FILE);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { ok: true };
      if (code === "ENOTDIR") throw new UserError("OUTPUT_NOT_KB", `--out ${outDir} is a file, not a directory.`, "Choose a new or empty --out directory.");
      throw fsErrorToUserError(e, `the output directory ${outDir}`) ?? e;
    }
    if (names.length === 0 || names.includes(".kb")) return { ok: true };
    return { ok: false, entries: names.sort().slice(0, 5) };
  }

  /**
   * Knowledge bases written before the store recorded its files: the pages of the current entries
   * and the fixed files are taken as ours (with their present hash), so a later publish may
   * replace or remove them. Runs once, when the table is empty and entries exist.
   */
  private adoptLegacyPages(): void {
    // Once per store: a store made by this version records from its first write, so a file of the
    // user's that a publish left alone is never adopted later.
    if (this.meta(FILES_RECORDED) !== undefined) return;
    const entries = this.entryStore.count();
    const rels = [...this.entries().map((e) => entryPagePath(e.slug)), ...CATEGORIES.map((c) => categoryPagePath(c.id)), ...FIXED_FILES];
    const tx = this.db.transaction(() => {
      if (entries > 0)
        for (const rel of rels) {
          const hash = fileHash(path.join(this.outDir, rel));
          if (hash) this.writtenFiles.adopt(rel, hash);
        }
      this.metaStore.set(FILES_RECORDED, "1");
    });
    tx.immediate();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The files (relative paths) the knowledge base's drafts came from. */
  sourceFiles(): string[] {
    return this.sources.sourceFiles();
  }

  /**
   * Replaces everything one source file contributed (a re-processed file drops what it no longer
   * says), with the units its models did not read in full, in one transaction. Pages change only
   * when the knowledge base is published. Returns the drafts' slugs.
   */
  replaceFile(relPath: string, contributions: readonly Contribution[], quarantined: readonly QuarantineRecord[], unread: UnreadRecord["units"] = []): string[] {
    return this.sources.replaceFile(relPath, contributions, quarantined, unread);
  }

  /** Forgets files that are no longer in the input (their entries go unless another file backs them). */
  removeFilesNotIn(relPaths: ReadonlySet<string>): string[] {
    return this.sources.removeFilesNotIn(relPaths);
  }

  /** Every stored draft, in draft-ID order. */
  contributions(): Contribution[] {
    return this.sources.contributions();
  }

  quarantined(): QuarantineRecord[] {
    return this.sources.quarantined();
  }

  /** Source files with units a model did not read in full, in path order. */
  unread(): UnreadRecord[] {
    return this.sources.unread();
  }

  /** The entries as of the last publish, in slug order. */
  entries(): Entry[] {
    return this.entryStore.all();
  }

  /** The entry with this slug or ID, else the one whose name or alias has this normalised name. */
  findEntry(ref: string): Entry | undefined {
    return this.entryStore.find(ref);
  }

  /** Full-text search over the entries (src/kb/searchEntries.ts), optionally narrowed by category, lint or guideline. */
  search(query: string, limit = 10, filters: SearchFilters = {}): SearchHit[] {
    return this.entryStore.search(query, limit, filters);
  }

  /** Which entry each draft went to, and each entry's slug, as of the last publish. */
  previousAssignment(): PreviousAssignment {
    return this.entryStore.previousAssignment();
  }

  /** The cached judgment under this key (src/kb/matchDrafts.ts makes the keys). */
  judgment(key: string): Judgment | undefined {
    return this.judgments.get(key);
  }

  putJudgment(judge: string, pending: PendingPair, judgment: Judgment): void {
    this.judgments.put(judge, pending, judgment);
  }

  meta(key: string): string | undefined {
    return this.metaStore.get(key);
  }

  /** The run that last published this knowledge base, if any. */
  lastRun(): KbRunInfo | undefined {
    const v = this.meta("lastRun");
    return v ? (JSON.parse(v) as KbRunInfo) : undefined;
  }

  /**
   * Records the published entries, the judge that matched them, the store's version and the run,
   * in one transaction. Returns the IDs of entries that are new or whose content changed, sorted.
   */
  recordEntries(entries: readonly Entry[], judge: string, run: PublishingRun | undefined): string[] {
    let changed: string[] = [];
    const tx = this.db.transaction(() => {
      changed = this.entryStore.replaceAll(entries);
      this.metaStore.set("judge", judge);
      // Long-lived readers (the MCP server) refuse a store of another version with a clear message.
      this.metaStore.set(SCHEMA_VERSION_KEY, String(KB_SCHEMA_VERSION));
      if (run) {
        const info: KbRunInfo = { runId: run.runId, inputDir: run.inputDir, inputFingerprint: inputFingerprint(run.files), judge };
        this.metaStore.set("lastRun", JSON.stringify(info));
      }
    });
    tx.immediate();
    return changed.sort(byString);
  }
}
