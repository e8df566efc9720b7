/**
 * The in-process engine: llama.cpp through node-llama-cpp (loaded via ./llamaCpp.ts). Nothing here
 * runs at import time: `getLlama` and model loading happen in `openLlama` /
 * `LlamaModelBackend.load`, called by the CLI after the input and model have been checked.
 */

import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.ts";
import { FairScheduler } from "./FairScheduler.ts";
import {
  type ChatHistoryItem,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  loadLlamaCpp,
} from "./llamaCpp.ts";
import type { Role } from "./roles.ts";
import type { BackendRequest, BackendResult, ModelBackend, StopReason } from "./types.ts";

export interface OpenLlamaOptions {
  /** Upper bound of CPU threads all contexts together may use. */
  maxThreads: number;
  /** "auto" uses Metal/CUDA/Vulkan when present; false forces CPU. */
  gpu?: "auto" | false;
}

/** Starts llama.cpp (loads the native binding); no model yet. */
export async function openLlama(options: OpenLlamaOptions): Promise<Llama> {
  const { getLlama, LlamaLogLevel } = await loadLlamaCpp();
  // node-llama-cpp tests its native binding in a forked child that inherits execArgv: without our
  // TypeScript loader (the child runs node-llama-cpp's own JavaScript) it starts in half the time.
  const execArgv = process.execArgv;
  process.execArgv = withoutTsLoader(execArgv);
  try {
    return await getLlama({
      gpu: options.gpu ?? "auto",
      maxThreads: options.maxThreads,
      logLevel: LlamaLogLevel.error,
      // Prebuilt binaries ship in the npm package; never try a source build or a download at run time.
      build: "never",
      skipDownload: true,
      progressLogs: false,
    });
  } catch (e) {
    throw new UserError(
      "MODEL_LOAD_FAILED",
      `llama.cpp could not start on this machine: ${(e as Error).message}`,
      "Reinstall with `npm ci`; if the prebuilt binary does not fit this CPU/GPU, see `npx node-llama-cpp source build`.",
      { cause: e },
    );
  } finally {
    process.execArgv = execArgv;
  }
}

/** execArgv minus tsx's loader and our thread-pool preload (cli/threadpool.cjs), which only our own entry points need. */
export function withoutTsLoader(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] ?? "";
    const next = execArgv[i + 1] ?? "";
    if (
      (arg === "--import" || arg === "--require" || arg === "-r") &&
      (/(^|[/\\])tsx([/\\]|$)/.test(next) || next === "tsx" || /threadpool\.cjs$/.test(next))
    ) {
      i++;
      continue;
    }
    if (/^--(import|require)=(tsx|.*[/\\]tsx[/\\].*|.*threadpool\.cjs)$/.test(arg)) continue;
    out.push(arg);
  }
  return out;
}

export interface LoadModelOptions {
  modelPath: string;
  /** Parallel sequences in the one context this model gets. */
  sequences: number;
  /** Tokens per sequence. */
  contextSize: number;
  threads: number;
  /** Max concurrent calls per role (agent counts); the sum may exceed `sequences`. */
  roleCaps: Partial<Record<Role, number>>;
  batchSize?: number;
  /** Load weights with mmap (default true). */
  useMmap?: boolean;
}

/** A model loaded once, with one context of N sequences handed out by a fair scheduler. */
export class LlamaModelBackend implements ModelBackend {
  readonly modelId: string;
  readonly contextTokens: number;
  readonly scheduler: FairScheduler;
  readonly threads: number;
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();

  private constructor(
    private readonly llama: Llama,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    private readonly sequences: LlamaContextSequence[],
    modelId: string,
    threads: number,
    scheduler: FairScheduler,
  ) {
    this.modelId = modelId;
    this.contextTokens = context.contextSize;
    this.threads = threads;
    this.scheduler = scheduler;
  }

