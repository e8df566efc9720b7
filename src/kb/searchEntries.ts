/**
 * Full-text search over the knowledge base's entries (the store's `entry_fts` index): what `npm
 * run kb -- search` and the MCP server's search tool answer, so both give the same hits in the
 * same order for the same query.
 */
import type { SqliteConnection } from "../store/openSqlite.ts";
import type { Entry } from "./types.ts";

export interface SearchHit {
  id: string;
  slug: string;
  name: string;
  category: string;
  snippet: string;
}

/** Narrows a search to entries of one category, or citing one Clippy lint or API Guidelines ID. */
export interface SearchFilters {
  category?: string;
  /** A Clippy lint name (`unwrap_used`; a `clippy::` prefix is ignored). */
  lint?: string;
  /** A Rust API Guidelines ID (`C-BUILDER`; case does not matter). */
  guideline?: string;
}

/** The FTS5 terms of a query: words joined by - or :: stay one phrase ("C-BUILDER", "mem::take"); quoting makes FTS5 syntax plain text. */
function queryTerms(query: string): string[] {
  const words = query.match(/[\p{L}\p{N}_]+(?:(?:-|::)[\p{L}\p{N}_]+)*/gu) ?? [];
  return words.map((w) => `"${w.replace(/"/g, '""')}"*`);
}

/**
 * Entries whose name or aliases hold every word of the query come first; then names and aliases
 * weigh most, then tags and cross-references, then the text. Every word of the query must match
 * (prefixes count); when nothing does, any word may. Filters apply before the limit.
 */
export function searchEntries(db: SqliteConnection, query: string, limit: number, filters: SearchFilters = {}): SearchHit[] {
  const terms = queryTerms(query);
  if (terms.length === 0) return [];
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (filters.category !== undefined) {
    where.push("json_extract(e.json, '$.category') = ?");
    params.push(filters.category);
  }
  if (filters.lint !== undefined) {
    where.push("EXISTS (SELECT 1 FROM json_each(e.json, '$.crossRefs.clippy') WHERE value = ?)");
    params.push(filters.lint.trim().replace(/^clippy::/, ""));
  }
  if (filters.guideline !== undefined) {
    where.push("EXISTS (SELECT 1 FROM json_each(e.json, '$.crossRefs.guidelines') WHERE upper(value) = upper(?))");
    params.push(filters.guideline.trim());
  }
  const statement = db.prepare(
    `SELECT e.id AS id, e.slug AS slug, e.json AS json, snippet(entry_fts, 6, '[', ']', '…', 12) AS snippet
     FROM entry_fts JOIN entries e ON e.id = entry_fts.id
     WHERE entry_fts MATCH ?${where.map((w) => ` AND ${w}`).join("")}
     ORDER BY bm25(entry_fts, 0, 0, 10, 6, 3, 3, 1), e.slug LIMIT ?`,
  );
  type Row = { id: string; slug: string; json: string; snippet: string };
  const run = (match: string) => statement.all(match, ...params, limit) as Row[];
  // Entries whose name or aliases hold every word come first (bm25 alone can rank an entry that has
  // two of the words in its name and the third in its text above the one named by all three).
  const all = terms.join(" AND ");
  const named = run(`{name aliases} : (${all})`);
  const seen = new Set(named.map((r) => r.id));
  let rows = [...named, ...run(all).filter((r) => !seen.has(r.id))].slice(0, limit);
  if (rows.length === 0 && terms.length > 1) rows = run(terms.join(" OR "));
  return rows.map((r) => {
    const e = JSON.parse(r.json) as Pick<Entry, "name" | "category">;
    return { id: r.id, slug: r.slug, name: e.name, category: e.category, snippet: r.snippet.replace(/\s+/g, " ").trim() };
  });
}
