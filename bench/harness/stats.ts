// Order statistics for benchmark samples: nearest-rank percentiles (so p99 ≥ p50 always holds and
// every reported value is one that was measured) and a median-with-spread summary.

/** Nearest-rank percentile of `values` (0 < p ≤ 100); NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  p25: number;
  p75: number;
  /** The samples the summary is made of, in measurement order. */
  samples: number[];
}

/** Median (the mean of the two middle values for an even count), extremes and quartiles. */
export function spread(samples: readonly number[]): Spread {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const mid = Math.floor(n / 2);
  const median =
    n === 0
      ? Number.NaN
      : n % 2 === 1
        ? (sorted[mid] as number)
        : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return {
    median,
    min: sorted[0] ?? Number.NaN,
    max: sorted[n - 1] ?? Number.NaN,
    p25: percentile(sorted, 25),
    p75: percentile(sorted, 75),
    samples: [...samples],
  };
}
