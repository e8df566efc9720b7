import { deflateSync, inflateSync } from "node:zlib";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { fsErrorToUserError, UserError } from "../errors.ts";
import type { SourceDocument } from "../input/types.ts";
import type { CallRecord, CallStore } from "../llm/LlmService.ts";
import type { UnreadUnit } from "../llm/promptUnits.ts";
import type { BackendResult } from "../llm/types.ts";
import { isProcessAlive } from "../util/processAlive.ts";
import { CompressingSerializer } from "./compressingSerde.ts";
import { openSqlite, type SqliteConnection } from "./openSqlite.ts";

export type RunStatus = "running" | "interrupted" | "done" | "failed";
export type FileStatus = "pending" | "processed" | "quarantined" | "skipped" | "unchanged";

export interface RunRow {
  id: string;
  input: string;
  out: string;
  model: string;
  settings: string;
  status: RunStatus;
  startedAt: string;
  endedAt: string | null;
  pid: number | null;
  summary: string | null;
}

export interface RunFileRow {
  relPath: string;
  docId: string | null;
  status: FileStatus;
  node: string | null;
  reason: string | null;
  patterns: number;
}

export interface CallRow {
  callKey: string;
  role: string;
  inputTokens: number;
  outputTokens: number;
  ms: number;
  createdAt: string;
}

export interface CallTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  /** Time spent in model calls, summed over calls (ms). */
  modelMs: number;
}

