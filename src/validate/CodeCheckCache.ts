import type { CodeVerification as CodeVerdict } from "../kb/types.ts";
import type { SqliteConnection } from "../store/openSqlite.ts";

/**
 * Verdicts of the Rust code checker by key (a hash of the code, its language tag, the checker
 * version and the rustc version), in the run database, so a resumed or repeated run compiles
 * nothing twice. Takes the run database's connection (`RunDatabase.connection`) and owns only its
 * table.
 */
export class CodeCheckCache {
  private readonly db: SqliteConnection;

  constructor(db: SqliteConnection) {
    this.db = db;
    // Verdicts of the unsandboxed checker (before v2) may quote what `env!`/`include_str!` read, and
    // those of the checker without the dep-info first pass (before v3) what a macro-built `#[path]`
    // read (as a number): a table without the `first_pass` column is dropped, never served.
    const columns = this.db.prepare("SELECT name FROM pragma_table_info('code_checks')").all() as { name: string }[];
    if (columns.length > 0 && !columns.some((c) => c.name === "first_pass")) this.db.exec("DROP TABLE code_checks");
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS code_checks (key TEXT PRIMARY KEY, json TEXT NOT NULL, created_at TEXT NOT NULL, sandboxed INTEGER NOT NULL DEFAULT 1, first_pass INTEGER NOT NULL DEFAULT 1)",
    );
  }

  get(key: string): CodeVerdict | undefined {
    const row = this.db.prepare("SELECT json FROM code_checks WHERE key = ?").get(key) as { json: string } | undefined;
    return row ? (JSON.parse(row.json) as CodeVerdict) : undefined;
  }

  put(key: string, verdict: CodeVerdict): void {
    this.db.prepare("INSERT OR REPLACE INTO code_checks (key, json, created_at) VALUES (?, ?, ?)").run(key, JSON.stringify(verdict), new Date().toISOString());
  }
}
