/**
 * A Prophet-style forecaster: fit (MAP by regularised least squares, see map.ts) and predict
 * (expected value and a band of stated coverage). The model is plain data (JSON-safe).
 *
 * Differences from facebook/prophet, by design: seasonalities and changepoints may be given
 * explicitly (the engine passes detected periods); rows may carry weights and averaging widths;
 * `scaling: 'minmax'` and time-based changepoint placement are options; the band is analytic
 * instead of Monte Carlo (see {@link predict}).
 */
import type { designLayout } from './design.js';
import { designRows, type DesignSpec, type Seasonality } from './design.js';
import {
  PRIOR_LAPLACE,
  PRIOR_NORMAL,
  addRow,
  newNormalEquations,
  solveMap,
  symmetrize,
  type Priors,
} from './map.js';
import { DAY_MS, normalQuantile } from '../detectors/index.js';

/** Training data: parallel arrays, timestamps strictly increasing (epoch ms). */
export interface ProphetData {
  readonly timestampsMs: ArrayLike<number>;
  readonly values: ArrayLike<number>;
  /** Row weights (e.g. counts of averaged samples). @defaultValue 1 */
  readonly weights?: ArrayLike<number>;
  /** Width of the window each row averages, ms (0 for a point). @defaultValue 0 */
  readonly widthsMs?: ArrayLike<number>;
  /** Rows to use. @defaultValue values.length */
  readonly n?: number;
}

/** Options; defaults are Prophet's (shared/design/detection.md §1.1). */
export interface ProphetOptions {
  /** Potential changepoints. @defaultValue 25 */
  readonly nChangepoints?: number;
  /** Fraction of the history the changepoints cover. @defaultValue 0.8 */
  readonly changepointRange?: number;
  /** Laplace scale τ of the slope changes (scaled units). @defaultValue 0.05 */
  readonly changepointPriorScale?: number;
  /** Place changepoints evenly by row (Prophet) or by time (better for irregular data). @defaultValue "rows" */
  readonly changepointPlacement?: 'rows' | 'time';
  /** Seasonalities; "auto" applies Prophet's rules ({@link autoSeasonalities}). @defaultValue "auto" */
  readonly seasonalities?: readonly Seasonality[] | 'auto';
  /** Normal prior sd of the Fourier coefficients. @defaultValue 10 */
  readonly seasonalityPriorScale?: number;
  /** Onsets of step regressors (level shifts), epoch ms. @defaultValue [] */
  readonly stepsMs?: readonly number[];
  /** Normal prior sd of the step coefficients (Prophet's holidays_prior_scale). @defaultValue 10 */
  readonly stepPriorScale?: number;
  /** y_s = y / max|y| ("absmax", Prophet's default) or (y − min)/(max − min) ("minmax"). @defaultValue "absmax" */
  readonly scaling?: 'absmax' | 'minmax';
  /** Reweighting iterations of the L1 solve. @defaultValue 20 */
  readonly iterations?: number;
  /**
   * Calibrate the future band's noise on a holdout (split conformal, Vovk et al. 2005; for time
   * series, the last `holdoutFraction` of the history): fit without it, measure the RMS error of
   * the forecasts over it, and use max(that, σ) instead of the in-sample σ beyond the history.
   * Prophet's own band under-covers because in-sample σ ignores out-of-sample error
   * (detection.md §2.2: 0.677 for a nominal 0.8). 0 disables (Prophet's behaviour).
   * @defaultValue 0
   */
  readonly holdoutFraction?: number;
}

/** A fitted model: everything {@link predict} needs. */
export interface ProphetModel {
  readonly spec: DesignSpec;
  /** y_s = (y − yOffset) / yScale. */
  readonly yOffset: number;
  readonly yScale: number;
  /** Coefficients in design order (designLayout(spec)). */
  readonly beta: readonly number[];
  /** Observation noise σ, in y units. */
  readonly sigma: number;
  /** Noise σ used beyond the history (the holdout-calibrated σ, or `sigma`), y units. */
  readonly sigmaFuture: number;
  /** Mean |δ| of the changepoints (scaled units): the Laplace scale of future slope changes. */
  readonly meanAbsDelta: number;
  /** Last training time, ms. */
  readonly endMs: number;
}

/** Expected value and band at one time. */
export interface Prediction {
  readonly yhat: number;
  readonly lower: number;
  readonly upper: number;
}

/**
 * Prophet's automatic seasonalities (`set_auto_seasonalities`): yearly (order 10) if the data
 * span ≥ 730 days; weekly (3) if ≥ 14 days and the smallest spacing < 7 days; daily (4) if
 * ≥ 2 days and the smallest spacing < 1 day.
 */
