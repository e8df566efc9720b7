import { type BaseCheckpointSaver, END, Send, START, StateGraph } from "@langchain/langgraph";
import type { NodeDeps } from "../nodes/deps.ts";
import { makeDiscover } from "../nodes/discover.ts";
import { filesInFlight, makeProcessFile } from "../nodes/processFile.ts";
import { PipelineState, type PipelineStateType } from "../nodes/state.ts";
import { makeSynthesize } from "../nodes/synthesize.ts";
import { buildFileGraph } from "./fileGraph.ts";

export interface PipelineGraphOptions {
  /** Files in flight at once (each file's LLM calls still wait for a free sequence). */
  concurrency: number;
  /** Sequences serving the per-file roles: files in flight are bounded by them too (nodes/processFile.ts filesInFlight). */
  sequences?: number;
  checkpointer?: BaseCheckpointSaver;
}

/** Fans every discovered file out to the per-file subgraph (Send), then synthesizes the knowledge base. */
function fanOutFiles(state: PipelineStateType): Send[] | "synthesize" {
  if (state.files.length === 0) return "synthesize";
  return state.files.map((f) => new Send("processFile", { relPath: f.relPath, docId: f.docId, outDir: state.outDir, settings: state.settings }));
}

export function buildPipelineGraph(deps: NodeDeps, options: PipelineGraphOptions) {
  // No checkpointer of its own: invoked inside processFile it inherits the parent's, per task namespace.
  const fileGraph = buildFileGraph(deps).compile();
  return new StateGraph(PipelineState)
    .addNode("discover", makeDiscover(deps))
    .addNode("processFile", makeProcessFile(deps, fileGraph, filesInFlight(options.concurrency, options.sequences)), { subgraphs: [fileGraph] })
    .addNode("synthesize", makeSynthesize(deps))
    .addEdge(START, "discover")
    .addConditionalEdges("discover", fanOutFiles, ["processFile", "synthesize"])
    .addEdge("processFile", "synthesize")
    .addEdge("synthesize", END)
    .compile({ checkpointer: options.checkpointer, name: "rust-kb-pipeline" });
}

export type PipelineGraph = ReturnType<typeof buildPipelineGraph>;
