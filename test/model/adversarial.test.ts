/**
 * The adversarial suite (issue 14): a hostile corpus generated in a sandbox directory, run through
 * the CLI with the tiny real model, then a second time over the knowledge base it wrote with user
 * files planted in it. TAVILY_API_KEY is set to a canary throughout. Each case is one assertion;
 * the cases that need a model to write particular text (remote images, a hostile example reaching
 * the code check) run in process with the scripted backend.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { inflateSync } from "node:zlib";
import Database from "better-sqlite3";
import MarkdownIt from "markdown-it";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { createServices } from "../../src/run/createServices.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { CodeCheckCache } from "../../src/validate/CodeCheckCache.ts";
import { UNIFORM_REFUSAL } from "../../src/validate/firstPassStayedInside.ts";
import { RustChecker } from "../../src/validate/rustCheck.ts";
import { type CliResult, runCli, summaryOf } from "../helpers/cli.ts";
import { answerPerPattern, ScriptedBackend, sharedModel } from "../helpers/scriptedBackend.ts";

const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");
const hasRustc = spawnSync("rustc", ["--version"]).status === 0;
const CANARY = `tvly-CANARY-${process.pid}-d41d8cd98f00b204`;
/** Content of a file outside the input that a symlink inside it points at. */
const OUTSIDE = `OUTSIDE-SECRET-${process.pid}-e3b0c442`;
const ESC = "\u001b";

/** Hostile file names (relative to the input), each a case of its own. */
const NAMES = {
  envMacro: "hostile/env-macro.md",
  includes: "hostile/includes.md",
  nestedJson: "deep/nested.json",
  nestedQuotes: "deep/nested-quotes.md",
  manyBlocks: "deep/many-code-blocks.md",
  backticks: "names/`rm -rf ~`.md",
  html: "names/<img src=x onerror=alert(1)>.md",
  escape: `names/${ESC}]0;owned${ESC}\\${ESC}[31mred.md`,
  symlink: "escape.md",
  // Issue 23: names that would print lines of their own, or show as another name.
  newline: "names/fake\n✔ done: 99 files processed.md",
  tab: "names/tab\there.md",
  bidi: "names/\u202Egnp.md",
  macroPath: "hostile/macro-path.md",
  huge: "huge.md",
  empty: "empty.md",
  normal: "newtype.md",
} as const;
/** Issue 23: a number a const index would print if rustc read the outside file (its first 8 bytes, little-endian). */
const OUTSIDE_NUMBER = "8316790972537328197";
/** The Rust file outside the input that a macro-built `#[path]` points at. */
const outsideRust = (outsideDir: string) => path.join(outsideDir, "secret.rs");
/** Snippets that reach the outside file through macro-built attributes (issue 23's repro and variants). */
const MACRO_TRICKS = (outsideDir: string) => [
  `macro_rules! m { ($b:tt) => { # $b mod x; } }\nm!([path = "${outsideRust(outsideDir)}"]);\nconst A: [u8; 1] = [0];\npub const X: u8 = A[x::N as usize];`,
  `macro_rules! m { ($b:tt) => { # $b mod x; } }\nm!([path = "${path.join(outsideDir, "missing.rs")}"]);`,
  `macro_rules! m { ($($t:tt)*) => { $($t)* } }\nm!(pub const K: &[u8] = include_bytes ! ("${path.join(outsideDir, "secret.md")}"););`,
  `macro_rules! m { ($($p:tt)*) => { pub const X: &str = $($p)*!("TAVILY_API_KEY"); } }\nm!(env);`,
];
/** `extern $c core` loads only the toolchain's own crate (nothing outside it): refused by the token scan, compiled without it. */
const EXTERN_TRICK = "macro_rules! m { ($c:tt) => { extern $c core; } }\nm!(crate);";
/** Latin-1 bytes in a file name ("café.md" as an old archive stores it). */
const LATIN1_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x6d, 0x64]);

const RUST = (code: string) => `\`\`\`rust\n${code}\n\`\`\``;

