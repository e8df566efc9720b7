import type { SourceDocument } from "../src/input/types.ts";
import { extractCrossRefs } from "../src/kb/crossrefs.ts";
import type { Contribution } from "../src/kb/types.ts";
import { evidenceUnits, unitById } from "./evidence.ts";
import type { Draft } from "./schemas.ts";
import type { PatternItem, ResearchPack } from "./types.ts";

/** Turns a draft into the knowledge-base contribution it would publish (code and citations resolved from IDs). */
export function buildContribution(relPath: string, doc: SourceDocument, pattern: PatternItem, draft: Draft, pack: ResearchPack): Contribution {
  const exampleUnit = draft.example !== "none" ? unitById(doc, draft.example) : undefined;
  return {
    slug: pattern.slug,
    name: pattern.name,
    category: pattern.category,
    relPath,
    docId: doc.id,
    patternKey: pattern.key,
    summary: draft.summary,
    whenToUse: draft.whenToUse,
    whenNotToUse: draft.whenNotToUse,
    pitfalls: draft.pitfalls,
    example:
      exampleUnit && exampleUnit.kind === "code"
        ? {
            unitId: exampleUnit.id,
            relPath,
            startLine: exampleUnit.startLine,
            endLine: exampleUnit.endLine,
            lang: exampleUnit.lang ?? "",
            code: exampleUnit.text,
          }
        : null,
    evidence: pattern.evidence
      .map((id) => unitById(doc, id))
      .filter((u) => u !== undefined)
      .map((u) => ({ unitId: u.id, title: u.title, startLine: u.startLine, endLine: u.endLine })),
    research: draft.sources
      .map((id) => pack.sources.find((s) => s.id === id))
      .filter((s) => s !== undefined)
      .map((s) => ({ id: s.id, provider: s.provider, title: s.title, citation: s.citation, ...(s.url ? { url: s.url } : {}) })),
    // Lints and guideline IDs named by the cited units (and the code blocks inside cited sections).
    crossRefs: extractCrossRefs(evidenceUnits(doc, pattern.evidence)),
  };
}
