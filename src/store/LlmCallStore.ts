import type { CallRecord, CallStore } from "../llm/LlmService.ts";
import type { UnreadUnit } from "../llm/promptUnits.ts";
import type { BackendResult } from "../llm/types.ts";
import type { SqliteConnection } from "./openSqlite.ts";
import { pack, unpack } from "./packedJson.ts";

export interface CallTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  /** Time spent in model calls, summed over calls (ms). */
  modelMs: number;
}

/** The model calls of each run: the ledger, the memo of results, the units a call's model did not read in full. */
export const LLM_CALL_TABLES = `
CREATE TABLE IF NOT EXISTS llm_calls (
  run_id TEXT NOT NULL, memo_key TEXT NOT NULL, call_key TEXT NOT NULL, role TEXT NOT NULL, model TEXT NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, ms INTEGER NOT NULL, stop_reason TEXT NOT NULL,
  created_at TEXT NOT NULL, PRIMARY KEY (run_id, memo_key)
);
CREATE TABLE IF NOT EXISTS llm_memo (run_id TEXT NOT NULL, memo_key TEXT NOT NULL, result TEXT NOT NULL, PRIMARY KEY (run_id, memo_key));
CREATE TABLE IF NOT EXISTS unread_units (
  run_id TEXT NOT NULL, rel_path TEXT NOT NULL, unit_id TEXT NOT NULL, role TEXT NOT NULL, how TEXT NOT NULL, why TEXT NOT NULL,
  call_key TEXT NOT NULL, PRIMARY KEY (run_id, rel_path, unit_id, role, how)
);
`;

/**
 * Each run's model calls (tables `llm_calls`, `llm_memo`, `unread_units`): the ledger of calls
 * (counts, tokens, timings), the memo of their results a resumed node reuses, and the units a
 * call's model did not read in full (the run summary and the knowledge base report them).
 */
export class LlmCallStore implements CallStore {
  constructor(private readonly db: SqliteConnection) {}

  getMemo(runId: string, memoKey: string): BackendResult | undefined {
    const row = this.db.prepare("SELECT result FROM llm_memo WHERE run_id = ? AND memo_key = ?").get(runId, memoKey) as { result: Buffer | string } | undefined;
    return row ? (unpack(row.result) as BackendResult) : undefined;
  }

  /** Records a finished call in the ledger and its result in the memo, in one transaction. */
  putMemo(runId: string, memoKey: string, result: BackendResult, record: CallRecord): void {
    const tx = this.db.transaction(() => {
      this.db
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
      this.db.prepare("INSERT OR REPLACE INTO llm_memo (run_id, memo_key, result) VALUES (?, ?, ?)").run(runId, memoKey, pack(result));
    });
    tx();
  }

  /** Units a call's model did not read in full (LlmService, and the extractor for chunks it never sent); a repeat is ignored. */
  recordUnread(runId: string, units: readonly UnreadUnit[]): void {
    const ins = this.db.prepare("INSERT OR IGNORE INTO unread_units (run_id, rel_path, unit_id, role, how, why, call_key) VALUES (?, ?, ?, ?, ?, ?, ?)");
    const tx = this.db.transaction(() => {
      for (const u of units) ins.run(runId, u.relPath, u.unitId, u.role, u.how, u.why, u.callKey);
    });
    tx();
  }

  /** The run's units not read in full (of one file, or of all), by file, then unit (S2 before S10), then role. */
  listUnread(runId: string, relPath?: string): UnreadUnit[] {
    return this.db
      .prepare(
        `SELECT rel_path AS relPath, unit_id AS unitId, role, how, why, call_key AS callKey FROM unread_units
         WHERE run_id = ? AND (? IS NULL OR rel_path = ?)
         ORDER BY rel_path, substr(unit_id, 1, 1), CAST(substr(unit_id, 2) AS INTEGER), role, how`,
      )
      .all(runId, relPath ?? null, relPath ?? null) as UnreadUnit[];
  }

  /** The run's model calls: how many, their tokens, and the time spent in them (ms). */
  callTotals(runId: string): CallTotals {
    return this.db
      .prepare(
        "SELECT COUNT(*) AS calls, COALESCE(SUM(input_tokens), 0) AS inputTokens, COALESCE(SUM(output_tokens), 0) AS outputTokens, COALESCE(SUM(ms), 0) AS modelMs FROM llm_calls WHERE run_id = ?",
      )
      .get(runId) as CallTotals;
  }

  /** Drops the results of the run's calls; the ledger (counts, tokens, timings) stays. The caller holds the transaction. */
  dropMemo(runId: string): void {
    this.db.prepare("DELETE FROM llm_memo WHERE run_id = ?").run(runId);
  }

  /** Drops everything recorded about the run's calls (the caller holds the transaction). */
  deleteRun(runId: string): void {
    this.db.prepare("DELETE FROM llm_calls WHERE run_id = ?").run(runId);
    this.dropMemo(runId);
    this.db.prepare("DELETE FROM unread_units WHERE run_id = ?").run(runId);
  }
}
