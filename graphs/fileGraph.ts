import { END, START, StateGraph } from "@langchain/langgraph";
import type { NodeDeps } from "../nodes/deps.ts";
import { makeExtractor } from "../nodes/extractor.ts";
import { makeRecordFile } from "../nodes/recordFile.ts";
import { makeResearcher } from "../nodes/researcher.ts";
import { routeAfterExtractor, routeAfterValidator } from "../nodes/routers.ts";
import { FileState } from "../nodes/state.ts";
import { makeValidator } from "../nodes/validator.ts";
import { makeWriter } from "../nodes/writer.ts";

/** One file: extractor -> researcher -> writer -> validator -(repair)-> writer … -> recordFile (stores the drafts; no model call). */
export function buildFileGraph(deps: NodeDeps) {
  return new StateGraph(FileState)
    .addNode("extractor", makeExtractor(deps))
    .addNode("researcher", makeResearcher(deps))
    .addNode("writer", makeWriter(deps))
    .addNode("validator", makeValidator(deps))
    .addNode("recordFile", makeRecordFile(deps))
    .addEdge(START, "extractor")
    .addConditionalEdges("extractor", routeAfterExtractor, ["researcher", "recordFile"])
    .addEdge("researcher", "writer")
    .addEdge("writer", "validator")
    .addConditionalEdges("validator", (s) => routeAfterValidator(s, deps.settings.maxRepairRounds), ["writer", "recordFile"])
    .addEdge("recordFile", END);
}
