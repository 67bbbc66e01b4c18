/**
 * Periodicity detection after AUTOPERIOD (Vlachos, Yu & Castelli, "On periodicity detection and
 * structural periodic similarity", SDM 2005): periodogram peaks above a permutation threshold are
 * candidates; each is validated on the autocorrelation function (it must sit on a hill, not in a
 * valley) and refined to the ACF's local maximum. Extensions, as in shared/design/detection.md
 * §4 and §6.1: the series is first put on a regular grid (irregular sampling and gaps), detrended
 * by OLS (trend), winsorised (spikes) and Hann-windowed; the FFT is zero-padded to a power of two
 * (any length); periods near 1 day or 1 week are snapped to them; harmonics are dropped (Kats).
 *
 * Pure: the permutation test draws from a PRNG seeded by the caller.
 */
import { autocorrelation, nextPow2, powerSpectrum } from './fft.js';
import { createPrng, medianInPlace, shuffleInPlace } from './stats.js';
import type { DetectorResult, Series } from './types.js';

/** One day and one week, ms: the calendar periods detected periods snap to. */
export const DAY_MS = 86_400_000;
export const WEEK_MS = 7 * DAY_MS;

/** Options of {@link detectPeriods}. */
export interface PeriodicityOptions {
  /** Seed of the permutation test's PRNG (same seed, same answer). */
  readonly seed: number;
  /** Shuffles for the power threshold (the threshold is the max over shuffles). @defaultValue 20 */
  readonly shuffles?: number;
  /** Grid step, ms. @defaultValue the median spacing of the timestamps */
  readonly stepMs?: number;
  /** Largest grid; longer spans are binned coarser. @defaultValue 4096 */
  readonly maxGridPoints?: number;
  /** Shortest period, grid samples. @defaultValue 4 */
  readonly minPeriodSamples?: number;
  /** Shortest and longest period to report, ms. @defaultValue 0 and the grid span / 2 */
  readonly minPeriodMs?: number;
  readonly maxPeriodMs?: number;
  /** Most periods returned. @defaultValue 2 */
  readonly maxPeriods?: number;
  /** Least autocorrelation at the period to accept it. @defaultValue 0.2 */
  readonly minAcf?: number;
  /** Least prominence of the ACF peak (see `prominence`). @defaultValue 0.1 */
  readonly minProminence?: number;
  /** Least peak power over the local spectral background (see `localRatio`). @defaultValue 20 */
  readonly minLocalRatio?: number;
  /** Relative distance within which a period snaps to a calendar period. @defaultValue 0.05 */
  readonly snapTolerance?: number;
  /** Calendar periods to snap to, ms. @defaultValue [1 day, 1 week] */
  readonly snapPeriodsMs?: readonly number[];
  /** Candidates validated on the ACF, strongest power first. @defaultValue 10 */
  readonly maxCandidates?: number;
}

/** A detected period. */
export interface Period {
  /** The period, ms (after snapping). */
  readonly periodMs: number;
  /** The period in grid samples (before snapping, refined to a fraction of a sample). */
  readonly periodSamples: number;
  /** Autocorrelation at the period (unbiased estimate, capped at 1): its strength. */
  readonly acf: number;
  /** Periodogram power at the peak over the permutation threshold (> 1). */
  readonly powerRatio: number;
  /**
   * Peak power over the median power of the surrounding spectrum (bins k/2..2k outside the main
   * lobe): how far the peak stands above a smooth, possibly red (autocorrelated) background.
   */
  readonly localRatio: number;
  /** Topographic prominence of the ACF peak (see `prominence`). */
  readonly prominence: number;
  /** Highest harmonic of the period whose power clears the threshold (≥ 1): a Fourier order hint. */
  readonly harmonics: number;
  /** Grid step the period was found on, ms. */
  readonly stepMs: number;
}

/** A regular grid built from a series. */
export interface Grid {
  readonly values: Float64Array;
  readonly stepMs: number;
  readonly startMs: number;
}

