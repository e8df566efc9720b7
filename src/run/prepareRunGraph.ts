/**
 * Phase 3 of opening a run: the pipeline graph on the run database's checkpointer, and where it starts —
 * from the run's last checkpoint (or the one chosen), or from a new input when it has none.
 */
import { refuseOlderGraphCheckpoints } from "../../graphs/olderCheckpoints.ts";
import { buildPipelineGraph, type PipelineGraph } from "../../graphs/pipelineGraph.ts";
import { UserError } from "../errors.ts";
import type { LedgerSettings } from "../store/Ledger.ts";
import type { RunRecord } from "./openRunRecord.ts";
import type { RunResources } from "./openRunResources.ts";
import { runThreadConfig } from "./runThreadConfig.ts";
import type { PipelineOptions } from "./types.ts";

/** The graph's input for a new run (the run's directories and limits; never chosen by a caller of Studio). */
export interface PipelineInput {
  inputDir: string;
  outDir: string;
  exclude: string[];
  maxFileBytes: number;
  settings: LedgerSettings;
  force: boolean;
  prune: boolean;
}

export async function prepareRunGraph(
  record: RunRecord,
  resources: RunResources,
  options: PipelineOptions,
): Promise<{ graph: PipelineGraph; graphInput: PipelineInput | null }> {
  const { db, dbPath, resolved } = record;
  const { models } = resources;
  const graph = buildPipelineGraph(resources.services.deps, {
    concurrency: Math.min(models.concurrency, models.filesInFlight ?? models.concurrency),
    sequences: models.sequences,
    checkpointer: db.checkpointer(),
  });
  const thread = runThreadConfig(resolved.runId, options.checkpointId);
  const existing = await graph.getState(thread);
  const hasCheckpoint = existing.config?.configurable?.checkpoint_id !== undefined;
  if (options.checkpointId && !hasCheckpoint)
    throw new UserError("NO_RUN_TO_RESUME", `Run ${resolved.runId} has no checkpoint ${options.checkpointId}.`, "Pick a checkpoint from the run's history.");
  if (hasCheckpoint) {
    // A run interrupted by a version with other node names cannot continue: LangGraph would skip its steps.
    await refuseOlderGraphCheckpoints(graph, thread);
    return { graph, graphInput: null };
  }
  return {
    graph,
    graphInput: {
      inputDir: resolved.input,
      outDir: resolved.out,
      exclude: [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, resolved.out],
      maxFileBytes: resolved.recorded.maxFileBytes,
      settings: resources.ledgerSettings,
      force: options.force === true,
      prune: options.prune === true,
    },
  };
}
