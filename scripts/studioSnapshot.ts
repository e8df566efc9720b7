/**
 * Dumps what LangGraph Studio is served for one run — the JSON @langchain/langgraph-sdk returns from
 * `npm run studio`'s API — into a folder, with one HTML page per view, and (with --png) screenshots
 * of those pages taken by headless Chromium. docs/STUDIO.md's pictures come from here.
 *
 *   npx tsx scripts/studioSnapshot.ts --db checkpoints/runs.sqlite [--run RUN_ID] --out DIR [--png]
 *
 * Read only: the server it starts in-process starts and resumes no run.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { Client } from "@langchain/langgraph-sdk";
import { createStudioApp } from "../src/commands/studio/studioApp.ts";
import { UserError } from "../src/errors.ts";
import { RunDatabase } from "../src/store/RunDatabase.ts";

const { values } = parseArgs({
  options: { db: { type: "string" }, run: { type: "string" }, out: { type: "string" }, png: { type: "boolean" } },
  strict: true,
});
if (!values.db || !values.out) {
  process.stderr.write("usage: npx tsx scripts/studioSnapshot.ts --db PATH [--run RUN_ID] --out DIR [--png]\n");
  process.exit(2);
}
const outDir = path.resolve(values.out);
fs.mkdirSync(outDir, { recursive: true });
const db = RunDatabase.open(path.resolve(values.db));
const { app } = createStudioApp({
  db,
  roots: [],
  origins: [],
  openRun: async () => {
    throw new UserError("USAGE", "This snapshot server starts no runs.");
  },
});
const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 });
await new Promise<void>((resolve) => server.once("listening", () => resolve()));
const client = new Client({ apiUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });

const views: { name: string; title: string; data: unknown }[] = [];
const add = (name: string, title: string, data: unknown) => views.push({ name, title, data });
try {
  const threads = await client.threads.search({ limit: 20 });
  add("threads", "POST /threads/search — every run is a thread (thread ID = run ID)", threads);
  const runId = values.run ?? threads[0]?.thread_id;
  if (!runId) throw new Error("no run with a UUID ID in this database");
  add("graph", "GET /assistants/rust_kb/graph?xray=1 — the pipeline and its per-file subgraph", await client.assistants.getGraph("rust_kb", { xray: true }));
  add("state", `GET /threads/${runId}/state — the run's final state`, await client.threads.getState(runId));
  const history = await client.threads.getHistory(runId, { limit: 50 });
  add(
    "history",
    `POST /threads/${runId}/history — its checkpoints (step, next node, checkpoint ID)`,
    history.map((s) => ({ step: s.metadata?.step, next: s.next, checkpoint_id: s.checkpoint.checkpoint_id, created_at: s.created_at })),
  );
  const fanOut = history.find((s) => s.next.includes("processFile"));
  if (fanOut) {
    const withFiles = await client.threads.getState(runId, fanOut.checkpoint, { subgraphs: true });
    add("files", "GET …/state at the fan-out checkpoint with subgraphs — each file's state (patterns, drafts, verdicts)", withFiles.tasks);
    const ns = (withFiles.tasks[0]?.state as { checkpoint?: { checkpoint_ns?: string } } | null)?.checkpoint?.checkpoint_ns;
    if (ns)
      add(
        "file-history",
        `POST …/history {checkpoint_ns: "${ns}"} — one file's steps`,
        await client.threads.getHistory(runId, { checkpoint: { checkpoint_ns: ns }, limit: 50 }),
      );
  } else {
    add("files", "No fan-out checkpoint: the run was compacted when it finished (run it with --keep-history)", null);
  }
} finally {
  server.close();
  db.close();
}

const escapeHtml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
for (const v of views) {
  const json = JSON.stringify(v.data, null, 2);
  fs.writeFileSync(path.join(outDir, `${v.name}.json`), `${json}\n`);
  const shown = json.length > 12_000 ? `${json.slice(0, 12_000)}\n…` : json;
  fs.writeFileSync(
    path.join(outDir, `${v.name}.html`),
    `<!doctype html><meta charset="utf-8"><title>${escapeHtml(v.title)}</title>
<style>body{font:13px/1.4 ui-monospace,monospace;margin:16px;background:#fafafa}h1{font:600 15px system-ui,sans-serif}pre{background:#fff;border:1px solid #ddd;padding:12px;white-space:pre-wrap}</style>
<h1>${escapeHtml(v.title)}</h1><pre>${escapeHtml(shown)}</pre>\n`,
  );
  if (values.png)
    execFileSync(
      "chromium",
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1100,1400",
        `--screenshot=${path.join(outDir, `${v.name}.png`)}`,
        `file://${path.join(outDir, `${v.name}.html`)}`,
      ],
      { stdio: "ignore", timeout: 60_000 },
    );
  process.stdout.write(`${path.join(outDir, v.name)}.{json,html${values.png ? ",png" : ""}}\n`);
}
