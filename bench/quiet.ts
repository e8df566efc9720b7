/**
 * Benchmarks on a shared 2-core machine: other people's processes preempt ggml's spinning worker
 * threads and wreck multi-threaded timings (measured here: 4 tok/s instead of ~60 under load).
 * These helpers wait until everyone else is quiet before a sample and measure how much CPU other
 * processes used during it, so contaminated samples can be thrown away and counted.
 *
 * "Other processes" is the machine's busy time (/proc/stat) minus that of this process and its
 * descendants (including children they reaped), so short-lived processes count too. Linux only:
 * elsewhere nothing is counted and samples are taken as they come.
 */

import fs from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Busy CPU ticks of the whole machine (all CPUs) from /proc/stat, or undefined where unavailable. */
function machineBusyTicks(): number | undefined {
  try {
    const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return f.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
  } catch {
    return undefined;
  }
}

/** CPU ticks used by this process and all its descendants, including exited children it (or they) reaped. */
function ownTreeTicks(): number {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
      // after the ")" closing the command name: state, ppid, ... utime, stime, cutime, cstime (fields 14-17)
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(e), Number(rest[1]));
      ticks.set(Number(e), Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]));
    } catch {
      // exited meanwhile, or not readable
    }
  }
  const isOurs = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) if (p === process.pid) return true;
    return false;
  };
  let sum = 0;
  for (const [pid, t] of ticks) if (isOurs(pid)) sum += t;
  return sum;
}

/** A snapshot for measuring what everyone else used: machine busy time minus our own process tree's. */
export interface CpuSnapshot {
  machine: number | undefined;
  own: number;
}

function cpuSnapshot(): CpuSnapshot {
  return { machine: machineBusyTicks(), own: ownTreeTicks() };
}

/** CPU-seconds other processes used between two snapshots (short-lived processes included). */
function otherCpuSecondsBetween(a: CpuSnapshot, b: CpuSnapshot): number {
  if (a.machine === undefined || b.machine === undefined) return 0;
  return Math.max(0, b.machine - a.machine - (b.own - a.own)) / TICKS_PER_SECOND;
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
async function waitForQuiet(o: QuietOptions = {}): Promise<number> {
  const share = o.maxOtherShare ?? 0.05;
  const windowMs = o.windowMs ?? 1500;
  const t0 = Date.now();
  for (;;) {
    const a = cpuSnapshot();
    await sleep(windowMs);
    const used = otherCpuSecondsBetween(a, cpuSnapshot());
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
    const a = cpuSnapshot();
    const t0 = performance.now();
    const value = await measure();
    const wall = (performance.now() - t0) / 1000;
    const otherShare = otherCpuSecondsBetween(a, cpuSnapshot()) / Math.max(wall, 1e-3);
    if (otherShare <= max * 2 || attempt + 1 >= (o.attempts ?? 5)) return { value, otherShare, discarded };
    discarded++;
  }
}
