// Statistics of the benchmark (scripts/bench/run.ts): median / min / max over
// repetitions, and latency percentiles computed exactly as ../shared/tools/cpgload does
// (nearest rank: the value at index ceil(q * n) - 1 of the sorted samples), so the
// Carillon client and the C client report comparable p50/p99. Pure functions.

/** The q-quantile (0 < q <= 1) of ascending `sorted` by nearest rank (cpgload's PCT); null when empty. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (!(q > 0 && q <= 1)) throw new RangeError(`percentile: q must be in (0, 1], not ${q}`);
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1;
  return sorted[index] ?? null;
}

/** The median (mean of the two middle values for an even count); null when empty. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? NaN) + upper) / 2;
}

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Samples summarised. */
  readonly n: number;
}

/** median / min / max of the finite values; null when there are none. */
export function summarize(values: readonly number[]): Summary | null {
  const finite = values.filter((v) => Number.isFinite(v));
  const mid = median(finite);
  if (mid === null) return null;
  return { median: mid, min: Math.min(...finite), max: Math.max(...finite), n: finite.length };
}

/** Latency samples in µs → cpgload's LAT figures (min, p50, p90, p99, max, mean); null when empty. */
export function latencyFigures(samplesUs: readonly number[]): { min: number; p50: number; p90: number; p99: number; max: number; mean: number } | null {
  if (samplesUs.length === 0) return null;
  const sorted = [...samplesUs].sort((a, b) => a - b);
  const pick = (q: number): number => percentile(sorted, q) ?? NaN;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return { min: sorted[0] ?? NaN, p50: pick(0.5), p90: pick(0.9), p99: pick(0.99), max: sorted[sorted.length - 1] ?? NaN, mean: sum / sorted.length };
}

/** carillon / corosync, or null when either is missing or the reference is 0. */
export function ratio(carillon: number | null, corosync: number | null): number | null {
  if (carillon === null || corosync === null || !Number.isFinite(carillon) || !Number.isFinite(corosync) || corosync === 0) return null;
  return carillon / corosync;
}
