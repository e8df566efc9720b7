import path from "node:path";
import { openSqlite, type SqliteConnection } from "./openSqlite.ts";

/** What produced a file's contribution to the knowledge base. */
export interface LedgerSettings {
  /** Hash of everything that changes output (model, prompts, node settings, KB schema). */
  settingsHash: string;
  modelId: string;
  promptsHash: string;
}

export interface LedgerEntry extends LedgerSettings {
  relPath: string;
  /** Content hash of the file's normalised text. */
  docId: string;
  status: string;
  runId: string;
  processedAt: string;
}

export type FileChange = { kind: "unchanged" } | { kind: "new" } | { kind: "content" } | { kind: "settings"; what: string[] };

/**
 * The incremental-run ledger of one output directory (`<out>/.kb/ledger.sqlite`): for each input
 * file, the content hash and the settings its knowledge-base contribution was made with. A later
 * run skips files whose content and settings are unchanged, re-processes the rest and says why.
 * It lives with the knowledge base it describes, so any checkpoint DB sees the same history.
 */
export class Ledger {
  private constructor(private readonly db: SqliteConnection) {}

  static open(outDir: string): Ledger {
    const db = openSqlite(path.join(outDir, ".kb", "ledger.sqlite"));
    db.exec(`CREATE TABLE IF NOT EXISTS ledger (
      rel_path TEXT PRIMARY KEY, doc_id TEXT NOT NULL, settings_hash TEXT NOT NULL, model_id TEXT NOT NULL,
      prompts_hash TEXT NOT NULL, status TEXT NOT NULL, run_id TEXT NOT NULL, processed_at TEXT NOT NULL)`);
    return new Ledger(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  get(relPath: string): LedgerEntry | undefined {
    const r = this.db.prepare("SELECT * FROM ledger WHERE rel_path = ?").get(relPath) as Record<string, string> | undefined;
    if (!r) return undefined;
    return {
      relPath: r.rel_path ?? relPath,
      docId: r.doc_id ?? "",
      settingsHash: r.settings_hash ?? "",
      modelId: r.model_id ?? "",
      promptsHash: r.prompts_hash ?? "",
      status: r.status ?? "",
      runId: r.run_id ?? "",
      processedAt: r.processed_at ?? "",
    };
  }

  all(): LedgerEntry[] {
    return (this.db.prepare("SELECT rel_path FROM ledger ORDER BY rel_path").all() as { rel_path: string }[])
      .map((r) => this.get(r.rel_path))
      .filter((e): e is LedgerEntry => e !== undefined);
  }

  /** How a file differs from what the knowledge base was built from. */
  classify(relPath: string, docId: string, settings: LedgerSettings): FileChange {
    const e = this.get(relPath);
    if (!e) return { kind: "new" };
    if (e.docId !== docId) return { kind: "content" };
    if (e.settingsHash !== settings.settingsHash) {
      const what: string[] = [];
      if (e.modelId !== settings.modelId) what.push(`model ${e.modelId} -> ${settings.modelId}`);
      if (e.promptsHash !== settings.promptsHash) what.push("prompts changed");
      if (what.length === 0) what.push("pipeline settings changed");
      return { kind: "settings", what };
    }
    return { kind: "unchanged" };
  }

  record(entry: Omit<LedgerEntry, "processedAt">): void {
    this.db
      .prepare(
        `INSERT INTO ledger (rel_path, doc_id, settings_hash, model_id, prompts_hash, status, run_id, processed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (rel_path) DO UPDATE SET doc_id = excluded.doc_id, settings_hash = excluded.settings_hash,
           model_id = excluded.model_id, prompts_hash = excluded.prompts_hash, status = excluded.status,
           run_id = excluded.run_id, processed_at = excluded.processed_at`,
      )
      .run(entry.relPath, entry.docId, entry.settingsHash, entry.modelId, entry.promptsHash, entry.status, entry.runId, new Date().toISOString());
  }

  /** Forgets files that are gone from the input; returns their paths. */
  removeNotIn(relPaths: ReadonlySet<string>): string[] {
    const gone = (this.db.prepare("SELECT rel_path FROM ledger").all() as { rel_path: string }[]).map((r) => r.rel_path).filter((p) => !relPaths.has(p));
    const del = this.db.prepare("DELETE FROM ledger WHERE rel_path = ?");
    for (const p of gone) del.run(p);
    return gone;
  }
}
