/**
 * The per-series detection engine: history, refits, scoring of each sample, and the state codec.
 * Pure: no I/O, clock, randomness or logging. The keyed operator (src/operators/anomaly-operator.ts)
 * wraps it; backtests run the same operator.
 *
 * Forecast (refit.ts, at each refit): periods by FFT + ACF (AUTOPERIOD), plus Prophet's calendar
 * periods when the history spans them → the Prophet model (trend with sparse changepoints, Fourier
 * terms on absolute time, step regressors at level shifts; MAP) → a seasonal residual profile of
 * the strongest period → ŷ(t), held by the state as a line plus Fourier coefficients.
 *
 * Scoring each sample (here), r = y − ŷ(t), scaled by σ·s(t) where s(t) = (ŷ/ŷ_ref)^γ models
 * heteroscedasticity (γ = 0 for constant noise):
 *   - point stage: the AR(1) innovation e = r − φ·r_prev; if its z lies outside the DBSCAN envelope
 *     of the history's innovation z (detection.md §6.3), p = max(GPD tail of |z| fitted to the
 *     series' own innovations, Gaussian tail) (peaks over threshold, Siffer et al. KDD 2017 §3);
 *   - level stage: exponentially weighted means of the clamped signed residual z over two spans
 *     (`level_spans`), each against its own running Normal (mean and variance learned online, as
 *     HTM's anomaly likelihood learns the distribution of its averaged score: Ahmad et al.,
 *     "Unsupervised real-time anomaly detection for streaming data", Neurocomputing 262, 2017,
 *     §4.3): sustained deviations, seasonal breaks inside the normal range, slow drifts;
 *   - optional HTM likelihood stage (`likelihood_window`): the moving average of the calibrated
 *     CDF value F(|z|) against its running Normal (off by default: no effect on the dev sets);
 *   - range stage: HTM's spatial rule (NAB numenta detector): beyond the all-time range by
 *     `range_tolerance` of the range scores 1;
 *   each as −log10(p)/10 (HTM's log transform, {@link logScore}): score = their maximum, in [0,1],
 *   comparable across series because every p is calibrated on the series' own history.
 * Repeats are suppressed: an episode that starts within `suppress_for` of the previous alarm
 * scores just below the threshold (NAB's earthgecko Skyline 12 h expiry, CAD OSE rest period,
 * detection.md §3); a continuing episode keeps its score.
 * A run of `level_shift_window` residuals whose median |z| ≥ `level_shift_z` is a level shift: the
 * model refits at once with a step regressor at the run's onset (Prophet's "handling shocks").
 *
 * Cost per sample: no allocation, a few trigonometric calls for the Fourier terms and one
 * exp/log pair per stage (≈0.5 µs, bench:fit). Refits run every `refit_interval` (in records,
 * clamped) and after a level shift; a refit costs O(n·p²) with n ≈ raw/4 + coarse rows (≈1.5 ms at
 * the defaults, bench:fit).
 */
import { normalQuantile, normalUpperTail, tailProbability, erfc } from '../../detectors/index.js';
import { durationMs } from '../../common/index.js';
import type { DetectionConfig } from './config.js';
import { LEVEL_CLAMP, arFactor, binOf, newScratch, rawPos, refit, scaleAt } from './refit.js';
import * as S from './state.js';
import {
  StatePool,
  createState,
  decodeState,
  encodeState,
  encodeStateInto,
  encodedStateLength,
  layoutOf,
  type EngineState,
} from './state.js';

/** Which stage decided a sample's score. */
export type Stage =
  | 'warmup'
  | 'normal'
  | 'forecast'
  | 'dbscan'
  | 'likelihood'
  | 'level_shift'
  | 'range'
  | 'suppressed'
  | 'ignored';

