import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { CodeCheckCache } from "../../src/validate/CodeCheckCache.ts";
import { UNIFORM_REFUSAL } from "../../src/validate/firstPassStayedInside.ts";
import { RustChecker, unhideRustdocLines } from "../../src/validate/rustCheck.ts";

const hasRustc = spawnSync("rustc", ["--version"], { encoding: "utf8" }).status === 0;

const VALID_ITEMS = "pub struct Meters(pub f64);\n\nimpl Meters {\n    pub fn double(&self) -> Meters {\n        Meters(self.0 * 2.0)\n    }\n}";
const FRAGMENT = "let mut v = Vec::new();\nv.push(1);\nassert_eq!(v.len(), 1);";
const SYNTAX_ERROR = "fn main() {\n    let x = ;\n}";
const BORROW_ERROR = 'let v = vec![1, 2, 3];\nlet w = v;\nprintln!("{:?}", v);';
const NEEDS_CONTEXT =
  'impl std::fmt::Display for Meters {\n    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {\n        write!(f, "{} m", self.0)\n    }\n}';
const EXTERNAL = "use serde::Serialize;\n\n#[derive(Serialize)]\nstruct Point { x: i32 }";
const TRY_FRAGMENT = 'let text = std::fs::read_to_string("notes.txt")?;\nprintln!("{}", text.len());';

describe("tree-sitter parse check (no rustc)", () => {
  const checker = new RustChecker({ rustc: false });

  it("accepts items and fragments that parse, labelled as not compile-checked", async () => {
    for (const code of [VALID_ITEMS, FRAGMENT, TRY_FRAGMENT]) {
      const v = await checker.check(code, "rust");
      expect(v).toMatchObject({ status: "not-checkable", parses: true, checker: "tree-sitter" });
      expect(v.detail).toBe("parses; compile check is off");
    }
  });

  it("fails a block that does not parse, with the place of the first syntax error", async () => {
    const v = await checker.check(SYNTAX_ERROR, "rust");
    expect(v).toMatchObject({ status: "fails", parses: false });
    expect(v.detail).toMatch(/^does not parse as Rust: line 2, column \d+/);
    const missingSemi = await checker.check("let n = v.len()\nlet m = 2;", "");
    expect(missingSemi.status).toBe("fails");
  });

  it("does not treat other languages as Rust, and honours rustdoc's ignore", async () => {
    expect(await checker.check('[dependencies]\nserde = "1"', "toml")).toMatchObject({
      status: "not-checkable",
      parses: false,
      detail: "the block is marked `toml`, not Rust",
    });
    expect(await checker.check("let x = not_defined();", "rust,ignore")).toMatchObject({
      status: "parses-only",
      detail: "marked `ignore`: parsed, not compiled",
    });
  });

  it("compiles rustdoc's hidden lines like rustdoc does", () => {
    expect(unhideRustdocLines("# use std::rc::Rc;\n#[derive(Debug)]\n## not hidden\nlet a = 1;")).toBe(
      "use std::rc::Rc;\n#[derive(Debug)]\n# not hidden\nlet a = 1;",
    );
  });
});

