import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { KnowledgeBase } from "../../src/kb/KnowledgeBase.ts";
import { publishKnowledgeBase } from "../../src/kb/publish/publishKnowledgeBase.ts";
import { mergeEntry, renderEntryPage } from "../../src/kb/render.ts";
import { KbJsonSchema, kbJsonSchemaText } from "../../src/kb/schema.ts";
import { contribution, DRAFTS, fillKb } from "../fixtures/kb/contributions.ts";

const GOLDEN = path.resolve(import.meta.dirname, "../fixtures/kb/golden");
let dir: string;
let kb: KnowledgeBase;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-render-"));
  kb = KnowledgeBase.open(path.join(dir, "kb"));
});
afterEach(() => {
  kb.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The run the golden KB is built by: its input is `<tmp>/notes`, beside the KB, so sources link to `../../notes/…`. */
const run = () => ({ runId: "golden", inputDir: path.join(dir, "notes"), files: [] });

function files(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      if (name === ".kb") continue;
      const full = path.join(d, name);
      if (fs.statSync(full).isDirectory()) walk(full);
      else out.set(path.relative(root, full), fs.readFileSync(full, "utf8"));
    }
  };
  walk(root);
  return out;
}

describe("deterministic rendering", () => {
  it("matches the golden files (UPDATE_GOLDEN=1 rewrites them)", () => {
    fillKb(kb, DRAFTS);
    publishKnowledgeBase(kb, { judge: "none", run: run() });
    const got = files(kb.outDir);
    if (process.env.UPDATE_GOLDEN === "1") {
      fs.rmSync(GOLDEN, { recursive: true, force: true });
      for (const [rel, text] of got) {
        fs.mkdirSync(path.dirname(path.join(GOLDEN, rel)), { recursive: true });
        fs.writeFileSync(path.join(GOLDEN, rel), text);
      }
    }
    const want = files(GOLDEN);
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [rel, text] of want) expect(got.get(rel), rel).toBe(text);
  });

  it("gives stable slugs and IDs: a fresh knowledge base over the same drafts, stored in another order, writes the same bytes", () => {
    fillKb(kb, DRAFTS);
    publishKnowledgeBase(kb, { judge: "none", run: run() });
    const other = KnowledgeBase.open(path.join(dir, "kb2"));
    try {
      fillKb(other, DRAFTS, [...new Set(DRAFTS.map((d) => d.relPath))].reverse());
      publishKnowledgeBase(other, { judge: "none", run: run() });
      expect(files(other.outDir)).toEqual(files(kb.outDir));
      expect(other.entries().map((e) => [e.id, e.slug])).toEqual(kb.entries().map((e) => [e.id, e.slug]));
    } finally {
      other.close();
    }
  });

  it("writes kb.json that its own schema accepts, and kb.schema.json generated from the zod schema", () => {
    fillKb(kb, DRAFTS);
    publishKnowledgeBase(kb, { judge: "none" });
    const data = JSON.parse(fs.readFileSync(path.join(kb.outDir, "kb.json"), "utf8"));
    expect(KbJsonSchema.safeParse(data).success).toBe(true);
    expect(data.entries.map((e: { slug: string }) => e.slug)).toEqual(kb.entries().map((e) => e.slug));
    expect(fs.readFileSync(path.join(kb.outDir, "kb.schema.json"), "utf8")).toBe(kbJsonSchemaText());
    const schema = JSON.parse(kbJsonSchemaText());
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.properties.entries.items.required).toEqual(expect.arrayContaining(["id", "slug", "category", "tags", "related", "crossRefs", "merges"]));
  });

  it("links related entries both ways", () => {
    fillKb(kb, DRAFTS);
    publishKnowledgeBase(kb, { judge: "none" });
    const entries = kb.entries();
    for (const e of entries)
      for (const r of e.related)
        expect(
          entries.find((o) => o.id === r.id)?.related.map((x) => x.id),
          `${e.slug} -> ${r.slug}`,
        ).toContain(e.id);
    const unwrap = entries.find((e) => e.slug === "avoid-unwrap-on-result");
    expect(unwrap?.related.map((r) => [r.slug, r.why])).toEqual([
      ["expect-with-a-message-instead-of-unwrap", ["both cite unwrap_used", "same source: clippy/lints.json"]],
    ]);
  });
});