export function autoSeasonalities(timestampsMs: ArrayLike<number>, n: number): Seasonality[] {
  if (n < 2) return [];
  const span = (timestampsMs[n - 1] as number) - (timestampsMs[0] as number);
  let minDt = Infinity;
  for (let i = 1; i < n; i++) {
    const d = (timestampsMs[i] as number) - (timestampsMs[i - 1] as number);
    if (d > 0 && d < minDt) minDt = d;
  }
  const out: Seasonality[] = [];
  if (span >= 730 * DAY_MS) out.push({ name: 'yearly', periodMs: 365.25 * DAY_MS, order: 10 });
  if (span >= 14 * DAY_MS && minDt < 7 * DAY_MS) out.push({ name: 'weekly', periodMs: 7 * DAY_MS, order: 3 });
  if (span >= 2 * DAY_MS && minDt < DAY_MS) out.push({ name: 'daily', periodMs: DAY_MS, order: 4 });
  return out;
}

/**
 * Prophet's changepoint grid: `nChangepoints` points in the first `range` of the history, evenly
 * by row (`round(linspace(0, floor(n·range) − 1, S + 1))[1:]`, reduced to floor(n·range) − 1
 * points when there are too few rows) or evenly by time. Returns scaled times t.
 */
export function changepointGrid(
  timestampsMs: ArrayLike<number>,
  n: number,
  startMs: number,
  scaleMs: number,
  count: number,
  range: number,
  placement: 'rows' | 'time',
): Float64Array {
  const hist = Math.floor(n * range);
  const s = Math.max(0, Math.min(count, hist - 1));
  const out = new Float64Array(s);
  for (let j = 1; j <= s; j++) {
    if (placement === 'rows') {
      const idx = Math.round(((hist - 1) * j) / s);
      out[j - 1] = ((timestampsMs[idx] as number) - startMs) / scaleMs;
    } else {
      out[j - 1] = (range * j) / s;
    }
  }
  return out;
}

/** Fits the model (MAP). Throws RangeError with fewer than 2 rows. */
export function fitProphet(data: ProphetData, opts: ProphetOptions = {}): ProphetModel {
  const n = data.n ?? data.values.length;
  if (n < 2) throw new RangeError(`fitProphet needs at least 2 rows (got ${n})`);
  const ts = data.timestampsMs;
  const startMs = ts[0] as number;
  const endMs = ts[n - 1] as number;
  const scaleMs = endMs > startMs ? endMs - startMs : 1;
  let yOffset = 0;
  let yScale: number;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = data.values[i] as number;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (opts.scaling === 'minmax') {
    yOffset = lo;
    yScale = hi - lo;
  } else {
    yScale = Math.max(Math.abs(lo), Math.abs(hi));
  }
  if (!(yScale > 0)) yScale = 1;
  const seasonalities =
    opts.seasonalities === 'auto' || opts.seasonalities === undefined
      ? autoSeasonalities(ts, n)
      : opts.seasonalities;
  const spec: DesignSpec = {
    startMs,
    scaleMs,
    changepointsT: changepointGrid(
      ts,
      n,
      startMs,
      scaleMs,
      opts.nChangepoints ?? 25,
      opts.changepointRange ?? 0.8,
      opts.changepointPlacement ?? 'rows',
    ),
    seasonalities,
    stepsMs: (opts.stepsMs ?? []).filter((u) => u > startMs && u <= endMs),
  };
  const rows = designRows(spec);
  const layout = rows.layout;
  const p = layout.width;
  const ne = newNormalEquations(p);
  const x = new Float64Array(p);
  let constant = true;
  const first = data.values[0] as number;
  for (let i = 0; i < n; i++) {
    const v = data.values[i] as number;
    if (v !== first) constant = false;
    rows.fill(ts[i] as number, data.widthsMs ? (data.widthsMs[i] as number) : 0, x);
    addRow(ne, x, (v - yOffset) / yScale, data.weights ? (data.weights[i] as number) : 1);
  }
  symmetrize(ne);
  const priors = columnPriors(layout, opts);
  let beta: Float64Array;
  let sigma: number;
  if (constant) {
    // Prophet skips the optimiser for constant y: params at their initial values, σ = 1e-9.
    beta = new Float64Array(p);
    beta[0] = (first - yOffset) / yScale;
    sigma = 1e-9;
  } else {
    const r = solveMap(ne, priors, opts.iterations !== undefined ? { iterations: opts.iterations } : {});
    beta = r.beta;
    sigma = r.sigma;
  }
  let mad = 0;
  for (let j = 0; j < layout.changepoints; j++) mad += Math.abs(beta[2 + j] as number);
  mad = layout.changepoints > 0 ? mad / layout.changepoints : 0;
  const model = {
    spec,
    yOffset,
    yScale,
    beta: Array.from(beta),
    sigma: sigma * yScale,
    sigmaFuture: sigma * yScale,
    meanAbsDelta: mad,
    endMs,
  };
  const frac = opts.holdoutFraction ?? 0;
  if (frac > 0 && n >= 20) {
    // split at a time, not a row count: the holdout is the last `frac` of the time span
    const cut = endMs - frac * (endMs - startMs);
    let k = 0;
    while (k < n && (ts[k] as number) <= cut) k++;
    if (k >= 10 && n - k >= 5) {
      const inner = fitProphet({ ...data, n: k }, { ...opts, holdoutFraction: 0, seasonalities });
      let se = 0;
      for (let i = k; i < n; i++)
        se += ((data.values[i] as number) - predict(inner, ts[i] as number).yhat) ** 2;
      model.sigmaFuture = Math.max(model.sigma, Math.sqrt(se / (n - k)));
    }
  }
  return model;
}

