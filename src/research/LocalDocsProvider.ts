import type { LocalDocsIndex } from "./LocalDocsIndex.ts";
import { ResearchError } from "./ResearchError.ts";
import type { DocsRoot } from "./rustDocs.ts";
import { queryTerms, type ResearchHitSource, type ResearchProvider, type ResearchQuery } from "./types.ts";

const EXCERPT_CHARS = 360;

/**
 * Offline research over the local documentation index (rustup's Rust books and std pages, plus any
 * `--library` folders). Each hit cites the exact page and section: Rust documentation by its public
 * doc.rust-lang.org URL with the section's anchor (rustup installs a copy of that site), a
 * `--library` folder by collection and relative path, so no citation holds a machine's absolute
 * path. Nothing leaves the machine.
 */
export class LocalDocsProvider implements ResearchProvider {
  readonly name = "docs";
  private readonly keys: string[];
  private readonly publicUrls: Map<string, string | undefined>;

  constructor(
    private readonly index: LocalDocsIndex,
    roots: readonly Pick<DocsRoot, "key" | "publicUrl">[],
  ) {
    this.keys = roots.map((r) => r.key);
    this.publicUrls = new Map(roots.map((r) => [r.key, r.publicUrl]));
  }

  cacheKey(query: ResearchQuery): string {
    // `cite` versions how hits are cited: cached answers from before public URLs are not reused.
    return JSON.stringify({
      terms: queryTerms(query.name),
      limit: query.limit,
      index: this.index.fingerprint(this.keys),
      cite: 2,
      bases: this.keys.map((k) => this.publicUrls.get(k) ?? ""),
    });
  }

  async search(query: ResearchQuery): Promise<ResearchHitSource[]> {
    const terms = queryTerms(query.name);
    if (terms.length === 0 || this.keys.length === 0) return [];
    try {
      return this.index.search(terms, { limit: query.limit, rootKeys: this.keys }).map((h) => {
        const anchor = h.anchor ? `#${h.anchor}` : "";
        const base = this.publicUrls.get(h.rootKey);
        const url = base ? `${base}${h.relPath.split("/").map(encodeURIComponent).join("/")}${anchor}` : undefined;
        return {
          provider: this.name,
          title: title(h.collection, h.pageTitle, h.sectionTitle),
          citation: url ?? `${h.collection}/${h.relPath}${anchor}`,
          ...(url ? { url } : {}),
          excerpt: h.excerpt.length <= EXCERPT_CHARS ? h.excerpt : `${h.excerpt.slice(0, EXCERPT_CHARS - 1)}…`,
        };
      });
    } catch (e) {
      throw new ResearchError(this.name, "INDEX", `The documentation index could not be searched: ${(e as Error).message}`, {
        hint: "Delete the docs index file to rebuild it (or pass --docs-index PATH).",
        cause: e,
      });
    }
  }
}

/** "The Rust Programming Language: References and Borrowing › Mutable References" */
function title(collection: string, page: string, section: string): string {
  const p = page.replace(/ - (Rust|The Rust Programming Language|Rust By Example|The Rust Reference|The Rustonomicon)$/, "").trim();
  const head = p.toLowerCase().startsWith(collection.toLowerCase()) || collection === "std" ? p : `${collection}: ${p}`;
  const s = section.trim();
  const full = s && s !== p && !p.startsWith(s) ? `${head} › ${s}` : head;
  return full.replace(/\s+/g, " ").slice(0, 160);
}
