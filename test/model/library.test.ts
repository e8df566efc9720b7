/**
 * The library entry as a user's script uses it: a project with the package installed
 * (node_modules/rust-kb-pipeline -> this repository, as `npm install ../rust-kb-pipeline` makes it)
 * imports `runPipeline` by the package name and runs it with tsx; the run is a normal run (listed
 * in the run database). Interrupting through the AbortSignal is covered by the CLI tests, which
 * run the same function.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { REPO } from "../helpers/cli.ts";
import { sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");
let tmp: string;

const SCRIPT = `
import { runPipeline, formatSummary } from "rust-kb-pipeline";

const controller = new AbortController();
process.once("SIGINT", () => controller.abort());
const finished = [];
const summary = await runPipeline(
  { input: "notes", out: "kb", db: "runs.sqlite", model: process.env.MODEL, threads: 1, concurrency: 1, llmReview: false, research: ["input"] },
  { signal: controller.signal, onEvent: (e) => { if (e.type === "file_finished") finished.push(e.path); } },
);
console.error(formatSummary(summary));
console.log(JSON.stringify({ summary, finished }));
`;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-lib-"));
  fs.mkdirSync(path.join(tmp, "node_modules"));
  fs.symlinkSync(REPO, path.join(tmp, "node_modules", "rust-kb-pipeline"), "dir");
  // The user's own dev tool to run TypeScript (the same tsx the package pins).
  fs.symlinkSync(path.join(REPO, "node_modules", "tsx"), path.join(tmp, "node_modules", "tsx"), "dir");
  fs.writeFileSync(path.join(tmp, "package.json"), JSON.stringify({ type: "module", private: true }));
  fs.writeFileSync(path.join(tmp, "build-kb.ts"), SCRIPT);
  for (const rel of ["rust-patterns/idioms/default.md", "api-guidelines/naming.md"]) {
    const dest = path.join(tmp, "notes", path.basename(rel));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(sharedCorpus("rust-research", rel), dest);
  }
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

it("a script outside the repository imports runPipeline by the package name and builds a knowledge base", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "build-kb.ts"], {
    cwd: tmp,
    encoding: "utf8",
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      MODEL,
      RUST_KB_BACKEND: "node-llama-cpp",
      RUST_KB_OFFLINE: "1",
      UV_THREADPOOL_SIZE: "1",
      NO_COLOR: "1",
    },
    timeout: 240_000,
  });
  expect(r.status, r.stderr).toBe(0);
  const { summary, finished } = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as {
    summary: { status: string; runId: string; files: { found: number }; out: string };
    finished: string[];
  };
  expect(summary.status).toBe("done");
  expect(summary.files.found).toBe(2);
  expect(finished.sort()).toEqual(["default.md", "naming.md"]);
  expect(summary.out).toBe(fs.realpathSync(path.join(tmp, "kb")));
  // A UUIDv7 run ID, recorded as a finished run like any CLI run (so `npm run runs -- list` shows it).
  expect(summary.runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const db = new Database(path.join(tmp, "runs.sqlite"), { readonly: true });
  const row = db.prepare("SELECT status, input FROM runs WHERE id = ?").get(summary.runId) as { status: string; input: string };
  db.close();
  expect(row.status).toBe("done");
  expect(fs.existsSync(path.join(tmp, "kb", "index.md"))).toBe(true);
  expect(r.stderr).toContain("Done.");
});
