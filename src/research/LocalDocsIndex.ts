import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { openSqlite, type SqliteConnection } from "../store/openSqlite.ts";
import { type DocPage, htmlSections, markdownSections, textSections } from "./docSections.ts";
import { sleep } from "./RateLimiter.ts";
import type { DocsRoot } from "./rustDocs.ts";

/** Bump when sectioning or the schema changes: every root is rebuilt once. */
const DOCS_INDEX_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS roots (
  id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, dir TEXT NOT NULL, collection TEXT NOT NULL, fingerprint TEXT,
  files INTEGER NOT NULL DEFAULT 0, sections INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
  ms INTEGER NOT NULL DEFAULT 0, built_at TEXT
);
CREATE TABLE IF NOT EXISTS pages (id INTEGER PRIMARY KEY, root_id INTEGER NOT NULL, path TEXT NOT NULL, title TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pages_by_root ON pages (root_id);
CREATE VIRTUAL TABLE IF NOT EXISTS doc_fts USING fts5 (
  title, body, page_id UNINDEXED, root_id UNINDEXED, anchor UNINDEXED, tokenize = 'porter unicode61'
);
`;

export interface IndexProgress {
  /** "reuse": the root is unchanged; "index": files being read; "wait": another process is building it. */
  phase: "reuse" | "index" | "wait" | "done";
  key: string;
  collection: string;
  done: number;
  total: number;
}

export interface RootReport {
  key: string;
  collection: string;
  dir: string;
  files: number;
  sections: number;
  bytes: number;
  /** Build time (of this call when rebuilt, of the stored build otherwise). */
  ms: number;
  rebuilt: boolean;
}

export interface UpdateOptions {
  onProgress?: (p: IndexProgress) => void;
  signal?: AbortSignal;
  /** Files larger than this are skipped (default 4 MiB; the largest std page is ~3 MB). */
  maxFileBytes?: number;
  /** How long to wait for another process building the same root (default 10 minutes). */
  waitMs?: number;
}

export interface DocsHit {
  collection: string;
  pageTitle: string;
  sectionTitle: string;
  /** Absolute path of the page. */
  file: string;
  /** Key of the root the page is in, and the page's path inside it (forward slashes). */
  rootKey: string;
  relPath: string;
  anchor: string;
  /** file:// URL of the page with the section's anchor. */
  url: string;
  excerpt: string;
  rank: number;
}

/**
 * An offline full-text index (SQLite FTS5) over documentation directories, stored in a file of
 * the user's choosing. Each root is fingerprinted by its selected files' paths, sizes and mtimes
 * and rebuilt only when that changes; a build reads one file at a time (memory bounded by the
 * largest page) inside one transaction per root, so an interrupted build leaves the old state.
 */
export class LocalDocsIndex {
  readonly file: string;
  private readonly db: SqliteConnection;

  private constructor(db: SqliteConnection, file: string) {
    this.db = db;
    this.file = file;
  }

  static open(file: string): LocalDocsIndex {
    // A short wait: the index is shared by runs only while one of them (re)builds it.
    const db = openSqlite(file, { busyTimeoutMs: 2_000 });
    db.exec(SCHEMA);
    const version = (db.prepare("SELECT value FROM meta WHERE key = 'version'").get() as { value: string } | undefined)?.value;
    if (version !== String(DOCS_INDEX_VERSION)) {
      db.exec("DELETE FROM doc_fts; DELETE FROM pages; DELETE FROM roots;");
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)").run(String(DOCS_INDEX_VERSION));
    }
    return new LocalDocsIndex(db, file);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Brings every root up to date (building those that changed) and reports each. */
  async update(roots: readonly DocsRoot[], options: UpdateOptions = {}): Promise<RootReport[]> {
    const reports: RootReport[] = [];
    for (const root of roots) reports.push(await this.updateRoot(root, options));
    return reports;
  }

  /** Combined fingerprint of these roots as stored (changes whenever any of them is rebuilt). */
  fingerprint(keys: readonly string[]): string {
    const rows = keys.map(
      (k) => (this.db.prepare("SELECT fingerprint FROM roots WHERE key = ?").get(k) as { fingerprint: string | null } | undefined)?.fingerprint,
    );
    return hash(JSON.stringify([DOCS_INDEX_VERSION, keys, rows]));
  }

  /**
   * Ranked sections of the given roots: those matching every term first, then any term; at most
   * one section per page, so results come from different pages.
   */
  search(terms: readonly string[], options: { limit: number; rootKeys: readonly string[] }): DocsHit[] {
    const clean = [...new Set(terms.map((t) => t.replace(/"/g, "").trim()).filter((t) => t !== ""))];
    if (clean.length === 0 || options.limit < 1) return [];
    const ids = options.rootKeys
      .map((k) => (this.db.prepare("SELECT id FROM roots WHERE key = ? AND fingerprint IS NOT NULL").get(k) as { id: number } | undefined)?.id)
      .filter((id): id is number => id !== undefined);
    if (ids.length === 0) return [];
    const stmt = this.db.prepare(
      `SELECT doc_fts.title AS title, doc_fts.anchor AS anchor, doc_fts.page_id AS pageId, p.path AS path, p.title AS pageTitle,
              r.dir AS dir, r.key AS rootKey, r.collection AS collection, snippet(doc_fts, 1, '', '', ' … ', 40) AS snip, bm25(doc_fts, 5.0, 1.0) AS rank
       FROM doc_fts JOIN pages p ON p.id = doc_fts.page_id JOIN roots r ON r.id = doc_fts.root_id
       WHERE doc_fts MATCH ? AND doc_fts.root_id IN (${ids.map(() => "?").join(",")})
       ORDER BY rank, p.path, doc_fts.anchor LIMIT ?`,
    );
    const quoted = clean.map((t) => `"${t}"`);
    const queries = clean.length > 1 ? [quoted.join(" AND "), quoted.join(" OR ")] : [quoted[0] ?? ""];
    const out: DocsHit[] = [];
    const pages = new Set<number>();
    for (const q of queries) {
      const rows = stmt.all(q, ...ids, options.limit * 6) as {
        title: string;
        anchor: string;
        pageId: number;
        path: string;
        pageTitle: string;
        dir: string;
        rootKey: string;
        collection: string;
        snip: string;
        rank: number;
      }[];
      for (const r of rows) {
        if (pages.has(r.pageId)) continue;
        pages.add(r.pageId);
        const file = path.join(r.dir, r.path);
        out.push({
          collection: r.collection,
          pageTitle: r.pageTitle,
          sectionTitle: r.title,
          file,
          rootKey: r.rootKey,
          relPath: r.path.split(path.sep).join("/"),
          anchor: r.anchor,
          url: pathToFileURL(file).href + (r.anchor ? `#${r.anchor}` : ""),
          excerpt: r.snip.replace(/\s+/g, " ").trim(),
          rank: r.rank,
        });
        if (out.length >= options.limit) return out;
      }
    }
    return out;
  }

  /** What the index holds, per root. */
  roots(): RootReport[] {
    return (
      this.db.prepare("SELECT key, collection, dir, files, sections, bytes, ms FROM roots WHERE fingerprint IS NOT NULL ORDER BY key").all() as Omit<
        RootReport,
        "rebuilt"
      >[]
    ).map((r) => ({ ...r, rebuilt: false }));
  }

  private async updateRoot(root: DocsRoot, options: UpdateOptions): Promise<RootReport> {
    const files = listFiles(root.dir, root.select);
    const fp = hash(JSON.stringify([DOCS_INDEX_VERSION, root.rule, root.dir, files.map((f) => [f.rel, f.size, f.mtimeMs])]));
    const report: PhaseReport = (p, done) => options.onProgress?.({ phase: p, key: root.key, collection: root.collection, done, total: files.length });
    const stored = this.storedRoot(root.key);
    if (stored?.fingerprint === fp) {
      report("reuse", files.length);
      return reusedReport(root, stored);
    }

    await this.beginImmediate(options, () => report("wait", 0));
    try {
      // Another process may have built it while this one waited for the lock.
      const again = this.storedRoot(root.key);
      if (again?.fingerprint === fp) {
        this.db.exec("ROLLBACK");
        report("reuse", files.length);
        return reusedReport(root, again);
      }
      const started = Date.now();
      const rootId = this.resetRoot(root);
      const { pages, sections, bytes } = await this.indexPages(rootId, root, files, options, report);
      const ms = Date.now() - started;
      this.db
        .prepare("UPDATE roots SET fingerprint = ?, files = ?, sections = ?, bytes = ?, ms = ?, built_at = ? WHERE id = ?")
        .run(fp, pages, sections, bytes, ms, new Date().toISOString(), rootId);
      this.db.exec("COMMIT");
      report("done", files.length);
      return { key: root.key, collection: root.collection, dir: root.dir, files: pages, sections, bytes, ms, rebuilt: true };
    } catch (e) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      throw e;
    }
  }

  private storedRoot(key: string): StoredRoot | undefined {
    return this.db.prepare("SELECT files, sections, bytes, ms, fingerprint FROM roots WHERE key = ?").get(key) as StoredRoot | undefined;
  }

  /** Marks the root as being built (no fingerprint) and empties its pages; returns its row ID. */
  private resetRoot(root: DocsRoot): number {
    this.db
      .prepare(
        "INSERT INTO roots (key, dir, collection, fingerprint) VALUES (?, ?, ?, NULL) ON CONFLICT (key) DO UPDATE SET dir = excluded.dir, collection = excluded.collection, fingerprint = NULL",
      )
      .run(root.key, root.dir, root.collection);
    const rootId = (this.db.prepare("SELECT id FROM roots WHERE key = ?").get(root.key) as { id: number }).id;
    this.db.prepare("DELETE FROM doc_fts WHERE root_id = ?").run(rootId);
    this.db.prepare("DELETE FROM pages WHERE root_id = ?").run(rootId);
    return rootId;
  }

  /** Reads and stores every page of the root (inside the caller's transaction). */
  private async indexPages(
    rootId: number,
    root: DocsRoot,
    files: readonly FileEntry[],
    options: UpdateOptions,
    report: PhaseReport,
  ): Promise<{ pages: number; sections: number; bytes: number }> {
    const insPage = this.db.prepare("INSERT INTO pages (root_id, path, title) VALUES (?, ?, ?)");
    const insSection = this.db.prepare("INSERT INTO doc_fts (title, body, page_id, root_id, anchor) VALUES (?, ?, ?, ?, ?)");
    const maxBytes = options.maxFileBytes ?? 4 * 1024 * 1024;
    let pages = 0;
    let sections = 0;
    let bytes = 0;
    let lastReport = 0;
    report("index", 0);
    for (const [i, f] of files.entries()) {
      if (f.size <= maxBytes) {
        const page = readPage(path.join(root.dir, f.rel), f.rel);
        if (page && page.sections.length > 0) {
          const pageId = Number(insPage.run(rootId, f.rel, page.title).lastInsertRowid);
          for (const s of page.sections) insSection.run(s.title, s.text, pageId, rootId, s.anchor);
          pages++;
          sections += page.sections.length;
          bytes += f.size;
        }
      }
      if (i % 20 === 19) {
        // Let progress output and signals through; the transaction stays open on this connection.
        await new Promise<void>((r) => setImmediate(r));
        if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
        if (Date.now() - lastReport >= 1000) {
          lastReport = Date.now();
          report("index", i + 1);
        }
      }
    }
    return { pages, sections, bytes };
  }

  private async beginImmediate(options: UpdateOptions, onWait: () => void): Promise<void> {
    const deadline = Date.now() + (options.waitMs ?? 600_000);
    let told = false;
    for (;;) {
      try {
        this.db.exec("BEGIN IMMEDIATE");
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline) throw e;
        if (!told) {
          told = true;
          onWait();
        }
        await sleep(1000, options.signal);
      }
    }
  }
}

