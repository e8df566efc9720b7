import { createHash } from "node:crypto";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { FileStateType, FileStateUpdate } from "../graphs/state.ts";
import { categoryTitle } from "../src/kb/taxonomy.ts";
import { type NodeDeps, runContext, STAGE_PRIORITY } from "./deps.ts";
import { evidenceUnits, exampleCandidates, renderSources, renderUnit } from "./evidence.ts";
import { instrument } from "./instrument.ts";
import { writerSchema } from "./schemas.ts";
import type { Draft, DraftRef, PatternItem, ResearchPack } from "./types.ts";

const EVIDENCE_MAX_CHARS = 1800;

/** The patterns the writer must (re)write this round: all at first, then those the validator failed. */
export function patternsToWrite(state: Pick<FileStateType, "patterns" | "verdicts" | "round">): PatternItem[] {
  if (state.round === 0) return state.patterns;
  return state.patterns.filter((p) => state.verdicts[p.key]?.ok === false);
}

/**
 * writer: one entry per pattern as structured fields (rendered to markdown later). It cannot
 * write code or links: the example is a code-block ID from the source and research is cited by
 * source ID. On a repair round it gets the validator's problems as feedback.
 */
export function makeWriter(deps: NodeDeps) {
  return instrument("writer", deps, async (state: FileStateType, config: LangGraphRunnableConfig): Promise<FileStateUpdate> => {
    const { runId, signal } = runContext(config);
    const doc = deps.db.getDocument(state.docId);
    const round = state.round + 1;
    const drafts: Record<string, DraftRef> = {};
    await Promise.all(
      patternsToWrite(state).map(async (pattern) => {
        const packRef = state.research[pattern.key];
        const pack: ResearchPack = packRef ? deps.db.getBlob<ResearchPack>(packRef) : { sources: [], relevant: [], note: "" };
        const sources = pack.sources.filter((s) => pack.relevant.includes(s.id));
        const candidates = exampleCandidates(doc, pattern.evidence);
        const verdict = state.verdicts[pattern.key];
        const feedback =
          verdict && !verdict.ok ? `\nYour previous entry was rejected. Fix these problems:\n${verdict.problems.map((p) => `- ${p}`).join("\n")}\n` : "";
        const evidence = evidenceUnits(doc, pattern.evidence)
          .map((u) => renderUnit(u, EVIDENCE_MAX_CHARS))
          .join("\n\n");
        const schema = writerSchema(
          candidates.ids,
          sources.map((s) => s.id),
          candidates.required,
        );
        const result = await deps.llm.generateObject(schema, {
          runId,
          role: "writer",
          callKey: `${state.relPath}|writer|${pattern.key}|r${round}`,
          affinityKey: state.relPath,
          priority: STAGE_PRIORITY.writer,
          prompt: {
            system: deps.prompts.render("writer.system", {}),
            user: deps.prompts.render("writer.user", {
              name: pattern.name,
              category: categoryTitle(pattern.category),
              summary: pattern.summary,
              path: state.relPath,
              evidence,
              sources: renderSources(sources),
              codeIds:
                candidates.ids.length === 0
                  ? '(none): answer "none"'
                  : candidates.required
                    ? candidates.ids.join(", ")
                    : `${candidates.ids.join(", ")} (or "none")`,
              feedback,
            }),
          },
          maxTokens: deps.settings.maxTokens.writer,
          maxAttempts: deps.settings.maxAttempts,
          signal,
        });
        if (!result.ok) {
          drafts[pattern.key] = { ref: null, round, problems: result.problems.slice(0, 5) };
          return;
        }
        const draft: Draft = {
          summary: result.value.summary.trim(),
          whenToUse: result.value.whenToUse.map((s) => s.trim()),
          whenNotToUse: result.value.whenNotToUse.map((s) => s.trim()),
          pitfalls: result.value.pitfalls.map((s) => s.trim()),
          example: result.value.example,
          sources: [...new Set(result.value.sources as string[])],
        };
        const hash = createHash("sha256").update(JSON.stringify(draft)).digest("hex").slice(0, 32);
        deps.db.putBlob(hash, draft, runId);
        drafts[pattern.key] = { ref: hash, round };
      }),
    );
    return { drafts, round };
  });
}
