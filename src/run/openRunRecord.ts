/**
 * Phase 1 of opening a run: the run database (runs whose process died are marked), which run this is
 * (resolveRun) and the output lock; then, once the models are known, the run's row is created or marked
 * running and the display is told the run started.
 */
import path from "node:path";
import type { Env } from "../config/env.ts";
import { UserError } from "../errors.ts";
import { ROLES } from "../llm/roles.ts";
import type { EventSink, PipelineEvent } from "../progress/events.ts";
import type { LedgerSettings } from "../store/Ledger.ts";
import { OutputLock } from "../store/OutputLock.ts";
import { RunDatabase } from "../store/RunDatabase.ts";
import type { RunLifetime } from "./RunLifetime.ts";
import { newRunDirectories, type ResolvedRun, resolveRun } from "./resolveRun.ts";
import { resumeCommand } from "./summary.ts";
import type { HeldOutputLock, PipelineOptions, RunModels } from "./types.ts";

export interface RunRecord {
  db: RunDatabase;
  dbPath: string;
  resolved: ResolvedRun;
  /** The command that resumes this run, for a summary that stops early. */
  resumeHint: string;
}

/** What is known of a run while it opens, so a failure to open reports the right run (or none). */
export interface OpeningProgress {
  db?: RunDatabase;
  runId?: string;
  /** True once the run has a row in the run database (a resume, or a new run once created). */
  known: boolean;
  resumeHint: string | null;
}

export function openRunRecord(
  options: PipelineOptions,
  context: { dbPath: string; env: Env; lifetime: RunLifetime; heldLock: HeldOutputLock | undefined; progress: OpeningProgress },
): RunRecord {
  const { dbPath, env, lifetime, progress } = context;
  // A new run's directories are checked before anything is created (the run database included).
  const newRunDirs = options.resume === undefined ? newRunDirectories(options) : undefined;
  const db = RunDatabase.open(dbPath);
  progress.db = db;
  lifetime.onClose(() => db.close());
  db.markDeadRuns();
  const resolved = resolveRun(options, db, env, newRunDirs);
  progress.runId = resolved.runId;
  progress.known = resolved.run !== undefined;
  const resumeHint = resumeCommand(resolved.input, resolved.out, dbPath);
  progress.resumeHint = resumeHint;
  takeOutputLock(resolved, { dbPath, breakLock: options.breakLock === true, heldLock: context.heldLock, lifetime });
  return { db, dbPath, resolved, resumeHint };
}

/** One writer per output directory; taking the lock also proves the directory is writable. */
function takeOutputLock(
  resolved: ResolvedRun,
  context: { dbPath: string; breakLock: boolean; heldLock: HeldOutputLock | undefined; lifetime: RunLifetime },
): void {
  const { out, runId } = resolved;
  if (context.heldLock) {
    if (path.resolve(context.heldLock.file) !== path.join(out, ".kb", "lock"))
      throw new UserError("USAGE", `The output lock passed to the run is ${context.heldLock.file}, not the lock of ${out}.`);
    return;
  }
  const lock = OutputLock.acquire(out, { runId, db: context.dbPath }, { breakLock: context.breakLock });
  context.lifetime.onClose(() => lock.release());
}

/** Creates a new run's row (or marks a resumed one running) and tells the display the run started. */
export function recordRunStart(
  record: RunRecord,
  run: { models: RunModels; ledgerSettings: LedgerSettings; emit: EventSink; progress: OpeningProgress },
): void {
  const { db, resolved } = record;
  const { runId, input, out, recorded } = resolved;
  let row = resolved.run;
  if (!row) {
    db.createRun({
      id: runId,
      input,
      out,
      model: [...new Set(ROLES.map((r) => run.models.backendFor(r).modelId))].join(", "),
      settings: JSON.stringify({ hash: run.ledgerSettings.settingsHash, options: recorded }),
      startedAt: new Date().toISOString(),
      pid: process.pid,
    });
    row = db.getRun(runId);
    run.progress.known = true;
  } else {
    db.setRunStatus(runId, "running", { pid: process.pid });
  }
  run.emit({ type: "run_started", runId, input, out, model: row?.model ?? "", resumed: resolved.run !== undefined });
  // A resumed run does not discover again (its file list is checkpointed): show the real totals.
  if (resolved.run) {
    const discovered = resumedTotals(db.listFiles(runId));
    if (discovered) run.emit(discovered);
  }
}

/** The progress totals of a resumed run, from its file rows (none before discovery finished). */
export function resumedTotals(rows: readonly { status: string; node: string | null }[]): Extract<PipelineEvent, { type: "files_discovered" }> | undefined {
  // A file the pipeline finished has node "done" (its outcome may be "skipped"); skipped at discovery, node "discover".
  const finished = rows.filter((r) => r.node === "done").length;
  const toProcess = finished + rows.filter((r) => r.status === "pending" && r.node !== "done").length;
  if (toProcess === 0) return undefined;
  const skipped = rows.filter((r) => r.status === "skipped" && r.node !== "done").length;
  return { type: "files_discovered", found: rows.length, toProcess, skipped, alreadyDone: finished };
}