describe("the best example", () => {
  it("prefers a compiling example, then one that parses, over one that fails, whatever the file order", () => {
    const base = { name: "Newtype", category: "type-safety" as const, summary: "Wrap a type in a tuple struct." };
    const drafts = [
      { ...base, relPath: "a.md", code: "struct A(u8);\nfn f() {}\nfn g() {}", verified: "fails" as const },
      { ...base, relPath: "b.md", code: "struct B(u8);\nfn f() {}\nfn g() {}", verified: "parses-only" as const },
      { ...base, relPath: "c.md", code: "struct C(u8);" },
    ];
    fillKb(kb, drafts);
    publishKnowledgeBase(kb, { judge: "none" });
    expect(kb.entries()[0]?.example?.relPath).toBe("b.md");
    fillKb(kb, [{ ...base, relPath: "d.md", code: "struct D(u8);", verified: "compiles" as const }]);
    publishKnowledgeBase(kb, { judge: "none" });
    const entry = kb.entries()[0];
    expect(entry?.example?.relPath).toBe("d.md");
    expect(fs.readFileSync(path.join(kb.outDir, "patterns", "newtype.md"), "utf8")).toContain("Verification: compiles — checked: compiles.");
    expect(entry?.sources.map((s) => s.verification.split("; ").at(-1))).toEqual([
      "example fails",
      "example parses-only",
      "example not compile-checked",
      "example compiles",
    ]);
  });
});

describe("incremental update", () => {
  it("rewrites only the changed entry's page (plus the index and lists that quote it) and keeps every ID", () => {
    fillKb(kb, DRAFTS);
    publishKnowledgeBase(kb, { judge: "none" });
    const ids = kb.entries().map((e) => [e.slug, e.id]);
    const again = publishKnowledgeBase(kb, { judge: "none" });
    expect(again.written).toEqual([]);
    expect(again.changedEntries).toEqual([]);

    const changed = DRAFTS.filter((d) => d.relPath === "idioms/mem-replace.md").map((d) => contribution({ ...d, summary: `${d.summary} It never clones.` }));
    kb.replaceFile("idioms/mem-replace.md", changed, []);
    const r = publishKnowledgeBase(kb, { judge: "none" });
    const memId = kb.entries().find((e) => e.slug === "mem-take-and-mem-replace")?.id;
    expect(r.changedEntries).toEqual([memId]);
    expect(r.written).toEqual(["categories/ownership-borrowing.md", "kb.json", "patterns/mem-take-and-mem-replace.md"]);
    expect(kb.entries().map((e) => [e.slug, e.id])).toEqual(ids);
  });

  it("removes the page of an entry whose only file left the input, and the entry comes back with the same ID", () => {
    fillKb(kb, DRAFTS);
    publishKnowledgeBase(kb, { judge: "none" });
    const id = kb.entries().find((e) => e.slug === "mem-take-and-mem-replace")?.id;
    kb.removeFilesNotIn(new Set(DRAFTS.map((d) => d.relPath).filter((p) => p !== "idioms/mem-replace.md")));
    const r = publishKnowledgeBase(kb, { judge: "none" });
    expect(r.written).toContain("patterns/mem-take-and-mem-replace.md");
    expect(fs.existsSync(path.join(kb.outDir, "patterns", "mem-take-and-mem-replace.md"))).toBe(false);
    expect(fs.existsSync(path.join(kb.outDir, "categories", "ownership-borrowing.md"))).toBe(false);
    fillKb(
      kb,
      DRAFTS.filter((d) => d.relPath === "idioms/mem-replace.md"),
    );
    publishKnowledgeBase(kb, { judge: "none" });
    expect(kb.entries().find((e) => e.slug === "mem-take-and-mem-replace")?.id).toBe(id);
  });
});

