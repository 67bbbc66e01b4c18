import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DURATION_PATTERN } from '../../common/index.js';

/**
 * `detection`: how each series is modelled and scored (FFT periodicity → Prophet-style forecast
 * → residual DBSCAN, calibrated tails and anomaly likelihood; see engine.ts). Every key has a
 * default chosen by principle (shared/design/detection.md §6) and measured on nab-dev
 * (`npm run bench:nab`); most deployments set none of them.
 */
export const DetectionConfigSchema = Type.Object(
  {
    /**
     * Score at or above which a sample is anomalous. Scores are calibrated tail probabilities
     * (score ≈ −log10(p)/10), so one threshold serves all series: 0.45 ≈ p = 3e-5 per sample and
     * stage. Chosen on nab-dev with NAB's standard profile and the threshold fixed, as production
     * runs it (bench:nab, 0.40–0.52 scanned: 0.45 and 0.46 best, 0.45 better on synth-dev). It
     * also anchors repeat suppression. @defaultValue 0.45
     */
    threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.45 }),
    /** Samples needed before the first fit; until then the score is 0 (stage "warmup"). @defaultValue 100 */
    min_history: Type.Integer({ minimum: 16, maximum: 100_000, default: 100 }),
    /** Recent raw samples kept per series (the fit's fine history). @defaultValue 1024 */
    raw_history: Type.Integer({ minimum: 64, maximum: 65_536, default: 1024 }),
    /**
     * Coarse buckets kept per series, each the mean of the samples of max(8 samples, 1h): older
     * history at low cost (20 days of 5-minute data at the defaults, enough for a weekly period
     * with the raw ring). @defaultValue 480
     */
    coarse_history: Type.Integer({ minimum: 0, maximum: 65_536, default: 480 }),
    /**
     * Refit cadence in event time; clamped to [refit_min_records, refit_max_records] records.
     * A level shift refits at once. @defaultValue "1d"
     */
    refit_interval: Type.String({ pattern: DURATION_PATTERN, default: '1d' }),
    /** @defaultValue 48 */
    refit_min_records: Type.Integer({ minimum: 1, default: 48 }),
    /** @defaultValue 1440 */
    refit_max_records: Type.Integer({ minimum: 1, default: 1440 }),
    /** Most seasonal periods modelled (FFT-detected, snapped to 1d/1w when within 5%). @defaultValue 2 */
    max_periods: Type.Integer({ minimum: 0, maximum: 3, default: 2 }),
    /**
     * Also model the calendar periods Prophet enables when the history spans them (daily after 2
     * days, weekly after 2 weeks, yearly after 730 days), detected or not. @defaultValue true
     */
    calendar_seasonality: Type.Boolean({ default: true }),
    /**
     * Add the seasonal residual profile of the strongest detected period (what the Fourier terms
     * miss: sharp edges, fixed-time jobs). @defaultValue true
     */
    seasonal_profile: Type.Boolean({ default: true }),
    /** Scale residuals by a power of the forecast level (counts, multiplicative noise). @defaultValue true */
    heteroscedastic: Type.Boolean({ default: true }),
    /** Highest Fourier order per period (Prophet: daily 4, weekly 3, yearly 10). @defaultValue 6 */
    max_fourier_order: Type.Integer({ minimum: 1, maximum: 20, default: 6 }),
    /** Potential trend changepoints (Laplace prior: most are zero). @defaultValue 12 */
    changepoints: Type.Integer({ minimum: 0, maximum: 50, default: 12 }),
    /** Fraction of the history the changepoints cover (Prophet: 0.8). @defaultValue 0.9 */
    changepoint_range: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.9 }),
    /** Laplace scale of slope changes, min-max-scaled units (Prophet's default). @defaultValue 0.05 */
    changepoint_prior_scale: Type.Number({ exclusiveMinimum: 0, default: 0.05 }),
    /** Normal prior sd of Fourier and step coefficients (Prophet's default). @defaultValue 10 */
    seasonality_prior_scale: Type.Number({ exclusiveMinimum: 0, default: 10 }),
    /** Least DBSCAN eps, in robust σ of the one-step innovations (detection.md §5). @defaultValue 0.5 */
    dbscan_eps_min: Type.Number({ exclusiveMinimum: 0, default: 0.5 }),
    /** Score point outliers (the DBSCAN/tail stage). Off only for ablations. @defaultValue true */
    point_stage: Type.Boolean({ default: true }),
    /** Score only samples outside the DBSCAN envelope (off: score every sample by its tail). @defaultValue true */
    dbscan_gate: Type.Boolean({ default: true }),
    /** Score the AR(1) innovation of the residual (off: the residual itself). @defaultValue true */
    innovations: Type.Boolean({ default: true }),
    /**
     * Tail probabilities from each series' own residual distribution ("empirical": quantiles and a
     * GPD tail, never below the Gaussian) or from the Gaussian ("gaussian"). @defaultValue "empirical"
     */
    calibration: Type.Union([Type.Literal('empirical'), Type.Literal('gaussian')], { default: 'empirical' }),
    /**
     * Spans (records) of the two exponentially weighted means of the signed residual z that
     * detect level changes and seasonal breaks; 0 disables a span. @defaultValue [6, 24]
     */
    level_spans: Type.Array(Type.Integer({ minimum: 0, maximum: 10_000 }), {
      minItems: 2,
      maxItems: 2,
      default: [6, 24],
    }),
    /**
     * HTM's spatial rule (NAB numenta detector): a value beyond the series' all-time range by more
     * than this fraction of the range scores 1. 0 disables. @defaultValue 0.05
     */
    range_tolerance: Type.Number({ minimum: 0, default: 0.05 }),
    /**
     * Samples in the moving average of HTM's anomaly likelihood (Ahmad et al. 2017, §4.3) on the
     * calibrated residual; 0 disables that stage. Off by default: on nab-dev and synth-dev it never
     * changes a detection once the level stage (level_spans) and the point stage run (bench:nab
     * --ablate). @defaultValue 0
     */
    likelihood_window: Type.Integer({ minimum: 0, maximum: 64, default: 0 }),
    /**
     * Memory of the running Normal of the sustained stages (the level EWMAs and the likelihood's
     * average), records (HTM: 8,640). @defaultValue 4000
     */
    likelihood_memory: Type.Integer({ minimum: 100, default: 4000 }),
    /**
     * After an alarm, new alarms that start within this event time are suppressed (score capped
     * just below the threshold); a continuing episode is not. "0" disables. @defaultValue "12h"
     */
    suppress_for: Type.String({ pattern: DURATION_PATTERN, default: '12h' }),
    /**
     * |median z| of the last `level_shift_window` that signals a level shift (refit at once with a
     * step regressor). High on purpose: a lower bar (3, detection.md §6.5) also re-levels onto
     * seasonal breaks and moderate incidents before they are flagged; on nab-dev 3 → 59.6,
     * 4 → 60.1, 5 → 62.9, 6 → 59.4, 8 → 55.3 (NAB standard, mean over thresholds 0.46–0.54).
     * @defaultValue 5
     */
    level_shift_z: Type.Number({ exclusiveMinimum: 0, default: 5 }),
    /** Window of the level-shift rule, event time; clamped to 6–32 records. @defaultValue "1h" */
    level_shift_window: Type.String({ pattern: DURATION_PATTERN, default: '1h' }),
    /**
     * Cold-start calibration: while a series' history spans less than this (event time), its
     * scores use the σ its previous model showed on new samples (out of sample: from the share
     * of |z| > 1 between fits, robust to a few outliers) when that exceeds the in-sample σ. A
     * young model cannot know yet whether the series has a daily cycle (confirmed after ~3.3
     * days), and a trend fitted to part of a cycle extrapolates badly. Measured (bench:nab,
     * clean data, alarms per series-week): daily cycle 6.8 → 4.05, 4-hour cycle 7.3 → 4.85; NAB
     * standard 62.6 → 62.1, synth-dev 59.5 → 69.0. "0" disables. @defaultValue "4d"
     */
    cold_start_calibration: Type.String({ pattern: DURATION_PATTERN, default: '4d' }),
    /** Nominal coverage of the reported band [lower, upper]. @defaultValue 0.99 */
    band_coverage: Type.Number({ exclusiveMinimum: 0.5, exclusiveMaximum: 1, default: 0.99 }),
    /** Seed of the periodicity permutation test (deterministic). @defaultValue 1 */
    seed: Type.Integer({ minimum: 0, default: 1 }),
  },
  { additionalProperties: false, default: {} },
);
export type DetectionConfig = Static<typeof DetectionConfigSchema>;

/** The `detection` section with every default applied (what an empty section validates to). */
export function defaultDetectionConfig(overrides: Partial<DetectionConfig> = {}): DetectionConfig {
  const base = Value.Default(DetectionConfigSchema, {}) as DetectionConfig;
  return { ...base, ...overrides };
}
