/**
 * One refit of a series' model from its compact history (state.ts):
 *
 * 1. Periods (when due): FFT/ACF detection (src/detectors) on the raw ring at the sampling step,
 *    and on the whole history at the coarse step for periods the raw ring is too short to show
 *    (weekly at 5-minute data). Fourier order per period = its significant harmonics, clamped
 *    to [3, max_fourier_order] and below Nyquist.
 * 2. Forecast: the Prophet model (src/prophet) on coarse bucket means (weighted by counts,
 *    columns averaged over the bucket) and raw samples, min-max scaled, changepoints evenly by
 *    time in the first `changepoint_range`, step regressors at detected level shifts; MAP by
 *    regularised least squares; then one robust pass (Prophet's outlier advice, detection.md
 *    §3: drop raw rows beyond 5 robust σ, by downdating X'X, and refit). Samples that scored as
 *    anomalies are left out of fits too (except after the latest level shift, which they define).
 * 3. Residual model: AR(1) on the in-sample residuals (innovation e_t = r_t − φ^{Δ/dt}·r_{t−1});
 *    robust σ (1.4826·MAD) of residuals and innovations; the DBSCAN envelope of the innovation
 *    z-scores (detection.md §6.3); tail models of |z_inn| and |z_res| (calibration).
 * 4. Collapse the model for O(1) scoring: beyond the last changepoint and step, the trend is a
 *    line, so only its level, slope and the Fourier coefficients are kept.
 *
 * Allocation: the scratch buffers are the engine's (one set per worker); the detectors and the
 * MAP solve allocate O(n + p²) temporaries.
 */
import {
  DAY_MS,
  WEEK_MS,
  detectPeriods,
  fitResidualEnvelope,
  fitTail,
  medianInPlace,
  selectKth,
  tailQuantile,
  type Period,
} from '../../detectors/index.js';
import {
  addRow,
  columnPriors,
  designRows,
  newNormalEquations,
  solveMap,
  symmetrize,
  type DesignSpec,
  type Seasonality,
} from '../../prophet/index.js';
import type { DetectionConfig } from './config.js';
import * as S from './state.js';
import type { EngineState, Layout } from './state.js';
import { durationMs } from '../../common/index.js';

const HOUR_MS = 3_600_000;
/** Re-detect periods every this many refits once some are known (weekly at a daily cadence). */
const PERIOD_RECHECK = 7;
/** Detected periods within 10% of a day or a week are taken as calendar periods. */
const SNAP = 0.1;
/** The level stage clamps z_res to ±this before averaging (one spike is the point stage's job). */
export const LEVEL_CLAMP = 6;
/** Raw samples per regression row (see the rows section of {@link refit}). */
const RAW_GROUP = 4;
/** Reweighting iterations of the MAP solve. */
const MAP_ITERATIONS = 10;
/** Robust pass: raw rows beyond this many σ leave the fit. */
const ROBUST_Z = 5;

/** Reusable buffers of one engine (one per worker thread). */
export interface Scratch {
  readonly ts: Float64Array;
  readonly y: Float64Array;
  readonly w: Float64Array;
  readonly width: Float64Array;
  /** Raw rows: row index of each raw sample, or −1 when excluded. */
  readonly rawRow: Int32Array;
  readonly rawTs: Float64Array;
  readonly rawY: Float64Array;
  readonly resid: Float64Array;
  /** Residual scale factor of each raw sample (see scaleModel). */
  readonly rawScale: Float64Array;
  readonly tmp: Float64Array;
  readonly tmp2: Float64Array;
  readonly x: Float64Array;
  /** Design rows of the regression (rows × p) and of the raw samples (raw × p). */
  readonly X: Float64Array;
  readonly XR: Float64Array;
}

export function newScratch(l: Layout, c: DetectionConfig): Scratch {
  const n = Math.max(l.raw + l.coarse, S.PROF_CAP);
  const p = 2 + c.changepoints + 2 * l.maxSeasons * c.max_fourier_order + 2;
  return {
    ts: new Float64Array(n),
    y: new Float64Array(n),
    w: new Float64Array(n),
    width: new Float64Array(n),
    rawRow: new Int32Array(l.raw),
    rawTs: new Float64Array(l.raw),
    rawY: new Float64Array(l.raw),
    resid: new Float64Array(l.raw),
    rawScale: new Float64Array(l.raw),
    tmp: new Float64Array(n),
    tmp2: new Float64Array(n),
    x: new Float64Array(p),
    X: new Float64Array((l.coarse + l.raw) * p),
    XR: new Float64Array(l.raw * p),
  };
}

/** Position in the raw ring of the i-th oldest held sample. */
export function rawPos(f: Float64Array, l: Layout, i: number): number {
  return ((f[S.RAW_HEAD] as number) - (f[S.RAW_N] as number) + i + l.raw) % l.raw;
}

