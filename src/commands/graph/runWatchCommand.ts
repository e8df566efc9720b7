/**
 * `npm run graph -- --input DIR --watch`: a run as `npm run graph` makes it, then the process stays
 * and runs again whenever the input changes — a short quiet time after a save, with the models kept
 * loaded (src/run/KeptModels.ts) and the output lock held between runs. Each run is an ordinary
 * incremental run: discovery compares the files with the ledger, so only changed and added files
 * are processed and the entries of removed files leave the knowledge base. Changes made while a
 * run is going are collected and start the next run when it ends. Ctrl-C while a run is going stops
 * it as a normal run stops (finished work kept, the resume command printed, exit 130); while
 * waiting, it ends the watch with the last run's exit code.
 */
import path from "node:path";
import { WATCH_DEBOUNCE_MS, WATCH_MAX_WAIT_MS } from "../../config/defaults.ts";
import { exitCodeOf, InterruptedError, isUserError } from "../../errors.ts";
import { type InputChange, type InputWatcher, watchInput } from "../../input/watchInput.ts";
import { KeptModels } from "../../run/KeptModels.ts";
import { newRunDirectories } from "../../run/resolveRun.ts";
import type { PipelineOptions } from "../../run/types.ts";
import { OutputLock } from "../../store/OutputLock.ts";
import type { GraphOptions } from "./GraphOptions.ts";
import { type CommandIo, exitCodeFor, markInterrupted, newRunView, type RunView, reportedRun, toPipelineOptions } from "./runGraphCommand.ts";

export interface WatchTiming {
  /** Quiet time after the last change before a run starts (default WATCH_DEBOUNCE_MS). */
  debounceMs?: number;
}

/** What the watch and its signal handler share. */
interface WatchState {
  /** The current run's view (messages go above its progress display). */
  view: RunView;
  /** Stops the run in progress; undefined while waiting. */
  running: AbortController | undefined;
  stopping: boolean;
  queue: ChangeQueue;
}

export async function runWatchCommand(options: GraphOptions, io: CommandIo, timing: WatchTiming = {}): Promise<number> {
  const debounceMs = timing.debounceMs ?? WATCH_DEBOUNCE_MS;
  const state: WatchState = { view: newRunView(io), running: undefined, stopping: false, queue: new ChangeQueue() };
  const lock = takeWatchLock(options, state.view);
  if (typeof lock === "number") return lock;
  const watcher = startWatcher(options, io, state, debounceMs);
  if (!watcher) {
    lock.release();
    return 1;
  }
  const kept = new KeptModels();
  const unsubscribe = io.onSignal((signal) => {
    if (state.stopping) {
      io.stderr.write(`\nSecond ${signal}: exiting now. Finished work is saved; resume with --resume.\n`);
      if (state.running && state.view.runId) markInterrupted(path.resolve(options.db), state.view.runId);
      io.exitNow(130);
    }
    state.stopping = true;
    if (state.running) {
      state.view.say(`\n${signal} received: stopping. Calls in flight are dropped; every finished step is saved. (Press Ctrl-C again to exit at once.)`);
      state.running.abort(new InterruptedError(signal));
    }
    state.queue.stop();
  });
  try {
    return await runUntilStopped(options, io, state, { lock, kept, debounceMs });
  } finally {
    unsubscribe();
    watcher.close();
    await kept.dispose();
    lock.release();
  }
}

/** The output lock for every run of the watch; a new run's directories are checked before it creates anything. Returns the exit code when refused. */
function takeWatchLock(options: GraphOptions, view: RunView): OutputLock | number {
  try {
    const first = toPipelineOptions(options);
    if (first.resume === undefined) newRunDirectories(first);
    return OutputLock.acquire(
      path.resolve(options.out),
      { runId: `watch-${process.pid}`, db: path.resolve(options.db) },
      { breakLock: options.breakLock === true },
    );
  } catch (e) {
    if (!isUserError(e)) throw e;
    view.say(`error [${e.code}]: ${e.message}${e.hint ? `\n${e.hint}` : ""}`);
    return exitCodeOf(e);
  }
}

