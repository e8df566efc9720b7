import type { SqliteConnection } from "../../store/openSqlite.ts";

/** Named values of the store as a whole. */
export const META_TABLES = `
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** The store's named values (table `meta`): the last judge, the store's version, the last run, whether written files are recorded. */
export class MetaStore {
  constructor(private readonly db: SqliteConnection) {}

  get(key: string): string | undefined {
    return (this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  set(key: string, value: string): void {
    this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value);
  }
}
