/**
 * How right the progress display's ETA was on a recorded run: the run's events (with the time each
 * came, ms from the start) are replayed through the display's own estimator (src/progress/EtaEstimator.ts),
 * which is asked once a second — as the live display asks — and each answer is compared with the
 * time the run really had left. Used by the job bench's engine mode (every run reports it) and by
 * `npm run bench -- --job --eta-replay FILE.events.jsonl` (a recording written by an earlier run).
 */
import fs from "node:fs";
import zlib from "node:zlib";
import { EtaEstimator } from "../../src/progress/EtaEstimator.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";

export interface TimedEvent {
  ms: number;
  event: PipelineEvent;
}

/** Errors of the ETA over part of a run: (estimate - truth) / truth, as fractions. */
export interface EtaWindow {
  /** Where the window starts (ms from the start) and how many once-a-second answers fall in it. */
  fromMs: number;
  ticks: number;
  /** Answers that were "--" (no estimate) inside the window. */
  none: number;
  low: number;
  high: number;
  /** Share of the window's answers within 30% of the truth. */
  within30: number;
}

export interface EtaAccuracy {
  endMs: number;
  /** From 10% of the run's wall time until 10% is left. */
  fromTenth?: EtaWindow;
  /** From the fifth minute until 10% is left (runs longer than ~5.5 minutes). */
  fromFifthMinute?: EtaWindow;
  /** Every answer: ms from the start, the estimate (null: "--") and the truth. */
  series: { ms: number; etaMs: number | null; leftMs: number }[];
}

export function etaAccuracy(events: readonly TimedEvent[], endMs: number, stepMs = 1000): EtaAccuracy {
  const eta = new EtaEstimator();
  const series: EtaAccuracy["series"] = [];
  let i = 0;
  for (let now = stepMs; now < endMs; now += stepMs) {
    while (i < events.length && (events[i]?.ms ?? Infinity) <= now) {
      const e = events[i] as TimedEvent;
      eta.handle(e.event, e.ms);
      i++;
    }
    const left = eta.remainingMs(now);
    series.push({ ms: now, etaMs: left === undefined ? null : Math.round(left), leftMs: Math.round(endMs - now) });
  }
  const window = (fromMs: number): EtaWindow | undefined => {
    const inside = series.filter((t) => t.ms >= fromMs && t.leftMs >= 0.1 * endMs);
    if (inside.length === 0) return undefined;
    const errors = inside.flatMap((t) => (t.etaMs === null ? [] : [(t.etaMs - t.leftMs) / t.leftMs]));
    return {
      fromMs,
      ticks: inside.length,
      none: inside.length - errors.length,
      low: errors.length > 0 ? Math.min(...errors) : 0,
      high: errors.length > 0 ? Math.max(...errors) : 0,
      within30: errors.filter((e) => Math.abs(e) <= 0.3).length / inside.length,
    };
  };
  const fromTenth = window(0.1 * endMs);
  const fromFifthMinute = window(300_000);
  return { endMs, ...(fromTenth ? { fromTenth } : {}), ...(fromFifthMinute ? { fromFifthMinute } : {}), series };
}

/** One line for a report: the range of the ETA's error and the share within 30%. */
function etaWindowText(w: EtaWindow | undefined): string {
  if (!w) return "no answers in the window";
  const pct = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(0)}%`;
  return `${pct(w.low)} to ${pct(w.high)}, ${(100 * w.within30).toFixed(0)}% of ${w.ticks} answers within 30%${w.none > 0 ? ` (${w.none} were "--")` : ""}`;
}

/** Both windows in one line, for reports. */
export function etaAccuracyText(a: EtaAccuracy): string {
  return `from 10% of the wall ${etaWindowText(a.fromTenth)}; from the fifth minute ${a.fromFifthMinute ? etaWindowText(a.fromFifthMinute) : "(the run was shorter)"}`;
}

/** The accuracy without its once-a-second series (for JSON results). */
export function etaAccuracySummary(a: EtaAccuracy): Omit<EtaAccuracy, "series"> {
  const { series: _s, ...rest } = a;
  return rest;
}

/** Writes a recording as JSON lines: `{"ms":…,"event":{…}}`, the run's end last (`{"endMs":…}`). */
export function writeEventRecording(file: string, events: readonly TimedEvent[], endMs: number): void {
  fs.writeFileSync(
    file,
    `${events.map((e) => JSON.stringify({ ms: Math.round(e.ms), event: e.event })).join("\n")}\n${JSON.stringify({ endMs: Math.round(endMs) })}\n`,
  );
}

/** Reads a recording (gzipped where the name ends in .gz). */
export function readEventRecording(file: string): { events: TimedEvent[]; endMs: number } {
  const events: TimedEvent[] = [];
  let endMs = 0;
  const raw = fs.readFileSync(file);
  const text = (file.endsWith(".gz") ? zlib.gunzipSync(raw) : raw).toString("utf8");
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const row = JSON.parse(line) as { ms?: number; event?: PipelineEvent; endMs?: number };
    if (row.endMs !== undefined) endMs = row.endMs;
    else if (row.event && typeof row.ms === "number") events.push({ ms: row.ms, event: row.event });
  }
  if (endMs <= 0) endMs = events.at(-1)?.ms ?? 0;
  return { events, endMs };
}