/** Robust σ of `a[0..n)`: 1.4826·MAD, else 1.2533·mean |a − median| (≥ half the values tie). Reorders `a`. */
function robustSigma(a: Float64Array, n: number, work: Float64Array): number {
  if (n === 0) return 0;
  const med = medianInPlace(a, n);
  for (let i = 0; i < n; i++) work[i] = Math.abs((a[i] as number) - med);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += work[i] as number;
  mean /= n;
  const mad = medianInPlace(work, n);
  return mad > 0 ? 1.4826 * mad : 1.2533 * mean;
}

/** Refits the model of `st` (see the module comment). */
export function refit(st: EngineState, l: Layout, c: DetectionConfig, sc: Scratch): void {
  const { f, s, b } = st;
  const nRaw = f[S.RAW_N] as number;
  f[S.SINCE_FIT] = 0; // also when the fit below is impossible: do not retry at every sample
  if (nRaw < 2) return;
  const tsBase = f[S.TS_BASE] as number;
  // ---- raw history, oldest first --------------------------------------------------------------
  let lastStep = -Infinity;
  for (const u of [f[S.STEP0] as number, f[S.STEP1] as number, f[S.PENDING_STEP] as number])
    if (u > lastStep) lastStep = u;
  for (let i = 0; i < nRaw; i++) {
    const p = rawPos(f, l, i);
    sc.rawTs[i] = tsBase + (s[l.rawTs + p] as number) * 1000;
    sc.rawY[i] = s[l.rawV + p] as number;
  }
  // sample spacing and the derived record counts
  let dMin = Infinity;
  let dMax = -Infinity;
  for (let i = 1; i < nRaw; i++) {
    const d = (sc.rawTs[i] as number) - (sc.rawTs[i - 1] as number);
    sc.tmp[i - 1] = d;
    if (d < dMin) dMin = d;
    if (d > dMax) dMax = d;
  }
  // regular sampling (the common case): every spacing is the median
  const dt = Math.max(1, dMin === dMax ? dMin : medianInPlace(sc.tmp, nRaw - 1));
  f[S.DT] = dt;
  if (!((f[S.C_WIDTH] as number) > 0)) f[S.C_WIDTH] = dt * Math.max(8, Math.ceil(HOUR_MS / dt));
  const width = f[S.C_WIDTH] as number;
  const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
  f[S.CADENCE] = clamp(
    Math.round(durationMs(c.refit_interval) / dt),
    c.refit_min_records,
    Math.max(c.refit_min_records, c.refit_max_records),
  );
  f[S.LS_M] = clamp(Math.round(durationMs(c.level_shift_window) / dt), 6, S.LS_CAP);

  // ---- steps: adopt a pending level shift; forget steps older than the history ----------------
  const firstTs = oldestTs(f, l, sc);
  const pending = f[S.PENDING_STEP] as number;
  let steps: number[] = [f[S.STEP0] as number, f[S.STEP1] as number, pending].filter(
    (u) => Number.isFinite(u) && u > firstTs,
  );
  steps = steps.slice(-2);
  f[S.STEP0] = steps[0] ?? NaN;
  f[S.STEP1] = steps[1] ?? NaN;

  // ---- rows: coarse buckets, then raw samples in groups of up to RAW_GROUP -------------------
  // A group (consecutive included samples, no gap > 1.5 steps, no step onset inside) enters the
  // regression as its mean with columns averaged over its span (design.ts), weighted by its size:
  // the same normal equations as the raw samples up to the within-group curvature of the basis,
  // at a quarter of the rows.
  let n = 0;
  const cUsed = f[S.C_USED] as number;
  const cLast = f[S.C_LAST] as number;
  for (let k = cUsed - 1; k >= 0; k--) {
    const abs = cLast - k;
    const p = ((abs % l.coarse) + l.coarse) % l.coarse;
    const cnt = s[l.cCnt + p] as number;
    if (!(cnt > 0)) continue;
    sc.ts[n] = (abs + 0.5) * width;
    sc.y[n] = s[l.cMean + p] as number;
    sc.w[n] = cnt;
    sc.width[n] = width;
    n++;
  }
  const nCoarseRows = n;
  let nIncluded = 0;
  let gStart = -1;
  let gLast = -1;
  let gCount = 0;
  for (let i = 0; i < nRaw; i++) {
    const p = rawPos(f, l, i);
    const t = sc.rawTs[i] as number;
    if ((b[p] as number) & S.EXCLUDED && !(t >= lastStep)) {
      sc.rawRow[i] = -1;
      continue;
    }
    nIncluded++;
    const newGroup =
      gCount === 0 ||
      gCount === RAW_GROUP ||
      t - (sc.rawTs[gLast] as number) > 1.5 * dt ||
      steps.some((u) => u > (sc.rawTs[gLast] as number) && u <= t);
    if (newGroup) {
      if (gCount > 0) closeGroup(sc, n++, gStart, gLast, gCount, dt);
      gStart = i;
      gCount = 0;
    }
    sc.rawRow[i] = n;
    gLast = i;
    gCount++;
  }
  if (gCount > 0) closeGroup(sc, n++, gStart, gLast, gCount, dt);
  if (nIncluded < 2) return;

  // ---- periods ------------------------------------------------------------------------------
  // Detect while none is known and the history has grown by a quarter since the last look (so
  // level-shift refits cannot starve it), and every PERIOD_RECHECK refits once some are known.
  // A period found on a short history is imprecise (the error falls as the history^1.5: found on
  // 2–3 cycles, a 4-hour period was off by up to 6 minutes, its phase drifted a whole σ-band
  // within one refit interval, and half the refits on clean data were false level shifts), so
  // it is also re-detected each time the history has doubled, until the raw ring is full.
  const age = f[S.PERIOD_AGE] as number;
  const count = f[S.COUNT] as number;
  const detCount = f[S.DET_COUNT] as number;
  const sharpen = (f[S.N_DET] as number) > 0 && detCount < l.raw && count >= 2 * detCount;
  if (((f[S.N_DET] as number) === 0 && count >= 1.25 * detCount) || age >= PERIOD_RECHECK || sharpen) {
    const before = f[S.N_DET] as number;
    detectSeriesPeriods(f, l, c, sc, nRaw, n, nCoarseRows, dt, width);
    f[S.PERIOD_AGE] = 0;
    if (before === 0 && (f[S.N_DET] as number) > 0) {
      // Steps found while the seasonality was unknown are mostly its daily swings misread as
      // level shifts: drop them now that the seasonality explains the history.
      steps = steps.filter((u) => u === pending);
      f[S.STEP0] = steps[0] ?? NaN;
      f[S.STEP1] = NaN;
    }
    f[S.DET_COUNT] = count;
  } else {
    f[S.PERIOD_AGE] = age + 1;
  }
  f[S.PENDING_STEP] = NaN;
  const seasonalities = modelSeasonalities(
    f,
    l,
    c,
    dt,
    Math.max(sc.ts[n - 1] as number, sc.rawTs[nRaw - 1] as number) -
      Math.min(sc.ts[0] as number, sc.rawTs[0] as number),
  );
  f[S.N_PER] = seasonalities.length;
  seasonalities.forEach((x, q) => {
    f[l.per + q] = x.periodMs;
    f[l.ord + q] = x.order;
  });

  // ---- the Prophet fit ------------------------------------------------------------------------
  const t0 = Math.min(sc.ts[0] as number, sc.rawTs[0] as number);
  const t1 = Math.max(sc.ts[n - 1] as number, sc.rawTs[nRaw - 1] as number);
  const scaleMs = t1 > t0 ? t1 - t0 : 1;
  const nCp = c.changepoints;
  const cps = new Float64Array(nCp);
  for (let j = 1; j <= nCp; j++) cps[j - 1] = (c.changepoint_range * j) / nCp;
  const spec: DesignSpec = { startMs: t0, scaleMs, changepointsT: cps, seasonalities, stepsMs: steps };
  const rows = designRows(spec);
  const layout = rows.layout;
  const pCols = layout.width;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = sc.y[i] as number;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const yOff = lo;
  const yScale = hi > lo ? hi - lo : 1;
  const ne = newNormalEquations(pCols);
  const X = sc.X;
  for (let i = 0; i < n; i++) {
    const row = X.subarray(i * pCols, (i + 1) * pCols);
    rows.fill(sc.ts[i] as number, sc.width[i] as number, row);
    addRow(ne, row, ((sc.y[i] as number) - yOff) / yScale, sc.w[i] as number);
  }
  symmetrize(ne);
  const priors = columnPriors(layout, {
    changepointPriorScale: c.changepoint_prior_scale,
    seasonalityPriorScale: c.seasonality_prior_scale,
    stepPriorScale: c.seasonality_prior_scale,
  });
  let beta = solveMap(ne, priors, { iterations: MAP_ITERATIONS }).beta;
  // design rows of the raw samples (cached for both residual passes)
  const XR = sc.XR;
  for (let i = 0; i < nRaw; i++) rows.fill(sc.rawTs[i] as number, 0, XR.subarray(i * pCols, (i + 1) * pCols));
  // robust pass: raw samples beyond ROBUST_Z σ leave their group's row
  let m = 0;
  for (let i = 0; i < nRaw; i++) {
    sc.resid[i] = (sc.rawY[i] as number) - (yOff + yScale * dotAt(XR, i * pCols, beta, pCols));
    if ((sc.rawRow[i] as number) >= 0) sc.tmp[m++] = sc.resid[i] as number;
  }
  const sigma0 = robustSigma(sc.tmp, m, sc.tmp2);
  if (sigma0 > 0) {
    let dropped = 0;
    const x = sc.x;
    for (let i = 0; i < nRaw; i++) {
      const r = sc.rawRow[i] as number;
      if (
        r < 0 ||
        (sc.rawTs[i] as number) >= lastStep ||
        Math.abs(sc.resid[i] as number) <= ROBUST_Z * sigma0
      )
        continue;
      // take the group's row out, drop the sample, put the reduced group back
      addRow(
        ne,
        X.subarray(r * pCols, (r + 1) * pCols),
        ((sc.y[r] as number) - yOff) / yScale,
        -(sc.w[r] as number),
      );
      sc.rawRow[i] = -1;
      let first = -1;
      let last = -1;
      let cnt = 0;
      for (let k = Math.max(0, i - RAW_GROUP); k < Math.min(nRaw, i + RAW_GROUP + 1); k++) {
        if (sc.rawRow[k] !== r) continue;
        if (first < 0) first = k;
        last = k;
        cnt++;
      }
      if (cnt > 0) {
        closeGroup(sc, r, first, last, cnt, dt);
        rows.fill(sc.ts[r] as number, sc.width[r] as number, x);
        X.set(x.subarray(0, pCols), r * pCols);
        addRow(ne, x, ((sc.y[r] as number) - yOff) / yScale, sc.w[r] as number);
      }
      dropped++;
    }
    if (dropped > 0) {
      symmetrize(ne);
      beta = solveMap(ne, priors, { iterations: MAP_ITERATIONS, init: beta }).beta;
    }
  }

  // ---- collapse the model -------------------------------------------------------------------
  let level = beta[0] as number;
  let slope = beta[1] as number;
  for (let j = 0; j < layout.changepoints; j++) {
    const d = beta[2 + j] as number;
    slope += d;
    level -= d * (cps[j] as number);
  }
  for (let j = layout.stepsAt; j < pCols; j++) level += beta[j] as number;
  const vBase = f[S.V_BASE] as number;
  f[S.MODEL_T0] = t0;
  f[S.LEVEL_A] = vBase + yOff + yScale * level;
  f[S.SLOPE_B] = (yScale * slope) / scaleMs;
  // Extrapolate the slope for one refit interval at most: across a long gap a trend fitted on
  // the last tenth of the history would run away (a damped trend, Gardner & McKenzie 1985).
  f[S.TREND_END] = (sc.rawTs[nRaw - 1] as number) + f[S.CADENCE] * dt;
  for (let j = layout.fourierAt; j < layout.stepsAt; j++)
    f[l.fourier + j - layout.fourierAt] = yScale * (beta[j] as number);

  // ---- residuals of all raw samples against the collapsed model? No: against the full model --
  // (the collapsed line is exact only after the last changepoint).
  let nr = 0;
  for (let i = 0; i < nRaw; i++) {
    sc.resid[i] = (sc.rawY[i] as number) - (yOff + yScale * dotAt(XR, i * pCols, beta, pCols));
    if ((sc.rawRow[i] as number) >= 0) sc.tmp[nr++] = sc.resid[i] as number;
  }
  const range = Math.max((f[S.HI_SEEN] as number) - (f[S.LO_SEEN] as number), Math.abs(vBase + yOff), 1e-300);
  const floor = 1e-9 * range;
  seasonalProfile(st, l, sc, nRaw, robustSigma(sc.tmp, nr, sc.tmp2), c.seasonal_profile);
  // heteroscedasticity: residual scale as a power of the forecast level (sc.rawScale[i])
  scaleModel(f, sc, nRaw, vBase, c.heteroscedastic);
  nr = 0;
  for (let i = 0; i < nRaw; i++)
    if ((sc.rawRow[i] as number) >= 0) sc.tmp[nr++] = (sc.resid[i] as number) / (sc.rawScale[i] as number);
  const sigmaRes = Math.max(robustSigma(sc.tmp, nr, sc.tmp2), floor);
  // AR(1) over consecutive included pairs
  let sxy = 0;
  let sxx = 0;
  for (let i = 1; i < nRaw; i++) {
    if ((sc.rawRow[i] as number) < 0 || (sc.rawRow[i - 1] as number) < 0) continue;
    if ((sc.rawTs[i] as number) - (sc.rawTs[i - 1] as number) > 1.5 * dt) continue;
    const a = Math.max(
      -4 * sigmaRes,
      Math.min(4 * sigmaRes, (sc.resid[i - 1] as number) / (sc.rawScale[i - 1] as number)),
    );
    const bb = Math.max(
      -4 * sigmaRes,
      Math.min(4 * sigmaRes, (sc.resid[i] as number) / (sc.rawScale[i] as number)),
    );
    sxy += a * bb;
    sxx += a * a;
  }
  const phi = c.innovations && sxx > 0 ? Math.min(0.98, Math.max(0, sxy / sxx)) : 0;
  // innovations (first sample and post-gap samples use the decayed coefficient)
  let ni = 0;
  for (let i = 0; i < nRaw; i++) {
    if ((sc.rawRow[i] as number) < 0) continue;
    let e = sc.resid[i] as number;
    if (i > 0) {
      const g = ((sc.rawTs[i] as number) - (sc.rawTs[i - 1] as number)) / dt;
      e -= arFactor(phi, g) * (sc.resid[i - 1] as number);
    }
    sc.tmp[ni++] = e / (sc.rawScale[i] as number);
  }
  for (let i = 0; i < ni; i++) sc.tmp2[i] = sc.tmp[i] as number;
  const sigmaInn = Math.max(robustSigma(sc.tmp2, ni, sc.ts), floor);
  // NB: sc.ts/sc.y are free from here on.
  for (let i = 0; i < ni; i++) sc.tmp[i] = (sc.tmp[i] as number) / sigmaInn;
  const env = fitResidualEnvelope(sc.tmp, ni, { epsMin: c.dbscan_eps_min });
  f[S.ENV_LO] = env.lo;
  f[S.ENV_HI] = env.hi;
  for (let i = 0; i < ni; i++) sc.tmp[i] = Math.abs(sc.tmp[i] as number);
  fitTail(sc.tmp, ni, f, S.TAIL_INN);
  let nz = 0;
  for (let i = 0; i < nRaw; i++)
    if ((sc.rawRow[i] as number) >= 0)
      sc.tmp[nz++] = Math.abs(sc.resid[i] as number) / (sigmaRes * (sc.rawScale[i] as number));
  fitTail(sc.tmp, nz, f, S.TAIL_RES);
  f[S.BAND_Q] = tailQuantile(f, S.TAIL_RES, c.band_coverage);
  f[S.SIGMA_RES] = sigmaRes;
  f[S.SIGMA_INN] = sigmaInn;
  f[S.PHI] = phi;
  f[S.LAST_R] = sc.resid[nRaw - 1] as number;
  f[S.LAST_R_TS] = sc.rawTs[nRaw - 1] as number;

  // ---- bookkeeping --------------------------------------------------------------------------
  f[S.N_FITS] = (f[S.N_FITS] as number) + 1;
  const cadence = f[S.CADENCE];
  // Without a period yet, refit (and look for one) as the history grows by a quarter.
  f[S.NEXT_FIT] =
    (f[S.N_DET] as number) === 0
      ? Math.min(cadence, Math.max(c.min_history, Math.round(0.25 * (f[S.COUNT] as number))))
      : cadence;
  f[S.LS_N] = 0;
  f[S.LS_HI] = 0;
  f[S.LS_LO] = 0;
  f[S.LS_HEAD] = 0;
  rebase(st, l, sc, nRaw);
}

