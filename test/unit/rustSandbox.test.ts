/**
 * The Rust code check against hostile snippets: nothing a snippet makes the compiler read (the
 * environment, files, devices) reaches a verdict, rustc gets an empty environment and rlimits,
 * and the detector is not fooled by comments, strings, whitespace or raw identifiers.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GuardedSpawnOptions } from "../../src/util/spawnGuarded.ts";
import { fileSystemConfinementAvailable, spawnGuarded, systemTool } from "../../src/util/spawnGuarded.ts";
import { firstPassStayedInside, UNIFORM_REFUSAL } from "../../src/validate/firstPassStayedInside.ts";
import { cleanDetail, RustChecker } from "../../src/validate/rustCheck.ts";
import { withoutValues } from "../../src/validate/withoutValues.ts";
import { rustFirstPassSuite } from "../helpers/rustFirstPassSuite.ts";

const hasRustc = spawnSync("rustc", ["--version"], { encoding: "utf8" }).status === 0;
const CANARY = "rk-canary-3b9f1e7d0c";
const hostname = fs.existsSync("/etc/hostname") ? fs.readFileSync("/etc/hostname", "utf8").trim() : "";

/** Snippets that would read the environment or files at compile time, each with the name the verdict should give. */
const HOSTILE: [string, string][] = [
  ['compile_error!(env!("TAVILY_API_KEY"));', "env"],
  ['compile_error!(option_env!("TAVILY_API_KEY").unwrap_or("none"));', "option_env"],
  ['compile_error!(include_str!("/etc/hostname"));', "include_str"],
  ['const Z: &[u8] = include_bytes!("/dev/zero");', "include_bytes"],
  ['include!("/etc/hostname");', "include"],
  ['const A: &str = include_str !  ("/etc/hostname");', "include_str"],
  ['const A: &str = r#include_str!("/etc/hostname");', "include_str"],
  ['const A: &str = include_str /* hi */ !("/etc/hostname");', "include_str"],
  ['const A: &str = std::include_str!("/etc/hostname");', "include_str"],
  ['use std::include_str as inc;\nconst A: &str = inc!("/etc/hostname");', "include_str"],
  ['use std::env as e;\nconst A: &str = e!("TAVILY_API_KEY");', "env"],
  ['macro_rules! call { ($m:ident) => { compile_error!($m!("TAVILY_API_KEY")); } }\ncall!(env);', "macro argument"],
  ['#[path = "/etc/hostname"]\nmod m;', "#[path]"],
  ['#[cfg_attr(all(), path = "/etc/hostname")]\nmod m;', "#[path]"],
  ['#![debugger_visualizer(gdb_script_file = "/etc/hostname")]', "#[debugger_visualizer]"],
  ["extern crate proc_macro;", "extern crate"],
  ['#[doc = include_str!("/etc/hostname")]\npub struct S;', "include_str"],
  ['println!("{}", include_str!("/etc/hostname"));', "include_str"],
  // Issue 23: macro tricks the first scan missed (the first pass catches them too: see below).
  ['macro_rules! m { ($b:tt) => { # $b mod x; } }\nm!([path = "/etc/hostname"]);', "# $"],
  ['macro_rules! m { ($b:tt) => { #! $b } }\nm!([path = "/etc/hostname"]);', "# $"],
  ['macro_rules! m { ($($p:tt)*) => { pub const X: &str = $($p)*!("TAVILY_API_KEY"); } }\nm!(env);', "$(…)*!"],
  ["macro_rules! m { ($c:tt) => { extern $c core; } }\nm!(crate);", "extern crate"],
  ["macro_rules! m { ($e:tt) => { $e crate core; } }\nm!(extern);", "extern crate"],
  ["#![feature(never_type)]\npub fn f() {}", "#![feature]"],
  ["#![cfg_attr(all(), feature(never_type))]\npub fn f() {}", "#![feature]"],
];

