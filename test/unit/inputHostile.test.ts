import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fromMarkdown } from "mdast-util-from-markdown";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capUnits, MAX_UNITS_PER_FILE } from "../../src/input/capUnits.ts";
import { MAX_INLINE_MARKERS, MAX_MARKDOWN_NESTING } from "../../src/input/markdownRisk.ts";
import { outlineInParts, outlineOf, partStarts } from "../../src/input/outlineInParts.ts";
import { MAX_JSON_DEPTH, parseJson } from "../../src/input/parseJson.ts";
import { parseMarkdown, unitsFromOutline } from "../../src/input/parseMarkdown.ts";
import { loadDocument, scanInput } from "../../src/input/scanInput.ts";
import type { MarkdownOutline } from "../../src/input/types.ts";
import { systemTool } from "../../src/util/spawnGuarded.ts";
import { sharedCorpus } from "../helpers/scriptedBackend.ts";

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "kb-hostile-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function loadText(name: string, text: string) {
  fs.writeFileSync(path.join(root, name), text);
  const scan = await scanInput(root);
  const file = scan.files.find((f) => f.relPath === name);
  if (!file) throw new Error(`not found: ${name}`);
  return loadDocument(file);
}

describe("deeply nested JSON", () => {
  it("skips a file nested 100,000 levels deep with the reason instead of overflowing the stack", async () => {
    for (const text of ["[".repeat(100_000) + "]".repeat(100_000), `${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`]) {
      const r = parseJson(text);
      expect(r).toEqual({ ok: false, reason: `JSON nested deeper than ${MAX_JSON_DEPTH} levels (line 1), not read` });
    }
    const r = await loadText("deep.json", `{\n"x": ${"[".repeat(10_000)}${"]".repeat(10_000)}\n}`);
    expect(r).toEqual({ ok: false, reason: `JSON nested deeper than ${MAX_JSON_DEPTH} levels (line 2), not read` });
  });

  it("reads JSON at the depth limit, and brackets inside strings do not count", () => {
    const atLimit = `[{"name":"deep","v":${"[".repeat(MAX_JSON_DEPTH - 2)}1${"]".repeat(MAX_JSON_DEPTH - 2)}}]`;
    expect(parseJson(atLimit).ok).toBe(true);
    const inStrings = JSON.stringify([{ name: "brackets", text: "[".repeat(1000), esc: '\\"[[[' }]);
    const r = parseJson(inStrings);
    expect(r.ok && r.units[0]?.title).toBe("brackets");
  });
});

describe("markdown the parser would choke on is read line by line", () => {
  const cases: [string, string][] = [
    ["100,000 nested blockquotes on one line", `# Quotes\n\n${"> ".repeat(100_000)}deep\n`],
    ["blockquotes one level deeper per line", `# Quotes\n\n${Array.from({ length: 2000 }, (_, i) => `${">".repeat(i + 1)} q${i}`).join("\n")}\n`],
    ["100,000 nested list items on one line", `# List\n\n${"- ".repeat(100_000)}deep\n`],
    ["a list indented one level deeper per line", `# List\n\n${Array.from({ length: 400 }, (_, i) => `${"  ".repeat(i)}- item ${i}`).join("\n")}\n`],
    ["2,000 nested emphasis markers in one paragraph", `# Emphasis\n\n${"*a ".repeat(2000)}x${" a*".repeat(2000)}\n`],
    ["10,000 nested link brackets", `# Links\n\n${"[".repeat(10_000)}x${"](u)".repeat(10_000)}\n`],
  ];
  it.each(cases)("%s: units with every line, and a note saying why", (_label, text) => {
    const r = parseMarkdown(text);
    expect(r.notes).toHaveLength(1);
    expect(r.notes[0]).toMatch(
      /^read line by line \(headings and fenced code only\): (blockquotes or lists nested deeper than 32 levels|more than 200 (emphasis markers|link brackets) in one paragraph) \(line \d+\)$/,
    );
    expect(r.title).toBe(text.slice(2, text.indexOf("\n")));
    // Nothing lost: the sections hold every line after the heading (compared by length: the texts are huge).
    const sections = r.units.filter((u) => u.kind === "section");
    const kept = sections.map((u) => u.text.replace(/\s+/g, "")).join("");
    expect(kept.length).toBe(text.replace(/\s+/g, "").length);
  });

  it("still finds headings and fenced code (also in a blockquote that is cut short) when reading line by line", () => {
    const text = `# Top\n\n${"> ".repeat(MAX_MARKDOWN_NESTING + 1)}x\n\n## Code\n\n\`\`\`rust\nfn main() {}\n\`\`\`\n\nSub\n---\n\ntail\n`;
    const r = parseMarkdown(text);
    expect(r.notes[0]).toMatch(/nested deeper than 32 levels \(line 3\)/);
    expect(r.units.map((u) => [u.id, u.title, u.startLine, u.endLine])).toEqual([
      ["S1", "Top", 1, 3],
      ["S2", "Top > Code", 5, 9],
      ["S3", "Top > Sub", 11, 14],
      ["C1", "code", 7, 9],
    ]);
    expect(r.units[3]).toMatchObject({ text: "fn main() {}", lang: "rust", parent: "S2" });
  });

  it("leaves markdown below the caps to the markdown parser", () => {
    const nested = `# Nested\n\n${"> ".repeat(MAX_MARKDOWN_NESTING)}deep\n\n${"*a* ".repeat(MAX_INLINE_MARKERS / 2)}\n\nsnake_case_${"name_".repeat(400)}x\n`;
    expect(parseMarkdown(nested).notes).toEqual([]);
  });

  it.skipIf(!fs.existsSync(sharedCorpus("rust-research")))("reads every note of the shared corpus without a cap or a fallback", async () => {
    const scan = await scanInput(sharedCorpus("rust-research"));
    expect(scan.files.length).toBeGreaterThan(20);
    for (const f of scan.files) {
      const r = await loadDocument(f);
      if (r.ok) expect([f.relPath, r.doc.warnings]).toEqual([f.relPath, []]);
    }
  });
});

