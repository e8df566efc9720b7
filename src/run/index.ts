/**
 * The package's library entry (`import { runPipeline } from "rust-kb-pipeline"`): the pipeline the
 * CLI, Studio, eval and the benchmarks run, with its options, hooks and summary types.
 */

export type { Env } from "../config/env.ts";
export { readEnv } from "../config/env.ts";
export type { PipelineEvent } from "../progress/events.ts";
export { openPipelineRun, type PipelineInput, type PipelineRunSession, RunNotStarted } from "./openPipelineRun.ts";
export { runPipeline } from "./runPipeline.ts";
export { formatSummary, type RunSummary, type VerificationCounts } from "./summary.ts";
export type { MaxTokensRole, PipelineHooks, PipelineOptions } from "./types.ts";
