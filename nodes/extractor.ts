import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { FileStateType, FileStateUpdate } from "../graphs/state.ts";
import type { SourceUnit } from "../src/input/types.ts";
import { slugify } from "../src/kb/slug.ts";
import { CATEGORY_IDS } from "../src/kb/taxonomy.ts";
import { type NodeDeps, runContext, STAGE_PRIORITY } from "./deps.ts";
import { renderUnit } from "./evidence.ts";
import { instrument } from "./instrument.ts";
import { extractorSchema } from "./schemas.ts";
import type { PatternItem } from "./types.ts";

/** Tokens kept free for the system prompt, instructions and chat template around the units. */
const PROMPT_OVERHEAD_TOKENS = 420;
const UNIT_MAX_CHARS = 2400;

/**
 * extractor: finds the patterns a file teaches. The file's units go to the model with their IDs
 * (in token-bounded chunks when the file is larger than the context), and the model answers with
 * pattern names, categories and evidence IDs chosen from an enum — never retyped code.
 */
export function makeExtractor(deps: NodeDeps) {
  return instrument("extractor", deps, async (state: FileStateType, config: LangGraphRunnableConfig): Promise<FileStateUpdate> => {
    const { runId, signal } = runContext(config);
    const doc = deps.db.getDocument(state.docId);
    const { maxTokens, maxPatternsPerFile, maxAttempts } = deps.settings;
    const budget = Math.max(256, deps.llm.contextTokens("extractor") - maxTokens.extractor - PROMPT_OVERHEAD_TOKENS);
    const chunks = chunkUnits(doc.units, (t) => deps.llm.countTokens("extractor", t), budget);
    const found = new Map<string, PatternItem>();
    const problems: string[] = [];
    for (const [i, chunk] of chunks.entries()) {
      if (found.size >= maxPatternsPerFile) break;
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
        priority: STAGE_PRIORITY.extractor,
        prompt: {
          system: deps.prompts.render("extractor.system", {}),
          user: deps.prompts.render("extractor.user", {
            path: state.relPath,
            title: doc.title,
            units: chunk.text,
            maxPatterns: maxPatternsPerFile,
            categories: CATEGORY_IDS.join(", "),
          }),
        },
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
  });
}

export interface UnitChunk {
  units: SourceUnit[];
  text: string;
}

/** Groups units, in order, into chunks whose rendered text fits `budget` tokens. */
export function chunkUnits(units: readonly SourceUnit[], countTokens: (text: string) => number, budget: number): UnitChunk[] {
  const chunks: UnitChunk[] = [];
  let current: SourceUnit[] = [];
  let parts: string[] = [];
  let used = 0;
  for (const unit of units) {
    let rendered = renderUnit(unit, UNIT_MAX_CHARS);
    let cost = countTokens(rendered) + 2;
    if (cost > budget) {
      // A single unit larger than the budget is shown shortened: its ID still lets the model cite it.
      const ratio = budget / cost;
      rendered = renderUnit(unit, Math.max(200, Math.floor(Math.min(unit.text.length, UNIT_MAX_CHARS) * ratio * 0.9)));
      cost = Math.min(budget, countTokens(rendered) + 2);
    }
    if (used + cost > budget && current.length > 0) {
      chunks.push({ units: current, text: parts.join("\n\n") });
      current = [];
      parts = [];
      used = 0;
    }
    current.push(unit);
    parts.push(rendered);
    used += cost;
  }
  if (current.length > 0) chunks.push({ units: current, text: parts.join("\n\n") });
  return chunks;
}
