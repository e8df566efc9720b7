/**
 * The rust sandbox's first-pass suite (test/unit/rustSandbox.test.ts and rustSandboxUnconfined.test.ts
 * run it in each confinement mode: two files, so the two modes' rustc runs use both cores).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemTool } from "../../src/util/spawnGuarded.ts";
import { UNIFORM_REFUSAL } from "../../src/validate/firstPassStayedInside.ts";
import { RustChecker } from "../../src/validate/rustCheck.ts";

const hasRustc = spawnSync("rustc", ["--version"], { encoding: "utf8" }).status === 0;

/**
 * Issue 23: rustc's first pass decides, not token shapes. With the token scan off, every way of
 * making the compiler reach outside the snippet — macro-built attributes and macro names included —
 * ends in the same refusal, whether the file exists, is missing, is a directory, a device or a FIFO,
 * and no byte of the file (as text or as a number) reaches a verdict.
 */
export function rustFirstPassSuite(mode: string, confine: boolean): void {
  describe(`rustc's first pass decides what is compiled (token scan off; ${mode})`, () => {
    const SECRET = "sk-SECRET-a1b2c3d4";
    /** The secret's first 8 bytes as the little-endian u64 a const index would print. */
    const SECRET_NUMBER = Buffer.from(SECRET).readBigUInt64LE(0).toString();
    let dir: string;
    let fifo: string | undefined;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-outside-"));
      fs.writeFileSync(path.join(dir, "key.txt"), SECRET);
      fs.writeFileSync(path.join(dir, "module.rs"), `pub const K: &str = "${SECRET}";\n`);
      fs.mkdirSync(path.join(dir, "sub"));
      fs.writeFileSync(path.join(dir, "sub", "inner.rs"), `pub const K: &str = "${SECRET}";\n`);
      if (systemTool("mkfifo") && spawnSync(systemTool("mkfifo") as string, [path.join(dir, "pipe")]).status === 0) fifo = path.join(dir, "pipe");
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const through = (body: string) => `macro_rules! m { ($($t:tt)*) => { $($t)* } }\nm!(${body});`;
    /** Each snippet reaches for `target`; the verdict must not depend on what is there. */
    const reaching: [string, (target: string) => string][] = [
      ["`# $b` + [path] (issue's repro)", (t) => `macro_rules! m { ($b:tt) => { # $b mod x; } }\nm!([path = "${t}"]);`],
      ["#[path] through a token tree", (t) => through(`# [path = "${t}"] pub mod x;`)],
      ["include_bytes! through a token tree", (t) => through(`pub const K: &[u8] = include_bytes ! ("${t}");`)],
      ["include_str! through a token tree", (t) => through(`pub const K: &str = include_str ! ("${t}");`)],
      ["include! through a token tree", (t) => through(`include ! ("${t}");`)],
      ["#[doc = include_str!] through a token tree", (t) => through(`# [doc = include_str ! ("${t}")] pub struct S;`)],
      ["debugger_visualizer via `# $b`", (t) => `macro_rules! m { ($b:tt) => { # $b pub mod x {} } }\nm!([debugger_visualizer(gdb_script_file = "${t}")]);`],
      [
        "const index leak (8 bytes as a number)",
        (t) =>
          `${through(`const K: &[u8] = include_bytes ! ("${t}");`)}\nconst A: [u8; 1] = [0];\npub const X: u8 = A[u64::from_le_bytes([K[0], K[1], K[2], K[3], K[4], K[5], K[6], K[7]]) as usize];`,
      ],
    ];
    const checker = () => new RustChecker({ tokenScan: false, timeoutMs: 8_000, confine });

    it.skipIf(!hasRustc).each(reaching)(
      "%s: one refusal for a file that exists, one that is missing, a directory and /dev/zero; nothing of the file published (needs rustc on PATH)",
      async (_name, make) => {
        const c = checker();
        const targets = [path.join(dir, "key.txt"), path.join(dir, "module.rs"), path.join(dir, "missing.rs"), dir, "/dev/zero"];
        const verdicts = [];
        for (const t of targets) verdicts.push(await c.check(make(t), "rust"));
        for (const v of verdicts) expect(v).toMatchObject({ status: "not-checkable", detail: UNIFORM_REFUSAL });
        const text = JSON.stringify(verdicts);
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(SECRET_NUMBER);
        expect(text).not.toContain(dir);
      },
      120_000,
    );

    it.skipIf(!hasRustc)(
      "a FIFO does not hang the check: the first pass ends at its time limit with the same refusal (needs rustc on PATH and mkfifo)",
      async (ctx) => {
        if (!fifo) ctx.skip();
        const v = await new RustChecker({ tokenScan: false, timeoutMs: 3_000, confine }).check(
          through(`pub const K: &[u8] = include_bytes ! ("${fifo}");`),
          "rust",
        );
        expect(v).toMatchObject({ status: "not-checkable", detail: UNIFORM_REFUSAL });
      },
      30_000,
    );

    it.skipIf(!hasRustc)(
      "a module directory given by #[path] on an inline module is refused whether its files exist or not (needs rustc on PATH)",
      async () => {
        const c = checker();
        const make = (d: string) => `macro_rules! m { ($b:tt) => { # $b pub mod a { pub mod inner; } } }\nm!([path = "${d}"]);`;
        const found = await c.check(make(path.join(dir, "sub")), "rust");
        const missing = await c.check(make(path.join(dir, "nope")), "rust");
        expect([found, missing]).toEqual([
          expect.objectContaining({ status: "not-checkable", detail: UNIFORM_REFUSAL }),
          expect.objectContaining({ status: "not-checkable", detail: UNIFORM_REFUSAL }),
        ]);
        expect(JSON.stringify(found)).not.toContain(SECRET);
      },
      60_000,
    );

    it.skipIf(!hasRustc)(
      "env! and option_env! named through a macro repetition are refused, set or unset (needs rustc on PATH)",
      async () => {
        const c = checker();
        for (const name of ["PATH", "TAVILY_API_KEY", "RUST_KB_NOT_SET_ANYWHERE"])
          for (const mac of ["env", "option_env"]) {
            const v = await c.check(`macro_rules! m { ($($p:tt)*) => { pub const X: &str = { let _ = $($p)*!("${name}"); "" }; } }\nm!(${mac});`, "rust");
            expect(v, `${mac} ${name}`).toMatchObject({ status: "not-checkable", detail: UNIFORM_REFUSAL });
          }
      },
      60_000,
    );

    it.skipIf(!hasRustc)(
      "ordinary code still compiles, fails or is a fragment as before (needs rustc on PATH)",
      async () => {
        const c = checker();
        expect((await c.check("pub fn f() -> u32 { 1 }", "rust")).status).toBe("compiles");
        expect(await c.check('let v = vec![1, 2, 3];\nlet w = v;\nprintln!("{:?}", v);', "rust")).toMatchObject({
          status: "fails",
          detail: "error[E0382]: borrow of moved value: `v` (line 3)",
        });
        expect(
          (await c.check("impl std::fmt::Display for Meters { fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { Ok(()) } }", "rust")).status,
        ).toBe("parses-only");
        expect((await c.check("use serde::Serialize;\n#[derive(Serialize)]\nstruct Point { x: i32 }", "rust")).detail).toMatch(
          /^needs the external crate `serde`/,
        );
        // A const index out of bounds in the snippet's own numbers: rustc's message, its values replaced.
        const oob = await c.check("const A: [u8; 1] = [0];\npub const X: u8 = A[8316790972537328197u64 as usize];", "rust");
        expect(JSON.stringify(oob)).not.toContain("8316790972537328197");
      },
      60_000,
    );
  });
}