type PhaseReport = (phase: IndexProgress["phase"], done: number) => void;

interface StoredRoot {
  files: number;
  sections: number;
  bytes: number;
  ms: number;
  fingerprint: string | null;
}

/** The report of a root whose stored index is current. */
function reusedReport(root: DocsRoot, stored: StoredRoot): RootReport {
  return {
    key: root.key,
    collection: root.collection,
    dir: root.dir,
    files: stored.files,
    sections: stored.sections,
    bytes: stored.bytes,
    ms: stored.ms,
    rebuilt: false,
  };
}

interface FileEntry {
  rel: string;
  size: number;
  mtimeMs: number;
}

/** Selected files under `dir`, sorted, with size and mtime (the fingerprint's input). */
function listFiles(dir: string, select: (rel: string) => boolean): FileEntry[] {
  const out: FileEntry[] = [];
  const walk = (abs: string, rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(abs, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith(".") || e.name === "node_modules") continue;
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      const childAbs = path.join(abs, e.name);
      if (e.isDirectory()) walk(childAbs, childRel);
      else if (e.isFile() && select(childRel)) {
        const st = fs.statSync(childAbs, { throwIfNoEntry: false });
        if (st) out.push({ rel: childRel, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) });
      }
    }
  };
  walk(dir, "");
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

function readPage(file: string, rel: string): DocPage | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const name = path.basename(rel).replace(/\.[^.]+$/, "");
  if (/\.html?$/i.test(rel)) {
    // mdBook and rustdoc leave small redirect stubs for moved pages.
    if (text.length < 4096 && /http-equiv=["']?refresh/i.test(text)) return undefined;
    const page = htmlSections(text);
    return { title: page.title || name, sections: page.sections };
  }
  if (/\.(md|markdown)$/i.test(rel)) return markdownSections(text, name);
  return textSections(text, name);
}

function hash(s: string): string {
  return createHash("sha256").update(s).digest("hex").slice(0, 32);
}
