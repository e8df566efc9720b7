import type { Role } from "./roles.ts";
import { ROLES } from "./roles.ts";

export interface Lease {
  /** Index of the slot (context sequence) this lease holds. */
  readonly slot: number;
  readonly role: Role;
  /** Returns the slot; calling it twice is a no-op. */
  release(): void;
}

export interface SchedulerStats {
  slots: number;
  /** Leases out at once at most (the slots unless limitActive lowered it). */
  maxActive: number;
  free: number;
  inFlight: Record<Role, number>;
  waiting: Record<Role, number>;
}

/** What a caller may say about a call besides its role. */
export interface AcquireOptions {
  signal?: AbortSignal;
  /** Calls with the same key get the slot that served the key last when it is free (its KV cache holds their shared prefix). */
  affinityKey?: string;
  /** Higher goes first among waiting calls (a file's later stage before another file's first); default 0. */
  priority?: number;
}

interface Waiter {
  role: Role;
  priority: number;
  affinityKey?: string;
  resolve: (lease: Lease) => void;
  reject: (e: unknown) => void;
  onAbort?: () => void;
  signal?: AbortSignal;
}

function zero(): Record<Role, number> {
  return { extractor: 0, researcher: 0, writer: 0, validator: 0, synthesizer: 0 };
}

/**
 * Hands a fixed set of slots (the sequences of one context) to callers, fairly across roles.
 *
 * - Never more leases out than slots: callers wait (backpressure), they never get an error.
 * - Each role has a cap (its agent count); a role at its cap waits even if slots are free.
 * - When a slot frees, the waiting call with the highest priority goes first (files already in
 *   flight finish before new ones start); among equal priorities roles take turns (round-robin
 *   from the role after the one served last), so a burst of one role cannot starve the others.
 * - Slot choice keeps KV caches useful: a call with an affinity key gets the slot its key used
 *   last when that slot is free; other calls get the free slot used longest ago, so the slots of
 *   recent keys keep their prefixes.
 */
export class FairScheduler {
  readonly slots: number;
  private readonly caps: Record<Role, number>;
  private readonly freeSlots: number[];
  private readonly queues: Record<Role, Waiter[]> = {
    extractor: [],
    researcher: [],
    writer: [],
    validator: [],
    synthesizer: [],
  };
  private readonly inFlight = zero();
  private maxActive: number;
  /** After a limited engine's call ends, how long its key keeps the engine for its next call. */
  private holdMs = 0;
  private hold: { key: string; priority: number; timer: ReturnType<typeof setTimeout> } | undefined;
  private lastServed = -1;
  /** Affinity key each slot served last, and when (a counter). */
  private readonly slotKey: (string | undefined)[];
  private readonly slotUsed: number[];
  private readonly keySlot = new Map<string, number>();
  private clock = 0;

