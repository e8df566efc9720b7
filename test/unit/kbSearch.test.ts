import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runKbCommand } from "../../src/commands/kb/kbCommand.ts";
import { parseKbArgs } from "../../src/commands/kb/parseKbArgs.ts";
import { KnowledgeBase } from "../../src/kb/KnowledgeBase.ts";
import { OVERRIDES_FILE } from "../../src/kb/overridesFile.ts";
import { publishKnowledgeBase } from "../../src/kb/publish/publishKnowledgeBase.ts";
import { DRAFTS, fillKb } from "../fixtures/kb/contributions.ts";

let dir: string;
let out: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-search-"));
  out = path.join(dir, "kb");
  const kb = KnowledgeBase.open(out);
  fillKb(kb, DRAFTS);
  publishKnowledgeBase(kb, { judge: "none" });
  kb.close();
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function kb(...argv: string[]): { code: number; stdout: string; stderr: string } {
  const parsed = parseKbArgs([...argv, "--out", out]);
  if (parsed.kind !== "run") throw new Error(`parse: ${JSON.stringify(parsed)}`);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const code = runKbCommand(parsed.options, { stdout, stderr });
  return { code, stdout: stdout.read()?.toString() ?? "", stderr: stderr.read()?.toString() ?? "" };
}

function runKbSearch(kbDir: string, query: string): string[] {
  const parsed = parseKbArgs(["search", query, "--json", "--out", kbDir]);
  if (parsed.kind !== "run") throw new Error("parse");
  const stdout = new PassThrough();
  runKbCommand(parsed.options, { stdout, stderr: new PassThrough() });
  return (JSON.parse(stdout.read()?.toString() ?? "{}").hits as { slug: string }[]).map((h) => h.slug);
}

describe("npm run kb -- search", () => {
  it("ranks entries whose name or alias matches above entries that only mention the word", () => {
    const r = kb("search", "newtype", "--json");
    expect(r.code).toBe(0);
    const hits = JSON.parse(r.stdout).hits as { slug: string }[];
    expect(hits.map((h) => h.slug)).toEqual(["newtype", "builder"]);
  });

  it("finds lint names, guideline IDs, prefixes and words from the text", () => {
    const slugs = (q: string) => (JSON.parse(kb("search", q, "--json").stdout).hits as { slug: string }[]).map((h) => h.slug);
    expect(slugs("unwrap_used")).toEqual(expect.arrayContaining(["avoid-unwrap-on-result", "expect-with-a-message-instead-of-unwrap"]));
    expect(slugs("C-BUILDER")).toEqual(["builder"]);
    expect(slugs("mem::take")[0]).toBe("mem-take-and-mem-replace");
    expect(slugs("wrap")).toContain("newtype");
  });

  it("falls back to any word when no entry has every word, and says so when nothing matches", () => {
    expect(JSON.parse(kb("search", "builder", "zebra", "--json").stdout).hits[0].slug).toBe("builder");
    const none = kb("search", "zebra");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/No entry matches "zebra"/);
  });

  it("ranks the entry whose name holds every word first, above a name with some of the words and a short text with the rest", () => {
    // bm25 alone ranks "Shared closure ledger" first: its text is short and holds the other two words.
    const other = path.join(dir, "ledgers");
    const store = KnowledgeBase.open(other);
    const long = Array.from({ length: 120 }, (_, i) => `word${i % 40}`).join(" ");
    fillKb(store, [
      { relPath: "z.md", name: "Borrowed handle ledger", category: "ownership-borrowing", summary: `A ledger of loans kept next to the data. ${long}.` },
      { relPath: "a.md", name: "Shared closure ledger", category: "ownership-borrowing", summary: "Borrowed handle." },
      ...Array.from({ length: 20 }, (_, i) => ({
        relPath: `f${i}.md`,
        name: `Filler ${i} thing`,
        category: "other" as const,
        summary: "Something else about types.",
      })),
    ]);
    publishKnowledgeBase(store, { judge: "none" });
    store.close();
    expect(runKbSearch(other, "borrowed handle ledger")).toEqual(["borrowed-handle-ledger", "shared-closure-ledger"]);
  });

  it("treats FTS5 syntax in a query as plain words", () => {
    const r = kb("search", 'NEAR(builder AND "step', "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).hits.map((h: { slug: string }) => h.slug)).toContain("builder");
  });
});

