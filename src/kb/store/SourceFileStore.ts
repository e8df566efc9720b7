import type { SqliteConnection } from "../../store/openSqlite.ts";
import type { Contribution, QuarantineRecord, UnreadRecord } from "../types.ts";
import { draftIdOf } from "../types.ts";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Tables of what each source file contributed, replaced together whenever the file is processed again. */
export const SOURCE_FILE_TABLES = `
        CREATE TABLE IF NOT EXISTS contributions (
          slug TEXT NOT NULL, rel_path TEXT NOT NULL, pattern_key TEXT NOT NULL, json TEXT NOT NULL,
          PRIMARY KEY (rel_path, pattern_key)
        );
        CREATE INDEX IF NOT EXISTS contributions_by_slug ON contributions (slug);
        CREATE TABLE IF NOT EXISTS quarantine (
          rel_path TEXT NOT NULL, pattern_key TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (rel_path, pattern_key)
        );
        CREATE TABLE IF NOT EXISTS unread (rel_path TEXT PRIMARY KEY, json TEXT NOT NULL);
`;

/** Rows written before a field existed get its empty value. */
function normalizeContribution(raw: Contribution): Contribution {
  return { ...raw, crossRefs: raw.crossRefs ?? { clippy: [], guidelines: [] } };
}

/**
 * What each source file contributed (tables `contributions`, `quarantine`, `unread`): its
 * validated drafts, its drafts that failed validation, and its units a model did not read in full.
 * A file's rows change in one transaction, so concurrent files never see half a file.
 */
export class SourceFileStore {
  constructor(private readonly db: SqliteConnection) {}

  /** Replaces everything one source file contributed, in one transaction; returns the drafts' slugs. */
  replaceFile(relPath: string, contributions: readonly Contribution[], quarantined: readonly QuarantineRecord[], unread: UnreadRecord["units"] = []): string[] {
    const tx = this.db.transaction(() => {
      this.db.prepare("DELETE FROM contributions WHERE rel_path = ?").run(relPath);
      this.db.prepare("DELETE FROM quarantine WHERE rel_path = ?").run(relPath);
      this.db.prepare("DELETE FROM unread WHERE rel_path = ?").run(relPath);
      if (unread.length > 0) this.db.prepare("INSERT INTO unread (rel_path, json) VALUES (?, ?)").run(relPath, JSON.stringify({ relPath, units: unread }));
      const ins = this.db.prepare("INSERT OR REPLACE INTO contributions (slug, rel_path, pattern_key, json) VALUES (?, ?, ?, ?)");
      for (const c of contributions) ins.run(c.slug, c.relPath, c.patternKey, JSON.stringify(c));
      const q = this.db.prepare("INSERT OR REPLACE INTO quarantine (rel_path, pattern_key, json) VALUES (?, ?, ?)");
      for (const r of quarantined) q.run(r.relPath, r.patternKey, JSON.stringify(r));
    });
    tx.immediate();
    return [...new Set(contributions.map((c) => c.slug))].sort();
  }

  /** Forgets files that are no longer in the input; returns their paths. */
  removeFilesNotIn(relPaths: ReadonlySet<string>): string[] {
    const known = (
      this.db.prepare("SELECT DISTINCT rel_path AS p FROM contributions UNION SELECT DISTINCT rel_path FROM quarantine").all() as { p: string }[]
    ).map((r) => r.p);
    const gone = known.filter((p) => !relPaths.has(p)).sort();
    for (const p of gone) this.replaceFile(p, [], []);
    return gone;
  }

  /** The files (relative paths) drafts came from, in path order. */
  sourceFiles(): string[] {
    return (
      this.db.prepare("SELECT DISTINCT rel_path AS p FROM contributions UNION SELECT DISTINCT rel_path FROM quarantine ORDER BY p").all() as { p: string }[]
    ).map((r) => r.p);
  }

  /** Every stored draft, in draft-ID order. */
  contributions(): Contribution[] {
    return (this.db.prepare("SELECT json FROM contributions").all() as { json: string }[])
      .map((r) => normalizeContribution(JSON.parse(r.json) as Contribution))
      .sort((a, b) => byString(draftIdOf(a), draftIdOf(b)) || byString(a.patternKey, b.patternKey));
  }

  quarantined(): QuarantineRecord[] {
    return (this.db.prepare("SELECT json FROM quarantine ORDER BY rel_path, pattern_key").all() as { json: string }[]).map(
      (r) => JSON.parse(r.json) as QuarantineRecord,
    );
  }

  /** Source files with units a model did not read in full, in path order. */
  unread(): UnreadRecord[] {
    return (this.db.prepare("SELECT json FROM unread ORDER BY rel_path").all() as { json: string }[]).map((r) => JSON.parse(r.json) as UnreadRecord);
  }
}