describe("rustc compile check", () => {
  const checker = new RustChecker({ timeoutMs: 30_000 });

  it.skipIf(!hasRustc)("compiles valid items as a library (needs rustc on PATH: skipped without it)", async () => {
    const v = await checker.check(VALID_ITEMS, "rust");
    expect(v).toMatchObject({ status: "compiles", parses: true, wrapped: false });
    expect(v.checker).toMatch(/^rustc \d+\.\d+/);
  });

  it.skipIf(!hasRustc)(
    "wraps a statement fragment in a function, and one using ? in a function returning Result (needs rustc on PATH: skipped without it)",
    async () => {
      const v = await checker.check(FRAGMENT, "rust");
      expect(v).toMatchObject({ status: "compiles", wrapped: true });
      expect(v.detail).toMatch(/^rustc \d+\.\d+\.\d+\S*, wrapped in a function$/);
      expect(await checker.check(TRY_FRAGMENT, "")).toMatchObject({ status: "compiles", wrapped: true });
    },
  );

  it.skipIf(!hasRustc)("fails a borrow error with rustc's first error and its line in the block (needs rustc on PATH: skipped without it)", async () => {
    const v = await checker.check(BORROW_ERROR, "rust");
    expect(v).toMatchObject({ status: "fails", parses: true });
    expect(v.detail).toBe("error[E0382]: borrow of moved value: `v` (line 3)");
  });

  it.skipIf(!hasRustc)("labels a fragment that uses names it does not define as parses-only (needs rustc on PATH: skipped without it)", async () => {
    const v = await checker.check(NEEDS_CONTEXT, "rust");
    expect(v.status).toBe("parses-only");
    expect(v.detail).toMatch(/^a fragment: it uses names it does not define \(error\[E04\d\d\]: cannot find type `Meters`/);
  });

  it.skipIf(!hasRustc)("labels code that needs an external crate as not checkable (needs rustc on PATH: skipped without it)", async () => {
    const v = await checker.check(EXTERNAL, "rust");
    expect(v.status).toBe("not-checkable");
    expect(v.detail).toMatch(/^needs the external crate `serde`/);
  });

  it.skipIf(!hasRustc)("never compiles inside the input or output directories (needs rustc on PATH: skipped without it)", async () => {
    const guarded = new RustChecker({ forbiddenDirs: [os.tmpdir()] });
    const v = await guarded.check(VALID_ITEMS, "rust");
    expect(v.status).toBe("not-checkable");
    expect(v.detail).toMatch(/temp dir .* is inside/);
  });

  it.skipIf(!hasRustc)("leaves no temporary crate behind (needs rustc on PATH: skipped without it)", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-tmproot-"));
    try {
      await new RustChecker({ tmpRoot: root }).check("pub fn tmp_check_unique() -> u8 { 7 }", "rust");
      expect(fs.readdirSync(root)).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasRustc)("gives up on a compile that runs past the time limit (needs rustc on PATH: skipped without it)", async () => {
    // No rustc run finishes within 1 ms: the first pass (macro expansion) stops, with its one refusal.
    const slow = new RustChecker({ timeoutMs: 1 });
    const v = await slow.check("pub fn f() -> u32 { 1 }", "rust");
    expect(v).toMatchObject({ status: "not-checkable", detail: UNIFORM_REFUSAL });
  });
});

describe("verdict cache", () => {
  it("answers the same code from the run database without checking again", async () => {
    const db = new Database(":memory:");
    const cache = new CodeCheckCache(db);
    const first = await new RustChecker({ rustc: false, cache }).check(FRAGMENT, "rust");
    expect(db.prepare("SELECT COUNT(*) AS n FROM code_checks").get()).toEqual({ n: 1 });
    // Mark the stored verdict: a second checker must return the marked one, not check again.
    db.prepare("UPDATE code_checks SET json = ?").run(JSON.stringify({ ...first, detail: "from the cache" }));
    const second = new RustChecker({ rustc: false, cache });
    expect(await second.check(FRAGMENT, "rust")).toEqual({ ...first, detail: "from the cache" });
    // Another language tag is another key.
    await second.check(FRAGMENT, "rs");
    expect(db.prepare("SELECT COUNT(*) AS n FROM code_checks").get()).toEqual({ n: 2 });
    db.close();
  });

  it("drops verdicts of a checker without the dep-info first pass (they may carry what a macro-built #[path] read)", () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE code_checks (key TEXT PRIMARY KEY, json TEXT NOT NULL, created_at TEXT NOT NULL, sandboxed INTEGER NOT NULL DEFAULT 1)");
    db.prepare("INSERT INTO code_checks (key, json, created_at) VALUES ('k', '{\"detail\":\"the index is 8316790972537328197\"}', 'then')").run();
    const cache = new CodeCheckCache(db);
    expect(cache.get("k")).toBeUndefined();
    expect(db.prepare("SELECT COUNT(*) AS n FROM code_checks").get()).toEqual({ n: 0 });
    db.close();
  });
});
