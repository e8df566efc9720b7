import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS } from "../../nodes/deps.ts";
import { makeSynthesize, pruneRefusal } from "../../nodes/synthesize.ts";
import { parseGraphArgs } from "../../src/commands/graph/parseGraphArgs.ts";
import { runKbCommand } from "../../src/commands/kb/kbCommand.ts";
import { parseKbArgs } from "../../src/commands/kb/parseKbArgs.ts";
import { isUserError } from "../../src/errors.ts";
import { KnowledgeBase } from "../../src/kb/KnowledgeBase.ts";
import { publishKnowledgeBase } from "../../src/kb/publish/publishKnowledgeBase.ts";
import { SITE_MANIFEST } from "../../src/kb/publish/site/writeSite.ts";
import { LlmService } from "../../src/llm/LlmService.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";
import { PromptLibrary } from "../../src/prompts/PromptLibrary.ts";
import { newRunDirectories } from "../../src/run/resolveRun.ts";
import type { PipelineOptions } from "../../src/run/types.ts";
import { DRAFTS, fillKb } from "../fixtures/kb/contributions.ts";
import { runCli } from "../helpers/cli.ts";
import { ScriptedBackend } from "../helpers/scriptedBackend.ts";

let dir: string;
let out: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-outsafety-"));
  out = path.join(dir, "kb");
  const kb = KnowledgeBase.open(out);
  fillKb(kb, DRAFTS);
  publishKnowledgeBase(kb, { judge: "none" });
  kb.close();
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Every path under root (directories too) with its size and mtime. */
function snapshot(root: string): Map<string, string> {
  const snap = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const full = path.join(d, name);
      const st = fs.lstatSync(full);
      snap.set(path.relative(root, full), `${st.isDirectory() ? "dir" : st.size}@${st.mtimeMs}`);
      if (st.isDirectory()) walk(full);
    }
  };
  walk(root);
  return snap;
}

function kb(...argv: string[]): { code: number; stdout: string; stderr: string } {
  const parsed = parseKbArgs([...argv, "--out", out]);
  if (parsed.kind !== "run") throw new Error(`bad args ${argv.join(" ")}`);
  let stdout = "";
  let stderr = "";
  const code = runKbCommand(parsed.options, {
    stdout: {
      write: (s: string) => {
        stdout += s;
        return true;
      },
    } as NodeJS.WritableStream,
    stderr: {
      write: (s: string) => {
        stderr += s;
        return true;
      },
    } as NodeJS.WritableStream,
  });
  return { code, stdout, stderr };
}

describe("read-only kb commands", () => {
  it("list keeps a user's a/b/.tmp-keep under the knowledge base", () => {
    fs.mkdirSync(path.join(out, "a", "b"), { recursive: true });
    fs.writeFileSync(path.join(out, "a", "b", ".tmp-keep"), "mine");
    expect(kb("list").code).toBe(0);
    expect(fs.readFileSync(path.join(out, "a", "b", ".tmp-keep"), "utf8")).toBe("mine");
  });

  it.each([
    [["list"]],
    [["search", "builder"]],
    [["show", "builder-pattern"]],
    [["list", "--json"]],
  ])("%j writes nothing (tree and mtimes unchanged)", (argv) => {
    const before = snapshot(dir);
    const r = kb(...argv);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(snapshot(dir)).toEqual(before);
  });

  it("reads the entries a writer has committed while it still holds the store open", () => {
    const writer = KnowledgeBase.open(out);
    try {
      writer.removeFilesNotIn(new Set());
      publishKnowledgeBase(writer, { judge: "none" });
      const r = kb("list", "--json");
      expect(JSON.parse(r.stdout).entries).toEqual([]);
    } finally {
      writer.close();
    }
  });

  it("refuses --break-lock on a command that takes no lock", () => {
    expect(parseKbArgs(["list", "--break-lock"]).kind).toBe("error");
    expect(parseKbArgs(["rebuild", "--break-lock"])).toMatchObject({ kind: "run", options: { breakLock: true } });
  });
});

