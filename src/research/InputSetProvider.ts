import type { RunDatabase } from "../store/RunDatabase.ts";
import { queryTerms, type ResearchHitSource, type ResearchProvider, type ResearchQuery } from "./types.ts";

const EXCERPT_CHARS = 360;

/**
 * Offline research over the run's own input set: an SQLite FTS5 index of every unit of every input
 * file, so a pattern found in one file is cross-referenced with what other files say about it.
 */
export class InputSetProvider implements ResearchProvider {
  readonly name = "input";

  constructor(private readonly db: RunDatabase) {}

  async search(query: ResearchQuery): Promise<ResearchHitSource[]> {
    const terms = queryTerms(query.name);
    if (terms.length === 0) return [];
    // Quoted terms: FTS5 syntax in a pattern name can never break the query.
    const fts = terms.map((t) => `"${t.replace(/"/g, "")}"`).join(" OR ");
    const hits = this.db.searchUnits(query.runId, fts, query.limit * 4);
    const out: ResearchHitSource[] = [];
    const perDoc = new Map<string, number>();
    for (const hit of hits) {
      if (hit.docId === query.docId) continue;
      // At most two excerpts from any one file keeps the sources varied.
      const n = perDoc.get(hit.docId) ?? 0;
      if (n >= 2) continue;
      perDoc.set(hit.docId, n + 1);
      out.push({
        provider: this.name,
        title: hit.title,
        citation: `${hit.relPath}:${hit.startLine}-${hit.endLine}`,
        relPath: hit.relPath,
        startLine: hit.startLine,
        endLine: hit.endLine,
        excerpt: excerpt(hit.text),
      });
      if (out.length >= query.limit) break;
    }
    return out;
  }
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= EXCERPT_CHARS ? flat : `${flat.slice(0, EXCERPT_CHARS - 1)}…`;
}
