/**
 * Empirical calibration of a nonnegative nonconformity score (e.g. |z| of forecast residuals):
 * its distribution function from a sample, as a few quantile knots for the bulk and a
 * generalised Pareto tail above the (1 − tailFraction) quantile (peaks over threshold: Pickands
 * 1975; Balkema & de Haan 1974; used for streaming thresholds by Siffer et al., "Anomaly
 * detection in streams with extreme value theory", KDD 2017, §3). The GPD is fitted by
 * probability-weighted moments (Hosking & Wallis, "Parameter and quantile estimation for the
 * generalized Pareto distribution", Technometrics 29(3), 1987, §3), which is stable for the
 * ~50 exceedances we have.
 *
 * The model lives in a caller-provided Float64Array (compact per-series state); evaluating it
 * allocates nothing. Tail probabilities are what make scores comparable across series: a value
 * whose probability under its own series' residual distribution is p gets the same score
 * everywhere.
 */

/** Probabilities of the bulk knots; the last knot is the tail threshold u (at 1 − tailFraction). */
const KNOT_PROBS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] as const;
const K = KNOT_PROBS.length + 1;

/**
 * Largest GPD shape accepted: heavier tails (ξ → 1: an infinite mean) cannot be told apart on
 * ~50 exceedances (0.5 is also where probability-weighted moments stop being reliable). Raising it
 * to 0.9 changes nothing on nab-dev.
 */
const XI_MAX = 0.5;

/** f64 slots a tail model takes: [pu, β, ξ, knots…] with the last knot = u. */
export const TAIL_SLOTS = 3 + K;

/**
 * Fits the model to `x[0..n)` (values ≥ 0; sorted in place) and writes it at `out[at..)`.
 * `tailFraction` (default 0.05) of the sample is above u. With n = 0 the model says "every
 * value is at probability 1" (p = 1 below 0; tail from 0 with β = 0).
 */
export function fitTail(
  x: Float64Array,
  n: number,
  out: Float64Array,
  at: number,
  tailFraction = 0.05,
): void {
  const s = x.subarray(0, n).sort();
  const probs = [...KNOT_PROBS, 1 - tailFraction];
  for (let j = 0; j < K; j++) out[at + 3 + j] = n > 0 ? quantileSorted(s, n, probs[j] as number) : 0;
  const u = out[at + 3 + K - 1] as number;
  // exceedances y = x − u for x > u, ascending
  let first = n;
  while (first > 0 && (s[first - 1] as number) > u) first--;
  const m = n - first;
  out[at] = n > 0 ? m / n : 0;
  if (m === 0) {
    out[at + 1] = 0;
    out[at + 2] = 0;
    return;
  }
  let a0 = 0;
  let a1 = 0;
  for (let i = 0; i < m; i++) {
    const y = (s[first + i] as number) - u;
    a0 += y;
    a1 += (1 - (i + 1 - 0.35) / m) * y;
  }
  a0 /= m;
  a1 /= m;
  let xi = 0;
  let beta = a0;
  if (m >= 10 && a0 > 2 * a1 && a1 > 0) {
    // Hosking & Wallis: k = a0/(a0 − 2a1) − 2, α = 2·a0·a1/(a0 − 2a1); ξ = −k
    xi = 2 - a0 / (a0 - 2 * a1);
    beta = (2 * a0 * a1) / (a0 - 2 * a1);
    if (xi > XI_MAX || xi < -0.5) {
      xi = Math.min(XI_MAX, Math.max(-0.5, xi));
      beta = a0 * (1 - xi); // keep the mean excess β/(1 − ξ) equal to the sample's
    }
  }
  out[at + 1] = beta;
  out[at + 2] = xi;
}

function quantileSorted(s: Float64Array, n: number, p: number): number {
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return (s[lo] as number) + (h - lo) * ((s[hi] as number) - (s[lo] as number));
}

/** P(X > x) under the model at `m[at..)`. */
export function tailProbability(m: Float64Array, at: number, x: number): number {
  const u = m[at + 3 + K - 1] as number;
  const pu = m[at] as number;
  if (x > u) {
    const beta = m[at + 1] as number;
    if (!(beta > 0)) return 0;
    const xi = m[at + 2] as number;
    const y = (x - u) / beta;
    if (Math.abs(xi) < 1e-9) return pu * Math.exp(-y);
    const b = 1 + xi * y;
    return b <= 0 ? 0 : pu * Math.pow(b, -1 / xi);
  }
  // bulk: linear interpolation of the CDF between knots; with ties, the highest knot ≤ x counts
  if (x < (m[at + 3] as number)) return 1;
  let j = K - 1;
  while (j > 0 && (m[at + 3 + j] as number) > x) j--;
  if (j === K - 1) return pu;
  const kj = m[at + 3 + j] as number;
  const kn = m[at + 4 + j] as number;
  const pj = KNOT_PROBS[j] as number;
  const pn = j + 1 < KNOT_PROBS.length ? (KNOT_PROBS[j + 1] as number) : 1 - pu;
  const frac = kn > kj ? (x - kj) / (kn - kj) : 0;
  return 1 - (pj + frac * (pn - pj));
}

/** The q-quantile (0 < q < 1) under the model at `m[at..)`. */
export function tailQuantile(m: Float64Array, at: number, q: number): number {
  const pu = m[at] as number;
  const u = m[at + 3 + K - 1] as number;
  if (q > 1 - pu) {
    const beta = m[at + 1] as number;
    const xi = m[at + 2] as number;
    const r = (1 - q) / pu;
    if (Math.abs(xi) < 1e-9) return u - beta * Math.log(r);
    return u + (beta / xi) * (Math.pow(r, -xi) - 1);
  }
  for (let j = 1; j < K; j++) {
    const pj = j < KNOT_PROBS.length ? (KNOT_PROBS[j] as number) : 1 - pu;
    if (q <= pj) {
      const pp = KNOT_PROBS[j - 1] as number;
      const kp = m[at + 2 + j] as number;
      const kj = m[at + 3 + j] as number;
      return pj > pp ? kp + ((q - pp) / (pj - pp)) * (kj - kp) : kj;
    }
  }
  return u;
}