describe("npm run kb -- show / list", () => {
  it("prints the entry page by slug, ID, alias or draft ID", () => {
    const bySlug = kb("show", "newtype");
    expect(bySlug.code).toBe(0);
    expect(bySlug.stdout).toBe(fs.readFileSync(path.join(out, "patterns", "newtype.md"), "utf8"));
    const id = /ID: `(kb-[0-9a-f]{8})`/.exec(bySlug.stdout)?.[1] ?? "";
    expect(kb("show", id).stdout).toBe(bySlug.stdout);
    expect(kb("show", "Wrapper types for type safety").stdout).toBe(bySlug.stdout);
    expect(kb("show", "patterns/newtype.md#newtype").stdout).toBe(bySlug.stdout);
    expect(JSON.parse(kb("show", "newtype", "--json").stdout).merges).toHaveLength(3);
  });

  it("suggests near matches for an unknown entry", () => {
    const r = kb("show", "builders");
    expect(r.code).toBe(0);
    const miss = kb("show", "fluent");
    expect(miss.code).toBe(1);
    expect(miss.stderr).toMatch(/Did you mean: fluent-builder-api/);
  });

  it("lists entries by category", () => {
    const r = kb("list");
    expect(r.stdout).toMatch(/^Ownership and borrowing \(1\)\n {2}mem-take-and-mem-replace/);
    expect(kb("list", "--category", "error-handling", "--json").stdout).toContain('"avoid-unwrap-on-result"');
    expect(kb("list", "--category", "nope").code).toBe(2);
  });

  it("fails with advice when --out holds no knowledge base", () => {
    const parsed = parseKbArgs(["list", "--out", path.join(dir, "missing")]);
    if (parsed.kind !== "run") throw new Error("parse");
    const stderr = new PassThrough();
    expect(runKbCommand(parsed.options, { stdout: new PassThrough(), stderr })).toBe(2);
    expect(stderr.read()?.toString()).toMatch(/There is no knowledge base[\s\S]*npm run graph/);
  });
});

describe("npm run kb -- separate / merge / rebuild", () => {
  it("records a separation in the overrides file, and rebuild applies it without a model", () => {
    const r = kb("separate", "notes/wrappers.md#wrapper-types-for-type-safety", "newtype");
    expect(r.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, OVERRIDES_FILE), "utf8"))).toEqual({
      merge: [],
      separate: [["api/type-safety.txt#newtypes-provide-static-distinctions", "notes/wrappers.md#wrapper-types-for-type-safety"]],
      aliases: {},
    });
    expect(kb("rebuild").code).toBe(0);
    // "newtype" named the entry's founder draft (api/type-safety.txt): it now stands alone, and the
    // larger group (the wrapper and patterns/newtype.md drafts) keeps the entry's ID and slug.
    const newtype = JSON.parse(kb("show", "newtype", "--json").stdout);
    expect(newtype.sources.map((s: { relPath: string }) => s.relPath)).toEqual(["notes/wrappers.md", "patterns/newtype.md"]);
    expect(JSON.parse(kb("show", "newtype-2", "--json").stdout).sources.map((s: { relPath: string }) => s.relPath)).toEqual(["api/type-safety.txt"]);
    // merge of the same pair replaces the separation.
    expect(kb("merge", "notes/wrappers.md#wrapper-types-for-type-safety", "api/type-safety.txt#newtypes-provide-static-distinctions").code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, OVERRIDES_FILE), "utf8")).separate).toEqual([]);
    kb("rebuild");
    expect(fs.existsSync(path.join(out, "patterns", "newtype-2.md"))).toBe(false);
  });

  it("rejects references that are neither drafts nor entries", () => {
    const r = kb("merge", "nope", "newtype");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"nope" is neither a draft ID/);
  });
});

describe("parseKbArgs", () => {
  it.each([
    [["search", "error", "handling"], { command: { kind: "search", query: "error handling", limit: 10 }, out: "./kb", json: false }],
    [["show", "newtype", "--out", "x", "--json"], { command: { kind: "show", ref: "newtype" }, out: "x", json: true }],
    [["list", "--category", "async"], { command: { kind: "list", category: "async" }, out: "./kb", json: false }],
    [["search", "x", "--limit", "3"], { command: { kind: "search", query: "x", limit: 3 }, out: "./kb", json: false }],
    [["rebuild"], { command: { kind: "rebuild" }, out: "./kb", json: false }],
  ])("%j", (argv, options) => {
    expect(parseKbArgs(argv)).toEqual({ kind: "run", options });
  });

  it.each([
    [[], /a command is required/],
    [["search"], /needs a query/],
    [["show"], /exactly one/],
    [["show", "a", "b"], /exactly one/],
    [["frobnicate"], /unknown command/],
    [["search", "x", "--limit", "0"], /--limit must be/],
    [["show", "x", "--limit", "2"], /applies to search only/],
    [["merge", "a"], /two draft IDs/],
    [["merge", "a", "a"], /two different/],
    [["list", "--out", ""], /--out needs a value/],
    [["list", "--bogus"], /Unknown option/],
  ])("rejects %j", (argv, message) => {
    const r = parseKbArgs(argv);
    expect(r.kind).toBe("error");
    if (r.kind === "error") expect(r.message).toMatch(message);
  });

  it("shows help", () => {
    expect(parseKbArgs(["--help"])).toEqual({ kind: "help" });
    expect(parseKbArgs(["search", "-h"])).toEqual({ kind: "help" });
  });
});
