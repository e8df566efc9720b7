import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { htmlSections, markdownSections, slugify } from "../../src/research/docSections.ts";
import { LocalDocsIndex } from "../../src/research/LocalDocsIndex.ts";
import { LocalDocsProvider } from "../../src/research/LocalDocsProvider.ts";
import { type DocsRoot, findRustDocsDir, libraryRoot, publicDocsBase, publicDocsUrl, rustDocRoots, selectStd } from "../../src/research/rustDocs.ts";
import type { ResearchQuery } from "../../src/research/types.ts";

const MDBOOK_PAGE = `<!DOCTYPE html><html><head><title>References and Borrowing - The Rust Programming Language</title>
<script>var x = "borrowchecker-script-noise";</script><style>.x{}</style></head>
<body><nav id="sidebar">Sidebar navigation noise</nav><main>
<h2 id="references-and-borrowing"><a class="header" href="#references-and-borrowing">References and Borrowing</a></h2>
<p>A <em>reference</em> is like a pointer in that it is an address we can follow to access the data stored at that address.
Unlike a pointer, a reference is guaranteed to point to a valid value of a particular type for the life of that reference.</p>
<h3 id="mutable-references"><a class="header" href="#mutable-references">Mutable References</a></h3>
<p>Mutable references have one big restriction: if you have a mutable reference to a value, you can have no other references
to that value. This restriction is what lets Rust prevent data races at compile time.</p>
<pre><code class="language-rust">let mut s = String::from("hello");
let r1 = &amp;mut s;</code></pre>
</main></body></html>`;

const RUSTDOC_PAGE = `<!DOCTYPE html><html><head><title>Cell in std::cell - Rust</title></head><body>
<nav class="sidebar">sidebar</nav><main><section id="main-content" class="content">
<div class="main-heading"><h1>Struct <span class="struct">Cell</span></h1></div>
<details class="toggle top-doc" open><div class="docblock"><p>A mutable memory location, the simplest form of interior mutability
for types that are Copy: values are moved in and out of the cell.</p>
<h2 id="examples"><a class="doc-anchor" href="#examples">§</a>Examples</h2><p>In this example, you can see that Cell enables mutation inside an immutable struct.</p></div></details>
<h2 id="implementations" class="section-header">Implementations</h2>
<section id="impl-Cell%3CT%3E" class="impl"><h3 class="code-header">impl&lt;T&gt; Cell&lt;T&gt;</h3></section>
<details class="toggle method-toggle" open><summary><section id="method.replace" class="method"><a class="src rightside" href="../../src/core/cell.rs.html#1">Source</a>
<h4 class="code-header">pub fn <a href="#method.replace" class="fn">replace</a>(&amp;self, val: T) -&gt; T</h4></section></summary>
<div class="docblock"><p>Replaces the contained value with val, and returns the old contained value. Interior mutability at work.</p></div></details>
<h2 id="trait-implementations" class="section-header">Trait Implementations</h2>
<section id="impl-Clone-for-Cell%3CT%3E" class="impl"><h3 class="code-header">impl Clone for Cell</h3></section>
<div class="docblock"><p>Zanzibarquux: a boilerplate trait implementation text that must never be indexed.</p></div>
</section></main></body></html>`;

const MARKDOWN = `# Field notes

Intro paragraph that is long enough to be indexed as the top section of these notes.

## Error handling with \`?\`

The question mark operator propagates errors to the caller, converting them with From along the way.

\`\`\`rust
# hidden line in a code fence is not a heading
let f = File::open("x")?;
\`\`\`

## Error handling with \`?\`

A second heading with the same text gets a numbered anchor like GitHub does for duplicate headings.
`;

let tmp: string;
let docs: string;
let indexFile: string;

function write(rel: string, text: string) {
  const f = path.join(docs, rel);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text);
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-docs-test-"));
  docs = path.join(tmp, "docs");
  indexFile = path.join(tmp, "checkpoints", "docs-index.sqlite");
  write("book/ch04-02-references-and-borrowing.html", MDBOOK_PAGE);
  write("book/print.html", MDBOOK_PAGE.replace("References and Borrowing", "Printed Book"));
  write("book/old.html", `<html><head><meta http-equiv="refresh" content="0; url=ch04-02-references-and-borrowing.html"></head></html>`);
  write("std/cell/struct.Cell.html", RUSTDOC_PAGE);
  write("std/cell/fn.swap.html", RUSTDOC_PAGE.replace("Cell in std::cell", "swap in std::cell"));
  write("std/arch/x86_64/struct.__m128.html", RUSTDOC_PAGE);
  write("notes/errors.md", MARKDOWN);
  write("notes/plain.txt", `Plain text notes about lifetimes and borrowing.\n${"Lifetimes name the scope a reference is valid for.\n".repeat(5)}`);
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const query = (name: string, limit = 5): ResearchQuery => ({ runId: "r", name, summary: "", categoryTitle: "Other", docId: "d", limit });

function rustRoots(): DocsRoot[] {
  return rustDocRoots(docs);
}