/**
 * The seasonal residual profile: per phase bin of the primary period, the shrunk mean residual
 * of the raw samples, an STL-style seasonal component of what the Fourier terms miss (sharp daily
 * edges, batch jobs at fixed times). Bins the raw history does not cover keep their previous
 * value. The residuals are then replaced by their leave-one-out version (the sample left out of
 * its bin's mean), so σ and the tails stay honest.
 */
function seasonalProfile(
  st: EngineState,
  l: Layout,
  sc: Scratch,
  nRaw: number,
  sigma0: number,
  enabled: boolean,
): void {
  const { f, s } = st;
  const np = f[S.N_DET] as number;
  const per = f[l.dper] as number;
  f[S.PROF_PER] = per;
  const dt = f[S.DT] as number;
  // Only when the residuals are still periodic: their lag-P autocorrelation ≥ 0.25 (kept down to
  // 0.15 once on, against flapping). Smooth seasonality is the Fourier terms' job; a profile of
  // noise only adds noise.
  const was = (f[S.PROF_BINS] as number) > 0;
  const periodic = np > 0 && enabled && lagCorrelation(sc, nRaw, per, dt) >= (was ? 0.15 : 0.25);
  const bins = periodic ? Math.min(S.PROF_CAP, Math.max(8, Math.round(per / dt))) : 0;
  if (bins !== (f[S.PROF_BINS] as number)) s.fill(0, l.prof, l.prof + S.PROF_CAP);
  f[S.PROF_BINS] = bins;
  if (bins === 0) return;
  const sum = sc.tmp2; // bins ≤ PROF_CAP ≤ its length
  const cnt = sc.w;
  sum.fill(0, 0, bins);
  cnt.fill(0, 0, bins);
  const lim = 4 * sigma0;
  const clampR = (r: number) => (lim > 0 ? Math.max(-lim, Math.min(lim, r)) : r);
  for (let i = 0; i < nRaw; i++) {
    if ((sc.rawRow[i] as number) < 0) continue;
    const bIdx = binOf(sc.rawTs[i] as number, per, bins);
    sum[bIdx] = (sum[bIdx] as number) + clampR(sc.resid[i] as number);
    cnt[bIdx] = (cnt[bIdx] as number) + 1;
  }
  // Empirical Bayes shrinkage of the bin means (James & Stein 1961; Efron & Morris 1973): noise
  // variance σ_w² pooled within bins, spread τ² of the true profile = mean(m_b²) − mean(σ_w²/c_b);
  // each bin mean is shrunk by τ²/(τ² + σ_w²/c_b): a sharp recurring shape is kept almost whole,
  // a profile of noise shrinks to nothing.
  let ssw = 0;
  let dfw = 0;
  for (let i = 0; i < nRaw; i++) {
    if ((sc.rawRow[i] as number) < 0) continue;
    const bIdx = binOf(sc.rawTs[i] as number, per, bins);
    const c = cnt[bIdx] as number;
    if (c < 2) continue;
    ssw += (clampR(sc.resid[i] as number) - (sum[bIdx] as number) / c) ** 2;
  }
  let m2 = 0;
  let noise = 0;
  let used = 0;
  for (let k = 0; k < bins; k++) {
    const c = cnt[k] as number;
    if (c >= 2) dfw += c - 1;
  }
  const sw2 = dfw > 0 ? ssw / dfw : sigma0 * sigma0;
  for (let k = 0; k < bins; k++) {
    const c = cnt[k] as number;
    if (c === 0) continue;
    m2 += ((sum[k] as number) / c) ** 2;
    noise += sw2 / c;
    used++;
  }
  const tau2 = used > 0 ? Math.max(0, (m2 - noise) / used) : 0;
  const shrink = (c: number) => (c > 0 && tau2 > 0 ? tau2 / (tau2 + sw2 / c) : 0);
  for (let k = 0; k < bins; k++) {
    const c = cnt[k] as number;
    if (c > 0) s[l.prof + k] = shrink(c) * ((sum[k] as number) / c);
  }
  for (let i = 0; i < nRaw; i++) {
    const bIdx = binOf(sc.rawTs[i] as number, per, bins);
    const r = sc.resid[i] as number;
    const c = cnt[bIdx] as number;
    if ((sc.rawRow[i] as number) >= 0) {
      // leave-one-out: the profile this sample would have been scored against
      sc.resid[i] = c >= 2 ? r - shrink(c - 1) * (((sum[bIdx] as number) - clampR(r)) / (c - 1)) : r;
    } else {
      sc.resid[i] = r - (s[l.prof + bIdx] as number);
    }
  }
}