/** Not hostile: the names appear only in comments and strings, or as ordinary paths. */
const HARMLESS = [
  '// include_str!("/etc/hostname") is how you would embed a file\npub fn f() -> &\'static str { "include_str!(\\"/etc/hostname\\")" }',
  'pub fn f() -> &\'static str { r#"env!("TAVILY_API_KEY")"# }',
  '/* extern crate foo; #[path = "x"] */ pub fn g() {}',
  'pub fn key() -> Option<String> { std::env::var("HOME").ok() }',
  "use std::path::Path;\npub fn p(path: &Path) -> bool { path.exists() }",
];

describe("snippets that read files or the environment at compile time are not compiled", () => {
  const checker = new RustChecker({ timeoutMs: 30_000 });

  it.each(HOSTILE)("%s", async (code, name) => {
    const v = await checker.check(code, "rust");
    expect(v.status).toBe("not-checkable");
    expect(v.checker).toBe("tree-sitter");
    expect(v.detail).toMatch(/^parses; not compiled: it /);
    expect(v.detail).toContain(name);
  });

  it("still checks snippets that only mention those names in comments, strings or ordinary paths", async () => {
    const offline = new RustChecker({ rustc: false });
    for (const code of HARMLESS) expect((await offline.check(code, "rust")).detail, code).toBe("parses; compile check is off");
  });
});

