/**
 * The prompt prefix every call about one file shares: the same system prompt for every per-file
 * role, then the file's units, then the role's step. A sequence that served the file's extractor
 * still holds this prefix in its KV cache (the scheduler sends a file's calls back to it), so the
 * researcher, writer and validator evaluate only their own step.
 */
import type { SourceDocument, SourceUnit } from "../src/input/types.ts";
import type { NodeDeps } from "./deps.ts";
import { evidenceUnits, renderSources, renderUnit } from "./evidence.ts";
import type { PatternItem, ResearchSource } from "./types.ts";

const EVIDENCE_MAX_CHARS = 1800;
/** Tokens kept free for the system prompt, instructions and chat template around the units. */
const PROMPT_OVERHEAD_TOKENS = 420;
const UNIT_MAX_CHARS = 2400;

/** The system prompt of every per-file role (the synthesizer's cross-file judgements have their own). */
export function fileSystemPrompt(deps: Pick<NodeDeps, "prompts">): string {
  return deps.prompts.render("file.system", {});
}

/** The file header and the given units block, as every per-file role's prompt starts. */
export function renderFileContext(deps: Pick<NodeDeps, "prompts">, relPath: string, doc: SourceDocument, units: string): string {
  return deps.prompts.render("file.context", { path: relPath, title: doc.title, units });
}

/**
 * The file context of the stages after the extractor: the whole file exactly as the extractor saw
 * it when it fit one extractor chunk (the cached prefix), else only the units the patterns cite.
 */
export function fileContextFor(
  deps: Pick<NodeDeps, "prompts" | "llm" | "settings">,
  relPath: string,
  doc: SourceDocument,
  patterns: readonly PatternItem[],
): string {
  const chunks = chunkUnits(doc.units, (t) => deps.llm.countTokens("extractor", t), extractorUnitBudget(deps));
  if (chunks.length === 1 && chunks[0]) return renderFileContext(deps, relPath, doc, chunks[0].text);
  const cited = evidenceUnits(
    doc,
    patterns.flatMap((p) => p.evidence),
  );
  return renderFileContext(deps, relPath, doc, cited.map((u) => renderUnit(u, EVIDENCE_MAX_CHARS)).join("\n\n"));
}

/**
 * The research results of a file's patterns as one block, each distinct result once, in the order
 * the patterns found them. The researcher and the writer show the same block after the file's
 * units, so the writer's prompt shares the researcher's prefix up to the end of it (the writer may
 * cite only the results the researcher kept for each pattern: its grammar lists only those).
 */
/**
 * A call's generation limit: `perItem` per item, within what the context leaves after the prompt,
 * the chat template and a margin (so LlmService's fitPrompt never has to shorten the prompt to
 * make room for the answer); never under one item's.
 */
export function batchMaxTokens(perItem: number, items: number, contextTokens: number, promptTokens: number): number {
  return Math.max(perItem, Math.min(perItem * items, contextTokens - promptTokens - 64 - Math.ceil(contextTokens * 0.02)));
}

export function renderFileSources(lists: readonly (readonly ResearchSource[])[]): string {
  const seen = new Map<string, ResearchSource>();
  for (const list of lists) for (const s of list) if (!seen.has(s.id)) seen.set(s.id, s);
  return renderSources([...seen.values()]);
}

/**
 * Splits items into consecutive batches whose answers should fit the context after a prompt of
 * `promptTokens`, at `expectedPerItem` tokens of answer per item (an answer that runs past the
 * call's limit fails its parse and the caller falls back to smaller calls). Every batch holds at
 * least one item.
 */
export function batchesFor<T>(items: readonly T[], contextTokens: number, promptTokens: number, expectedPerItem: number): T[][] {
  const room = Math.max(expectedPerItem, contextTokens - promptTokens - 64);
  const size = Math.max(1, Math.floor(room / Math.max(1, expectedPerItem)));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Tokens of units one extractor call may hold (the rest of the context: instructions and the answer). */
export function extractorUnitBudget(deps: Pick<NodeDeps, "llm" | "settings">): number {
  return Math.max(256, deps.llm.contextTokens("extractor") - deps.settings.maxTokens.extractor - PROMPT_OVERHEAD_TOKENS);
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
