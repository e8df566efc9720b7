import type { Role } from "../llm/roles.ts";

/** Progress events, emitted by the pipeline and rendered by a reporter (TTY, plain lines or JSON). */
export type PipelineEvent =
  | { type: "run_started"; runId: string; input: string; out: string; model: string; resumed: boolean }
  /** `alreadyDone`: files of `toProcess` finished before this process started (a resumed run). */
  | { type: "files_discovered"; found: number; toProcess: number; skipped: number; alreadyDone?: number }
  | { type: "file_skipped"; path: string; reason: string }
  | { type: "node_started"; path: string; node: string }
  | { type: "node_finished"; path: string; node: string }
  | { type: "file_finished"; path: string; status: "processed" | "quarantined" | "skipped"; patterns: number; reason?: string }
  | { type: "llm_call_started"; role: Role }
  | { type: "llm_call_finished"; role: Role; outputTokens: number; ms: number; memo: boolean }
  | { type: "model_loading"; model: string }
  | { type: "model_loaded"; model: string; sequences: number; contextSize: number; threads: number; ms: number }
  | { type: "download_progress"; model: string; downloadedBytes: number; totalBytes: number }
  | { type: "message"; level: "info" | "warn"; text: string }
  /** The run stopped short (interrupted or failed): work still winding down is not reported. */
  | { type: "run_stopping"; status: "interrupted" | "failed" };

export type EventSink = (event: PipelineEvent) => void;
