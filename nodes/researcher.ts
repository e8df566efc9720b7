import { createHash } from "node:crypto";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { categoryTitle } from "../src/kb/taxonomy.ts";
import { askByPattern } from "./askByPattern.ts";
import { callPriority, type NodeDeps, runContext } from "./deps.ts";
import { fileSystemPrompt, renderFileSources } from "./fileContext.ts";
import { instrument } from "./instrument.ts";
import { researcherSchema } from "./schemas.ts";
import { fileStage, type StagePromptInput, stagePrompt } from "./stagePrompt.ts";
import type { FileStateType, FileStateUpdate } from "./state.ts";
import type { PatternItem, ResearchPack, ResearchSource } from "./types.ts";

const PREFIX: Record<string, string> = { input: "L", docs: "D", tavily: "W" };

/**
 * researcher: gathers material about each pattern from every configured provider and gives each
 * result a source ID the writer can cite (one ID per distinct result in the file: patterns found by
 * the same search share it). One model call per file (more only when the answers would not fit the
 * context) judges, for every pattern, which of its results are about it; its prompt starts with
 * the file's units as the extractor's did, so that prefix comes from the KV cache. Packs are
 * stored by hash; graph state keeps the hash.
 */
export function makeResearcher(deps: NodeDeps) {
  return instrument("researcher", deps, async (state: FileStateType, config: LangGraphRunnableConfig): Promise<FileStateUpdate> => {
    const { runId, signal, fileRank } = runContext(config);
    const hits = await Promise.all(state.patterns.map((pattern) => searchPattern(deps, runId, state, pattern, signal)));
    const ids = new Map<string, ResearchSource>();
    const perPrefix = new Map<string, number>();
    const candidates = hits.map((list) =>
      list.map(({ provider, hit }) => {
        const dedupe = `${provider}\u0000${hit.citation}\u0000${hit.title}`;
        let source = ids.get(dedupe);
        if (!source) {
          const prefix = PREFIX[provider] ?? "X";
          const n = (perPrefix.get(prefix) ?? 0) + 1;
          perPrefix.set(prefix, n);
          source = { id: `${prefix}${n}`, ...hit };
          ids.set(dedupe, source);
        }
        return source;
      }),
    );
    const relevant = await judge(deps, runId, state, candidates, signal, callPriority(fileRank, "researcher"));
    const research: Record<string, string> = {};
    for (const [i, pattern] of state.patterns.entries()) {
      const sources = candidates[i] ?? [];
      const judged = relevant.get(pattern.key);
      const pack: ResearchPack = { sources, relevant: judged ? [...new Set(judged.relevant)].sort() : [], note: judged?.note.trim() ?? "" };
      const hash = createHash("sha256").update(JSON.stringify(pack)).digest("hex").slice(0, 32);
      deps.db.putBlob(hash, pack, runId);
      research[pattern.key] = hash;
    }
    return { research };
  });
}

async function searchPattern(
  deps: NodeDeps,
  runId: string,
  state: FileStateType,
  pattern: PatternItem,
  signal: AbortSignal | undefined,
): Promise<{ provider: string; hit: Omit<ResearchSource, "id"> }[]> {
  const out: { provider: string; hit: Omit<ResearchSource, "id"> }[] = [];
  for (const provider of deps.research) {
    const found = await provider.search({
      runId,
      name: pattern.name,
      summary: pattern.summary,
      categoryTitle: categoryTitle(pattern.category),
      docId: state.docId,
      limit: deps.settings.researchResults,
      signal,
    });
    for (const hit of found) out.push({ provider: provider.name, hit });
  }
  return out;
}

/** Asks the model, for every pattern with results, which are about it. Patterns it could not judge keep none. */
async function judge(
  deps: NodeDeps,
  runId: string,
  state: FileStateType,
  candidates: ResearchSource[][],
  signal: AbortSignal | undefined,
  priority: number,
): Promise<Map<string, { relevant: string[]; note: string }>> {
  const out = new Map<string, { relevant: string[]; note: string }>();
  const withSources = state.patterns.map((p, i) => ({ pattern: p, sources: candidates[i] ?? [] })).filter((x) => x.sources.length > 0);
  if (withSources.length === 0) return out;
  const doc = deps.db.getDocument(state.docId);
  const stage = fileStage("researcher", state, doc, fileSystemPrompt(deps));
  const perItem = deps.settings.maxTokens.researcher;
  const input = (items: readonly (typeof withSources)[number][]): StagePromptInput => ({
    ...stage,
    batch: items.map((x) => x.pattern),
    answerTokens: perItem * items.length,
    render: (file) =>
      deps.prompts.render("researcher.user", {
        file,
        sources: renderFileSources(items.map((x) => x.sources)),
        patterns: items
          .map((x) => `[${x.pattern.key}] ${x.pattern.name}: ${x.pattern.summary}\nExcerpts found for it: ${x.sources.map((s) => s.id).join(", ")}`)
          .join("\n\n"),
      }),
  });
  const prompt = (items: readonly (typeof withSources)[number][]) => stagePrompt(deps, input(items));
  const answers = await askByPattern(deps, {
    stage,
    items: withSources,
    prompt,
    answerSchema: (x) => researcherSchema(x.sources.map((s) => s.id)),
    callSuffix: "",
    maxTokens: (batch) => perItem * batch.length,
    runId,
    priority,
    signal,
  });
  for (const [key, v] of answers) out.set(key, v as { relevant: string[]; note: string });
  return out;
}
