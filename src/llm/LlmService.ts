import { createHash } from "node:crypto";
import type { z } from "zod";
import { describeError, isAbortError, isUserError, UserError } from "../errors.ts";
import { CallReport } from "./CallReport.ts";
import { fitPrompt, promptRoom } from "./fitPrompt.ts";
import { type GrammarSchema, zodToGrammarSchema } from "./jsonSchema.ts";
import type { CallTimer, LlmEventSink } from "./llmEvents.ts";
import { describeUnread, type PromptSource, type UnreadUnit, unreadUnits } from "./promptUnits.ts";
import type { Role } from "./roles.ts";
import type { BackendForRole, BackendResult, ChatPrompt, ModelBackend } from "./types.ts";

/** A finished model call as stored for resume and accounting. */
export interface CallRecord {
  runId: string;
  callKey: string;
  role: Role;
  modelId: string;
  inputTokens: number;
  outputTokens: number;
  ms: number;
  stopReason: string;
}

/**
 * Where finished calls are remembered. The memo makes a resumed node reuse the calls it had already
 * finished before a crash, so only calls that were in flight are ever repeated.
 */
export interface CallStore {
  getMemo(runId: string, memoKey: string): BackendResult | undefined;
  putMemo(runId: string, memoKey: string, result: BackendResult, record: CallRecord): void;
  /** Records units of a file a call's model does not read in full (idempotent: a resumed call records them again). */
  recordUnread?(runId: string, units: readonly UnreadUnit[]): void;
}

export interface LlmRequest {
  /** The run (graph thread) this call belongs to: the memo is per run. */
  runId: string;
  role: Role;
  /** Stable name of this call within the run (file, node, item, round), used for the memo and ledger. */
  callKey: string;
  prompt: ChatPrompt;
  maxTokens: number;
  signal?: AbortSignal;
  /** Calls sharing a prompt prefix (one file's) share this key, so they land where that prefix is cached. */
  affinityKey?: string;
  /** A file's stage (higher first when sequences are short), so files in flight finish before new ones start. */
  priority?: number;
  /** The file the prompt is about and the units it shows: a unit the model does not read in full is recorded. */
  source?: PromptSource;
}

export interface ObjectRequest extends LlmRequest {
  /** Attempts before giving up (each later attempt samples with a different fixed seed). */
  maxAttempts?: number;
}

export interface TextResult {
  text: string;
  outputTokens: number;
  stopReason: string;
}

export type ObjectResult<T> = { ok: true; value: T; attempts: number } | { ok: false; problems: string[]; attempts: number; lastText: string };

export interface LlmCounters {
  /** Model calls actually made in this process. */
  calls: number;
  /** Calls answered from the memo (finished before an interruption). */
  memoHits: number;
  /** Every prompt token sent, whether evaluated or served from a KV cache. */
  inputTokens: number;
  /** Of `inputTokens`, those the backend served from a KV cache (a shared prefix) rather than evaluated. */
  reusedInputTokens: number;
  outputTokens: number;
}

export interface LlmServiceOptions {
  backendFor: BackendForRole;
  store?: CallStore;
  /** Where the calls' progress goes (the run's event sink: src/progress renders these events). */
  events?: LlmEventSink;
  /** Temperature of the first attempt; 0 (greedy) gives reproducible output. */
  temperature?: number;
  /** Where the calls' time goes (waiting for a sequence, reading, generating), for the run's summary. */
  times?: CallTimer;
}

/**
 * The model API every node uses: text and schema-constrained object generation with abort,
 * maxTokens, token accounting, a resume memo and bounded retries.
 */
export class LlmService {
  readonly counters: LlmCounters = { calls: 0, memoHits: 0, inputTokens: 0, reusedInputTokens: 0, outputTokens: 0 };
  private readonly options: LlmServiceOptions;
  private readonly tokenCounts = new Map<string, number>();

  constructor(options: LlmServiceOptions) {
    this.options = options;
  }

