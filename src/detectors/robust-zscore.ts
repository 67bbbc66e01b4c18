/**
 * A robust rolling z-score: how many robust standard deviations (1.4826·MAD) a value lies from
 * the median of a window of recent values. The baseline detector of Vigil (issue 2) and a
 * reference the forecast-based engine is compared against.
 */
import { erfc } from './stats.js';

/** Median of `values[0..n)`; sorts a copy into `scratch` (length ≥ n). */
export function median(values: ArrayLike<number>, n: number, scratch: Float64Array): number {
  if (n === 0) return NaN;
  for (let i = 0; i < n; i++) scratch[i] = values[i] as number;
  const s = scratch.subarray(0, n).sort();
  const mid = n >> 1;
  return n % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Robust location and scale of `values[0..n)`: median and 1.4826·MAD (a consistent estimate of σ
 * for Gaussian data).
 */
export function robustStats(
  values: ArrayLike<number>,
  n: number,
  scratch: Float64Array,
): { center: number; scale: number } {
  const center = median(values, n, scratch);
  const dev = new Float64Array(n);
  for (let i = 0; i < n; i++) dev[i] = Math.abs((values[i] as number) - center);
  const mad = median(dev, n, scratch);
  return { center, scale: 1.4826 * mad };
}

/** Two-sided Gaussian tail probability P(|Z| ≥ |z|) = erfc(|z|/√2), relative error < 1.2e-7 (see stats.ts). */
export function twoSidedTail(z: number): number {
  return Math.min(1, erfc(Math.abs(z) / Math.SQRT2));
}

/**
 * Maps a two-sided tail probability to a score in [0,1] on a log scale: HTM's anomaly-likelihood
 * transform, score = log(1.0000000001 − (1 − p)) / log(1e−10) ≈ −log10(p)/10. z = 3/4/5/6 give
 * about 0.26/0.42/0.62/0.87.
 */
export function tailToScore(p: number): number {
  const s = Math.log(1.0000000001 - (1 - p)) / Math.log(1e-10);
  return s < 0 ? 0 : s > 1 ? 1 : s;
}
