import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KnowledgeBase } from "../../src/kb/KnowledgeBase.ts";
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
    kb.finalize({ judge: "none" });
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
    kb.finalize({ judge: "none" });
    const other = KnowledgeBase.open(path.join(dir, "kb2"));
    try {
      fillKb(other, DRAFTS, [...new Set(DRAFTS.map((d) => d.relPath))].reverse());
      other.finalize({ judge: "none" });
      expect(files(other.outDir)).toEqual(files(kb.outDir));
      expect(other.entries().map((e) => [e.id, e.slug])).toEqual(kb.entries().map((e) => [e.id, e.slug]));
    } finally {
      other.close();
    }
  });

  it("writes kb.json that its own schema accepts, and kb.schema.json generated from the zod schema", () => {
    fillKb(kb, DRAFTS);
    kb.finalize({ judge: "none" });
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
    kb.finalize({ judge: "none" });
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
    kb.finalize({ judge: "none" });
    expect(kb.entries()[0]?.example?.relPath).toBe("b.md");
    fillKb(kb, [{ ...base, relPath: "d.md", code: "struct D(u8);", verified: "compiles" as const }]);
    kb.finalize({ judge: "none" });
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
    kb.finalize({ judge: "none" });
    const ids = kb.entries().map((e) => [e.slug, e.id]);
    const again = kb.finalize({ judge: "none" });
    expect(again.written).toEqual([]);
    expect(again.changedEntries).toEqual([]);

    const changed = DRAFTS.filter((d) => d.relPath === "idioms/mem-replace.md").map((d) => contribution({ ...d, summary: `${d.summary} It never clones.` }));
    kb.replaceFile("idioms/mem-replace.md", changed, []);
    const r = kb.finalize({ judge: "none" });
    const memId = kb.entries().find((e) => e.slug === "mem-take-and-mem-replace")?.id;
    expect(r.changedEntries).toEqual([memId]);
    expect(r.written).toEqual(["categories/ownership-borrowing.md", "kb.json", "patterns/mem-take-and-mem-replace.md"]);
    expect(kb.entries().map((e) => [e.slug, e.id])).toEqual(ids);
  });

  it("removes the page of an entry whose only file left the input, and the entry comes back with the same ID", () => {
    fillKb(kb, DRAFTS);
    kb.finalize({ judge: "none" });
    const id = kb.entries().find((e) => e.slug === "mem-take-and-mem-replace")?.id;
    kb.removeFilesNotIn(new Set(DRAFTS.map((d) => d.relPath).filter((p) => p !== "idioms/mem-replace.md")));
    const r = kb.finalize({ judge: "none" });
    expect(r.written).toContain("patterns/mem-take-and-mem-replace.md");
    expect(fs.existsSync(path.join(kb.outDir, "patterns", "mem-take-and-mem-replace.md"))).toBe(false);
    expect(fs.existsSync(path.join(kb.outDir, "categories", "ownership-borrowing.md"))).toBe(false);
    fillKb(
      kb,
      DRAFTS.filter((d) => d.relPath === "idioms/mem-replace.md"),
    );
    kb.finalize({ judge: "none" });
    expect(kb.entries().find((e) => e.slug === "mem-take-and-mem-replace")?.id).toBe(id);
  });
});