  /**
   * Tokens of `text` in the role's model's vocabulary. Remembered for the latest texts: nodes measure
   * the same prompts and units several times while they size them, and long texts take milliseconds.
   */
  countTokens(role: Role, text: string): number {
    const backend = this.options.backendFor(role);
    const key = `${backend.modelId}\u0000${text}`;
    const known = this.tokenCounts.get(key);
    if (known !== undefined) {
      this.tokenCounts.delete(key);
      this.tokenCounts.set(key, known);
      return known;
    }
    const n = backend.countTokens(text);
    this.tokenCounts.set(key, n);
    if (this.tokenCounts.size > TOKEN_COUNTS_KEPT) this.tokenCounts.delete(this.tokenCounts.keys().next().value as string);
    return n;
  }

  contextTokens(role: Role): number {
    return this.options.backendFor(role).contextTokens;
  }

  /** Tokens a role's system and user texts may take together so that an answer of `maxTokens` fits too and nothing is cut. */
  promptRoom(role: Role, maxTokens: number): number {
    return promptRoom(this.contextTokens(role), maxTokens);
  }

  async generateText(request: LlmRequest): Promise<TextResult> {
    const result = await this.call(request, undefined, this.options.temperature ?? 0, undefined);
    return { text: result.text, outputTokens: result.outputTokens, stopReason: result.stopReason };
  }

