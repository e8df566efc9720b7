import type { SourceDocument, SourceUnit } from "../src/input/types.ts";
import type { ResearchSource } from "./types.ts";

/** How one unit is shown to a model: its ID, title and text (long texts shortened). */
export function renderUnit(unit: SourceUnit, maxChars: number): string {
  const head =
    unit.kind === "code" ? `[${unit.id}] code${unit.lang ? ` (${unit.lang})` : ""}, lines ${unit.startLine}-${unit.endLine}` : `[${unit.id}] ${unit.title}`;
  const body = unit.text.length > maxChars ? `${unit.text.slice(0, maxChars)}\n…(shortened)` : unit.text;
  return `${head}\n${body}`;
}

/** The units a pattern cites, plus code blocks inside cited sections (the example candidates). */
export function evidenceUnits(doc: SourceDocument, ids: readonly string[]): SourceUnit[] {
  const wanted = new Set(ids);
  for (const u of doc.units) if (u.kind === "code" && u.parent && wanted.has(u.parent)) wanted.add(u.id);
  return doc.units.filter((u) => wanted.has(u.id));
}

/**
 * Code blocks the writer may pick as the example. When the cited evidence holds code, one of those
 * blocks must be chosen (an entry about code the extractor pointed at shows it); otherwise any
 * block of the file may be chosen, or none.
 */
export function exampleCandidates(doc: SourceDocument, evidence: readonly string[]): { ids: string[]; required: boolean } {
  const near = evidenceUnits(doc, evidence).filter((u) => u.kind === "code");
  const list = near.length > 0 ? near : doc.units.filter((u) => u.kind === "code");
  return { ids: list.slice(0, 12).map((u) => u.id), required: near.length > 0 };
}

/** Research sources with their IDs; `brief`: without their excerpts (when a prompt has no room for them). */
export function renderSources(sources: readonly ResearchSource[], brief = false): string {
  if (sources.length === 0) return "(none)";
  return sources.map((s) => `[${s.id}] ${s.title} — ${s.citation}${brief ? "" : `\n${s.excerpt}`}`).join("\n\n");
}

export function unitById(doc: SourceDocument, id: string): SourceUnit | undefined {
  return doc.units.find((u) => u.id === id);
}
