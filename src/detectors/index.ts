/**
 * src/detectors: pure numerical detectors over series: periodicity (FFT + ACF, AUTOPERIOD),
 * exact 1-D DBSCAN on residuals and its online envelope, tail calibration, robust statistics.
 * Owns no state and does no I/O: no clock, no Math.random (randomised tests take a seed), no
 * logging, no other src/ modules (src/common excepted).
 */
export type { Series, DetectorResult } from './types.js';
export { twoSidedTail, tailToScore } from './robust-zscore.js';
export {
  erfc,
  normalCdf,
  normalUpperTail,
  normalQuantile,
  selectKth,
  medianInPlace,
  createPrng,
  shuffleInPlace,
  type Prng,
} from './stats.js';
export { nextPow2, realDft, powerSpectrum, autocorrelation } from './fft.js';
export {
  DAY_MS,
  WEEK_MS,
  detectPeriods,
  regularize,
  medianSpacing,
  detrendInPlace,
  type Period,
  type PeriodicityOptions,
  type Grid,
} from './periodicity.js';
export {
  dbscan1d,
  fitResidualEnvelope,
  kneeEps,
  type Dbscan1dResult,
  type EnvelopeOptions,
  type ResidualEnvelope,
} from './dbscan.js';
export { TAIL_SLOTS, fitTail, tailProbability, tailQuantile } from './tail.js';
