import type { SqliteConnection } from "../../store/openSqlite.ts";
import type { CandidatePair, Judgment } from "../resolve.ts";

/** A candidate pair whose judgment is not cached yet, with the key to cache it under. */
export interface PendingPair {
  key: string;
  pair: CandidatePair;
}

/** The cache of the synthesizer model's pair judgments. */
export const JUDGMENT_TABLES = `
        CREATE TABLE IF NOT EXISTS judgments (
          key TEXT PRIMARY KEY, judge TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, same INTEGER NOT NULL, reason TEXT NOT NULL
        );
`;

/**
 * The synthesizer model's judgments of candidate pairs (table `judgments`), cached under a key of
 * the judge and what it was shown (src/kb/matchDrafts.ts), so a re-run does not ask again.
 */
export class JudgmentStore {
  constructor(private readonly db: SqliteConnection) {}

  get(key: string): Judgment | undefined {
    const row = this.db.prepare("SELECT same, reason FROM judgments WHERE key = ?").get(key) as { same: number; reason: string } | undefined;
    return row ? { same: row.same === 1, reason: row.reason } : undefined;
  }

  put(judge: string, pending: PendingPair, judgment: Judgment): void {
    this.db
      .prepare("INSERT OR REPLACE INTO judgments (key, judge, a, b, same, reason) VALUES (?, ?, ?, ?, ?, ?)")
      .run(pending.key, judge, pending.pair.a.draftId, pending.pair.b.draftId, judgment.same ? 1 : 0, judgment.reason);
  }
}
