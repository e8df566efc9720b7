import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { fsErrorToUserError, UserError } from "../errors.ts";
import type { SourceDocument } from "../input/types.ts";
import type { CallRecord, CallStore } from "../llm/LlmService.ts";
import type { UnreadUnit } from "../llm/promptUnits.ts";
import type { BackendResult } from "../llm/types.ts";
import { isProcessAlive } from "../util/processAlive.ts";
import { BLOB_TABLES, BlobStore } from "./BlobStore.ts";
import { CompressingSerializer } from "./compressingSerde.ts";
import { DOCUMENT_TABLES, DocumentStore, type ResearchHit } from "./DocumentStore.ts";
import { type CallTotals, LLM_CALL_TABLES, LlmCallStore } from "./LlmCallStore.ts";
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

/** Runs and their per-file progress. */
const RUN_TABLES = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, input TEXT NOT NULL, out TEXT NOT NULL, model TEXT NOT NULL, settings TEXT NOT NULL,
  status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, pid INTEGER, summary TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_target ON runs (input, out, started_at);
CREATE TABLE IF NOT EXISTS run_files (
  run_id TEXT NOT NULL, rel_path TEXT NOT NULL, doc_id TEXT, status TEXT NOT NULL, node TEXT, reason TEXT,
  patterns INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL, PRIMARY KEY (run_id, rel_path)
);
`;

/**
 * The run database: one SQLite file shared by LangGraph's checkpoints (SqliteSaver on this
 * connection) and the pipeline's stores, each owning its tables — runs and their per-file progress
 * (this class), parsed documents and their full-text index ({@link DocumentStore}), large values
 * by hash ({@link BlobStore}: graph state keeps only their IDs), and the model calls' ledger, memo
 * and units not read in full ({@link LlmCallStore}). This class opens the file, answers for its
 * stores, and deletes or compacts a run across all of them in one transaction.
 *
 * Other stores keep their own tables in this file (CodeCheckCache, SearchCache): they take
 * {@link RunDatabase.connection} and touch only their tables; nothing outside src/store queries
 * the tables above.
 */
export class RunDatabase implements CallStore {
  /**
   * The connection, for stores that keep their own tables in the run database (the checkpointer,
   * CodeCheckCache, SearchCache). Not for queries on this database's tables: add a method to the
   * store that owns the table.
   */
  readonly connection: SqliteConnection;
  readonly file: string;
  private readonly documents: DocumentStore;
  private readonly blobs: BlobStore;
  private readonly calls: LlmCallStore;

  private constructor(db: SqliteConnection, file: string) {
    this.connection = db;
    this.file = file;
    this.documents = new DocumentStore(db);
    this.blobs = new BlobStore(db);
    this.calls = new LlmCallStore(db);
  }

  static open(file: string): RunDatabase {
    try {
      const db = openSqlite(file, { incrementalVacuum: true });
      db.exec(DOCUMENT_TABLES + BLOB_TABLES + RUN_TABLES + LLM_CALL_TABLES);
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

  // ---- documents and blobs (DocumentStore, BlobStore) ------------------------------------------

  /** Stores a parsed document and records, in the same transaction, that `runId` uses it. */
  putDocument(doc: SourceDocument, runId: string): void {
    this.documents.put(doc, runId);
  }

  getDocument(id: string): SourceDocument {
    return this.documents.get(id);
  }

  /** Stores a value by its hash and notes that `runId` uses it (deleting or compacting the run frees it). */
  putBlob(hash: string, value: unknown, runId: string): void {
    this.blobs.put(hash, value, runId);
  }

  getBlob<T>(hash: string): T {
    return this.blobs.get<T>(hash);
  }

  /** Indexes a document's units once (content-addressed) and records that the run includes it. */
  indexDocument(runId: string, doc: SourceDocument): void {
    this.documents.index(runId, doc);
  }

  /** Ranked units of this run's documents matching an FTS5 query. */
  searchUnits(runId: string, ftsQuery: string, limit: number): ResearchHit[] {
    return this.documents.search(runId, ftsQuery, limit);
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

  // ---- model calls (LlmCallStore; this database is LlmService's CallStore) ---------------------

  getMemo(runId: string, memoKey: string): BackendResult | undefined {
    return this.calls.getMemo(runId, memoKey);
  }

  /** Records a finished call in the ledger and its result in the memo, in one transaction. */
  putMemo(runId: string, memoKey: string, result: BackendResult, record: CallRecord): void {
    this.calls.putMemo(runId, memoKey, result, record);
  }

  /** Units a call's model did not read in full; a repeat is ignored. */
  recordUnread(runId: string, units: readonly UnreadUnit[]): void {
    this.calls.recordUnread(runId, units);
  }

  /** The run's units not read in full (of one file, or of all), by file, then unit (S2 before S10), then role. */
  listUnread(runId: string, relPath?: string): UnreadUnit[] {
    return this.calls.listUnread(runId, relPath);
  }

  /** The run's model calls: how many, their tokens, and the time spent in them (ms). */
  callTotals(runId: string): CallTotals {
    return this.calls.callTotals(runId);
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
      this.calls.dropMemo(runId);
      this.blobs.dropRun(runId);
      // Parsed documents and their search index are only needed while a run works on them.
      this.documents.releaseRun(runId);
      this.documents.dropUnused();
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
      this.calls.deleteRun(runId);
      this.connection.prepare("DELETE FROM run_files WHERE run_id = ?").run(runId);
      this.documents.releaseRun(runId);
      this.blobs.dropRun(runId);
      this.connection.prepare("DELETE FROM runs WHERE id = ?").run(runId);
      this.documents.dropUnused();
    });
    tx();
    this.reclaim();
  }

  /** The checkpointer makes its tables on first use: a run that failed before its graph started left none. */
  private hasCheckpointTables(): boolean {
    return this.connection.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name IN ('checkpoints', 'writes')").all().length === 2;
  }

  /** Hands freed pages back to the file system (the WAL is checkpointed first so the file can shrink). */
  private reclaim(): void {
    this.connection.pragma("wal_checkpoint(TRUNCATE)");
    this.connection.pragma("incremental_vacuum");
    this.connection.pragma("wal_checkpoint(TRUNCATE)");
  }
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
