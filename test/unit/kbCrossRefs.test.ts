import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { loadDocument, scanInput } from "../../src/input/scanInput.ts";
import { clippyLintUrl, extractCrossRefs, guidelineUrl } from "../../src/kb/crossrefs.ts";
import { sharedCorpus } from "../helpers/scriptedBackend.ts";

interface LabelFile {
  path: string;
  patterns: { id: string }[];
}
const labels = JSON.parse(fs.readFileSync(sharedCorpus("rust-research.labels.json"), "utf8")) as { files: LabelFile[] };

async function docsUnder(sub: string) {
  const scan = await scanInput(sharedCorpus("rust-research", sub));
  const docs = [];
  for (const f of scan.files) {
    const loaded = await loadDocument(f);
    if (!loaded.ok) throw new Error(`${f.relPath}: ${loaded.reason}`);
    docs.push({ rel: `${sub}/${f.relPath}`, doc: loaded.doc });
  }
  return docs;
}

const idsOf = (rel: string) => (labels.files.find((f) => f.path === rel)?.patterns ?? []).map((p) => p.id).sort();

describe("cross-references from the shared corpus", () => {
  it("finds exactly the labelled lint names in each Clippy JSON file, whatever its shape", async () => {
    const docs = await docsUnder("clippy");
    expect(docs).toHaveLength(5);
    for (const { rel, doc } of docs) {
      const refs = extractCrossRefs(doc.units);
      expect(refs.clippy, rel).toEqual(idsOf(rel));
      expect(refs.guidelines, rel).toEqual([]);
    }
  });

  it("finds one lint per lint record (the unit a draft cites)", async () => {
    const [first] = await docsUnder("clippy");
    const records = first?.doc.units.filter((u) => u.kind === "record") ?? [];
    expect(records.length).toBeGreaterThan(10);
    for (const r of records) expect(extractCrossRefs([r]).clippy.length, r.title).toBeGreaterThanOrEqual(1);
  });

  it("finds every labelled guideline ID in each API Guidelines file (plus the ones a chapter links to)", async () => {
    const docs = await docsUnder("api-guidelines");
    expect(docs).toHaveLength(5);
    for (const { rel, doc } of docs) {
      const refs = extractCrossRefs(doc.units);
      expect(refs.guidelines, rel).toEqual(expect.arrayContaining(idsOf(rel)));
      expect(refs.clippy, rel).toEqual([]);
    }
    const predictability = docs.find((d) => d.rel.endsWith("predictability.md"));
    expect(extractCrossRefs(predictability?.doc.units ?? []).guidelines).toEqual(
      [...idsOf("api-guidelines/predictability.md"), "C-BUILDER", "C-CONV-TRAITS"].sort(),
    );
  });

  it("names the section's own guideline when a draft cites one section", async () => {
    const docs = await docsUnder("api-guidelines");
    const naming = docs.find((d) => d.rel.endsWith("naming.md"))?.doc;
    const section = naming?.units.find((u) => u.title.includes("(C-GETTER)"));
    expect(section).toBeDefined();
    expect(extractCrossRefs(section ? [section] : []).guidelines).toContain("C-GETTER");
  });

  it("reads lints from clippy:: paths and doc URLs, ignores lint groups, and accepts unknown C-IDs only as references", () => {
    const refs = extractCrossRefs([
      { kind: "section", title: "Notes", text: "#![deny(clippy::pedantic)]\n#[allow(clippy::needless_range_loop)]" },
      { kind: "section", title: "Links", text: "See https://rust-lang.github.io/rust-clippy/master/index.html#ptr_arg and C-style loops." },
      { kind: "section", title: "New (C-FUTURE-THING)", text: "C-ABI is not a guideline; [C-CONV](#c-conv) is; so is #c-getter." },
    ]);
    expect(refs).toEqual({ clippy: ["needless_range_loop", "ptr_arg"], guidelines: ["C-CONV", "C-FUTURE-THING", "C-GETTER"] });
  });

  it("finds nothing in the rust-patterns chapters that do not name lints or guidelines", async () => {
    const docs = await docsUnder("rust-patterns");
    const named = docs.map(({ rel, doc }) => ({ rel, refs: extractCrossRefs(doc.units) })).filter((d) => d.refs.clippy.length + d.refs.guidelines.length > 0);
    expect(named.map((d) => d.rel).sort()).toEqual(["rust-patterns/idioms/ctor.md", "rust-patterns/patterns/creational/builder.md"]);
  });

  it("links lints and guidelines to their documentation", () => {
    expect(clippyLintUrl("ptr_arg")).toBe("https://rust-lang.github.io/rust-clippy/master/index.html#ptr_arg");
    expect(guidelineUrl("C-CONV")).toBe("https://rust-lang.github.io/api-guidelines/naming.html#c-conv");
    expect(guidelineUrl("C-UNKNOWN")).toBe("https://rust-lang.github.io/api-guidelines/checklist.html");
  });
});
