import type { CallPhase, CallTimer, LlmEventSink } from "./llmEvents.ts";
import type { Role } from "./roles.ts";
import type { BackendResult } from "./types.ts";

/**
 * What one model call reports while the engine runs it: its time to the run's split (waiting for
 * a sequence, then reading the prompt, then generating) and its events (`llm_call_started`,
 * `llm_tokens`, `llm_call_finished`). The backend's callbacks are `start`, `firstToken` and
 * `update`; `failed` or `finished` closes the call.
 */
export class CallReport {
  private readonly queued = performance.now();
  private started = this.queued;
  private firstTextAt: number | undefined;
  private running = false;
  private endPhase: (() => void) | undefined;
  private readonly file: { path?: string };
  private readonly progress: CallProgress;

  constructor(
    private readonly role: Role,
    affinityKey: string | undefined,
    private readonly events: LlmEventSink | undefined,
    private readonly times: CallTimer | undefined,
  ) {
    this.file = affinityKey !== undefined ? { path: affinityKey } : {};
    this.endPhase = times?.begin("waiting");
    this.progress = new CallProgress((read, generated, ms) => events?.({ type: "llm_tokens", role, ...this.file, read, generated, ms }), this.queued);
  }

  /** The call got its sequence (once: a backend that never says so is taken to start when it returns). */
  readonly start = (): void => {
    if (this.running) return;
    this.running = true;
    this.started = performance.now();
    this.progress.restart(this.started);
    this.enter("reading");
    this.events?.({ type: "llm_call_started", role: this.role, ...this.file, waitMs: this.started - this.queued });
  };

  /** The first generated text: the prompt is read. */
  readonly firstToken = (): void => {
    if (this.firstTextAt !== undefined) return;
    this.firstTextAt = performance.now();
    this.enter("generating");
    this.progress.flush();
  };

  /** The engine's running totals. */
  readonly update = (p: { read?: number; generated?: number }): void => this.progress.update(p);

  /** The engine failed: a call that had started is reported finished with nothing. */
  failed(): void {
    this.endPhase?.();
    if (!this.running) return;
    this.progress.flush();
    this.events?.({
      type: "llm_call_finished",
      role: this.role,
      ...this.file,
      outputTokens: 0,
      ms: performance.now() - this.started,
      memo: false,
      waitMs: this.started - this.queued,
    });
  }

  /** The engine answered: the last report brings the call's sums to the result's counts. Returns the call's time from its start. */
  finished(result: BackendResult): number {
    this.start();
    this.endPhase?.();
    const ended = performance.now();
    const ms = ended - this.started;
    const evaluated = Math.max(0, result.inputTokens - (result.reusedInputTokens ?? 0));
    this.progress.update({ read: evaluated, generated: result.outputTokens });
    this.progress.flush();
    this.events?.({
      type: "llm_call_finished",
      role: this.role,
      ...this.file,
      outputTokens: result.outputTokens,
      ms,
      memo: false,
      readMs: (this.firstTextAt ?? ended) - this.started,
      waitMs: this.started - this.queued,
      promptTokens: result.inputTokens,
      evaluatedTokens: evaluated,
    });
    return ms;
  }

  private enter(phase: CallPhase): void {
    this.endPhase?.();
    this.endPhase = this.times?.begin(phase);
  }
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
