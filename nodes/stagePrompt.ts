/**
 * The prompts of the stages after the extractor (researcher, writer, validator), sized so that each
 * fits its model's context next to its answer's full limit, measured with the model's tokenizer.
 */
import type { SourceDocument } from "../src/input/types.ts";
import type { PromptSource } from "../src/llm/promptUnits.ts";
import type { Role } from "../src/llm/roles.ts";
import type { NodeDeps } from "./deps.ts";
import { citedBlock, type FileBlock, fileContextFor } from "./fileContext.ts";
import type { PatternItem } from "./types.ts";

/** Tokens kept free for the merges a tokenizer makes where the units meet the text around them. */
const BOUNDARY_TOKENS = 8;

export interface StagePromptInput {
  role: Role;
  relPath: string;
  doc: SourceDocument;
  /** Every pattern of the file (the shared file block cites all of theirs). */
  patterns: readonly PatternItem[];
  /** The patterns this call is about. */
  batch: readonly PatternItem[];
  system: string;
  /** The answer's limit the prompt must leave room for. */
  answerTokens: number;
  /** The user text around a file block, with what `scope` asks for. */
  render: (file: string, scope: PromptScope) => string;
}

/** What every call of a stage about one file shares: the role, the file and its patterns, the system prompt. */
export function fileStage(
  role: Role,
  state: { relPath: string; patterns: readonly PatternItem[] },
  doc: SourceDocument,
  system: string,
): Pick<StagePromptInput, "role" | "relPath" | "doc" | "patterns" | "system"> {
  return { role, relPath: state.relPath, doc, patterns: state.patterns, system };
}

/**
 * How much a stage's user text shows besides the file block: `file` what every call about the file
 * shows (a shared prefix, e.g. the writer's research block of every pattern); `call` only what this
 * call needs; `brief` that without long texts it can do without (research by ID and title, no
 * excerpts), when the context has no room for them next to the units.
 */
export type PromptScope = "file" | "call" | "brief";

export interface StagePrompt {
  user: string;
  /** The file and the units the user text shows (a unit the model does not read in full is recorded). */
  source: PromptSource;
  /**
   * Which choice fit: `shared` the file block every stage of the file shares (a cached prefix);
   * `own` the units this call cites, whole; `fitted` those shortened to the room; `brief` that
   * without research excerpts.
   */
  form: "shared" | "own" | "fitted" | "brief";
}

/**
 * The user text of a stage's call, the first that fits: the shared file block and what every call
 * about the file shows; else only the units this call's patterns cite and only what it needs; else
 * those units shortened to the room left (flagged, so the call records them as not read in full);
 * else the brief form with the units fitted to its room (the last units left out when even their
 * shortest forms do not fit, flagged too).
 */
export function stagePrompt(deps: Pick<NodeDeps, "prompts" | "llm" | "settings">, input: StagePromptInput): StagePrompt {
  const { role, relPath, doc } = input;
  const count = (t: string) => deps.llm.countTokens(role, t);
  const room = roomOf(deps, input);
  const build = (block: FileBlock, scope: PromptScope, form: StagePrompt["form"]): StagePrompt => ({
    user: input.render(block.text, scope),
    source: { file: relPath, units: block.units },
    form,
  });
  const shared = build(fileContextFor(deps, relPath, doc, input.patterns), "file", "shared");
  if (count(shared.user) <= room) return shared;
  const own = build(citedBlock(deps, relPath, doc, input.batch, Number.POSITIVE_INFINITY, role), "call", "own");
  if (count(own.user) <= room) return own;
  const fitted = (scope: PromptScope) => {
    // The units get what the rest of the prompt leaves (the file header's tokens are part of the rest).
    const frame = count(input.render(citedBlock(deps, relPath, doc, [], 0, role).text, scope));
    return citedBlock(deps, relPath, doc, input.batch, Math.max(0, room - frame - BOUNDARY_TOKENS), role);
  };
  const block = fitted("call");
  const call = build(block, "call", "fitted");
  if (!block.units.some((u) => u.leftOut) && count(call.user) <= room) return call;
  return build(fitted("brief"), "brief", "brief");
}

/** Tokens the user text may take: what the answer's limit and the system text leave. */
function roomOf(deps: Pick<NodeDeps, "llm">, input: StagePromptInput): number {
  return deps.llm.promptRoom(input.role, input.answerTokens) - deps.llm.countTokens(input.role, input.system);
}

const RANK: Record<StagePrompt["form"], number> = { shared: 0, own: 1, fitted: 2, brief: 3 };

/**
 * Splits items, in order, into batches: all of them when their prompt shares the file's block
 * (and leaves room for all their answers), else each batch as long as its prompt stays as good as
 * its first item's alone with every unit whole (a prompt that had to shorten units is one item's).
 */
export function batchesThatFit<T>(items: readonly T[], formOf: (batch: readonly T[]) => StagePrompt["form"]): T[][] {
  if (items.length === 0) return [];
  if (items.length === 1 || formOf(items) === "shared") return [[...items]];
  const out: T[][] = [];
  let i = 0;
  while (i < items.length) {
    const alone = RANK[formOf(items.slice(i, i + 1))];
    let j = i + 1;
    if (alone <= RANK.own) while (j < items.length && RANK[formOf(items.slice(i, j + 1))] <= alone) j++;
    out.push(items.slice(i, j));
    i = j;
  }
  return out;
}
