import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeText } from "../../src/input/decodeText.ts";
import { parseJson } from "../../src/input/parseJson.ts";
import { parseMarkdown } from "../../src/input/parseMarkdown.ts";
import { loadDocument, scanInput } from "../../src/input/scanInput.ts";

let root: string;
let outside: string;

function write(rel: string, content: string | Buffer): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
}

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "kb-input-"));
  outside = fs.mkdtempSync(path.join(os.tmpdir(), "kb-outside-"));
  fs.writeFileSync(path.join(outside, "secret.md"), "# Secret\n\nnot yours");
  write("good.md", "# Newtype\n\nWrap a type.\n\n```rust\nstruct Meters(f64);\n```\n");
  write("UPPER.MD", "# Upper\n\ntext");
  write("notes.Markdown", "# Md\n\nx");
  write("plain.txt", "Title\n=====\n\nSome text.\n\n    [code: rust]\n    let x = 1;\n");
  write("empty.md", "");
  write("blank.md", "  \n\t\n");
  write("bad.json", "{ not json");
  write("binary.md", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d, 0x0a, 0x1a, 1, 2, 3, 0, 5]));
  write("latin1.txt", Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b]));
  write("bom-crlf.md", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("# BOM\r\n\r\nline one\r\nline two\r\n")]));
  write("utf16.txt", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("Hello UTF-16\nsecond line", "utf16le")]));
  write("spaces and 'quotes' ünï.md", "# Unicode\n\nfine");
  write("-leading-dash.md", "# Dash\n\nfine");
  write("same-a.md", "# Same\n\nidentical content");
  write("same-b.md", "# Same\n\nidentical content");
  write("image.png", "not read");
  write("long-line.md", `# Long\n\n${"x".repeat(20_000)}\n`);
  write("big.md", "y".repeat(3 * 1024 * 1024));
  write("nested/deep/n.json", JSON.stringify({ lints: [{ name: "a_lint", what: "x" }] }));
  fs.symlinkSync(path.join(outside, "secret.md"), path.join(root, "escape.md"));
  fs.symlinkSync(outside, path.join(root, "escape-dir"));
  fs.symlinkSync(root, path.join(root, "nested", "loop"));
  fs.symlinkSync(path.join(root, "good.md"), path.join(root, "alias.md"));
  fs.symlinkSync(path.join(root, "missing.md"), path.join(root, "dangling.md"));
  write("locked/secret.md", "# Locked");
  fs.chmodSync(path.join(root, "locked"), 0o000);
});

