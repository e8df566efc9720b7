import type { PipelineOptions } from "../../run/types.ts";

/**
 * What `npm run graph`'s flags parse into: the library's options (src/run/types.ts) with the
 * directories always set, `--resume` as a flag, `--json`, and `runId` = the run to resume (`npm run runs -- resume ID`).
 */
export interface GraphOptions extends Omit<PipelineOptions, "input" | "out" | "db" | "resume" | "runId"> {
  input: string;
  out: string;
  db: string;
  resume: boolean;
  json: boolean;
  llmReview: boolean;
  maxFileMb: number;
  /** Resume this run (by ID) rather than the newest unfinished one (`npm run runs -- resume ID`). */
  runId?: string;
  /** `--watch`: after the run, stay and run again whenever the input changes (models kept loaded). */
  watch?: boolean;
}
