/**
 * The README's first command, `npm run graph -- --input examples/notes`, end to end on the success
 * path: with the project's own trained test model (test/fixtures/models/rust-kb-tiny.md), which
 * answers every role in shape, files are processed rather than quarantined, pages are written with
 * their examples, the site lists the entries and `kb search` finds them. (What a real model makes
 * of the examples is a quality question this plumbing model cannot answer; docs/BENCHMARKS.md.)
 * Research over the input only and no model review keep it short: indexing rustup's documentation
 * (~800 MB) into a fresh index would dominate, and both are tested on their own.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, runCli, summaryOf } from "../helpers/cli.ts";
import { trainedModel } from "../helpers/scriptedBackend.ts";

const MODEL = trainedModel();
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-examples-"));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("npm run graph -- --input examples/notes", () => {
  it("processes the example files into pages, a site that lists them and a search that finds them", { timeout: 600_000 }, async () => {
    const out = path.join(tmp, "kb");
    const r = await runCli(
      "graph",
      [
        "--input",
        "examples/notes",
        "--out",
        out,
        "--db",
        path.join(tmp, "runs.sqlite"),
        "--model",
        MODEL,
        "--threads",
        "1",
        "--json",
        "--site",
        "--research",
        "input",
        "--no-llm-review",
      ],
      {
        cwd: REPO,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(r);
    const found = fs.readdirSync(path.join(REPO, "examples/notes"), { recursive: true }).filter((p) => /\.(md|txt|json)$/.test(String(p))).length;
    expect(s).toMatchObject({ status: "done", skipped: [], files: { found, skipped: 0, pending: 0 } });
    expect(s.files.processed + s.files.quarantined).toBe(found);
    for (const page of ["index.md", "kb.json", "quarantine.md", "site/index.html", "site/quarantine.html"])
      expect(fs.existsSync(path.join(out, page)), page).toBe(true);
    expect(r.stderr).toContain(`site: ${path.join(out, "site", "index.html")}`);
    // The success path: a model that answers gets (nearly) every file through validation.
    expect(s.files.processed).toBeGreaterThanOrEqual(found - 2);
    const kb = JSON.parse(fs.readFileSync(path.join(out, "kb.json"), "utf8")) as { entries: { id: string; name: string; slug: string }[] };
    expect(kb.entries.length).toBe(s.patterns);
    expect(kb.entries.length).toBeGreaterThanOrEqual(found - 2);
    const pages = fs.readdirSync(path.join(out, "patterns"));
    expect(pages.sort()).toEqual(kb.entries.map((e) => `${e.slug}.md`).sort());
    const site = fs.readFileSync(path.join(out, "site", "index.html"), "utf8");
    for (const e of kb.entries) {
      expect(fs.existsSync(path.join(out, "site", "patterns", `${e.slug}.html`)), e.slug).toBe(true);
      expect(site, e.slug).toContain(`patterns/${e.slug}.html`);
    }
    // The end of the run in the user's terms: where the time went, and no weak-model warning for a model that answers.
    expect(s.weakModel).toBeUndefined();
    expect(s.time.reading.count).toBe(s.llm.calls);
    expect(s.time.generating.count).toBeGreaterThan(0);
    expect(s.time.generating.summedMs).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/where the time went[^\n]*:\n {2}reading prompts +\S+ summed over \d+ calls +under way \d+% of the run/);
    // The --json progress lines: agents at work while calls ran, prompt tokens read next to tokens generated.
    const ticks = r.events.filter((e) => e.type === "progress") as { active?: Record<string, number>; tokens?: { read: number; generated: number } }[];
    expect(ticks.length).toBeGreaterThan(0);
    expect(ticks.some((t) => Object.values(t.active ?? {}).some((n) => n > 0))).toBe(true);
    expect(ticks.at(-1)?.tokens?.read).toBeGreaterThan(0);
    // Search finds an entry by a word of its name.
    const entry = kb.entries.find((e) => /^[A-Za-z]{4,}/.test(e.name)) ?? kb.entries[0];
    const word = /^[A-Za-z]+/.exec(entry?.name ?? "")?.[0] ?? "";
    const search = await runCli("kb", ["search", word, "--kb", out, "--json"], { cwd: REPO });
    expect(search.code, search.stderr).toBe(0);
    const hits = (JSON.parse(search.stdout.trim().split("\n").at(-1) ?? "{}") as { hits: { id: string }[] }).hits;
    expect(hits.map((h) => h.id)).toContain(entry?.id);
  });
});