describe("kb writers take the output lock", () => {
  it.each([["rebuild"], ["merge", "builder", "newtype"]])("%s refuses while a live run holds the lock, and writes nothing", async (...argv) => {
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    try {
      fs.writeFileSync(
        path.join(out, ".kb", "lock"),
        JSON.stringify({ runId: "run-busy", pid: child.pid, host: os.hostname(), db: "x.sqlite", startedAt: "t" }),
      );
      const before = snapshot(dir);
      const r = kb(...argv);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Run run-busy .* is writing to/);
      expect(snapshot(dir)).toEqual(before);
    } finally {
      child.kill();
    }
  });
});

describe("only files the tool wrote are replaced or removed", () => {
  it("rebuild keeps a user's own patterns/mine.md", () => {
    fs.writeFileSync(path.join(out, "patterns", "mine.md"), "# my notes\n");
    expect(kb("rebuild").code).toBe(0);
    expect(fs.readFileSync(path.join(out, "patterns", "mine.md"), "utf8")).toBe("# my notes\n");
  });

  it("a page no entry needs any more is removed when it is the tool's, kept when the user edited it", () => {
    const k = KnowledgeBase.open(out);
    try {
      const pages = fs.readdirSync(path.join(out, "patterns")).sort();
      expect(pages.length).toBeGreaterThan(1);
      const [edited, untouched] = [`patterns/${pages[0]}`, `patterns/${pages[1]}`];
      fs.appendFileSync(path.join(out, edited), "\nMy own note.\n");
      k.removeFilesNotIn(new Set());
      const r = publishKnowledgeBase(k, { judge: "none" });
      expect(fs.existsSync(path.join(out, untouched))).toBe(false);
      expect(fs.readFileSync(path.join(out, edited), "utf8")).toMatch(/My own note/);
      expect(r.kept).toEqual([edited]);
      expect(k.writtenFiles.paths()).not.toContain(edited);
    } finally {
      k.close();
    }
  });

  it("never overwrites a user's file where a page would go, and says so", () => {
    const k = KnowledgeBase.open(path.join(dir, "fresh"));
    try {
      fs.writeFileSync(path.join(dir, "fresh", "index.md"), "my index\n");
      fillKb(k, DRAFTS);
      const r = publishKnowledgeBase(k, { judge: "none" });
      expect(r.kept).toEqual(["index.md"]);
      expect(fs.readFileSync(path.join(dir, "fresh", "index.md"), "utf8")).toBe("my index\n");
      expect(fs.existsSync(path.join(dir, "fresh", "kb.json"))).toBe(true);
    } finally {
      k.close();
    }
  });

  it("adopts the pages of a knowledge base written before files were recorded, so they can still be replaced", () => {
    const k = KnowledgeBase.open(out);
    const recorded = k.writtenFiles.paths();
    k.close();
    expect(recorded).toContain("index.md");
    // Simulate an older store: no records.
    const legacy = KnowledgeBase.open(out);
    (legacy as unknown as { db: { exec(s: string): void } }).db.exec("DELETE FROM written_files; DELETE FROM meta WHERE key = 'filesRecorded'");
    legacy.close();
    const again = KnowledgeBase.open(out);
    try {
      expect(again.writtenFiles.paths()).toEqual(recorded);
    } finally {
      again.close();
    }
  });

  it("a user's files left alone at every output path are never adopted later", () => {
    const fresh = path.join(dir, "fresh2");
    const mine = ["index.md", "quarantine.md", "kb.json", "kb.schema.json", "patterns/newtype.md", "categories/type-safety.md"];
    for (const f of mine) {
      fs.mkdirSync(path.dirname(path.join(fresh, f)), { recursive: true });
      fs.writeFileSync(path.join(fresh, f), `mine: ${f}\n`);
    }
    const k = KnowledgeBase.open(fresh);
    try {
      fillKb(k, DRAFTS.slice(0, 1));
      expect(publishKnowledgeBase(k, { judge: "none" }).kept).toEqual([...mine].sort());
    } finally {
      k.close();
    }
    const again = KnowledgeBase.open(fresh);
    try {
      expect(again.writtenFiles.paths()).toEqual([]);
      publishKnowledgeBase(again, { judge: "none" });
      for (const f of mine) expect(fs.readFileSync(path.join(fresh, f), "utf8")).toBe(`mine: ${f}\n`);
    } finally {
      again.close();
    }
  });

  it("stale temporary files are removed only in the tool's folders and only with the tool's names", () => {
    const deadPid = 2 ** 22 + 12345; // above any pid_max: no such process
    const ours = path.join(out, "patterns", `.tmp-x.md.${deadPid}.0123abcd.kbtmp`);
    const userLookalike = path.join(out, "patterns", `.tmp-x.md.${deadPid}.0123abcd`);
    const elsewhere = path.join(out, "notes", `.tmp-x.md.${deadPid}.0123abcd.kbtmp`);
    fs.mkdirSync(path.dirname(elsewhere), { recursive: true });
    for (const f of [ours, userLookalike, elsewhere]) fs.writeFileSync(f, "x");
    KnowledgeBase.open(out).close();
    expect(fs.existsSync(ours)).toBe(false);
    expect(fs.existsSync(userLookalike)).toBe(true);
    expect(fs.existsSync(elsewhere)).toBe(true);
  });
});

