/**
 * `npm run eval` end to end with a tiny real GGUF on two files of the shared corpus: it runs the
 * pipeline, scores the knowledge base against the corpus labels, says the scores are meaningless
 * for this model, and reuses the finished run the second time.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");
const SLICE = ["rust-patterns/patterns/behavioural/newtype.txt", "api-guidelines/type-safety.txt"];

let tmp: string;
let input: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-eval-model-"));
  input = path.join(tmp, "in");
  for (const rel of SLICE) {
    fs.mkdirSync(path.dirname(path.join(input, rel)), { recursive: true });
    fs.copyFileSync(sharedCorpus("rust-research", rel), path.join(input, rel));
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}");

describe("npm run eval with a tiny test model", () => {
  const out = () => path.join(tmp, "kb");
  const db = () => path.join(tmp, "runs.sqlite");
  const args = () => [
    "--input",
    input,
    "--labels",
    sharedCorpus("rust-research.labels.json"),
    "--out",
    out(),
    "--db",
    db(),
    "--model",
    MODEL,
    "--threads",
    "1",
    "--concurrency",
    "1",
    "--json",
  ];

  it("runs the pipeline, scores the knowledge base against the corpus labels and says the scores are meaningless", async () => {
    const r = await runCli("eval", args());
    expect(r.code, r.stderr).toBe(0);
    const result = lastJson(r.stdout);
    expect(result).toMatchObject({ type: "eval", reused: false, meaningless: true, scores: { inputFiles: 2, labelledFiles: 2, labels: 5 } });
    expect(result.model).toMatch(/^llama-2-tiny-random-chatml\.gguf@\d+$/);
    // The graph command's own summary line comes before the evaluation's.
    expect(r.stdout).toContain('"type":"summary"');
    const report = fs.readFileSync(result.report, "utf8");
    expect(path.dirname(result.report)).toBe(path.join(out(), ".runs"));
    expect(report).toMatch(/These scores are meaningless/);
    expect(report).toContain("| `api-guidelines/type-safety.txt` | C-NEWTYPE: Newtypes provide static distinctions |");
    const kb = JSON.parse(fs.readFileSync(path.join(out(), "kb.json"), "utf8"));
    expect(result.scores.entries).toBe(kb.entries.length);
  });

  it("reuses the finished run the second time (no new run, same report)", async () => {
    const before = fs.readdirSync(path.join(out(), ".runs"));
    const r = await runCli("eval", args());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Reusing the knowledge base/);
    expect(lastJson(r.stdout)).toMatchObject({ reused: true, meaningless: true });
    const conn = new Database(db(), { readonly: true });
    try {
      expect((conn.prepare("SELECT COUNT(*) AS n FROM runs").get() as { n: number }).n).toBe(1);
    } finally {
      conn.close();
    }
    expect(fs.readdirSync(path.join(out(), ".runs"))).toEqual(before);
  });

  it("npm run kb reads the knowledge base the run wrote", async () => {
    const r = await runCli("kb", ["list", "--out", out(), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const kb = JSON.parse(fs.readFileSync(path.join(out(), "kb.json"), "utf8"));
    expect(JSON.parse(r.stdout).entries.map((e: { slug: string }) => e.slug)).toEqual(kb.entries.map((e: { slug: string }) => e.slug));
  });
});
