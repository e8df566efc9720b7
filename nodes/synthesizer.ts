import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { FileStateType, FileStateUpdate } from "../graphs/state.ts";
import type { Contribution, QuarantineRecord } from "../src/kb/types.ts";
import { buildContribution } from "./contribution.ts";
import type { NodeDeps } from "./deps.ts";
import { instrument } from "./instrument.ts";
import type { Draft, FileOutcome, ResearchPack } from "./types.ts";

/**
 * synthesizer: merges the file's validated drafts into the knowledge base (pages of the same
 * pattern from different files merge into one entry) and quarantines drafts that still fail after
 * the repair rounds, with the validator's reasons.
 */
export function makeSynthesizer(deps: NodeDeps) {
  return instrument("synthesizer", deps, async (state: FileStateType, _config: LangGraphRunnableConfig): Promise<FileStateUpdate> => {
    const contributions: Contribution[] = [];
    const quarantined: QuarantineRecord[] = [];
    if (state.patterns.length > 0) {
      const doc = deps.db.getDocument(state.docId);
      for (const pattern of state.patterns) {
        const verdict = state.verdicts[pattern.key];
        const ref = state.drafts[pattern.key];
        if (verdict?.ok && ref?.ref) {
          const draft = deps.db.getBlob<Draft>(ref.ref);
          const packRef = state.research[pattern.key];
          const pack: ResearchPack = packRef ? deps.db.getBlob<ResearchPack>(packRef) : { sources: [], relevant: [], note: "" };
          contributions.push(buildContribution(state.relPath, doc, pattern, draft, pack));
        } else {
          quarantined.push({ relPath: state.relPath, patternKey: pattern.key, name: pattern.name, problems: verdict?.problems ?? ["never validated"] });
        }
      }
    }
    deps.kb(state.outDir).replaceFile(state.relPath, contributions, quarantined);
    const outcome: FileOutcome = {
      relPath: state.relPath,
      docId: state.docId,
      status: state.patterns.length === 0 ? "skipped" : contributions.length > 0 ? "processed" : "quarantined",
      published: [...new Set(contributions.map((c) => c.slug))].sort(),
      quarantined: quarantined.map((q) => ({ key: q.patternKey, name: q.name, problems: q.problems })),
      patterns: state.patterns.length,
      ...(state.patterns.length === 0
        ? { reason: state.extractProblems.length > 0 ? `extractor output unusable: ${state.extractProblems.join(" | ")}` : "no Rust patterns found" }
        : {}),
    };
    return { outcome };
  });
}
