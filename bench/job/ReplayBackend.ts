/**
 * A model backend for the job benchmark's replay mode: answers come from a fixed recipe, tokens
 * from a real tokenizer and chat template, and sequences from the same FairScheduler the real
 * backends use. Each sequence's KV cache is simulated as node-llama-cpp keeps it: the tokens of the
 * sequence's last call (prompt + answer) stay, and a call evaluates only what follows the prefix its
 * prompt shares with them (at least one token).
 */
import { FairScheduler } from "../../src/llm/FairScheduler.ts";
import type { PromptTokenizer } from "../../src/llm/LlamaBackend.ts";
import type { Role } from "../../src/llm/roles.ts";
import type { BackendRequest, BackendResult, ModelBackend } from "../../src/llm/types.ts";
import type { ReplayRecipe } from "./replayRecipe.ts";

/** One call as the benchmark records it. */
export interface ReplayCall {
  index: number;
  role: Role;
  /** The file the call is about ("(run)" for the synthesize step's cross-file judgements). */
  file: string;
  slot: number;
  promptTokens: number;
  reusedPromptTokens: number;
  generatedTokens: number;
}

export interface ReplayBackendOptions {
  tokenizer: PromptTokenizer;
  recipe: ReplayRecipe;
  sequences: number;
  roleCaps: Partial<Record<Role, number>>;
  contextTokens: number;
  /** Keep each sequence's tokens between calls (node-llama-cpp since the prefix-reuse change); false: cleared after every call. */
  kvReuse: boolean;
  /** Sees every call with its prompt tokens (through the chat template) and answer (training-data capture). */
  onCall?: (call: ReplayCall, request: BackendRequest, promptTokens: readonly number[], answer: { text: string; valid: boolean }) => void;
}

export class ReplayBackend implements ModelBackend {
  readonly modelId: string;
  readonly contextTokens: number;
  readonly scheduler: FairScheduler;
  readonly calls: ReplayCall[] = [];
  private readonly held: number[][];
  private readonly o: ReplayBackendOptions;

  constructor(options: ReplayBackendOptions) {
    this.o = options;
    this.modelId = `replay:${options.tokenizer.modelId}`;
    this.contextTokens = options.contextTokens;
    this.scheduler = new FairScheduler(options.sequences, options.roleCaps);
    this.held = Array.from({ length: options.sequences }, () => []);
  }

  countTokens(text: string): number {
    return this.o.tokenizer.countTokens(text);
  }

  async generate(request: BackendRequest): Promise<BackendResult> {
    const lease = await this.scheduler.acquire(request.role, { signal: request.signal, affinityKey: request.affinityKey, priority: request.priority });
    try {
      request.onStart?.();
      const prompt = this.o.tokenizer.promptTokens(request.prompt.system, request.prompt.user);
      const held = this.held[lease.slot] ?? [];
      let reused = 0;
      if (this.o.kvReuse) while (reused < prompt.length - 1 && reused < held.length && held[reused] === prompt[reused]) reused++;
      const answer = this.o.recipe.answerOf(request);
      const text = answer.text;
      const generated = this.o.tokenizer.countTokens(text) + 1; // + the end-of-generation token
      this.held[lease.slot] = this.o.kvReuse ? [...prompt, ...this.o.tokenizer.tokenize(text)] : [];
      const call: ReplayCall = {
        index: this.calls.length,
        role: request.role,
        file: this.o.recipe.fileOf(request)?.relPath ?? "(run)",
        slot: lease.slot,
        promptTokens: prompt.length,
        reusedPromptTokens: reused,
        generatedTokens: generated,
      };
      this.calls.push(call);
      this.o.onCall?.(call, request, prompt, answer);
      // Let other callers interleave as they would while a real model generates.
      await new Promise((r) => setImmediate(r));
      return { text, inputTokens: prompt.length, reusedInputTokens: reused, outputTokens: generated, stopReason: "eogToken" };
    } finally {
      lease.release();
    }
  }
}