/** Correlation of included residuals one period `per` apart (pairs within half a step of it). */
function lagCorrelation(sc: Scratch, nRaw: number, per: number, dt: number): number {
  const k = Math.round(per / dt);
  if (k < 1 || k >= nRaw) return 0;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  let pairs = 0;
  for (let i = 0; i + k < nRaw; i++) {
    let j = i + k;
    const target = (sc.rawTs[i] as number) + per;
    while (j > i + 1 && (sc.rawTs[j] as number) - target > dt / 2) j--;
    while (j + 1 < nRaw && target - (sc.rawTs[j] as number) > dt / 2) j++;
    if (Math.abs((sc.rawTs[j] as number) - target) > dt / 2) continue;
    if ((sc.rawRow[i] as number) < 0 || (sc.rawRow[j] as number) < 0) continue;
    const a = sc.resid[i] as number;
    const b = sc.resid[j] as number;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
    pairs++;
  }
  return pairs >= 32 && sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/** Bin of `ts` in a profile of `bins` bins over `periodMs` (phase anchored to the epoch). */
export function binOf(ts: number, periodMs: number, bins: number): number {
  let r = ts % periodMs;
  if (r < 0) r += periodMs;
  const b = Math.floor((r / periodMs) * bins);
  return b >= bins ? bins - 1 : b;
}

/**
 * Heteroscedasticity (counts, multiplicative seasonality): the residual scale as a power of the
 * forecast level, s(t) = (ŷ(t)/ŷ_ref)^γ, γ in [0, 1] (Poisson noise gives ½, multiplicative noise
 * 1; the Box–Cox family's variance-stabilising view, Box & Cox 1964). γ is the log–log slope of
 * the median |residual| in four equal-count groups of the forecast level; it is 0 unless every
 * forecast is positive and they span a factor ≥ 1.3. Writes s_i to sc.rawScale.
 */
function scaleModel(f: Float64Array, sc: Scratch, nRaw: number, vBase: number, enabled: boolean): void {
  let m = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < nRaw; i++) {
    sc.rawScale[i] = 1;
    if ((sc.rawRow[i] as number) < 0) continue;
    const yhat = vBase + (sc.rawY[i] as number) - (sc.resid[i] as number);
    if (yhat < lo) lo = yhat;
    if (yhat > hi) hi = yhat;
    sc.tmp[m++] = yhat;
  }
  f[S.GAMMA] = 0;
  f[S.Y_REF] = 1;
  if (!enabled || m < 40 || !(lo > 0) || hi / lo < 1.3) return;
  // four groups by forecast level (quartiles found by selection): medians of level and |residual|.
  // Selecting the middle one partitions the copy around it, so the others are selected in its halves.
  for (let k = 0; k < m; k++) sc.tmp2[k] = sc.tmp[k] as number;
  const k1 = Math.floor(m / 4);
  const k2 = Math.floor(m / 2);
  const k3 = Math.floor((3 * m) / 4);
  const q2 = selectKth(sc.tmp2, m, k2);
  const q = [selectKth(sc.tmp2, k2, k1), q2, selectKth(sc.tmp2.subarray(k2 + 1, m), m - k2 - 1, k3 - k2 - 1)];
  const xs: number[] = [];
  const ys: number[] = [];
  for (let g = 0; g < 4; g++) {
    const lo4 = g === 0 ? -Infinity : (q[g - 1] as number);
    const hi4 = g === 3 ? Infinity : (q[g] as number);
    let k = 0;
    let kl = 0;
    for (let i = 0; i < nRaw; i++) {
      if ((sc.rawRow[i] as number) < 0) continue;
      const lv = vBase + (sc.rawY[i] as number) - (sc.resid[i] as number);
      if (lv < lo4 || lv >= hi4) continue;
      sc.tmp2[k++] = Math.abs(sc.resid[i] as number);
      sc.ts[kl++] = lv;
    }
    if (k < 5) return;
    const mad = medianInPlace(sc.tmp2, k);
    const mid = medianInPlace(sc.ts, kl);
    if (!(mad > 0) || !(mid > 0)) return;
    xs.push(Math.log(mid));
    ys.push(Math.log(mad));
  }
  const mx = xs.reduce((a, b) => a + b, 0) / 4;
  const my = ys.reduce((a, b) => a + b, 0) / 4;
  let sxy = 0;
  let sxx = 0;
  for (let g = 0; g < 4; g++) {
    sxy += ((xs[g] as number) - mx) * ((ys[g] as number) - my);
    sxx += ((xs[g] as number) - mx) ** 2;
  }
  const gamma = Math.min(1, Math.max(0, sxx > 0 ? sxy / sxx : 0));
  const ref = medianInPlace(sc.tmp, m);
  f[S.GAMMA] = gamma;
  f[S.Y_REF] = ref;
  if (gamma === 0) return;
  for (let i = 0; i < nRaw; i++)
    sc.rawScale[i] = scaleAt(vBase + (sc.rawY[i] as number) - (sc.resid[i] as number), ref, gamma);
}

