import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { fsErrorToUserError, UserError } from "../errors.ts";
import { openSqlite, openSqliteReadOnly, type SqliteConnection } from "../store/openSqlite.ts";
import { removeStaleTemps, writeFileAtomic } from "../util/atomicWrite.ts";
import { ownedPath } from "../util/ownedPath.ts";
import { ALIAS_TABLE, type AliasIndex, buildAliasIndex } from "./aliases.ts";
import { assignIds, buildEntry, linkRelated, type PreviousAssignment } from "./entries.ts";
import { contentHash, fileHash } from "./fileHash.ts";
import { stripControl } from "./markdownSafe.ts";
import { renderCategoryPage, renderEntryPage, renderIndex, renderQuarantine } from "./render.ts";
import { type CandidatePair, candidatePairs, DEFAULT_MAX_MERGE_PAIRS, type Judgment, type MatchDraft, type Overrides, resolveDrafts } from "./resolve.ts";
import { KB_JSON_VERSION, type KbJson, kbJsonSchemaText } from "./schema.ts";
import { type SearchFilters, type SearchHit, searchEntries } from "./searchEntries.ts";
import { nameKey } from "./slug.ts";
import { sourceLinker } from "./sourceLinks.ts";
import { CATEGORIES, categoryTitle } from "./taxonomy.ts";
import type { Contribution, Entry, QuarantineRecord, UnreadRecord } from "./types.ts";
import { draftIdOf } from "./types.ts";

/** Version of what the store and the pages hold (part of the run settings hash). */
export const KB_SCHEMA_VERSION = 2;
/** Meta key: the KB_SCHEMA_VERSION of the finalize that wrote the entries. */
export const SCHEMA_VERSION_KEY = "schemaVersion";
/** User-edited decisions that beat the matcher, in the knowledge-base directory. */
export const OVERRIDES_FILE = "kb-overrides.json";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const OverridesSchema = z
  .object({
    merge: z.array(z.tuple([z.string(), z.string()])).default([]),
    separate: z.array(z.tuple([z.string(), z.string()])).default([]),
    aliases: z.record(z.string(), z.string()).default({}),
  })
  .strict();

/** A candidate pair whose judgment is not cached yet, with the key to cache it under. */
export interface PendingPair {
  key: string;
  pair: CandidatePair;
}

export interface FinalizeOptions {
  /** Identity of the pair judge (model and prompt hash); default: the one the last finalize used. */
  judge?: string;
  /** Candidate pairs considered (default DEFAULT_MAX_MERGE_PAIRS). */
  maxPairs?: number;
  /** The run that finalizes: recorded so `npm run eval` can tell whether the KB is reusable. */
  run?: { runId: string; inputDir: string; files: readonly { relPath: string; docId: string }[] };
}

export interface FinalizeResult {
  entries: number;
  quarantined: number;
  /** Output files (relative paths) whose bytes changed. */
  written: string[];
  /** IDs of entries that are new or whose content changed. */
  changedEntries: string[];
  /** Draft IDs named in the overrides file that do not exist. */
  unknownOverrideIds: string[];
  /** Files left alone: not written by this tool (a page would replace them), or edited since it wrote them (a page it no longer needs). */
  kept: string[];
}

/** What the last finalize recorded about the run that wrote the knowledge base. */
export interface KbRunInfo {
  runId: string;
  inputDir: string;
  inputFingerprint: string;
  judge: string;
}

/** Hash of an input set (paths and content hashes), to tell whether a knowledge base was built from it. */
export function inputFingerprint(files: readonly { relPath: string; docId: string }[]): string {
  const h = createHash("sha256");
  for (const f of [...files].sort((a, b) => byString(a.relPath, b.relPath))) h.update(`${f.relPath}\u0000${f.docId}\n`);
  return h.digest("hex").slice(0, 32);
}

/** Cache key of a pair judgment: the judge and what it was shown about both drafts (order-free). */
function pairKey(judge: string, pair: CandidatePair): string {
  const fmt = (d: MatchDraft) => `${d.name}\n${d.category}\n${d.summary}`;
  const [x, y] = [fmt(pair.a), fmt(pair.b)].sort(byString);
  return createHash("sha256").update(`${judge}\u0000${x}\u0000${y}`).digest("hex").slice(0, 32);
}

