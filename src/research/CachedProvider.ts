import type { SearchCache } from "./SearchCache.ts";
import type { ResearchHitSource, ResearchProvider, ResearchQuery } from "./types.ts";

/**
 * A provider in front of the search cache: a query it has answered before (in this run or an
 * earlier one sharing the run database) is answered from SQLite without calling the provider.
 * Only successful answers are stored; an error is never cached.
 */
export class CachedProvider implements ResearchProvider {
  readonly name: string;
  /** Answers served from the cache / fetched from the provider by this instance. */
  readonly stats = { hits: 0, misses: 0 };

  constructor(
    private readonly inner: ResearchProvider,
    private readonly cache: SearchCache,
  ) {
    this.name = inner.name;
  }

  cacheKey(query: ResearchQuery): string | undefined {
    return this.inner.cacheKey?.(query);
  }

  async search(query: ResearchQuery): Promise<ResearchHitSource[]> {
    const key = this.inner.cacheKey?.(query);
    if (key === undefined) return this.inner.search(query);
    const cached = this.cache.get(this.name, key);
    if (cached) {
      this.stats.hits++;
      return cached.slice(0, query.limit);
    }
    this.stats.misses++;
    const hits = await this.inner.search(query);
    this.cache.put(this.name, key, hits);
    return hits;
  }
}
