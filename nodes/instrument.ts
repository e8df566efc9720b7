import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { markErrorNode } from "../src/errors.ts";
import { injectNodeFault } from "../src/testing/faults.ts";
import type { NodeDeps } from "./deps.ts";
import { runContext } from "./deps.ts";

/**
 * Wraps a per-file node so progress is visible: an event when it starts and ends, and the file's
 * row in the run database records the node it reached. `finished` adds what the node's result tells
 * the progress display (the extractor: how many patterns the file goes on with).
 */
export function instrument<S extends { relPath: string }, U>(
  name: string,
  deps: Pick<NodeDeps, "events" | "db" | "nodeFault">,
  fn: (state: S, config: LangGraphRunnableConfig) => Promise<U>,
  finished?: (result: U) => { patterns?: number },
): (state: S, config: LangGraphRunnableConfig) => Promise<U> {
  return async (state, config) => {
    const { runId } = runContext(config);
    deps.db.upsertFile(runId, state.relPath, { node: name });
    deps.events({ type: "node_started", path: state.relPath, node: name });
    let result: U;
    try {
      injectNodeFault(deps.nodeFault, name, state.relPath);
      result = await fn(state, config);
    } catch (e) {
      // processFile names the node when it quarantines the file.
      throw markErrorNode(e, name);
    }
    deps.events({ type: "node_finished", path: state.relPath, node: name, ...finished?.(result) });
    return result;
  };
}
