import type { SqliteConnection } from "../store/openSqlite.ts";
import type { ResearchHitSource } from "./types.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS research_cache (
  provider TEXT NOT NULL, query_key TEXT NOT NULL, json TEXT NOT NULL, created_at TEXT NOT NULL,
  PRIMARY KEY (provider, query_key)
);
`;

/**
 * Every provider answer, kept in the run database by provider and query key, so a resumed or
 * repeated run asks no service twice. Takes the run database's connection
 * (`RunDatabase.connection`) and owns only its own table. Entries never expire on their own: delete rows (or the table) to
 * fetch fresh results.
 */
export class SearchCache {
  private readonly db: SqliteConnection;

  constructor(db: SqliteConnection) {
    this.db = db;
    this.db.exec(SCHEMA);
  }

  get(provider: string, queryKey: string): ResearchHitSource[] | undefined {
    const row = this.db.prepare("SELECT json FROM research_cache WHERE provider = ? AND query_key = ?").get(provider, queryKey) as { json: string } | undefined;
    return row ? (JSON.parse(row.json) as ResearchHitSource[]) : undefined;
  }

  put(provider: string, queryKey: string, hits: readonly ResearchHitSource[]): void {
    this.db
      .prepare("INSERT OR REPLACE INTO research_cache (provider, query_key, json, created_at) VALUES (?, ?, ?, ?)")
      .run(provider, queryKey, JSON.stringify(hits), new Date().toISOString());
  }

  /** Rows per provider (for reports and tests). */
  count(provider?: string): number {
    const row = (
      provider === undefined
        ? this.db.prepare("SELECT COUNT(*) AS n FROM research_cache").get()
        : this.db.prepare("SELECT COUNT(*) AS n FROM research_cache WHERE provider = ?").get(provider)
    ) as { n: number };
    return row.n;
  }
}
