import { createHash } from "node:crypto";
import type { z } from "zod";
import { describeError, isAbortError, isUserError, UserError } from "../errors.ts";
import type { EventSink } from "../progress/events.ts";
import type { TimeSplit } from "../progress/TimeSplit.ts";
import { fitPrompt, promptRoom } from "./fitPrompt.ts";
import { zodToGrammarSchema } from "./jsonSchema.ts";
import { describeUnread, type PromptSource, type UnreadUnit, unreadUnits } from "./promptUnits.ts";
import type { Role } from "./roles.ts";
import type { BackendForRole, BackendResult, ChatPrompt } from "./types.ts";

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
  events?: EventSink;
  /** Temperature of the first attempt; 0 (greedy) gives reproducible output. */
  temperature?: number;
  /** Where the calls' time goes (waiting for a sequence, reading, generating), for the run's summary. */
  times?: TimeSplit;
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

  private async call(
    request: LlmRequest,
    grammarSchema: ReturnType<typeof zodToGrammarSchema> | undefined,
    temperature: number,
    seed: number | undefined,
  ): Promise<BackendResult> {
    const { store, events, times } = this.options;
    const runId = request.runId;
    const backend = this.options.backendFor(request.role);
    // Every role's prompt fits the context (before the memo key, so a resumed call finds its memo).
    const fitted = fitPrompt(request.prompt, request.maxTokens, {
      contextTokens: backend.contextTokens,
      countTokens: (t) => this.countTokens(request.role, t),
    });
    // Units the model will not read in full are recorded before the call (a resumed call finds its memo and records them again).
    const unread = unreadUnits({ ...request, user: request.prompt.user }, fitted.shortened?.userLeftOut);
    if (unread.length > 0) store?.recordUnread?.(runId, unread);
    if (fitted.shortened) {
      const units = describeUnread(unread.filter((u) => u.why === "context-cut"));
      events?.({
        type: "message",
        level: "warn",
        text: `${request.callKey}: the ${request.role} prompt was shortened from ${fitted.shortened.from} to ${fitted.shortened.to} tokens to fit the model's context of ${backend.contextTokens}${units ? ` (${request.source?.file}: ${units})` : ""}`,
      });
    }
    request = { ...request, prompt: fitted.prompt, maxTokens: fitted.maxTokens };
    const memoKey = hashKey([
      request.callKey,
      backend.modelId,
      request.prompt.system,
      request.prompt.user,
      JSON.stringify(grammarSchema ?? null),
      String(request.maxTokens),
      String(temperature),
      String(seed ?? ""),
    ]);
    const cached = store?.getMemo(runId, memoKey);
    if (cached) {
      this.counters.memoHits++;
      events?.({
        type: "llm_call_finished",
        role: request.role,
        ...(request.affinityKey !== undefined ? { path: request.affinityKey } : {}),
        outputTokens: 0,
        ms: 0,
        memo: true,
      });
      return cached;
    }
    const role = request.role;
    const file = request.affinityKey !== undefined ? { path: request.affinityKey } : {};
    const queued = performance.now();
    let started = queued;
    let firstTextAt: number | undefined;
    let running = false;
    // Where the call's time goes: waiting for a sequence, then reading the prompt, then generating.
    let endPhase = times?.begin("waiting");
    const enter = (phase: "reading" | "generating") => {
      endPhase?.();
      endPhase = times?.begin(phase);
    };
    const progress = new CallProgress((read, generated, ms) => events?.({ type: "llm_tokens", role, ...file, read, generated, ms }), queued);
    const startOnce = () => {
      if (running) return;
      running = true;
      started = performance.now();
      progress.restart(started);
      enter("reading");
      events?.({ type: "llm_call_started", role, ...file, waitMs: started - queued });
    };
    let result: BackendResult;
    try {
      result = await backend.generate({
        onStart: startOnce,
        onFirstToken: () => {
          if (firstTextAt !== undefined) return;
          firstTextAt = performance.now();
          enter("generating");
          progress.flush();
        },
        onProgress: (p) => progress.update(p),
        role,
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
      endPhase?.();
      if (running) {
        progress.flush();
        events?.({ type: "llm_call_finished", role, ...file, outputTokens: 0, ms: performance.now() - started, memo: false, waitMs: started - queued });
      }
      // A model that fails fails for every file: named as a model failure, it stops the run (resumable).
      if (isAbortError(e) || isUserError(e)) throw e;
      throw new UserError(
        "MODEL_GENERATION_FAILED",
        `The ${request.role} model (${backend.modelId}) failed during generation: ${describeError(e)}`,
        "Finished work is saved: check the model (file, memory, server), then resume with --resume.",
        { cause: e },
      );
    }
    startOnce();
    endPhase?.();
    const ended = performance.now();
    const ms = ended - started;
    const evaluated = Math.max(0, result.inputTokens - (result.reusedInputTokens ?? 0));
    this.counters.calls++;
    this.counters.inputTokens += result.inputTokens;
    this.counters.reusedInputTokens += result.reusedInputTokens ?? 0;
    this.counters.outputTokens += result.outputTokens;
    // The last report brings the call's sums to the result's counts.
    progress.update({ read: evaluated, generated: result.outputTokens });
    progress.flush();
    events?.({
      type: "llm_call_finished",
      role,
      ...file,
      outputTokens: result.outputTokens,
      ms,
      memo: false,
      readMs: (firstTextAt ?? ended) - started,
      waitMs: started - queued,
      promptTokens: result.inputTokens,
      evaluatedTokens: evaluated,
    });
    // An aborted generation is partial: never memoize it.
    if (result.stopReason !== "abort") {
      store?.putMemo(runId, memoKey, result, {
        runId,
        callKey: request.callKey,
        role: request.role,
        modelId: backend.modelId,
        inputTokens: result.inputTokens,
        outputTokens: result.outputTokens,
        ms: Math.round(ms),
        stopReason: result.stopReason,
      });
    }
    return result;
  }
}

/** Token counts LlmService remembers (the most recently used). */
const TOKEN_COUNTS_KEPT = 512;

function hashKey(parts: readonly string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\u0000");
  return h.digest("hex");
}

/** Reports at most about once a second per call: enough for rates on a display, few events for many calls. */
const REPORT_EVERY_MS = 1000;

/**
 * A running call's token counts as its engine reports them (running totals), turned into
 * `llm_tokens` deltas: throttled, never negative, and flushed at the first generated text and at
 * the end, so the deltas of a call sum to its result's counts (or to what the engine reported, when
 * that was more).
 */
class CallProgress {
  private seen = { read: 0, generated: 0 };
  private sent = { read: 0, generated: 0 };
  private last: number;

  constructor(
    private readonly send: (read: number, generated: number, ms: number) => void,
    start: number,
  ) {
    this.last = start;
  }

  /** The call got its sequence: reports cover the time from here. */
  restart(at: number): void {
    this.last = at;
  }

  update(p: { read?: number; generated?: number }): void {
    if (p.read !== undefined && p.read > this.seen.read) this.seen.read = p.read;
    if (p.generated !== undefined && p.generated > this.seen.generated) this.seen.generated = p.generated;
    if (performance.now() - this.last >= REPORT_EVERY_MS) this.flush();
  }

  flush(): void {
    const read = this.seen.read - this.sent.read;
    const generated = this.seen.generated - this.sent.generated;
    if (read <= 0 && generated <= 0) return;
    const now = performance.now();
    this.send(Math.max(0, read), Math.max(0, generated), now - this.last);
    this.sent = { ...this.seen };
    this.last = now;
  }
}
