import { createHash } from "node:crypto";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { SourceDocument } from "../src/input/types.ts";
import { categoryTitle } from "../src/kb/taxonomy.ts";
import { callPriority, type NodeDeps, type RunContext, runContext } from "./deps.ts";
import { exampleCandidates } from "./evidence.ts";
import { fileSystemPrompt, renderFileSources } from "./fileContext.ts";
import { instrument } from "./instrument.ts";
import { byPatternSchema, type Draft, writerSchema } from "./schemas.ts";
import { batchesThatFit, fileStage, type StagePrompt, type StagePromptInput, stagePrompt } from "./stagePrompt.ts";
import type { FileStateType, FileStateUpdate } from "./state.ts";
import type { DraftRef, PatternItem, ResearchPack, ResearchSource } from "./types.ts";

/** The patterns the writer must (re)write this round: all at first, then those the validator failed. */
export function patternsToWrite(state: Pick<FileStateType, "patterns" | "verdicts" | "round">): PatternItem[] {
  if (state.round === 0) return state.patterns;
  return state.patterns.filter((p) => state.verdicts[p.key]?.ok === false);
}

/**
 * writer: one entry per pattern as structured fields (rendered to markdown later). It cannot
 * write code or links: the example is a code-block ID from the source and research is cited by
 * source ID. One call writes every pattern of the file (more only when the answers would not fit
 * the context; a batch that fails is retried one pattern per call), after the file's units as the
 * extractor saw them (a cached prefix). On a repair round it rewrites the patterns the validator
 * failed, with their problems as feedback.
 */
export function makeWriter(deps: NodeDeps) {
  return instrument("writer", deps, async (state: FileStateType, config: LangGraphRunnableConfig): Promise<FileStateUpdate> => {
    const run = runContext(config);
    const doc = deps.db.getDocument(state.docId);
    const round = state.round + 1;
    const packs = researchPacks(deps, state);
    const items = patternsToWrite(state).map((pattern): WriterItem => {
      const pack = packs.get(pattern.key) ?? { sources: [], relevant: [], note: "" };
      return { pattern, sources: pack.sources.filter((s) => pack.relevant.includes(s.id)), candidates: exampleCandidates(doc, pattern.evidence) };
    });
    const prompter = writerPrompter(deps, state, doc, packs);
    const writer = new DraftWriter(deps, state, run, round, prompter);
    for (const batch of batchesThatFit(items, (b) => prompter.prompt(b).form)) {
      // Patterns a batch could not answer are retried one per call.
      for (const x of await writer.write(batch)) await writer.write([x]);
    }
    return { drafts: writer.drafts, round };
  });
}

/** Each pattern's research pack (an empty one where the researcher kept none). */
function researchPacks(deps: NodeDeps, state: FileStateType): Map<string, ResearchPack> {
  return new Map(
    state.patterns.map((p): [string, ResearchPack] => {
      const ref = state.research[p.key];
      return [p.key, ref ? deps.db.getBlob<ResearchPack>(ref) : { sources: [], relevant: [], note: "" }];
    }),
  );
}

interface WriterPrompter {
  system: string;
  prompt: (batch: readonly WriterItem[]) => StagePrompt;
}

function writerPrompter(deps: NodeDeps, state: FileStateType, doc: SourceDocument, packs: ReadonlyMap<string, ResearchPack>): WriterPrompter {
  // The same research block as the researcher's prompt (a shared prefix); each pattern may cite only what was kept for it.
  const sources = renderFileSources(state.patterns.map((p) => packs.get(p.key)?.sources ?? []));
  const stage = fileStage("writer", state, doc, fileSystemPrompt(deps));
  const perItem = deps.settings.maxTokens.writer;
  // Drafts average well under their limit: a batch leaves room for half of it per pattern (one cut off falls back to one call per pattern).
  const expected = (n: number) => Math.max(perItem, Math.ceil(perItem / 2) * n);
  const input = (batch: readonly WriterItem[]): StagePromptInput => ({
    ...stage,
    batch: batch.map((x) => x.pattern),
    answerTokens: expected(batch.length),
    // The research of every pattern (the researcher's block, a shared prefix), else only what this batch may cite.
    render: (file, scope) =>
      renderWriterPrompt(
        deps,
        state,
        file,
        scope === "file"
          ? sources
          : renderFileSources(
              batch.map((x) => x.sources),
              scope === "brief",
            ),
        batch,
      ),
  });
  return { system: stage.system, prompt: (batch) => stagePrompt(deps, input(batch)) };
}

/** Asks the model for a file's drafts batch by batch and keeps each valid one (stored by hash) or its problems. */
class DraftWriter {
  readonly drafts: Record<string, DraftRef> = {};

  constructor(
    private readonly deps: NodeDeps,
    private readonly state: FileStateType,
    private readonly run: RunContext,
    private readonly round: number,
    private readonly prompter: WriterPrompter,
  ) {}

