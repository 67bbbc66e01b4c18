/**
 * Small numerical helpers shared by the detectors and the engine: the Gaussian tail and quantile,
 * in-place selection, and a seeded pseudo-random generator (detectors never read Math.random).
 */

/**
 * Complementary error function erfc(x), fractional error < 1.2e-7 everywhere (Chebyshev fit of
 * Press et al., Numerical Recipes 2nd ed., section 6.2, `erfcc`). Unlike Abramowitz & Stegun
 * 7.1.26 its error is relative, so far tails (p ≪ 1e-7) stay accurate enough for log scores.
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Standard normal upper tail Q(z) = P(Z > z). */
export function normalUpperTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Standard normal CDF Φ(z). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/**
 * Inverse standard normal CDF Φ⁻¹(p) for p in (0,1): Acklam's rational approximation (relative
 * error 1.15e-9) refined by one Halley step. Returns ∓Infinity at 0 and 1, NaN outside [0,1].
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const a0 = -3.969683028665376e1,
    a1 = 2.209460984245205e2,
    a2 = -2.759285104469687e2,
    a3 = 1.38357751867269e2,
    a4 = -3.066479806614716e1,
    a5 = 2.506628277459239;
  const b0 = -5.447609879822406e1,
    b1 = 1.615858368580409e2,
    b2 = -1.556989798598866e2,
    b3 = 6.680131188771972e1,
    b4 = -1.328068155288572e1;
  const c0 = -7.784894002430293e-3,
    c1 = -3.223964580411365e-1,
    c2 = -2.400758277161838,
    c3 = -2.549732539343734,
    c4 = 4.374664141464968,
    c5 = 2.938163982698783;
  const d0 = 7.784695709041462e-3,
    d1 = 3.224671290700398e-1,
    d2 = 2.445134137142996,
    d3 = 3.754408661907416;
  const lo = 0.02425;
  let x: number;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    x =
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  } else if (p <= 1 - lo) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
      (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x =
      -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  // One Halley step on Φ(x) − p.
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/**
 * The k-th smallest (0-based) of `a[0..n)`, by Hoare's quickselect (Floyd–Rivest is not worth it
 * at these sizes). Reorders `a[0..n)` in place; O(n) expected, no allocation.
 */
export function selectKth(a: Float64Array | Float32Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    // median of three as pivot
    const mid = (lo + hi) >> 1;
    let x = a[mid] as number;
    const l = a[lo] as number;
    const h = a[hi] as number;
    if (l > x !== l > h) x = l;
    else if (h > x !== h > l) x = h;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) < x) i++;
      while ((a[j] as number) > x) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k] as number;
  }
  return a[k] as number;
}

/** Median of `a[0..n)`, reordering it in place (see {@link selectKth}); NaN when n = 0. */
export function medianInPlace(a: Float64Array | Float32Array, n: number): number {
  if (n <= 0) return NaN;
  const hi = selectKth(a, n, n >> 1);
  if (n % 2 === 1) return hi;
  // the lower middle is the max of the lower part after selection
  let lo = -Infinity;
  for (let i = 0; i < n >> 1; i++) if ((a[i] as number) > lo) lo = a[i] as number;
  return (lo + hi) / 2;
}

/** A deterministic pseudo-random generator: each call returns a uniform float in [0, 1). */
export type Prng = () => number;

/**
 * Mulberry32 (Tommy Ettinger, 2017): a 32-bit state generator, period 2³², good enough for
 * permutation tests. Deterministic for a given `seed`, which detectors take as an input.
 */
export function createPrng(seed: number): Prng {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of `a[0..n)` in place with `rng`. */
export function shuffleInPlace(a: Float64Array, n: number, rng: Prng): void {
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
}