/** The per-column priors of a layout (Prophet's: m, k ~ N(0,5); δ ~ Laplace(0,τ); Fourier, steps ~ N(0,10)). */
export function columnPriors(
  layout: ReturnType<typeof designLayout>,
  opts: Pick<ProphetOptions, 'changepointPriorScale' | 'seasonalityPriorScale' | 'stepPriorScale'>,
): Priors {
  const p = layout.width;
  const kind = new Uint8Array(p);
  const scale = new Float64Array(p);
  kind[0] = PRIOR_NORMAL;
  scale[0] = 5;
  kind[1] = PRIOR_NORMAL;
  scale[1] = 5;
  for (let j = 2; j < layout.fourierAt; j++) {
    kind[j] = PRIOR_LAPLACE;
    scale[j] = opts.changepointPriorScale ?? 0.05;
  }
  for (let j = layout.fourierAt; j < layout.stepsAt; j++) {
    kind[j] = PRIOR_NORMAL;
    scale[j] = opts.seasonalityPriorScale ?? 10;
  }
  for (let j = layout.stepsAt; j < p; j++) {
    kind[j] = PRIOR_NORMAL;
    scale[j] = opts.stepPriorScale ?? 10;
  }
  return { kind, scale };
}

/**
 * Expected value at `tsMs` and the band of nominal coverage `coverage` (Prophet's
 * interval_width, default 0.8). In the history the band is yhat ± z·σ (Prophet's trend
 * uncertainty is zero there, detection.md §1.8). Beyond the last training time it adds Prophet's
 * trend uncertainty in closed form: future changepoints arrive at rate S per unit of scaled time
 * with Laplace(0, mean|δ|) sizes, so the trend's deviation h units ahead has variance
 * S·2b²·h³/3 (a compound Poisson process integrated twice); the band uses its Gaussian
 * approximation instead of 1,000 simulated paths.
 */
export function predict(model: ProphetModel, tsMs: number, coverage = 0.8): Prediction {
  const rows = designRows(model.spec);
  const x = new Float64Array(rows.layout.width);
  rows.fill(tsMs, 0, x);
  let ys = 0;
  for (let j = 0; j < x.length; j++) ys += (x[j] as number) * (model.beta[j] as number);
  const yhat = ys * model.yScale + model.yOffset;
  const z = normalQuantile(0.5 + coverage / 2);
  const h = (tsMs - model.endMs) / model.spec.scaleMs;
  let variance = (h > 0 ? model.sigmaFuture : model.sigma) ** 2;
  if (h > 0) {
    const s = model.spec.changepointsT.length;
    const b = model.meanAbsDelta + 1e-8;
    variance += ((s * 2 * b * b * h ** 3) / 3) * model.yScale ** 2;
  }
  const half = z * Math.sqrt(variance);
  return { yhat, lower: yhat - half, upper: yhat + half };
}

/** {@link predict} at many times. */
export function forecast(model: ProphetModel, timestampsMs: ArrayLike<number>, coverage = 0.8): Prediction[] {
  const out: Prediction[] = [];
  for (let i = 0; i < timestampsMs.length; i++) out.push(predict(model, timestampsMs[i] as number, coverage));
  return out;
}