describe("markdown splitting", () => {
  /**
   * Work done to split one section holding `codes` code blocks, counted as reads of the file's
   * lines and of the code blocks' line spans (deterministic, unlike a stopwatch on a busy machine).
   */
  function workFor(codes: number): number {
    let reads = 0;
    const lines: string[] = ["# Big", ""];
    const outline: MarkdownOutline = { headings: [{ depth: 1, line: 1, text: "Big" }], codes: [] };
    for (let i = 0; i < codes; i++) {
      lines.push(`Text ${i}.`, "```rust");
      const code = { startLine: lines.length, endLine: lines.length + 2, value: `let x${i} = ${i};`, lang: "rust" };
      outline.codes.push(
        new Proxy(code, {
          get(target, key: string) {
            if (key === "startLine" || key === "endLine") reads++;
            return target[key as keyof typeof target];
          },
        }),
      );
      lines.push(`let x${i} = ${i};`, "```", "");
    }
    const countedLines = new Proxy(lines, {
      get(target, key) {
        if (typeof key === "string" && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key);
      },
    });
    const { units } = unitsFromOutline(countedLines, outline);
    expect(units.filter((u) => u.kind === "code")).toHaveLength(codes);
    return reads;
  }

  it("does work about linear in the number of code blocks (4x the blocks: under 6x the work, not 16x)", () => {
    const small = workFor(5000);
    const large = workFor(20_000);
    // Linear is 4x (sorting adds a little); the splitter this replaced scanned every block per line: 16x.
    expect(large / small).toBeLessThan(6);
    expect(large / small).toBeGreaterThan(3);
  });
});

