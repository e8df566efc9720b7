/**
 * The README's first command, `npm run graph -- --input examples/notes`, end to end with a tiny
 * real GGUF: every example file is found and goes through the pipeline, nothing is skipped, and
 * the knowledge base's pages and site are written. (A random-weight model quarantines its drafts;
 * what the real default model makes of the examples is measured in docs/BENCHMARKS.md.) Research
 * over the input only and no model review keep it short: indexing rustup's documentation (~800 MB)
 * into a fresh index would dominate, and both are tested on their own.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, runCli, summaryOf } from "../helpers/cli.ts";
import { sharedModel } from "../helpers/scriptedBackend.ts";

const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-examples-"));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("npm run graph -- --input examples/notes", () => {
  it("processes every example file with nothing skipped and writes the knowledge base (and with --site its HTML site)", { timeout: 600_000 }, async () => {
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
  });
});
