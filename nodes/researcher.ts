import { createHash } from "node:crypto";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { FileStateType, FileStateUpdate } from "../graphs/state.ts";
import { type NodeDeps, runContext, STAGE_PRIORITY } from "./deps.ts";
import { renderSources } from "./evidence.ts";
import { instrument } from "./instrument.ts";
import { researcherSchema } from "./schemas.ts";
import type { PatternItem, ResearchPack, ResearchSource } from "./types.ts";

const PREFIX: Record<string, string> = { input: "L", docs: "D", tavily: "W" };

/**
 * researcher: gathers material about each pattern from every configured provider, gives each
 * result a source ID the writer can cite, and asks the model which results are about the pattern.
 * Packs are stored by hash; graph state keeps the hash.
 */
export function makeResearcher(deps: NodeDeps) {
  return instrument("researcher", deps, async (state: FileStateType, config: LangGraphRunnableConfig): Promise<FileStateUpdate> => {
    const { runId, signal } = runContext(config);
    const research: Record<string, string> = {};
    await Promise.all(
      state.patterns.map(async (pattern) => {
        const pack = await researchPattern(deps, runId, state, pattern, signal);
        const hash = createHash("sha256").update(JSON.stringify(pack)).digest("hex").slice(0, 32);
        deps.db.putBlob(hash, pack, runId);
        research[pattern.key] = hash;
      }),
    );
    return { research };
  });
}

async function researchPattern(
  deps: NodeDeps,
  runId: string,
  state: FileStateType,
  pattern: PatternItem,
  signal: AbortSignal | undefined,
): Promise<ResearchPack> {
  const sources: ResearchSource[] = [];
  for (const provider of deps.research) {
    const hits = await provider.search({
      runId,
      name: pattern.name,
      summary: pattern.summary,
      category: pattern.category,
      docId: state.docId,
      limit: deps.settings.researchResults,
      signal,
    });
    const prefix = PREFIX[provider.name] ?? "X";
    for (const [i, h] of hits.entries()) sources.push({ id: `${prefix}${i + 1}`, ...h });
  }
  if (sources.length === 0) return { sources, relevant: [], note: "" };
  const result = await deps.llm.generateObject(researcherSchema(sources.map((s) => s.id)), {
    runId,
    role: "researcher",
    callKey: `${state.relPath}|researcher|${pattern.key}`,
    affinityKey: state.relPath,
    priority: STAGE_PRIORITY.researcher,
    prompt: {
      system: deps.prompts.render("researcher.system", {}),
      user: deps.prompts.render("researcher.user", { name: pattern.name, summary: pattern.summary, sources: renderSources(sources) }),
    },
    maxTokens: deps.settings.maxTokens.researcher,
    maxAttempts: deps.settings.maxAttempts,
    signal,
  });
  if (!result.ok) return { sources, relevant: [], note: "" };
  return { sources, relevant: [...new Set(result.value.relevant)].sort(), note: result.value.note.trim() };
}