afterAll(() => {
  fs.chmodSync(path.join(root, "locked"), 0o755);
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

describe("scanInput", () => {
  it("finds supported extensions in any case and ignores others", async () => {
    const scan = await scanInput(root, { maxFileBytes: 2 * 1024 * 1024 });
    const found = scan.files.map((f) => f.relPath);
    expect(found).toEqual(
      expect.arrayContaining(["good.md", "UPPER.MD", "notes.Markdown", "plain.txt", "nested/deep/n.json", "spaces and 'quotes' ünï.md", "-leading-dash.md"]),
    );
    expect(found).not.toContain("image.png");
    expect(scan.ignored).toBeGreaterThanOrEqual(1);
  });

  it("never follows links that leave the input directory", async () => {
    const scan = await scanInput(root);
    const reasons = Object.fromEntries(scan.skipped.map((s) => [s.relPath, s.reason]));
    expect(reasons["escape.md"]).toMatch(/outside the input directory/);
    expect(reasons["escape-dir"]).toMatch(/outside the input directory/);
    expect(scan.files.some((f) => f.absPath.startsWith(fs.realpathSync(outside)))).toBe(false);
  });

  it("ends symlink loops and reads a linked file once", async () => {
    const scan = await scanInput(root);
    const reasons = Object.fromEntries(scan.skipped.map((s) => [s.relPath, s.reason]));
    expect(reasons["nested/loop"]).toMatch(/already read/);
    expect(reasons["good.md"] ?? reasons["alias.md"]).toMatch(/already read/);
    expect(reasons["dangling.md"]).toMatch(/broken/);
  });

  it("reports files over the size limit and unreadable directories", async () => {
    const scan = await scanInput(root, { maxFileBytes: 2 * 1024 * 1024 });
    const reasons = Object.fromEntries(scan.skipped.map((s) => [s.relPath, s.reason]));
    expect(reasons["big.md"]).toMatch(/too large/);
    if (process.getuid?.() !== 0) expect(reasons.locked).toMatch(/cannot read directory/);
  });

  it("excludes the output directory even when it is inside the input", async () => {
    write("kb/index.md", "# KB");
    const scan = await scanInput(root, { exclude: [path.join(root, "kb")] });
    expect(scan.files.map((f) => f.relPath)).not.toContain("kb/index.md");
  });
});

describe("loadDocument", () => {
  async function load(rel: string) {
    const scan = await scanInput(root, { maxFileBytes: 64 * 1024 * 1024 });
    const file = scan.files.find((f) => f.relPath === rel);
    if (!file) throw new Error(`not found: ${rel}`);
    return loadDocument(file, 64 * 1024 * 1024);
  }

  it.each([
    ["empty.md", /empty/],
    ["blank.md", /whitespace/],
    ["bad.json", /invalid JSON/],
    ["binary.md", /binary/],
    ["latin1.txt", /not valid UTF-8/],
  ])("skips %s with a reason", async (rel, reason) => {
    const r = await load(rel);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it("normalises BOM and CRLF and keeps line numbers", async () => {
    const r = await load("bom-crlf.md");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.doc.notes).toEqual(expect.arrayContaining(["UTF-8 byte-order mark removed", "line endings normalised to LF"]));
    expect(r.doc.units[0]).toMatchObject({ id: "S1", startLine: 1, endLine: 4 });
    expect(r.doc.units[0]?.text).not.toContain("\r");
  });

  it("decodes UTF-16 with a BOM", async () => {
    const r = await load("utf16.txt");
    expect(r.ok && r.doc.units[0]?.text).toContain("Hello UTF-16");
  });

  it("gives identical content the same document ID", async () => {
    const a = await load("same-a.md");
    const b = await load("same-b.md");
    expect(a.ok && b.ok && a.doc.id === b.doc.id).toBe(true);
  });

  it("splits a very long line into bounded units", async () => {
    const r = await load("long-line.md");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.doc.units.length).toBeGreaterThan(3);
    for (const u of r.doc.units) expect(u.text.length).toBeLessThanOrEqual(4000);
  });
});

describe("decodeText", () => {
  it("detects UTF-16LE without a BOM", () => {
    const r = decodeText(Buffer.from("plain ascii text here", "utf16le"));
    expect(r.ok && r.text).toBe("plain ascii text here");
  });
});

describe("parseMarkdown", () => {
  it("splits sections and code blocks with line spans and markers", () => {
    const md = "# Title\n\nIntro.\n\n## Example\n\nBefore.\n\n```rust\nfn main() {}\n```\n\nAfter.\n";
    const { title, units } = parseMarkdown(md);
    expect(title).toBe("Title");
    expect(units.map((u) => [u.id, u.kind, u.startLine, u.endLine])).toEqual([
      ["S1", "section", 1, 3],
      ["S2", "section", 5, 13],
      ["C1", "code", 9, 11],
    ]);
    expect(units[1]?.text).toContain("[code C1]");
    expect(units[1]?.title).toBe("Title > Example");
    expect(units[2]).toMatchObject({ text: "fn main() {}", lang: "rust", parent: "S2" });
  });

  it("reads plain-text setext headings and [code: lang] indented blocks", () => {
    const { units } = parseMarkdown("Option\n======\n\nText.\n\n    [code: rust]\n    let x = Some(1);\n    x.iter();\n\nMore.\n");
    const code = units.find((u) => u.kind === "code");
    expect(code).toMatchObject({ lang: "rust", text: "let x = Some(1);\nx.iter();", startLine: 6, endLine: 8 });
  });
});

describe("parseJson", () => {
  it.each([
    ["a plain array", JSON.stringify([{ name: "one", example: "x" }, { name: "two" }])],
    ["an object wrapping an array", JSON.stringify({ collection: "c", lints: [{ name: "one" }, { name: "two" }] })],
    ["an object keyed by name", JSON.stringify({ one: { group: "style" }, two: { group: "perf" } })],
    ["a nested wrapper", JSON.stringify({ data: { items: [{ title: "one" }, { title: "two" }] } })],
  ])("reads records from %s", (_label, text) => {
    const r = parseJson(text);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.units.filter((u) => u.kind === "record").map((u) => u.title)).toEqual(["one", "two"]);
  });

  it("turns fenced code in string values into code units with the record's lines", () => {
    const text = JSON.stringify({ my_lint: { example: "Bad:\n```rust\nlet a = 1;\n```\nok" } }, null, 2);
    const r = parseJson(text);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const code = r.units.find((u) => u.kind === "code");
    expect(code).toMatchObject({ id: "C1", text: "let a = 1;", lang: "rust", parent: "R1" });
    expect(r.units[0]?.text).toContain("[code C1]");
  });

  it("reports invalid JSON with a line", () => {
    const r = parseJson('{\n  "a": 1,\n  oops\n}');
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) expect(r.reason).toMatch(/invalid JSON: .* at line 3/);
  });
});