/** The result of scoring one sample. The engine fills a caller-owned object (no allocation per sample). */
export interface ScoreOutput {
  /** Anomaly score in [0,1], comparable across series (≈ −log10 of a calibrated tail probability / 10). */
  score: number;
  /** The sample's value. */
  actual: number;
  /** Expected value: the forecast (NaN while warming up). */
  expected: number;
  /** Lower and upper edge of the band of normal values at {@link AnomalyEngine.bandCoverage} (NaN while warming up). */
  lower: number;
  upper: number;
  /**
   * Which stage decided: "warmup" (too little history), "ignored" (not after the last
   * timestamp, or not finite), "normal", "forecast" (outside the band, not anomalous), "dbscan"
   * (a point outlier), "likelihood" (a sustained deviation), "level_shift" (a level shift was
   * confirmed: the model refits), "suppressed" (anomalous, but within `suppress_for` of the
   * previous alarm), "range" (beyond the series' all-time range by more than range_tolerance).
   */
  stage: Stage;
  /** True when the model was refitted on this sample. */
  refit: boolean;
}

/** A series' recent history with the model's view, for charts. Times in epoch ms. */
export interface SeriesDescription {
  readonly points: readonly {
    readonly ts: number;
    readonly value: number;
    readonly expected: number;
    readonly lower: number;
    readonly upper: number;
    readonly score: number;
  }[];
  readonly periodsMs: readonly number[];
  readonly model: Readonly<Record<string, number | string | boolean>>;
}

export interface AnomalyEngine<S> {
  /** Nominal coverage of the band [lower, upper] (the config's band_coverage). */
  readonly bandCoverage: number;
  create(): S;
  /**
   * The periods the model uses now, ms (empty when none). Shared and frozen: do not mutate. Asked
   * for when an alert is built, not per sample (as a per-sample output it cost ~5% of a worker).
   */
  periods(state: S): readonly number[];
  /**
   * Scores one sample (event time `tsMs`, finite `value`) and learns from it when `train` is true
   * (silenced samples are scored but not learned). Samples arrive in increasing `tsMs`; a sample
   * with `tsMs` ≤ the last one, or a non-finite value, is ignored (stage "ignored", score 0, state
   * unchanged).
   */
  process(state: S, tsMs: number, value: number, train: boolean, out: ScoreOutput): void;
  /** Versioned binary form; `decode(encode(s))` is bit-identical. Throws DetectionStateError (code DETECTION_STATE_INCOMPATIBLE). */
  encode(state: S): Uint8Array;
  /** Length of `encode(state)`, bytes. */
  encodedLength(state: S): number;
  /** Writes `encode(state)` at `out[offset…offset + encodedLength(state))`, without an allocation. */
  encodeInto(state: S, out: Uint8Array, offset: number): void;
  decode(bytes: Uint8Array): S;
  /**
   * Gives a state's memory back for reuse by the next `create` or `decode` (states live in slabs,
   * see StatePool). The state must not be used afterwards.
   */
  release(state: S): void;
  describe(state: S, maxPoints: number): SeriesDescription;
}

/** Out-of-sample calibration: least samples per measurement, the Normal share of |z| > 1, and the largest factor. */
const OOS_MIN_N = 50;
const OOS_Q_NORMAL = 0.3173;
const OOS_K_MAX = 10;

/** A new output object to pass to {@link AnomalyEngine.process}. */
export function newScoreOutput(): ScoreOutput {
  return {
    score: 0,
    actual: NaN,
    expected: NaN,
    lower: NaN,
    upper: NaN,
    stage: 'warmup',
    refit: false,
  };
}

const NO_PERIODS: readonly number[] = Object.freeze([]);
/** Samples of the likelihood's running statistics before it scores (HTM waits probation/2). */
const LIKELIHOOD_WARMUP = 100;
/** HTM's floor on the variance of the averaged scores. */
const LIKELIHOOD_VAR_FLOOR = 0.0003;

/**
 * HTM's log transform of a tail probability: log(1.0000000001 − (1 − p)) / log(1e−10) ≈
 * −log10(p)/10, clamped to [0, 1]. p = 1e-5 → 0.5.
 */
export function logScore(p: number): number {
  const v = Math.log(1e-10 + p) / -23.025850929940457;
  return v <= 0 ? 0 : v >= 1 ? 1 : v;
}