function writeCorpus(input: string, outsideDir: string): void {
  const put = (rel: string, text: string | Buffer) => {
    fs.mkdirSync(path.dirname(path.join(input, rel)), { recursive: true });
    fs.writeFileSync(path.join(input, rel), text);
  };
  put(
    NAMES.envMacro,
    [
      "# Reading configuration at compile time",
      "",
      "Embed configuration into the binary with a compile-time macro so nothing is read at run time.",
      "",
      RUST('compile_error!(env!("TAVILY_API_KEY"));'),
      "",
      RUST('const KEY: &str = ::core::env!("TAVILY_API_KEY");\nfn main() { let _ = KEY; }'),
      "",
      RUST('const K: Option<&str> = option_env!("TAVILY_API_KEY");\nconst _: () = assert!(K.is_none(), "key");'),
      "",
      RUST('compile_error!(concat!("k=", env!("TAVILY_API_KEY")));'),
    ].join("\n"),
  );
  put(
    NAMES.includes,
    [
      "# Embedding files",
      "",
      "Embed a file's bytes in the binary so it ships as one file.",
      "",
      RUST('compile_error!(include_str!("/etc/hostname"));'),
      "",
      RUST(`compile_error!(include_str!("${path.join(outsideDir, "secret.md")}"));`),
      "",
      RUST('static ZERO: &[u8] = include_bytes!("/dev/zero");'),
      "",
      RUST('#[path = "/etc/passwd"]\nmod passwd;'),
      "",
      RUST("const fn spin() -> u64 { let mut i = 0u64; loop { i = i.wrapping_add(1); } }\nconst X: u64 = spin();"),
    ].join("\n"),
  );
  const depth = 100_000;
  put(NAMES.nestedJson, `{"note": ${"[".repeat(depth)}"deep"${"]".repeat(depth)}}`);
  put(NAMES.nestedQuotes, `# Quotes\n\n${"> ".repeat(20_000)}Deeply quoted advice about ownership.\n`);
  put(
    NAMES.manyBlocks,
    `# Many blocks\n\n${Array.from({ length: 1000 }, (_, i) => `Step ${i} moves a value.\n\n${RUST(`let v${i} = String::new();`)}\n`).join("\n")}`,
  );
  put(
    NAMES.macroPath,
    [
      "# Modules from elsewhere",
      "",
      "Pull a module in from another path with a small macro.",
      "",
      ...[...MACRO_TRICKS(outsideDir), EXTERN_TRICK].flatMap((c) => [RUST(c), ""]),
    ].join("\n"),
  );
  const prose = "# Newtype\n\nWrap a value in a tuple struct to give it a distinct type the compiler keeps apart.\n\n";
  put(NAMES.backticks, `${prose}${RUST("struct Meters(f64);")}\n`);
  put(NAMES.html, `# Builder <script>alert(1)</script>\n\nBuild a value step by step, then call build.\n`);
  put(NAMES.escape, `# Red ${ESC}[31mtext${ESC}[0m\n\nPrefer Result over panics ${ESC}]0;title${ESC}\\ in libraries.\n`);
  fs.writeFileSync(Buffer.concat([Buffer.from(`${input}/`), LATIN1_NAME]), "# Café notes\n\nUse Option instead of null values.\n");
  fs.writeFileSync(path.join(outsideDir, "secret.md"), `# Secret\n\n${OUTSIDE}\n`);
  fs.writeFileSync(outsideRust(outsideDir), `pub const N: u64 = ${OUTSIDE_NUMBER};\npub const S: &str = "${OUTSIDE}";\n`);
  for (const rel of [NAMES.newline, NAMES.tab, NAMES.bidi]) put(rel, `# Errors\n\nPrefer Result over panics in libraries.\n`);
  fs.symlinkSync(path.join(outsideDir, "secret.md"), path.join(input, NAMES.symlink));
  put(NAMES.huge, `# Huge\n\n${"Lots of words about iterators. ".repeat(45_000)}\n`); // ~1.3 MiB > --max-file-mb 1
  put(NAMES.empty, "");
  put(NAMES.normal, `${prose}${RUST("struct Meters(f64);\nfn run(d: Meters) {}")}\n`);
}

