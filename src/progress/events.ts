import type { Role } from "../llm/roles.ts";

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
  /**
   * A model call got its sequence (server slot) and starts: the prompt is read from here on.
   * `path`: the file the call works for (absent for run-level calls: the synthesizer's).
   * `waitMs`: how long it waited for a free sequence.
   */
  | { type: "llm_call_started"; role: Role; path?: string; waitMs?: number }
  /**
   * Tokens a running call's engine processed since the call's last report: `read` prompt tokens
   * evaluated (not those served from a KV cache), `generated` tokens. Reported as the engine tells
   * (llama-server while it reads; every engine as it generates), at most about once a second per
   * call; the last report comes before `llm_call_finished` and brings a call's sums to its result's
   * counts. `ms`: the time the report covers (since the call's previous report or its start).
   */
  | { type: "llm_tokens"; role: Role; path?: string; read: number; generated: number; ms: number }
  /**
   * A model call ended (or was answered from the memo: `memo`, which never started). `ms`: from its
   * start to its end; `readMs`: from its start to its first generated text (the prompt read);
   * `promptTokens`: every prompt token, `evaluatedTokens`: those the engine read (the rest came
   * from a KV cache).
   */
  | {
      type: "llm_call_finished";
      role: Role;
      path?: string;
      outputTokens: number;
      ms: number;
      memo: boolean;
      readMs?: number;
      waitMs?: number;
      promptTokens?: number;
      evaluatedTokens?: number;
    }
  | { type: "model_loading"; model: string }
  | { type: "model_loaded"; model: string; sequences: number; contextSize: number; threads: number; ms: number }
  | { type: "download_progress"; model: string; downloadedBytes: number; totalBytes: number }
  | { type: "message"; level: "info" | "warn"; text: string }
  /** The run stopped short (interrupted or failed): work still winding down is not reported. */
  | { type: "run_stopping"; status: "interrupted" | "failed" };

export type EventSink = (event: PipelineEvent) => void;