function toMatchDraft(c: Contribution): MatchDraft {
  return { draftId: draftIdOf(c), relPath: c.relPath, name: c.name, category: c.category, summary: c.summary, crossRefs: c.crossRefs };
}

/** Rows written before a field existed get its empty value. */
function normalizeContribution(raw: Contribution): Contribution {
  return { ...raw, crossRefs: raw.crossRefs ?? { clippy: [], guidelines: [] } };
}

/**
 * The knowledge base in an output directory. Validated drafts ("contributions") are kept in
 * `<out>/.kb/kb.sqlite`, one transaction per file, so concurrent files never see half a file.
 * Pages are rendered only by `finalize`, from all contributions at once (matching, IDs, related
 * links), so they do not depend on the order files finished in; unchanged pages are not rewritten.
 * The store also keeps the synthesizer model's pair judgments (re-runs do not ask again), the last
 * assignment of drafts to entries (IDs and slugs survive re-runs), and a full-text index of the
 * entries for `npm run kb -- search`.
 */
export class KnowledgeBase {
  readonly outDir: string;
  private readonly db: SqliteConnection;

  private constructor(outDir: string, db: SqliteConnection) {
    this.outDir = outDir;
    this.db = db;
  }

  static open(outDir: string): KnowledgeBase {
    const dir = path.resolve(outDir);
    try {
      fs.mkdirSync(path.join(dir, ".kb"), { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      // Only our own temporary names, only in the folders we write (a user's `.tmp-x` elsewhere stays).
      removeStaleTemps([dir, path.join(dir, ".kb"), ...PAGE_DIRS.map((d) => path.join(dir, d))]);
      const db = openSqlite(path.join(dir, ".kb", "kb.sqlite"));
      db.exec(`
        CREATE TABLE IF NOT EXISTS contributions (
          slug TEXT NOT NULL, rel_path TEXT NOT NULL, pattern_key TEXT NOT NULL, json TEXT NOT NULL,
          PRIMARY KEY (rel_path, pattern_key)
        );
        CREATE INDEX IF NOT EXISTS contributions_by_slug ON contributions (slug);
        CREATE TABLE IF NOT EXISTS quarantine (
          rel_path TEXT NOT NULL, pattern_key TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (rel_path, pattern_key)
        );
        CREATE TABLE IF NOT EXISTS unread (rel_path TEXT PRIMARY KEY, json TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS judgments (
          key TEXT PRIMARY KEY, judge TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, same INTEGER NOT NULL, reason TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS entries (id TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, hash TEXT NOT NULL, json TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS draft_entries (
          draft_id TEXT PRIMARY KEY, entry_id TEXT NOT NULL, reason TEXT NOT NULL, with_draft TEXT, detail TEXT
        );
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS written_files (path TEXT PRIMARY KEY, hash TEXT NOT NULL);
        CREATE VIRTUAL TABLE IF NOT EXISTS entry_fts USING fts5 (
          id UNINDEXED, slug UNINDEXED, name, aliases, tags, refs, body, tokenize = 'porter unicode61'
        );
      `);
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
   * and the fixed files are taken as ours (with their present hash), so a later finalize may
   * replace or remove them. Runs once, when the table is empty and entries exist.
   */
  private adoptLegacyPages(): void {
    // Once per store: a store made by this version records from its first write, so a file of the
    // user's that a finalize left alone is never adopted later.
    if (this.meta(FILES_RECORDED) !== undefined) return;
    const entries = (this.db.prepare("SELECT COUNT(*) AS n FROM entries").get() as { n: number }).n;
    const rels = [...this.entries().map((e) => `patterns/${e.slug}.md`), ...CATEGORIES.map((c) => `categories/${c.id}.md`), ...FIXED_FILES];
    const ins = this.db.prepare("INSERT OR IGNORE INTO written_files (path, hash) VALUES (?, ?)");
    const tx = this.db.transaction(() => {
      if (entries > 0)
        for (const rel of rels) {
          const hash = fileHash(path.join(this.outDir, rel));
          if (hash) ins.run(rel, hash);
        }
      this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')").run(FILES_RECORDED);
    });
    tx.immediate();
  }

  /** Output files this tool wrote (relative paths), as recorded in the store. */
  writtenFiles(): string[] {
    return (this.db.prepare("SELECT path FROM written_files ORDER BY path").all() as { path: string }[]).map((r) => r.path);
  }

  /** Number of files (relative paths) the knowledge base's drafts came from. */
  sourceFiles(): string[] {
    return (
      this.db.prepare("SELECT DISTINCT rel_path AS p FROM contributions UNION SELECT DISTINCT rel_path FROM quarantine ORDER BY p").all() as { p: string }[]
    ).map((r) => r.p);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Replaces everything one source file contributed (a re-processed file drops what it no longer
   * says), with the units its models did not read in full, in one transaction. Pages change only at
   * `finalize`. Returns the drafts' slugs.
   */
  replaceFile(relPath: string, contributions: readonly Contribution[], quarantined: readonly QuarantineRecord[], unread: UnreadRecord["units"] = []): string[] {
    const tx = this.db.transaction(() => {
      this.db.prepare("DELETE FROM contributions WHERE rel_path = ?").run(relPath);
      this.db.prepare("DELETE FROM quarantine WHERE rel_path = ?").run(relPath);
      this.db.prepare("DELETE FROM unread WHERE rel_path = ?").run(relPath);
      if (unread.length > 0) this.db.prepare("INSERT INTO unread (rel_path, json) VALUES (?, ?)").run(relPath, JSON.stringify({ relPath, units: unread }));
      const ins = this.db.prepare("INSERT OR REPLACE INTO contributions (slug, rel_path, pattern_key, json) VALUES (?, ?, ?, ?)");
      for (const c of contributions) ins.run(c.slug, c.relPath, c.patternKey, JSON.stringify(c));
      const q = this.db.prepare("INSERT OR REPLACE INTO quarantine (rel_path, pattern_key, json) VALUES (?, ?, ?)");
      for (const r of quarantined) q.run(r.relPath, r.patternKey, JSON.stringify(r));
    });
    tx.immediate();
    return [...new Set(contributions.map((c) => c.slug))].sort();
  }

  /** Forgets files that are no longer in the input (their entries go unless another file backs them). */
  removeFilesNotIn(relPaths: ReadonlySet<string>): string[] {
    const known = (
      this.db.prepare("SELECT DISTINCT rel_path AS p FROM contributions UNION SELECT DISTINCT rel_path FROM quarantine").all() as { p: string }[]
    ).map((r) => r.p);
    const gone = known.filter((p) => !relPaths.has(p)).sort();
    for (const p of gone) this.replaceFile(p, [], []);
    return gone;
  }

  /** Every stored draft, in draft-ID order. */
  contributions(): Contribution[] {
    return (this.db.prepare("SELECT json FROM contributions").all() as { json: string }[])
      .map((r) => normalizeContribution(JSON.parse(r.json) as Contribution))
      .sort((a, b) => byString(draftIdOf(a), draftIdOf(b)) || byString(a.patternKey, b.patternKey));
  }

  quarantined(): QuarantineRecord[] {
    return (this.db.prepare("SELECT json FROM quarantine ORDER BY rel_path, pattern_key").all() as { json: string }[]).map(
      (r) => JSON.parse(r.json) as QuarantineRecord,
    );
  }

  /** Source files with units a model did not read in full, in path order. */
  unread(): UnreadRecord[] {
    return (this.db.prepare("SELECT json FROM unread ORDER BY rel_path").all() as { json: string }[]).map((r) => JSON.parse(r.json) as UnreadRecord);
  }

  /** The entries as of the last finalize, in slug order. */
  entries(): Entry[] {
    return (this.db.prepare("SELECT json FROM entries").all() as { json: string }[])
      .map((r) => JSON.parse(r.json) as Entry)
      .sort((a, b) => byString(a.slug, b.slug));
  }

  /** The overrides file of this knowledge base (empty when there is none). */
  overrides(): Overrides {
    const file = path.join(this.outDir, OVERRIDES_FILE);
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      return { merge: [], separate: [], aliases: {} };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new UserError("CONFIG_INVALID", `${file} is not valid JSON: ${(e as Error).message}`, "Fix the file or delete it (see docs/KNOWLEDGE-BASE.md).");
    }
    const parsed = OverridesSchema.safeParse(raw);
    if (!parsed.success)
      throw new UserError(
        "CONFIG_INVALID",
        `${file} is not a valid overrides file: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
        'Expected {"merge": [["draftA", "draftB"]], "separate": [["draftA", "draftB"]], "aliases": {"alias": "Canonical name"}} (see docs/KNOWLEDGE-BASE.md).',
      );
    return parsed.data;
  }

  /** Writes the overrides file (sorted, deterministic). */
  writeOverrides(o: Overrides): void {
    const pairs = (xs: [string, string][]) =>
      [...new Map(xs.map(([a, b]): [string, [string, string]] => (byString(a, b) <= 0 ? [`${a}\n${b}`, [a, b]] : [`${b}\n${a}`, [b, a]]))).values()].sort(
        (p, q) => byString(p.join("\n"), q.join("\n")),
      );
    const aliases = Object.fromEntries(Object.entries(o.aliases).sort((a, b) => byString(a[0], b[0])));
    writeFileAtomic(path.join(this.outDir, OVERRIDES_FILE), `${JSON.stringify({ merge: pairs(o.merge), separate: pairs(o.separate), aliases }, null, 2)}\n`);
  }

  private aliasIndex(overrides: Overrides): AliasIndex {
    try {
      return buildAliasIndex(ALIAS_TABLE, overrides.aliases);
    } catch (e) {
      throw new UserError("CONFIG_INVALID", `${OVERRIDES_FILE}: ${(e as Error).message}`, "Give each alias one canonical name.");
    }
  }

  /** Candidate pairs (best first, at most maxPairs) whose judgment by `judge` is not cached yet. */
  pendingPairs(judge: string, maxPairs: number = DEFAULT_MAX_MERGE_PAIRS): PendingPair[] {
    const overrides = this.overrides();
    const drafts = this.contributions().map(toMatchDraft);
    const has = this.db.prepare("SELECT 1 FROM judgments WHERE key = ?");
    return candidatePairs(drafts, overrides, this.aliasIndex(overrides), maxPairs)
      .map((pair) => ({ key: pairKey(judge, pair), pair }))
      .filter((p) => !has.get(p.key));
  }

  putJudgment(judge: string, pending: PendingPair, judgment: Judgment): void {
    this.db
      .prepare("INSERT OR REPLACE INTO judgments (key, judge, a, b, same, reason) VALUES (?, ?, ?, ?, ?, ?)")
      .run(pending.key, judge, pending.pair.a.draftId, pending.pair.b.draftId, judgment.same ? 1 : 0, judgment.reason);
  }

  /** Number of cached pair judgments (all judges). */
  judgmentCount(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM judgments").get() as { n: number }).n;
  }

  meta(key: string): string | undefined {
    return (this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  /** The run that last finalized this knowledge base, if any. */
  lastRun(): KbRunInfo | undefined {
    const v = this.meta("lastRun");
    return v ? (JSON.parse(v) as KbRunInfo) : undefined;
  }

  /**
   * Matches all drafts into entries (names and aliases, cached model judgments, overrides),
   * renders every page, kb.json and its schema, and refreshes the entry index. Deterministic: the
   * same drafts, overrides, judgments and previous assignment always give the same bytes.
   */
  finalize(options: FinalizeOptions = {}): FinalizeResult {
    const judge = options.judge ?? this.meta("judge") ?? "";
    const maxPairs = options.maxPairs ?? DEFAULT_MAX_MERGE_PAIRS;
    const overrides = this.overrides();
    const aliases = this.aliasIndex(overrides);
    const contributions = this.contributions();
    const byDraft = new Map(contributions.map((c) => [draftIdOf(c), c]));
    const lookup = this.db.prepare("SELECT same, reason FROM judgments WHERE key = ?");
    const resolution = resolveDrafts(
      contributions.map(toMatchDraft),
      overrides,
      aliases,
      (pair) => {
        const row = lookup.get(pairKey(judge, pair)) as { same: number; reason: string } | undefined;
        return row ? { same: row.same === 1, reason: row.reason } : undefined;
      },
      maxPairs,
    );
    const previous = this.previousAssignment();
    const groups = resolution.groups.map((records) => ({
      records,
      contributions: records.map((r) => byDraft.get(r.draftId)).filter((c): c is Contribution => c !== undefined),
    }));
    const ids = assignIds(groups, previous, aliases);
    const built = groups
      .map((g, i) => buildEntry({ id: ids[i]?.id ?? "", slug: ids[i]?.slug ?? "", records: g.records, contributions: g.contributions }, aliases))
      .sort((a, b) => byString(a.slug, b.slug));
    const entries = linkRelated(built);
    const quarantined = this.quarantined();
    const unread = this.unread();

    const outputs = new Map<string, string>();
    // Sources link to the input files (relative) when the run that builds or last built the KB is known.
    const inputDir = options.run?.inputDir ?? this.lastRun()?.inputDir;
    const links = sourceLinker(path.join(this.outDir, "patterns"), inputDir);
    for (const e of entries) outputs.set(`patterns/${e.slug}.md`, renderEntryPage(e, links));
    const used = new Set<string>(entries.map((e) => e.category));
    for (const cat of CATEGORIES) {
      const list = entries.filter((e) => e.category === cat.id);
      if (list.length > 0) outputs.set(`categories/${cat.id}.md`, renderCategoryPage(cat.id, list, links));
    }
    outputs.set("index.md", renderIndex(entries, quarantined.length));
    outputs.set("quarantine.md", renderQuarantine(quarantined, sourceLinker(this.outDir, inputDir), unread));
    const kbJson: KbJson = {
      $schema: "kb.schema.json",
      schemaVersion: KB_JSON_VERSION,
      categories: CATEGORIES.filter((c) => used.has(c.id)).map((c) => ({ id: c.id, title: c.title, count: entries.filter((e) => e.category === c.id).length })),
      entries,
      quarantined,
      unread,
    };
    // kb.json's readers show its strings: no control or bidi character in any of them.
    outputs.set("kb.json", `${JSON.stringify(kbJson, (_key, value: unknown) => (typeof value === "string" ? stripControl(value) : value), 2)}\n`);
    outputs.set("kb.schema.json", kbJsonSchemaText());
    const files = this.writeOutputs(outputs);
    const written = files.written;

    const oldHashes = new Map((this.db.prepare("SELECT id, hash FROM entries").all() as { id: string; hash: string }[]).map((r) => [r.id, r.hash]));
    const changedEntries: string[] = [];
    const tx = this.db.transaction(() => {
      this.db.prepare("DELETE FROM entries").run();
      this.db.prepare("DELETE FROM draft_entries").run();
      this.db.prepare("DELETE FROM entry_fts").run();
      const insEntry = this.db.prepare("INSERT INTO entries (id, slug, hash, json) VALUES (?, ?, ?, ?)");
      const insDraft = this.db.prepare("INSERT INTO draft_entries (draft_id, entry_id, reason, with_draft, detail) VALUES (?, ?, ?, ?, ?)");
      const insFts = this.db.prepare("INSERT INTO entry_fts (id, slug, name, aliases, tags, refs, body) VALUES (?, ?, ?, ?, ?, ?, ?)");
      for (const e of entries) {
        const json = JSON.stringify(e);
        const hash = createHash("sha256").update(json).digest("hex").slice(0, 32);
        if (oldHashes.get(e.id) !== hash) changedEntries.push(e.id);
        insEntry.run(e.id, e.slug, hash, json);
        for (const m of e.merges) insDraft.run(m.draftId, e.id, m.reason, m.with ?? null, m.detail ?? null);
        insFts.run(
          e.id,
          e.slug,
          e.name,
          e.aliases.join("\n"),
          e.tags.join(" "),
          [...e.crossRefs.clippy, ...e.crossRefs.guidelines, categoryTitle(e.category)].join("\n"),
          [e.summary, ...e.whenToUse, ...e.whenNotToUse, ...e.pitfalls, e.example?.code ?? ""].join("\n"),
        );
      }
      const setMeta = this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
      setMeta.run("judge", judge);
      // Long-lived readers (the MCP server) refuse a store of another version with a clear message.
      setMeta.run(SCHEMA_VERSION_KEY, String(KB_SCHEMA_VERSION));
      if (options.run) {
        const info: KbRunInfo = {
          runId: options.run.runId,
          inputDir: options.run.inputDir,
          inputFingerprint: inputFingerprint(options.run.files),
          judge,
        };
        setMeta.run("lastRun", JSON.stringify(info));
      }
    });
    tx.immediate();
    return {
      entries: entries.length,
      quarantined: quarantined.length,
      written: written.sort(byString),
      changedEntries: changedEntries.sort(byString),
      unknownOverrideIds: resolution.unknownOverrideIds,
      kept: files.kept,
    };
  }

  /**
   * Writes the pages and removes the ones no entry needs any more — only files this tool wrote:
   * each write is recorded (path and content hash) in the store before it happens. A file that is
   * not ours is never overwritten or removed, and one of ours the user has edited since (its hash
   * differs) is not removed either; both are reported in `kept`.
   */
  private writeOutputs(outputs: ReadonlyMap<string, string>): { written: string[]; kept: string[] } {
    const recorded = new Map((this.db.prepare("SELECT path, hash FROM written_files").all() as { path: string; hash: string }[]).map((r) => [r.path, r.hash]));
    const record = this.db.prepare("INSERT OR REPLACE INTO written_files (path, hash) VALUES (?, ?)");
    const forget = this.db.prepare("DELETE FROM written_files WHERE path = ?");
    const written: string[] = [];
    const kept: string[] = [];
    for (const [rel, hash] of [...recorded].sort((a, b) => byString(a[0], b[0]))) {
      if (outputs.has(rel)) continue;
      // Only inside --out once links are followed, and only a regular file (src/util/ownedPath.ts).
      const full = ownedPath(this.outDir, rel);
      const now = full === undefined ? undefined : fileHash(full);
      // Edited by the user since, or reached through a link now: theirs.
      const theirs =
        full === undefined ? fs.lstatSync(path.join(this.outDir, rel), { throwIfNoEntry: false }) !== undefined : now !== undefined && now !== hash;
      if (full !== undefined && now === hash) {
        fs.rmSync(full, { force: true });
        written.push(rel);
      } else if (theirs) kept.push(rel);
      forget.run(rel);
    }
    for (const [rel, content] of outputs) {
      const full = ownedPath(this.outDir, rel);
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
      record.run(rel, hash);
      if (writeFileAtomic(full, content)) written.push(rel);
    }
    return { written: written.sort(byString), kept: kept.sort(byString) };
  }

  private previousAssignment(): PreviousAssignment {
    const drafts = this.db.prepare("SELECT draft_id, entry_id FROM draft_entries").all() as { draft_id: string; entry_id: string }[];
    const slugs = this.db.prepare("SELECT id, slug FROM entries").all() as { id: string; slug: string }[];
    return { entryOfDraft: new Map(drafts.map((r) => [r.draft_id, r.entry_id])), slugOfEntry: new Map(slugs.map((r) => [r.id, r.slug])) };
  }

  /** Full-text search over the entries (src/kb/searchEntries.ts), optionally narrowed by category, lint or guideline. */
  search(query: string, limit = 10, filters: SearchFilters = {}): SearchHit[] {
    return searchEntries(this.db, query, limit, filters);
  }

  /** The entry with this slug or ID, else the one whose name or alias has this normalised name. */
  findEntry(ref: string): Entry | undefined {
    const row = this.db.prepare("SELECT json FROM entries WHERE slug = ? OR id = ?").get(ref, ref) as { json: string } | undefined;
    if (row) return JSON.parse(row.json) as Entry;
    const key = nameKey(ref);
    if (key === "") return undefined;
    return this.entries().find((e) => nameKey(e.name) === key || e.aliases.some((a) => nameKey(a) === key) || e.merges.some((m) => m.draftId === ref));
  }
}

/** What finalize left alone, and why (the graph run and `npm run kb -- rebuild` print it). */
export function keptMessage(kept: readonly string[]): string {
  return `Left alone (not written by this tool, or edited since it wrote them): ${kept.join(", ")}. Move them away to let the knowledge base use those paths.`;
}

/** Folders of pages under the output directory (temporary files are cleaned only here, at its root and in .kb). */
const PAGE_DIRS = ["patterns", "categories"] as const;
/** Meta key: this store records the files it writes (set once; legacy stores adopt their pages then). */
const FILES_RECORDED = "filesRecorded";
/** Output files at the root of every knowledge base. */
const FIXED_FILES = ["index.md", "quarantine.md", "kb.json", "kb.schema.json"] as const;