  /**
   * Generates JSON constrained by the schema's grammar, parses it and validates it with the same
   * schema. Grammars do not guarantee a valid object (truncation, out-of-range numbers), so a
   * failed parse is retried with a new seed, up to `maxAttempts`.
   */
  async generateObject<S extends z.ZodType>(schema: S, request: ObjectRequest): Promise<ObjectResult<z.infer<S>>> {
    const grammarSchema = zodToGrammarSchema(schema);
    const maxAttempts = Math.max(1, request.maxAttempts ?? 3);
    let problems: string[] = [];
    let lastText = "";
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const temperature = attempt === 0 ? (this.options.temperature ?? 0) : 0.7;
      const seed = attempt === 0 ? undefined : attempt;
      const result = await this.call({ ...request, callKey: `${request.callKey}#a${attempt}` }, grammarSchema, temperature, seed);
      lastText = result.text;
      if (result.stopReason === "maxTokens") {
        problems = [`output was cut off at maxTokens (${request.maxTokens})`];
        continue;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(result.text);
      } catch (e) {
        problems = [`not valid JSON: ${(e as Error).message}`];
        continue;
      }
      const checked = schema.safeParse(parsed);
      if (checked.success) return { ok: true, value: checked.data, attempts: attempt + 1 };
      problems = checked.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    }
    return { ok: false, problems, attempts: maxAttempts, lastText };
  }

  /**
   * One model call: the prompt fitted to the context, then the memo (a resumed node reuses the calls
   * it finished), else the engine; the result counted and remembered.
   */
  private async call(request: LlmRequest, grammarSchema: GrammarSchema | undefined, temperature: number, seed: number | undefined): Promise<BackendResult> {
    const backend = this.options.backendFor(request.role);
    // Every role's prompt fits the context (before the memo key, so a resumed call finds its memo).
    const fitted = this.fitToContext(request, backend);
    const memoKey = hashKey([
      fitted.callKey,
      backend.modelId,
      fitted.prompt.system,
      fitted.prompt.user,
      JSON.stringify(grammarSchema ?? null),
      String(fitted.maxTokens),
      String(temperature),
      String(seed ?? ""),
    ]);
    const cached = this.fromMemo(fitted, memoKey);
    if (cached) return cached;
    const { result, ms } = await this.generate(backend, fitted, grammarSchema, temperature, seed);
    this.counters.calls++;
    this.counters.inputTokens += result.inputTokens;
    this.counters.reusedInputTokens += result.reusedInputTokens ?? 0;
    this.counters.outputTokens += result.outputTokens;
    // An aborted generation is partial: never memoize it.
    if (result.stopReason !== "abort") {
      this.options.store?.putMemo(fitted.runId, memoKey, result, {
        runId: fitted.runId,
        callKey: fitted.callKey,
        role: fitted.role,
        modelId: backend.modelId,
        inputTokens: result.inputTokens,
        outputTokens: result.outputTokens,
        ms: Math.round(ms),
        stopReason: result.stopReason,
      });
    }
    return result;
  }

  /**
   * The request with its prompt fitted to the model's context. Units the model will not read in
   * full are recorded before the call (a resumed call finds its memo and records them again), and a
   * prompt that had to be cut is reported.
   */
  private fitToContext(request: LlmRequest, backend: ModelBackend): LlmRequest {
    const fitted = fitPrompt(request.prompt, request.maxTokens, {
      contextTokens: backend.contextTokens,
      countTokens: (t) => this.countTokens(request.role, t),
    });
    const unread = unreadUnits({ ...request, user: request.prompt.user }, fitted.shortened?.userLeftOut);
    if (unread.length > 0) this.options.store?.recordUnread?.(request.runId, unread);
    if (fitted.shortened) {
      const units = describeUnread(unread.filter((u) => u.why === "context-cut"));
      this.options.events?.({
        type: "message",
        level: "warn",
        text: `${request.callKey}: the ${request.role} prompt was shortened from ${fitted.shortened.from} to ${fitted.shortened.to} tokens to fit the model's context of ${backend.contextTokens}${units ? ` (${request.source?.file}: ${units})` : ""}`,
      });
    }
    return { ...request, prompt: fitted.prompt, maxTokens: fitted.maxTokens };
  }

  /** The result of this very call if it finished before (reported as a memo call, which never started). */
  private fromMemo(request: LlmRequest, memoKey: string): BackendResult | undefined {
    const cached = this.options.store?.getMemo(request.runId, memoKey);
    if (!cached) return undefined;
    this.counters.memoHits++;
    this.options.events?.({
      type: "llm_call_finished",
      role: request.role,
      ...(request.affinityKey !== undefined ? { path: request.affinityKey } : {}),
      outputTokens: 0,
      ms: 0,
      memo: true,
    });
    return cached;
  }

  /** Runs the call on the engine, reporting its phases and tokens; an engine failure becomes MODEL_GENERATION_FAILED. */
  private async generate(
    backend: ModelBackend,
    request: LlmRequest,
    grammarSchema: GrammarSchema | undefined,
    temperature: number,
    seed: number | undefined,
  ): Promise<{ result: BackendResult; ms: number }> {
    const report = new CallReport(request.role, request.affinityKey, this.options.events, this.options.times);
    let result: BackendResult;
    try {
      result = await backend.generate({
        onStart: report.start,
        onFirstToken: report.firstToken,
        onProgress: report.update,
        role: request.role,
        callKey: request.callKey,
        prompt: request.prompt,
        grammarSchema,
        maxTokens: request.maxTokens,
        temperature,
        seed,
        signal: request.signal,
        ...(request.affinityKey !== undefined ? { affinityKey: request.affinityKey } : {}),
        ...(request.priority !== undefined ? { priority: request.priority } : {}),
      });
    } catch (e) {
      report.failed();
      // A model that fails fails for every file: named as a model failure, it stops the run (resumable).
      if (isAbortError(e) || isUserError(e)) throw e;
      throw new UserError(
        "MODEL_GENERATION_FAILED",
        `The ${request.role} model (${backend.modelId}) failed during generation: ${describeError(e)}`,
        "Finished work is saved: check the model (file, memory, server), then resume with --resume.",
        { cause: e },
      );
    }
    return { result, ms: report.finished(result) };
  }
}

/** Token counts LlmService remembers (the most recently used). */
const TOKEN_COUNTS_KEPT = 512;

function hashKey(parts: readonly string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\u0000");
  return h.digest("hex");
}
