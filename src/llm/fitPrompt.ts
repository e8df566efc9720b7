import type { ChatPrompt } from "./types.ts";

/** Tokens kept free for the chat template around the system and user texts (and a safety margin). */
const TEMPLATE_TOKENS = 48;
const MARKER = "\n\n[… part of this text was left out here to fit the model's context …]\n\n";
/** The head keeps the file's first units; the tail keeps the role's step, its items and its rules. */
const HEAD_SHARE = 0.4;

export interface PromptBudget {
  /** Tokens one sequence holds (prompt and answer together). */
  contextTokens: number;
  countTokens: (text: string) => number;
}

export interface FittedPrompt {
  prompt: ChatPrompt;
  maxTokens: number;
  /**
   * Prompt tokens before and after, when the prompt had to be shortened, and the characters of the
   * original user text that were left out (`[start, end)`; empty when only the system text was cut).
   */
  shortened?: { from: number; to: number; userLeftOut: { start: number; end: number } };
}

/** Tokens a prompt's own texts may take in a sequence of `contextTokens`: what the chat template and the margin leave. */
function usableTokens(contextTokens: number): number {
  return contextTokens - TEMPLATE_TOKENS - Math.ceil(contextTokens * 0.02);
}

/**
 * Tokens the system and user texts together may take so that fitPrompt keeps every token and the
 * answer its whole `maxTokens`. Nodes size their prompts with it (nodes/fileContext.ts), so the cut
 * below stays a guarantee that never fires.
 */
export function promptRoom(contextTokens: number, maxTokens: number): number {
  return usableTokens(contextTokens) - maxTokens;
}

/**
 * Makes a prompt and its answer fit one sequence's context, for every role: a prompt that fits is
 * returned as it is (the answer limit lowered to the room left, when that is still a fair share);
 * else the answer limit is held to at most half the context and the middle of the user text is
 * left out (marked), keeping its head (the file's first units) and its tail (the step and its rules). Without this, node-llama-cpp silently drops the start of an over-long
 * history (the prompt's instructions and file included) and llama-server refuses the request.
 * Nodes size their prompts to the context first (promptRoom: unit chunks, batches, fallbacks);
 * this is the guarantee, and `shortened.userLeftOut` lets the caller name what it left out
 * (LlmService records the units, src/llm/promptUnits.ts).
 */
export function fitPrompt(prompt: ChatPrompt, maxTokens: number, budget: PromptBudget): FittedPrompt {
  const usable = usableTokens(budget.contextTokens);
  // The budget is usually a backend: call its method on it (passed alone it loses `this`).
  const count = (text: string) => budget.countTokens(text);
  const system = count(prompt.system);
  const user = count(prompt.user);
  if (system + user + maxTokens <= usable) return { prompt, maxTokens };
  // A prompt that fits keeps every token when the answer can give way and still get a fair share.
  const left = usable - system - user;
  if (left >= Math.min(maxTokens, Math.floor(usable / 4))) return { prompt, maxTokens: left };
  const answer = Math.max(1, Math.min(maxTokens, Math.floor(usable / 2)));
  let room = usable - answer;
  let sys = prompt.system;
  if (system > room / 2) sys = cutMiddle(prompt.system, Math.floor(room / 2), count);
  room -= count(sys);
  const cut = user <= room ? { text: prompt.user, start: prompt.user.length, end: prompt.user.length } : cutMiddleSpan(prompt.user, room, count);
  const fitted = { system: sys, user: cut.text };
  return {
    prompt: fitted,
    maxTokens: answer,
    shortened: { from: system + user, to: count(fitted.system) + count(fitted.user), userLeftOut: { start: cut.start, end: cut.end } },
  };
}

/** Leaves out the middle of `text` (cut at line ends where one is near) so it counts at most `limit` tokens. */
export function cutMiddle(text: string, limit: number, countTokens: (text: string) => number): string {
  return cutMiddleSpan(text, limit, countTokens).text;
}

/** cutMiddle, with the characters of `text` it left out (`[start, end)`, empty when nothing was). */
function cutMiddleSpan(text: string, limit: number, countTokens: (text: string) => number): { text: string; start: number; end: number } {
  if (limit <= 0) return { text: "", start: 0, end: text.length };
  const total = countTokens(text);
  if (total <= limit) return { text, start: text.length, end: text.length };
  let keep = Math.floor((text.length * limit) / total) - MARKER.length;
  for (let i = 0; i < 30 && keep > 0; i++) {
    const candidate = join(text, keep);
    const n = countTokens(candidate.text);
    if (n <= limit) return candidate;
    keep = Math.floor(keep * Math.min(0.95, limit / n));
  }
  const end = Math.max(0, limit);
  return { text: text.slice(0, end), start: end, end: text.length };
}

function join(text: string, keep: number): { text: string; start: number; end: number } {
  let headEnd = Math.floor(keep * HEAD_SHARE);
  let tailStart = text.length - (keep - headEnd);
  const nl = text.lastIndexOf("\n", headEnd);
  if (nl > headEnd - 200 && nl > 0) headEnd = nl;
  const nl2 = text.indexOf("\n", tailStart);
  if (nl2 >= 0 && nl2 < tailStart + 200) tailStart = nl2 + 1;
  return { text: text.slice(0, headEnd) + MARKER + text.slice(tailStart), start: headEnd, end: tailStart };
}
