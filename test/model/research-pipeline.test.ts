/**
 * The CLI end to end with every research provider on: the run's input, a docs fixture (found
 * through RUST_KB_DOCS_DIR) and Tavily pointed at a loopback server. Checks what leaves the
 * machine, that a repeated run asks the web nothing again, and that every published example went
 * through the Rust code check.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { summaryOf } from "../helpers/cli.ts";
import { runInProcess } from "../helpers/inProcessCli.ts";
import { sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");
const SLICE = [
  "rust-patterns/idioms/option-iter.txt",
  "rust-patterns/idioms/default.md",
  "rust-patterns/idioms/mem-replace.md",
  "rust-patterns/patterns/behavioural/newtype.txt",
];

let tmp: string;
let input: string;
let server: http.Server;
let baseUrl: string;
const bodies: string[] = [];
let first: Awaited<ReturnType<typeof runInProcess>>;

function args(out: string): string[] {
  return [
    ...["--input", input, "--out", out, "--db", path.join(tmp, "runs.sqlite"), "--model", MODEL],
    ...["--threads", "1", "--concurrency", "1", "--no-llm-review", "--json", "--research", "input,docs,tavily"],
  ];
}

function env(): NodeJS.ProcessEnv {
  return { RUST_KB_DOCS_DIR: path.join(tmp, "html"), TAVILY_API_KEY: "tvly-e2e", TAVILY_BASE_URL: baseUrl };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-research-e2e-"));
  input = path.join(tmp, "notes");
  for (const rel of SLICE) {
    fs.mkdirSync(path.dirname(path.join(input, rel)), { recursive: true });
    fs.copyFileSync(sharedCorpus("rust-research", rel), path.join(input, rel));
  }
  fs.mkdirSync(path.join(tmp, "html", "book"), { recursive: true });
  fs.writeFileSync(
    path.join(tmp, "html", "book", "ch06.html"),
    `<html><head><title>Option - The Rust Programming Language</title></head><body><main>
<h2 id="the-option-enum">The Option Enum</h2><p>Option is an enum that encodes a value that may be absent; iterate over it or replace it with mem::replace and Default.</p>
<h2 id="newtypes">Newtypes</h2><p>A newtype wraps a type in a tuple struct to give it a distinct identity and its own trait implementations.</p>
</main></body></html>`,
  );
  server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => {
      raw += c;
    });
    req.on("end", () => {
      bodies.push(raw);
      const q = String((JSON.parse(raw || "{}") as { query?: string }).query);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          query: q,
          images: [],
          response_time: 0.01,
          request_id: "e2e",
          results: [{ title: `About ${q}`, url: `https://example.org/${encodeURIComponent(q)}`, content: `An article about ${q}.`, score: 0.9 }],
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  first = await runInProcess("graph", args(path.join(tmp, "kb-a")), { env: env() });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("npm run graph with input, docs and tavily research", () => {
  it("finishes, builds the docs index next to the run DB, and counts the code-check verdicts", () => {
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/docs index: built The Rust Programming Language/);
    expect(fs.existsSync(path.join(tmp, "docs-index.sqlite"))).toBe(true);
    const v = summaryOf(first).verification;
    expect(v).toMatchObject({ verified: expect.any(Number), parseOnly: expect.any(Number), failed: expect.any(Number), quarantined: expect.any(Number) });
    expect(first.stderr).toMatch(/examples: \d+ compile, \d+ parse only, \d+ fail to compile, \d+ not checkable/);
  });

  it("publishes no example that failed to parse, and shows each example's verdict on its page", () => {
    const kb = JSON.parse(fs.readFileSync(path.join(tmp, "kb-a", "kb.json"), "utf8")) as {
      entries: { slug: string; example: { verification?: { status: string; parses: boolean; detail: string } } | null }[];
    };
    const withExample = kb.entries.filter((e) => e.example);
    expect(withExample.length).toBeGreaterThan(0);
    for (const e of withExample) {
      const v = e.example?.verification;
      expect(v, e.slug).toBeDefined();
      expect(v?.status === "fails" && !v.parses, `${e.slug}: ${v?.detail}`).toBe(false);
      const page = fs.readFileSync(path.join(tmp, "kb-a", "patterns", `${e.slug}.md`), "utf8");
      expect(page).toContain(`Verification: ${v?.status}`);
    }
    const db = new Database(path.join(tmp, "runs.sqlite"), { readonly: true });
    try {
      const checks = (db.prepare("SELECT COUNT(*) AS n FROM code_checks").get() as { n: number }).n;
      expect(checks).toBeGreaterThanOrEqual(withExample.length > 0 ? 1 : 0);
    } finally {
      db.close();
    }
  });

  it("sends Tavily only short queries built from pattern names, never text of the input files", () => {
    expect(bodies.length).toBeGreaterThan(0);
    const lines = SLICE.flatMap((rel) => fs.readFileSync(path.join(input, rel), "utf8").split("\n"))
      .map((l) => l.trim())
      .filter((l) => l.length >= 30);
    for (const b of bodies) {
      const body = JSON.parse(b) as { query: string };
      expect(body.query.length).toBeLessThanOrEqual(120);
      expect(body.query.startsWith("Rust")).toBe(true);
      for (const l of lines) expect(b.includes(l.slice(0, 30)), `request carries input text: ${l.slice(0, 30)}`).toBe(false);
    }
  });

  it("answers a repeated run's searches from the cache: no new request reaches Tavily", async () => {
    const before = bodies.length;
    const again = await runInProcess("graph", args(path.join(tmp, "kb-b")), { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/docs index: up to date/);
    expect(bodies.length).toBe(before);
  });
});
