/**
 * The pipeline itself on a fixed corpus slice: files per minute, generated tokens per second, and
 * the share of wall time with no model call in flight (graph, checkpoints, I/O, research).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runGraphCommand } from "../src/commands/graph/runGraphCommand.ts";
import { readEnv } from "../src/config/env.ts";
import type { PipelineEvent } from "../src/progress/events.ts";

export interface PipelineBenchResult {
  files: number;
  wallMs: number;
  filesPerMinute: number;
  llmCalls: number;
  outputTokens: number;
  tokensPerSecond: number;
  /** Wall time (from the first file starting to the run's end) with at least one model call in flight. */
  modelBusyMs: number;
  outsideModelShare: number;
  exitCode: number;
}

export async function benchPipeline(options: { model: string; files: string[]; threads: number; concurrency?: number }): Promise<PipelineBenchResult> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "kb-bench-pipeline-"));
  const input = path.join(work, "input");
  fs.mkdirSync(input);
  for (const f of options.files) fs.copyFileSync(f, path.join(input, path.basename(f)));
  let active = 0;
  let busySince = 0;
  let busy = 0;
  let started = 0;
  let tokens = 0;
  const onEvent = (e: PipelineEvent) => {
    const now = performance.now();
    if (e.type === "files_discovered") started = now;
    if (e.type === "llm_call_started") {
      if (active++ === 0) busySince = now;
    } else if (e.type === "llm_call_finished" && !e.memo) {
      tokens += e.outputTokens;
      if (--active === 0) busy += now - busySince;
    }
  };
  const sink = new (await import("node:stream")).PassThrough();
  sink.resume();
  let summary = "";
  const stdout = new (await import("node:stream")).Writable({
    write(chunk, _enc, cb) {
      summary += String(chunk);
      cb();
    },
  });
  const code = await runGraphCommand(
    {
      input,
      out: path.join(work, "kb"),
      db: path.join(work, "runs.sqlite"),
      model: options.model,
      resume: false,
      concurrency: options.concurrency,
      threads: options.threads,
      json: true,
      llmReview: true,
      maxFileMb: 8,
      contextSize: undefined,
      modelsDir: undefined,
      research: ["input"],
    },
    { stdout, stderr: sink, env: readEnv(), onSignal: () => () => {}, exitNow: (c) => process.exit(c), onEvent },
  );
  const end = performance.now();
  const last = JSON.parse(summary.trim().split("\n").at(-1) ?? "{}") as { llm?: { calls?: number } };
  fs.rmSync(work, { recursive: true, force: true });
  const wallMs = end - started;
  return {
    files: options.files.length,
    wallMs,
    filesPerMinute: (options.files.length / wallMs) * 60_000,
    llmCalls: last.llm?.calls ?? 0,
    outputTokens: tokens,
    tokensPerSecond: (tokens / wallMs) * 1000,
    modelBusyMs: busy,
    outsideModelShare: wallMs > 0 ? 1 - busy / wallMs : 0,
    exitCode: code,
  };
}
