/**
 * The prompt prefix every call about one file shares: the same system prompt for every per-file
 * role, then the file's units, then the role's step. A sequence that served the file's extractor
 * still holds this prefix in its KV cache (the scheduler sends a file's calls back to it), so the
 * researcher, writer and validator evaluate only their own step.
 *
 * Every size here is measured with the model's own tokenizer on the whole rendered prompt (system
 * text, the role's step, the file block) against the room the answer's limit leaves
 * (LlmService.promptRoom), so the last-resort cut of src/llm/fitPrompt.ts does not fire.
 */
import type { SourceDocument } from "../src/input/types.ts";
import { CATEGORY_IDS } from "../src/kb/taxonomy.ts";
import type { PromptUnit } from "../src/llm/promptUnits.ts";
import type { Role } from "../src/llm/roles.ts";
import type { NodeDeps } from "./deps.ts";
import { evidenceUnits, renderSources } from "./evidence.ts";
import type { PatternItem, ResearchSource } from "./types.ts";
import { chunkUnits, fitUnits, type UnitChunk } from "./unitChunks.ts";

/** Tokens kept free for the merges a tokenizer makes where the units meet the text around them. */
const BOUNDARY_TOKENS = 8;
/** The least room the extractor's units get, however small the context (the fit then cuts, and says so). */
const MIN_UNIT_BUDGET = 256;

/** The system prompt of every per-file role (the synthesizer's cross-file judgements have their own). */
export function fileSystemPrompt(deps: Pick<NodeDeps, "prompts">): string {
  return deps.prompts.render("file.system", {});
}

/** The file header and the given units block, as every per-file role's prompt starts. */
function renderFileContext(deps: Pick<NodeDeps, "prompts">, relPath: string, doc: SourceDocument, units: string): string {
  return deps.prompts.render("file.context", { path: relPath, title: doc.title, units });
}

/** The extractor's user text for a block of units. */
export function renderExtractorUser(deps: Pick<NodeDeps, "prompts" | "settings">, relPath: string, doc: SourceDocument, units: string): string {
  return deps.prompts.render("extractor.user", {
    file: renderFileContext(deps, relPath, doc, units),
    maxPatterns: deps.settings.maxPatternsPerFile,
    categories: CATEGORY_IDS.join(", "),
  });
}

/**
 * The file's units in the chunks the extractor reads, each chunk as large as the extractor's
 * whole prompt (system text, step, file header, units) allows next to an answer of its full limit.
 */
export function extractorChunks(deps: Pick<NodeDeps, "prompts" | "llm" | "settings">, relPath: string, doc: SourceDocument): UnitChunk[] {
  const count = (t: string) => deps.llm.countTokens("extractor", t);
  const frame = count(fileSystemPrompt(deps)) + count(renderExtractorUser(deps, relPath, doc, ""));
  const room = deps.llm.promptRoom("extractor", deps.settings.maxTokens.extractor);
  const budget = Math.max(MIN_UNIT_BUDGET, room - frame - BOUNDARY_TOKENS);
  // Every later stage asks again for the same file: the chunks are remembered per model service.
  const known = chunksOf.get(deps.llm) ?? new Map<string, UnitChunk[]>();
  chunksOf.set(deps.llm, known);
  const key = `${relPath}\u0000${doc.id}\u0000${budget}`;
  const cached = known.get(key);
  if (cached) return cached;
  const chunks = chunkUnits(doc.units, count, budget);
  known.set(key, chunks);
  if (known.size > CHUNKS_KEPT) known.delete(known.keys().next().value as string);
  return chunks;
}

/** Files whose extractor chunks are remembered (about the files in flight). */
const CHUNKS_KEPT = 64;
const chunksOf = new WeakMap<object, Map<string, UnitChunk[]>>();

/** A file block (header and units) and the units it shows. */
export interface FileBlock {
  text: string;
  units: PromptUnit[];
}

/**
 * The file block the stages after the extractor share: the whole file exactly as the extractor saw
 * it when it fit one extractor chunk (the cached prefix), else the units the patterns cite, whole.
 */
export function fileContextFor(
  deps: Pick<NodeDeps, "prompts" | "llm" | "settings">,
  relPath: string,
  doc: SourceDocument,
  patterns: readonly PatternItem[],
): FileBlock {
  const chunks = extractorChunks(deps, relPath, doc);
  if (chunks.length === 1 && chunks[0]) return { text: renderFileContext(deps, relPath, doc, chunks[0].text), units: chunks[0].shown };
  return citedBlock(deps, relPath, doc, patterns, Number.POSITIVE_INFINITY, "extractor");
}

/** The units the patterns cite (and the code blocks inside cited sections), fitted to `room` tokens for the units. */
export function citedBlock(
  deps: Pick<NodeDeps, "prompts" | "llm">,
  relPath: string,
  doc: SourceDocument,
  patterns: readonly PatternItem[],
  room: number,
  role: Role,
): FileBlock {
  const cited = evidenceUnits(
    doc,
    patterns.flatMap((p) => p.evidence),
  );
  const fitted = fitUnits(cited, (t) => deps.llm.countTokens(role, t), room);
  return { text: renderFileContext(deps, relPath, doc, fitted.text), units: fitted.shown };
}

/**
 * The research results of a file's patterns as one block, each distinct result once, in the order
 * the patterns found them. The researcher and the writer show the same block after the file's
 * units, so the writer's prompt shares the researcher's prefix up to the end of it (the writer may
 * cite only the results the researcher kept for each pattern: its grammar lists only those).
 */
export function renderFileSources(lists: readonly (readonly ResearchSource[])[], brief = false): string {
  const seen = new Map<string, ResearchSource>();
  for (const list of lists) for (const s of list) if (!seen.has(s.id)) seen.set(s.id, s);
  return renderSources([...seen.values()], brief);
}
