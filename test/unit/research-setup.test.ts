import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseGraphArgs } from "../../src/commands/graph/parseGraphArgs.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";
import { defaultDocsIndexPath, defaultResearchNames, openResearch } from "../../src/research/openResearch.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";

describe("research flags", () => {
  it("parses --research, repeated --library, --docs-index and domain lists", () => {
    const r = parseGraphArgs([
      "--input",
      "notes",
      "--research",
      "input, docs,tavily,docs",
      "--library",
      "a",
      "--library",
      "b c",
      "--docs-index",
      "idx.sqlite",
      "--tavily-include-domains",
      "doc.rust-lang.org,docs.rs",
      "--tavily-exclude-domains",
      "example.com",
    ]);
    expect(r.kind).toBe("run");
    if (r.kind !== "run") return;
    expect(r.options).toMatchObject({
      research: ["input", "docs", "tavily"],
      libraries: ["a", "b c"],
      docsIndex: "idx.sqlite",
      tavilyIncludeDomains: ["doc.rust-lang.org", "docs.rs"],
      tavilyExcludeDomains: ["example.com"],
    });
  });

  it("leaves the defaults to the run (tavily only with a key) and rejects unknown providers", () => {
    const r = parseGraphArgs(["--input", "notes"]);
    expect(r.kind === "run" && r.options.research).toBeUndefined();
    expect(defaultResearchNames(undefined)).toEqual(["input", "docs"]);
    expect(defaultResearchNames("tvly-x")).toEqual(["input", "docs", "tavily"]);
    expect(parseGraphArgs(["--input", "n", "--research", "input,google"])).toEqual({
      kind: "error",
      message: '--research takes a comma-separated list of input, docs, tavily; got "input,google"',
    });
    expect(parseGraphArgs(["--input", "n", "--docs-index", ""])).toEqual({ kind: "error", message: "--docs-index needs a value" });
  });
});

let tmp: string;
let db: RunDatabase;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-research-setup-"));
  fs.mkdirSync(path.join(tmp, "html", "book"), { recursive: true });
  fs.writeFileSync(
    path.join(tmp, "html", "book", "ch01.html"),
    `<html><head><title>Ownership - The Rust Programming Language</title></head><body><main><h2 id="ownership">Ownership</h2><p>Each value in Rust has an owner, and there can only be one owner at a time.</p></main></body></html>`,
  );
  fs.mkdirSync(path.join(tmp, "lib"));
  fs.writeFileSync(path.join(tmp, "lib", "team.md"), "# Team rules\n\nWe always derive Debug on public types so logs stay readable for everyone.\n");
  db = RunDatabase.open(path.join(tmp, "checkpoints", "runs.sqlite"));
});

afterEach(() => {
  db.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("openResearch", () => {
  it("opens input and docs (rust docs + libraries) by default, builds the index next to the run DB once, and reuses it", async () => {
    const events: PipelineEvent[] = [];
    const env = { rustDocsDir: path.join(tmp, "html"), home: tmp };
    const setup = await openResearch({ env, db, forbiddenDirs: [path.join(tmp, "in")], events: (e) => events.push(e), libraries: [path.join(tmp, "lib")] });
    expect(setup.providers.map((p) => p.name)).toEqual(["input", "docs"]);
    expect(fs.existsSync(defaultDocsIndexPath(db.file))).toBe(true);
    const texts = events.map((e) => (e.type === "message" ? e.text : ""));
    expect(texts.some((t) => /^docs index: built The Rust Programming Language, lib in [\d.]+ s/.test(t))).toBe(true);
    const hits = await setup.providers[1]?.search({ runId: "r", name: "owner", summary: "", categoryTitle: "Other", docId: "d", limit: 3 });
    expect(hits?.[0]?.url).toMatch(/book\/ch01\.html#ownership$/);
    setup.close();

    events.length = 0;
    const again = await openResearch({ env, db, forbiddenDirs: [], events: (e) => events.push(e), libraries: [path.join(tmp, "lib")] });
    expect(events.map((e) => (e.type === "message" ? e.text : "")).some((t) => t.startsWith("docs index: up to date"))).toBe(true);
    again.close();
  });

  it("warns once and goes on without tavily when it is asked for without a key", async () => {
    const events: PipelineEvent[] = [];
    const setup = await openResearch({ names: ["input", "tavily"], env: { home: tmp }, db, forbiddenDirs: [], events: (e) => events.push(e) });
    expect(setup.providers.map((p) => p.name)).toEqual(["input"]);
    expect(events).toEqual([{ type: "message", level: "warn", text: "--research tavily needs TAVILY_API_KEY: web research is off for this run." }]);
    setup.close();
  });

  it("refuses a docs index inside the input or output directory", async () => {
    const out = path.join(tmp, "kb");
    await expect(
      openResearch({
        names: ["docs"],
        docsIndex: path.join(out, "idx.sqlite"),
        env: { rustDocsDir: path.join(tmp, "html"), home: tmp },
        db,
        forbiddenDirs: [out],
        events: () => {},
      }),
    ).rejects.toMatchObject({ code: "USAGE" });
    expect(fs.existsSync(path.join(out, "idx.sqlite"))).toBe(false);
  });

  it("puts tavily behind the cache and the fallback wrapper, pointed at TAVILY_BASE_URL", async () => {
    const events: PipelineEvent[] = [];
    // Nothing listens on port 9 of the loopback interface: the provider must switch itself off with one warning.
    const setup = await openResearch({
      names: ["input", "tavily"],
      env: { home: tmp, tavilyApiKey: "tvly-test", tavilyBaseUrl: "http://127.0.0.1:9" },
      db,
      forbiddenDirs: [],
      events: (e) => events.push(e),
    });
    const tavily = setup.providers[1];
    const q = { runId: "r", name: "Newtype", summary: "", categoryTitle: "Other", docId: "d", limit: 2 };
    expect(await tavily?.search(q)).toEqual([]);
    expect(await tavily?.search({ ...q, name: "Builder" })).toEqual([]);
    const warns = events.filter((e) => e.type === "message" && e.level === "warn");
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({
      text: expect.stringMatching(/Tavily could not be reached .* tavily research is off for the rest of this run; continuing with input/),
    });
    setup.close();
  }, 30_000);
});
