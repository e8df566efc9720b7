import type { PipelineStateType } from "../graphs/state.ts";
import type { NodeDeps } from "./deps.ts";

/**
 * finalize (the synthesizer's last step for the whole run): drops what came only from files no
 * longer in the input, then writes index.md, the category pages, kb.json and quarantine.md.
 */
export function makeFinalize(deps: Pick<NodeDeps, "kb">) {
  return async (state: PipelineStateType): Promise<Partial<PipelineStateType>> => {
    const kb = deps.kb(state.outDir);
    kb.removeFilesNotIn(new Set(state.files.map((f) => f.relPath)));
    return { kb: kb.finalize() };
  };
}