  /** Writes a batch; returns the items still without an answer (a failed batch of several). */
  async write(batch: WriterItem[]): Promise<WriterItem[]> {
    const { deps, round, run } = this;
    const relPath = this.state.relPath;
    const { system } = this.prompter;
    const { user, source } = this.prompter.prompt(batch);
    const perItem = deps.settings.maxTokens.writer;
    const count = (t: string) => deps.llm.countTokens("writer", t);
    const schema = byPatternSchema(Object.fromEntries(batch.map((x) => [x.pattern.key, schemaOf(x)])));
    const result = await deps.llm.generateObject(schema, {
      runId: run.runId,
      role: "writer",
      callKey: `${relPath}|writer|${batch.map((x) => x.pattern.key).join(",")}|r${round}`,
      affinityKey: relPath,
      priority: callPriority(run.fileRank, "writer"),
      prompt: { system, user },
      source,
      // Up to the full limit per pattern, as far as the room the prompt leaves allows (never under one pattern's).
      maxTokens: Math.max(perItem, Math.min(perItem * batch.length, deps.llm.promptRoom("writer", 0) - count(system) - count(user))),
      // A batch of several gets one attempt: what it got right is kept, the rest is asked one pattern per call.
      maxAttempts: batch.length > 1 ? 1 : deps.settings.maxAttempts,
      signal: run.signal,
    });
    if (!result.ok) {
      if (batch.length > 1) return batch.filter((x) => !this.salvage(x, result.lastText));
      for (const x of batch) this.drafts[x.pattern.key] = { ref: null, round, problems: result.problems.slice(0, 5) };
      return [];
    }
    for (const x of batch) {
      const value = (result.value.byPattern as Record<string, Draft>)[x.pattern.key];
      if (value) this.keep(x.pattern.key, value);
      else this.drafts[x.pattern.key] = { ref: null, round, problems: ["the writer's answer had no entry for this pattern"] };
    }
    return [];
  }

  /** Keeps one pattern's entry from a batch answer that failed as a whole, when that entry is valid on its own. */
  private salvage(x: WriterItem, text: string): boolean {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return false;
    }
    const checked = schemaOf(x).safeParse((parsed as { byPattern?: Record<string, unknown> } | null)?.byPattern?.[x.pattern.key]);
    if (!checked.success) return false;
    this.keep(x.pattern.key, checked.data);
    return true;
  }

  private keep(key: string, value: Draft): void {
    const draft: Draft = {
      summary: value.summary.trim(),
      whenToUse: value.whenToUse.map((t) => t.trim()),
      whenNotToUse: value.whenNotToUse.map((t) => t.trim()),
      pitfalls: value.pitfalls.map((t) => t.trim()),
      example: value.example,
      sources: [...new Set(value.sources)],
    };
    const hash = createHash("sha256").update(JSON.stringify(draft)).digest("hex").slice(0, 32);
    this.deps.db.putBlob(hash, draft, this.run.runId);
    this.drafts[key] = { ref: hash, round: this.round };
  }
}

function schemaOf(x: WriterItem) {
  return writerSchema(
    x.candidates.ids,
    x.sources.map((s) => s.id),
    x.candidates.required,
  );
}

interface WriterItem {
  pattern: PatternItem;
  sources: ResearchSource[];
  candidates: { ids: string[]; required: boolean };
}

function renderWriterPrompt(deps: NodeDeps, state: FileStateType, file: string, sources: string, batch: readonly WriterItem[]): string {
  const patterns = batch.map((x) => {
    const ids = x.candidates.ids;
    const codeIds = ids.length === 0 ? '(none): answer "none"' : x.candidates.required ? ids.join(", ") : `${ids.join(", ")} (or "none")`;
    return [
      `[${x.pattern.key}] ${x.pattern.name} (${categoryTitle(x.pattern.category)})`,
      `Extractor's summary: ${x.pattern.summary}`,
      `Evidence: ${x.pattern.evidence.join(", ")}`,
      `Code blocks for the example: ${codeIds}`,
      `Sources it may cite: ${x.sources.length > 0 ? x.sources.map((s) => s.id).join(", ") : "(none)"}`,
    ].join("\n");
  });
  const feedback = batch
    .map((x) => ({ key: x.pattern.key, verdict: state.verdicts[x.pattern.key] }))
    .filter((x) => x.verdict && !x.verdict.ok)
    .map((x) => `\nYour previous entry for [${x.key}] was rejected. Fix these problems:\n${(x.verdict?.problems ?? []).map((p) => `- ${p}`).join("\n")}\n`)
    .join("");
  return deps.prompts.render("writer.user", {
    file,
    sources,
    path: state.relPath,
    patterns: patterns.join("\n\n"),
    feedback,
  });
}