describe("rustc's sandbox", () => {
  const saved = process.env.TAVILY_API_KEY;
  beforeAll(() => {
    process.env.TAVILY_API_KEY = CANARY;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.TAVILY_API_KEY;
    else process.env.TAVILY_API_KEY = saved;
  });

  it.skipIf(!hasRustc)(
    "starts rustc with an empty environment (PATH to its own directory, temp HOME and TMPDIR), no network, rlimits (needs rustc on PATH: skipped without it)",
    async () => {
      const seen: { command: string; args: readonly string[]; options: GuardedSpawnOptions }[] = [];
      const checker = new RustChecker({
        spawn: (command, args, options) => {
          seen.push({ command, args, options });
          return spawnGuarded(command, args, options);
        },
      });
      expect((await checker.check("pub fn f() -> u32 { 1 }", "rust")).status).toBe("compiles");
      // Two runs, both sandboxed alike: the dep-info first pass, then the check itself.
      expect(seen).toHaveLength(2);
      expect(seen.map((s) => s.args.find((a) => a.startsWith("--emit=")))).toEqual(["--emit=dep-info", "--emit=metadata"]);
      for (const { command, options } of seen) {
        expect(Object.keys(options.env).sort()).toEqual(["HOME", "PATH", "TMPDIR"]);
        expect(options.env.PATH).toBe(path.dirname(command));
        expect(options.env.HOME?.startsWith(options.cwd as string)).toBe(true);
        expect(options.env.TMPDIR?.startsWith(options.cwd as string)).toBe(true);
        expect(JSON.stringify(options.env)).not.toContain(CANARY);
        expect(options.noNetwork).toBe(true);
        expect(options.limits).toMatchObject({ cpuSeconds: expect.any(Number), addressSpaceBytes: expect.any(Number), fileSizeBytes: expect.any(Number) });
        expect(fs.existsSync(options.cwd as string)).toBe(false);
        // Confined where the machine allows it: the toolchain, system libraries and the check's own directory only.
        expect(options.confine !== undefined).toBe(fileSystemConfinementAvailable());
        const system = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc/ld.so.cache", "/dev/null"];
        const sysroot = fs.realpathSync(spawnSync("rustc", ["--print", "sysroot"], { encoding: "utf8" }).stdout.trim());
        for (const p of options.confine?.visible ?? [])
          expect(system.includes(p) || p === options.cwd || p === sysroot || command.startsWith(`${p}/`), `${p} is visible to rustc`).toBe(true);
      }
    },
  );

  it.skipIf(!hasRustc)("publishes no canary and no file contents for any hostile snippet (needs rustc on PATH: skipped without it)", async () => {
    const checker = new RustChecker({ timeoutMs: 30_000 });
    const verdicts = await Promise.all(HOSTILE.map(([code]) => checker.check(code, "rust")));
    const text = JSON.stringify(verdicts);
    expect(text).not.toContain(CANARY);
    if (hostname.length >= 4) expect(text).not.toContain(hostname);
  });

  it.skipIf(!hasRustc || !systemTool("prlimit"))(
    "stops macro expansion that spins (2^40 expansions) at the CPU limit of the first pass: the uniform refusal (needs rustc and util-linux prlimit: skipped without them)",
    async () => {
      const checker = new RustChecker({ timeoutMs: 120_000, limits: { cpuSeconds: 2 } });
      const started = Date.now();
      const x40 = Array.from({ length: 40 }, () => "x").join(" ");
      const v = await checker.check(`macro_rules! e { () => {}; (x $($t:tt)*) => { e!($($t)*); e!($($t)*); }; }\ne!(${x40});`, "rust");
      // Limits met while expanding macros are not named: reading a FIFO or /dev/zero meets them too.
      expect(v).toMatchObject({ status: "not-checkable", parses: true, detail: UNIFORM_REFUSAL });
      expect(Date.now() - started).toBeLessThan(100_000);
    },
    150_000,
  );

  it.skipIf(!hasRustc)(
    "ends a const-eval loop one way or another: rustc's own step limit, or the CPU limit (needs rustc on PATH: skipped without it)",
    async () => {
      const checker = new RustChecker({ timeoutMs: 120_000, limits: { cpuSeconds: 2 } });
      const v = await checker.check(
        "pub const X: usize = { let mut i = 0usize; loop { i = i.wrapping_add(1); if i == 0 { break; } } i };\npub fn f() -> [u8; X] { [0; X] }",
        "rust",
      );
      expect(["fails", "not-checkable"]).toContain(v.status);
      expect(v.detail).not.toMatch(/took longer than/);
    },
    150_000,
  );

  it.skipIf(!hasRustc || !systemTool("prlimit"))(
    "refuses a constant larger than the memory limit as not checkable (needs rustc and util-linux prlimit: skipped without them)",
    async () => {
      const checker = new RustChecker({ timeoutMs: 60_000, limits: { addressSpaceBytes: 2 * 1024 ** 3 } });
      const v = await checker.check("pub static A: [u8; 1 << 33] = [7; 1 << 33];", "rust");
      expect(v.status).toBe("not-checkable");
      expect(v.detail).toMatch(/memory limit|more memory than the check allows/);
    },
    90_000,
  );

  it.skipIf(!hasRustc)(
    "publishes no first-pass text (a compile_error! fails there) and never a temp path (needs rustc on PATH: skipped without it)",
    async () => {
      const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-sbx-"));
      const checker = new RustChecker({ tmpRoot });
      const v = await checker.check('compile_error!("the snippet says no");\npub fn f() { let x: u32 = "s"; }', "rust");
      expect(v).toMatchObject({ status: "not-checkable", detail: UNIFORM_REFUSAL });
      const typeError = await checker.check('pub fn f() { let x: u32 = "s"; }', "rust");
      expect(typeError.status).toBe("fails");
      expect(typeError.detail).toMatch(/^error\[E0308\]: mismatched types \(line 1\)$/);
      expect(JSON.stringify([v, typeError])).not.toContain(tmpRoot);
      fs.rmSync(tmpRoot, { recursive: true, force: true });
    },
  );
});

describe("verdict details", () => {
  it("replace known paths, drop control characters and stay short", () => {
    const detail = cleanDetail(`couldn't read \`/tmp/rust-kb-check-abc/x.rs\`\u001b[31m: ${"y".repeat(1000)}`, ["/tmp/rust-kb-check-abc"]);
    expect(detail).not.toContain("/tmp/rust-kb-check-abc");
    expect(detail).not.toContain("\u001b");
    expect(detail.length).toBeLessThanOrEqual(300);
    expect(detail.startsWith("couldn't read `…/x.rs` [31m: yyy")).toBe(true);
  });
});

