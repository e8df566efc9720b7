/**
 * Checkpoint-DB growth per input file with outputs of realistic size, measured without a real
 * model: a scripted model answers every node with well-formed output of the length a small
 * instruct model writes (pattern names from the file's headings, 1-2 sentence summaries, a draft
 * of ~1 KB that passes validation first time), on the whole shared corpus.
 *
 *   npx tsx bench/dbGrowth.ts [--input ../shared/corpus/rust-research] [--concurrency 8]
 *
 * Prints KiB per file during the run (full step history) and after the run is compacted.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildPipelineGraph } from "../graphs/pipelineGraph.ts";
import type { BackendRequest, BackendResult, ModelBackend } from "../src/llm/types.ts";
import { PromptLibrary } from "../src/prompts/PromptLibrary.ts";
import { createServices } from "../src/run/createServices.ts";
import { RunDatabase } from "../src/store/RunDatabase.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: { input: { type: "string", default: path.resolve(repo, "../shared/corpus/rust-research") }, concurrency: { type: "string", default: "8" } },
});

const sentence = (topic: string, words: number) =>
  `${topic} ${Array.from({ length: words }, (_, i) => ["keeps", "ownership", "clear", "and", "the", "compiler", "checks", "every", "borrow", "so", "callers", "stay", "safe"][i % 13]).join(" ")}.`;

/** Realistic-size, schema-valid answers built from the IDs the prompt offers. */
function answer(req: BackendRequest): string {
  const u = req.prompt.user;
  switch (req.role) {
    case "extractor": {
      const units = [...u.matchAll(/^\[((?:S|R)\d+(?:\.\d+)?)\] (.+)$/gm)].slice(0, 3);
      const codes = [...u.matchAll(/^\[(C\d+)\] code/gm)].map((m) => m[1] ?? "");
      const patterns = units.map((m, i) => ({
        name: (m[2] ?? "Pattern").split(" > ").at(-1)?.slice(0, 50) || `Pattern ${i + 1}`,
        category: "api-design",
        summary: sentence("This idiom", 24),
        evidence: [m[1] ?? "S1", ...(codes[i] ? [codes[i]] : [])],
      }));
      return JSON.stringify({ patterns: patterns.length > 0 ? patterns : [] });
    }
    case "researcher": {
      const ids = [...u.matchAll(/^\[([LDW]\d+)\]/gm)].map((m) => m[1]).slice(0, 2);
      return JSON.stringify({ relevant: ids, note: sentence("These excerpts", 14) });
    }
    case "writer": {
      const codeLine = /Code blocks you may choose as the idiomatic example: (.*)\.$/m.exec(u)?.[1] ?? "";
      const code = /C\d+/.exec(codeLine)?.[0] ?? "none";
      const sources = [...(u.split("Research sources you may cite by ID:")[1] ?? "").matchAll(/^\[([LDW]\d+)\]/gm)].map((m) => m[1]).slice(0, 2);
      return JSON.stringify({
        summary: `${sentence("The pattern", 30)} ${sentence("It", 20)}`,
        whenToUse: [sentence("Use it when", 12), sentence("Prefer it when", 10)],
        whenNotToUse: [sentence("Avoid it when", 12)],
        pitfalls: [sentence("Watch out because", 12)],
        example: code,
        sources,
      });
    }
    case "validator":
      return JSON.stringify({ verdict: "pass", problems: [] });
    default:
      return JSON.stringify({ verdict: "different", reason: "They describe different idioms." });
  }
}

const backend: ModelBackend = {
  modelId: "scripted-realistic@1",
  contextTokens: 4096,
  countTokens: (t) => Math.ceil(t.length / 4),
  generate: async (req: BackendRequest): Promise<BackendResult> => {
    req.onStart?.();
    const text = answer(req);
    return {
      text,
      inputTokens: Math.ceil((req.prompt.system.length + req.prompt.user.length) / 4),
      outputTokens: Math.ceil(text.length / 4),
      stopReason: "eogToken",
    };
  },
};

const work = fs.mkdtempSync(path.join(os.tmpdir(), "kb-dbgrowth-"));
const db = RunDatabase.open(path.join(work, "runs.sqlite"));
const services = createServices({ db, backendFor: () => backend, events: () => {}, prompts: PromptLibrary.load(), settings: { llmReview: true } });
const graph = buildPipelineGraph(services.deps, { concurrency: Number(values.concurrency), checkpointer: db.checkpointer() });
const runId = "dbgrowth";
db.createRun({
  id: runId,
  input: values.input,
  out: path.join(work, "kb"),
  model: backend.modelId,
  settings: "{}",
  startedAt: new Date().toISOString(),
  pid: process.pid,
});
const final = await graph.invoke(
  { inputDir: values.input, outDir: path.join(work, "kb"), exclude: [] },
  { configurable: { thread_id: runId }, recursionLimit: 500, durability: "sync" },
);
db.setRunStatus(runId, "done");
const files = final.files.length;
const published = final.results.filter((r) => r.status === "processed").length;
// Checkpoints the WAL into the file first, so the size below is the file's.
const tables = db.largestTables(6);
const during = db.sizeBytes();
const { after } = process.env.KEEP_DB ? { after: 0 } : db.compactRun(runId);
const calls = db.callTotals(runId);
services.close();
db.close();
if (process.env.KEEP_DB) process.stdout.write(`kept ${work}\n`);
else fs.rmSync(work, { recursive: true, force: true });
const kib = (b: number) => (b / 1024).toFixed(1);
process.stdout.write(
  [
    `files ${files} (${published} published), ${calls.calls} scripted model calls, ${calls.outputTokens} output tokens (~${Math.round(calls.outputTokens / Math.max(1, calls.calls))} per call)`,
    `during the run (full step history): ${kib(during)} KiB = ${kib(during / files)} KiB per file`,
    `  largest tables: ${tables.map((t) => `${t.name} ${kib(t.bytes)} KiB`).join(", ")}`,
    `after compaction: ${kib(after)} KiB = ${kib(after / files)} KiB per file`,
  ].join("\n") + "\n",
);
