/** Small numeric helpers shared by the load generators and the report. */

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

/** p50/p99 in milliseconds from latencies in microseconds (sorted in place). */
export function latencySummaryMs(latenciesUs: Float64Array | number[]): { p50Ms: number; p99Ms: number } {
  const sorted = Float64Array.from(latenciesUs).sort();
  return { p50Ms: percentile(sorted, 50) / 1000, p99Ms: percentile(sorted, 99) / 1000 };
}

export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Median (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