/** The residual scale factor at forecast level `yhat` (the level floored at a quarter of the reference level). */
export function scaleAt(yhat: number, ref: number, gamma: number): number {
  return Math.pow(Math.max(yhat, 0.25 * ref) / ref, gamma);
}

/** φ^g for a gap of g sampling steps (1 for regular data); 0 beyond 50 steps. */
export function arFactor(phi: number, g: number): number {
  if (g <= 1.5) return phi;
  if (g > 50 || phi === 0) return 0;
  return Math.pow(phi, g);
}

function dotAt(x: Float64Array, at: number, beta: Float64Array, p: number): number {
  let s = 0;
  for (let j = 0; j < p; j++) s += (x[at + j] as number) * (beta[j] as number);
  return s;
}

/** Writes row `r` as the group of raw samples first..last (`count` of them, included ones only). */
function closeGroup(sc: Scratch, r: number, first: number, last: number, count: number, dt: number): void {
  let sy = 0;
  for (let k = first; k <= last; k++) if (sc.rawRow[k] === r) sy += sc.rawY[k] as number;
  const a = sc.rawTs[first] as number;
  const z = sc.rawTs[last] as number;
  sc.ts[r] = (a + z) / 2;
  sc.y[r] = sy / count;
  sc.w[r] = count;
  sc.width[r] = count > 1 ? z - a + dt : 0;
}