describe("--out that is not a knowledge base", () => {
  it("accepts a missing or empty directory and an existing knowledge base, refuses a directory of other files", () => {
    expect(KnowledgeBase.isUsableOutDir(path.join(dir, "none"))).toEqual({ ok: true });
    fs.mkdirSync(path.join(dir, "empty"));
    expect(KnowledgeBase.isUsableOutDir(path.join(dir, "empty"))).toEqual({ ok: true });
    expect(KnowledgeBase.isUsableOutDir(out)).toEqual({ ok: true });
    fs.mkdirSync(path.join(dir, "home"));
    fs.writeFileSync(path.join(dir, "home", "thesis.md"), "x");
    expect(KnowledgeBase.isUsableOutDir(path.join(dir, "home"))).toEqual({ ok: false, entries: ["thesis.md"] });
  });
});

describe("pruning needs --prune when the input lost none-but-few of the knowledge base's files", () => {
  const known = ["a.md", "b.md", "c.md", "d.md"];
  it.each([
    [[], false, /has none of the 4 files.*--prune/],
    [["a.md"], false, /has only 1 of the 4 files/],
    [["a.md", "b.md"], false, undefined],
    [["a.md", "b.md", "c.md"], false, undefined],
    [[], true, undefined],
  ] as const)("present %j, --prune %s", (present, prune, refusal) => {
    const r = pruneRefusal(known, new Set(present), prune);
    if (refusal) expect(r).toMatch(refusal);
    else expect(r).toBeUndefined();
  });

  async function synthesizeWith(files: string[], prune: boolean): Promise<{ entries: number; events: PipelineEvent[] }> {
    const backend = new ScriptedBackend(() => JSON.stringify({ verdict: "different", reason: "no" }), { modelId: "m" });
    const k = KnowledgeBase.open(out);
    const events: PipelineEvent[] = [];
    try {
      const synthesize = makeSynthesize({
        kb: () => k,
        llm: new LlmService({ backendFor: () => backend }),
        prompts: PromptLibrary.load(),
        settings: DEFAULT_SETTINGS,
        modelIdFor: () => "m",
        events: (e) => events.push(e),
      });
      const tasks = files.map((relPath) => ({ relPath, docId: `doc-${relPath}` }));
      await synthesize(
        {
          inputDir: "/in",
          outDir: out,
          exclude: [],
          maxFileBytes: 1e6,
          found: tasks.length,
          files: [],
          unchanged: tasks,
          skipped: [],
          results: [],
          kb: null,
          prune,
        },
        { configurable: { thread_id: "run-x" } },
      );
      return { entries: k.entries().length, events };
    } finally {
      k.close();
    }
  }

  it("a run that finds no input files keeps every entry and says why", async () => {
    const before = KnowledgeBase.openReadOnly(out);
    const n = before.entries().length;
    before.close();
    const r = await synthesizeWith([], false);
    expect(r.entries).toBe(n);
    expect(r.events).toContainEqual(
      expect.objectContaining({ type: "message", level: "warn", text: expect.stringMatching(/their entries were kept.*--prune/) }),
    );
    expect(fs.readdirSync(path.join(out, "patterns")).length).toBe(n);
  });

  it("with --prune the same run empties the knowledge base", async () => {
    const r = await synthesizeWith([], true);
    expect(r.entries).toBe(0);
    expect(fs.readdirSync(path.join(out, "patterns"))).toEqual([]);
  });

  it("a file that left a mostly-present input is pruned without the flag", async () => {
    const files = [...new Set(DRAFTS.map((d) => d.relPath))];
    const r = await synthesizeWith(files.slice(1), false);
    expect(r.events.filter((e) => e.type === "message")).toEqual([]);
    const k = KnowledgeBase.openReadOnly(out);
    expect(k.sourceFiles()).not.toContain(files[0]);
    k.close();
  });
});

