import path from "node:path";
import { stripControl } from "../markdownSafe.ts";
import { categoryPagePath, entryPagePath } from "../pageLayout.ts";
import { renderCategoryPage, renderEntryPage, renderIndex, renderQuarantine } from "../render.ts";
import { KB_JSON_VERSION, type KbJson, kbJsonSchemaText } from "../schema.ts";
import { sourceLinker } from "../sourceLinks.ts";
import { CATEGORIES } from "../taxonomy.ts";
import type { Entry, QuarantineRecord, UnreadRecord } from "../types.ts";

/** What the knowledge base's files show. */
export interface KbContent {
  entries: readonly Entry[];
  quarantined: readonly QuarantineRecord[];
  unread: readonly UnreadRecord[];
}

/**
 * Every file of the knowledge base in `outDir` (relative path -> content): a page per entry and
 * per used category, index.md, quarantine.md, kb.json and its schema. Sources link to the input
 * files (relative) when `inputDir` is known. Deterministic: the same content gives the same bytes.
 */
export function renderKbFiles(outDir: string, content: KbContent, inputDir: string | undefined): Map<string, string> {
  const { entries, quarantined, unread } = content;
  const files = new Map<string, string>();
  const links = sourceLinker(path.join(outDir, "patterns"), inputDir);
  for (const e of entries) files.set(entryPagePath(e.slug), renderEntryPage(e, links));
  for (const cat of CATEGORIES) {
    const list = entries.filter((e) => e.category === cat.id);
    if (list.length > 0) files.set(categoryPagePath(cat.id), renderCategoryPage(cat.id, list, links));
  }
  files.set("index.md", renderIndex(entries, quarantined.length));
  files.set("quarantine.md", renderQuarantine(quarantined, sourceLinker(outDir, inputDir), unread));
  files.set("kb.json", kbJsonText(content));
  files.set("kb.schema.json", kbJsonSchemaText());
  return files;
}

function kbJsonText({ entries, quarantined, unread }: KbContent): string {
  const used = new Set<string>(entries.map((e) => e.category));
  const kbJson: KbJson = {
    $schema: "kb.schema.json",
    schemaVersion: KB_JSON_VERSION,
    categories: CATEGORIES.filter((c) => used.has(c.id)).map((c) => ({ id: c.id, title: c.title, count: entries.filter((e) => e.category === c.id).length })),
    entries: [...entries],
    quarantined: [...quarantined],
    unread: [...unread],
  };
  // kb.json's readers show its strings: no control or bidi character in any of them.
  return `${JSON.stringify(kbJson, (_key, value: unknown) => (typeof value === "string" ? stripControl(value) : value), 2)}\n`;
}
