/**
 * Dense symmetric positive-definite solves for the normal equations, on plain Float64Arrays
 * (row-major p×p). Forming X'X once and factoring it is 4–20× faster than ml-matrix or
 * ml-regression here (shared/design/packages.md §3); the priors keep X'X + Λ well conditioned.
 */

/**
 * In-place Cholesky factorisation A = L·L' of the symmetric p×p matrix `a` (row-major; only the
 * lower triangle is read, L overwrites it). Returns false if a pivot is not positive (A is not
 * positive definite to working precision).
 */
export function choleskyInPlace(a: Float64Array, p: number): boolean {
  for (let j = 0; j < p; j++) {
    const rj = j * p;
    let d = a[rj + j] as number;
    for (let k = 0; k < j; k++) d -= (a[rj + k] as number) ** 2;
    if (!(d > 0)) return false;
    const ljj = Math.sqrt(d);
    a[rj + j] = ljj;
    for (let i = j + 1; i < p; i++) {
      const ri = i * p;
      let s = a[ri + j] as number;
      for (let k = 0; k < j; k++) s -= (a[ri + k] as number) * (a[rj + k] as number);
      a[ri + j] = s / ljj;
    }
  }
  return true;
}

/** Solves L·L'·x = b in place in `b`, given the factor from {@link choleskyInPlace}. */
export function choleskySolveInPlace(l: Float64Array, p: number, b: Float64Array): void {
  for (let i = 0; i < p; i++) {
    let s = b[i] as number;
    const ri = i * p;
    for (let k = 0; k < i; k++) s -= (l[ri + k] as number) * (b[k] as number);
    b[i] = s / (l[ri + i] as number);
  }
  for (let i = p - 1; i >= 0; i--) {
    let s = b[i] as number;
    for (let k = i + 1; k < p; k++) s -= (l[k * p + i] as number) * (b[k] as number);
    b[i] = s / (l[i * p + i] as number);
  }
}

/**
 * Solves (G + diag(λ))·x = b for symmetric positive semi-definite G, writing x into `x`.
 * `work` (≥ p² entries) is overwritten. If the factorisation fails, a jitter of 1e-10·(trace/p)
 * (growing ×100 per retry, at most 4 retries) is added to the diagonal. Returns false if
 * it still fails (x is then zero).
 */
export function solveRidge(
  g: Float64Array,
  lambda: Float64Array,
  b: Float64Array,
  p: number,
  x: Float64Array,
  work: Float64Array,
): boolean {
  let trace = 0;
  for (let i = 0; i < p; i++) trace += (g[i * p + i] as number) + (lambda[i] as number);
  let jitter = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    for (let i = 0; i < p * p; i++) work[i] = g[i] as number;
    for (let i = 0; i < p; i++)
      work[i * p + i] = (work[i * p + i] as number) + (lambda[i] as number) + jitter;
    if (choleskyInPlace(work, p)) {
      for (let i = 0; i < p; i++) x[i] = b[i] as number;
      choleskySolveInPlace(work, p, x);
      return true;
    }
    jitter = jitter === 0 ? 1e-10 * Math.max(trace / p, 1e-300) : jitter * 100;
  }
  x.fill(0, 0, p);
  return false;
}
