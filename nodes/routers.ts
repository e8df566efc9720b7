import type { FileStateType } from "./state.ts";

/** After extraction: nothing found means nothing to research or write. */
export function routeAfterExtractor(state: Pick<FileStateType, "patterns">): "researcher" | "recordFile" {
  return state.patterns.length > 0 ? "researcher" : "recordFile";
}

/**
 * After validation: failed drafts go back to the writer while repair rounds remain; otherwise
 * recordFile stores what passed and quarantines the rest.
 */
export function routeAfterValidator(state: Pick<FileStateType, "patterns" | "verdicts" | "round">, maxRepairRounds: number): "writer" | "recordFile" {
  const failed = state.patterns.some((p) => state.verdicts[p.key]?.ok === false);
  // round counts writer passes: the first draft is round 1, so repairs done = round - 1.
  return failed && state.round - 1 < maxRepairRounds ? "writer" : "recordFile";
}
