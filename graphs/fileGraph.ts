import { END, START, StateGraph } from "@langchain/langgraph";
import type { NodeDeps } from "../nodes/deps.ts";
import { makeExtractor } from "../nodes/extractor.ts";
import { makeResearcher } from "../nodes/researcher.ts";
import { routeAfterExtractor, routeAfterValidator } from "../nodes/routers.ts";
import { makeSynthesizer } from "../nodes/synthesizer.ts";
import { makeValidator } from "../nodes/validator.ts";
import { makeWriter } from "../nodes/writer.ts";
import { FileState } from "./state.ts";

/** One file: extractor -> researcher -> writer -> validator -(repair)-> writer … -> synthesizer. */
export function buildFileGraph(deps: NodeDeps) {
  return new StateGraph(FileState)
    .addNode("extractor", makeExtractor(deps))
    .addNode("researcher", makeResearcher(deps))
    .addNode("writer", makeWriter(deps))
    .addNode("validator", makeValidator(deps))
    .addNode("synthesizer", makeSynthesizer(deps))
    .addEdge(START, "extractor")
    .addConditionalEdges("extractor", routeAfterExtractor, ["researcher", "synthesizer"])
    .addEdge("researcher", "writer")
    .addEdge("writer", "validator")
    .addConditionalEdges("validator", (s) => routeAfterValidator(s, deps.settings.maxRepairRounds), ["writer", "synthesizer"])
    .addEdge("synthesizer", END);
}
