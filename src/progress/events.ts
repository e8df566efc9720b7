import type { LlmCallEvent, MessageEvent } from "../llm/llmEvents.ts";

/** Progress events, emitted by the pipeline and rendered by a reporter (TTY, plain lines or JSON). */
export type PipelineEvent =
  | { type: "run_started"; runId: string; input: string; out: string; model: string; resumed: boolean }
  /**
   * `alreadyDone`: files of `toProcess` finished before this process started (a resumed run).
   * `files`: the files to process and their sizes in bytes (the ETA weighs each file's work by its
   * size); absent on a resumed run.
   */
  | { type: "files_discovered"; found: number; toProcess: number; skipped: number; alreadyDone?: number; files?: { path: string; bytes: number }[] }
  | { type: "file_skipped"; path: string; reason: string }
  | { type: "node_started"; path: string; node: string }
  /** `patterns`: after the extractor, how many patterns the file goes on with (the later stages' work grows with them). */
  | { type: "node_finished"; path: string; node: string; patterns?: number }
  | { type: "file_finished"; path: string; status: "processed" | "quarantined" | "skipped"; patterns: number; reason?: string }
  /** A model call's progress, as the model layer declares it (src/llm/llmEvents.ts). */
  | LlmCallEvent
  | { type: "model_loading"; model: string }
  | { type: "model_loaded"; model: string; sequences: number; contextSize: number; threads: number; ms: number }
  | { type: "download_progress"; model: string; downloadedBytes: number; totalBytes: number }
  | MessageEvent
  /** The run stopped short (interrupted or failed): work still winding down is not reported. */
  | { type: "run_stopping"; status: "interrupted" | "failed" };

export type EventSink = (event: PipelineEvent) => void;