/** Every path under root (byte paths: some names are not UTF-8) with its size and mtime, skipping the given top-level names. */
function snapshot(root: string, skip: readonly string[]): Map<string, string> {
  const snap = new Map<string, string>();
  const walk = (d: Buffer) => {
    for (const name of fs.readdirSync(d, { encoding: "buffer" }).sort(Buffer.compare)) {
      const full = Buffer.concat([d, Buffer.from("/"), name]);
      const rel = full.subarray(root.length + 1).toString("latin1");
      if (skip.includes(rel)) continue;
      const st = fs.lstatSync(full);
      snap.set(rel, `${st.isDirectory() ? "dir" : st.size}@${st.mtimeMs}`);
      if (st.isDirectory()) walk(full);
    }
  };
  walk(Buffer.from(root));
  return snap;
}

/** Whether the canary occurs in a file: raw bytes, zlib-deflated values, and every SQLite cell (inflated too). */
function fileHolds(file: string | Buffer, needle: string): boolean {
  const bytes = fs.readFileSync(file);
  const holds = (b: Buffer | string): boolean => {
    const buf = typeof b === "string" ? Buffer.from(b) : b;
    if (buf.includes(needle)) return true;
    if (buf.length > 2 && buf[0] === 0x78) {
      try {
        return inflateSync(buf).includes(needle);
      } catch {
        return false;
      }
    }
    return false;
  };
  if (holds(bytes)) return true;
  if (!bytes.subarray(0, 16).toString("latin1").startsWith("SQLite format 3")) return false;
  const image = Buffer.from(bytes);
  image[18] = 1;
  image[19] = 1;
  const db = new Database(image, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    for (const { name } of tables) {
      let rows: Record<string, unknown>[];
      try {
        rows = db.prepare(`SELECT * FROM "${name.replace(/"/g, '""')}"`).all() as Record<string, unknown>[];
      } catch {
        continue; // FTS shadow tables that need their module
      }
      for (const row of rows) for (const v of Object.values(row)) if ((typeof v === "string" || Buffer.isBuffer(v)) && holds(v as Buffer | string)) return true;
    }
  } finally {
    db.close();
  }
  return false;
}

/** Regular files under root, as byte paths (names need not be UTF-8). */
function filesUnder(root: string): Buffer[] {
  if (!fs.existsSync(root)) return [];
  const files: Buffer[] = [];
  const walk = (d: Buffer) => {
    for (const name of fs.readdirSync(d, { encoding: "buffer" })) {
      const full = Buffer.concat([d, Buffer.from("/"), name]);
      const st = fs.lstatSync(full);
      if (st.isDirectory()) walk(full);
      else if (st.isFile()) files.push(full);
    }
  };
  walk(Buffer.from(root));
  return files;
}

let sandbox: string;
let input: string;
let out: string;
let dbDir: string;
let first: CliResult;
let second: CliResult;
let listed: CliResult;
let before: Map<string, string>;
let beforeList: Map<string, string>;
const USER_FILES: Record<string, string> = {};

function graphArgs(): string[] {
  return [
    ...["--input", input, "--out", out, "--db", path.join(dbDir, "runs.sqlite"), "--model", MODEL],
    ...["--threads", "1", "--concurrency", "2", "--no-llm-review", "--research", "input", "--max-file-mb", "1", "--json"],
  ];
}

const skipReason = (r: CliResult, rel: string) => (summaryOf(r).skipped as { path: string; reason: string }[]).find((s) => s.path === rel)?.reason;

