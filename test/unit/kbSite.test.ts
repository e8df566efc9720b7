/**
 * `npm run kb -- site`: the static site of the test knowledge base — every page there, every
 * internal link resolving, sources linked to the input lines, the example highlighted, the bytes
 * stable, only its own files touched — and, in headless Chromium, the search box finding an entry.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseGraphArgs } from "../../src/commands/graph/parseGraphArgs.ts";
import { runKbCommand } from "../../src/commands/kb/kbCommand.ts";
import { parseKbArgs } from "../../src/commands/kb/parseKbArgs.ts";
import { KnowledgeBase } from "../../src/kb/KnowledgeBase.ts";
import { publishKnowledgeBase } from "../../src/kb/publish/publishKnowledgeBase.ts";
import { SITE_MANIFEST } from "../../src/kb/publish/site/writeSite.ts";
import { contribution, DRAFTS, fillKb } from "../fixtures/kb/contributions.ts";

const REPO = path.resolve(import.meta.dirname, "../..");
let tmp: string;
let out: string;
let notes: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-site-"));
  out = path.join(tmp, "kb");
  notes = path.join(tmp, "notes");
  for (const rel of new Set(DRAFTS.map((d) => d.relPath))) {
    fs.mkdirSync(path.dirname(path.join(notes, rel)), { recursive: true });
    fs.writeFileSync(path.join(notes, rel), "line\n".repeat(20));
  }
  const kb = KnowledgeBase.open(out);
  try {
    fillKb(kb, DRAFTS);
    const fluent = DRAFTS.filter((d) => d.relPath === "notes/fluent.md").map(contribution);
    kb.replaceFile("notes/fluent.md", fluent, [
      { relPath: "notes/fluent.md", patternKey: "p9", name: "Broken draft", problems: ["cites S9, which does not exist"] },
    ]);
    publishKnowledgeBase(kb, { judge: "none", run: { runId: "site-test", inputDir: notes, files: [] } });
  } finally {
    kb.close();
  }
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function site(...extra: string[]): { code: number; stdout: string; stderr: string } {
  const parsed = parseKbArgs(["site", "--out", out, ...extra]);
  if (parsed.kind !== "run") throw new Error(JSON.stringify(parsed));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const code = runKbCommand(parsed.options, { stdout, stderr });
  return { code, stdout: String(stdout.read() ?? ""), stderr: String(stderr.read() ?? "") };
}

function siteFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (sub: string) => {
    for (const e of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) walk(rel);
      else files.set(rel, fs.readFileSync(path.join(dir, rel), "utf8"));
    }
  };
  walk("");
  return files;
}

/** Every relative href/src of every HTML page, resolved to a file (fragment and query dropped). */
function relativeLinks(dir: string, files: Map<string, string>): { from: string; href: string; target: string }[] {
  const links: { from: string; href: string; target: string }[] = [];
  for (const [rel, html] of files) {
    if (!rel.endsWith(".html")) continue;
    for (const m of html.matchAll(/\s(?:href|src|action)="([^"]+)"/g)) {
      const href = (m[1] ?? "").replace(/&amp;/g, "&");
      if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("#")) continue;
      const file = decodeURIComponent(href.replace(/[?#].*$/, ""));
      links.push({ from: rel, href, target: path.resolve(dir, path.dirname(rel), file) });
    }
  }
  return links;
}

describe("npm run kb -- site", () => {
  it("parses site with an optional --site-dir, and refuses site-only and lock options where they do not apply", () => {
    expect(parseKbArgs(["site"])).toMatchObject({ kind: "run", options: { command: { kind: "site", dir: undefined }, out: "./kb" } });
    expect(parseKbArgs(["site", "--site-dir", "/tmp/s", "--out", "k"])).toMatchObject({
      kind: "run",
      options: { command: { kind: "site", dir: "/tmp/s" }, out: "k" },
    });
    expect(parseKbArgs(["list", "--site-dir", "x"])).toEqual({ kind: "error", message: "--site-dir applies to site only" });
    expect(parseKbArgs(["site", "extra"])).toEqual({ kind: "error", message: 'site takes no arguments, got "extra"' });
    expect(parseKbArgs(["site", "--site-dir", ""])).toEqual({ kind: "error", message: "--site-dir needs a value" });
    expect(parseKbArgs(["site", "--break-lock"])).toMatchObject({ kind: "error", message: expect.stringContaining("site takes no lock") });
    // The graph run's --site writes the same site when the run finishes.
    expect(parseGraphArgs(["--input", "n", "--site"])).toMatchObject({ kind: "run", options: { site: true } });
    expect(parseGraphArgs(["--input", "n"])).toMatchObject({ kind: "run", options: expect.not.objectContaining({ site: true }) });
  });

  it("writes a home page, a page per pattern and per category, the quarantine and the search data", () => {
    const r = site();
    expect(r.code, r.stderr).toBe(0);
    const dir = path.join(out, "site");
    expect(r.stderr).toContain(`Open ${path.join(dir, "index.html")}`);
    const files = siteFiles(dir);
    const kb = JSON.parse(fs.readFileSync(path.join(out, "kb.json"), "utf8")) as {
      entries: { slug: string; name: string }[];
      categories: { id: string; title: string; count: number }[];
    };
    for (const e of kb.entries) expect(files.has(`patterns/${e.slug}.html`), e.slug).toBe(true);
    for (const c of kb.categories) {
      expect(files.has(`categories/${c.id}.html`), c.id).toBe(true);
      expect(files.get("index.html")).toContain(`<a href="categories/${c.id}.html">${c.title}</a> <span class="count">${c.count}</span>`);
    }
    expect([...files.keys()].filter((f) => f.startsWith("patterns/")).length).toBe(kb.entries.length);
    for (const f of ["quarantine.html", "search-index.js", "search.js", "style.css", SITE_MANIFEST]) expect(files.has(f), f).toBe(true);
    expect(files.get("quarantine.html")).toContain('Broken draft — <a href="../../notes/notes/fluent.md"><code>notes/fluent.md</code></a> (p9)');
    expect(files.get("index.html")).toContain('1 draft failed validation: see <a href="quarantine.html">the quarantine</a>.');
    // Nothing outside the site directory changed.
    expect(fs.readdirSync(out).sort()).toEqual([".kb", "categories", "index.md", "kb.json", "kb.schema.json", "patterns", "quarantine.md", "site"]);
  });

  it("shows each pattern with its highlighted example, verdict, sources linked to the input lines, related entries and cross-references", () => {
    expect(site().code).toBe(0);
    const page = fs.readFileSync(path.join(out, "site", "patterns", "newtype.html"), "utf8");
    expect(page).toContain('<pre class="shiki github-light"');
    expect(page).toMatch(/<span style="color:#[0-9A-F]{6}">struct<\/span>/);
    expect(page).toContain('<span class="badge compiles">example compiles</span>');
    expect(page).toContain('<a href="../../../notes/patterns/newtype.md#L10-L13">lines 10-13</a>');
    expect(page).toContain('<a href="../../../notes/api/type-safety.txt#L1-L9">lines 1-9</a>');
    expect(page).toContain('<a href="builder.html">Builder</a>');
    expect(page).toContain('<a href="https://rust-lang.github.io/api-guidelines/type-safety.html#c-newtype">C-NEWTYPE</a>');
    expect(page).toContain('<a href="../categories/type-safety.html">Type safety</a>');
    expect(page).not.toMatch(/^---$/m);
  });

  it("links only to files that exist: every internal link, asset and source resolves", () => {
    expect(site().code).toBe(0);
    const dir = path.join(out, "site");
    const links = relativeLinks(dir, siteFiles(dir));
    expect(links.length).toBeGreaterThan(50);
    for (const l of links) expect(fs.existsSync(l.target), `${l.from} -> ${l.href}`).toBe(true);
    expect(links.some((l) => l.target.startsWith(notes))).toBe(true);
  });

  it("writes the same bytes again (nothing changes on a second run) and removes only pages it wrote", () => {
    expect(site().code).toBe(0);
    const dir = path.join(out, "site");
    const first = siteFiles(dir);
    const again = site("--json");
    expect(JSON.parse(again.stdout)).toMatchObject({ type: "site", written: [], removed: [] });
    expect(siteFiles(dir)).toEqual(first);

    fs.writeFileSync(path.join(dir, "patterns", "my-notes.txt"), "mine");
    const kb = KnowledgeBase.open(out);
    try {
      kb.replaceFile("idioms/mem-replace.md", [], []);
      publishKnowledgeBase(kb, { judge: "none" });
    } finally {
      kb.close();
    }
    const r = JSON.parse(site("--json").stdout) as { removed: string[] };
    expect(r.removed).toEqual(["categories/ownership-borrowing.html", "patterns/mem-take-and-mem-replace.html"]);
    expect(fs.readFileSync(path.join(dir, "patterns", "my-notes.txt"), "utf8")).toBe("mine");
  });

  it("refuses a --site-dir that holds files it did not write, and changes nothing there", () => {
    const dir = path.join(tmp, "elsewhere");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "index.html"), "mine");
    const r = site("--site-dir", dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds other files \(index\.html\) and no site written by this tool/);
    expect(fs.readdirSync(dir)).toEqual(["index.html"]);
    expect(fs.readFileSync(path.join(dir, "index.html"), "utf8")).toBe("mine");
  });
});

