import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { DEFAULT_MAX_FILE_BYTES } from "../config/defaults.ts";
import { describeError } from "../errors.ts";
import { capUnits } from "./capUnits.ts";
import { decodeText } from "./decodeText.ts";
import { displayName } from "./displayName.ts";
import { parseJson } from "./parseJson.ts";
import { parseMarkdown } from "./parseMarkdown.ts";
import { fileIdentity, readInputFile } from "./readInputFile.ts";
import type { SourceDocument, SourceFormat } from "./types.ts";

const FORMATS: Record<string, SourceFormat> = {
  ".md": "markdown",
  ".markdown": "markdown",
  ".txt": "text",
  ".json": "json",
};

/** Directories never descended into (tool state, not notes). */
const SKIP_DIRS = new Set(["node_modules", ".git", ".hg", ".svn"]);

export interface FoundFile {
  /** Path relative to the input directory; bytes that are not UTF-8 are shown escaped (`caf\xE9.md`). */
  relPath: string;
  /** Real path of the file (links resolved, always inside the input directory), for display. */
  absPath: string;
  /** The same real path as bytes: what the file is opened by (a name need not be valid UTF-8). */
  pathBytes: Buffer;
  size: number;
  format: SourceFormat;
  /** `dev:ino` when the scan saw it: loadDocument reads the file only if the same file is still there. */
  identity?: string;
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

function formatOf(name: string): SourceFormat | undefined {
  return FORMATS[path.extname(name).toLowerCase()];
}

/** Whether discovery reads a file of this name (by its extension), and whether it descends into a directory of this name. */
export function inputNameKind(name: string): "file" | "skipped-dir" | "other" {
  if (SKIP_DIRS.has(name)) return "skipped-dir";
  return formatOf(name) ? "file" : "other";
}

const SLASH = 0x2f;
function joinBytes(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.from([SLASH]), name]);
}

/** A lossless string key for a byte path (one character per byte). */
const keyOf = (p: Buffer) => p.toString("latin1");

/**
 * Walks the input directory. Only regular files with a supported extension (any case) are found;
 * links are followed only when their target stays inside the input directory, and each real
 * directory is entered once, so link loops end. Paths are handled as bytes, so names that are not
 * valid UTF-8 are read too (and shown escaped). Everything unusual is reported, never fatal.
 */
export async function scanInput(inputDir: string, options: ScanOptions = {}): Promise<InputScan> {
  const root = await fs.realpath(inputDir);
  const exclude = (await Promise.all((options.exclude ?? []).map(async (p) => fs.realpath(p).catch(() => path.resolve(p))))).map((p) => Buffer.from(p));
  const walk = new InputWalk(Buffer.from(root), exclude, options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
  await walk.run();
  const byPath = (a: { relPath: string }, b: { relPath: string }) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0);
  return { root, files: walk.files.sort(byPath), skipped: walk.skipped.sort(byPath), ignored: walk.ignored };
}

interface PendingLink {
  full: Buffer;
  rel: string;
  name: string;
}

/** One scan's walk: what it found, skipped and ignored, and what it has seen (so each real file and directory is read once). */
class InputWalk {
  readonly files: FoundFile[] = [];
  readonly skipped: SkippedFile[] = [];
  ignored = 0;
  private readonly visitedDirs: Set<string>;
  private readonly seenFiles = new Set<string>();
  // Links are handled after every real entry, so a real file or directory is always read under
  // its own name and a link to it is the one reported as the duplicate.
  private readonly pendingLinks: PendingLink[] = [];

  constructor(
    private readonly rootBytes: Buffer,
    private readonly exclude: readonly Buffer[],
    private readonly maxBytes: number,
  ) {
    this.visitedDirs = new Set([keyOf(rootBytes)]);
  }

  async run(): Promise<void> {
    await this.walk(this.rootBytes, "");
    while (this.pendingLinks.length > 0) {
      const link = this.pendingLinks.shift();
      if (link) await this.visitLink(link);
    }
  }

  private excluded(p: Buffer): boolean {
    return this.exclude.some((x) => under(p, x));
  }

  private skip(relPath: string, reason: string): void {
    this.skipped.push({ relPath, reason });
  }