/** Diagnostics for benchmarks and tests (not used in production). */
export interface EngineDiagnostics {
  /**
   * Filled after each scored sample: [S_pt, S_sus, z_inn, z_res, moving average, refits so far,
   * innovation σ, residual σ].
   */
  readonly probe?: Float64Array;
}

/** Creates the engine for a validated `detection` config section. */
export function createAnomalyEngine(
  config: DetectionConfig,
  diagnostics: EngineDiagnostics = {},
): AnomalyEngine<EngineState> {
  const probe = diagnostics.probe;
  const c = config;
  const l = layoutOf(c);
  const pool = new StatePool(l);
  const sc = newScratch(l, c);
  const threshold = c.threshold;
  const suppressMs = durationMs(c.suppress_for);
  const likW = c.likelihood_window;
  const ewAlphaMin = 1 / c.likelihood_memory;
  const lsZ = c.level_shift_z;
  const pointStage = c.point_stage;
  const dbscanGate = c.dbscan_gate;
  const empirical = c.calibration === 'empirical';
  const levelLambda = c.level_spans.map((n) => (n > 0 ? 2 / (n + 1) : 0));
  const rangeTol = c.range_tolerance;
  const coldMs = durationMs(c.cold_start_calibration);
  const oosCal = coldMs > 0;
  // Frozen period arrays shared across series, keyed by a hash of the values (checked on a hit);
  // the last answer is checked first.
  const periodCache = new Map<number, readonly number[]>();
  let lastPeriods: readonly number[] = NO_PERIODS;

  function samePeriods(arr: readonly number[], f: Float64Array, np: number): boolean {
    if (arr.length !== np) return false;
    for (let q = 0; q < np; q++) if (arr[q] !== f[l.per + q]) return false;
    return true;
  }

  function periodsOf(f: Float64Array): readonly number[] {
    const np = f[S.N_PER] as number;
    if (np === 0) return NO_PERIODS;
    if (samePeriods(lastPeriods, f, np)) return lastPeriods;
    let h = np;
    for (let q = 0; q < np; q++) h = (Math.imul(h, 1_000_003) + ((f[l.per + q] as number) % 2 ** 31)) | 0;
    let arr = periodCache.get(h);
    if (!arr || !samePeriods(arr, f, np)) {
      if (periodCache.size > 4096) periodCache.clear();
      const a: number[] = [];
      for (let q = 0; q < np; q++) a.push(f[l.per + q] as number);
      arr = Object.freeze(a);
      periodCache.set(h, arr);
    }
    lastPeriods = arr;
    return arr;
  }

  /** The forecast at `ts` from the collapsed model plus the seasonal residual profile. */
  function forecastAt(st: EngineState, ts: number): number {
    const f = st.f;
    const tt = ts < (f[S.TREND_END] as number) ? ts : (f[S.TREND_END] as number);
    let y = (f[S.LEVEL_A] as number) + (f[S.SLOPE_B] as number) * (tt - (f[S.MODEL_T0] as number));
    const bins = f[S.PROF_BINS] as number;
    if (bins > 0) y += st.s[l.prof + binOf(ts, f[S.PROF_PER] as number, bins)] as number;
    const np = f[S.N_PER] as number;
    let k = l.fourier;
    for (let q = 0; q < np; q++) {
      const per = f[l.per + q] as number;
      const ord = f[l.ord + q] as number;
      let r = ts % per;
      if (r < 0) r += per;
      const th = (2 * Math.PI * r) / per;
      const s1 = Math.sin(th);
      const c1 = Math.cos(th);
      let sn = s1;
      let cn = c1;
      for (let n = 0; n < ord; n++) {
        y += (f[k] as number) * sn + (f[k + 1] as number) * cn;
        k += 2;
        const t = sn * c1 + cn * s1;
        cn = cn * c1 - sn * s1;
        sn = t;
      }
    }
    return y;
  }

  /** Appends a learned sample to the raw ring, evicting the oldest into its coarse bucket. */
  function store(st: EngineState, ts: number, value: number, scoreByte: number): void {
    const { f, s, b } = st;
    if ((f[S.COUNT] as number) === 0) {
      f[S.TS_BASE] = ts;
      f[S.V_BASE] = value;
    }
    let head = f[S.RAW_HEAD] as number;
    const n = f[S.RAW_N] as number;
    if (n === l.raw) evict(st, head);
    s[l.rawTs + head] = (ts - (f[S.TS_BASE] as number)) / 1000;
    s[l.rawV + head] = value - (f[S.V_BASE] as number);
    b[head] = scoreByte;
    head++;
    if (head === l.raw) head = 0;
    f[S.RAW_HEAD] = head;
    if (n < l.raw) f[S.RAW_N] = n + 1;
    f[S.COUNT] = (f[S.COUNT] as number) + 1;
    if (value < (f[S.LO_SEEN] as number)) f[S.LO_SEEN] = value;
    if (value > (f[S.HI_SEEN] as number)) f[S.HI_SEEN] = value;
  }

  function evict(st: EngineState, pos: number): void {
    const { f, s, b } = st;
    const w = f[S.C_WIDTH] as number;
    if (l.coarse === 0 || !(w > 0) || (b[pos] as number) & S.EXCLUDED) return;
    const ts = (f[S.TS_BASE] as number) + (s[l.rawTs + pos] as number) * 1000;
    const v = s[l.rawV + pos] as number;
    const abs = Math.floor(ts / w);
    let last = f[S.C_LAST] as number;
    let used = f[S.C_USED] as number;
    if (used === 0) {
      last = abs;
      used = 1;
      clearBucket(s, abs);
    } else if (abs > last) {
      const adv = Math.min(abs - last, l.coarse);
      for (let k = 1; k <= adv; k++) clearBucket(s, abs - adv + k);
      used = Math.min(l.coarse, used + (abs - last));
      last = abs;
    } else if (abs < last - used + 1) {
      return; // older than the coarse window (cannot happen with ordered samples)
    }
    const p = ((abs % l.coarse) + l.coarse) % l.coarse;
    const cnt = (s[l.cCnt + p] as number) + 1;
    s[l.cCnt + p] = cnt;
    s[l.cMean + p] = (s[l.cMean + p] as number) + (v - (s[l.cMean + p] as number)) / cnt;
    f[S.C_LAST] = last;
    f[S.C_USED] = used;
  }

  function clearBucket(s: Float32Array, abs: number): void {
    const p = ((abs % l.coarse) + l.coarse) % l.coarse;
    s[l.cCnt + p] = 0;
    s[l.cMean + p] = 0;
  }

  function ignore(out: ScoreOutput, value: number): void {
    out.score = 0;
    out.actual = value;
    out.expected = NaN;
    out.lower = NaN;
    out.upper = NaN;
    out.stage = 'ignored';
    out.refit = false;
  }

  const engine: AnomalyEngine<EngineState> = {
    bandCoverage: c.band_coverage,
    create: () => createState(pool),
    periods: (st) => periodsOf(st.f),

    process(st, tsMs, value, train, out) {
      const { f, s } = st;
      if (!(tsMs > (f[S.LAST_TS] as number)) || !Number.isFinite(value) || !Number.isFinite(tsMs)) {
        ignore(out, value);
        return;
      }
      f[S.LAST_TS] = tsMs;
      out.actual = value;
      out.refit = false;
      if ((f[S.N_FITS] as number) === 0) {
        // cold start: collect min_history samples, then fit
        out.score = 0;
        out.expected = NaN;
        out.lower = NaN;
        out.upper = NaN;
        out.stage = 'warmup';
        if (!train) return;
        store(st, tsMs, value, 0);
        if ((f[S.COUNT] as number) >= c.min_history) {
          refit(st, l, c, sc);
          out.refit = true;
        }
        return;
      }

      // ---- forecast and residuals ---------------------------------------------------------
      const yhat = forecastAt(st, tsMs);
      const r = value - yhat;
      const dt = f[S.DT] as number;
      const lastRTs = f[S.LAST_R_TS] as number;
      const phi = Number.isFinite(lastRTs) ? arFactor(f[S.PHI] as number, (tsMs - lastRTs) / dt) : 0;
      const e = r - phi * (f[S.LAST_R] as number);
      const gamma = f[S.GAMMA] as number;
      const scale0 = gamma > 0 ? scaleAt(yhat, f[S.Y_REF] as number, gamma) : 1;
      // cold start: count how often the model's errors on new samples exceed its in-sample σ
      const young = oosCal && (f[S.COUNT] as number) * (f[S.DT] as number) < coldMs;
      if (train && young) {
        f[S.OOS_N] = (f[S.OOS_N] as number) + 1;
        if (Math.abs(e) > (f[S.SIGMA_INN] as number) * scale0) f[S.OOS_EXC] = (f[S.OOS_EXC] as number) + 1;
      }
      const kOos = f[S.OOS_K] as number;
      const scale = kOos > 1 && young ? scale0 * kOos : scale0;
      const sigmaRes = (f[S.SIGMA_RES] as number) * scale;
      const zInn = e / ((f[S.SIGMA_INN] as number) * scale);
      const zRes = r / sigmaRes;
      const bandHalf = (f[S.BAND_Q] as number) * sigmaRes;
      out.expected = yhat;
      out.lower = yhat - bandHalf;
      out.upper = yhat + bandHalf;

      // ---- point stage: DBSCAN envelope, then the calibrated tail -------------------------
      let sPt = 0;
      const az = Math.abs(zInn);
      if (pointStage && (!dbscanGate || zInn <= (f[S.ENV_LO] as number) || zInn >= (f[S.ENV_HI] as number))) {
        const pGauss = erfc(az / Math.SQRT2);
        sPt = logScore(empirical ? Math.max(tailProbability(f, S.TAIL_INN, az), pGauss) : pGauss);
      }

      // ---- sustained stage: anomaly likelihood of the calibrated residual -----------------
      let sSus = 0;
      let ma = NaN;
      // running statistics of the sustained stages learn from every trained sample after the
      // first fit; alpha = 1/n until 1/likelihood_memory (a Welford start, then exponential)
      const ewN = f[S.EW_N] as number;
      const alpha = Math.max(1 / (ewN + 1), ewAlphaMin);
      if (likW > 0) {
        const a = empirical
          ? 1 - tailProbability(f, S.TAIL_RES, Math.abs(zRes))
          : 1 - erfc(Math.abs(zRes) / Math.SQRT2);
        const lik = l.likRing;
        const head = f[S.LIK_HEAD] as number;
        const nLik = f[S.LIK_N] as number;
        let sum = f[S.LIK_SUM] as number;
        if (nLik === likW) sum -= s[lik + head] as number;
        sum += a;
        const filled = Math.min(nLik + 1, likW);
        ma = sum / filled;
        if (ewN >= LIKELIHOOD_WARMUP && filled === likW) {
          const sd = Math.sqrt(Math.max(f[S.EW_VAR] as number, LIKELIHOOD_VAR_FLOOR));
          // one-sided (only an increase of the averaged score is evidence), doubled so that
          // the mean itself scores 0
          sSus = logScore(Math.min(1, 2 * normalUpperTail((ma - (f[S.EW_MEAN] as number)) / sd)));
        }
        if (train) {
          s[lik + head] = a;
          f[S.LIK_HEAD] = head + 1 === likW ? 0 : head + 1;
          f[S.LIK_N] = filled;
          f[S.LIK_SUM] = sum;
          const d = ma - (f[S.EW_MEAN] as number);
          f[S.EW_MEAN] = (f[S.EW_MEAN] as number) + alpha * d;
          f[S.EW_VAR] = (1 - alpha) * ((f[S.EW_VAR] as number) + alpha * d * d);
        }
      }

      if (probe) {
        probe[0] = sPt;
        probe[1] = sSus;
        probe[2] = zInn;
        probe[3] = zRes;
        probe[4] = ma;
        probe[5] = f[S.N_FITS] as number;
        probe[6] = f[S.SIGMA_INN] as number;
        probe[7] = sigmaRes;
      }
      // ---- level stage: EWMAs of the signed residual, against their own running Normal -----
      let sLvl = 0;
      const zc = zRes > LEVEL_CLAMP ? LEVEL_CLAMP : zRes < -LEVEL_CLAMP ? -LEVEL_CLAMP : zRes;
      for (let j = 0; j < 2; j++) {
        const lam = levelLambda[j] as number;
        if (lam === 0) continue;
        const e = (f[S.EWMA + j] as number) + lam * (zc - (f[S.EWMA + j] as number));
        const mean = f[S.EWMA + 2 + j] as number;
        const v = f[S.EWMA + 4 + j] as number;
        if (ewN >= LIKELIHOOD_WARMUP) {
          const sc = logScore(erfc(Math.abs(e - mean) / Math.sqrt(2 * Math.max(v, 1e-4))));
          if (sc > sLvl) sLvl = sc;
        }
        if (train) {
          f[S.EWMA + j] = e;
          const d = e - mean;
          f[S.EWMA + 2 + j] = mean + alpha * d;
          f[S.EWMA + 4 + j] = (1 - alpha) * (v + alpha * d * d);
        }
      }
      if (sLvl > sSus) sSus = sLvl;
      if (train) f[S.EW_N] = ewN + 1;

      // ---- range stage: HTM's spatial anomaly ------------------------------------------------
      let sRange = 0;
      if (rangeTol > 0) {
        const lo = f[S.LO_SEEN] as number;
        const hi = f[S.HI_SEEN] as number;
        const tol = (hi - lo) * rangeTol;
        if (hi > lo && (value > hi + tol || value < lo - tol)) sRange = 1;
      }

      const raw = Math.max(sPt, sSus, sRange);
      let score = raw;
      let stage: Stage =
        raw >= threshold
          ? sRange >= raw
            ? 'range'
            : sPt >= sSus
              ? 'dbscan'
              : 'likelihood'
          : Math.abs(zRes) > (f[S.BAND_Q] as number)
            ? 'forecast'
            : 'normal';

      // ---- suppression of repeats -----------------------------------------------------------
      if (raw >= threshold) {
        let episode = f[S.EPISODE] as number;
        if (episode === 0) episode = tsMs - (f[S.LAST_ALARM_TS] as number) < suppressMs ? 2 : 1;
        if (episode === 2) {
          score = threshold * 0.999;
          stage = 'suppressed';
        }
        if (train) {
          f[S.EPISODE] = episode;
          if (episode === 1) f[S.LAST_ALARM_TS] = tsMs;
        }
      } else if (train) {
        f[S.EPISODE] = 0;
      }
      out.score = score;
      out.stage = stage;
      if (!train) return;

      // ---- learn ------------------------------------------------------------------------------
      // Point outliers stay out of later fits (Prophet's advice on outliers); sustained deviations
      // are learned, so a lasting change becomes the new normal instead of alarming forever.
      const scoreByte =
        Math.round(score * 127) | ((sPt > sRange ? sPt : sRange) >= threshold ? S.EXCLUDED : 0);
      store(st, tsMs, value, scoreByte);
      f[S.LAST_R] = r;
      f[S.LAST_R_TS] = tsMs;
      f[S.SINCE_FIT] = (f[S.SINCE_FIT] as number) + 1;

      // level shift: the median of the last m residual z beyond ±level_shift_z
      const m = f[S.LS_M] as number;
      const lsH = f[S.LS_HEAD] as number;
      const lsN = f[S.LS_N] as number;
      const ring = l.lsRing;
      if (lsN === m) {
        const old = s[ring + ((lsH - m + S.LS_CAP) % S.LS_CAP)] as number;
        if (old >= lsZ) f[S.LS_HI] = (f[S.LS_HI] as number) - 1;
        else if (old <= -lsZ) f[S.LS_LO] = (f[S.LS_LO] as number) - 1;
      }
      s[ring + lsH] = zRes;
      f[S.LS_HEAD] = (lsH + 1) % S.LS_CAP;
      const filledLs = Math.min(lsN + 1, m);
      f[S.LS_N] = filledLs;
      if (zRes >= lsZ) f[S.LS_HI] = (f[S.LS_HI] as number) + 1;
      else if (zRes <= -lsZ) f[S.LS_LO] = (f[S.LS_LO] as number) + 1;
      const need = Math.floor(m / 2) + 1;
      let shift = false;
      if (filledLs === m && ((f[S.LS_HI] as number) >= need || (f[S.LS_LO] as number) >= need)) {
        // onset: the first sample of the run (oldest in the window with the shift's sign)
        const up = (f[S.LS_HI] as number) >= need;
        let onset = tsMs;
        for (let k = m - 1; k >= 0; k--) {
          const z = s[ring + ((lsH - k + S.LS_CAP) % S.LS_CAP)] as number;
          if (up ? z >= lsZ : z <= -lsZ) {
            const p = rawPos(f, l, (f[S.RAW_N] as number) - 1 - k);
            onset = (f[S.TS_BASE] as number) + (s[l.rawTs + p] as number) * 1000;
            break;
          }
        }
        f[S.PENDING_STEP] = onset;
        shift = true;
      }
      if (shift || f[S.SINCE_FIT] >= (f[S.NEXT_FIT] as number)) {
        if (oosCal) {
          // How much larger were the errors on new samples than the model's in-sample σ? From
          // the share of |z_inn| > 1 (0.317 for a calibrated Normal), robust to a few outliers.
          // A level shift's interval measures the shift, not the model: k is kept then.
          const n = f[S.OOS_N] as number;
          if (!shift && n >= OOS_MIN_N) {
            const q = (f[S.OOS_EXC] as number) / n;
            f[S.OOS_K] = q > OOS_Q_NORMAL ? Math.min(OOS_K_MAX, 1 / normalQuantile(1 - q / 2)) : 1;
          }
          f[S.OOS_N] = 0;
          f[S.OOS_EXC] = 0;
        }
        refit(st, l, c, sc);
        out.refit = true;
        if (shift) out.stage = 'level_shift';
      }
    },

    encode: (st) => encodeState(st, l),
    encodedLength: () => encodedStateLength(l),
    encodeInto: (st, out, offset) => encodeStateInto(st, l, out, offset),
    decode: (bytes) => decodeState(bytes, l, pool),
    release: (st) => pool.release(st),

    /**
     * Recent raw points with the current model's expected value and band (the collapsed model,
     * exact after the last changepoint), score as stored (0–1, 1/127 resolution), and model facts.
     */
    describe(st, maxPoints) {
      const { f, s, b } = st;
      const n = Math.min(f[S.RAW_N] as number, Math.max(0, maxPoints));
      const fitted = (f[S.N_FITS] as number) > 0;
      const half = (f[S.BAND_Q] as number) * (f[S.SIGMA_RES] as number);
      const gamma = f[S.GAMMA] as number;
      const points = [];
      for (let i = (f[S.RAW_N] as number) - n; i < (f[S.RAW_N] as number); i++) {
        const p = rawPos(f, l, i);
        const ts = (f[S.TS_BASE] as number) + (s[l.rawTs + p] as number) * 1000;
        const expected = fitted ? forecastAt(st, ts) : NaN;
        const h = gamma > 0 ? half * scaleAt(expected, f[S.Y_REF] as number, gamma) : half;
        points.push({
          ts,
          value: (f[S.V_BASE] as number) + (s[l.rawV + p] as number),
          expected,
          lower: expected - h,
          upper: expected + h,
          score: ((b[p] as number) & 0x7f) / 127,
        });
      }
      return {
        points,
        periodsMs: periodsOf(f),
        model: {
          kind: 'prophet-dbscan',
          fits: f[S.N_FITS] as number,
          samples: f[S.COUNT] as number,
          stepMs: f[S.DT] as number,
          sigma: f[S.SIGMA_RES] as number,
          phi: f[S.PHI] as number,
          slopePerDay: (f[S.SLOPE_B] as number) * 86_400_000,
          bandCoverage: c.band_coverage,
          coarseBuckets: f[S.C_USED] as number,
          coarseWidthMs: f[S.C_WIDTH] as number,
          heteroscedasticity: gamma,
          profileBins: f[S.PROF_BINS] as number,
          steps: [f[S.STEP0] as number, f[S.STEP1] as number].filter((u) => Number.isFinite(u)).length,
        },
      };
    },
  };
  return engine;
}
