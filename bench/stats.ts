/** Median and range of repeated measurements (benchmarks report all three). */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(samples: readonly number[]): Summary {
  const xs = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 === 1 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
  return { median, min: xs[0] as number, max: xs[xs.length - 1] as number, n: xs.length };
}

/** "63.6 (61.2-64.0)" */
export function formatSummary(s: Summary, digits = 1): string {
  if (s.n === 0) return "—";
  if (s.n === 1 || s.min === s.max) return s.median.toFixed(digits);
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;
}

export function ratio(a: Summary, b: Summary): string {
  if (a.n === 0 || b.n === 0 || !(b.median > 0)) return "—";
  return `${(a.median / b.median).toFixed(2)}x`;
}
