/**
 * Deterministic checks of a writer's draft against its source and research. Each returns
 * specific problems phrased as instructions the writer can act on.
 */
import type { SourceDocument } from "../input/types.ts";
import { fence, mergeEntry, renderEntryPage } from "../kb/render.ts";
import type { Contribution } from "../kb/types.ts";

export interface DraftLike {
  summary: string;
  whenToUse: string[];
  whenNotToUse: string[];
  pitfalls: string[];
  example: string;
  sources: string[];
}

export interface GroundingInput {
  draft: DraftLike;
  doc: SourceDocument;
  /** Unit IDs the extractor cited. */
  evidence: readonly string[];
  /** Research sources the writer was allowed to cite (ID and URL if any). */
  allowedSources: readonly { id: string; url?: string; excerpt: string }[];
  /** The contribution the draft renders to. */
  contribution: Contribution;
  patternName: string;
}

const URL = /\b(?:https?|file):\/\/[^\s)>\]]+|\bwww\.[^\s)>\]]+/gi;
const MD_LINK = /\[[^\]]*\]\([^)]*\)/g;
const FENCE = /```|~~~/;
const INLINE_CODE = /`([^`\n]+)`/g;
/** A Rust path such as `Vec::with_capacity` or `std::sync::Arc`. */
const API_PATH = /\b[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)+/g;
/** Path roots every reader knows; they need not appear in the material. */
const KNOWN_ROOTS = new Set(["std", "core", "alloc", "crate", "self", "super", "Self"]);
const REQUIRED_HEADINGS = ["## Example", "## When to use", "## When not to use", "## Pitfalls", "## Sources"];

export function checkGrounding(input: GroundingInput): string[] {
  const { draft, doc, evidence, allowedSources, contribution } = input;
  const problems: string[] = [];
  const unitIds = new Set(doc.units.map((u) => u.id));

  for (const id of evidence) if (!unitIds.has(id)) problems.push(`evidence ${id} does not exist in ${doc.relPath}`);
  if (draft.example !== "none") {
    const unit = doc.units.find((u) => u.id === draft.example);
    if (!unit) problems.push(`example ${draft.example} does not exist in the source; choose one of the listed code block IDs or "none"`);
    else if (unit.kind !== "code") problems.push(`example ${draft.example} is not a code block; choose a code block ID or "none"`);
  }
  const allowed = new Map(allowedSources.map((s) => [s.id, s]));
  for (const id of draft.sources) if (!allowed.has(id)) problems.push(`source ${id} was not returned by research; cite only the listed source IDs`);

  const summary = draft.summary.trim();
  if (summary.split(/\s+/).filter((w) => /\p{L}/u.test(w)).length < 6) problems.push("summary is too short: explain the pattern in 2-4 full sentences");
  if (normalise(summary) === normalise(input.patternName)) problems.push("summary only repeats the pattern name");
  if (draft.whenToUse.filter((s) => s.trim().length >= 10).length === 0) problems.push("whenToUse is empty: give at least one situation");
  if (draft.whenNotToUse.filter((s) => s.trim().length >= 10).length === 0) problems.push("whenNotToUse is empty: give at least one situation");

  const sourceText = [doc.units.map((u) => u.text).join("\n"), ...allowedSources.map((s) => s.excerpt)].join("\n");
  const sourceWords = new Set((sourceText.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []).map((w) => w.toLowerCase()));
  const allowedUrls = new Set(allowedSources.map((s) => s.url).filter((u): u is string => u !== undefined));
  const fields: [string, string][] = [
    ["summary", draft.summary],
    ...draft.whenToUse.map((t, i): [string, string] => [`whenToUse[${i}]`, t]),
    ...draft.whenNotToUse.map((t, i): [string, string] => [`whenNotToUse[${i}]`, t]),
    ...draft.pitfalls.map((t, i): [string, string] => [`pitfalls[${i}]`, t]),
  ];
  for (const [field, text] of fields) {
    if (FENCE.test(text)) problems.push(`${field} contains a code block: code may only come from the source through the example ID`);
    for (const m of text.match(MD_LINK) ?? []) problems.push(`${field} contains a link ${m}: cite research by source ID instead`);
    for (const url of text.match(URL) ?? []) {
      if (!allowedUrls.has(url.replace(/[.,;:]+$/, ""))) problems.push(`${field} contains a link that research did not return (${url}): remove it`);
    }
    for (const m of text.matchAll(INLINE_CODE)) {
      const code = (m[1] ?? "").trim();
      // Short identifiers are names, not quoted code; longer spans must exist in the material.
      if (code.length > 24 && !sourceText.includes(code)) problems.push(`${field} quotes code that is not in the source: \`${code.slice(0, 60)}\``);
      // Small models invent APIs (`Vec::with_capcity`): every part of a named path must occur in the source or the
      // research (ignoring case, so the `vec` module of `std::vec::Vec` counts as shown by `Vec`).
      for (const p of code.match(API_PATH) ?? []) {
        const unknown = p.split("::").filter((seg) => !KNOWN_ROOTS.has(seg) && !sourceWords.has(seg.toLowerCase()));
        if (unknown.length > 0) problems.push(`${field} names \`${p}\`, which neither the source nor the research shows: name only APIs they show`);
      }
    }
  }

  // The page that would be published: its code must be the source's code, byte for byte.
  const page = renderEntryPage(mergeEntry([contribution]));
  for (const h of REQUIRED_HEADINGS) if (!page.includes(`\n${h}\n`)) problems.push(`page is missing the section "${h.slice(3)}"`);
  if (contribution.example) {
    const unit = doc.units.find((u) => u.id === contribution.example?.unitId);
    if (!unit || unit.text !== contribution.example.code || !page.includes(fence(unit.text, contribution.example.lang || "rust")))
      problems.push(`example code does not match ${contribution.example.unitId} in the source verbatim`);
  }
  return [...new Set(problems)];
}

function normalise(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
}
