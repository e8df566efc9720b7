/**
 * `npm run kb`: search, show and list entries; record merge/separate overrides; rebuild the pages
 * from the store; write the static site. The knowledge base is opened only when a command runs (nothing at import).
 */
import path from "node:path";
import { isUserError } from "../../errors.ts";
import { KnowledgeBase } from "../../kb/KnowledgeBase.ts";
import { OVERRIDES_FILE, readOverrides, writeOverrides } from "../../kb/overridesFile.ts";
import { keptMessage, publishKnowledgeBase } from "../../kb/publish/publishKnowledgeBase.ts";
import { publishSite } from "../../kb/publish/publishSite.ts";
import { siteKeptMessage } from "../../kb/publish/site/writeSite.ts";
import { renderEntryPage } from "../../kb/render.ts";
import { CATEGORIES } from "../../kb/taxonomy.ts";
import { draftIdOf } from "../../kb/types.ts";
import { OutputLock } from "../../store/OutputLock.ts";
import { terminalText } from "../../util/terminalText.ts";
import type { KbCommand, KbOptions } from "./parseKbArgs.ts";

export interface KbIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Commands that only read: they open the store read-only, take no lock and write nothing. */
const READ_ONLY: ReadonlySet<KbCommand["kind"]> = new Set(["search", "show", "list", "site"]);

export function runKbCommand(options: KbOptions, io: KbIo): number {
  let kb: KnowledgeBase | undefined;
  let lock: OutputLock | undefined;
  // Names and model text in entries are data: no control character reaches the terminal.
  const safeIo: KbIo = { stdout: filtered(io.stdout), stderr: filtered(io.stderr) };
  try {
    if (READ_ONLY.has(options.command.kind)) kb = KnowledgeBase.openReadOnly(options.out);
    else {
      // merge/separate/rebuild write: one writer per output directory, as a graph run; the lock comes first.
      const dir = KnowledgeBase.requireExisting(options.out);
      lock = OutputLock.acquire(dir, { runId: `kb-${options.command.kind}-${process.pid}`, db: "" }, { breakLock: options.breakLock === true });
      kb = KnowledgeBase.open(dir);
    }
    return execute(kb, options, safeIo);
  } catch (e) {
    if (isUserError(e)) {
      safeIo.stderr.write(`error: ${e.message}\n${e.hint ? `${e.hint}\n` : ""}`);
      return e.code === "USAGE" ? 2 : 1;
    }
    throw e;
  } finally {
    lock?.release();
    kb?.close();
  }
}

function filtered(stream: NodeJS.WritableStream): NodeJS.WritableStream {
  return { write: (s: string) => stream.write(terminalText(s)) } as NodeJS.WritableStream;
}

/** What each command does: one step per kind. */
function execute(kb: KnowledgeBase, options: KbOptions, io: KbIo): number {
  const { command } = options;
  const ctx: Ctx = { kb, io, json: options.json, out: (s: string) => io.stdout.write(`${s}\n`) };
  switch (command.kind) {
    case "search":
      return search(ctx, command);
    case "show":
      return show(ctx, command);
    case "list":
      return list(ctx, command);
    case "merge":
    case "separate":
      return recordOverride(ctx, command, options.out);
    case "rebuild":
      return rebuild(ctx);
    case "site":
      return site(ctx, command);
  }
}

interface Ctx {
  kb: KnowledgeBase;
  io: KbIo;
  json: boolean;
  /** A line on stdout. */
  out: (s: string) => void;
}

type CommandOf<K extends KbCommand["kind"]> = Extract<KbCommand, { kind: K }>;

function search({ kb, io, json, out }: Ctx, command: CommandOf<"search">): number {
  const hits = kb.search(command.query, command.limit);
  if (json) out(JSON.stringify({ type: "search", query: command.query, hits }));
  else if (hits.length === 0) io.stderr.write(`No entry matches "${command.query}".\n`);
  else for (const h of hits) out(`${h.slug}  ${h.name}  (${h.category})\n    ${h.snippet}`);
  return hits.length > 0 ? 0 : 1;
}

function show({ kb, io, json, out }: Ctx, command: CommandOf<"show">): number {
  const entry = kb.findEntry(command.ref);
  if (!entry) {
    const near = kb.search(command.ref, 5);
    io.stderr.write(`No entry "${command.ref}" in ${kb.outDir}.${near.length > 0 ? ` Did you mean: ${near.map((h) => h.slug).join(", ")}?` : ""}\n`);
    return 1;
  }
  out(json ? JSON.stringify(entry) : renderEntryPage(entry).trimEnd());
  return 0;
}