describe("graph command: --out safety flags", () => {
  it("parses --force-out, --prune and --break-lock", () => {
    expect(parseGraphArgs(["--input", "x", "--force-out", "--prune", "--break-lock"])).toMatchObject({
      kind: "run",
      options: { forceOut: true, prune: true, breakLock: true },
    });
    const plain = parseGraphArgs(["--input", "x"]);
    expect(plain.kind === "run" && [plain.options.forceOut, plain.options.prune, plain.options.breakLock]).toEqual([undefined, undefined, undefined]);
  });

  it("refuses a non-empty --out that is not a knowledge base before any work, touching nothing", async () => {
    const input = path.join(dir, "notes");
    fs.mkdirSync(input);
    fs.writeFileSync(path.join(input, "a.md"), "# A\n\nText.\n");
    const home = path.join(dir, "home");
    fs.mkdirSync(home);
    fs.writeFileSync(path.join(home, "thesis.md"), "my thesis");
    const before = snapshot(home);
    const r = await runCli("graph", ["--input", input, "--out", home, "--db", path.join(dir, "runs.sqlite"), "--model", "/nonexistent.gguf"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out .*home is not empty \(thesis\.md\) and holds no knowledge base/);
    expect(r.stderr).toMatch(/--force-out/);
    expect(snapshot(home)).toEqual(before);
    // With --force-out it goes on (and stops at the missing model, exit 1).
    const forced = await runCli("graph", [
      "--input",
      input,
      "--out",
      home,
      "--db",
      path.join(dir, "runs.sqlite"),
      "--model",
      "/nonexistent.gguf",
      "--force-out",
    ]);
    expect(forced.code).toBe(1);
    expect(forced.stderr).toMatch(/No model file/);
    expect(fs.readFileSync(path.join(home, "thesis.md"), "utf8")).toBe("my thesis");
  }, 120_000);
});

/** Issue 23, finding 2: the promise "--input is only read" holds by real path, links followed both ways. */
describe("--out and --input compared by real path", () => {
  let input: string;
  beforeEach(() => {
    input = path.join(dir, "notes");
    fs.mkdirSync(input);
    fs.writeFileSync(path.join(input, "a.md"), "# A\n\nText.\n");
  });
  const codeOf = (input: string, out: string) => {
    try {
      newRunDirectories({ input, out } as PipelineOptions);
      return "accepted";
    } catch (e) {
      return isUserError(e) ? e.code : String(e);
    }
  };

  it("refuses --out inside the input, the input inside --out, and the same directory, through any link", () => {
    fs.symlinkSync(input, path.join(dir, "input-link"));
    fs.symlinkSync(dir, path.join(dir, "parent-link"));
    const cases: [string, string][] = [
      [input, path.join(input, "kb")],
      [path.join(dir, "input-link"), path.join(input, "kb")], // --input given through a link
      [input, path.join(dir, "input-link", "kb")], // --out through a link to the input
      [input, path.join(dir, "input-link")], // --out a link to the input itself
      [input, path.join(dir, "parent-link")], // --out a link to the input's parent
      [path.join(dir, "parent-link", "notes"), dir],
    ];
    for (const [i, o] of cases) expect(codeOf(i, o), `${i} -> ${o}`).toBe("OUTPUT_INSIDE_INPUT");
    expect(codeOf(path.join(dir, "input-link"), path.join(dir, "kb-new"))).toBe("accepted");
  });

  it("refuses a --out or --input through a link that dangles or loops, and returns the real paths it checked", () => {
    fs.symlinkSync(path.join(dir, "later"), path.join(dir, "dangling"));
    fs.symlinkSync(path.join(dir, "loop-b"), path.join(dir, "loop-a"));
    fs.symlinkSync(path.join(dir, "loop-a"), path.join(dir, "loop-b"));
    expect(codeOf(input, path.join(dir, "dangling"))).toBe("USAGE");
    expect(codeOf(input, path.join(dir, "dangling", "kb"))).toBe("USAGE");
    expect(codeOf(input, path.join(dir, "loop-a", "kb"))).toBe("USAGE");
    expect(codeOf(path.join(dir, "dangling"), path.join(dir, "kb-new"))).toBe("INPUT_NOT_FOUND");
    expect(fs.existsSync(path.join(dir, "later"))).toBe(false);
    fs.symlinkSync(input, path.join(dir, "input-link"));
    expect(newRunDirectories({ input: path.join(dir, "input-link"), out: path.join(dir, "kb-new") } as PipelineOptions)).toEqual({
      input: fs.realpathSync(input),
      out: path.join(fs.realpathSync(dir), "kb-new"),
    });
  });

  it("the CLI refuses --out through a link into the input before anything is written (no KB, no .kb store, no DB)", async () => {
    fs.symlinkSync(input, path.join(dir, "input-link"));
    const before = snapshot(input);
    const db = path.join(dir, "db", "runs.sqlite");
    const r = await runCli("graph", ["--input", input, "--out", path.join(dir, "input-link", "kb"), "--db", db, "--model", "/nonexistent.gguf"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/OUTPUT_INSIDE_INPUT|inside the input directory/);
    expect(snapshot(input)).toEqual(before);
    expect(fs.existsSync(db)).toBe(false);
  }, 120_000);
});

/** Issue 23, findings 2 and 5: what the KB and the site record as theirs never leads outside them. */
describe("recorded files are replaced or removed only inside their root", () => {
  it("a KB page folder replaced by a link out of --out: nothing outside is removed or written, the pages are reported", () => {
    const elsewhere = path.join(dir, "elsewhere");
    fs.mkdirSync(elsewhere);
    const pages = fs.readdirSync(path.join(out, "patterns")).sort();
    // Someone else's files with the pages' names and bytes, then `patterns` pointed at them.
    for (const p of pages) fs.copyFileSync(path.join(out, "patterns", p), path.join(elsewhere, p));
    fs.rmSync(path.join(out, "patterns"), { recursive: true });
    fs.symlinkSync(elsewhere, path.join(out, "patterns"));
    const before = snapshot(elsewhere);
    const k = KnowledgeBase.open(out);
    try {
      k.removeFilesNotIn(new Set());
      const r = publishKnowledgeBase(k, { judge: "none" });
      expect(r.kept).toEqual(expect.arrayContaining(pages.map((p) => `patterns/${p}`)));
    } finally {
      k.close();
    }
    expect(snapshot(elsewhere)).toEqual(before);
  });

  it("a KB page replaced by a link (or a FIFO) is left alone, and the file it points at is untouched", () => {
    const secret = path.join(dir, "secret.md");
    fs.writeFileSync(secret, "not yours\n");
    const page = fs.readdirSync(path.join(out, "patterns")).sort()[0] as string;
    fs.rmSync(path.join(out, "patterns", page));
    fs.symlinkSync(secret, path.join(out, "patterns", page));
    const k = KnowledgeBase.open(out);
    try {
      expect(publishKnowledgeBase(k, { judge: "none" }).kept).toContain(`patterns/${page}`);
    } finally {
      k.close();
    }
    expect(fs.readFileSync(secret, "utf8")).toBe("not yours\n");
    expect(fs.lstatSync(path.join(out, "patterns", page)).isSymbolicLink()).toBe(true);
  });

  it("the site leaves an edited page and a foreign file alone and reports them; it removes only its own unchanged pages", () => {
    expect(kb("site").code).toBe(0);
    const site = path.join(out, "site");
    const manifest = JSON.parse(fs.readFileSync(path.join(site, SITE_MANIFEST), "utf8")) as { files: Record<string, string> };
    expect(Object.values(manifest.files).every((h) => /^[0-9a-f]{32}$/.test(h))).toBe(true);
    const pages = fs.readdirSync(path.join(site, "patterns")).sort();
    const edited = `patterns/${pages[0]}`;
    fs.appendFileSync(path.join(site, edited), "<!-- my note -->\n");
    fs.writeFileSync(path.join(site, "quarantine.html"), "mine\n"); // over a recorded page, with other bytes: edited
    const r = kb("site", "--json");
    const answer = JSON.parse(r.stdout) as { kept: string[] };
    expect(answer.kept).toEqual([edited, "quarantine.html"].sort());
    expect(fs.readFileSync(path.join(site, edited), "utf8")).toMatch(/my note/);
    expect(fs.readFileSync(path.join(site, "quarantine.html"), "utf8")).toBe("mine\n");
    const plain = kb("site");
    expect(plain.stderr).toMatch(/Left alone in the site .*quarantine\.html/);
    // No entry needs the pages any more: the untouched ones go, the edited one stays.
    const k = KnowledgeBase.open(out);
    try {
      k.removeFilesNotIn(new Set());
      publishKnowledgeBase(k, { judge: "none" });
    } finally {
      k.close();
    }
    const last = JSON.parse(kb("site", "--json").stdout) as { removed: string[]; kept: string[] };
    expect(last.removed.length).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(site, edited), "utf8")).toMatch(/my note/);
    expect(last.kept).toContain("quarantine.html");
  });

  it("manifest entries through a linked folder, `.`, `..` or an absolute path remove nothing outside the site", () => {
    expect(kb("site").code).toBe(0);
    const site = path.join(out, "site");
    const elsewhere = path.join(dir, "elsewhere");
    fs.mkdirSync(elsewhere);
    fs.writeFileSync(path.join(elsewhere, "victim.html"), "victim\n");
    fs.writeFileSync(path.join(dir, "beside.html"), "beside\n");
    fs.symlinkSync(elsewhere, path.join(site, "linked"));
    const file = path.join(site, SITE_MANIFEST);
    const manifest = JSON.parse(fs.readFileSync(file, "utf8")) as { files: Record<string, string> };
    const hash = (p: string) => createHash("sha256").update(fs.readFileSync(p)).digest("hex").slice(0, 32);
    // Hashes that match, so only the path rules can stop the removal.
    manifest.files["linked/victim.html"] = hash(path.join(elsewhere, "victim.html"));
    manifest.files["../beside.html"] = hash(path.join(dir, "beside.html"));
    manifest.files[path.join(dir, "beside.html")] = hash(path.join(dir, "beside.html"));
    manifest.files["."] = "0".repeat(32);
    manifest.files[""] = "0".repeat(32);
    fs.writeFileSync(file, JSON.stringify(manifest));
    const r = kb("site", "--json");
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(elsewhere, "victim.html"), "utf8")).toBe("victim\n");
    expect(fs.readFileSync(path.join(dir, "beside.html"), "utf8")).toBe("beside\n");
    expect(fs.existsSync(path.join(site, "index.html"))).toBe(true);
    expect((JSON.parse(r.stdout) as { kept: string[] }).kept).toContain("linked/victim.html");
  });

  it("a site directory that is a dangling link is refused, not created through the link", () => {
    fs.symlinkSync(path.join(dir, "later-site"), path.join(dir, "site-link"));
    const r = kb("site", "--site-dir", path.join(dir, "site-link"));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/points nowhere/);
    expect(fs.existsSync(path.join(dir, "later-site"))).toBe(false);
  });

  it("kb.json holds no control or bidi character in any string", () => {
    const k = KnowledgeBase.open(out);
    try {
      const hostile = DRAFTS.slice(0, 1).map((d) => ({
        ...d,
        name: `Evil\u202Eevil\u2066 name\u001b[31m`,
        summary: `A\u202E summary\u0007 with \u2067controls\u2069.`,
      }));
      fillKb(k, hostile);
      publishKnowledgeBase(k, { judge: "none" });
    } finally {
      k.close();
    }
    const text = fs.readFileSync(path.join(out, "kb.json"), "utf8");
    const strings: string[] = [];
    JSON.parse(text, (_k, v: unknown) => {
      if (typeof v === "string") strings.push(v);
      return v;
    });
    expect(strings.join("\n")).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
  });
});