/**
 * Puts a series on a regular grid: bin means at `stepMs` (each sample goes to the nearest grid
 * point), empty bins linearly interpolated from their nearest non-empty neighbours. When the span
 * needs more than `maxPoints` points, the step grows by an integer factor.
 */
export function regularize(series: Series, stepMs: number, maxPoints: number): Grid {
  const n = series.n ?? series.values.length;
  const ts = series.timestampsMs;
  const t0 = ts[0] as number;
  const span = (ts[n - 1] as number) - t0;
  let step = stepMs;
  let m = Math.floor(span / step) + 1;
  if (m > maxPoints) {
    step *= Math.ceil(m / maxPoints);
    m = Math.floor(span / step) + 1;
  }
  const sum = new Float64Array(m);
  const cnt = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    let j = Math.round(((ts[i] as number) - t0) / step);
    if (j > m - 1) j = m - 1;
    sum[j] = (sum[j] as number) + (series.values[i] as number);
    cnt[j] = (cnt[j] as number) + 1;
  }
  let prev = -1;
  for (let j = 0; j < m; j++) {
    if ((cnt[j] as number) === 0) continue;
    sum[j] = (sum[j] as number) / (cnt[j] as number);
    if (prev >= 0 && j - prev > 1) {
      const a = sum[prev] as number;
      const b = sum[j] as number;
      for (let k = prev + 1; k < j; k++) sum[k] = a + ((b - a) * (k - prev)) / (j - prev);
    }
    prev = j;
  }
  return { values: sum, stepMs: step, startMs: t0 };
}

/** Median spacing of strictly increasing timestamps (NaN with fewer than 2 points). */
export function medianSpacing(ts: ArrayLike<number>, n: number): number {
  if (n < 2) return NaN;
  const d = new Float64Array(n - 1);
  for (let i = 1; i < n; i++) d[i - 1] = (ts[i] as number) - (ts[i - 1] as number);
  return medianInPlace(d, n - 1);
}

/** Subtracts the OLS line over the index from `x[0..n)` in place. */
export function detrendInPlace(x: Float64Array, n: number): void {
  const mt = (n - 1) / 2;
  let my = 0;
  for (let i = 0; i < n; i++) my += x[i] as number;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (i - mt) * ((x[i] as number) - my);
    sxx += (i - mt) * (i - mt);
  }
  const b = sxx > 0 ? sxy / sxx : 0;
  for (let i = 0; i < n; i++) x[i] = (x[i] as number) - my - b * (i - mt);
}

/**
 * Detects the periods of a series (see the module comment). Returns `insufficient-data` when
 * the grid has fewer than 4 × the shortest period points; an empty list when nothing periodic
 * is found (including constant series).
 */