describe("markdown parsed in parts", () => {
  it.skipIf(!fs.existsSync(sharedCorpus("rust-research")))(
    "finds the same headings and code blocks as one parse of the whole file (real notes over 200 lines)",
    async () => {
      const scan = await scanInput(sharedCorpus("rust-research"));
      let multi = 0;
      for (const f of scan.files.filter((x) => x.format !== "json")) {
        const text = fs.readFileSync(f.pathBytes, "utf8").replace(/\r\n?/g, "\n");
        const lines = text.split("\n");
        if (partStarts(lines).length > 1) multi++;
        expect([f.relPath, outlineInParts(lines)]).toEqual([f.relPath, outlineOf(fromMarkdown(text))]);
      }
      expect(multi).toBeGreaterThan(0);
    },
  );

  it("cuts long lists and runs of setext headings into parts of bounded size (micromark is quadratic in one parse)", () => {
    for (const text of ["- a\n  - b\n    - c\n".repeat(5000), "a\n=\n".repeat(5000), "- a\n  - b\n    - c\n\npara\n\n".repeat(2000)]) {
      const lines = text.split("\n");
      const starts = partStarts(lines);
      const sizes = starts.map((s, i) => (starts[i + 1] ?? lines.length) - s);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(600);
      expect(starts.length).toBeGreaterThan(lines.length / 600);
    }
  });

  it("never cuts inside fenced code, an indented continuation or a blockquote", () => {
    const fence = ["```rust", ...Array.from({ length: 300 }, (_, i) => (i % 10 === 0 ? "" : `line ${i}`)), "```"];
    const lines = [...Array.from({ length: 250 }, (_, i) => (i % 2 ? "" : `para ${i}`)), ...fence, "", "    indented code", "", "> quote", "", "tail"];
    const starts = partStarts(lines);
    expect(starts.length).toBeGreaterThan(1);
    for (const s of starts.slice(1)) {
      expect(lines[s - 1]).toBe("");
      expect(lines[s]).toMatch(/^[^\s>`]/);
    }
    const codes = outlineInParts(lines).codes;
    expect(codes.find((c) => c.lang === "rust")).toMatchObject({ startLine: 251, endLine: 552 });
  });
});

describe("units per file", () => {
  it("keeps the first units of a markdown file with thousands of sections and says what was left out", async () => {
    const text = Array.from({ length: 1500 }, (_, i) => `# Section ${i}\n\ntext ${i}\n\n\`\`\`rust\nlet a${i} = 1;\n\`\`\`\n`).join("\n");
    const r = await loadText("many.md", text);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.doc.units).toHaveLength(MAX_UNITS_PER_FILE);
    // Each kept section keeps its code block, and no code block points at a dropped section.
    const ids = new Set(r.doc.units.map((u) => u.id));
    for (const u of r.doc.units) if (u.parent) expect(ids.has(u.parent)).toBe(true);
    expect(r.doc.units.filter((u) => u.kind === "section")).toHaveLength(MAX_UNITS_PER_FILE / 2);
    expect(r.doc.warnings).toEqual([`truncated: 2000 of 3000 units not read, from line ${500 * 8 + 1} on (at most ${MAX_UNITS_PER_FILE} units per file)`]);
  });

  it("stops reading records of a JSON file at the cap, on one line or many", async () => {
    const records = Array.from({ length: 50_000 }, (_, i) => ({ name: `r${i}` }));
    const r = await loadText("many.json", JSON.stringify(records));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.doc.units).toHaveLength(MAX_UNITS_PER_FILE);
    expect(r.doc.units[0]?.title).toBe("r0");
    expect(r.doc.warnings).toEqual([`truncated: 49000 of 50000 records not read, from line 1 on (at most ${MAX_UNITS_PER_FILE} units per file)`]);
  });

  it("cuts a group at the cap when one section has more code blocks than the cap", () => {
    const units = [
      { id: "S1", kind: "section" as const, title: "s", startLine: 1, endLine: 9, text: "x" },
      ...Array.from({ length: 5 }, (_, i) => ({
        id: `C${i + 1}`,
        kind: "code" as const,
        title: "code",
        startLine: 2 + i,
        endLine: 2 + i,
        text: "c",
        parent: "S1",
      })),
    ];
    const r = capUnits(units, 3);
    expect(r.units.map((u) => u.id)).toEqual(["S1", "C1", "C2"]);
    expect(r.truncated).toBe("truncated: 3 of 6 units not read, from line 4 on (at most 3 units per file)");
  });
});

describe("file names that are not valid UTF-8", () => {
  it("reads a Latin-1 named file through its byte path and shows the name escaped", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-latin1-"));
    try {
      const dirBytes = Buffer.from(dir);
      const join = (...parts: Buffer[]) => Buffer.concat(parts.flatMap((p) => [Buffer.from("/"), p]).slice(1));
      // "café.md" and a directory "año" in Latin-1 (0xE9, 0xF1): not valid UTF-8.
      fs.writeFileSync(join(dirBytes, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x6d, 0x64])), "# Caf\u00e9\n\nLatin-1 name, UTF-8 text.\n");
      const sub = join(dirBytes, Buffer.from([0x61, 0xf1, 0x6f]));
      fs.mkdirSync(sub);
      fs.writeFileSync(join(sub, Buffer.from("n\\o.md")), "# Backslash\n\ntext\n");
      // A backslash in a name that needs escaping is doubled, so it cannot pass for an escape.
      fs.writeFileSync(join(dirBytes, Buffer.from([0x5c, 0x78, 0x45, 0x39, 0xe9, 0x2e, 0x6d, 0x64])), "# Tricky\n\ntext\n");
      fs.writeFileSync(path.join(dir, "ünï.md"), "# UTF-8\n\nfine\n");
      const scan = await scanInput(dir);
      expect(scan.skipped).toEqual([]);
      expect(scan.files.map((f) => f.relPath)).toEqual(["\\\\xE9\\xE9.md", "a\\xF1o/n\\o.md", "caf\\xE9.md", "ünï.md"]);
      for (const f of scan.files) {
        const r = await loadDocument(f);
        expect(r.ok).toBe(true);
      }
      const cafe = await loadDocument(scan.files[2] as (typeof scan.files)[number]);
      expect(cafe.ok && cafe.doc.title).toBe("Café");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Issue 23, finding 6: a name cannot print a line of its own or show as another name. */
describe("file names with control or bidi characters", () => {
  it("escapes newline, tab, other controls and bidi controls in names (as bytes, backslashes doubled), and still reads the files", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-ctlname-"));
    try {
      const names = ["fake\n✔ done: 100 files.md", "tab\there.md", "\u202Egnp.md", "ok\\name\u2066.md", "plain.md"];
      for (const n of names) fs.writeFileSync(path.join(dir, n), "# Note\n\nText.\n");
      const scan = await scanInput(dir);
      expect(scan.skipped).toEqual([]);
      const rels = scan.files.map((f) => f.relPath).sort();
      expect(rels).toEqual(["\\xE2\\x80\\xAEgnp.md", "fake\\x0A✔ done: 100 files.md", "ok\\\\name\\xE2\\x81\\xA6.md", "plain.md", "tab\\x09here.md"].sort());
      for (const f of scan.files) {
        expect(f.relPath + f.absPath).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
        expect((await loadDocument(f)).ok, f.relPath).toBe(true);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Issue 23, finding 4: what is read is the file the scan found, within the limit, without waiting. */
describe("a file swapped between the scan and the read", () => {
  let dir: string;
  let outside: string;
  const SECRET = "OUTSIDE-SECRET-swap-7f3a";
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-swap-"));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), "kb-swap-outside-"));
    fs.writeFileSync(path.join(outside, "file.md"), `# Secret\n\n${SECRET}\n`);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  async function found(rel: string, maxFileBytes?: number) {
    const scan = await scanInput(dir, maxFileBytes ? { maxFileBytes } : {});
    const file = scan.files.find((f) => f.relPath === rel);
    if (!file) throw new Error(`not found: ${rel}`);
    return file;
  }
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };

  it("a file replaced by a FIFO is refused at once, not waited on", async () => {
    write("fifo.md", "# A note\n\ntext\n");
    const file = await found("fifo.md");
    fs.rmSync(path.join(dir, "fifo.md"));
    const mkfifo = systemTool("mkfifo");
    if (!mkfifo || spawnSync(mkfifo, [path.join(dir, "fifo.md")]).status !== 0) return; // no mkfifo here
    const started = Date.now();
    const r = await loadDocument(file);
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/not a regular file|replaced/) });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a file that grew past --max-file-mb since the scan is refused, never read past the limit", async () => {
    write("grows.md", `# Grows\n\n${"x".repeat(100)}\n`);
    const file = await found("grows.md", 4096);
    fs.appendFileSync(path.join(dir, "grows.md"), "y".repeat(100_000));
    const r = await loadDocument(file, 4096);
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/too large/) });
  });

  it("a file replaced by a link to a file outside the input is not followed", async () => {
    write("link.md", "# A note\n\ntext\n");
    const file = await found("link.md");
    fs.rmSync(path.join(dir, "link.md"));
    fs.symlinkSync(path.join(outside, "file.md"), path.join(dir, "link.md"));
    const r = await loadDocument(file);
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/symbolic link/) });
    expect(JSON.stringify(r)).not.toContain(SECRET);
  });

  it("a folder on the path replaced by a link out of the input: the file there is another file, not read", async () => {
    write("sub/file.md", "# A note\n\ntext\n");
    const file = await found("sub/file.md");
    fs.renameSync(path.join(dir, "sub"), path.join(dir, "sub-old"));
    fs.symlinkSync(outside, path.join(dir, "sub"));
    const r = await loadDocument(file);
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/replaced by another file/) });
    expect(JSON.stringify(r)).not.toContain(SECRET);
  });

  it("a file edited in place (same file, new bytes) is read as it is now", async () => {
    write("edited.md", "# Before\n\ntext\n");
    const file = await found("edited.md");
    fs.writeFileSync(path.join(dir, "edited.md"), "# After\n\ntext\n");
    const r = await loadDocument(file);
    expect(r.ok && r.doc.title).toBe("After");
  });
});
