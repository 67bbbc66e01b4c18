/**
 * Gaussian tail probability and HTM's log transform of it into a score in [0,1]: the reference
 * forms the engine's calibrated scores (`logScore` in src/operators/anomaly) are tested against.
 */
import { erfc } from './stats.js';

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