describe("hostile corpus through the CLI (tiny model)", () => {
  beforeAll(async () => {
    sandbox = fs.mkdtempSync(path.join(os.tmpdir(), "kb-adversarial-"));
    input = path.join(sandbox, "in");
    out = path.join(sandbox, "kb");
    dbDir = path.join(sandbox, "db");
    fs.mkdirSync(input);
    fs.mkdirSync(path.join(sandbox, "outside"));
    fs.mkdirSync(path.join(sandbox, "tmp"));
    writeCorpus(input, path.join(sandbox, "outside"));
    // A user's file beside the knowledge base.
    USER_FILES["notes-beside-kb.md"] = "mine, beside the KB\n";
    fs.writeFileSync(path.join(sandbox, "notes-beside-kb.md"), USER_FILES["notes-beside-kb.md"]);
    before = snapshot(sandbox, ["kb", "db", "tmp"]);
    const env = { TAVILY_API_KEY: CANARY, TMPDIR: path.join(sandbox, "tmp"), RUST_KB_OFFLINE: "1" };
    first = await runCli("graph", graphArgs(), { env });
    // User files inside the knowledge base, then a second run over it (kb rebuild path included).
    USER_FILES["kb/patterns/mine.md"] = "# My own pattern page\n";
    USER_FILES["kb/a/b/.tmp-keep"] = "keep me\n";
    for (const rel of ["kb/patterns/mine.md", "kb/a/b/.tmp-keep"]) {
      fs.mkdirSync(path.dirname(path.join(sandbox, rel)), { recursive: true });
      fs.writeFileSync(path.join(sandbox, rel), USER_FILES[rel] as string);
    }
    // Writers other than a run: rebuild re-renders the pages; list only reads.
    second = await runCli("kb", ["rebuild", "--out", out], { env });
    beforeList = snapshot(sandbox, ["tmp"]);
    listed = await runCli("kb", ["list", "--out", out], { env });
  }, 240_000);
  afterAll(() => fs.rmSync(sandbox, { recursive: true, force: true }));

  it("the run, kb rebuild and kb list exit 0", () => {
    expect([first.code, second.code, listed.code], `${first.stderr}\n${second.stderr}\n${listed.stderr}`).toEqual([0, 0, 0]);
  });

  it("kb list writes nothing", () => {
    expect(snapshot(sandbox, ["tmp"])).toEqual(beforeList);
  });

  it("every file is accounted for: processed, quarantined, or skipped with a reason", () => {
    const s = summaryOf(first);
    expect(s.files.pending).toBe(0);
    expect(s.files.found).toBe(Object.keys(NAMES).length + 1);
    for (const k of [...s.skipped, ...s.quarantinedFiles] as { path: string; reason: string }[]) expect(k.reason, k.path).toMatch(/\S{3,}/);
  });

  it("the empty file is skipped as empty", () => {
    expect(skipReason(first, NAMES.empty)).toMatch(/empty|no text/);
  });

  it("the huge file is skipped as too large", () => {
    expect(skipReason(first, NAMES.huge)).toMatch(/too large/);
  });

  it("the symlink that leaves the input is not followed", () => {
    expect(skipReason(first, NAMES.symlink)).toMatch(/outside the input/);
  });

  it("the Latin-1 file name is read, not skipped as missing", () => {
    const reasons = (summaryOf(first).skipped as { path: string; reason: string }[]).filter((s) => /caf/.test(s.path)).map((s) => s.reason);
    expect(reasons.filter((r) => /ENOENT|cannot read/.test(r))).toEqual([]);
  });

  it.each([
    ["deeply nested JSON", NAMES.nestedJson],
    ["deeply nested blockquotes", NAMES.nestedQuotes],
    ["many code blocks", NAMES.manyBlocks],
  ])("%s does not stop the run (handled, or skipped with a reason)", (_what, rel) => {
    const s = summaryOf(first);
    expect(s.status).toBe("done");
    const reason = skipReason(first, rel);
    if (reason !== undefined) expect(reason).not.toMatch(/Maximum call stack|unexpected error/);
  });

  it("hostile file names reach the pages as text: no raw HTML, no control character", () => {
    const pages = filesUnder(out)
      .map(String)
      .filter((f) => f.endsWith(".md") && !f.includes("/.kb/") && !f.endsWith("/mine.md"));
    expect(pages.length).toBeGreaterThan(0);
    const text = pages.map((f) => fs.readFileSync(f, "utf8")).join("\n");
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    // Rendered as a viewer that allows raw HTML would: the names are text (in code spans), never tags.
    const html = pages.map((f) => new MarkdownIt({ html: true }).render(fs.readFileSync(f, "utf8").replace(/^---\n[\s\S]*?\n---\n/, ""))).join("\n");
    expect(html).not.toMatch(/<(img|script)[\s>]/);
  });

  it("no control character from file names reaches the terminal", () => {
    expect(first.stderr + second.stderr + listed.stdout + listed.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  });

  it("a file name cannot print a line of its own or reorder one: newline and tab escaped, bidi controls gone (issue 23)", () => {
    const terminal = first.stdout + first.stderr + second.stderr + listed.stdout + listed.stderr;
    expect(terminal.split("\n").filter((l) => l.startsWith("✔ done: 99 files processed"))).toEqual([]);
    expect(terminal).not.toMatch(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
    const paths = [...(summaryOf(first).skipped as { path: string }[]), ...(summaryOf(first).quarantinedFiles as { path: string }[])].map((f) => f.path);
    const events = first.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { path?: string });
    for (const p of [...paths, ...events.map((e) => e.path ?? "")]) expect(p).not.toMatch(/[\n\t\u202a-\u202e\u2066-\u2069]/);
    expect(events.some((e) => e.path === "names/fake\\x0A✔ done: 99 files processed.md")).toBe(true);
  });

  it("pages and kb.json carry no bidi control (issue 23)", () => {
    const texts = filesUnder(out)
      .map(String)
      .filter((f) => (f.endsWith(".md") || f.endsWith(".json")) && !f.includes("/.kb/") && !f.endsWith("/mine.md"))
      .map((f) => fs.readFileSync(f, "utf8"));
    expect(texts.join("\n")).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
  });

  it("the canary is nowhere: output tree, run database, stdout, stderr, events", () => {
    const hits = [...filesUnder(out), ...filesUnder(dbDir), ...filesUnder(path.join(sandbox, "tmp"))].filter((f) => fileHolds(f, CANARY)).map(String);
    expect(hits).toEqual([]);
    expect(first.stdout + first.stderr + second.stdout + second.stderr + listed.stdout + listed.stderr).not.toContain(CANARY);
  });

  it("the file outside the input (and /etc/hostname) is nowhere in the output or the database", () => {
    const hostname = fs.existsSync("/etc/hostname") ? fs.readFileSync("/etc/hostname", "utf8").trim() : "";
    const leaks = [...filesUnder(out), ...filesUnder(dbDir)]
      .filter((f) => fileHolds(f, OUTSIDE) || fileHolds(f, OUTSIDE_NUMBER) || (hostname.length >= 6 && fileHolds(f, `error: ${hostname}`)))
      .map(String);
    expect(leaks).toEqual([]);
  });

  it("nothing is written outside --out and the DB directory (temporary files included)", () => {
    expect(snapshot(sandbox, ["kb", "db", "tmp"])).toEqual(before);
    // tsx (which runs the CLI from source, as npm run does) caches compiled modules in TMPDIR/tsx-<uid>: not ours.
    const ours = filesUnder(path.join(sandbox, "tmp"))
      .map(String)
      .filter((f) => !/\/tmp\/tsx-\d+\//.test(f));
    expect(ours).toEqual([]);
  });

  it("no user file is removed or changed", () => {
    for (const [rel, text] of Object.entries(USER_FILES)) expect(fs.readFileSync(path.join(sandbox, rel), "utf8"), rel).toBe(text);
  });
});

describe("hostile model text (scripted model) and a hostile example through the code check", () => {
  const IMAGE = "![pixel](https://evil.example/track.png?u=1)";
  let dir: string;
  let saved: string | undefined;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-adversarial-scripted-"));
    fs.mkdirSync(path.join(dir, "in"));
    fs.writeFileSync(
      path.join(dir, "in", "config.md"),
      `# Compile-time configuration\n\nEmbed configuration with a macro so the binary carries it.\n\n${RUST('compile_error!(env!("TAVILY_API_KEY"));')}\n`,
    );
    // Issue 23: macro-built attributes and macro names that reach a file outside (or probe for one).
    fs.mkdirSync(path.join(dir, "outside"));
    fs.writeFileSync(path.join(dir, "outside", "secret.md"), `# Secret\n\n${OUTSIDE}\n`);
    fs.writeFileSync(outsideRust(path.join(dir, "outside")), `pub const N: u64 = ${OUTSIDE_NUMBER};\npub const S: &str = "${OUTSIDE}";\n`);
    for (const [i, code] of MACRO_TRICKS(path.join(dir, "outside")).entries())
      fs.writeFileSync(
        path.join(dir, "in", `trick-${i}.md`),
        `# Modules from elsewhere\n\nPull a module in from another path with a small macro.\n\n${RUST(code)}\n`,
      );
    saved = process.env.TAVILY_API_KEY;
    process.env.TAVILY_API_KEY = CANARY;
    await runScripted();
  }, 120_000);
  afterAll(() => {
    if (saved === undefined) delete process.env.TAVILY_API_KEY;
    else process.env.TAVILY_API_KEY = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function script(req: BackendRequest): string {
    switch (req.role) {
      case "extractor":
        return JSON.stringify({
          // The name stays within the extractor's 60 characters (a longer one made every file unusable, and nothing reached the code check).
          patterns: [{ name: `Config ${IMAGE}`, category: "api-design", summary: `Embed settings. ${IMAGE}`, evidence: ["S1", "C1"] }],
        });
      // Researcher, writer and validator answer for every pattern of a file in one call (`byPattern`).
      case "researcher":
        return answerPerPattern(req, () => ({ relevant: [], note: "" }));
      case "writer":
        return answerPerPattern(req, () => ({
          summary: `Embedding configuration at compile time keeps the binary self-contained and the settings fixed. ${IMAGE} <img src="https://evil.example/i.png">`,
          whenToUse: [`when settings never change after the build ${IMAGE}`],
          whenNotToUse: ["when operators must change settings [here](javascript:alert(1))"],
          pitfalls: [`secrets end up in the binary ![x](https://evil.example/x.png)`],
          example: "C1",
          sources: [],
        }));
      case "validator":
        return answerPerPattern(req, () => ({ verdict: "pass", problems: [] }));
      case "synthesizer":
        return JSON.stringify({ verdict: "different", reason: "scripted" });
    }
    throw new Error(`unexpected role ${req.role}`);
  }

  let pages: string[] = [];
  let dbFile = "";
  async function runScripted(): Promise<void> {
    dbFile = path.join(dir, "runs.sqlite");
    const db = RunDatabase.open(dbFile);
    const backend = new ScriptedBackend(script, { modelId: "scripted@1" });
    // The token scan off: rustc's own first pass alone must keep every file and variable out (issue 23).
    const codeCheck = new RustChecker({
      cache: new CodeCheckCache(db.connection),
      forbiddenDirs: [path.join(dir, "in"), path.join(dir, "kb")],
      tokenScan: false,
    });
    const services = createServices({ db, backendFor: () => backend, events: () => {}, codeCheck });
    try {
      const graph = buildPipelineGraph(services.deps, { concurrency: 2, checkpointer: db.checkpointer() });
      await graph.invoke(
        { inputDir: path.join(dir, "in"), outDir: path.join(dir, "kb"), exclude: [] },
        { configurable: { thread_id: "run-adv" }, recursionLimit: 200 },
      );
    } finally {
      services.close();
      db.close();
    }
    pages = filesUnder(path.join(dir, "kb"))
      .map((f) => f.toString())
      .filter((f) => f.endsWith(".md") && !f.includes("/.kb/"));
  }

  it("pages hold no image and no raw HTML from model text", () => {
    const text = pages.map((f) => fs.readFileSync(f, "utf8").replace(/^---\n[\s\S]*?\n---\n/, "")).join("\n");
    expect(pages.length).toBeGreaterThan(1);
    expect(text).not.toMatch(/!\[[^\]]*\]\(|<img|javascript:/);
  });

  it("the canary is nowhere in the pages, kb.json or the run database", () => {
    expect([...filesUnder(path.join(dir, "kb")), Buffer.from(dbFile)].filter((f) => fs.existsSync(f) && fileHolds(f, CANARY)).map(String)).toEqual([]);
  });

  it("no byte of the outside file, as text or as a number, is in the pages, kb.json or the run database (issue 23)", () => {
    const files = [...filesUnder(path.join(dir, "kb")), Buffer.from(dbFile)].filter((f) => fs.existsSync(f));
    expect(files.filter((f) => fileHolds(f, OUTSIDE) || fileHolds(f, OUTSIDE_NUMBER)).map(String)).toEqual([]);
  });

  it.skipIf(!hasRustc)("every hostile example reached rustc's first pass and got its one refusal, whether the file exists or not (issue 23)", () => {
    const db = new Database(dbFile, { readonly: true });
    try {
      const verdicts = (db.prepare("SELECT json FROM code_checks").all() as { json: string }[]).map(
        (r) => JSON.parse(r.json) as { status: string; detail: string },
      );
      expect(verdicts.length).toBeGreaterThanOrEqual(MACRO_TRICKS("").length);
      for (const v of verdicts) expect(v).toMatchObject({ status: "not-checkable", detail: UNIFORM_REFUSAL });
    } finally {
      db.close();
    }
  });
});
