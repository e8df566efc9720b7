/**
 * What the model layer reports while it works, declared here so that src/llm imports nothing of
 * the progress display: LlmService takes an `LlmEventSink` and a `CallTimer`, and src/progress
 * (which renders these events among the run's others: `PipelineEvent`) and its `TimeSplit` fit them.
 */
import type { Role } from "./roles.ts";

/** A line for the run's log. */
export type MessageEvent = { type: "message"; level: "info" | "warn"; text: string };

/** The progress of one model call. */
export type LlmCallEvent =
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
    };

/** Everything LlmService reports. */
export type LlmEvent = LlmCallEvent | MessageEvent;

export type LlmEventSink = (event: LlmEvent) => void;

/** The phases of a model call's time: waiting for a sequence, reading the prompt, generating. */
export type CallPhase = "waiting" | "reading" | "generating";

/** Where a run's time goes (src/progress/TimeSplit.ts): `begin` marks a phase's start and returns its end. */
export interface CallTimer {
  begin(phase: CallPhase): () => void;
}
