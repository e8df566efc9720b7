import type { SqliteConnection } from "./openSqlite.ts";
import { pack, unpack } from "./packedJson.ts";

/** Large values by hash and the runs that use them. */
export const BLOB_TABLES = `
CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blob_runs (run_id TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (run_id, hash));
`;

/**
 * Large values stored by hash (tables `blobs`, `blob_runs`: research packs, drafts), so graph
 * state keeps only their IDs. A blob stays while a run references it.
 */
export class BlobStore {
  constructor(private readonly db: SqliteConnection) {}

  /** Stores a value by its hash and notes that `runId` uses it (deleting or compacting the run frees it). */
  put(hash: string, value: unknown, runId: string): void {
    // One transaction: another run's compaction drops blobs no run references.
    const tx = this.db.transaction(() => {
      this.db.prepare("INSERT OR IGNORE INTO blobs (hash, json) VALUES (?, ?)").run(hash, pack(value));
      this.db.prepare("INSERT OR IGNORE INTO blob_runs (run_id, hash) VALUES (?, ?)").run(runId, hash);
    });
    tx.immediate();
  }

  get<T>(hash: string): T {
    const row = this.db.prepare("SELECT json FROM blobs WHERE hash = ?").get(hash) as { json: Buffer | string } | undefined;
    if (!row) throw new Error(`blob ${hash} is not in the run database`);
    return unpack(row.json) as T;
  }

  /** Drops the run's references and every blob no run references any more (the caller holds the transaction). */
  dropRun(runId: string): void {
    this.db.prepare("DELETE FROM blob_runs WHERE run_id = ?").run(runId);
    this.db.prepare("DELETE FROM blobs WHERE hash NOT IN (SELECT hash FROM blob_runs)").run();
  }
}