export function detectPeriods(series: Series, opts: PeriodicityOptions): DetectorResult<Period> {
  const n = series.n ?? series.values.length;
  const minPeriod = Math.max(2, opts.minPeriodSamples ?? 4);
  const needed = 4 * minPeriod;
  if (n < 2) return { kind: 'insufficient-data', needed, got: n };
  const step0 = opts.stepMs ?? medianSpacing(series.timestampsMs, n);
  if (!(step0 > 0)) return { kind: 'insufficient-data', needed, got: n };
  const grid = regularize(series, step0, opts.maxGridPoints ?? 4096);
  const m = grid.values.length;
  if (m < needed) return { kind: 'insufficient-data', needed, got: m };
  const step = grid.stepMs;

  // Detrend and winsorise at 6 robust σ: spikes would otherwise spread power over every bin.
  const x = grid.values;
  detrendInPlace(x, m);
  const scratch = new Float64Array(m);
  for (let i = 0; i < m; i++) scratch[i] = x[i] as number;
  const med = medianInPlace(scratch, m);
  for (let i = 0; i < m; i++) scratch[i] = Math.abs((x[i] as number) - med);
  const mad = medianInPlace(scratch, m);
  if (mad > 0) {
    const lim = 6 * 1.4826 * mad;
    for (let i = 0; i < m; i++) x[i] = Math.min(med + lim, Math.max(med - lim, x[i] as number));
  }
  let energy = 0;
  for (let i = 0; i < m; i++) energy += (x[i] as number) ** 2;
  if (!(energy > 0)) return { kind: 'ok', findings: [] };

  const nfft = nextPow2(m);
  const half = nfft / 2;
  const hann = new Float64Array(m);
  for (let i = 0; i < m; i++) hann[i] = m > 1 ? 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (m - 1)) : 1;
  const maxPeriodMs = Math.min(opts.maxPeriodMs ?? Infinity, (m / 2) * step);
  const minPeriodMs = Math.max(opts.minPeriodMs ?? 0, minPeriod * step);
  // bins k whose period nfft/k (grid samples) lies in [minPeriod, maxPeriod]
  const kLo = Math.max(1, Math.ceil((nfft * step) / maxPeriodMs));
  const kHi = Math.min(half, Math.floor((nfft * step) / minPeriodMs));
  if (kLo > kHi) return { kind: 'ok', findings: [] };

  const windowed = new Float64Array(m);
  const power = new Float64Array(half + 1);
  const shuffled = new Float64Array(m);
  shuffled.set(x);
  const rng = createPrng(opts.seed);
  let threshold = 0;
  for (let s = 0; s < (opts.shuffles ?? 20); s++) {
    shuffleInPlace(shuffled, m, rng);
    for (let i = 0; i < m; i++) windowed[i] = (shuffled[i] as number) * (hann[i] as number);
    powerSpectrum(windowed, m, nfft, power);
    for (let k = kLo; k <= kHi; k++) if ((power[k] as number) > threshold) threshold = power[k] as number;
  }
  for (let i = 0; i < m; i++) windowed[i] = (x[i] as number) * (hann[i] as number);
  powerSpectrum(windowed, m, nfft, power);

  const cands: number[] = [];
  for (let k = kLo; k <= kHi; k++) {
    const p = power[k] as number;
    if (
      p > threshold &&
      p >= ((k > 0 ? power[k - 1] : 0) as number) &&
      p >= ((k < half ? power[k + 1] : 0) as number)
    )
      cands.push(k);
  }
  cands.sort((a, b) => (power[b] as number) - (power[a] as number));
  cands.length = Math.min(cands.length, opts.maxCandidates ?? 10);
  if (cands.length === 0) return { kind: 'ok', findings: [] };

  const maxLag = Math.floor(m / 2);
  const acf = new Float64Array(maxLag + 2);
  autocorrelation(x, m, maxLag + 1, acf);

  const minAcf = opts.minAcf ?? 0.2;
  const minProminence = opts.minProminence ?? 0.1;
  const minLocal = opts.minLocalRatio ?? 20;
  const tol = opts.snapTolerance ?? 0.05;
  const snaps = opts.snapPeriodsMs ?? [DAY_MS, WEEK_MS];
  const accepted: Period[] = [];
  for (const k of cands) {
    // AUTOPERIOD's search interval for bin k, then climb the ACF to its local maximum (the
    // periodogram's resolution is coarse at long periods; a candidate in a valley climbs to the
    // neighbouring hill and is then a duplicate).
    const lo = Math.max(Math.floor((nfft / (k + 1) + nfft / k) / 2) - 1, minPeriod);
    const hi = Math.min(k > 1 ? Math.ceil((nfft / k + nfft / (k - 1)) / 2) + 1 : maxLag, maxLag);
    if (hi <= lo) continue;
    let best = lo;
    for (let l = lo; l <= hi; l++) if ((acf[l] as number) > (acf[best] as number)) best = l;
    while (best > minPeriod && (acf[best - 1] as number) > (acf[best] as number)) best--;
    while (best < maxLag && (acf[best + 1] as number) > (acf[best] as number)) best++;
    if (best <= minPeriod || best >= maxLag) continue;
    // the biased ACF shrinks long lags by (m − τ)/m; compare periods on the unbiased value
    const ub = (l: number): number => ((acf[l] as number) * m) / (m - l);
    const ru = Math.min(1, ub(best));
    const prom = prominence(acf, best, maxLag);
    if (ru < minAcf || prom < minProminence) continue;
    // Refine on the unbiased ACF near the peak: the biased one is tilted by (m − τ)/m, which
    // pulls a peak to shorter lags by ≈ P²/(4π²(m − P)) samples (1.9 for P = 240 in 1,000
    // points: a period 0.8% short, a whole cycle out of phase after 125 cycles). Then a
    // parabola through the unbiased peak and its neighbours.
    const reach = Math.max(1, Math.ceil((1.5 * best * best) / (4 * Math.PI * Math.PI * (m - best))));
    let peak = best;
    for (let l = best + 1; l <= Math.min(best + reach, maxLag - 1); l++) if (ub(l) > ub(peak)) peak = l;
    const a = ub(peak - 1);
    const b0 = ub(peak);
    const c = ub(peak + 1);
    const den = a - 2 * b0 + c;
    const acfLag = den < 0 ? peak + (0.5 * (a - c)) / den : peak;
    // The ACF locates the period to about a sample; the windowed spectrum's peak is far sharper
    // (its main lobe is wide, but its maximum is an efficient frequency estimate): maximise the
    // DTFT power of the windowed series over periods within one sample of the ACF's.
    const lag = refinePeriod(windowed, m, acfLag - 1, acfLag + 1);
    let periodMs = lag * step;
    if (periodMs < minPeriodMs || periodMs > maxPeriodMs) continue;
    for (const sp of snaps) if (Math.abs(periodMs / sp - 1) <= tol) periodMs = sp;
    if (accepted.some((p) => Math.abs(p.periodMs / periodMs - 1) <= tol)) continue;
    accepted.push({
      periodMs,
      periodSamples: lag,
      acf: ru,
      powerRatio: (power[k] as number) / threshold,
      localRatio: localPowerRatio(power, k, half),
      prominence: prom,
      harmonics: countHarmonics(power, nfft / lag, half, threshold),
      stepMs: step,
    });
  }
  // A peak must stand well above the local spectral background (≥ minLocalRatio × the median of
  // the surrounding bins): the permutation threshold assumes white noise, and autocorrelated
  // (red) noise clears it at low frequencies. A period that is a multiple of a shorter accepted
  // one (weekly of daily) repeats whenever the shorter does: its own fundamental is weak, so it
  // needs only a quarter of that ratio but clearly more autocorrelation. Harmonics (shorter
  // periods dividing a longer one) are kept: a Fourier series of bounded order does not cover them.
  const isMultiple = (L: Period, sh: Period): boolean => {
    if (sh.periodMs >= L.periodMs) return false;
    const ratio = L.periodMs / sh.periodMs;
    const j = Math.round(ratio);
    return j >= 2 && Math.abs(ratio / j - 1) <= 0.03;
  };
  const strong = accepted.filter((p) => p.localRatio >= minLocal);
  const kept = accepted.filter((L) => {
    const bases = strong.filter((sh) => isMultiple(L, sh));
    if (bases.length > 0) return L.localRatio >= minLocal / 4 && bases.every((sh) => L.acf >= sh.acf + 0.05);
    return L.localRatio >= minLocal;
  });
  kept.sort((p, q) => q.powerRatio - p.powerRatio);
  return { kind: 'ok', findings: kept.slice(0, opts.maxPeriods ?? 2) };
}

