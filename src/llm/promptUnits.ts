import type { Role } from "./roles.ts";

/** One unit of a source file as a prompt's user text shows it (nodes/evidence.ts renderUnit). */
export interface PromptUnit {
  id: string;
  /** The unit exactly as it appears in the user text. */
  text: string;
  /** The node showed it shortened: the prompt has no room for all of it. */
  shortened?: boolean;
  /** The node left it out (its `text` is empty): the prompt has no room for it at all. */
  leftOut?: boolean;
}

/** The file a prompt is about and the units its user text shows, so a cut can name the units the model did not read. */
export interface PromptSource {
  /** The file's path relative to the input. */
  file: string;
  units: readonly PromptUnit[];
}

/** How much of a unit a model missed: all of it, or the part after its start. */
export type UnreadHow = "left-out" | "shortened";
/**
 * Why: `context-cut` the last-resort fit (src/llm/fitPrompt.ts) cut the middle of the prompt;
 * `no-room` the node sized the prompt and the context had no room for all of the unit (a unit
 * longer than an extractor chunk, evidence next to a long research block); `pattern-limit` the
 * extractor found the file's limit of patterns before it reached the unit's chunk.
 */
export type UnreadWhy = "context-cut" | "no-room" | "pattern-limit";

/** A unit of a file that a role's model did not read in full (recorded in the run database). */
export interface UnreadUnit {
  relPath: string;
  unitId: string;
  role: Role;
  how: UnreadHow;
  why: UnreadWhy;
  /** The call (or, for `pattern-limit`, the chunk) it concerns. */
  callKey: string;
}

/**
 * The units of `source` a call's model does not read in full: those the node already shortened,
 * and those the fit left out of the user text (`leftOut`, characters of `user`), entirely or in part.
 */
export function unreadUnits(
  call: { role: Role; callKey: string; user: string; source?: PromptSource },
  leftOut?: { start: number; end: number },
): UnreadUnit[] {
  const { source } = call;
  if (!source) return [];
  const out = new Map<string, UnreadUnit>();
  const add = (unitId: string, how: UnreadHow, why: UnreadWhy) => {
    if (!out.has(unitId) || how === "left-out") out.set(unitId, { relPath: source.file, unitId, role: call.role, how, why, callKey: call.callKey });
  };
  for (const u of source.units) {
    if (u.leftOut) add(u.id, "left-out", "no-room");
    else if (u.shortened) add(u.id, "shortened", "no-room");
  }
  if (leftOut && leftOut.end > leftOut.start) {
    let from = 0;
    for (const u of source.units) {
      if (u.leftOut) continue;
      const start = call.user.indexOf(u.text, from);
      if (start < 0) continue;
      const end = start + u.text.length;
      from = end;
      if (end <= leftOut.start || start >= leftOut.end) continue;
      add(u.id, start >= leftOut.start && end <= leftOut.end ? "left-out" : "shortened", "context-cut");
    }
  }
  return [...out.values()];
}

/** "S3, S4 left out; S2 shortened": the units a call missed, for a warning line. */
export function describeUnread(units: readonly UnreadUnit[]): string {
  const ids = (how: UnreadHow) =>
    units
      .filter((u) => u.how === how)
      .map((u) => u.unitId)
      .join(", ");
  const parts = [ids("left-out") && `${ids("left-out")} left out`, ids("shortened") && `${ids("shortened")} shortened`].filter(Boolean);
  return parts.join("; ");
}
