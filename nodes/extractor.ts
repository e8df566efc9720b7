import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { slugify } from "../src/kb/slug.ts";
import { callPriority, type NodeDeps, runContext } from "./deps.ts";
import { extractorChunks, fileSystemPrompt, renderExtractorUser } from "./fileContext.ts";
import { instrument } from "./instrument.ts";
import { extractorSchema } from "./schemas.ts";
import type { FileStateType, FileStateUpdate } from "./state.ts";
import type { PatternItem } from "./types.ts";

/**
 * extractor: finds the patterns a file teaches. The file's units go to the model with their IDs
 * (in token-bounded chunks when the file is larger than the context), and the model answers with
 * pattern names, categories and evidence IDs chosen from an enum — never retyped code. Chunks it
 * does not send because the file's pattern limit was reached are recorded as not read.
 */
export function makeExtractor(deps: NodeDeps) {
  // The display learns how many patterns the file goes on with: the later stages' work grows with them.
  return instrument(
    "extractor",
    deps,
    (state: FileStateType, config: LangGraphRunnableConfig) => extract(deps, state, config),
    (update) => ({
      patterns: update.patterns.length,
    }),
  );
}

async function extract(deps: NodeDeps, state: FileStateType, config: LangGraphRunnableConfig): Promise<FileStateUpdate & { patterns: PatternItem[] }> {
  const { runId, signal, fileRank } = runContext(config);
  const doc = deps.db.getDocument(state.docId);
  const { maxTokens, maxPatternsPerFile, maxAttempts } = deps.settings;
  const chunks = extractorChunks(deps, state.relPath, doc);
  const found = new Map<string, PatternItem>();
  const problems: string[] = [];
  for (const [i, chunk] of chunks.entries()) {
    if (found.size >= maxPatternsPerFile) {
      deps.db.recordUnread(
        runId,
        chunks.slice(i).flatMap((c, k) =>
          c.units.map((u) => ({
            relPath: state.relPath,
            unitId: u.id,
            role: "extractor" as const,
            how: "left-out" as const,
            why: "pattern-limit" as const,
            callKey: `${state.relPath}|extractor|chunk${i + k}`,
          })),
        ),
      );
      break;
    }
    const schema = extractorSchema(
      chunk.units.map((u) => u.id),
      maxPatternsPerFile,
      i === 0 ? 1 : 0,
    );
    const result = await deps.llm.generateObject(schema, {
      runId,
      role: "extractor",
      callKey: `${state.relPath}|extractor|chunk${i}`,
      affinityKey: state.relPath,
      priority: callPriority(fileRank, "extractor"),
      // The file's units come first: the later stages' prompts start the same way (nodes/fileContext.ts).
      prompt: { system: fileSystemPrompt(deps), user: renderExtractorUser(deps, state.relPath, doc, chunk.text) },
      source: { file: state.relPath, units: chunk.shown },
      maxTokens: maxTokens.extractor,
      maxAttempts,
      signal,
    });
    if (!result.ok) {
      problems.push(`chunk ${i + 1}/${chunks.length}: ${result.problems.slice(0, 3).join("; ")}`);
      continue;
    }
    for (const p of result.value.patterns) {
      const name = p.name.trim().replace(/\s+/g, " ");
      const slug = slugify(name);
      if (name.length < 3) continue;
      const existing = found.get(slug);
      if (existing) {
        existing.evidence = [...new Set([...existing.evidence, ...p.evidence])].slice(0, 6);
        continue;
      }
      if (found.size >= maxPatternsPerFile) break;
      found.set(slug, {
        key: `p${found.size + 1}`,
        name,
        slug,
        category: p.category,
        summary: p.summary.trim(),
        evidence: [...new Set(p.evidence)],
      });
    }
  }
  return { patterns: [...found.values()], extractProblems: found.size === 0 ? problems : [] };
}
