import { describe, expect, it } from "vitest";
import { createProgressWriter, formatDuration, formatProgressLine, SpeedMeter } from "../../src/commands/models/progress.ts";

const MiB = 1024 * 1024;

describe("download progress", () => {
  it("measures speed over the recent window and derives the time left", () => {
    let t = 0;
    const meter = new SpeedMeter(5000, () => t);
    expect(meter.update({ downloadedBytes: 0, totalBytes: 100 * MiB }).bytesPerSecond).toBeUndefined();
    t = 1000;
    const v = meter.update({ downloadedBytes: 10 * MiB, totalBytes: 100 * MiB });
    expect(v.bytesPerSecond).toBe(10 * MiB);
    expect(v.etaSeconds).toBe(9);
    // A resumed download that starts at 50 MiB is not reported as fast: the speed is from the samples seen.
    const resumed = new SpeedMeter(5000, () => t);
    resumed.update({ downloadedBytes: 50 * MiB, totalBytes: 100 * MiB });
    t = 3000;
    expect(resumed.update({ downloadedBytes: 54 * MiB, totalBytes: 100 * MiB }).bytesPerSecond).toBe(2 * MiB);
  });

  it("draws bytes, percentage, speed and ETA on one line", () => {
    expect(formatProgressLine({ downloadedBytes: 45 * MiB, totalBytes: 100 * MiB, bytesPerSecond: 5 * MiB, etaSeconds: 11 }, 20)).toBe(
      "[#########-----------]  45%  45.00 MiB / 100.0 MiB  5.00 MiB/s  ETA 11s",
    );
    expect(formatProgressLine({ downloadedBytes: 0, totalBytes: 0, bytesPerSecond: undefined, etaSeconds: undefined }, 4)).toBe(
      "[????]   ?%  0 B / ?  -- /s  ETA --",
    );
  });

  it("formats durations", () => {
    expect(formatDuration(9)).toBe("9s");
    expect(formatDuration(75)).toBe("1m15s");
    expect(formatDuration(3725)).toBe("1h02m");
  });

  it("writes one line per 10% when stderr is not a terminal", () => {
    const lines: string[] = [];
    const out = { write: (s: string) => lines.push(s), isTTY: false } as unknown as NodeJS.WritableStream;
    const w = createProgressWriter(out, () => 0);
    for (let i = 0; i <= 100; i++) w.update({ downloadedBytes: i, totalBytes: 100 });
    w.done();
    expect(lines).toHaveLength(11);
    expect(lines[10]).toContain("100%");
  });
});