describe("LocalDocsIndex", () => {
  it("indexes HTML books, rustdoc pages and markdown into ranked sections, cited by the public URL of the exact page and anchor", async () => {
    const index = LocalDocsIndex.open(indexFile);
    const roots = [...rustRoots(), libraryRoot(path.join(docs, "notes"))];
    const progress: string[] = [];
    const reports = await index.update(roots, { onProgress: (p) => progress.push(`${p.phase}:${p.key}`) });
    expect(reports.map((r) => [r.key, r.files, r.rebuilt])).toEqual([
      ["rust:book", 1, true], // print.html skipped, redirect stub dropped
      ["rust:std", 1, true], // fn.* pages and arch/ are not selected
      [`library:${path.join(docs, "notes")}`, 2, true],
    ]);
    expect(progress).toContain("done:rust:std");

    const provider = new LocalDocsProvider(index, roots);
    const hits = await provider.search(query("Mutable references"));
    expect(hits[0]).toMatchObject({ provider: "docs", title: "The Rust Programming Language: References and Borrowing › Mutable References" });
    const url = hits[0]?.url ?? "";
    expect(hits[0]?.citation).toBe(url);
    // doc.rust-lang.org mirrors rustup's html tree: the same page and anchor, never a local path.
    expect(url).toBe("https://doc.rust-lang.org/book/ch04-02-references-and-borrowing.html#mutable-references");
    const local = index.search(["mutable", "references"], { limit: 1, rootKeys: ["rust:book"] })[0];
    expect(local?.url).toMatch(/^file:\/\/.*\/book\/ch04-02-references-and-borrowing\.html#mutable-references$/);
    const [file, anchor] = [fileURLToPath((local?.url ?? "").replace(/#.*$/, "")), url.replace(/^.*#/, "")];
    expect(fs.readFileSync(file, "utf8")).toContain(`id="${anchor}"`);
    expect(hits[0]?.excerpt).toMatch(/mutable reference/i);

    const method = await provider.search(query("replace contained value"));
    expect(method[0]?.url).toMatch(/struct\.Cell\.html#method\.replace$/);
    expect(method[0]?.title).toContain("pub fn replace(&self, val: T) -> T");

    const md = await provider.search(query("question mark operator propagates"));
    // A --library folder has no public address: cited by collection and relative path, no link.
    expect(md[0]?.url).toBeUndefined();
    expect(md[0]?.citation).toBe("notes/errors.md#error-handling-with-");
    for (const h of [...hits, ...method, ...md]) expect(h.citation).not.toContain(docs);
    index.close();
  });

  it("leaves out scripts, navigation and rustdoc's trait-implementation lists", async () => {
    const index = LocalDocsIndex.open(indexFile);
    const roots = rustRoots();
    await index.update(roots);
    expect(index.search(["zanzibarquux"], { limit: 5, rootKeys: roots.map((r) => r.key) })).toEqual([]);
    expect(index.search(["borrowchecker"], { limit: 5, rootKeys: roots.map((r) => r.key) })).toEqual([]);
    expect(index.search(["sidebar"], { limit: 5, rootKeys: roots.map((r) => r.key) })).toEqual([]);
    index.close();
  });

  it("is built once and reused; only a changed root is rebuilt", async () => {
    const roots = [...rustRoots(), libraryRoot(path.join(docs, "notes"))];
    let index = LocalDocsIndex.open(indexFile);
    await index.update(roots);
    const fp = index.fingerprint(roots.map((r) => r.key));
    index.close();

    index = LocalDocsIndex.open(indexFile);
    const again = await index.update(roots);
    expect(again.map((r) => r.rebuilt)).toEqual([false, false, false]);
    expect(index.fingerprint(roots.map((r) => r.key))).toBe(fp);

    write("notes/errors.md", `${MARKDOWN}\n## Panics\n\nUse panic only for bugs: unrecoverable states that callers cannot handle sensibly.\n`);
    const changed = await index.update(roots);
    expect(changed.map((r) => r.rebuilt)).toEqual([false, false, true]);
    expect(index.fingerprint(roots.map((r) => r.key))).not.toBe(fp);
    expect(index.search(["unrecoverable"], { limit: 3, rootKeys: roots.map((r) => r.key) })[0]?.url).toMatch(/errors\.md#panics$/);
    index.close();
  });

  it("searches only the roots a provider was given", async () => {
    const index = LocalDocsIndex.open(indexFile);
    const notes = libraryRoot(path.join(docs, "notes"));
    await index.update([...rustRoots(), notes]);
    const onlyNotes = new LocalDocsProvider(index, [notes]);
    expect(await onlyNotes.search(query("Mutable"))).toEqual([]);
    expect((await onlyNotes.search(query("lifetimes scope"))).length).toBe(1);
    index.close();
  });

  it("keeps the last complete index when a build is aborted", async () => {
    const roots = [libraryRoot(path.join(docs, "notes"))];
    const index = LocalDocsIndex.open(indexFile);
    await index.update(roots);
    for (let i = 0; i < 60; i++) write(`notes/extra-${i}.md`, `# Extra ${i}\n\nMore notes about lifetimes number ${i}, long enough to index.\n`);
    const ac = new AbortController();
    ac.abort(new Error("stop"));
    await expect(index.update(roots, { signal: ac.signal })).rejects.toThrow("stop");
    expect(index.roots()[0]?.files).toBe(2);
    expect(index.search(["lifetimes"], { limit: 10, rootKeys: [roots[0]?.key ?? ""] })).toHaveLength(1);
    index.close();
  });
});

describe("sections and discovery", () => {
  it("cuts markdown at headings outside code fences, with GitHub-style anchors", () => {
    const page = markdownSections(MARKDOWN, "errors");
    expect(page.title).toBe("Field notes");
    expect(page.sections.map((s) => s.anchor)).toEqual(["field-notes", "error-handling-with-", "error-handling-with--1"]);
    expect(slugify("Rc<RefCell<T>> & friends")).toBe("rcrefcellt--friends");
  });

  it("takes rustdoc method sections with their code header as title", () => {
    const page = htmlSections(RUSTDOC_PAGE);
    expect(page.title).toBe("Cell in std::cell - Rust");
    expect(page.sections.map((s) => s.anchor)).toEqual(["", "examples", "method.replace"]);
    expect(page.sections[2]?.title).toBe("pub fn replace(&self, val: T) -> T");
    expect(page.sections.map((s) => s.text).join(" ")).not.toContain("Source");
  });

  it("selects std's module, trait and type pages but not intrinsics or per-function pages", () => {
    expect(selectStd("vec/struct.Vec.html")).toBe(true);
    expect(selectStd("iter/trait.Iterator.html")).toBe(true);
    expect(selectStd("index.html")).toBe(true);
    expect(selectStd("os/index.html")).toBe(true);
    expect(selectStd("mem/fn.swap.html")).toBe(false);
    expect(selectStd("arch/x86_64/struct.__m128.html")).toBe(false);
    expect(selectStd("os/linux/index.html")).toBe(false);
  });

  it("finds the docs from the override, then rustup, then rustc's sysroot", () => {
    const none = () => undefined;
    expect(findRustDocsDir({ override: path.join(docs, "index.html"), home: tmp, exec: none })).toEqual({ dir: docs, how: "RUST_KB_DOCS_DIR" });
    expect(findRustDocsDir({ override: path.join(tmp, "missing"), home: tmp, exec: none })).toBeUndefined();
    const viaRustup = findRustDocsDir({ home: tmp, exec: (cmd) => (cmd === "rustup" ? `${path.join(docs, "index.html")}\n` : undefined) });
    expect(viaRustup).toEqual({ dir: docs, how: "rustup doc --path" });
    const sysroot = path.join(tmp, "sysroot");
    fs.mkdirSync(path.join(sysroot, "share", "doc", "rust", "html"), { recursive: true });
    const viaRustc = findRustDocsDir({ home: tmp, exec: (cmd) => (cmd === "rustc" ? sysroot : undefined) });
    expect(viaRustc?.how).toBe("rustc --print sysroot");
    expect(findRustDocsDir({ home: tmp, exec: none })).toBeUndefined();
    expect(rustDocRoots(docs).map((r) => r.key)).toEqual(["rust:book", "rust:std"]);
  });

  it("maps rustup's documentation to the doc.rust-lang.org pages of the same channel", () => {
    const html = (toolchain: string) => path.join("/home/u/.rustup/toolchains", toolchain, "share/doc/rust/html");
    expect(publicDocsBase(html("stable-x86_64-unknown-linux-gnu"))).toBe("https://doc.rust-lang.org/");
    expect(publicDocsBase(html("beta-aarch64-apple-darwin"))).toBe("https://doc.rust-lang.org/beta/");
    expect(publicDocsBase(html("nightly-2026-01-02-x86_64-unknown-linux-gnu"))).toBe("https://doc.rust-lang.org/nightly/");
    expect(publicDocsBase(html("1.95.0-x86_64-unknown-linux-gnu"))).toBe("https://doc.rust-lang.org/1.95.0/");
    expect(publicDocsBase("/opt/rust-docs")).toBe("https://doc.rust-lang.org/");
    expect(rustDocRoots(docs).map((r) => r.publicUrl)).toEqual(["https://doc.rust-lang.org/book/", "https://doc.rust-lang.org/std/"]);
    const stored = `file://${html("nightly-x86_64-unknown-linux-gnu")}/std/cell/struct.Cell.html#method.replace`;
    expect(publicDocsUrl(stored)).toBe("https://doc.rust-lang.org/nightly/std/cell/struct.Cell.html#method.replace");
    expect(publicDocsUrl("file:///home/u/notes/errors.md#x")).toBeUndefined();
    expect(publicDocsUrl("https://rust-lang.github.io/api-guidelines/")).toBe("https://rust-lang.github.io/api-guidelines/");
  });
});
