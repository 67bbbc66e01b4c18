/**
 * Shared shapes of the detectors (shared/design/style.md part (c)): a series is two parallel
 * arrays, and expected conditions (too little data) come back as typed results, not exceptions.
 */

/** A series: event times (epoch ms, strictly increasing) and finite values, `n` of them (default: all). */
export interface Series {
  readonly timestampsMs: ArrayLike<number>;
  readonly values: ArrayLike<number>;
  /** Number of points to use from the start of the arrays. @defaultValue `values.length` */
  readonly n?: number;
}

/** A detector's answer: findings, or a statement that the input was too short. */
export type DetectorResult<F> =
  | { readonly kind: 'ok'; readonly findings: readonly F[] }
  | { readonly kind: 'insufficient-data'; readonly needed: number; readonly got: number };
