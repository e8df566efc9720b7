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
  free: number;
  inFlight: Record<Role, number>;
  waiting: Record<Role, number>;
}

interface Waiter {
  role: Role;
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
 * - When a slot frees, roles with waiters take turns (round-robin from the role after the one
 *   served last), so a burst of one role cannot starve the others.
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
  private lastServed = -1;

  constructor(slots: number, caps: Partial<Record<Role, number>> = {}) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`slots must be a positive integer, got ${slots}`);
    this.slots = slots;
    this.caps = zero();
    for (const role of ROLES) {
      const cap = caps[role] ?? slots;
      if (!Number.isInteger(cap) || cap < 0) throw new Error(`cap for ${role} must be a non-negative integer, got ${cap}`);
      this.caps[role] = cap;
    }
    // Pop from the end: slot 0 is handed out first.
    this.freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }

  acquire(role: Role, signal?: AbortSignal): Promise<Lease> {
    if (this.caps[role] === 0) return Promise.reject(new Error(`role ${role} has no agents on this model`));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = { role, resolve, reject, signal };
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

  stats(): SchedulerStats {
    const waiting = zero();
    for (const role of ROLES) waiting[role] = this.queues[role].length;
    return { slots: this.slots, free: this.freeSlots.length, inFlight: { ...this.inFlight }, waiting };
  }

  private dispatch(): void {
    while (this.freeSlots.length > 0) {
      const role = this.nextRole();
      if (role === undefined) return;
      const waiter = this.queues[role].shift();
      const slot = this.freeSlots.pop();
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
          this.dispatch();
        },
      });
    }
  }

  private nextRole(): Role | undefined {
    for (let k = 1; k <= ROLES.length; k++) {
      const idx = (this.lastServed + k) % ROLES.length;
      const role = ROLES[idx];
      if (role === undefined) continue;
      if (this.queues[role].length > 0 && this.inFlight[role] < this.caps[role]) {
        this.lastServed = idx;
        return role;
      }
    }
    return undefined;
  }
}

function abortReason(signal: AbortSignal): unknown {
  if (signal.reason instanceof Error) return signal.reason;
  const e = new Error("The operation was aborted");
  e.name = "AbortError";
  return e;
}
