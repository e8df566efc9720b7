import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { decodeText } from "./decodeText.ts";
import { parseJson } from "./parseJson.ts";
import { parseMarkdown } from "./parseMarkdown.ts";
import type { SourceDocument, SourceFormat } from "./types.ts";

export const DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024;

const FORMATS: Record<string, SourceFormat> = {
  ".md": "markdown",
  ".markdown": "markdown",
  ".txt": "text",
  ".json": "json",
};

/** Directories never descended into (tool state, not notes). */
const SKIP_DIRS = new Set(["node_modules", ".git", ".hg", ".svn"]);

export interface FoundFile {
  relPath: string;
  /** Real path of the file (links resolved, always inside the input directory). */
  absPath: string;
  size: number;
  format: SourceFormat;
}

export interface SkippedFile {
  relPath: string;
  reason: string;
}

export interface InputScan {
  root: string;
  files: FoundFile[];
  skipped: SkippedFile[];
  /** Files with other extensions, not counted as found. */
  ignored: number;
}

export interface ScanOptions {
  /** Absolute paths never read as input (the output directory and the checkpoint DB). */
  exclude?: string[];
  maxFileBytes?: number;
}

export function formatOf(name: string): SourceFormat | undefined {
  return FORMATS[path.extname(name).toLowerCase()];
}

/**
 * Walks the input directory. Only regular files with a supported extension (any case) are found;
 * links are followed only when their target stays inside the input directory, and each real
 * directory is entered once, so link loops end. Everything unusual is reported, never fatal.
 */
export async function scanInput(inputDir: string, options: ScanOptions = {}): Promise<InputScan> {
  const root = await fs.realpath(inputDir);
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const exclude = await Promise.all((options.exclude ?? []).map(async (p) => fs.realpath(p).catch(() => path.resolve(p))));
  const files: FoundFile[] = [];
  const skipped: SkippedFile[] = [];
  let ignored = 0;
  const visitedDirs = new Set<string>([root]);
  const seenFiles = new Set<string>();

  const inside = (p: string) => p === root || p.startsWith(root + path.sep);
  const excluded = (p: string) => exclude.some((x) => p === x || p.startsWith(x + path.sep));

  async function walk(dirReal: string, relDir: string): Promise<void> {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await fs.readdir(dirReal, { withFileTypes: true });
    } catch (e) {
      skipped.push({ relPath: relDir || ".", reason: `cannot read directory (${(e as NodeJS.ErrnoException).code ?? "error"})` });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
      const full = path.join(dirReal, entry.name);
      let real = full;
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        try {
          real = await fs.realpath(full);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (formatOf(entry.name) || code === "ELOOP")
            skipped.push({ relPath: rel, reason: code === "ELOOP" ? "symbolic link loop" : "broken symbolic link" });
          continue;
        }
        if (!inside(real)) {
          skipped.push({ relPath: rel, reason: "link points outside the input directory (not followed)" });
          continue;
        }
        const st = await fs.stat(real).catch(() => undefined);
        isDir = st?.isDirectory() ?? false;
        isFile = st?.isFile() ?? false;
      }
      if (excluded(real)) continue;
      if (isDir) {
        if (SKIP_DIRS.has(entry.name)) continue;
        if (visitedDirs.has(real)) {
          if (entry.isSymbolicLink()) skipped.push({ relPath: rel, reason: "link to a directory already read (loop or duplicate), not followed" });
          continue;
        }
        visitedDirs.add(real);
        await walk(real, rel);
        continue;
      }
      const format = formatOf(entry.name);
      if (!format || !isFile) {
        if (format && !isFile) skipped.push({ relPath: rel, reason: "not a regular file" });
        else ignored++;
        continue;
      }
      if (seenFiles.has(real)) {
        skipped.push({ relPath: rel, reason: "link to a file already read" });
        continue;
      }
      seenFiles.add(real);
      const st = await fs.stat(real).catch((e: NodeJS.ErrnoException) => e);
      if (st instanceof Error) {
        skipped.push({ relPath: rel, reason: `cannot read file (${st.code ?? "error"})` });
        continue;
      }
      if (st.size > maxBytes) {
        skipped.push({
          relPath: rel,
          reason: `too large (${(st.size / 1048576).toFixed(1)} MiB > ${(maxBytes / 1048576).toFixed(1)} MiB limit; raise it with --max-file-mb)`,
        });
        continue;
      }
      files.push({ relPath: rel, absPath: real, size: st.size, format });
    }
  }

  await walk(root, "");
  return { root, files, skipped, ignored };
}

export type LoadResult = { ok: true; doc: SourceDocument } | { ok: false; reason: string };

/** Reads, decodes and parses one file (bounded by `maxBytes`). Never throws for bad content. */
export async function loadDocument(file: FoundFile, maxBytes = DEFAULT_MAX_FILE_BYTES): Promise<LoadResult> {
  let bytes: Buffer;
  try {
    const handle = await fs.open(file.absPath, "r");
    try {
      const st = await handle.stat();
      if (st.size > maxBytes) return { ok: false, reason: `too large (${st.size} bytes)` };
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (e) {
    return { ok: false, reason: `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  const decoded = decodeText(bytes);
  if (!decoded.ok) return { ok: false, reason: decoded.reason };
  const text = decoded.text;
  const id = createHash("sha256").update(text).digest("hex").slice(0, 24);
  const lineCount = text.split("\n").length;
  const fallbackTitle = path.basename(file.relPath).replace(/\.[^.]+$/, "");
  if (file.format === "json") {
    const parsed = parseJson(text);
    if (!parsed.ok) return { ok: false, reason: parsed.reason };
    if (parsed.units.length === 0) return { ok: false, reason: "JSON holds no records" };
    return {
      ok: true,
      doc: { id, relPath: file.relPath, format: "json", title: parsed.title ?? fallbackTitle, lineCount, units: parsed.units, notes: decoded.notes },
    };
  }
  const parsed = parseMarkdown(text);
  if (parsed.units.length === 0) return { ok: false, reason: "no text content" };
  return {
    ok: true,
    doc: { id, relPath: file.relPath, format: file.format, title: parsed.title ?? fallbackTitle, lineCount, units: parsed.units, notes: decoded.notes },
  };
}
