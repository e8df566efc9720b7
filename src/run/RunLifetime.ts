import { EventEmitter, setMaxListeners } from "node:events";
import { InterruptedError } from "../errors.ts";

type Cleanup = () => Promise<void> | void;

/**
 * What a run opened and how it stops: one abort signal every waiting call and file slot listens on
 * (aborted by the caller's signal too), and the things to close, closed last-opened first.
 */
export class RunLifetime {
  private readonly controller = new AbortController();
  private readonly cleanups: Cleanup[] = [];

  constructor(outer?: AbortSignal) {
    // Every waiting LLM call and file slot listens on this one signal, and LangGraph adds a listener per
    // Send task to the signals it derives from it (langgraphjs#1014): no spurious leak warnings.
    setMaxListeners(0, this.controller.signal);
    if (EventEmitter.defaultMaxListeners < 1000) setMaxListeners(1000);
    if (!outer) return;
    const onOuterAbort = () => this.abort(outer.reason ?? new InterruptedError("abort"));
    if (outer.aborted) onOuterAbort();
    outer.addEventListener("abort", onOuterAbort, { once: true });
    this.onClose(() => outer.removeEventListener("abort", onOuterAbort));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(reason: unknown = new InterruptedError("abort")): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  onClose(cleanup: Cleanup): void {
    this.cleanups.push(cleanup);
  }

  /** Closes everything in reverse order; each close is best effort (the run's state is already saved). */
  async closeAll(): Promise<void> {
    for (const c of this.cleanups.reverse()) {
      try {
        await c();
      } catch {
        // best effort: the run's state is already saved
      }
    }
    this.cleanups.length = 0;
  }
}