  private async walk(dirReal: Buffer, relDir: string): Promise<void> {
    let entries: import("node:fs").Dirent<Buffer>[];
    try {
      entries = await fs.readdir(dirReal, { withFileTypes: true, encoding: "buffer" });
    } catch (e) {
      this.skip(relDir || ".", `cannot read directory (${(e as NodeJS.ErrnoException).code ?? "error"})`);
      return;
    }
    entries.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const entry of entries) {
      const name = displayName(entry.name);
      const rel = relDir ? `${relDir}/${name}` : name;
      const full = joinBytes(dirReal, entry.name);
      if (entry.isSymbolicLink()) this.pendingLinks.push({ full, rel, name });
      else await this.visit(full, full, rel, name, entry.isDirectory(), entry.isFile(), false);
    }
  }

  private async visitLink(link: PendingLink): Promise<void> {
    let real: Buffer;
    try {
      real = await fs.realpath(link.full, { encoding: "buffer" });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (formatOf(link.name) || code === "ELOOP") this.skip(link.rel, code === "ELOOP" ? "symbolic link loop" : "broken symbolic link");
      return;
    }
    if (!under(real, this.rootBytes)) {
      this.skip(link.rel, "link points outside the input directory (not followed)");
      return;
    }
    const st = await fs.stat(real).catch(() => undefined);
    await this.visit(link.full, real, link.rel, link.name, st?.isDirectory() ?? false, st?.isFile() ?? false, true);
  }

  private async visit(full: Buffer, real: Buffer, rel: string, name: string, isDir: boolean, isFile: boolean, viaLink: boolean): Promise<void> {
    if (this.excluded(real) || this.excluded(full)) return;
    if (isDir) await this.visitDir(real, rel, name, viaLink);
    else await this.visitFile(real, rel, name, isFile);
  }

  private async visitDir(real: Buffer, rel: string, name: string, viaLink: boolean): Promise<void> {
    if (SKIP_DIRS.has(name)) return;
    if (this.visitedDirs.has(keyOf(real))) {
      if (viaLink) this.skip(rel, "link to a directory already read (loop or duplicate), not followed");
      return;
    }
    this.visitedDirs.add(keyOf(real));
    await this.walk(real, rel);
  }

  private async visitFile(real: Buffer, rel: string, name: string, isFile: boolean): Promise<void> {
    const format = formatOf(name);
    if (!format || !isFile) {
      if (format && !isFile) this.skip(rel, "not a regular file");
      else this.ignored++;
      return;
    }
    if (this.seenFiles.has(keyOf(real))) {
      this.skip(rel, "link to a file already read");
      return;
    }
    this.seenFiles.add(keyOf(real));
    const st = await fs.stat(real, { bigint: true }).catch((e: NodeJS.ErrnoException) => e);
    if (st instanceof Error) {
      this.skip(rel, `cannot read file (${st.code ?? "error"})`);
      return;
    }
    const size = Number(st.size);
    if (size > this.maxBytes) {
      this.skip(rel, `too large (${(size / 1048576).toFixed(1)} MiB > ${(this.maxBytes / 1048576).toFixed(1)} MiB limit; raise it with --max-file-mb)`);
      return;
    }
    this.files.push({ relPath: rel, absPath: displayName(real), pathBytes: real, size, format, identity: fileIdentity(st) });
  }
}

/** Whether byte path `p` is `dir` or below it. */
function under(p: Buffer, dir: Buffer): boolean {
  return p.equals(dir) || (p.length > dir.length && p[dir.length] === SLASH && p.subarray(0, dir.length).equals(dir));
}

export type LoadResult = { ok: true; doc: SourceDocument } | { ok: false; reason: string };

/**
 * Reads, decodes and parses one file (bounded by `maxBytes`), the file the scan found and no other
 * (src/input/readInputFile.ts: no link followed, no FIFO waited on, no byte past the limit read).
 * Never throws for bad content.
 */
export async function loadDocument(file: FoundFile, maxBytes = DEFAULT_MAX_FILE_BYTES): Promise<LoadResult> {
  const read = await readInputFile(file.pathBytes, maxBytes, file.identity);
  if (!read.ok) return read;
  try {
    return parseDocument(file, read.bytes);
  } catch (e) {
    // A reader bug on one file's content never stops the run: the file is skipped with what went wrong.
    return { ok: false, reason: `could not be read: unexpected error in the reader (${describeError(e)}); report it if it repeats` };
  }
}

function parseDocument(file: FoundFile, bytes: Buffer): LoadResult {
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
    const capped = capUnits(parsed.units);
    const warnings = parsed.notes.length > 0 ? parsed.notes : capped.truncated ? [capped.truncated] : [];
    return {
      ok: true,
      doc: { id, relPath: file.relPath, format: "json", title: parsed.title ?? fallbackTitle, lineCount, units: capped.units, notes: decoded.notes, warnings },
    };
  }
  const parsed = parseMarkdown(text);
  if (parsed.units.length === 0) return { ok: false, reason: "no text content" };
  const capped = capUnits(parsed.units);
  const warnings = [...parsed.notes, ...(capped.truncated ? [capped.truncated] : [])];
  return {
    ok: true,
    doc: {
      id,
      relPath: file.relPath,
      format: file.format,
      title: parsed.title ?? fallbackTitle,
      lineCount,
      units: capped.units,
      notes: decoded.notes,
      warnings,
    },
  };
}
