/**
 * Benchmarks on a shared 2-core machine: other people's processes preempt ggml's spinning worker
 * threads and wreck multi-threaded timings (measured here: 4 tok/s instead of ~60 under load).
 * These helpers wait until everyone else is quiet before a sample and measure how much CPU other
 * processes used during it, so contaminated samples can be thrown away and counted.
 *
 * "Other processes" are all but this process and its descendants (read from /proc; Linux only:
 * elsewhere nothing is counted and samples are taken as they come).
 */

import fs from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU ticks (user+system) used so far by every process except this one and its descendants, by pid. */
export function otherCpuTicks(): Map<number, number> {
  const ticks = new Map<number, number>();
  const parent = new Map<number, number>();
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return ticks;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
      // after the ")" closing the command name: state, ppid, ... utime (14th field overall), stime (15th)
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(e), Number(rest[1]));
      ticks.set(Number(e), Number(rest[11]) + Number(rest[12]));
    } catch {
      // exited meanwhile, or not readable
    }
  }
  const isOurs = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) if (p === process.pid) return true;
    return false;
  };
  for (const pid of [...ticks.keys()]) if (isOurs(pid)) ticks.delete(pid);
  return ticks;
}

/** CPU-seconds other processes used between two snapshots (processes that started in between count fully). */
export function otherCpuSecondsBetween(a: Map<number, number>, b: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, t] of b) ticks += t - (a.get(pid) ?? 0);
  return Math.max(0, ticks) / TICKS_PER_SECOND;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface QuietOptions {
  /** Others may use at most this share of one core over the window (default 0.05). */
  maxOtherShare?: number;
  windowMs?: number;
  /** Give up waiting after this long and measure anyway (default 10 min). */
  timeoutMs?: number;
}

/** Waits until other processes used less than maxOtherShare of a core for windowMs; returns the wait in ms. */
export async function waitForQuiet(o: QuietOptions = {}): Promise<number> {
  const share = o.maxOtherShare ?? 0.05;
  const windowMs = o.windowMs ?? 1500;
  const t0 = Date.now();
  for (;;) {
    const a = otherCpuTicks();
    await sleep(windowMs);
    const used = otherCpuSecondsBetween(a, otherCpuTicks());
    if (used / (windowMs / 1000) <= share) return Date.now() - t0;
    if (Date.now() - t0 > (o.timeoutMs ?? 600_000)) return Date.now() - t0;
  }
}

export interface QuietSample<T> {
  value: T;
  /** CPU-seconds other processes used during the sample, per second of wall time. */
  otherShare: number;
  /** Attempts thrown away because others were busy. */
  discarded: number;
}

/**
 * Runs `measure` when the machine is quiet and repeats it (up to `attempts` times) if other
 * processes used more than `maxOtherShare` of a core while it ran.
 */
export async function quietSample<T>(measure: () => Promise<T>, o: QuietOptions & { attempts?: number } = {}): Promise<QuietSample<T>> {
  const max = o.maxOtherShare ?? 0.05;
  let discarded = 0;
  for (let attempt = 0; ; attempt++) {
    await waitForQuiet(o);
    const a = otherCpuTicks();
    const t0 = performance.now();
    const value = await measure();
    const wall = (performance.now() - t0) / 1000;
    const otherShare = otherCpuSecondsBetween(a, otherCpuTicks()) / Math.max(wall, 1e-3);
    if (otherShare <= max * 2 || attempt + 1 >= (o.attempts ?? 5)) return { value, otherShare, discarded };
    discarded++;
  }
}
