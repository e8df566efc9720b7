import { createHash } from "node:crypto";
import type { SqliteConnection } from "../../store/openSqlite.ts";
import type { PreviousAssignment } from "../entries.ts";
import { type SearchFilters, type SearchHit, searchEntries } from "../searchEntries.ts";
import { nameKey } from "../slug.ts";
import { categoryTitle } from "../taxonomy.ts";
import type { Entry } from "../types.ts";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The published entries, which drafts each holds, and their full-text index. */
export const ENTRY_TABLES = `
        CREATE TABLE IF NOT EXISTS entries (id TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, hash TEXT NOT NULL, json TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS draft_entries (
          draft_id TEXT PRIMARY KEY, entry_id TEXT NOT NULL, reason TEXT NOT NULL, with_draft TEXT, detail TEXT
        );
        CREATE VIRTUAL TABLE IF NOT EXISTS entry_fts USING fts5 (
          id UNINDEXED, slug UNINDEXED, name, aliases, tags, refs, body, tokenize = 'porter unicode61'
        );
`;

/**
 * The entries as of the last publish (tables `entries`, `draft_entries`, `entry_fts`): read by
 * `npm run kb`, the MCP server and eval; the assignment of drafts to entries, so IDs and slugs
 * survive re-runs; the full-text index `npm run kb -- search` queries.
 */
export class EntryStore {
  constructor(private readonly db: SqliteConnection) {}

  /** The entries, in slug order. */
  all(): Entry[] {
    return (this.db.prepare("SELECT json FROM entries").all() as { json: string }[])
      .map((r) => JSON.parse(r.json) as Entry)
      .sort((a, b) => byString(a.slug, b.slug));
  }

  count(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM entries").get() as { n: number }).n;
  }

  /** The entry with this slug or ID, else the one whose name or alias has this normalised name. */
  find(ref: string): Entry | undefined {
    const row = this.db.prepare("SELECT json FROM entries WHERE slug = ? OR id = ?").get(ref, ref) as { json: string } | undefined;
    if (row) return JSON.parse(row.json) as Entry;
    const key = nameKey(ref);
    if (key === "") return undefined;
    return this.all().find((e) => nameKey(e.name) === key || e.aliases.some((a) => nameKey(a) === key) || e.merges.some((m) => m.draftId === ref));
  }

  /** Full-text search over the entries (src/kb/searchEntries.ts). */
  search(query: string, limit: number, filters: SearchFilters): SearchHit[] {
    return searchEntries(this.db, query, limit, filters);
  }

  /** Which entry each draft went to, and each entry's slug, as of the last publish. */
  previousAssignment(): PreviousAssignment {
    const drafts = this.db.prepare("SELECT draft_id, entry_id FROM draft_entries").all() as { draft_id: string; entry_id: string }[];
    const slugs = this.db.prepare("SELECT id, slug FROM entries").all() as { id: string; slug: string }[];
    return { entryOfDraft: new Map(drafts.map((r) => [r.draft_id, r.entry_id])), slugOfEntry: new Map(slugs.map((r) => [r.id, r.slug])) };
  }

  /**
   * Replaces every entry, its drafts and its index rows (the caller holds the transaction);
   * returns the IDs of entries that are new or whose content changed, in no particular order.
   */
  replaceAll(entries: readonly Entry[]): string[] {
    const oldHashes = new Map((this.db.prepare("SELECT id, hash FROM entries").all() as { id: string; hash: string }[]).map((r) => [r.id, r.hash]));
    const changed: string[] = [];
    this.db.prepare("DELETE FROM entries").run();
    this.db.prepare("DELETE FROM draft_entries").run();
    this.db.prepare("DELETE FROM entry_fts").run();
    const insEntry = this.db.prepare("INSERT INTO entries (id, slug, hash, json) VALUES (?, ?, ?, ?)");
    const insDraft = this.db.prepare("INSERT INTO draft_entries (draft_id, entry_id, reason, with_draft, detail) VALUES (?, ?, ?, ?, ?)");
    const insFts = this.db.prepare("INSERT INTO entry_fts (id, slug, name, aliases, tags, refs, body) VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const e of entries) {
      const json = JSON.stringify(e);
      const hash = createHash("sha256").update(json).digest("hex").slice(0, 32);
      if (oldHashes.get(e.id) !== hash) changed.push(e.id);
      insEntry.run(e.id, e.slug, hash, json);
      for (const m of e.merges) insDraft.run(m.draftId, e.id, m.reason, m.with ?? null, m.detail ?? null);
      insFts.run(
        e.id,
        e.slug,
        e.name,
        e.aliases.join("\n"),
        e.tags.join(" "),
        [...e.crossRefs.clippy, ...e.crossRefs.guidelines, categoryTitle(e.category)].join("\n"),
        [e.summary, ...e.whenToUse, ...e.whenNotToUse, ...e.pitfalls, e.example?.code ?? ""].join("\n"),
      );
    }
    return changed;
  }
}
