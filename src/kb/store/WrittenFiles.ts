import type { SqliteConnection } from "../../store/openSqlite.ts";

/** The output files this tool wrote. */
export const WRITTEN_FILE_TABLES = `
        CREATE TABLE IF NOT EXISTS written_files (path TEXT PRIMARY KEY, hash TEXT NOT NULL);
`;

/**
 * The output files this tool wrote, with the hash of the bytes written (table `written_files`):
 * the publisher (src/kb/publish/) replaces or removes only these, and only while they still hold
 * those bytes. Each write is recorded before it happens.
 */
export class WrittenFiles {
  constructor(private readonly db: SqliteConnection) {}

  /** The recorded files (relative paths), sorted. */
  paths(): string[] {
    return (this.db.prepare("SELECT path FROM written_files ORDER BY path").all() as { path: string }[]).map((r) => r.path);
  }

  /** Each recorded file with the hash of the bytes written. */
  hashes(): Map<string, string> {
    return new Map((this.db.prepare("SELECT path, hash FROM written_files").all() as { path: string; hash: string }[]).map((r) => [r.path, r.hash]));
  }

  record(rel: string, hash: string): void {
    this.db.prepare("INSERT OR REPLACE INTO written_files (path, hash) VALUES (?, ?)").run(rel, hash);
  }

  /** Records a file found in place (a store made before files were recorded); one already recorded keeps its hash. */
  adopt(rel: string, hash: string): void {
    this.db.prepare("INSERT OR IGNORE INTO written_files (path, hash) VALUES (?, ?)").run(rel, hash);
  }

  forget(rel: string): void {
    this.db.prepare("DELETE FROM written_files WHERE path = ?").run(rel);
  }
}