/** Power |Σ x[i]·e^(−2πi·f·i)|² of `x[0..m)` at frequency `f` (cycles per sample). O(m), by rotation. */
export function dtftPower(x: Float64Array, m: number, f: number): number {
  const w = 2 * Math.PI * f;
  const cw = Math.cos(w);
  const sw = Math.sin(w);
  let c = 1;
  let s = 0;
  let re = 0;
  let im = 0;
  for (let i = 0; i < m; i++) {
    const v = x[i] as number;
    re += v * c;
    im -= v * s;
    const nc = c * cw - s * sw;
    s = s * cw + c * sw;
    c = nc;
  }
  return re * re + im * im;
}

/**
 * The period in [lo, hi] (grid samples) where the DTFT power of the Hann-windowed series
 * `x[0..m)` is largest: the power on a frequency grid of step 1/(2m) (an eighth of the window's
 * main lobe, so the largest grid value lies in the true peak's lobe), then golden-section search
 * within ±1/(2m) of it (unimodal there) to 1e−7 cycles per sample. Periodogram-peak frequency
 * estimation: Rife & Boorstyn, "Single-tone parameter estimation from discrete-time
 * observations", IEEE Trans. Inf. Theory 20(5), 1974 (it reaches the Cramér–Rao bound at
 * moderate SNR). With fewer than ~6 cycles in view the mirror frequency biases it (by < 0.1
 * samples at 4 cycles: tests).
 */
