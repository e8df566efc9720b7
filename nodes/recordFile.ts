import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { Contribution, QuarantineRecord, UnreadRecord } from "../src/kb/types.ts";
import { buildContribution } from "./contribution.ts";
import { type NodeDeps, runContext } from "./deps.ts";
import { unitById } from "./evidence.ts";
import { instrument } from "./instrument.ts";
import type { Draft } from "./schemas.ts";
import type { FileStateType, FileStateUpdate } from "./state.ts";
import type { FileOutcome, ResearchPack } from "./types.ts";

/**
 * recordFile (the per-file subgraph's last node; no model call): records the file's validated drafts in the knowledge-base store, with
 * their cross-references and how they were validated, and quarantines drafts that still fail after
 * the repair rounds, with the validator's reasons, and the units of the file a model did not read
 * in full (kb.json `unread`, quarantine.md). One transaction per file replaces what the file
 * contributed before, so files finishing concurrently never mix. Matching drafts into entries and
 * writing pages happen once, in synthesize, so the pages do not depend on the order files finish in.
 */
export function makeRecordFile(deps: NodeDeps) {
  return instrument("recordFile", deps, async (state: FileStateType, config: LangGraphRunnableConfig): Promise<FileStateUpdate> => {
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
    deps.kb(state.outDir).replaceFile(state.relPath, contributions, quarantined, unreadOf(deps, runContext(config).runId, state));
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

/** The file's units a model did not read in full in this run, with their titles and lines. */
function unreadOf(deps: NodeDeps, runId: string, state: FileStateType): UnreadRecord["units"] {
  const rows = deps.db.listUnread(runId, state.relPath);
  if (rows.length === 0) return [];
  const doc = deps.db.getDocument(state.docId);
  const order = new Map(doc.units.map((u, i) => [u.id, i]));
  rows.sort((a, b) => (order.get(a.unitId) ?? 0) - (order.get(b.unitId) ?? 0));
  return rows.map((r) => {
    const unit = unitById(doc, r.unitId);
    return { unitId: r.unitId, title: unit?.title ?? "", startLine: unit?.startLine ?? 0, endLine: unit?.endLine ?? 0, role: r.role, how: r.how, why: r.why };
  });
}