function oldestTs(f: Float64Array, l: Layout, sc: Scratch): number {
  const cUsed = f[S.C_USED] as number;
  if (cUsed > 0) return ((f[S.C_LAST] as number) - cUsed + 1) * (f[S.C_WIDTH] as number);
  return sc.rawTs[0] as number;
}

/** Detects periods on the raw ring and, for longer ones, on the whole history at the coarse step. */
function detectSeriesPeriods(
  f: Float64Array,
  l: Layout,
  c: DetectionConfig,
  sc: Scratch,
  nRaw: number,
  n: number,
  nCoarseRows: number,
  dt: number,
  width: number,
): void {
  if (c.max_periods === 0) {
    f[S.N_DET] = 0;
    return;
  }
  const found: Period[] = [];
  const a = detectPeriods(
    { timestampsMs: sc.rawTs, values: sc.rawY, n: nRaw },
    { seed: c.seed, stepMs: dt, maxPeriods: c.max_periods, snapTolerance: SNAP },
  );
  if (a.kind === 'ok') found.push(...a.findings);
  const rawSpan = (sc.rawTs[nRaw - 1] as number) - (sc.rawTs[0] as number);
  const span = (sc.ts[n - 1] as number) - (sc.ts[0] as number);
  if (nCoarseRows >= 16 && span > rawSpan * 1.5) {
    const bres = detectPeriods(
      { timestampsMs: sc.ts, values: sc.y, n },
      { seed: c.seed + 1, stepMs: width, maxPeriods: c.max_periods, snapTolerance: SNAP },
    );
    if (bres.kind === 'ok') {
      for (const p of bres.findings)
        if (!found.some((q) => Math.abs(q.periodMs / p.periodMs - 1) < SNAP)) found.push(p);
      found.sort((p, q) => q.powerRatio - p.powerRatio);
    }
  }
  const keep = found.slice(0, c.max_periods);
  f[S.N_DET] = keep.length;
  keep.forEach((p, q) => {
    // a multiple j of another modelled period (weekly of daily) gets order < j: its harmonic j
    // would duplicate the shorter period's fundamental
    let cap = c.max_fourier_order;
    for (const o of keep) {
      const ratio = p.periodMs / o.periodMs;
      const j = Math.round(ratio);
      if (o !== p && j >= 2 && Math.abs(ratio / j - 1) <= 0.03) cap = Math.min(cap, j - 1);
    }
    // Fourier order: the significant harmonics, 3..max, under Nyquist for the sampling step;
    // calendar periods get at least Prophet's orders (daily 4, weekly 3).
    const nyquist = Math.max(1, Math.floor((p.periodMs / dt - 1) / 2));
    let order = Math.min(c.max_fourier_order, Math.max(3, p.harmonics, p.periodMs === DAY_MS ? 4 : 3));
    order = Math.max(1, Math.min(order, nyquist, cap));
    f[l.dper + q] = p.periodMs;
    f[l.dord + q] = order;
  });
}

