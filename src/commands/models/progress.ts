/**
 * The download progress bar `pull` draws on stderr: bytes, speed and time left. The speed is a
 * moving average over the last few seconds (not since the start, so a resumed download does not
 * look fast), computed from the samples the downloader reports.
 */
import { formatBytes } from "../../llm/memoryPlan.ts";

export interface ProgressSample {
  downloadedBytes: number;
  totalBytes: number;
}

export interface ProgressView {
  downloadedBytes: number;
  totalBytes: number;
  /** Bytes per second over the window; undefined until two samples are at least 0.5 s apart. */
  bytesPerSecond: number | undefined;
  /** Seconds left at that speed; undefined when the speed or the total is unknown. */
  etaSeconds: number | undefined;
}

/** Keeps the samples of the last `windowMs` and derives speed and time left. */
export class SpeedMeter {
  private readonly samples: { t: number; bytes: number }[] = [];

  constructor(
    private readonly windowMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  update(sample: ProgressSample): ProgressView {
    const t = this.now();
    this.samples.push({ t, bytes: sample.downloadedBytes });
    while (this.samples.length > 2 && t - (this.samples[1]?.t ?? t) >= this.windowMs) this.samples.shift();
    const first = this.samples[0];
    let bytesPerSecond: number | undefined;
    if (first && t - first.t >= 500) bytesPerSecond = Math.max(0, ((sample.downloadedBytes - first.bytes) * 1000) / (t - first.t));
    const left = sample.totalBytes - sample.downloadedBytes;
    const etaSeconds = bytesPerSecond && bytesPerSecond > 0 && sample.totalBytes > 0 ? Math.max(0, left / bytesPerSecond) : undefined;
    return { downloadedBytes: sample.downloadedBytes, totalBytes: sample.totalBytes, bytesPerSecond, etaSeconds };
  }
}

/** 75 -> "1m15s", 3725 -> "1h02m", 9 -> "9s". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * One line: `[#########-----------]  45%  221.3 MiB / 491.0 MiB  12.4 MiB/s  ETA 22s`.
 * `width` is the bar's width in characters.
 */
export function formatProgressLine(view: ProgressView, width = 24): string {
  const known = view.totalBytes > 0;
  const fraction = known ? Math.min(1, view.downloadedBytes / view.totalBytes) : 0;
  const filled = Math.round(fraction * width);
  const bar = known ? `[${"#".repeat(filled)}${"-".repeat(width - filled)}]` : `[${"?".repeat(width)}]`;
  const pct = known ? `${String(Math.floor(fraction * 100)).padStart(3)}%` : "  ?%";
  const amount = `${formatBytes(view.downloadedBytes)} / ${known ? formatBytes(view.totalBytes) : "?"}`;
  const speed = view.bytesPerSecond === undefined ? "-- /s" : `${formatBytes(view.bytesPerSecond)}/s`;
  const eta = view.etaSeconds === undefined ? "ETA --" : `ETA ${formatDuration(view.etaSeconds)}`;
  return `${bar} ${pct}  ${amount}  ${speed}  ${eta}`;
}

export interface ProgressWriter {
  update(sample: ProgressSample): void;
  /** Ends the bar (a final newline on a terminal). */
  done(): void;
}

/**
 * Draws the bar on a terminal (redrawn in place at most every 100 ms); on a pipe or file it writes
 * a plain line every 10% so logs stay short.
 */
export function createProgressWriter(out: NodeJS.WritableStream & { isTTY?: boolean }, now: () => number = Date.now): ProgressWriter {
  const meter = new SpeedMeter(5000, now);
  let lastDraw = 0;
  let lastDecile = -1;
  let drew = false;
  return {
    update(sample) {
      const view = meter.update(sample);
      if (out.isTTY) {
        const t = now();
        if (t - lastDraw < 100 && sample.downloadedBytes < sample.totalBytes) return;
        lastDraw = t;
        out.write(`\r${formatProgressLine(view)}\u001b[K`);
        drew = true;
        return;
      }
      const decile = sample.totalBytes > 0 ? Math.floor((sample.downloadedBytes / sample.totalBytes) * 10) : -1;
      if (decile > lastDecile) {
        lastDecile = decile;
        out.write(`${formatProgressLine(view)}\n`);
      }
    },
    done() {
      if (out.isTTY && drew) out.write("\n");
    },
  };
}