function list({ kb, io, json, out }: Ctx, command: CommandOf<"list">): number {
  const entries = kb.entries().filter((e) => command.category === undefined || e.category === command.category);
  if (command.category !== undefined && !CATEGORIES.some((c) => c.id === command.category)) {
    io.stderr.write(`error: unknown category "${command.category}"; one of: ${CATEGORIES.map((c) => c.id).join(", ")}\n`);
    return 2;
  }
  if (json) {
    out(JSON.stringify({ type: "list", entries: entries.map((e) => ({ id: e.id, slug: e.slug, name: e.name, category: e.category })) }));
    return 0;
  }
  for (const cat of CATEGORIES) {
    const inCategory = entries.filter((e) => e.category === cat.id);
    if (inCategory.length === 0) continue;
    out(`${cat.title} (${inCategory.length})`);
    for (const e of inCategory) out(`  ${e.slug}  ${e.name}`);
  }
  if (entries.length === 0) io.stderr.write("No entries.\n");
  return 0;
}

/** merge/separate: records the decision for a pair of drafts in the overrides file. */
function recordOverride({ kb, io, json, out }: Ctx, command: CommandOf<"merge" | "separate">, outDir: string): number {
  const a = draftRef(kb, command.a);
  const b = draftRef(kb, command.b);
  for (const [ref, id] of [
    [command.a, a],
    [command.b, b],
  ] as const) {
    if (!id) {
      io.stderr.write(`error: "${ref}" is neither a draft ID (see the merge record of \`npm run kb -- show SLUG\`) nor an entry slug.\n`);
      return 2;
    }
  }
  if (!a || !b) return 2;
  if (a === b) {
    io.stderr.write(`error: both references name the draft ${a}.\n`);
    return 2;
  }
  const o = readOverrides(kb.outDir);
  const same = ([x, y]: [string, string]) => (x === a && y === b) || (x === b && y === a);
  if (command.kind === "merge") o.merge = [...o.merge.filter((p) => !same(p)), [a, b]];
  else o.separate = [...o.separate.filter((p) => !same(p)), [a, b]];
  // The newer decision wins over an opposite older one.
  if (command.kind === "merge") o.separate = o.separate.filter((p) => !same(p));
  else o.merge = o.merge.filter((p) => !same(p));
  writeOverrides(kb.outDir, o);
  const msg = `Recorded in ${OVERRIDES_FILE}: ${command.kind} ${a} and ${b}. Apply it now with \`npm run kb -- rebuild --out ${outDir}\`, or with the next run.`;
  if (json) out(JSON.stringify({ type: command.kind, a, b }));
  else io.stderr.write(`${msg}\n`);
  return 0;
}

function rebuild({ kb, io, json, out }: Ctx): number {
  const r = publishKnowledgeBase(kb);
  if (json) out(JSON.stringify({ type: "rebuild", ...r }));
  else {
    io.stderr.write(`Rebuilt ${kb.outDir}: ${r.entries} entries, ${r.changedEntries.length} changed, ${r.written.length} files written.\n`);
    if (r.unknownOverrideIds.length > 0) io.stderr.write(`Overrides name drafts that do not exist: ${r.unknownOverrideIds.join(", ")}\n`);
    if (r.kept.length > 0) io.stderr.write(`${keptMessage(r.kept)}\n`);
  }
  return 0;
}

function site({ kb, io, json, out }: Ctx, command: CommandOf<"site">): number {
  const dir = command.dir ?? path.join(kb.outDir, "site");
  const r = publishSite(kb, dir);
  if (json) out(JSON.stringify({ type: "site", dir: r.dir, files: r.files.length, written: r.written, removed: r.removed, kept: r.kept }));
  else {
    io.stderr.write(`Wrote the site to ${r.dir}: ${r.files.length} files, ${r.written.length} changed. Open ${path.join(r.dir, "index.html")} in a browser.\n`);
    if (r.kept.length > 0) io.stderr.write(`${siteKeptMessage(r.kept)}\n`);
  }
  return 0;
}

/** A draft ID as given, else the founder draft of the entry with this slug, ID or name. */
function draftRef(kb: KnowledgeBase, ref: string): string | undefined {
  if (kb.contributions().some((c) => draftIdOf(c) === ref)) return ref;
  return kb.findEntry(ref)?.merges[0]?.draftId;
}
