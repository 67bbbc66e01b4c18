/**
 * The design matrix of the Prophet model (Taylor & Letham, "Forecasting at scale", The American
 * Statistician 72(1), 2018, §3; facebook/prophet `forecaster.py`), one row at a time:
 *
 *   y(t) = m + k·t + Σ_j δ_j·(t − s_j)₊ + Σ_P Σ_{n≤N_P} [a_{P,n} sin(2πn·τ/P) + b_{P,n} cos(2πn·τ/P)] + Σ_i c_i·1[t ≥ u_i]
 *
 * with t the time scaled to [0, 1] over the training span, s_j the changepoints (the trend is
 * continuous, piecewise linear: δ_j changes the slope, §3.1.2), τ the absolute time (Fourier
 * terms are anchored to the Unix epoch as Prophet's `fourier_series` is, so gaps and cutoffs do
 * not shift phase, §3.2) and u_i the onsets of step regressors (level shifts, Prophet's
 * "handling shocks" pattern).
 *
 * A row may stand for the mean of samples spread uniformly over a window of width w (the
 * engine's coarse history buckets): each column is then replaced by its exact average over the
 * window, so a least-squares fit to bucket means weighted by their counts approximates the fit to
 * the raw samples. For a sinusoid the average is the centre value times sinc(πn·w/P).
 */

/** One seasonality: a period and its Fourier order N (2N columns). */
export interface Seasonality {
  /** Name in reports ("daily", "weekly", "yearly", or "p<ms>"). */
  readonly name: string;
  /** Period, ms. */
  readonly periodMs: number;
  /** Fourier order N ≥ 1. */
  readonly order: number;
}

/** What the columns are. */
export interface DesignSpec {
  /** Origin and unit of the scaled time t = (ts − startMs) / scaleMs. */
  readonly startMs: number;
  readonly scaleMs: number;
  /** Changepoints in scaled time t. */
  readonly changepointsT: ArrayLike<number>;
  readonly seasonalities: readonly Seasonality[];
  /** Onsets of step regressors, epoch ms. */
  readonly stepsMs: ArrayLike<number>;
}

/** Column groups, in order: intercept m, slope k, changepoint deltas, Fourier terms, steps. */
export interface DesignLayout {
  readonly width: number;
  readonly changepoints: number;
  /** First Fourier column. */
  readonly fourierAt: number;
  /** First step column. */
  readonly stepsAt: number;
}

export function designLayout(spec: DesignSpec): DesignLayout {
  const s = spec.changepointsT.length;
  let f = 0;
  for (const x of spec.seasonalities) f += 2 * x.order;
  return { width: 2 + s + f + spec.stepsMs.length, changepoints: s, fourierAt: 2 + s, stepsAt: 2 + s + f };
}

/** Phase of an absolute time in a period, in [0, 1). */
export function phaseOf(tsMs: number, periodMs: number): number {
  const r = tsMs % periodMs;
  return (r < 0 ? r + periodMs : r) / periodMs;
}

/** Builds rows of the design matrix for a spec (allocates its small caches once). */
export interface DesignRows {
  readonly layout: DesignLayout;
  /**
   * Writes the row for a sample at `tsMs` (or for the mean over [tsMs − widthMs/2,
   * tsMs + widthMs/2] when widthMs > 0) into `row[0..width)`.
   */
  fill(tsMs: number, widthMs: number, row: Float64Array): void;
}

export function designRows(spec: DesignSpec): DesignRows {
  const layout = designLayout(spec);
  const cps = Float64Array.from(spec.changepointsT);
  const steps = Float64Array.from(spec.stepsMs);
  const seas = spec.seasonalities;
  let maxOrder = 0;
  for (const x of seas) maxOrder = Math.max(maxOrder, x.order);
  // sinc attenuation per (seasonality, harmonic), cached for the last width seen
  const atten = new Float64Array(seas.length * maxOrder);
  let attenWidth = 0;
  atten.fill(1);
  const inv = 1 / spec.scaleMs;
  return {
    layout,
    fill(tsMs, widthMs, row) {
      const t = (tsMs - spec.startMs) * inv;
      const h = widthMs > 0 ? 0.5 * widthMs * inv : 0;
      row[0] = 1;
      row[1] = t;
      let c = 2;
      for (let j = 0; j < cps.length; j++) {
        const s = cps[j] as number;
        let v: number;
        if (t - h >= s) v = t - s;
        else if (t + h <= s) v = 0;
        else v = (t + h - s) ** 2 / (4 * h);
        row[c++] = v;
      }
      if (widthMs !== attenWidth) {
        attenWidth = widthMs;
        for (let q = 0; q < seas.length; q++) {
          const sq = seas[q] as Seasonality;
          for (let n = 1; n <= sq.order; n++) {
            const x = (Math.PI * n * widthMs) / sq.periodMs;
            atten[q * maxOrder + n - 1] = x === 0 ? 1 : Math.sin(x) / x;
          }
        }
      }
      for (let q = 0; q < seas.length; q++) {
        const sq = seas[q] as Seasonality;
        const th = 2 * Math.PI * phaseOf(tsMs, sq.periodMs);
        const s1 = Math.sin(th);
        const c1 = Math.cos(th);
        let sn = s1;
        let cn = c1;
        const base = q * maxOrder;
        for (let n = 1; n <= sq.order; n++) {
          const a = atten[base + n - 1] as number;
          row[c++] = sn * a;
          row[c++] = cn * a;
          // angle addition: sin((n+1)θ), cos((n+1)θ)
          const sn1 = sn * c1 + cn * s1;
          cn = cn * c1 - sn * s1;
          sn = sn1;
        }
      }
      for (let i = 0; i < steps.length; i++) {
        const u = ((steps[i] as number) - spec.startMs) * inv;
        let v: number;
        if (t - h >= u) v = 1;
        else if (t + h < u) v = 0;
        else v = h > 0 ? (t + h - u) / (2 * h) : 1;
        row[c++] = v;
      }
    },
  };
}
