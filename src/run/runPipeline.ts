/**
 * The pipeline as a library call: opens the run (new or resumed), invokes the graph on the run
 * database's checkpointer, and resolves to the run's summary. It never rejects for a failed run:
 * the summary's `status` ("done" | "interrupted" | "failed") and `error` say what happened, and an
 * interrupted or failed run resumes with `resume: runId`.
 */
import { openPipelineRun, RunNotStarted, toUserError } from "./openPipelineRun.ts";
import type { RunSummary } from "./summary.ts";
import type { PipelineHooks, PipelineOptions } from "./types.ts";

export async function runPipeline(options: PipelineOptions, hooks: PipelineHooks = {}): Promise<RunSummary> {
  let session: Awaited<ReturnType<typeof openPipelineRun>>;
  try {
    session = await openPipelineRun(options, hooks);
  } catch (e) {
    if (e instanceof RunNotStarted) return e.summary;
    throw e;
  }
  try {
    await session.graph.invoke(session.graphInput, session.config);
    return await session.finish({ status: hooks.signal?.aborted ? "interrupted" : "done" });
  } catch (e) {
    if (hooks.signal?.aborted) return session.finish({ status: "interrupted" });
    return session.finish({ status: "failed", error: toUserError(e) });
  }
}
