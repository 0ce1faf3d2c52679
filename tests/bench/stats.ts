/**
 * Summaries of repeated measurements. Kept free of I/O so tests/unit/bench-stats.test.ts can pin
 * the definitions down: a p95 that quietly changes meaning would make old results incomparable.
 */

export interface Summary {
  n: number;
  median: number;
  /** Nearest-rank 95th percentile: always a value that was actually observed. */
  p95: number;
  min: number;
  max: number;
  mean: number;
}

/**
 * Nearest-rank percentile (the smallest sample with at least p% of samples at or below it).
 * Chosen over interpolation because with the handful of runs a bench affords, an interpolated
 * p95 would be a latency nobody ever experienced.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of no samples');
  if (!(p > 0 && p <= 100)) throw new Error(`percentile must be in (0, 100], got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** The middle value; with an even count, the mean of the two middle ones. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new Error('median of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(samples: readonly number[]): Summary {
  const finite = samples.filter((s) => Number.isFinite(s));
  if (finite.length === 0) throw new Error('no finite samples to summarize');
  return {
    n: finite.length,
    median: median(finite),
    p95: percentile(finite, 95),
    min: Math.min(...finite),
    max: Math.max(...finite),
    mean: finite.reduce((a, b) => a + b, 0) / finite.length,
  };
}

export type Direction = 'at-most' | 'at-least';

export interface TargetResult {
  name: string;
  /** What the target says, e.g. "≤ 1.5x docker exec floor". */
  target: string;
  measured: string;
  /** Undefined when it could not be measured (then it is neither a pass nor a miss). */
  pass: boolean | undefined;
  note?: string;
}

/** Ratio of a measured median to its floor's median; the targets are stated this way. */
export function ratio(measured: Summary, floor: Summary): number {
  if (floor.median <= 0) return Number.POSITIVE_INFINITY;
  return measured.median / floor.median;
}

export function meets(value: number, limit: number, direction: Direction): boolean {
  return direction === 'at-most' ? value <= limit : value >= limit;
}
