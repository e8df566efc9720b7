import { type BaseCheckpointSaver, END, type LangGraphRunnableConfig, Send, START, StateGraph } from "@langchain/langgraph";
import type { NodeDeps } from "../nodes/deps.ts";
import { makeDiscover } from "../nodes/discover.ts";
import { makeFinalize } from "../nodes/finalize.ts";
import { filesInFlight, makeProcessFile } from "../nodes/processFile.ts";
import { buildFileGraph } from "./fileGraph.ts";
import { PipelineState, type PipelineStateType } from "./state.ts";

export interface PipelineGraphOptions {
  /** Files in flight at once (each file's LLM calls still wait for a free sequence). */
  concurrency: number;
  /** Sequences serving the per-file roles: files in flight are bounded by them too (nodes/processFile.ts filesInFlight). */
  sequences?: number;
  checkpointer?: BaseCheckpointSaver;
}

/** Fans every discovered file out to the per-file subgraph (Send), then finalizes the knowledge base. */
export function fanOutFiles(state: PipelineStateType): Send[] | "finalize" {
  if (state.files.length === 0) return "finalize";
  return state.files.map((f) => new Send("processFile", { relPath: f.relPath, docId: f.docId, outDir: state.outDir, settings: state.settings }));
}

export function buildPipelineGraph(deps: NodeDeps, options: PipelineGraphOptions) {
  // No checkpointer of its own: invoked inside processFile it inherits the parent's, per task namespace.
  const fileGraph = buildFileGraph(deps).compile();
  return new StateGraph(PipelineState)
    .addNode("discover", makeDiscover(deps))
    .addNode("processFile", makeProcessFile(deps, fileGraph, filesInFlight(options.concurrency, options.sequences)), { subgraphs: [fileGraph] })
    .addNode("finalize", makeFinalize(deps))
    .addEdge(START, "discover")
    .addConditionalEdges("discover", fanOutFiles, ["processFile", "finalize"])
    .addEdge("processFile", "finalize")
    .addEdge("finalize", END)
    .compile({ checkpointer: options.checkpointer, name: "rust-kb-pipeline" });
}

export type PipelineGraph = ReturnType<typeof buildPipelineGraph>;
export type { LangGraphRunnableConfig };
