/**
 * examples/notes is what the README's first command runs on: every file in it must be found, read
 * and split into units (nothing skipped), and every file must be accounted for in
 * examples/SOURCES.md with its licence.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadDocument, scanInput } from "../../src/input/scanInput.ts";

const EXAMPLES = path.resolve(import.meta.dirname, "../../examples");
const NOTES = path.join(EXAMPLES, "notes");

function filesUnder(dir: string, prefix = ""): string[] {
  return fs
    .readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(dir, `${prefix}${e.name}/`) : e.isFile() ? [`${prefix}${e.name}`] : []))
    .sort();
}

describe("examples/notes", () => {
  it("is valid input: scanning finds every file, skips none and ignores none", async () => {
    const scan = await scanInput(NOTES);
    expect(scan.skipped).toEqual([]);
    expect(scan.ignored).toBe(0);
    expect(scan.files.map((f) => f.relPath).sort()).toEqual(filesUnder(NOTES));
    expect(scan.files.length).toBeGreaterThanOrEqual(8);
    expect(scan.files.length).toBeLessThanOrEqual(15);
    expect(new Set(scan.files.map((f) => f.format))).toEqual(new Set(["markdown", "text", "json"]));
  });

  it("parses every file into prose units and at least one Rust code unit", async () => {
    const scan = await scanInput(NOTES);
    for (const f of scan.files) {
      const loaded = await loadDocument(f);
      expect(loaded.ok, `${f.relPath}: ${loaded.ok ? "" : loaded.reason}`).toBe(true);
      if (!loaded.ok) continue;
      const units = loaded.doc.units;
      expect(
        units.some((u) => u.kind !== "code"),
        f.relPath,
      ).toBe(true);
      expect(
        units.some((u) => u.kind === "code" && (u.lang ?? "").startsWith("rust") && u.text.trim() !== ""),
        `${f.relPath} has a Rust code unit`,
      ).toBe(true);
    }
  });

  it("records the source and licence of every file in examples/SOURCES.md, and names no file that is not there", () => {
    const sources = fs.readFileSync(path.join(EXAMPLES, "SOURCES.md"), "utf8");
    const rows = [...sources.matchAll(/^\| `([^`]+)` \| (.+?) \| (MPL-2\.0|MIT or Apache-2\.0) \|/gm)].map((m) => m[1]);
    expect(rows.sort()).toEqual(filesUnder(NOTES));
    for (const licence of [...sources.matchAll(/\]\((licenses\/[^)]+)\)/g)].map((m) => m[1] ?? ""))
      expect(fs.existsSync(path.join(EXAMPLES, licence)), licence).toBe(true);
  });
});
