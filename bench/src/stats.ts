/**
 * Percentiles and the number formats of the table. Pure: no clock, no I/O.
 */

/**
 * The nearest-rank percentile of `sorted` (ascending): the smallest sample that at least `p` % of
 * the samples are less than or equal to. NaN for no samples, so that an empty phase can never
 * print a figure.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${p}: expected 0 < p <= 100`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** The median by nearest rank (the lower middle of an even count): always one of the samples. */
export function median(sorted: readonly number[]): number {
  return percentile(sorted, 50);
}

/** A copy sorted in ascending numeric order. */
export function sortedCopy(samples: readonly number[]): number[] {
  // A typed array sorts numerically (Array#sort would compare the numbers as strings).
  return Array.from(Float64Array.from(samples).sort());
}

/** 1234567.8 → "1,234,568". */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** Milliseconds with a precision that suits their size: "0.84", "12.3", "2,041". */
export function formatMs(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return formatCount(value);
}

/** Megabytes (10^6 bytes) per second with one decimal. */
export function formatMbPerSecond(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}

/** "p50 1.20 / p99 4.51 / p99.9 9.02 ms" for the given percentiles of `sorted`. */
export function formatPercentiles(sorted: readonly number[], ps: readonly number[]): string {
  return `${ps.map((p) => `p${p} ${formatMs(percentile(sorted, p))}`).join(' / ')} ms`;
}

/** 134.2 → "2 min 14 s"; 42 → "42 s". */
export function formatDuration(seconds: number): string {
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}