rustFirstPassSuite("rustc confined to its toolchain and the check's directory where the machine allows it", true);

describe("the first pass's decision (firstPassStayedInside)", () => {
  const clean = "snippet.d: snippet.rs\n\nsnippet.rs:\n";
  const diag = (message: string, code?: string) => JSON.stringify({ level: "error", message, code: code ? { code } : null });
  const pass = (over: Partial<Parameters<typeof firstPassStayedInside>[0]>) =>
    firstPassStayedInside({ code: 0, signal: null, timedOut: false, depInfo: clean, stderr: "", ...over });

  it("lets through a pass that read only the snippet, with or without missing names", () => {
    expect(pass({})).toBe(true);
    expect(pass({ code: 1, stderr: [diag("cannot find value `x` in this scope", "E0425"), diag("aborting due to 1 previous error")].join("\n") })).toBe(true);
    expect(pass({ code: 1, stderr: diag("cannot find derive macro `Serialize` in this scope") })).toBe(true);
  });

  it("refuses any other file, any env-dep, a missing dep-info, an unknown line", () => {
    expect(pass({ depInfo: "snippet.d: snippet.rs /etc/hostname\n\nsnippet.rs:\n/etc/hostname:\n" })).toBe(false);
    expect(pass({ depInfo: `${clean}\n# env-dep:PATH=/usr/bin\n` })).toBe(false);
    expect(pass({ depInfo: `${clean}\n# env-dep:NOT_SET\n` })).toBe(false);
    expect(pass({ depInfo: undefined })).toBe(false);
    expect(pass({ depInfo: "" })).toBe(false);
    expect(pass({ depInfo: `${clean}# checksum:sha256=00\n` })).toBe(false);
  });

  it("refuses errors that are not about missing names (a failed read among them), limits, signals, crashes", () => {
    expect(pass({ code: 1, stderr: diag("couldn't read `/nope`: No such file or directory (os error 2)") })).toBe(false);
    expect(pass({ code: 1, stderr: diag("file not found for module `x`", "E0583") })).toBe(false);
    expect(pass({ code: 1, stderr: diag("environment variable `X` not defined at compile time") })).toBe(false);
    expect(pass({ code: 1, stderr: diag("the `#[debugger_visualizer]` attribute is an experimental feature", "E0658") })).toBe(false);
    expect(pass({ code: 1, stderr: diag("hello") })).toBe(false); // compile_error!("hello")
    expect(pass({ timedOut: true })).toBe(false);
    expect(pass({ code: null, signal: "SIGKILL" })).toBe(false);
    expect(pass({ code: 101 })).toBe(false);
    expect(pass({ code: 1, stderr: "memory allocation of 4294967296 bytes failed" })).toBe(false);
  });
});

describe("values in rustc's messages (withoutValues)", () => {
  it.each([
    ["index out of bounds: the length is 1 but the index is 8316790972537328197", "index out of bounds: the length is … but the index is …"],
    ["evaluation panicked: sk-SECRET", "evaluation panicked …"],
    ["the evaluated program panicked at 'sk-SECRET', snippet.rs:3:1", "the evaluated program panicked …"],
    ["non-exhaustive patterns: `'s'` not covered", "non-exhaustive patterns: `…` not covered"],
    ['mismatched types: expected `&str`, found "sk" and b"x"', "mismatched types: expected `&str`, found … and …"],
    ["expected `[u8; 8]`, found `u64`", "expected `[u8; …]`, found `u64`"],
    ["borrow of moved value: `v`", "borrow of moved value: `v`"],
    ["lifetime `'a` does not live long enough", "lifetime `'a` does not live long enough"],
    ["`Foo` doesn't implement `Display`", "`Foo` doesn't implement `Display`"],
  ])("%s", (message, expected) => {
    expect(withoutValues(message)).toBe(expected);
  });
});