export interface ResearchHit {
  docId: string;
  relPath: string;
  unitId: string;
  title: string;
  startLine: number;
  endLine: number;
  text: string;
  rank: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS documents (id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blob_runs (run_id TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (run_id, hash));
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, input TEXT NOT NULL, out TEXT NOT NULL, model TEXT NOT NULL, settings TEXT NOT NULL,
  status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, pid INTEGER, summary TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_target ON runs (input, out, started_at);
CREATE TABLE IF NOT EXISTS run_files (
  run_id TEXT NOT NULL, rel_path TEXT NOT NULL, doc_id TEXT, status TEXT NOT NULL, node TEXT, reason TEXT,
  patterns INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL, PRIMARY KEY (run_id, rel_path)
);
CREATE TABLE IF NOT EXISTS llm_calls (
  run_id TEXT NOT NULL, memo_key TEXT NOT NULL, call_key TEXT NOT NULL, role TEXT NOT NULL, model TEXT NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, ms INTEGER NOT NULL, stop_reason TEXT NOT NULL,
  created_at TEXT NOT NULL, PRIMARY KEY (run_id, memo_key)
);
CREATE TABLE IF NOT EXISTS llm_memo (run_id TEXT NOT NULL, memo_key TEXT NOT NULL, result TEXT NOT NULL, PRIMARY KEY (run_id, memo_key));
CREATE TABLE IF NOT EXISTS run_docs (run_id TEXT NOT NULL, doc_id TEXT NOT NULL, rel_path TEXT NOT NULL, PRIMARY KEY (run_id, doc_id));
CREATE VIRTUAL TABLE IF NOT EXISTS unit_fts USING fts5 (doc_id UNINDEXED, unit_id UNINDEXED, title, text, tokenize = 'porter unicode61');
CREATE TABLE IF NOT EXISTS indexed_docs (doc_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS unread_units (
  run_id TEXT NOT NULL, rel_path TEXT NOT NULL, unit_id TEXT NOT NULL, role TEXT NOT NULL, how TEXT NOT NULL, why TEXT NOT NULL,
  call_key TEXT NOT NULL, PRIMARY KEY (run_id, rel_path, unit_id, role, how)
);
`;

/**
 * The run database: LangGraph's checkpoints (SqliteSaver shares this connection) plus the
 * pipeline's own tables — parsed documents and other large texts stored by hash (graph state keeps
 * only their IDs), runs, per-file progress, the LLM-call ledger/memo, the units a model did not read
 * in full (unread_units: the run summary and the knowledge base report them) and a full-text index of the
 * input units for local research.
 *
 * Other stores keep their own tables in this file (CodeCheckCache, SearchCache): they take
 * {@link RunDatabase.connection} and touch only their tables; nothing outside this class queries
 * the tables above.
 */
export class RunDatabase implements CallStore {
  /**
   * The connection, for stores that keep their own tables in the run database (the checkpointer,
   * CodeCheckCache, SearchCache). Not for queries on this class's tables: add a method here.
   */
  readonly connection: SqliteConnection;
  readonly file: string;

  private constructor(db: SqliteConnection, file: string) {
    this.connection = db;
    this.file = file;
  }

  static open(file: string): RunDatabase {
    try {
      const db = openSqlite(file, { incrementalVacuum: true });
      db.exec(SCHEMA);
      return new RunDatabase(db, file);
    } catch (e) {
      const fsErr = fsErrorToUserError(e, `the checkpoint database ${file}`);
      if (fsErr) throw fsErr;
      throw new UserError(
        "DB_ERROR",
        `Cannot open the checkpoint database ${file}: ${(e as Error).message}`,
        "Pass another --db PATH, or move the damaged file aside and start again.",
        { cause: e },
      );
    }
  }

  close(): void {
    if (this.connection.open) this.connection.close();
  }

  /** LangGraph's SqliteSaver on this connection, storing large payloads deflated. */
  checkpointer(): SqliteSaver {
    return new SqliteSaver(this.connection, new CompressingSerializer());
  }

  // ---- documents and blobs -------------------------------------------------------------------

  /**
   * Stores a parsed document and records, in the same transaction, that `runId` uses it: a
   * concurrent run's compaction (which drops documents no run references) can never remove a
   * document between its storing and its indexing.
   */
  putDocument(doc: SourceDocument, runId: string): void {
    const tx = this.connection.transaction(() => {
      this.connection.prepare("INSERT OR IGNORE INTO documents (id, json) VALUES (?, ?)").run(doc.id, pack(doc));
      this.connection.prepare("INSERT OR IGNORE INTO run_docs (run_id, doc_id, rel_path) VALUES (?, ?, ?)").run(runId, doc.id, doc.relPath);
    });
    tx.immediate();
  }

  getDocument(id: string): SourceDocument {
    const row = this.connection.prepare("SELECT json FROM documents WHERE id = ?").get(id) as { json: Buffer | string } | undefined;
    if (!row) throw new Error(`document ${id} is not in the run database`);
    return unpack(row.json) as SourceDocument;
  }

  /** Stores a value by its hash and notes that `runId` uses it (deleting or compacting the run frees it). */
  putBlob(hash: string, value: unknown, runId: string): void {
    // One transaction: another run's compaction drops blobs no run references.
    const tx = this.connection.transaction(() => {
      this.connection.prepare("INSERT OR IGNORE INTO blobs (hash, json) VALUES (?, ?)").run(hash, pack(value));
      this.connection.prepare("INSERT OR IGNORE INTO blob_runs (run_id, hash) VALUES (?, ?)").run(runId, hash);
    });
    tx.immediate();
  }

  getBlob<T>(hash: string): T {
    const row = this.connection.prepare("SELECT json FROM blobs WHERE hash = ?").get(hash) as { json: Buffer | string } | undefined;
    if (!row) throw new Error(`blob ${hash} is not in the run database`);
    return unpack(row.json) as T;
  }

  // ---- full-text index of input units ----------------------------------------------------------

  /** Indexes a document's units once (content-addressed) and records that the run includes it. */
  indexDocument(runId: string, doc: SourceDocument): void {
    const tx = this.connection.transaction(() => {
      this.connection.prepare("INSERT OR IGNORE INTO run_docs (run_id, doc_id, rel_path) VALUES (?, ?, ?)").run(runId, doc.id, doc.relPath);
      const done = this.connection.prepare("SELECT 1 FROM indexed_docs WHERE doc_id = ?").get(doc.id);
      if (done) return;
      const insert = this.connection.prepare("INSERT INTO unit_fts (doc_id, unit_id, title, text) VALUES (?, ?, ?, ?)");
      for (const u of doc.units) insert.run(doc.id, u.id, u.title, u.text);
      this.connection.prepare("INSERT INTO indexed_docs (doc_id) VALUES (?)").run(doc.id);
    });
    tx();
  }

  /** Ranked units of this run's documents matching an FTS5 query. */
  searchUnits(runId: string, ftsQuery: string, limit: number): ResearchHit[] {
    const rows = this.connection
      .prepare(
        `SELECT f.doc_id AS docId, f.unit_id AS unitId, f.title AS title, f.text AS text, bm25(unit_fts) AS rank, r.rel_path AS relPath
         FROM unit_fts f JOIN run_docs r ON r.doc_id = f.doc_id AND r.run_id = ?
         WHERE unit_fts MATCH ? ORDER BY rank, r.rel_path, f.unit_id LIMIT ?`,
      )
      .all(runId, ftsQuery, limit) as Omit<ResearchHit, "startLine" | "endLine">[];
    return rows.map((r) => {
      const unit = this.getDocument(r.docId).units.find((u) => u.id === r.unitId);
      return { ...r, startLine: unit?.startLine ?? 1, endLine: unit?.endLine ?? 1 };
    });
  }

  // ---- runs ------------------------------------------------------------------------------------

  createRun(row: Omit<RunRow, "endedAt" | "summary" | "status">): void {
    this.connection
      .prepare("INSERT INTO runs (id, input, out, model, settings, status, started_at, pid) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)")
      .run(row.id, row.input, row.out, row.model, row.settings, row.startedAt, row.pid);
  }

  getRun(id: string): RunRow | undefined {
    const row = this.connection.prepare("SELECT * FROM runs WHERE id = ?").get(id) as Record<string, unknown> | undefined;
    return row ? toRunRow(row) : undefined;
  }

  listRuns(): RunRow[] {
    return (this.connection.prepare("SELECT * FROM runs ORDER BY started_at DESC, id DESC").all() as Record<string, unknown>[]).map(toRunRow);
  }

  /** The newest run for this input and output that did not finish. */
  latestUnfinished(input: string, out: string): RunRow | undefined {
    const row = this.connection
      .prepare("SELECT * FROM runs WHERE input = ? AND out = ? AND status != 'done' ORDER BY started_at DESC, id DESC LIMIT 1")
      .get(input, out) as Record<string, unknown> | undefined;
    return row ? toRunRow(row) : undefined;
  }

  setRunStatus(id: string, status: RunStatus, fields: { endedAt?: string | null; pid?: number | null; summary?: string | null } = {}): void {
    this.connection
      .prepare("UPDATE runs SET status = ?, ended_at = COALESCE(?, ended_at), pid = ?, summary = COALESCE(?, summary) WHERE id = ?")
      .run(status, fields.endedAt ?? null, fields.pid ?? null, fields.summary ?? null, id);
  }

  /** Runs whose process died without updating their row (SIGKILL, power loss) become interrupted. */
  markDeadRuns(): void {
    for (const r of this.listRuns()) {
      if (r.status === "running" && r.pid !== null && r.pid !== process.pid && !isProcessAlive(r.pid)) this.setRunStatus(r.id, "interrupted", { pid: null });
    }
  }

  // ---- per-file progress -----------------------------------------------------------------------

  upsertFile(runId: string, relPath: string, fields: Partial<RunFileRow>): void {
    const now = new Date().toISOString();
    this.connection
      .prepare(
        `INSERT INTO run_files (run_id, rel_path, doc_id, status, node, reason, patterns, updated_at)
         VALUES (@runId, @relPath, @docId, COALESCE(@status, 'pending'), @node, @reason, COALESCE(@patterns, 0), @now)
         ON CONFLICT (run_id, rel_path) DO UPDATE SET
           doc_id = COALESCE(@docId, doc_id), status = COALESCE(@status, status), node = COALESCE(@node, node),
           reason = COALESCE(@reason, reason), patterns = COALESCE(@patterns, patterns), updated_at = @now`,
      )
      .run({
        runId,
        relPath,
        docId: fields.docId ?? null,
        status: fields.status ?? null,
        node: fields.node ?? null,
        reason: fields.reason ?? null,
        patterns: fields.patterns ?? null,
        now,
      });
  }

  listFiles(runId: string): RunFileRow[] {
    return this.connection
      .prepare("SELECT rel_path AS relPath, doc_id AS docId, status, node, reason, patterns FROM run_files WHERE run_id = ? ORDER BY rel_path")
      .all(runId) as RunFileRow[];
  }

  // ---- LLM-call ledger and memo (CallStore) ----------------------------------------------------

  getMemo(runId: string, memoKey: string): BackendResult | undefined {
    const row = this.connection.prepare("SELECT result FROM llm_memo WHERE run_id = ? AND memo_key = ?").get(runId, memoKey) as
      | { result: Buffer | string }
      | undefined;
    return row ? (unpack(row.result) as BackendResult) : undefined;
  }

  /** Records a finished call in the ledger and its result in the memo, in one transaction. */
  putMemo(runId: string, memoKey: string, result: BackendResult, record: CallRecord): void {
    const tx = this.connection.transaction(() => {
      this.connection
        .prepare(
          `INSERT OR REPLACE INTO llm_calls (run_id, memo_key, call_key, role, model, input_tokens, output_tokens, ms, stop_reason, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          runId,
          memoKey,
          record.callKey,
          record.role,
          record.modelId,
          record.inputTokens,
          record.outputTokens,
          record.ms,
          record.stopReason,
          new Date().toISOString(),
        );
      this.connection.prepare("INSERT OR REPLACE INTO llm_memo (run_id, memo_key, result) VALUES (?, ?, ?)").run(runId, memoKey, pack(result));
    });
    tx();
  }

  /** Units a call's model did not read in full (LlmService, and the extractor for chunks it never sent); a repeat is ignored. */
  recordUnread(runId: string, units: readonly UnreadUnit[]): void {
    const ins = this.connection.prepare(
      "INSERT OR IGNORE INTO unread_units (run_id, rel_path, unit_id, role, how, why, call_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    const tx = this.connection.transaction(() => {
      for (const u of units) ins.run(runId, u.relPath, u.unitId, u.role, u.how, u.why, u.callKey);
    });
    tx();
  }

  /** The run's units not read in full (of one file, or of all), by file, then unit (S2 before S10), then role. */
  listUnread(runId: string, relPath?: string): UnreadUnit[] {
    return this.connection
      .prepare(
        `SELECT rel_path AS relPath, unit_id AS unitId, role, how, why, call_key AS callKey FROM unread_units
         WHERE run_id = ? AND (? IS NULL OR rel_path = ?)
         ORDER BY rel_path, substr(unit_id, 1, 1), CAST(substr(unit_id, 2) AS INTEGER), role, how`,
      )
      .all(runId, relPath ?? null, relPath ?? null) as UnreadUnit[];
  }

  listCalls(runId: string): CallRow[] {
    return this.connection
      .prepare(
        "SELECT call_key AS callKey, role, input_tokens AS inputTokens, output_tokens AS outputTokens, ms, created_at AS createdAt FROM llm_calls WHERE run_id = ? ORDER BY created_at, call_key",
      )
      .all(runId) as CallRow[];
  }

  /** The run's model calls: how many, their tokens, and the time spent in them (ms). */
  callTotals(runId: string): CallTotals {
    return this.connection
      .prepare(
        "SELECT COUNT(*) AS calls, COALESCE(SUM(input_tokens), 0) AS inputTokens, COALESCE(SUM(output_tokens), 0) AS outputTokens, COALESCE(SUM(ms), 0) AS modelMs FROM llm_calls WHERE run_id = ?",
      )
      .get(runId) as CallTotals;
  }

  // ---- maintenance: delete and compact -------------------------------------------------------

  /** Bytes the database file uses now (pages x page size). */
  sizeBytes(): number {
    const pages = this.connection.pragma("page_count", { simple: true }) as number;
    const size = this.connection.pragma("page_size", { simple: true }) as number;
    return pages * size;
  }

  /** The largest tables and indexes by bytes (SQLite's dbstat), for size reports. */
  largestTables(limit: number): { name: string; bytes: number }[] {
    this.connection.pragma("wal_checkpoint(TRUNCATE)");
    return this.connection.prepare("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC LIMIT ?").all(limit) as {
      name: string;
      bytes: number;
    }[];
  }

  /**
   * Drops a finished run's step history: every checkpoint but the run's final one, their pending
   * writes, the text of its LLM calls (counts and timings stay), and its research packs and drafts.
   * The run row, per-file progress and the final state stay; the knowledge base and its ledger live
   * in the output directory and are not touched.
   */
  compactRun(runId: string): { before: number; after: number } {
    const before = this.sizeBytes();
    const tx = this.connection.transaction(() => {
      const last = !this.hasCheckpointTables()
        ? undefined
        : (this.connection
            .prepare("SELECT checkpoint_id AS id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1")
            .get(runId) as { id: string } | undefined);
      if (last) {
        this.connection.prepare("DELETE FROM checkpoints WHERE thread_id = ? AND NOT (checkpoint_ns = '' AND checkpoint_id = ?)").run(runId, last.id);
        this.connection.prepare("DELETE FROM writes WHERE thread_id = ? AND NOT (checkpoint_ns = '' AND checkpoint_id = ?)").run(runId, last.id);
      }
      this.connection.prepare("DELETE FROM llm_memo WHERE run_id = ?").run(runId);
      this.dropRunBlobs(runId);
      // Parsed documents and their search index are only needed while a run works on them.
      this.connection.prepare("DELETE FROM run_docs WHERE run_id = ?").run(runId);
      this.dropUnusedDocuments();
    });
    tx();
    this.reclaim();
    return { before, after: this.sizeBytes() };
  }

  /** Removes a run entirely: its checkpoints, ledger of calls, progress, and documents no other run uses. */
  deleteRun(runId: string): void {
    const tx = this.connection.transaction(() => {
      if (this.hasCheckpointTables())
        for (const table of ["checkpoints", "writes"]) this.connection.prepare(`DELETE FROM ${table} WHERE thread_id = ?`).run(runId);
      this.connection.prepare("DELETE FROM llm_calls WHERE run_id = ?").run(runId);
      this.connection.prepare("DELETE FROM llm_memo WHERE run_id = ?").run(runId);
      this.connection.prepare("DELETE FROM run_files WHERE run_id = ?").run(runId);
      this.connection.prepare("DELETE FROM unread_units WHERE run_id = ?").run(runId);
      this.connection.prepare("DELETE FROM run_docs WHERE run_id = ?").run(runId);
      this.dropRunBlobs(runId);
      this.connection.prepare("DELETE FROM runs WHERE id = ?").run(runId);
      this.dropUnusedDocuments();
    });
    tx();
    this.reclaim();
  }

  /** The checkpointer makes its tables on first use: a run that failed before its graph started left none. */
  private hasCheckpointTables(): boolean {
    return this.connection.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name IN ('checkpoints', 'writes')").all().length === 2;
  }

  /** Documents (and their index rows) no run is working on any more. */
  private dropUnusedDocuments(): void {
    const unused = "doc_id NOT IN (SELECT doc_id FROM run_docs)";
    const removed = this.connection.prepare(`DELETE FROM unit_fts WHERE ${unused}`).run().changes;
    // FTS5 keeps deleted rows as tombstones in its segments until they are merged.
    if (removed > 0) this.connection.prepare("INSERT INTO unit_fts (unit_fts) VALUES ('optimize')").run();
    this.connection.prepare(`DELETE FROM indexed_docs WHERE ${unused}`).run();
    this.connection.prepare("DELETE FROM documents WHERE id NOT IN (SELECT doc_id FROM run_docs)").run();
  }

  private dropRunBlobs(runId: string): void {
    this.connection.prepare("DELETE FROM blob_runs WHERE run_id = ?").run(runId);
    this.connection.prepare("DELETE FROM blobs WHERE hash NOT IN (SELECT hash FROM blob_runs)").run();
  }

  /** Hands freed pages back to the file system (the WAL is checkpointed first so the file can shrink). */
  private reclaim(): void {
    this.connection.pragma("wal_checkpoint(TRUNCATE)");
    this.connection.pragma("incremental_vacuum");
    this.connection.pragma("wal_checkpoint(TRUNCATE)");
  }
}

/** Stored values: JSON, deflated when that saves space (texts of documents, drafts and model outputs). */
function pack(value: unknown): Buffer | string {
  const json = JSON.stringify(value);
  if (json.length < 512) return json;
  return deflateSync(Buffer.from(json), { level: 6 });
}

function unpack(stored: Buffer | string): unknown {
  return JSON.parse(typeof stored === "string" ? stored : inflateSync(stored).toString("utf8"));
}

function toRunRow(r: Record<string, unknown>): RunRow {
  return {
    id: String(r.id),
    input: String(r.input),
    out: String(r.out),
    model: String(r.model),
    settings: String(r.settings),
    status: r.status as RunStatus,
    startedAt: String(r.started_at),
    endedAt: (r.ended_at as string | null) ?? null,
    pid: (r.pid as number | null) ?? null,
    summary: (r.summary as string | null) ?? null,
  };
}
