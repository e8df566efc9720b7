import type { GrammarSchema } from "./jsonSchema.ts";
import type { Role } from "./roles.ts";

export type StopReason = "eogToken" | "maxTokens" | "abort" | "stopGenerationTrigger" | "other";

/** One chat-style prompt: a system message and a user message. */
export interface ChatPrompt {
  system: string;
  user: string;
}

/** What a backend is asked to generate. */
export interface BackendRequest {
  role: Role;
  /** The caller's key of this call (`file|role|item|round#attempt`), for timelines and benchmarks. */
  callKey?: string;
  prompt: ChatPrompt;
  /** When set, decoding is constrained by a grammar compiled from this schema. */
  grammarSchema?: GrammarSchema;
  maxTokens: number;
  /** 0 means greedy (deterministic). */
  temperature: number;
  seed?: number;
  signal?: AbortSignal;
  /** Called when the call gets its sequence and starts (after any wait for a free one). */
  onStart?: () => void;
  /** Called when the first generated text arrives (the prompt is evaluated by then); for timing. */
  onFirstToken?: () => void;
  /**
   * Called as the engine works, with the call's running totals: `read` prompt tokens evaluated so
   * far (not those served from a KV cache), `generated` tokens so far; each where the engine tells
   * (llama-server reports reading as it goes, node-llama-cpp once the prompt is read). For the live
   * display only: the result's counts are what is recorded.
   */
  onProgress?: (progress: { read?: number; generated?: number }) => void;
  /**
   * Calls with the same key share a prompt prefix (one file's calls: the file's units come first).
   * A backend prefers the sequence that served this key last, so the prefix is still in its KV
   * cache and only the rest of the prompt is evaluated.
   */
  affinityKey?: string;
  /**
   * How far along its work the caller is (a file's stage: 0 extractor … 3 validator). When sequences
   * are short, later stages go first, so files already in flight finish before new ones start.
   */
  priority?: number;
}

export interface BackendResult {
  text: string;
  /** Every prompt token of the call, whether evaluated or served from a KV cache. */
  inputTokens: number;
  /** Of `inputTokens`, those served from the sequence's (or server slot's) KV cache rather than evaluated. */
  reusedInputTokens?: number;
  /** The sequence (slot) that served the call, where the backend has numbered ones; for timelines. */
  sequence?: number;
  outputTokens: number;
  stopReason: StopReason;
  /**
   * Grammar-constrained sampling of this call, where the engine reports it (the project's patched
   * llama-server): tokens checked against the grammar, of those rejected, and the time spent after
   * rejections (candidate checks and full-vocabulary masks). For benchmarks.
   */
  grammar?: { checked: number; rejected: number; rejectMs: number };
}

/**
 * A loaded model that generates for one or more roles. Implementations own their concurrency:
 * `generate` waits for a free sequence instead of failing when all are busy.
 */
export interface ModelBackend {
  /** Stable identity of the weights (file name and size), recorded with every call. */
  readonly modelId: string;
  /** Tokens one sequence can hold (prompt plus generation). */
  readonly contextTokens: number;
  generate(request: BackendRequest): Promise<BackendResult>;
  countTokens(text: string): number;
}

/** Picks the backend that serves each role. */
export type BackendForRole = (role: Role) => ModelBackend;