const chromium = spawnSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" }).stdout.trim().split("\n")[0];
if (!chromium) console.warn("kbSite.test.ts: the headless Chromium checks are skipped: chromium is not installed (apt-get install chromium).");

/** Runs headless Chromium on a URL with a throwaway profile; returns stdout. */
function browse(args: string[], url: string): string {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "kb-chromium-"));
  try {
    const r = spawnSync(chromium as string, ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", `--user-data-dir=${profile}`, ...args, url], {
      encoding: "utf8",
      timeout: 90_000,
      env: { ...process.env, HOME: profile },
    });
    if (r.status !== 0) throw new Error(`chromium exited ${r.status}: ${r.stderr.slice(-2000)}`);
    return r.stdout;
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

describe.skipIf(!chromium)("the site in headless Chromium (skipped when chromium is not installed)", () => {
  it("finds an entry through the search box (?q= fills it and searches), and its result links to the pattern page", { timeout: 240_000 }, () => {
    expect(site().code).toBe(0);
    const index = path.join(out, "site", "index.html");
    const dom = browse(["--dump-dom"], `${pathToFileURL(index).href}?q=newtype`);
    const results = /<div id="results"[^>]*>([\s\S]*?)<\/div>/.exec(dom)?.[1] ?? "";
    expect(results).toContain("entries match “newtype”");
    expect(results).toMatch(/<li class="hit"><a href="patterns\/newtype\.html">Newtype<\/a>/);
    expect(fs.existsSync(path.join(out, "site", "patterns", "newtype.html"))).toBe(true);
    const none = browse(["--dump-dom"], `${pathToFileURL(index).href}#q=zzzz-nothing`);
    expect(none).toContain("No entry matches “zzzz-nothing”.");
  });

  it("renders a pattern page to a screenshot (UPDATE_SCREENSHOT=1 saves it as docs/kb-site.png)", { timeout: 240_000 }, () => {
    expect(site().code).toBe(0);
    const png = path.join(tmp, "page.png");
    browse([`--screenshot=${png}`, "--window-size=1100,1400", "--hide-scrollbars"], pathToFileURL(path.join(out, "site", "patterns", "newtype.html")).href);
    const bytes = fs.readFileSync(png);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(bytes.length).toBeGreaterThan(20_000);
    if (process.env.UPDATE_SCREENSHOT === "1") fs.copyFileSync(png, path.join(REPO, "docs", "kb-site.png"));
  });
});
