/**
 * Prophet's MAP objective solved on the normal equations. With σ the observation noise (scaled
 * units), Prophet's Stan model (`prophet.stan`: y ~ N(Xβ, σ), k, m ~ N(0, 5), β_seasonal ~
 * N(0, σ_s), δ ~ Laplace(0, τ)) has the negative log posterior, up to constants,
 *
 *   n·log σ + ‖W^½(y − Xβ)‖² / (2σ²) + Σ_ridge β_j² / (2 s_j²) + Σ_laplace |β_j| / τ_j.
 *
 * For fixed σ this is an elastic-net problem. The Laplace terms are handled by iteratively
 * reweighted ridge (a majorise–minimise scheme: |δ| ≤ δ²/(2|δ₀|) + |δ₀|/2, Hunter & Lange, "A
 * tutorial on MM algorithms", Am. Stat. 58(1), 2004, §3.3), alternating with σ² = RSS/n. Each
 * step is one p×p Cholesky solve of (X'WX + Λ)β = X'Wy, so X'WX is formed once per fit.
 */
import { solveRidge } from './linalg.js';

/** The normal equations of a weighted least-squares problem, accumulated row by row. */
export interface NormalEquations {
  readonly p: number;
  /** Σ w·x·x' (row-major p×p, full). */
  readonly xtx: Float64Array;
  /** Σ w·x·y. */
  readonly xty: Float64Array;
  /** Σ w·y², Σ w. */
  yty: number;
  wsum: number;
}

export function newNormalEquations(p: number): NormalEquations {
  return { p, xtx: new Float64Array(p * p), xty: new Float64Array(p), yty: 0, wsum: 0 };
}

/** Adds (or with w < 0 removes) one observation. Fills the upper triangle only; call {@link symmetrize} before solving. */
export function addRow(ne: NormalEquations, x: Float64Array, y: number, w: number): void {
  const p = ne.p;
  const g = ne.xtx;
  for (let i = 0; i < p; i++) {
    const wi = w * (x[i] as number);
    if (wi === 0) continue;
    const ri = i * p;
    for (let j = i; j < p; j++) g[ri + j] = (g[ri + j] as number) + wi * (x[j] as number);
    ne.xty[i] = (ne.xty[i] as number) + wi * y;
  }
  ne.yty += w * y * y;
  ne.wsum += w;
}

/** Copies the upper triangle of X'WX into the lower one. */
export function symmetrize(ne: NormalEquations): void {
  const p = ne.p;
  for (let i = 0; i < p; i++) for (let j = 0; j < i; j++) ne.xtx[i * p + j] = ne.xtx[j * p + i] as number;
}

/** Prior of one coefficient: none, Normal(0, scale) (ridge) or Laplace(0, scale) (lasso). */
export const PRIOR_NONE = 0;
export const PRIOR_NORMAL = 1;
export const PRIOR_LAPLACE = 2;

export interface Priors {
  /** Per column: PRIOR_NONE, PRIOR_NORMAL or PRIOR_LAPLACE. */
  readonly kind: Uint8Array;
  /** Per column: the prior's scale (sd of the Normal, b of the Laplace), scaled units. */
  readonly scale: Float64Array;
}

export interface MapOptions {
  /** Reweighting iterations. @defaultValue 20 */
  readonly iterations?: number;
  /** Smallest σ², relative to Σw·y²/Σw (a perfect fit must stay solvable). @defaultValue 1e-12 */
  readonly sigma2Floor?: number;
  /** Fixed σ (scaled units) instead of σ² = RSS/n. */
  readonly sigma?: number;
  /** Starting coefficients (a previous solution), instead of δ = τ and the rest 0. */
  readonly init?: Float64Array;
}

/** The MAP solution: coefficients and the noise σ (scaled units). */
export interface MapResult {
  readonly beta: Float64Array;
  readonly sigma: number;
  /** Weighted residual sum of squares. */
  readonly rss: number;
}

/**
 * Solves the MAP problem described in the module comment. `ne` must be symmetrised. Allocates
 * O(p²) scratch.
 */
export function solveMap(ne: NormalEquations, priors: Priors, opts: MapOptions = {}): MapResult {
  const p = ne.p;
  const beta = new Float64Array(p);
  const lambda = new Float64Array(p);
  const work = new Float64Array(p * p);
  const n = Math.max(ne.wsum, 1);
  const floor = (opts.sigma2Floor ?? 1e-12) * Math.max(ne.yty / n, 1e-300);
  // Start: σ² from a heavily shrunk fit is unknown, so take a tenth of the mean square and δ = τ.
  let sigma2 = opts.sigma !== undefined ? opts.sigma ** 2 : Math.max(0.1 * (ne.yty / n), floor);
  if (opts.init) {
    beta.set(opts.init.subarray(0, p));
    if (opts.sigma === undefined) sigma2 = Math.max(residualSumOfSquares(ne, beta) / n, floor);
  } else
    for (let j = 0; j < p; j++) beta[j] = priors.kind[j] === PRIOR_LAPLACE ? (priors.scale[j] as number) : 0;
  const iterations = opts.iterations ?? 20;
  let rss = ne.yty;
  for (let it = 0; it < iterations; it++) {
    for (let j = 0; j < p; j++) {
      const s = priors.scale[j] as number;
      switch (priors.kind[j]) {
        case PRIOR_NORMAL:
          lambda[j] = sigma2 / (s * s);
          break;
        case PRIOR_LAPLACE:
          lambda[j] = sigma2 / (s * (Math.abs(beta[j] as number) + 1e-6 * s));
          break;
        default:
          lambda[j] = 0;
      }
    }
    solveRidge(ne.xtx, lambda, ne.xty, p, beta, work);
    rss = residualSumOfSquares(ne, beta);
    if (opts.sigma === undefined) sigma2 = Math.max(rss / n, floor);
  }
  return { beta, sigma: Math.sqrt(sigma2), rss };
}

/** RSS = y'Wy − 2β'X'Wy + β'X'WXβ (clamped at 0 against rounding). */
export function residualSumOfSquares(ne: NormalEquations, beta: Float64Array): number {
  const p = ne.p;
  let quad = 0;
  let lin = 0;
  for (let i = 0; i < p; i++) {
    const bi = beta[i] as number;
    if (bi === 0) continue;
    lin += bi * (ne.xty[i] as number);
    let s = 0;
    const ri = i * p;
    for (let j = 0; j < p; j++) s += (ne.xtx[ri + j] as number) * (beta[j] as number);
    quad += bi * s;
  }
  return Math.max(0, ne.yty - 2 * lin + quad);
}
