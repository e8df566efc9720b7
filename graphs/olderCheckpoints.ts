import type { RunnableConfig } from "@langchain/core/runnables";
import type { BaseCheckpointSaver, CheckpointTuple } from "@langchain/langgraph-checkpoint";
import { UserError } from "../src/errors.ts";
import type { PipelineGraph } from "./pipelineGraph.ts";

/** The channel an edge or a router writes to start a node. */
const TRIGGER = "branch:to:";

/** Nodes a checkpoint names: those that ran (versions_seen) and those it starts (trigger channels, pending writes included). */
function nodesNamedIn(tuple: CheckpointTuple): string[] {
  const names = new Set(Object.keys(tuple.checkpoint.versions_seen));
  const channels = [...Object.keys(tuple.checkpoint.channel_versions), ...(tuple.pendingWrites ?? []).map(([, channel]) => channel)];
  for (const channel of channels) if (channel.startsWith(TRIGGER)) names.add(channel.slice(TRIGGER.length));
  // LangGraph's own entries (__start__, __input__, __interrupt__, …).
  return [...names].filter((n) => !n.startsWith("__"));
}

/**
 * Nodes named in a run's checkpoints that this version's graph lacks: in the run's checkpoint (the
 * latest, or the one `config` names) and in the latest checkpoint of each file subgraph its next
 * step would continue.
 */
async function nodesOfOlderGraph(graph: PipelineGraph, config: RunnableConfig): Promise<string[]> {
  const saver = graph.checkpointer;
  if (!saver || saver === true) return [];
  const checkpointer: BaseCheckpointSaver = saver;
  const unknown = new Set<string>();
  const check = (tuple: CheckpointTuple | undefined, nodes: Readonly<Record<string, unknown>>) => {
    for (const name of tuple ? nodesNamedIn(tuple) : []) if (!(name in nodes)) unknown.add(name);
  };
  check(await checkpointer.getTuple(config), graph.nodes);
  const subgraphs = new Map<string, { nodes: Readonly<Record<string, unknown>> }>();
  for await (const [name, subgraph] of graph.getSubgraphsAsync()) subgraphs.set(name, subgraph);
  const threadId = config.configurable?.thread_id;
  for (const task of (await graph.getState(config)).tasks) {
    const subgraph = subgraphs.get(task.name);
    if (!subgraph) continue;
    // LangGraph's namespace for a subgraph invoked inside a task of the root graph.
    check(await checkpointer.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: `${task.name}:${task.id}` } }), subgraph.nodes);
  }
  return [...unknown].sort();
}

/**
 * Refuses to resume a run whose checkpoints a version with other node names made. LangGraph resumes
 * by node name and silently drops a step for a node the graph no longer has: a run interrupted
 * before `finalize` became `synthesize` (and the per-file `synthesizer` became `recordFile`) would
 * end "done" without writing its pages, or set its files aside.
 */
export async function refuseOlderGraphCheckpoints(graph: PipelineGraph, config: RunnableConfig): Promise<void> {
  const unknown = await nodesOfOlderGraph(graph, config);
  if (unknown.length === 0) return;
  throw new UserError(
    "NO_RUN_TO_RESUME",
    `Run ${String(config.configurable?.thread_id)} was made by an older version of rust-kb: its checkpoints name ${unknown.length === 1 ? "a step" : "steps"} this version does not have (${unknown.join(", ")}), so it cannot be resumed.`,
    "Start it again without --resume (same --input and --out): files it finished are in the ledger and are not processed again.",
  );
}
