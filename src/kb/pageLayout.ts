/** Where a knowledge base's files go under its output directory (the publisher writes them; the store adopts them from older versions). */

/** Folders of pages under the output directory (temporary files are cleaned only here, at its root and in .kb). */
export const PAGE_DIRS = ["patterns", "categories"] as const;
/** Output files at the root of every knowledge base. */
export const FIXED_FILES = ["index.md", "quarantine.md", "kb.json", "kb.schema.json"] as const;

export function entryPagePath(slug: string): string {
  return `patterns/${slug}.md`;
}

export function categoryPagePath(categoryId: string): string {
  return `categories/${categoryId}.md`;
}
