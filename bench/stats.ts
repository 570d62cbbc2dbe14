// Summary statistics over latency samples. Pure.

export interface Summary {
  count: number;
  /** The statistics are null when there are no values. */
  min: number | null;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/**
 * Nearest-rank percentile: the smallest value such that at least p% of the values are at or below it.
 * Always one of the inputs (no interpolation), so it is exact and easy to check by hand.
 * `sorted` must be in ascending order and non-empty; 0 < p <= 100.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no values');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  // The epsilon keeps e.g. 0.95 * 100 = 95.00000000000001 from rounding up to rank 96.
  const rank = Math.ceil((p / 100) * sorted.length - 1e-9);
  return sorted[Math.max(rank, 1) - 1] as number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0, min: null, mean: null, p50: null, p95: null, p99: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted[0] as number,
    mean: sum / sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] as number,
  };
}

/** (end - base) / base in percent, or null when there is no meaningful base. */
export function growthPercent(base: number, end: number): number | null {
  if (!(base > 0)) return null;
  return ((end - base) / base) * 100;
}
