/**
 * Real FFTs on top of fft.js (radix-4, double precision; ~300× faster than fft-js, see
 * shared/design/packages.md §1): power spectra of any length (zero-padded to a power of two)
 * and autocorrelation by the Wiener–Khinchin theorem.
 */
import FFT from 'fft.js';

/** The parts of fft.js we use (its bundled .d.ts types them as `any`). */
interface RealFft {
  readonly size: number;
  realTransform(out: Float64Array, data: Float64Array): void;
  completeSpectrum(spectrum: Float64Array): void;
  inverseTransform(out: Float64Array, data: Float64Array): void;
}

interface Plan {
  readonly fft: RealFft;
  readonly input: Float64Array;
  readonly spectrum: Float64Array;
  readonly output: Float64Array;
}

/**
 * Plans by size. fft.js precomputes its twiddle table per instance; keeping one per power of two
 * (bounded: sizes ≤ 2^22) makes repeated transforms allocation-free. Deterministic, so pure.
 */
const plans = new Map<number, Plan>();

function plan(size: number): Plan {
  let p = plans.get(size);
  if (!p) {
    p = {
      fft: new FFT(size) as unknown as RealFft,
      input: new Float64Array(size),
      spectrum: new Float64Array(2 * size),
      output: new Float64Array(2 * size),
    };
    plans.set(size, p);
  }
  return p;
}

/** The smallest power of two ≥ max(n, 2). */
export function nextPow2(n: number): number {
  let p = 2;
  while (p < n) p *= 2;
  return p;
}

/**
 * Forward DFT of the real sequence `x[0..n)` zero-padded to `size` (a power of two ≥ n):
 * X_k = Σ_t x_t e^{−2πi k t / size}. Writes the full complex spectrum interleaved
 * (re, im) into `out` (length ≥ 2·size). Throws RangeError if `size` is not a power of two ≥ n.
 */
export function realDft(x: ArrayLike<number>, n: number, size: number, out: Float64Array): void {
  if (size < 2 || (size & (size - 1)) !== 0 || size < n)
    throw new RangeError(`FFT size ${size} must be a power of two ≥ ${n}`);
  const p = plan(size);
  p.input.fill(0);
  for (let i = 0; i < n; i++) p.input[i] = x[i] as number;
  p.fft.realTransform(p.spectrum, p.input);
  p.fft.completeSpectrum(p.spectrum);
  out.set(p.spectrum.subarray(0, 2 * size));
}

/**
 * Periodogram |X_k|² for k = 0..size/2 of `x[0..n)` zero-padded to `size` (power of two ≥ n),
 * without normalisation (Parseval: Σ_{k<size} |X_k|² = size·Σ x_t²). Writes size/2+1 values
 * into `out`.
 */
export function powerSpectrum(x: ArrayLike<number>, n: number, size: number, out: Float64Array): void {
  if (size < 2 || (size & (size - 1)) !== 0 || size < n)
    throw new RangeError(`FFT size ${size} must be a power of two ≥ ${n}`);
  const p = plan(size);
  p.input.fill(0);
  for (let i = 0; i < n; i++) p.input[i] = x[i] as number;
  p.fft.realTransform(p.spectrum, p.input);
  const s = p.spectrum;
  for (let k = 0; k <= size / 2; k++) {
    const re = s[2 * k] as number;
    const im = s[2 * k + 1] as number;
    out[k] = re * re + im * im;
  }
}

/**
 * Sample autocorrelation of `x[0..n)` (mean removed) for lags 0..maxLag, normalised so that
 * r[0] = 1: r[τ] = Σ_{t<n−τ} x_t x_{t+τ} / Σ x_t² (the biased estimator, as statsmodels `acf`).
 * Computed as the inverse FFT of the power spectrum of x zero-padded to ≥ 2n (no circular
 * wrap-around). All zeros (a constant series) give r = 0 for τ > 0 and r[0] = 1.
 */
export function autocorrelation(x: ArrayLike<number>, n: number, maxLag: number, out: Float64Array): void {
  const size = nextPow2(2 * n);
  const p = plan(size);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i] as number;
  mean = n > 0 ? mean / n : 0;
  p.input.fill(0);
  for (let i = 0; i < n; i++) p.input[i] = (x[i] as number) - mean;
  p.fft.realTransform(p.spectrum, p.input);
  p.fft.completeSpectrum(p.spectrum);
  const s = p.spectrum;
  for (let k = 0; k < size; k++) {
    const re = s[2 * k] as number;
    const im = s[2 * k + 1] as number;
    s[2 * k] = re * re + im * im;
    s[2 * k + 1] = 0;
  }
  p.fft.inverseTransform(p.output, s);
  const r0 = p.output[0] as number;
  const last = Math.min(maxLag, n - 1);
  for (let k = 0; k <= maxLag; k++) {
    if (k > last) out[k] = 0;
    else out[k] = r0 > 0 ? (p.output[2 * k] as number) / r0 : k === 0 ? 1 : 0;
  }
}