/**
 * The model's seasonalities: the detected periods, plus the calendar periods Prophet would enable
 * for this history (`set_auto_seasonalities`: daily if it spans ≥ 2 days at a step < 1 day,
 * weekly if ≥ 2 weeks at a step < 7 days, yearly if ≥ 730 days) with Prophet's orders (4, 3, 10,
 * capped at max_fourier_order and Nyquist) unless a detected period already covers them (within
 * 10%). Calendar periods are anchored to the epoch like every Fourier term (Prophet §3.2).
 */
function modelSeasonalities(
  f: Float64Array,
  l: Layout,
  c: DetectionConfig,
  dt: number,
  spanMs: number,
): Seasonality[] {
  const out: Seasonality[] = [];
  for (let q = 0; q < (f[S.N_DET] as number); q++) {
    out.push({ name: `p${q}`, periodMs: f[l.dper + q] as number, order: f[l.dord + q] as number });
  }
  if (!c.calendar_seasonality) return out;
  const calendar: [string, number, number, number, number][] = [
    ['daily', DAY_MS, 4, 2 * DAY_MS, DAY_MS],
    ['weekly', WEEK_MS, 3, 14 * DAY_MS, WEEK_MS],
    ['yearly', 365.25 * DAY_MS, 10, 730 * DAY_MS, WEEK_MS],
  ];
  for (const [name, periodMs, order, minSpan, maxStep] of calendar) {
    if (spanMs < minSpan || dt >= maxStep) continue;
    if (out.some((x) => Math.abs(x.periodMs / periodMs - 1) < SNAP)) continue;
    const nyquist = Math.floor((periodMs / dt - 1) / 2);
    let ord = Math.min(order, c.max_fourier_order, nyquist);
    // a multiple of a shorter modelled period keeps its harmonics below that period's fundamental
    for (const x of out) {
      const j = Math.round(periodMs / x.periodMs);
      if (x.periodMs < periodMs && j >= 2 && Math.abs(periodMs / x.periodMs / j - 1) <= 0.03)
        ord = Math.min(ord, j - 1);
    }
    if (ord >= 1) out.push({ name, periodMs, order: ord });
  }
  return out;
}

/** Rebases raw time offsets to the oldest raw sample (keeps f32 offsets small). */
function rebase(st: EngineState, l: Layout, sc: Scratch, nRaw: number): void {
  const { f, s } = st;
  const newBase = sc.rawTs[0] as number;
  const delta = (newBase - (f[S.TS_BASE] as number)) / 1000;
  if (delta === 0) return;
  for (let i = 0; i < nRaw; i++) {
    const p = rawPos(f, l, i);
    s[l.rawTs + p] = (s[l.rawTs + p] as number) - delta;
  }
  f[S.TS_BASE] = newBase;
}
