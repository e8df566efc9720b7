/**
 * One zod schema per model output, used three times: compiled to the grammar that constrains the
 * model, to parse what it wrote, and as the type the next node reads. Every string and array is
 * bounded (unbounded ones run into maxTokens on small models) and evidence is chosen from enums of
 * IDs that exist, so a model cannot cite what is not there.
 */
import { z } from "zod";
import { CATEGORY_IDS } from "../src/kb/taxonomy.ts";

function idEnum(ids: readonly string[]) {
  return z.enum([...new Set(ids)] as [string, ...string[]]);
}

/**
 * `minPatterns` is 1 for a file's first chunk (every file in a Rust research directory is about
 * something; a model that answers "nothing" there is usually just taking the shortest path) and 0
 * for later chunks.
 */
export function extractorSchema(unitIds: readonly string[], maxPatterns: number, minPatterns = 0) {
  return z.object({
    patterns: z
      .array(
        z.object({
          name: z.string().min(3).max(60),
          category: z.enum(CATEGORY_IDS),
          summary: z.string().min(10).max(280),
          evidence: z.array(idEnum(unitIds)).min(1).max(4),
        }),
      )
      .min(minPatterns)
      .max(maxPatterns),
  });
}

export function researcherSchema(sourceIds: readonly string[]) {
  return z.object({
    relevant: z.array(idEnum(sourceIds)).max(sourceIds.length),
    note: z.string().max(240),
  });
}

/** `exampleRequired`: the cited evidence holds code, so "none" is not offered. */
export function writerSchema(codeIds: readonly string[], sourceIds: readonly string[], exampleRequired = false) {
  const line = z.string().min(10).max(200);
  return z.object({
    summary: z.string().min(30).max(600),
    whenToUse: z.array(line).min(1).max(4),
    whenNotToUse: z.array(line).min(1).max(3),
    pitfalls: z.array(line).max(3),
    example: idEnum(exampleRequired && codeIds.length > 0 ? codeIds : [...codeIds, "none"]),
    sources: sourceIds.length > 0 ? z.array(idEnum(sourceIds)).max(Math.min(5, sourceIds.length)) : z.array(z.string()).max(0),
  });
}
/**
 * What the writer produces for one pattern (stored trimmed, sources deduplicated), rendered to
 * markdown deterministically: `example` is a code unit ID or "none", `sources` research source IDs.
 */
export type Draft = z.infer<ReturnType<typeof writerSchema>>;

export const reviewSchema = z.object({
  verdict: z.enum(["pass", "fail"]),
  problems: z.array(z.string().min(5).max(160)).max(3),
});
export type ReviewOutput = z.infer<typeof reviewSchema>;

/** The synthesizer's judgment of one candidate pair of entries. */
export const synthesizerSchema = z.object({
  verdict: z.enum(["same", "different"]),
  reason: z.string().min(5).max(160),
});

/**
 * One call's answer for several patterns of a file: `{"byPattern": {"p1": {...}, "p2": {...}}}`,
 * each pattern's object constrained by its own schema (its own ID enums).
 */
export function byPatternSchema<S extends z.ZodType>(perPattern: Readonly<Record<string, S>>) {
  return z.object({ byPattern: z.object({ ...perPattern }) });
}
