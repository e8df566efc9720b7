import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { fsErrorToUserError, UserError } from "../errors.ts";
import { removeStaleTemps, writeFileAtomic } from "../util/atomicWrite.ts";
import { mergeEntry, renderCategoryPage, renderEntryPage, renderIndex, renderQuarantine } from "./render.ts";
import { CATEGORIES } from "./taxonomy.ts";
import type { Contribution, Entry, QuarantineRecord } from "./types.ts";

export const KB_SCHEMA_VERSION = 1;

/**
 * The knowledge base in an output directory. Validated drafts ("contributions") are kept in
 * `<out>/.kb/kb.sqlite`; every page is rendered from all contributions of its slug, so pages do
 * not depend on the order files finished in, and the output directory alone holds all it needs to
 * grow in later runs. Pages are written atomically (temp file + rename).
 */
export class KnowledgeBase {
  readonly outDir: string;
  private readonly db: Database.Database;

  private constructor(outDir: string, db: Database.Database) {
    this.outDir = outDir;
    this.db = db;
  }

  static open(outDir: string): KnowledgeBase {
    const dir = path.resolve(outDir);
    try {
      fs.mkdirSync(path.join(dir, ".kb"), { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      removeStaleTemps(dir);
      const db = new Database(path.join(dir, ".kb", "kb.sqlite"), { timeout: 10_000 });
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.exec(`
        CREATE TABLE IF NOT EXISTS contributions (
          slug TEXT NOT NULL, rel_path TEXT NOT NULL, pattern_key TEXT NOT NULL, json TEXT NOT NULL,
          PRIMARY KEY (rel_path, pattern_key)
        );
        CREATE INDEX IF NOT EXISTS contributions_by_slug ON contributions (slug);
        CREATE TABLE IF NOT EXISTS quarantine (
          rel_path TEXT NOT NULL, pattern_key TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (rel_path, pattern_key)
        );
      `);
      return new KnowledgeBase(dir, db);
    } catch (e) {
      const fsErr = fsErrorToUserError(e, `the output directory ${dir}`);
      if (fsErr) throw fsErr;
      throw new UserError("OUTPUT_NOT_WRITABLE", `Cannot open the knowledge base in ${dir}: ${(e as Error).message}`, "Choose another --out directory.", {
        cause: e,
      });
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Replaces everything one source file contributed (a re-processed file drops what it no longer
   * says) and re-renders the pages of every slug that changed. Returns those slugs.
   */
  replaceFile(relPath: string, contributions: readonly Contribution[], quarantined: readonly QuarantineRecord[]): string[] {
    const before = (this.db.prepare("SELECT DISTINCT slug FROM contributions WHERE rel_path = ?").all(relPath) as { slug: string }[]).map((r) => r.slug);
    const tx = this.db.transaction(() => {
      this.db.prepare("DELETE FROM contributions WHERE rel_path = ?").run(relPath);
      this.db.prepare("DELETE FROM quarantine WHERE rel_path = ?").run(relPath);
      const ins = this.db.prepare("INSERT OR REPLACE INTO contributions (slug, rel_path, pattern_key, json) VALUES (?, ?, ?, ?)");
      for (const c of contributions) ins.run(c.slug, c.relPath, c.patternKey, JSON.stringify(c));
      const q = this.db.prepare("INSERT OR REPLACE INTO quarantine (rel_path, pattern_key, json) VALUES (?, ?, ?)");
      for (const r of quarantined) q.run(r.relPath, r.patternKey, JSON.stringify(r));
    });
    tx();
    const affected = [...new Set([...before, ...contributions.map((c) => c.slug)])].sort();
    for (const slug of affected) this.renderSlug(slug);
    return affected;
  }

  /** Forgets files that are no longer in the input (their entries go unless another file backs them). */
  removeFilesNotIn(relPaths: ReadonlySet<string>): string[] {
    const known = (
      this.db.prepare("SELECT DISTINCT rel_path AS p FROM contributions UNION SELECT DISTINCT rel_path FROM quarantine").all() as { p: string }[]
    ).map((r) => r.p);
    const gone = known.filter((p) => !relPaths.has(p));
    for (const p of gone) this.replaceFile(p, [], []);
    return gone;
  }

  entries(): Entry[] {
    const rows = this.db.prepare("SELECT slug, json FROM contributions ORDER BY slug, rel_path, pattern_key").all() as { slug: string; json: string }[];
    const bySlug = new Map<string, Contribution[]>();
    for (const r of rows) {
      const list = bySlug.get(r.slug) ?? [];
      list.push(JSON.parse(r.json) as Contribution);
      bySlug.set(r.slug, list);
    }
    return [...bySlug.values()].map(mergeEntry).sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
  }

  quarantined(): QuarantineRecord[] {
    return (this.db.prepare("SELECT json FROM quarantine ORDER BY rel_path, pattern_key").all() as { json: string }[]).map(
      (r) => JSON.parse(r.json) as QuarantineRecord,
    );
  }

  /** Writes index.md, category pages, kb.json and quarantine.md, and removes pages of entries that are gone. */
  finalize(): { entries: number; quarantined: number } {
    const entries = this.entries();
    const quarantined = this.quarantined();
    const slugs = new Set(entries.map((e) => e.slug));
    const pagesDir = path.join(this.outDir, "patterns");
    for (const f of safeList(pagesDir)) if (f.endsWith(".md") && !slugs.has(f.slice(0, -3))) fs.rmSync(path.join(pagesDir, f), { force: true });
    for (const e of entries) writeFileAtomic(path.join(pagesDir, `${e.slug}.md`), renderEntryPage(e));
    const catDir = path.join(this.outDir, "categories");
    const used = new Set(entries.map((e) => e.category));
    for (const f of safeList(catDir)) if (f.endsWith(".md") && !used.has(f.slice(0, -3) as Entry["category"])) fs.rmSync(path.join(catDir, f), { force: true });
    for (const cat of CATEGORIES) {
      const list = entries.filter((e) => e.category === cat.id);
      if (list.length > 0) writeFileAtomic(path.join(catDir, `${cat.id}.md`), renderCategoryPage(cat.id, list));
    }
    writeFileAtomic(path.join(this.outDir, "index.md"), renderIndex(entries, quarantined.length));
    writeFileAtomic(path.join(this.outDir, "quarantine.md"), renderQuarantine(quarantined));
    writeFileAtomic(path.join(this.outDir, "kb.json"), `${JSON.stringify({ schemaVersion: KB_SCHEMA_VERSION, entries, quarantined }, null, 2)}\n`);
    return { entries: entries.length, quarantined: quarantined.length };
  }

  private renderSlug(slug: string): void {
    const rows = this.db.prepare("SELECT json FROM contributions WHERE slug = ?").all(slug) as { json: string }[];
    const file = path.join(this.outDir, "patterns", `${slug}.md`);
    if (rows.length === 0) {
      fs.rmSync(file, { force: true });
      return;
    }
    writeFileAtomic(file, renderEntryPage(mergeEntry(rows.map((r) => JSON.parse(r.json) as Contribution))));
  }
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