describe("pages for note-taking tools", () => {
  /** The YAML block at the top of a page, parsed. */
  function frontMatter(page: string): Record<string, unknown> {
    const m = /^---\n([\s\S]*?)\n---\n/.exec(page);
    expect(m, "page starts with a front-matter block").not.toBeNull();
    return parseYaml(m?.[1] ?? "") as Record<string, unknown>;
  }

  it("starts every pattern page with YAML front matter: id, name, aliases, category, tags, sources and verification", () => {
    fillKb(kb, DRAFTS);
    publishKnowledgeBase(kb, { judge: "none", run: run() });
    for (const e of kb.entries()) {
      const fm = frontMatter(fs.readFileSync(path.join(kb.outDir, "patterns", `${e.slug}.md`), "utf8"));
      expect(fm).toMatchObject({ id: e.id, name: e.name, title: e.name, aliases: e.aliases, category: e.category, tags: e.tags });
      expect((fm.sources as { path: string }[]).map((s) => s.path)).toEqual(e.sources.map((s) => s.relPath));
      expect((fm.verification as { example: string }).example).toBe(e.example ? (e.example.verification?.status ?? "unchecked") : "none");
    }
    const newtype = frontMatter(fs.readFileSync(path.join(kb.outDir, "patterns", "newtype.md"), "utf8"));
    expect((newtype.sources as unknown[])[2]).toEqual({
      path: "patterns/newtype.md",
      lines: ["1-9"],
      link: "../../notes/patterns/newtype.md#L1-L9",
      verification: "grounding checks passed; model review passed; example compiles",
    });
  });

  it("keeps model text inside quoted YAML scalars: a name that tries to close the block adds no key", () => {
    const hostile = 'Evil"\n---\nid: hijacked\n# not a heading \u007f';
    const entry = mergeEntry([contribution({ relPath: "x.md", name: hostile, category: "other", summary: "s" })]);
    const fm = frontMatter(renderEntryPage(entry));
    expect(fm.id).toBe(entry.id);
    expect(fm.name).toBe(hostile);
    expect(Object.keys(fm).sort()).toEqual(["aliases", "category", "id", "name", "sources", "tags", "title", "verification"]);
  });

  it("links sources to the input file and line span, relative to the page, and every such link resolves", () => {
    const notes = path.join(dir, "notes");
    for (const rel of new Set(DRAFTS.map((d) => d.relPath))) {
      fs.mkdirSync(path.dirname(path.join(notes, rel)), { recursive: true });
      fs.writeFileSync(path.join(notes, rel), "x\n".repeat(20));
    }
    fillKb(kb, DRAFTS);
    publishKnowledgeBase(kb, { judge: "none", run: run() });
    let links = 0;
    for (const sub of ["patterns", "categories"])
      for (const name of fs.readdirSync(path.join(kb.outDir, sub))) {
        const page = fs.readFileSync(path.join(kb.outDir, sub, name), "utf8");
        for (const m of page.matchAll(/\]\((\.\.\/\.\.\/notes\/[^)#]+)(#L(\d+)(?:-L(\d+))?)?\)/g)) {
          links++;
          const target = path.resolve(kb.outDir, sub, decodeURIComponent(m[1] ?? ""));
          expect(fs.existsSync(target), `${sub}/${name} -> ${m[1]}`).toBe(true);
          if (m[3]) expect(Number(m[4] ?? m[3])).toBeLessThanOrEqual(20);
        }
      }
    expect(links).toBeGreaterThan(20);
    const page = fs.readFileSync(path.join(kb.outDir, "patterns", "newtype.md"), "utf8");
    expect(page).toContain("From `patterns/newtype.md` [lines 10-13](../../notes/patterns/newtype.md#L10-L13) (C1)");
    // The quarantine page (at the KB's root) links its drafts' files too.
    const fluent = DRAFTS.filter((d) => d.relPath === "notes/fluent.md").map(contribution);
    kb.replaceFile("notes/fluent.md", fluent, [
      { relPath: "notes/fluent.md", patternKey: "p9", name: "Broken draft", problems: ["cites S9, which does not exist"] },
    ]);
    publishKnowledgeBase(kb, { judge: "none", run: run() });
    const quarantine = fs.readFileSync(path.join(kb.outDir, "quarantine.md"), "utf8");
    expect(quarantine).toContain("## Broken draft — [`notes/fluent.md`](../notes/notes/fluent.md) (p9)");
    expect(fs.existsSync(path.resolve(kb.outDir, "../notes/notes/fluent.md"))).toBe(true);
    // `npm run kb -- rebuild` (no run) keeps the links of the run that built the KB.
    fs.rmSync(path.join(kb.outDir, "patterns", "newtype.md"));
    publishKnowledgeBase(kb, { judge: "none" });
    expect(fs.readFileSync(path.join(kb.outDir, "patterns", "newtype.md"), "utf8")).toBe(page);
  });

  it("names sources by path and lines when the input directory is unknown, and no page holds an absolute path", () => {
    fillKb(kb, DRAFTS);
    publishKnowledgeBase(kb, { judge: "none" });
    const got = files(kb.outDir);
    const newtype = got.get(path.join("patterns", "newtype.md")) ?? "";
    expect(newtype).toContain("- `patterns/newtype.md` (S1 lines 1-9)");
    expect(newtype).not.toContain("](../../");
    expect(frontMatter(newtype).sources).toEqual(expect.arrayContaining([expect.not.objectContaining({ link: expect.anything() })]));
    for (const [rel, text] of got) {
      expect(text, rel).not.toContain(dir);
      expect(text, rel).not.toContain("file://");
    }
    // A legacy file:// citation of rustup's docs is published as its doc.rust-lang.org page.
    expect(got.get(path.join("patterns", "mem-take-and-mem-replace.md"))).toContain("[std: Function take](https://doc.rust-lang.org/std/mem/fn.take.html)");
  });
});
