/** A research result a writer may cite by ID. */
export interface ResearchHitSource {
  provider: string;
  title: string;
  citation: string;
  relPath?: string;
  startLine?: number;
  endLine?: number;
  url?: string;
  excerpt: string;
}

export interface ResearchQuery {
  runId: string;
  name: string;
  summary: string;
  /**
   * The title of the pattern's category ("Type safety"), from the fixed taxonomy the caller owns
   * (src/kb/taxonomy.ts): the web query names it, and research knows no more of the taxonomy.
   */
  categoryTitle: string;
  /** The file the pattern came from (its own units are already evidence, so they are excluded). */
  docId: string;
  limit: number;
  signal?: AbortSignal;
}

/**
 * A source of research material. Providers are combinable; each returns ranked hits. The only
 * thing a provider may send off the machine is the short query built from the pattern's name.
 */
export interface ResearchProvider {
  readonly name: string;
  search(query: ResearchQuery): Promise<ResearchHitSource[]>;
  /**
   * Everything that decides this query's results (the query text, result count, filters, index
   * version), as a string. Providers that return one get their answers cached by
   * `CachedProvider`; those that return undefined (or lack the method) are asked every time.
   */
  cacheKey?(query: ResearchQuery): string | undefined;
}

const STOP = new Set(["the", "a", "an", "of", "in", "on", "for", "to", "and", "or", "with", "use", "using", "pattern", "idiom", "rust"]);

/** Words of a pattern name worth searching for. */
export function queryTerms(name: string): string[] {
  return [
    ...new Set(
      name
        .toLowerCase()
        .split(/[^a-z0-9_]+/)
        .filter((w) => w.length > 1 && !STOP.has(w)),
    ),
  ].slice(0, 8);
}
