import type { SourceDocument } from "../input/types.ts";
import type { SqliteConnection } from "./openSqlite.ts";
import { pack, unpack } from "./packedJson.ts";

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

/** Parsed documents, the runs working on them, and the full-text index of their units. */
export const DOCUMENT_TABLES = `
CREATE TABLE IF NOT EXISTS documents (id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run_docs (run_id TEXT NOT NULL, doc_id TEXT NOT NULL, rel_path TEXT NOT NULL, PRIMARY KEY (run_id, doc_id));
CREATE VIRTUAL TABLE IF NOT EXISTS unit_fts USING fts5 (doc_id UNINDEXED, unit_id UNINDEXED, title, text, tokenize = 'porter unicode61');
CREATE TABLE IF NOT EXISTS indexed_docs (doc_id TEXT PRIMARY KEY);
`;

/**
 * Parsed input documents by content hash (tables `documents`, `run_docs`) and the full-text index
 * of their units for local research (`unit_fts`, `indexed_docs`). A document stays while a run
 * references it in `run_docs`.
 */
export class DocumentStore {
  constructor(private readonly db: SqliteConnection) {}

  /**
   * Stores a parsed document and records, in the same transaction, that `runId` uses it: a
   * concurrent run's compaction (which drops documents no run references) can never remove a
   * document between its storing and its indexing.
   */
  put(doc: SourceDocument, runId: string): void {
    const tx = this.db.transaction(() => {
      this.db.prepare("INSERT OR IGNORE INTO documents (id, json) VALUES (?, ?)").run(doc.id, pack(doc));
      this.db.prepare("INSERT OR IGNORE INTO run_docs (run_id, doc_id, rel_path) VALUES (?, ?, ?)").run(runId, doc.id, doc.relPath);
    });
    tx.immediate();
  }

  get(id: string): SourceDocument {
    const row = this.db.prepare("SELECT json FROM documents WHERE id = ?").get(id) as { json: Buffer | string } | undefined;
    if (!row) throw new Error(`document ${id} is not in the run database`);
    return unpack(row.json) as SourceDocument;
  }

  /** Indexes a document's units once (content-addressed) and records that the run includes it. */
  index(runId: string, doc: SourceDocument): void {
    const tx = this.db.transaction(() => {
      this.db.prepare("INSERT OR IGNORE INTO run_docs (run_id, doc_id, rel_path) VALUES (?, ?, ?)").run(runId, doc.id, doc.relPath);
      const done = this.db.prepare("SELECT 1 FROM indexed_docs WHERE doc_id = ?").get(doc.id);
      if (done) return;
      const insert = this.db.prepare("INSERT INTO unit_fts (doc_id, unit_id, title, text) VALUES (?, ?, ?, ?)");
      for (const u of doc.units) insert.run(doc.id, u.id, u.title, u.text);
      this.db.prepare("INSERT INTO indexed_docs (doc_id) VALUES (?)").run(doc.id);
    });
    tx();
  }

  /** Ranked units of this run's documents matching an FTS5 query. */
  search(runId: string, ftsQuery: string, limit: number): ResearchHit[] {
    const rows = this.db
      .prepare(
        `SELECT f.doc_id AS docId, f.unit_id AS unitId, f.title AS title, f.text AS text, bm25(unit_fts) AS rank, r.rel_path AS relPath
         FROM unit_fts f JOIN run_docs r ON r.doc_id = f.doc_id AND r.run_id = ?
         WHERE unit_fts MATCH ? ORDER BY rank, r.rel_path, f.unit_id LIMIT ?`,
      )
      .all(runId, ftsQuery, limit) as Omit<ResearchHit, "startLine" | "endLine">[];
    return rows.map((r) => {
      const unit = this.get(r.docId).units.find((u) => u.id === r.unitId);
      return { ...r, startLine: unit?.startLine ?? 1, endLine: unit?.endLine ?? 1 };
    });
  }

  /** The run no longer works on its documents (the caller holds the transaction, then calls {@link dropUnused}). */
  releaseRun(runId: string): void {
    this.db.prepare("DELETE FROM run_docs WHERE run_id = ?").run(runId);
  }

  /** Documents (and their index rows) no run is working on any more. */
  dropUnused(): void {
    const unused = "doc_id NOT IN (SELECT doc_id FROM run_docs)";
    const removed = this.db.prepare(`DELETE FROM unit_fts WHERE ${unused}`).run().changes;
    // FTS5 keeps deleted rows as tombstones in its segments until they are merged.
    if (removed > 0) this.db.prepare("INSERT INTO unit_fts (unit_fts) VALUES ('optimize')").run();
    this.db.prepare(`DELETE FROM indexed_docs WHERE ${unused}`).run();
    this.db.prepare("DELETE FROM documents WHERE id NOT IN (SELECT doc_id FROM run_docs)").run();
  }
}