  static async load(llama: Llama, options: LoadModelOptions): Promise<LlamaModelBackend> {
    const stat = fs.statSync(options.modelPath);
    const modelId = `${path.basename(options.modelPath)}@${stat.size}`;
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: options.modelPath, useMmap: options.useMmap ?? true });
    } catch (e) {
      throw new UserError(
        "MODEL_LOAD_FAILED",
        `Could not load the model ${options.modelPath}: ${(e as Error).message}`,
        "Check that the file is a complete GGUF model (re-download it if it was cut off), or pick another with --model.",
        { cause: e },
      );
    }
    const trainContext = model.trainContextSize;
    const contextSize = Math.max(64, Math.min(options.contextSize, trainContext > 0 ? trainContext : options.contextSize));
    let context: LlamaContext;
    try {
      context = await model.createContext({
        contextSize,
        sequences: options.sequences,
        threads: options.threads,
        batchSize: options.batchSize,
      });
    } catch (e) {
      await model.dispose();
      throw new UserError(
        "MEMORY_BUDGET",
        `Could not create a context of ${options.sequences} sequences x ${contextSize} tokens for ${path.basename(options.modelPath)}: ${(e as Error).message}`,
        "Lower --concurrency or the agent counts, or the context size, and try again.",
        { cause: e },
      );
    }
    const sequences: LlamaContextSequence[] = [];
    for (let i = 0; i < options.sequences; i++) sequences.push(context.getSequence());
    const scheduler = new FairScheduler(options.sequences, options.roleCaps);
    return new LlamaModelBackend(llama, model, context, sequences, modelId, options.threads, scheduler);
  }

  countTokens(text: string): number {
    return this.model.tokenize(text, false, "trimLeadingSpace").length;
  }

  async generate(request: BackendRequest): Promise<BackendResult> {
    const { LlamaChat } = await loadLlamaCpp();
    const grammar = request.grammarSchema ? await this.grammarFor(request.grammarSchema) : undefined;
    const lease = await this.scheduler.acquire(request.role, { signal: request.signal, affinityKey: request.affinityKey, priority: request.priority });
    const sequence = this.sequences[lease.slot];
    if (!sequence) throw new Error(`no sequence at slot ${lease.slot}`);
    request.onStart?.();
    const chat = new LlamaChat({ contextSequence: sequence, autoDisposeSequence: false });
    const before = sequence.tokenMeter.getState();
    // The sequence keeps its last call's tokens: LlamaChat evaluates only what follows the prefix
    // this prompt shares with them (the scheduler sends a file's calls back to the same sequence).
    const held = sequence.contextTokens.slice();
    let ok = false;
    try {
      const history: ChatHistoryItem[] = [
        { type: "system", text: request.prompt.system },
        { type: "user", text: request.prompt.user },
        { type: "model", response: [] },
      ];
      const res = await chat.generateResponse(history, {
        maxTokens: request.maxTokens,
        grammar,
        temperature: request.temperature,
        seed: request.seed,
        signal: request.signal,
        ...(request.onFirstToken || request.onProgress ? { onTextChunk: textProgress(request, () => sequence.tokenMeter.diff(before)) } : {}),
      });
      const used = sequence.tokenMeter.diff(before);
      const prompt = promptReuse(held, sequence.contextTokens, used.usedInputTokens, used.usedOutputTokens);
      ok = true;
      return {
        text: res.response,
        inputTokens: prompt.tokens,
        reusedInputTokens: prompt.reused,
        sequence: lease.slot,
        outputTokens: used.usedOutputTokens,
        stopReason: mapStopReason(res.metadata.stopReason),
      };
    } finally {
      chat.dispose({ disposeSequence: false });
      try {
        // A failed or aborted call may leave a half-evaluated state: start the next one clean.
        if (!ok) await sequence.clearHistory();
      } finally {
        lease.release();
      }
    }
  }

  private grammarFor(schema: Record<string, unknown>): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let grammar = this.grammars.get(key);
    if (!grammar) {
      // biome-ignore lint/suspicious/noExplicitAny: the schema was produced by zodToGrammarSchema for this grammar compiler
      grammar = this.llama.createGrammarForJsonSchema(schema as any) as Promise<LlamaGrammar>;
      this.grammars.set(key, grammar);
      // Per-document schemas (evidence-ID enums) would otherwise grow this without bound.
      if (this.grammars.size > 256) {
        const first = this.grammars.keys().next().value;
        if (first !== undefined) this.grammars.delete(first);
      }
    }
    return grammar;
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}

/**
 * A call's prompt tokens and how many of them the sequence already held: the prompt is what the
 * sequence holds after the call minus the generated tokens; the reused part is the prefix it
 * shares with what the sequence held before (LlamaChat always evaluates at least the last prompt
 * token again).
 */
export function promptReuse(held: readonly unknown[], now: readonly unknown[], evaluatedInput: number, generated: number): { tokens: number; reused: number } {
  const promptLength = Math.max(0, now.length - generated);
  let i = 0;
  while (i < promptLength - 1 && i < held.length && held[i] === now[i]) i++;
  return { tokens: Math.max(evaluatedInput + i, promptLength), reused: i };
}

/**
 * The text-chunk callback that reports a call's progress: the tokens the sequence evaluated since
 * the call began (prompt tokens read, tokens generated), then, once, that the first text arrived
 * (the prompt was read by then).
 */
function textProgress(request: BackendRequest, used: () => { usedInputTokens: number; usedOutputTokens: number }): () => void {
  let first = true;
  return () => {
    const u = used();
    request.onProgress?.({ read: u.usedInputTokens, generated: u.usedOutputTokens });
    if (first) {
      first = false;
      request.onFirstToken?.();
    }
  };
}

function mapStopReason(reason: string): StopReason {
  switch (reason) {
    case "eogToken":
    case "maxTokens":
    case "abort":
    case "stopGenerationTrigger":
      return reason;
    default:
      return "other";
  }
}

/** A model's tokenizer and chat template, without its weights (for exact token counts). */
export interface PromptTokenizer {
  /** File name and size of the GGUF the vocabulary comes from. */
  readonly modelId: string;
  countTokens(text: string): number;
  tokenize(text: string): number[];
  /** The tokens of a system + user prompt as the model's chat template renders it for generation. */
  promptTokens(system: string, user: string): number[];
  dispose(): Promise<void>;
}

/** Loads only the vocabulary of a GGUF (no weights, no context) and its chat template. */
export async function loadPromptTokenizer(llama: Llama, modelPath: string): Promise<PromptTokenizer> {
  const { resolveChatWrapper } = await loadLlamaCpp();
  const stat = fs.statSync(modelPath);
  const model = await llama.loadModel({ modelPath, vocabOnly: true });
  const wrapper = resolveChatWrapper(model);
  return {
    modelId: `${path.basename(modelPath)}@${stat.size}`,
    countTokens: (text) => model.tokenize(text, false, "trimLeadingSpace").length,
    tokenize: (text) => model.tokenize(text, false, "trimLeadingSpace").map(Number),
    promptTokens: (system, user) => {
      const { contextText } = wrapper.generateContextState({
        chatHistory: [
          { type: "system", text: system },
          { type: "user", text: user },
          { type: "model", response: [] },
        ],
      });
      return contextText.tokenize(model.tokenizer).map(Number);
    },
    dispose: () => model.dispose(),
  };
}
