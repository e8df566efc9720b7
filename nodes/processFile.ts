import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { describeError, errorNode, isRunLevelError } from "../src/errors.ts";
import type { LedgerSettings } from "../src/store/Ledger.ts";
import { Semaphore } from "../src/util/Semaphore.ts";
import { type NodeDeps, runContext } from "./deps.ts";
import type { FileStateType, PipelineStateType } from "./state.ts";
import type { FileOutcome, FileTask } from "./types.ts";

/** What the parent graph sends for each file. */
export type FileTaskInput = FileTask & { outDir: string; settings: LedgerSettings | null };

interface FileGraphLike {
  invoke(input: Partial<FileStateType>, config: LangGraphRunnableConfig): Promise<FileStateType>;
}

/**
 * processFile: runs one file's subgraph. Files beyond `concurrency` wait here (a semaphore
 * rather than LangGraph's maxConcurrency, which drops Send tasks at 1: langgraphjs#2656). The
 * subgraph is invoked with this node's config, so it checkpoints under this task and a resumed
 * run continues it at the node that was interrupted.
 */
/**
 * Files in flight at once: the concurrency, but never more than the sequences that serve the
 * per-file roles. A file beyond that could only wait for a sequence, and while waiting its calls
 * would land on other files' sequences and evict their cached prefixes (the replay benchmark with
 * 2 sequences and 4 files in flight evaluates 7.1 prompt tokens per source token instead of 3.5).
 */
export function filesInFlight(concurrency: number, sequences?: number): number {
  return Math.max(1, Math.min(concurrency, sequences ?? concurrency));
}

export function makeProcessFile(deps: Pick<NodeDeps, "db" | "events" | "ledger" | "tasks">, fileGraph: FileGraphLike, concurrency: number) {
  const slots = new Semaphore(concurrency);
  // Start order of the files in this process (runContext's fileRank: earlier files' calls go first).
  let started = 0;
  return (task: FileTaskInput, config: LangGraphRunnableConfig): Promise<Partial<PipelineStateType>> =>
    deps.tasks ? deps.tasks.run(() => processOne(task, config)) : processOne(task, config);

  async function processOne(task: FileTaskInput, config: LangGraphRunnableConfig): Promise<Partial<PipelineStateType>> {
    const { runId, signal } = runContext(config);
    const release = await slots.acquire(signal);
    const fileConfig = { ...config, configurable: { ...config.configurable, file_rank: started++ } };
    try {
      let final: FileStateType;
      try {
        final = await fileGraph.invoke({ relPath: task.relPath, docId: task.docId, outDir: task.outDir }, fileConfig);
      } catch (e) {
        // A failure of this file alone sets the file aside; one that would hit every file stops the run (resumable).
        if (signal?.aborted || isRunLevelError(e)) throw e;
        return { results: [quarantineFile(runId, task, e)] };
      }
      const outcome = final.outcome;
      if (!outcome) throw new Error(`file ${task.relPath} finished without an outcome`);
      // The knowledge base now holds this file's contribution: record what produced it.
      if (task.settings) deps.ledger(task.outDir).record({ relPath: task.relPath, docId: task.docId, ...task.settings, status: outcome.status, runId });
      deps.db.upsertFile(runId, task.relPath, {
        status: outcome.status,
        patterns: outcome.published.length,
        node: "done",
        ...(outcome.reason ? { reason: outcome.reason } : {}),
      });
      deps.events({
        type: "file_finished",
        path: task.relPath,
        status: outcome.status,
        patterns: outcome.published.length,
        ...(outcome.reason ? { reason: outcome.reason } : {}),
      });
      return { results: [outcome] };
    } finally {
      release();
    }
  }

  /**
   * Records a file whose processing threw: quarantined with the node and the error, the ledger left
   * alone (the next run tries the file again), and the outcome returned so the run goes on and a
   * resumed run does not repeat it.
   */
  function quarantineFile(runId: string, task: FileTaskInput, e: unknown): FileOutcome {
    const node = errorNode(e) ?? "processFile";
    const reason = `failed in the ${node} node on an unexpected error (${describeError(e)}); the file was set aside and the run went on — report it if it repeats`;
    deps.db.upsertFile(runId, task.relPath, { status: "quarantined", patterns: 0, node, reason });
    deps.events({ type: "file_finished", path: task.relPath, status: "quarantined", patterns: 0, reason });
    return { relPath: task.relPath, docId: task.docId, status: "quarantined", published: [], quarantined: [], patterns: 0, reason };
  }
}
