import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { FileStateType, FileStateUpdate } from "../graphs/state.ts";
import type { Contribution, QuarantineRecord } from "../src/kb/types.ts";
import { buildContribution } from "./contribution.ts";
import type { NodeDeps } from "./deps.ts";
import { instrument } from "./instrument.ts";
import type { Draft } from "./schemas.ts";
import type { FileOutcome, ResearchPack } from "./types.ts";

/**
 * recordFile (the per-file subgraph's last node; no model call): records the file's validated drafts in the knowledge-base store, with
 * their cross-references and how they were validated, and quarantines drafts that still fail after
 * the repair rounds, with the validator's reasons. One transaction per file replaces what the file
 * contributed before, so files finishing concurrently never mix. Matching drafts into entries and
 * writing pages happen once, in synthesize, so the pages do not depend on the order files finish in.
 */
export function makeRecordFile(deps: NodeDeps) {
  return instrument("recordFile", deps, async (state: FileStateType, _config: LangGraphRunnableConfig): Promise<FileStateUpdate> => {
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
          const contribution = buildContribution(state.relPath, doc, pattern, draft, pack);
          const example = contribution.example && verdict.verification ? { ...contribution.example, verification: verdict.verification } : contribution.example;
          contributions.push({ ...contribution, example, validation: { review: deps.settings.llmReview ? "passed" : "off", round: verdict.round } });
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
