/** What a run's time goes to, in the user's terms. */
export type Phase = "waiting" | "reading" | "generating" | "research" | "codeCheck";

const PHASES: readonly Phase[] = ["waiting", "reading", "generating", "research", "codeCheck"];

/** One phase's time: summed over the operations (they overlap), and the wall-clock time during which at least one ran. */
export interface PhaseTime {
  summedMs: number;
  wallMs: number;
  /** Operations that ended (model calls for the model phases, searches, code checks). */
  count: number;
}

/**
 * Where a run's time goes: waiting for a model sequence, reading prompts, generating, research and
 * code checks. Each operation marks its start with `begin` and its end with the function it returns;
 * the split keeps, per phase, the time summed over operations and the wall-clock time during which
 * at least one was under way (so shares of the run add up to no more than 100% per phase).
 * LlmService times the model phases, createServices the research and the code checks; the summary
 * and the job benchmark read `totals()`.
 */
export class TimeSplit {
  private readonly phases = new Map<Phase, { summedMs: number; wallMs: number; count: number; active: number; since: number }>();
  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
    for (const p of PHASES) this.phases.set(p, { summedMs: 0, wallMs: 0, count: 0, active: 0, since: 0 });
  }

  /** Marks the start of an operation in `phase`; call the returned function once, at its end. */
  begin(phase: Phase): () => void {
    const p = this.phases.get(phase);
    if (!p) throw new Error(`unknown phase ${phase}`);
    const start = this.now();
    if (p.active++ === 0) p.since = start;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const end = this.now();
      p.summedMs += end - start;
      p.count++;
      if (--p.active === 0) p.wallMs += end - p.since;
    };
  }

  /** Times an async operation in `phase`. */
  async time<T>(phase: Phase, fn: () => Promise<T>): Promise<T> {
    const end = this.begin(phase);
    try {
      return await fn();
    } finally {
      end();
    }
  }

  /** Each phase's totals so far: an operation still under way counts in the wall time up to now, in the sum once it ends. */
  totals(): Record<Phase, PhaseTime> {
    const now = this.now();
    const out = {} as Record<Phase, PhaseTime>;
    for (const [phase, p] of this.phases) out[phase] = { summedMs: p.summedMs, wallMs: p.wallMs + (p.active > 0 ? now - p.since : 0), count: p.count };
    return out;
  }
}
