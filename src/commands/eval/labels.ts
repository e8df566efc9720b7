/**
 * Ground-truth labels in the format of ../shared/corpus/rust-research.labels.json: one record per
 * input file (`path` relative to the labelled directory) with the patterns it is about.
 */
import fs from "node:fs";
import { z } from "zod";
import { UserError } from "../../errors.ts";

const LabelPatternSchema = z.looseObject({
  name: z.string().min(1),
  /** Markdown form of the name (with backticks), when it differs. */
  name_raw: z.string().optional(),
  /** File stem, guideline C-ID or lint name. */
  id: z.string().min(1),
  category: z.string().optional(),
});

const LabelFileSchema = z.looseObject({
  path: z.string().min(1),
  title: z.string().optional(),
  category: z.string().optional(),
  patterns: z.array(LabelPatternSchema),
});

export const LabelsSchema = z.looseObject({
  schema_version: z.number().optional(),
  files: z.array(LabelFileSchema),
});

export type Labels = z.infer<typeof LabelsSchema>;
export type LabelFile = z.infer<typeof LabelFileSchema>;
export type LabelPattern = z.infer<typeof LabelPatternSchema>;

export function loadLabels(file: string): Labels {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new UserError(
      "USAGE",
      `Cannot read the labels file ${file} (${(e as NodeJS.ErrnoException).code ?? "error"}).`,
      "Pass --labels with a labels JSON file.",
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(
      "USAGE",
      `The labels file ${file} is not valid JSON: ${(e as Error).message}`,
      "Pass a labels file like ../shared/corpus/rust-research.labels.json.",
    );
  }
  const parsed = LabelsSchema.safeParse(raw);
  if (!parsed.success)
    throw new UserError(
      "USAGE",
      `The labels file ${file} does not have the expected shape: ${parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
        .join("; ")}`,
      'Expected {"files": [{"path": "...", "patterns": [{"id": "...", "name": "..."}]}]} (the format of ../shared/corpus/rust-research.labels.json).',
    );
  return parsed.data;
}

/**
 * Pairs input files with label records. A label path matches an input path when they are equal or
 * when one ends with "/" + the other, so labels written for the whole corpus also work on an input
 * directory that is one of its subfolders. Returns input path -> label record.
 */
export function labelsForInput(labels: Labels, inputPaths: readonly string[]): Map<string, LabelFile> {
  const out = new Map<string, LabelFile>();
  for (const rel of inputPaths) {
    const exact = labels.files.find((f) => f.path === rel);
    const suffix = labels.files.filter((f) => f.path.endsWith(`/${rel}`) || rel.endsWith(`/${f.path}`));
    const match = exact ?? (suffix.length === 1 ? suffix[0] : undefined);
    if (match) out.set(rel, match);
  }
  return out;
}