export function refinePeriod(x: Float64Array, m: number, lo: number, hi: number): number {
  const fLo = 1 / hi;
  const fHi = 1 / lo;
  const step = 1 / (2 * m);
  const n = Math.max(1, Math.ceil((fHi - fLo) / step));
  let fBest = fLo;
  let pBest = -1;
  for (let k = 0; k <= n; k++) {
    const f = fLo + ((fHi - fLo) * k) / n;
    const p = dtftPower(x, m, f);
    if (p > pBest) {
      pBest = p;
      fBest = f;
    }
  }
  const g = (Math.sqrt(5) - 1) / 2;
  let a = Math.max(fLo, fBest - step);
  let b = Math.min(fHi, fBest + step);
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = dtftPower(x, m, c);
  let fd = dtftPower(x, m, d);
  while (b - a > 1e-7) {
    if (fc > fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = dtftPower(x, m, c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = dtftPower(x, m, d);
    }
  }
  return 2 / (a + b);
}

/**
 * Topographic prominence of the ACF peak at `lag`: how far it stands above the higher of the two
 * lowest points met walking left and right until the ACF rises above the peak (or the ends).
 * A genuine period stands on its own hill (AUTOPERIOD's hill test); a shoulder of a stronger
 * peak, noise ripple or the slow decay of a trend does not.
 */
function prominence(acf: Float64Array, lag: number, maxLag: number): number {
  const top = acf[lag] as number;
  let minLeft = top;
  for (let l = lag - 1; l >= 0; l--) {
    const v = acf[l] as number;
    if (v > top) break;
    if (v < minLeft) minLeft = v;
  }
  let minRight = top;
  for (let l = lag + 1; l <= maxLag; l++) {
    const v = acf[l] as number;
    if (v > top) break;
    if (v < minRight) minRight = v;
  }
  return top - Math.max(minLeft, minRight);
}

/** Power at bin k over the median of bins k/2..2k (at least 8 bins) outside k ± 3. */
function localPowerRatio(power: Float64Array, k: number, half: number): number {
  const lo = Math.max(1, Math.floor(k / 2));
  const hi = Math.min(half, Math.max(2 * k, lo + 16));
  const vals: number[] = [];
  for (let j = lo; j <= hi; j++) if (Math.abs(j - k) > 3) vals.push(power[j] as number);
  if (vals.length === 0) return Infinity;
  vals.sort((a, b) => a - b);
  const med = vals[vals.length >> 1] as number;
  return med > 0 ? (power[k] as number) / med : Infinity;
}

/** Highest j such that the periodogram near harmonic j of frequency bin f0 clears `threshold`. */
function countHarmonics(power: Float64Array, f0: number, half: number, threshold: number): number {
  let top = 1;
  for (let j = 2; j * f0 <= half - 1 && j <= 50; j++) {
    const c = Math.round(j * f0);
    const p = Math.max(power[c - 1] as number, power[c] as number, power[c + 1] as number);
    if (p > threshold) top = j;
  }
  return top;
}
