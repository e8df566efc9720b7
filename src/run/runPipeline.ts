/**
 * The pipeline as a library call: opens the run (new or resumed), invokes the graph on the run
 * database's checkpointer, and resolves to the run's summary. It never rejects for a failed run:
 * the summary's `status` ("done" | "interrupted" | "failed") and `error` say what happened, and an
 * interrupted or failed run resumes with `resume: runId`.
 */
import { toUserError } from "../errors.ts";
import { openPipelineRun, RunNotStarted } from "./openPipelineRun.ts";
import { type RunSummary, resumeCommand, stoppedSummary } from "./summary.ts";
import type { PipelineHooks, PipelineOptions } from "./types.ts";

export async function runPipeline(options: PipelineOptions, hooks: PipelineHooks = {}): Promise<RunSummary> {
  let session: Awaited<ReturnType<typeof openPipelineRun>>;
  try {
    session = await openPipelineRun(options, hooks);
  } catch (e) {
    if (e instanceof RunNotStarted) return e.summary;
    throw e;
  }
  let outcome: Parameters<typeof session.finish>[0];
  try {
    await session.graph.invoke(session.graphInput, session.config);
    outcome = { status: hooks.signal?.aborted ? "interrupted" : "done" };
  } catch (e) {
    outcome = hooks.signal?.aborted ? { status: "interrupted" } : { status: "failed", error: toUserError(e) };
  }
  try {
    return await session.finish(outcome);
  } catch (e) {
    // Recording the outcome failed too (the run database's disk is full): report the first cause.
    const error = outcome.error ?? toUserError(e);
    return stoppedSummary({
      status: outcome.status === "done" ? "failed" : outcome.status,
      runId: session.runId,
      wallMs: 0,
      resume: resumeCommand(session.input, session.out, session.dbPath),
      out: session.out,
      error,
    });
  }
}
