import { DEFAULT_MODEL } from "../llm/resolveModel.ts";

/** The run's verdicts that say the model is likely too weak for the task, and what to try instead. */
export interface WeakModel {
  /** The writer's model (file name and size, or the server's model). */
  model: string;
  /** Files of this run the validator decided (processed + quarantined), and of those quarantined. */
  files: number;
  quarantinedFiles: number;
  /** Drafts of this run's files, and of those rejected (in quarantine). */
  drafts: number;
  rejectedDrafts: number;
  /** The model to try, in words, with the commands. */
  suggestion: string;
}

/**
 * A larger instruct model for when the default one fails: `qwen2.5-1.5b-instruct-q4_k_m` in
 * config/models.catalog.json (about 1 GB; the catalog lists it for the writer).
 */
export const STRONGER_MODEL = {
  name: "qwen2.5-1.5b-instruct-q4_k_m",
  displayName: "Qwen2.5-1.5B-Instruct Q4_K_M",
  uri: "hf:bartowski/Qwen2.5-1.5B-Instruct-GGUF/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf",
} as const;

/** "Nearly every draft failed": at least this share of the files or of the drafts. */
const MOSTLY_FAILED = 0.8;
/** Too few to judge the model by (one odd file is not the model's fault). */
const MIN_FILES = 3;
const MIN_DRAFTS = 5;

/**
 * The advice for a run where nearly every draft failed validation (>= 80% of the files quarantined
 * or >= 80% of the drafts rejected): the model is likely too weak. A run on the default model is
 * pointed at a larger one; a run on any other model (a tiny test model, an untrained file) at the
 * default. Undefined when the run went well or decided too few files to tell.
 */
export function weakModelAdvice(input: {
  model: string;
  processedFiles: number;
  quarantinedFiles: number;
  publishedDrafts: number;
  rejectedDrafts: number;
}): WeakModel | undefined {
  const files = input.processedFiles + input.quarantinedFiles;
  const drafts = input.publishedDrafts + input.rejectedDrafts;
  const filesFailed = files >= MIN_FILES && input.quarantinedFiles >= MOSTLY_FAILED * files;
  const draftsFailed = drafts >= MIN_DRAFTS && input.rejectedDrafts >= MOSTLY_FAILED * drafts;
  if (!filesFailed && !draftsFailed) return undefined;
  const onDefault = /qwen2\.5-0\.5b-instruct/i.test(input.model);
  const suggestion = onDefault
    ? `try a larger model, ${STRONGER_MODEL.displayName} (~1 GB): \`npm run models -- pull ${STRONGER_MODEL.name}\`, then run again with \`--model ${STRONGER_MODEL.uri}\``
    : `try the recommended model, ${DEFAULT_MODEL.name} (the default): \`npm run models -- pull ${DEFAULT_MODEL.fileName.replace(/\.gguf$/, "")}\`, then run again without --model (or with \`--model ${DEFAULT_MODEL.uri}\`)`;
  return { model: input.model, files, quarantinedFiles: input.quarantinedFiles, drafts, rejectedDrafts: input.rejectedDrafts, suggestion };
}
