/**
 * `npm run graph`: the terminal face of `runPipeline` — progress on stderr, Ctrl-C to stop (twice to
 * exit at once), the summary (and `--json` line) at the end, and the exit code.
 */
import path from "node:path";
import type { Env } from "../../config/env.ts";
import type { PipelineEvent } from "../../progress/events.ts";
import { Reporter } from "../../progress/Reporter.ts";
import { InterruptedError } from "../../run/openPipelineRun.ts";
import { runPipeline } from "../../run/runPipeline.ts";
import { formatSummary, type RunSummary } from "../../run/summary.ts";
import type { PipelineOptions } from "../../run/types.ts";
import { RunDatabase } from "../../store/RunDatabase.ts";
import { terminalText } from "../../util/terminalText.ts";
import type { GraphOptions } from "./parseGraphArgs.ts";

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  env: Env;
  /** Subscribe to SIGINT/SIGTERM; returns an unsubscribe function. */
  onSignal: (handler: (signal: NodeJS.Signals) => void) => () => void;
  /** Exit immediately (second Ctrl-C). */
  exitNow: (code: number) => never;
  /** Also receives every progress event (the benchmark measures model-busy time with it). */
  onEvent?: (event: PipelineEvent) => void;
}

/** Error codes that mean "the command was used wrongly" (exit 2) rather than "the run failed" (exit 1). */
const USAGE_CODES = new Set(["USAGE", "INPUT_NOT_FOUND", "INPUT_NOT_DIRECTORY", "OUTPUT_INSIDE_INPUT", "OUTPUT_NOT_KB", "NO_RUN_TO_RESUME", "CONFIG_INVALID"]);

function exitCodeFor(s: RunSummary): number {
  if (s.status === "done") return 0;
  if (s.status === "interrupted") return 130;
  return s.error && USAGE_CODES.has(s.error.code) && s.runId === null ? 2 : 1;
}

/** The command line's options as the library's: `--resume` / `runs resume ID` become `resume`. */
function toPipelineOptions(o: GraphOptions): PipelineOptions {
  const { json: _json, resume, runId, ...rest } = o;
  return { ...rest, ...(runId ? { resume: runId } : resume ? { resume: true } : {}) };
}

export async function runGraphCommand(options: GraphOptions, io: CommandIo): Promise<number> {
  const reporter = new Reporter({ err: io.stderr, out: io.stdout, json: options.json });
  const abort = new AbortController();
  let runId: string | undefined;
  let interrupted: NodeJS.Signals | undefined;
  const unsubscribe = io.onSignal((signal) => {
    if (interrupted) {
      io.stderr.write(`\nSecond ${signal}: exiting now. Finished work is saved; resume with --resume.\n`);
      if (runId) markInterrupted(path.resolve(options.db), runId);
      io.exitNow(130);
    }
    interrupted = signal;
    reporter.say(`\n${signal} received: stopping. Calls in flight are dropped; every finished step is saved. (Press Ctrl-C again to exit at once.)`);
    abort.abort(new InterruptedError(signal));
  });
  let started = false;
  try {
    const summary = await runPipeline(toPipelineOptions(options), {
      signal: abort.signal,
      env: io.env,
      onEvent: (e) => {
        if (e.type === "run_started") runId = e.runId;
        // The progress display starts with the first model being loaded (resolving may print downloads first).
        if (!started && e.type === "model_loading") {
          started = true;
          reporter.start();
        }
        reporter.handle(e);
        io.onEvent?.(e);
      },
    });
    reporter.stop();
    // Error messages quote file names and model text: no control character reaches the terminal.
    io.stderr.write(`${terminalText(formatSummary(summary))}\n`);
    if (options.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
    return exitCodeFor(summary);
  } finally {
    unsubscribe();
    reporter.stop();
  }
}

/** A second Ctrl-C exits at once: the run row says so (the next command would also notice the dead pid). */
function markInterrupted(dbPath: string, runId: string): void {
  try {
    const db = RunDatabase.open(dbPath);
    db.setRunStatus(runId, "interrupted", { endedAt: new Date().toISOString(), pid: null });
    db.close();
  } catch {
    // the process is exiting; markDeadRuns repairs the status on the next command
  }
}