  constructor(slots: number, caps: Partial<Record<Role, number>> = {}) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`slots must be a positive integer, got ${slots}`);
    this.slots = slots;
    this.maxActive = slots;
    this.caps = zero();
    for (const role of ROLES) {
      const cap = caps[role] ?? slots;
      if (!Number.isInteger(cap) || cap < 0) throw new Error(`cap for ${role} must be a non-negative integer, got ${cap}`);
      this.caps[role] = cap;
    }
    // Pop from the end: slot 0 is handed out first.
    this.freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
    this.slotKey = Array.from({ length: slots }, () => undefined);
    this.slotUsed = Array.from({ length: slots }, () => 0);
  }

  /** `options` may be an AbortSignal (older callers) or the call's options. */
  acquire(role: Role, options?: AbortSignal | AcquireOptions): Promise<Lease> {
    const opts: AcquireOptions = options instanceof AbortSignal ? { signal: options } : (options ?? {});
    const signal = opts.signal;
    if (this.caps[role] === 0) return Promise.reject(new Error(`role ${role} has no agents on this model`));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = { role, resolve, reject, signal, priority: opts.priority ?? 0, affinityKey: opts.affinityKey };
      if (signal) {
        waiter.onAbort = () => {
          const q = this.queues[role];
          const i = q.indexOf(waiter);
          if (i >= 0) {
            q.splice(i, 1);
            reject(abortReason(signal));
          }
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.queues[role].push(waiter);
      this.dispatch();
    });
  }

  /**
   * Leases out at most `n` slots at once while keeping all of them for cache affinity: on an engine
   * where more calls at once only share the same compute (a CPU), the waiting call with the highest
   * priority gets the engine instead of every call getting a share of it.
   *
   * `holdMs`: a call's key keeps the engine that long after the call ends, for its next call (a file
   * issues its next call a few ms after the last one returns), unless a call of higher priority
   * waits. Without it the engine goes to whichever call waits at that instant and a file of the
   * highest priority takes turns with the others instead of going first.
   */
  limitActive(n: number, holdMs = 0): void {
    if (!Number.isInteger(n) || n < 1) throw new Error(`active calls must be a positive integer, got ${n}`);
    if (!(holdMs >= 0)) throw new Error(`hold must be >= 0 ms, got ${holdMs}`);
    this.maxActive = Math.min(n, this.slots);
    this.holdMs = holdMs;
    this.dispatch();
  }

  stats(): SchedulerStats {
    const waiting = zero();
    for (const role of ROLES) waiting[role] = this.queues[role].length;
    return { slots: this.slots, maxActive: this.maxActive, free: this.freeSlots.length, inFlight: { ...this.inFlight }, waiting };
  }

  private dispatch(): void {
    while (this.freeSlots.length > 0 && this.slots - this.freeSlots.length < this.maxActive) {
      const next = this.nextWaiter();
      if (next === undefined) return;
      const { role, index } = next;
      const candidate = this.queues[role][index];
      if (this.hold && candidate) {
        // Held for a key: only its own next call or a more urgent one goes now.
        if (candidate.affinityKey !== this.hold.key && candidate.priority <= this.hold.priority) return;
        clearTimeout(this.hold.timer);
        this.hold = undefined;
      }
      const waiter = this.queues[role].splice(index, 1)[0];
      const slot = waiter ? this.takeSlot(waiter.affinityKey) : undefined;
      if (waiter === undefined || slot === undefined) return;
      if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
      this.inFlight[role]++;
      let released = false;
      waiter.resolve({
        slot,
        role,
        release: () => {
          if (released) return;
          released = true;
          this.inFlight[role]--;
          this.freeSlots.push(slot);
          if (this.holdMs > 0 && this.maxActive < this.slots && waiter.affinityKey !== undefined) {
            if (this.hold) clearTimeout(this.hold.timer);
            // Not unref'd: while calls wait for the hold, this timer may be all that keeps the process alive.
            const timer = setTimeout(() => {
              this.hold = undefined;
              this.dispatch();
            }, this.holdMs);
            this.hold = { key: waiter.affinityKey, priority: waiter.priority, timer };
          }
          this.dispatch();
        },
      });
    }
  }

  /** The waiting call to serve next: highest priority; ties go round-robin across roles, FIFO within one. */
  private nextWaiter(): { role: Role; index: number } | undefined {
    let best: { role: Role; index: number; priority: number; roleIdx: number } | undefined;
    for (let k = 1; k <= ROLES.length; k++) {
      const roleIdx = (this.lastServed + k) % ROLES.length;
      const role = ROLES[roleIdx];
      if (role === undefined || this.inFlight[role] >= this.caps[role]) continue;
      const q = this.queues[role];
      for (let i = 0; i < q.length; i++) {
        const p = q[i]?.priority ?? 0;
        if (best === undefined || p > best.priority) best = { role, index: i, priority: p, roleIdx };
      }
    }
    if (best === undefined) return undefined;
    this.lastServed = best.roleIdx;
    return { role: best.role, index: best.index };
  }

  /** The key's own slot when free, else the free slot used longest ago. */
  private takeSlot(key: string | undefined): number | undefined {
    let pick = -1;
    const own = key === undefined ? undefined : this.keySlot.get(key);
    if (own !== undefined && this.slotKey[own] === key) pick = this.freeSlots.indexOf(own);
    if (pick < 0) {
      // Never-used slots first (in the order they were created), then the least recently used.
      for (let i = this.freeSlots.length - 1; i >= 0; i--) {
        const s = this.freeSlots[i] ?? 0;
        if (pick < 0 || (this.slotUsed[s] ?? 0) < (this.slotUsed[this.freeSlots[pick] ?? 0] ?? 0)) pick = i;
      }
    }
    if (pick < 0) return undefined;
    const slot = this.freeSlots.splice(pick, 1)[0];
    if (slot === undefined) return undefined;
    const old = this.slotKey[slot];
    if (old !== undefined && old !== key && this.keySlot.get(old) === slot) this.keySlot.delete(old);
    this.slotKey[slot] = key;
    this.slotUsed[slot] = ++this.clock;
    if (key !== undefined) this.keySlot.set(key, slot);
    return slot;
  }
}

function abortReason(signal: AbortSignal): unknown {
  if (signal.reason instanceof Error) return signal.reason;
  const e = new Error("The operation was aborted");
  e.name = "AbortError";
  return e;
}
