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
import { isUserError } from "../../errors.ts";
import { type InputChange, watchInput } from "../../input/watchInput.ts";
import { KeptModels } from "../../run/KeptModels.ts";
import { InterruptedError } from "../../run/openPipelineRun.ts";
import { newRunDirectories } from "../../run/resolveRun.ts";
import type { PipelineOptions } from "../../run/types.ts";
import { OutputLock } from "../../store/OutputLock.ts";
import type { GraphOptions } from "./parseGraphArgs.ts";
import { type CommandIo, exitCodeFor, markInterrupted, newRunView, type RunView, reportedRun, toPipelineOptions, USAGE_CODES } from "./runGraphCommand.ts";

export interface WatchTiming {
  /** Quiet time after the last change before a run starts (default WATCH_DEBOUNCE_MS). */
  debounceMs?: number;
}

export async function runWatchCommand(options: GraphOptions, io: CommandIo, timing: WatchTiming = {}): Promise<number> {
  let view: RunView = newRunView(io);
  const input = path.resolve(options.input);
  const db = path.resolve(options.db);
  const json = (obj: Record<string, unknown>) => {
    if (options.json) io.stdout.write(`${JSON.stringify(obj)}\n`);
  };

  // The lock is taken once for every run of the watch; a new run's directories are checked before it creates anything.
  let lock: OutputLock;
  try {
    const first = toPipelineOptions(options);
    if (first.resume === undefined) newRunDirectories(first);
    lock = OutputLock.acquire(path.resolve(options.out), { runId: `watch-${process.pid}`, db }, { breakLock: options.breakLock === true });
  } catch (e) {
    if (!isUserError(e)) throw e;
    view.say(`error [${e.code}]: ${e.message}${e.hint ? `\n${e.hint}` : ""}`);
    return USAGE_CODES.has(e.code) ? 2 : 1;
  }

  const queue = new ChangeQueue();
  let running: AbortController | undefined;
  let stopping = false;
  let watcher: ReturnType<typeof watchInput>;
  try {
    watcher = watchInput(input, {
      debounceMs: timing.debounceMs ?? WATCH_DEBOUNCE_MS,
      maxWaitMs: WATCH_MAX_WAIT_MS,
      exclude: [db, `${db}-wal`, `${db}-shm`, path.resolve(options.out)],
      onChanges: (changes) => {
        json({ type: "watch_changes", changes, running: running !== undefined });
        if (running) view.say(`changed while running: ${describeChanges(changes)} — the next run takes them`);
        queue.add(changes);
      },
      onError: (e) => queue.fail(e),
    });
  } catch (e) {
    // The input is gone (a resumed run's), or the system's watch limit is reached.
    lock.release();
    view.say(`error: cannot watch ${input}: ${(e as Error).message}`);
    return 1;
  }
  const kept = new KeptModels();
  const unsubscribe = io.onSignal((signal) => {
    if (stopping) {
      io.stderr.write(`\nSecond ${signal}: exiting now. Finished work is saved; resume with --resume.\n`);
      if (running && view.runId) markInterrupted(db, view.runId);
      io.exitNow(130);
    }
    stopping = true;
    if (running) {
      view.say(`\n${signal} received: stopping. Calls in flight are dropped; every finished step is saved. (Press Ctrl-C again to exit at once.)`);
      running.abort(new InterruptedError(signal));
    }
    queue.stop();
  });

  let code = 0;
  try {
    let runOptions: PipelineOptions = toPipelineOptions(options);
    for (let n = 1; !stopping; n++) {
      running = new AbortController();
      view = newRunView(io);
      const hooks = { signal: running.signal, outputLock: lock, ...(io.models ? {} : { keptModels: kept }) };
      const summary = await reportedRun(runOptions, io, hooks, options.json, view);
      running = undefined;
      code = exitCodeFor(summary);
      // A run that never started (a usage error, no model) would fail the same way on every change.
      if (summary.status === "interrupted" || (n === 1 && summary.runId === null)) break;
      // The input went away: nothing more will change in it.
      if (summary.error?.code === "INPUT_NOT_FOUND" || summary.error?.code === "INPUT_NOT_DIRECTORY") break;
      // Every later run is a new one (a --resume applies to the first).
      const { resume: _resume, ...fresh } = runOptions;
      runOptions = fresh;
      if (!queue.hasPending()) {
        view.say(
          `Watching ${input} for changes (a run starts ${((timing.debounceMs ?? WATCH_DEBOUNCE_MS) / 1000).toFixed(1)} s after the last save; Ctrl-C stops).`,
        );
        json({ type: "watching", input });
      }
      const changes = await queue.next();
      if (changes === undefined) break;
      view.say(`\n${describeChanges(changes)} — running again (models stay loaded).`);
    }
    if (queue.error) {
      view.say(`error: watching ${input} failed: ${queue.error.message}. Start the command again once the input is back.`);
      code = 1;
    } else if (stopping && code !== 130) view.say("Stopped watching.");
  } finally {
    unsubscribe();
    watcher.close();
    await kept.dispose();
    lock.release();
  }
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
