/**
 * A pipeline run, opened and ready to invoke: run database, output lock, models, research, code
 * check and services, the graph on the run database's checkpointer, and the input (null when the
 * run continues from its checkpoints). `runPipeline` invokes it; Studio streams it. Either way
 * `finish` records the outcome, writes the summary and closes everything the run opened.
 *
 * Opening goes in named phases: the run record (openRunRecord), the resources the nodes work with
 * (openRunResources), the run's row and first events (recordRunStart), the graph and where it starts
 * (prepareRunGraph); the end is finishRun.
 */
import path from "node:path";
import type { PipelineGraph } from "../../graphs/pipelineGraph.ts";
import { DEFAULT_OUT_DIR, DEFAULT_RUN_DB } from "../config/defaults.ts";
import { type Env, readEnv } from "../config/env.ts";
import { toUserError, type UserError } from "../errors.ts";
import type { PipelineEvent } from "../progress/events.ts";
import { finishRun, type RunOutcome } from "./finishRun.ts";
import { type OpeningProgress, openRunRecord, recordRunStart } from "./openRunRecord.ts";
import { openRunResources } from "./openRunResources.ts";
import { type PipelineInput, prepareRunGraph } from "./prepareRunGraph.ts";
import { RunLifetime } from "./RunLifetime.ts";
import { runThreadConfig } from "./runThreadConfig.ts";
import { type RunSummary, stoppedSummary } from "./summary.ts";
import type { PipelineHooks, PipelineOptions } from "./types.ts";

export type { PipelineInput } from "./prepareRunGraph.ts";

export interface PipelineRunSession {
  runId: string;
  input: string;
  out: string;
  dbPath: string;
  /** True when the run existed before (a resume). */
  resumed: boolean;
  /** The pipeline graph, compiled with the run database's checkpointer. */
  graph: PipelineGraph;
  config: { configurable: { thread_id: string; checkpoint_id?: string }; signal: AbortSignal; recursionLimit: number; durability: "sync" };
  /** Graph input: null when the run continues from its checkpoints. */
  graphInput: PipelineInput | null;
  /** Aborts the run's work (calls in flight are dropped; finished steps are kept). */
  abort(reason?: unknown): void;
  /** Records how the run ended, writes its summary (and site), and closes everything it opened. */
  finish(outcome: RunOutcome): Promise<RunSummary>;
}

/** Raised when a run cannot be opened; carries the summary to report (status "failed" or "interrupted"). */
export class RunNotStarted extends Error {
  constructor(
    readonly summary: RunSummary,
    readonly error: UserError | undefined,
  ) {
    super(error ? `${error.message}${error.hint ? ` ${error.hint}` : ""}` : "interrupted before the run started");
    this.name = "RunNotStarted";
  }
}

export async function openPipelineRun(options: PipelineOptions, hooks: PipelineHooks = {}): Promise<PipelineRunSession> {
  const started = Date.now();
  const env: Env = hooks.env ?? readEnv();
  const emit = (e: PipelineEvent) => hooks.onEvent?.(e);
  const lifetime = new RunLifetime(hooks.signal);
  const dbPath = path.resolve(options.db ?? DEFAULT_RUN_DB);
  const progress: OpeningProgress = { known: false, resumeHint: null };
  try {
    const record = openRunRecord(options, { dbPath, env, lifetime, heldLock: hooks.outputLock, progress });
    const resources = await openRunResources(record, options, { hooks, env, emit, lifetime });
    recordRunStart(record, { models: resources.models, ledgerSettings: resources.ledgerSettings, emit, progress });
    const { graph, graphInput } = await prepareRunGraph(record, resources, options);
    const { runId, input, out } = record.resolved;
    let finished: Promise<RunSummary> | undefined;
    const finish = async (outcome: RunOutcome) => {
      try {
        return await finishRun({ record, resources, options, lifetime, emit, started }, outcome);
      } finally {
        await lifetime.closeAll();
      }
    };
    return {
      runId,
      input,
      out,
      dbPath,
      resumed: record.resolved.run !== undefined,
      graph,
      config: { ...runThreadConfig(runId, options.checkpointId), signal: lifetime.signal, recursionLimit: 500, durability: "sync" },
      graphInput,
      abort: (reason) => lifetime.abort(reason),
      finish: (outcome) => {
        finished ??= finish(outcome);
        return finished;
      },
    };
  } catch (e) {
    throw await notStarted(e, { options, lifetime, progress, started });
  }
}

/** A run that failed (or was interrupted) while opening: its row marked, everything closed, the summary to report. */
async function notStarted(
  e: unknown,
  context: { options: PipelineOptions; lifetime: RunLifetime; progress: OpeningProgress; started: number },
): Promise<RunNotStarted> {
  const { progress } = context;
  const interrupted = context.lifetime.signal.aborted;
  const err = interrupted ? undefined : toUserError(e);
  const status: RunSummary["status"] = interrupted ? "interrupted" : "failed";
  if (progress.db && progress.runId && progress.known) progress.db.setRunStatus(progress.runId, status, { pid: null });
  const summary = stoppedSummary({
    status,
    runId: progress.known ? (progress.runId ?? null) : null,
    wallMs: Date.now() - context.started,
    resume: progress.known ? progress.resumeHint : null,
    out: path.resolve(context.options.out ?? DEFAULT_OUT_DIR),
    ...(err ? { error: err } : {}),
  });
  await context.lifetime.closeAll();
  return new RunNotStarted(summary, err);
}
