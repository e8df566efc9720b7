import { END, START, StateGraph } from "@langchain/langgraph";
import { makeStudioRun, type StudioRunDeps } from "../nodes/studioRun.ts";
import { PipelineState } from "./state.ts";

/** What Studio serves: the pipeline behind one admitting node (roots, lock), shown as its subgraph. */
export function buildStudioGraph(deps: StudioRunDeps) {
  return new StateGraph(PipelineState)
    .addNode("run", makeStudioRun(deps), { subgraphs: [deps.pipeline] })
    .addEdge(START, "run")
    .addEdge("run", END)
    .compile({ name: "rust-kb-studio" });
}

export type StudioGraph = ReturnType<typeof buildStudioGraph>;
