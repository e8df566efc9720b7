import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { FileStateType, FileStateUpdate } from "../graphs/state.ts";
import type { CodeVerification } from "../src/kb/types.ts";
import { checkGrounding } from "../src/validate/grounding.ts";
import { buildContribution } from "./contribution.ts";
import { type NodeDeps, runContext, STAGE_PRIORITY } from "./deps.ts";
import { evidenceUnits, renderUnit } from "./evidence.ts";
import { instrument } from "./instrument.ts";
import { reviewSchema } from "./schemas.ts";
import type { Draft, ResearchPack, Verdict } from "./types.ts";

/**
 * validator: deterministic checks first (evidence and example IDs exist, code is the source's
 * code verbatim, required sections present, links and citations only to what research returned,
 * the example parses as Rust and, where rustc is installed, whether it compiles); a draft that
 * passes them is then reviewed by the validator model when review is on. The verdict lists
 * specific problems, which go back to the writer as feedback, and carries the code check's verdict
 * so the page can show it. An example that does not parse is a problem; one that only fails to
 * compile because it is a fragment or needs an external crate is labelled, not rejected.
 */
export function makeValidator(deps: NodeDeps) {
  return instrument("validator", deps, async (state: FileStateType, config: LangGraphRunnableConfig): Promise<FileStateUpdate> => {
    const { runId, signal } = runContext(config);
    const doc = deps.db.getDocument(state.docId);
    const verdicts: Record<string, Verdict> = {};
    const current = state.patterns.filter((p) => state.drafts[p.key]?.round === state.round);
    await Promise.all(
      current.map(async (pattern) => {
        const ref = state.drafts[pattern.key];
        if (!ref || ref.ref === null) {
          verdicts[pattern.key] = {
            ok: false,
            round: state.round,
            problems: [`the writer produced no valid entry: ${(ref?.problems ?? ["unknown"]).join("; ")}`],
          };
          return;
        }
        const draft = deps.db.getBlob<Draft>(ref.ref);
        const packRef = state.research[pattern.key];
        const pack: ResearchPack = packRef ? deps.db.getBlob<ResearchPack>(packRef) : { sources: [], relevant: [], note: "" };
        const allowed = pack.sources.filter((s) => pack.relevant.includes(s.id));
        const contribution = buildContribution(state.relPath, doc, pattern, draft, pack);
        const problems = checkGrounding({ draft, doc, evidence: pattern.evidence, allowedSources: allowed, contribution, patternName: pattern.name });
        const verification =
          contribution.example && deps.codeCheck ? await deps.codeCheck.check(contribution.example.code, contribution.example.lang) : undefined;
        if (verification && contribution.example) problems.push(...codeProblems(contribution.example.unitId, verification));
        if (problems.length === 0 && deps.settings.llmReview) {
          const review = await deps.llm.generateObject(reviewSchema, {
            runId,
            role: "validator",
            callKey: `${state.relPath}|validator|${pattern.key}|r${state.round}`,
            affinityKey: state.relPath,
            priority: STAGE_PRIORITY.validator,
            prompt: {
              system: deps.prompts.render("validator.system", {}),
              user: deps.prompts.render("validator.user", {
                name: pattern.name,
                evidence: evidenceUnits(doc, pattern.evidence)
                  .map((u) => renderUnit(u, 1500))
                  .join("\n\n"),
                draft: JSON.stringify(
                  { summary: draft.summary, whenToUse: draft.whenToUse, whenNotToUse: draft.whenNotToUse, pitfalls: draft.pitfalls },
                  null,
                  1,
                ),
              }),
            },
            maxTokens: deps.settings.maxTokens.validator,
            maxAttempts: deps.settings.maxAttempts,
            signal,
          });
          // A reviewer that cannot produce a verdict does not block a draft that passed every check.
          if (review.ok && review.value.verdict === "fail") {
            const reasons = review.value.problems.map((p) => `reviewer: ${p.trim()}`);
            problems.push(...(reasons.length > 0 ? reasons : ["reviewer: the entry is not supported by the evidence"]));
          }
        }
        verdicts[pattern.key] = { ok: problems.length === 0, problems, round: state.round, ...(verification ? { verification } : {}) };
      }),
    );
    return { verdicts };
  });
}

/** A syntax error sends the draft back; a compile verdict is recorded on the page instead. */
export function codeProblems(unitId: string, v: CodeVerification): string[] {
  if (v.status === "fails" && !v.parses) return [`example ${unitId} ${v.detail}; choose another listed code block that is valid Rust`];
  return [];
}
