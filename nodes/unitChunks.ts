/**
 * Units as prompts show them, sized with the model's own tokenizer: grouped into chunks that fit a
 * token budget (the extractor reads a file chunk by chunk), or fitted as one block into the room a
 * prompt has left (the units later stages cite). A unit is shown whole whenever it fits; only a
 * unit that does not fit on its own is shortened, and it is flagged so the call records it
 * (src/llm/promptUnits.ts).
 */
import type { SourceUnit } from "../src/input/types.ts";
import type { PromptUnit } from "../src/llm/promptUnits.ts";
import { renderUnit } from "./evidence.ts";

/** Between two units of a block. */
const UNIT_SEPARATOR = "\n\n";
/** Tokens counted for a separator while packing (each chunk is then checked as one text). */
const SEPARATOR_TOKENS = 2;

export interface UnitChunk {
  units: SourceUnit[];
  /** The units as the prompt shows them, joined. */
  text: string;
  /** Each unit as `text` shows it. */
  shown: PromptUnit[];
}

type Count = (text: string) => number;

/** A unit as a prompt shows it: whole when it counts at most `limit` tokens, else its head, as much as fits (flagged). */
function showUnit(unit: SourceUnit, limit: number, count: Count): PromptUnit & { tokens: number } {
  const whole = renderUnit(unit, Number.POSITIVE_INFINITY);
  const tokens = count(whole);
  if (tokens <= limit) return { id: unit.id, text: whole, tokens };
  // From the share of the text that should fit, down until it does (the ID and title count too).
  let chars = Math.floor((unit.text.length * Math.max(0, limit)) / tokens);
  let text = renderUnit(unit, chars);
  for (let n = count(text); n > limit && chars > 0; n = count(text)) {
    chars = Math.floor(chars * Math.min(0.9, limit / n));
    text = renderUnit(unit, chars);
  }
  return { id: unit.id, text, shortened: true, tokens: count(text) };
}

function joined(shown: readonly PromptUnit[]): string {
  return shown.map((u) => u.text).join(UNIT_SEPARATOR);
}

/**
 * Groups units, in order, into chunks whose joined text counts at most `budget` tokens (checked on
 * the joined text itself: tokenizers merge across the separators). Every unit is in exactly one chunk.
 */
export function chunkUnits(units: readonly SourceUnit[], countTokens: Count, budget: number): UnitChunk[] {
  const shown = units.map((u) => ({ unit: u, ...showUnit(u, budget, countTokens) }));
  const chunks: UnitChunk[] = [];
  let i = 0;
  while (i < shown.length) {
    let j = i + 1;
    let used = shown[i]?.tokens ?? 0;
    while (j < shown.length && used + SEPARATOR_TOKENS + (shown[j]?.tokens ?? 0) <= budget) used += SEPARATOR_TOKENS + (shown[j++]?.tokens ?? 0);
    let part = shown.slice(i, j);
    while (part.length > 1 && countTokens(joined(part)) > budget) part = part.slice(0, -1);
    chunks.push({
      units: part.map((p) => p.unit),
      text: joined(part),
      shown: part.map(({ id, text, shortened }) => ({ id, text, ...(shortened ? { shortened } : {}) })),
    });
    i += part.length;
  }
  return chunks;
}

/**
 * The units as one block that counts at most `room` tokens: whole when they fit, else every unit
 * longer than an even share shortened to it (the shortest units stay whole), and when even the
 * shortest forms do not fit, the last units left out (each flagged).
 */
export function fitUnits(units: readonly SourceUnit[], countTokens: Count, room: number): { text: string; shown: PromptUnit[] } {
  const whole = units.map((u) => showUnit(u, Number.POSITIVE_INFINITY, countTokens));
  const text = joined(whole);
  if (whole.length === 0 || countTokens(text) <= room) return { text, shown: whole.map(({ id, text }) => ({ id, text })) };
  // The largest per-unit share that fills the room (water-filling), then lowered until the joined text fits.
  const sizes = whole.map((u) => u.tokens).sort((a, b) => a - b);
  const free = room - SEPARATOR_TOKENS * (units.length - 1);
  let share = Math.max(1, Math.floor(free / units.length));
  let spent = 0;
  for (const [k, size] of sizes.entries()) {
    const even = Math.floor((free - spent) / (sizes.length - k));
    if (size > even) {
      share = Math.max(1, even);
      break;
    }
    spent += size;
  }
  let shown = units.map((u) => showUnit(u, share, countTokens));
  for (let tries = 0; tries < 8 && share > 1 && countTokens(joined(shown)) > room; tries++) {
    share = Math.floor(share * 0.9);
    shown = units.map((u) => showUnit(u, share, countTokens));
  }
  const left: PromptUnit[] = [];
  while (shown.length > 0 && countTokens(joined(shown)) > room) {
    const last = shown.pop();
    if (last) left.unshift({ id: last.id, text: "", leftOut: true });
  }
  return { text: joined(shown), shown: [...shown.map(({ id, text, shortened }) => ({ id, text, ...(shortened ? { shortened } : {}) })), ...left] };
}