/** Watches the input from before the first run (changes during it count); undefined when the input cannot be watched. */
function startWatcher(options: GraphOptions, io: CommandIo, state: WatchState, debounceMs: number): InputWatcher | undefined {
  const db = path.resolve(options.db);
  try {
    return watchInput(path.resolve(options.input), {
      debounceMs,
      maxWaitMs: WATCH_MAX_WAIT_MS,
      exclude: [db, `${db}-wal`, `${db}-shm`, path.resolve(options.out)],
      onChanges: (changes) => {
        if (options.json) io.stdout.write(`${JSON.stringify({ type: "watch_changes", changes, running: state.running !== undefined })}\n`);
        if (state.running) state.view.say(`changed while running: ${describeChanges(changes)} — the next run takes them`);
        state.queue.add(changes);
      },
      onError: (e) => state.queue.fail(e),
    });
  } catch (e) {
    // The input is gone (a resumed run's), or the system's watch limit is reached.
    state.view.say(`error: cannot watch ${path.resolve(options.input)}: ${(e as Error).message}`);
    return undefined;
  }
}

/** Runs, then waits for changes and runs again, until Ctrl-C, an interrupted run or a run that cannot start; returns the exit code. */
async function runUntilStopped(
  options: GraphOptions,
  io: CommandIo,
  state: WatchState,
  held: { lock: OutputLock; kept: KeptModels; debounceMs: number },
): Promise<number> {
  const input = path.resolve(options.input);
  let code = 0;
  let runOptions: PipelineOptions = toPipelineOptions(options);
  for (let n = 1; !state.stopping; n++) {
    state.running = new AbortController();
    state.view = newRunView(io);
    const hooks = { signal: state.running.signal, outputLock: held.lock, ...(io.models ? {} : { keptModels: held.kept }) };
    const summary = await reportedRun(runOptions, io, hooks, options.json, state.view);
    state.running = undefined;
    code = exitCodeFor(summary);
    // A run that never started (a usage error, no model) would fail the same way on every change.
    if (summary.status === "interrupted" || (n === 1 && summary.runId === null)) break;
    // The input went away: nothing more will change in it.
    if (summary.error?.code === "INPUT_NOT_FOUND" || summary.error?.code === "INPUT_NOT_DIRECTORY") break;
    // Every later run is a new one (a --resume applies to the first).
    const { resume: _resume, ...fresh } = runOptions;
    runOptions = fresh;
    if (!state.queue.hasPending()) {
      state.view.say(`Watching ${input} for changes (a run starts ${(held.debounceMs / 1000).toFixed(1)} s after the last save; Ctrl-C stops).`);
      if (options.json) io.stdout.write(`${JSON.stringify({ type: "watching", input })}\n`);
    }
    const changes = await state.queue.next();
    if (changes === undefined) break;
    state.view.say(`\n${describeChanges(changes)} — running again (models stay loaded).`);
  }
  if (state.queue.error) {
    state.view.say(`error: watching ${input} failed: ${state.queue.error.message}. Start the command again once the input is back.`);
    return 1;
  }
  if (state.stopping && code !== 130) state.view.say("Stopped watching.");
  return code;
}

/** "changed: a.md, b.md; removed: c.md" (at most a few names of each kind). */
function describeChanges(changes: readonly InputChange[]): string {
  const part = (kind: InputChange["kind"]) => {
    const names = changes.filter((c) => c.kind === kind).map((c) => c.relPath);
    if (names.length === 0) return undefined;
    return `${kind}: ${names.slice(0, 5).join(", ")}${names.length > 5 ? ` and ${names.length - 5} more` : ""}`;
  };
  return [part("changed"), part("removed")].filter((p) => p !== undefined).join("; ");
}

/** Changes collected between runs; `next` waits for the next batch, or undefined once stopped or failed. */
class ChangeQueue {
  private pending = new Map<string, InputChange>();
  private waiter: ((changes: InputChange[] | undefined) => void) | undefined;
  private stopped = false;
  error: Error | undefined;

  add(changes: readonly InputChange[]): void {
    for (const c of changes) this.pending.set(c.relPath, c);
    this.release();
  }

  hasPending(): boolean {
    return this.pending.size > 0;
  }

  next(): Promise<InputChange[] | undefined> {
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.release();
    });
  }

  stop(): void {
    this.stopped = true;
    this.release();
  }

  fail(error: Error): void {
    this.error = error;
    this.stop();
  }

  private release(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.stopped) {
      this.waiter = undefined;
      waiter(undefined);
    } else if (this.pending.size > 0) {
      this.waiter = undefined;
      const batch = [...this.pending.values()].sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
      this.pending.clear();
      waiter(batch);
    }
  }
}
