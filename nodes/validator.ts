import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { SourceDocument } from "../src/input/types.ts";
import type { CodeVerification } from "../src/kb/types.ts";
import { checkGrounding } from "../src/validate/grounding.ts";
import { askByPattern } from "./askByPattern.ts";
import { buildContribution } from "./contribution.ts";
import { callPriority, type NodeDeps, runContext } from "./deps.ts";
import { fileSystemPrompt } from "./fileContext.ts";
import { instrument } from "./instrument.ts";
import { type Draft, type ReviewOutput, reviewSchema } from "./schemas.ts";
import { fileStage, type StagePromptInput, stagePrompt } from "./stagePrompt.ts";
import type { FileStateType, FileStateUpdate } from "./state.ts";
import type { PatternItem, ResearchPack, Verdict } from "./types.ts";

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
    const { runId, signal, fileRank } = runContext(config);
    const doc = deps.db.getDocument(state.docId);
    const checked: Checked[] = [];
    const current = state.patterns.filter((p) => state.drafts[p.key]?.round === state.round);
    await Promise.all(
      current.map(async (pattern) => {
        const ref = state.drafts[pattern.key];
        if (!ref || ref.ref === null) {
          checked.push({
            pattern,
            problems: [`the writer produced no valid entry: ${(ref?.problems ?? ["unknown"]).join("; ")}`],
          });
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
        checked.push({ pattern, draft, problems, ...(verification ? { verification } : {}) });
      }),
    );
    // Drafts that passed every check are reviewed by the model, all of the file's in one call.
    const toReview = current
      .map((p) => checked.find((c) => c.pattern.key === p.key))
      .filter((c): c is Checked => c?.draft !== undefined && c.problems.length === 0);
    if (toReview.length > 0 && deps.settings.llmReview) {
      const reviews = await review(deps, runId, state, doc, toReview, signal, callPriority(fileRank, "validator"));
      for (const c of toReview) {
        const r = reviews.get(c.pattern.key);
        // A reviewer that cannot produce a verdict does not block a draft that passed every check.
        if (r && r.verdict === "fail") {
          const reasons = r.problems.map((p) => `reviewer: ${p.trim()}`);
          c.problems.push(...(reasons.length > 0 ? reasons : ["reviewer: the entry is not supported by the evidence"]));
        }
      }
    }
    const verdicts: Record<string, Verdict> = {};
    for (const c of checked)
      verdicts[c.pattern.key] = {
        ok: c.problems.length === 0,
        problems: c.problems,
        round: state.round,
        ...(c.verification ? { verification: c.verification } : {}),
      };
    return { verdicts };
  });
}

interface Checked {
  pattern: PatternItem;
  draft?: Draft;
  problems: string[];
  verification?: CodeVerification;
}

async function review(
  deps: NodeDeps,
  runId: string,
  state: FileStateType,
  doc: SourceDocument,
  items: readonly Checked[],
  signal: AbortSignal | undefined,
  priority: number,
): Promise<Map<string, ReviewOutput>> {
  const out = new Map<string, ReviewOutput>();
  const stage = fileStage("validator", state, doc, fileSystemPrompt(deps));
  const perItem = deps.settings.maxTokens.validator;
  const input = (batch: readonly Checked[]): StagePromptInput => ({
    ...stage,
    batch: batch.map((c) => c.pattern),
    answerTokens: perItem * batch.length,
    render: (file) =>
      deps.prompts.render("validator.user", {
        file,
        entries: batch
          .map((c) => {
            const d = c.draft as Draft;
            const body = JSON.stringify({ summary: d.summary, whenToUse: d.whenToUse, whenNotToUse: d.whenNotToUse, pitfalls: d.pitfalls }, null, 1);
            return `[${c.pattern.key}] ${c.pattern.name} (evidence: ${c.pattern.evidence.join(", ")})\n${body}`;
          })
          .join("\n\n"),
      }),
  });
  const prompt = (batch: readonly Checked[]) => stagePrompt(deps, input(batch));
  const answers = await askByPattern(deps, {
    stage,
    items,
    prompt,
    answerSchema: () => reviewSchema,
    callSuffix: `|r${state.round}`,
    maxTokens: (batch) => perItem * batch.length,
    runId,
    priority,
    signal,
  });
  for (const [key, v] of answers) out.set(key, v as ReviewOutput);
  return out;
}

/** A syntax error sends the draft back; a compile verdict is recorded on the page instead. */
export function codeProblems(unitId: string, v: CodeVerification): string[] {
  if (v.status === "fails" && !v.parses) return [`example ${unitId} ${v.detail}; choose another listed code block that is valid Rust`];
  return [];
}
