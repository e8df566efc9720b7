/**
 * `npm run graph`: the terminal face of `runPipeline` — progress on stderr, Ctrl-C to stop (twice to
 * exit at once), the summary (and `--json` line) at the end, and the exit code.
 */
import path from "node:path";
import type { Env } from "../../config/env.ts";
import { EXIT, exitCodeOf, InterruptedError } from "../../errors.ts";
import type { PipelineEvent } from "../../progress/events.ts";
import { Reporter } from "../../progress/Reporter.ts";
import { runPipeline } from "../../run/runPipeline.ts";
import { formatSummary, type RunSummary } from "../../run/summary.ts";
import type { PipelineHooks, PipelineOptions, RunModels } from "../../run/types.ts";
import { RunDatabase } from "../../store/RunDatabase.ts";
import { terminalText } from "../../util/terminalText.ts";
import type { GraphOptions } from "./GraphOptions.ts";

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
  /** Models to run on instead of loading the configured ones (tests and benchmarks bring scripted ones). */
  models?: RunModels;
}

/** A run's exit code: a usage error only when the run never started (no run ID); a failure after that is a failed run. */
export function exitCodeFor(s: RunSummary): number {
  if (s.status === "done") return EXIT.done;
  if (s.status === "interrupted") return EXIT.interrupted;
  return s.error && s.runId === null ? exitCodeOf(s.error) : EXIT.failed;
}

/** The command line's options as the library's: `--resume` / `runs resume ID` become `resume`. */
export function toPipelineOptions(o: GraphOptions): PipelineOptions {
  const { json: _json, resume, runId, watch: _watch, ...rest } = o;
  return { ...rest, ...(runId ? { resume: runId } : resume ? { resume: true } : {}) };
}

export async function runGraphCommand(options: GraphOptions, io: CommandIo): Promise<number> {
  const abort = new AbortController();
  const view = newRunView(io);
  let interrupted: NodeJS.Signals | undefined;
  const unsubscribe = io.onSignal((signal) => {
    if (interrupted) {
      io.stderr.write(`\nSecond ${signal}: exiting now. Finished work is saved; resume with --resume.\n`);
      if (view.runId) markInterrupted(path.resolve(options.db), view.runId);
      io.exitNow(130);
    }
    interrupted = signal;
    view.say(`\n${signal} received: stopping. Calls in flight are dropped; every finished step is saved. (Press Ctrl-C again to exit at once.)`);
    abort.abort(new InterruptedError(signal));
  });
  try {
    return exitCodeFor(await reportedRun(toPipelineOptions(options), io, { signal: abort.signal }, options.json, view));
  } finally {
    unsubscribe();
  }
}

/** What a running reportedRun shows: its run's ID once started, and where a message goes (above the live display). */
export interface RunView {
  runId?: string;
  say: (text: string) => void;
}

/** A view before its run starts: messages go straight to stderr. */
export function newRunView(io: Pick<CommandIo, "stderr">): RunView {
  return { say: (text) => io.stderr.write(`${terminalText(text)}\n`) };
}

/**
 * One run with its progress display, summary and `--json` line: what `npm run graph` does once and
 * `--watch` does for each run. `hooks` carry the stop signal and, in watch mode, the kept models
 * and the held output lock.
 */
export async function reportedRun(
  options: PipelineOptions,
  io: CommandIo,
  hooks: Omit<PipelineHooks, "onEvent" | "env">,
  json: boolean,
  view: RunView,
): Promise<RunSummary> {
  const reporter = new Reporter({ err: io.stderr, out: io.stdout, json });
  view.say = (text) => reporter.say(text);
  let started = false;
  try {
    const summary = await runPipeline(options, {
      ...hooks,
      env: io.env,
      ...(io.models ? { models: io.models } : {}),
      onEvent: (e) => {
        if (e.type === "run_started") view.runId = e.runId;
        // The progress display starts with the first model being loaded (resolving may print downloads
        // first), or with the run when its models are loaded already (watch mode, models brought along).
        if (!started && (e.type === "model_loading" || e.type === "run_started")) {
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
    if (json) io.stdout.write(`${JSON.stringify(summary)}\n`);
    return summary;
  } finally {
    reporter.stop();
  }
}

/** A second Ctrl-C exits at once: the run row says so (the next command would also notice the dead pid). */
export function markInterrupted(dbPath: string, runId: string): void {
  try {
    const db = RunDatabase.open(dbPath);
    db.setRunStatus(runId, "interrupted", { endedAt: new Date().toISOString(), pid: null });
    db.close();
  } catch {
    // the process is exiting; markDeadRuns repairs the status on the next command
  }
}
