import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { DEFAULT_MAX_FILE_BYTES } from "../config/defaults.ts";
import { describeError } from "../errors.ts";
import { BIDI_CONTROL_CLASS } from "../util/bidiControls.ts";
import { capUnits } from "./capUnits.ts";
import { decodeText } from "./decodeText.ts";
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
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Characters a name may not show as they are: C0 and C1 controls (newline and tab included), DEL, bidi controls. */
const UNSAFE_IN_NAME = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f${BIDI_CONTROL_CLASS}]`);

/**
 * A file name as text: UTF-8 as it is, unless it is not valid UTF-8 or holds a character a name
 * may not show (a newline would print a fake progress line; a bidi override would show another
 * name): then each such byte, and each byte that is not part of valid UTF-8, is written `\xHH` (a
 * Latin-1 `café` is `caf\xE9`, `a<newline>b` is `a\x0Ab`). A backslash in such a name is doubled,
 * so its escapes read back unambiguously; a valid name that literally holds `\xE9` still shows the same.
 */
function displayName(bytes: Uint8Array): string {
  try {
    const text = utf8.decode(bytes);
    if (!UNSAFE_IN_NAME.test(text)) return text;
  } catch {
    // not UTF-8: escaped below
  }
  const hex = (b: Uint8Array) => [...b].map((x) => `\\x${x.toString(16).toUpperCase().padStart(2, "0")}`).join("");
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const n = utf8SequenceLength(bytes, i);
    if (n > 0) {
      const ch = utf8.decode(bytes.subarray(i, i + n));
      out += ch === "\\" ? "\\\\" : UNSAFE_IN_NAME.test(ch) ? hex(bytes.subarray(i, i + n)) : ch;
      i += n;
    } else {
      out += hex(bytes.subarray(i, i + 1));
      i++;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there does not start one. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i] ?? 0;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const x = b[i + k];
    return x !== undefined && x >= lo && x <= hi;
  };
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

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
  const rootBytes = Buffer.from(root);
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const exclude = (await Promise.all((options.exclude ?? []).map(async (p) => fs.realpath(p).catch(() => path.resolve(p))))).map((p) => Buffer.from(p));
  const files: FoundFile[] = [];
  const skipped: SkippedFile[] = [];
  let ignored = 0;
  const visitedDirs = new Set<string>([keyOf(rootBytes)]);
  const seenFiles = new Set<string>();

  const under = (p: Buffer, dir: Buffer) => p.equals(dir) || (p.length > dir.length && p[dir.length] === SLASH && p.subarray(0, dir.length).equals(dir));
  const inside = (p: Buffer) => under(p, rootBytes);
  const excluded = (p: Buffer) => exclude.some((x) => under(p, x));

  // Links are handled after every real entry, so a real file or directory is always read under
  // its own name and a link to it is the one reported as the duplicate.
  const pendingLinks: { full: Buffer; rel: string; name: string }[] = [];

  async function walk(dirReal: Buffer, relDir: string): Promise<void> {
    let entries: import("node:fs").Dirent<Buffer>[];
    try {
      entries = await fs.readdir(dirReal, { withFileTypes: true, encoding: "buffer" });
    } catch (e) {
      skipped.push({ relPath: relDir || ".", reason: `cannot read directory (${(e as NodeJS.ErrnoException).code ?? "error"})` });
      return;
    }
    entries.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const entry of entries) {
      const name = displayName(entry.name);
      const rel = relDir ? `${relDir}/${name}` : name;
      const full = joinBytes(dirReal, entry.name);
      if (entry.isSymbolicLink()) pendingLinks.push({ full, rel, name });
      else await visit(full, full, rel, name, entry.isDirectory(), entry.isFile(), false);
    }
  }

  async function visitLink(link: { full: Buffer; rel: string; name: string }): Promise<void> {
    let real: Buffer;
    try {
      real = await fs.realpath(link.full, { encoding: "buffer" });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (formatOf(link.name) || code === "ELOOP")
        skipped.push({ relPath: link.rel, reason: code === "ELOOP" ? "symbolic link loop" : "broken symbolic link" });
      return;
    }
    if (!inside(real)) {
      skipped.push({ relPath: link.rel, reason: "link points outside the input directory (not followed)" });
      return;
    }
    const st = await fs.stat(real).catch(() => undefined);
    await visit(link.full, real, link.rel, link.name, st?.isDirectory() ?? false, st?.isFile() ?? false, true);
  }

  async function visit(full: Buffer, real: Buffer, rel: string, name: string, isDir: boolean, isFile: boolean, viaLink: boolean): Promise<void> {
    if (excluded(real) || excluded(full)) return;
    if (isDir) {
      if (SKIP_DIRS.has(name)) return;
      if (visitedDirs.has(keyOf(real))) {
        if (viaLink) skipped.push({ relPath: rel, reason: "link to a directory already read (loop or duplicate), not followed" });
        return;
      }
      visitedDirs.add(keyOf(real));
      await walk(real, rel);
      return;
    }
    const format = formatOf(name);
    if (!format || !isFile) {
      if (format && !isFile) skipped.push({ relPath: rel, reason: "not a regular file" });
      else ignored++;
      return;
    }
    if (seenFiles.has(keyOf(real))) {
      skipped.push({ relPath: rel, reason: "link to a file already read" });
      return;
    }
    seenFiles.add(keyOf(real));
    const st = await fs.stat(real, { bigint: true }).catch((e: NodeJS.ErrnoException) => e);
    if (st instanceof Error) {
      skipped.push({ relPath: rel, reason: `cannot read file (${st.code ?? "error"})` });
      return;
    }
    const size = Number(st.size);
    if (size > maxBytes) {
      skipped.push({
        relPath: rel,
        reason: `too large (${(size / 1048576).toFixed(1)} MiB > ${(maxBytes / 1048576).toFixed(1)} MiB limit; raise it with --max-file-mb)`,
      });
      return;
    }
    files.push({ relPath: rel, absPath: displayName(real), pathBytes: real, size, format, identity: fileIdentity(st) });
  }

  await walk(rootBytes, "");
  while (pendingLinks.length > 0) {
    const link = pendingLinks.shift();
    if (link) await visitLink(link);
  }
  files.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  skipped.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  return { root, files, skipped, ignored };
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
