/**
 * The keyed operator every series runs through, on a worker thread or in a backtest: it scores
 * each sample with the detection engine (trained and scored in one place), advances the alert
 * lifecycle, and emits alert events. Synchronous and deterministic in event time: a replay of
 * the same samples from the same checkpoint (and the same silences) emits the same events.
 *
 * - Lifecycle parameters per series come from the alerting config: `alerting.lifecycle`
 *   defaults, overridden by the `detection:` block of the route the alert matches first.
 * - Silences arrive as a broadcast (`{ topic: 'silences', silences }`, see src/alerts
 *   silences.ts) plus the YAML ones; a sample whose event time falls inside a silence matching
 *   the series is scored (and can still alert) but is not learned (`train = false`).
 *
 * This file is part of the wiring layer (it combines src/operators/anomaly and src/alerts); it
 * is loaded by each worker through `createOperator` (the OperatorModule contract).
 */
import { parseSeriesKey } from '../common/index.js';
import {
  alertLabels,
  configSilences,
  createDetectionPolicy,
  decodeLifecycle,
  encodeLifecycleInto,
  fingerprint,
  isSilencesBroadcast,
  lifecycleByteLength,
  newLifecycleState,
  normalizeSilences,
  SilenceIndex,
  silencedAt,
  stepLifecycle,
  type AlertEvent,
  type AlertingConfig,
  type CompiledSilence,
  type LifecycleParams,
  type LifecycleState,
  type RecentPoint,
} from '../alerts/index.js';
import type { KeyedContext, KeyedOperator } from '../keyed-runtime/index.js';
import {
  createAnomalyEngine,
  newScoreOutput,
  type DetectionConfig,
  type SeriesDescription,
} from './anomaly/index.js';

/** Options passed (structured-cloned) to every worker. */
export interface AnomalyOperatorOptions {
  readonly detection: DetectionConfig;
  /**
   * The validated `alerting` section: lifecycle defaults, per-route `detection:` overrides and
   * the YAML silences. Omitted: built-in lifecycle defaults, no overrides.
   */
  readonly alerting?: AlertingConfig;
  /** Explicit lifecycle parameters (tests, backtests): replace the config defaults, not route overrides. */
  readonly lifecycle?: Partial<LifecycleParams>;
  /** Recent points attached to firing/resolved events for charts; 0 = none. @defaultValue 120 */
  readonly recentPoints?: number;
}

/** What the operator emits. */
export type AnomalyOutput = { readonly kind: 'alert'; readonly event: AlertEvent };

/** Questions the operator answers (console, API, resync after restore). */
export type AnomalyQuery =
  | { readonly kind: 'describe'; readonly maxPoints: number }
  | { readonly kind: 'status' }
  /** Open alerts (pending or firing), re-emitted after a restore or handover. */
  | { readonly kind: 'open-alert' };

export interface SeriesStatus {
  readonly lastTs: number;
  /** Samples this series has processed since it was created (persisted; replays are not counted twice). */
  readonly samples: number;
  readonly lastScore: number;
  /** The alert's condition state. */
  readonly alertState: LifecycleState['state'];
  /** What receivers see: inactive, pending or firing. */
  readonly alertStatus: LifecycleState['emitted'];
  readonly flapping: boolean;
  /** True when the last sample fell inside a silence (scored, not learned). */
  readonly silenced: boolean;
}

interface SeriesState<E> {
  engine: E;
  life: LifecycleState;
  lastScore: number;
  lastTs: number;
  samples: number;
  /** The last scored sample's explanation (persisted, so resync events carry real numbers). */
  actual: number;
  expected: number;
  lower: number;
  upper: number;
  stage: string;
  /** Derived on first use; not persisted. */
  labels: Record<string, string> | undefined;
  fingerprint: string | undefined;
  params: LifecycleParams | undefined;
  silenceGen: number;
  silences: CompiledSilence[] | undefined;
  lastSilenced: boolean;
}

/**
 * Every series state is built here, with all fields in one order, whether new or decoded from a
 * checkpoint: objects of one shape keep the per-sample property accesses monomorphic (fields
 * added later, or in another order, made them megamorphic and cost ~1 µs per sample).
 */
function newSeriesState<E>(
  engineState: E,
  life: LifecycleState,
  persisted?: Pick<
    SeriesState<E>,
    'lastScore' | 'lastTs' | 'samples' | 'actual' | 'expected' | 'lower' | 'upper' | 'stage'
  >,
): SeriesState<E> {
  return {
    engine: engineState,
    life,
    lastScore: persisted?.lastScore ?? 0,
    lastTs: persisted?.lastTs ?? NaN,
    samples: persisted?.samples ?? 0,
    actual: persisted?.actual ?? NaN,
    expected: persisted?.expected ?? NaN,
    lower: persisted?.lower ?? NaN,
    upper: persisted?.upper ?? NaN,
    stage: persisted?.stage ?? 'warmup',
    labels: undefined,
    fingerprint: undefined,
    params: undefined,
    silenceGen: -1,
    silences: undefined,
    lastSilenced: false,
  };
}

/**
 * State layout, version 3 (little-endian): u8 format (3), u8 stage index, u16 lifecycle length L;
 * f32 last score; f64 last ts; f64 actual, expected, lower, upper; f64 samples processed;
 * L lifecycle bytes (see src/alerts encodeLifecycle); then the engine's bytes.
 */
const FORMAT = 3;
const HEADER = 56;

/** The operator's identity in checkpoints and state snapshots (a state of another version is refused). */
export const ANOMALY_OPERATOR = { name: 'anomaly', stateVersion: FORMAT } as const;
// Encoded stage bytes index this list: keep the order ('zscore', the first detector's stage, is
// retired but keeps its index).
const STAGES = [
  'warmup',
  'normal',
  'forecast',
  'dbscan',
  'likelihood',
  'level_shift',
  'zscore',
  'ignored',
  'range',
  'suppressed',
];

/**
 * Upper bounds (seconds) of the refit-duration histogram the operator keeps for /metrics
 * (`vigil_refit_duration_seconds`). Refits cost O(n·p²): ~0.1 ms for short histories, tens of
 * ms for long ones with many seasonal terms.
 */
export const REFIT_SECONDS_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

/**
 * Keys of the operator's `stats()` snapshot (cumulative on one worker since it started):
 * `refits` (model refits), `refit_seconds_sum` (their total duration, s) and, per bound `b`
 * of {@link REFIT_SECONDS_BUCKETS}, `refit_seconds_le_<b>`: refits that took at most `b`
 * seconds (cumulative, Prometheus-style).
 */
export const REFIT_STATS = {
  count: 'refits',
  sum: 'refit_seconds_sum',
  lePrefix: 'refit_seconds_le_',
} as const;

/** Builds the operator (called once per worker). */
export function createAnomalyOperator(opts: AnomalyOperatorOptions) {
  const engine = createAnomalyEngine(opts.detection);
  type E = ReturnType<typeof engine.create>;
  const out = newScoreOutput();
  // The lifecycle's input, reused for every sample: stepLifecycle keeps no reference to it, and a
  // fresh object literal per sample measured ~2 µs/sample slower (allocation-site pretenuring).
  const lifeInput = { ts: 0, score: 0, actual: 0, expected: 0 };
  const policy = createDetectionPolicy(opts.alerting, opts.detection.threshold, opts.lifecycle ?? {});
  const recentPoints = opts.recentPoints ?? 120;
  const silences = new SilenceIndex();
  const yamlSilences = opts.alerting
    ? configSilences(opts.alerting.silences ?? [], opts.alerting.time_intervals ?? [])
    : [];
  silences.set(yamlSilences);
  // Refit self-metrics (stats()): counts per histogram bucket (not cumulative here), total, sum.
  const refitBuckets = new Float64Array(REFIT_SECONDS_BUCKETS.length);
  let refits = 0;
  let refitSecondsSum = 0;
  function recordRefit(seconds: number): void {
    refits++;
    refitSecondsSum += seconds;
    for (let i = 0; i < REFIT_SECONDS_BUCKETS.length; i++) {
      if (seconds <= (REFIT_SECONDS_BUCKETS[i] as number)) {
        refitBuckets[i] = (refitBuckets[i] as number) + 1;
        return;
      }
    }
  }

  /** The series' alert labels, derived from its key once (with its fingerprint). */
  function identity(s: SeriesState<E>, key: string): Record<string, string> {
    if (!s.labels) {
      const parsed = parseSeriesKey(key) ?? { metric: key, labels: {} };
      s.labels = alertLabels(parsed.metric, parsed.labels);
      s.fingerprint = fingerprint(s.labels);
    }
    return s.labels;
  }

  function event(
    s: SeriesState<E>,
    key: string,
    change: { status: AlertEvent['status']; startsAt: number; endsAt?: number; flapping: boolean },
    periodsMs: readonly number[],
  ): AlertEvent {
    const labels = identity(s, key);
    const fp = s.fingerprint as string;
    const summary =
      change.status === 'resolved'
        ? `${labels['alertname']} is back to normal`
        : `${labels['alertname']} is ${s.actual > s.expected ? 'above' : 'below'} its expected range: ${fmt(s.actual)} vs expected ${fmt(s.expected)} [${fmt(s.lower)}, ${fmt(s.upper)}]`;
    let recent: RecentPoint[] | undefined;
    if (recentPoints > 0 && change.status !== 'pending') {
      const d = engine.describe(s.engine, recentPoints);
      if (d.points.length > 0) recent = d.points.map((p) => ({ ...p }));
    }
    return {
      fingerprint: fp,
      labels,
      annotations: { summary, series: key },
      status: change.status,
      startsAt: change.startsAt,
      ...(change.endsAt !== undefined ? { endsAt: change.endsAt } : {}),
      seriesKey: key,
      flapping: change.flapping,
      explanation: {
        ts: s.lastTs,
        actual: s.actual,
        expected: s.expected,
        lower: s.lower,
        upper: s.upper,
        score: s.lastScore,
        stage: s.stage,
        periodsMs: [...periodsMs],
        bandCoverage: engine.bandCoverage,
      },
      ...(recent ? { recent } : {}),
    };
  }

  const stateLength = (s: SeriesState<E>): number =>
    HEADER + lifecycleByteLength(s.life) + engine.encodedLength(s.engine);
  function encodeInto(s: SeriesState<E>, out: Uint8Array, offset: number): void {
    const lifeLength = lifecycleByteLength(s.life);
    const dv = new DataView(out.buffer, out.byteOffset + offset, HEADER);
    dv.setUint8(0, FORMAT);
    const stage = STAGES.indexOf(s.stage);
    dv.setUint8(1, stage < 0 ? 255 : stage);
    dv.setUint16(2, lifeLength, true);
    dv.setFloat32(4, s.lastScore, true);
    dv.setFloat64(8, s.lastTs, true);
    dv.setFloat64(16, s.actual, true);
    dv.setFloat64(24, s.expected, true);
    dv.setFloat64(32, s.lower, true);
    dv.setFloat64(40, s.upper, true);
    dv.setFloat64(48, s.samples, true);
    encodeLifecycleInto(s.life, out, offset + HEADER);
    engine.encodeInto(s.engine, out, offset + HEADER + lifeLength);
  }

  const operator: KeyedOperator<AnomalyOutput, SeriesState<E>, AnomalyQuery, unknown> = {
    name: ANOMALY_OPERATOR.name,
    stateVersion: ANOMALY_OPERATOR.stateVersion,
    codec: {
      encode(s) {
        const bytes = new Uint8Array(stateLength(s));
        encodeInto(s, bytes, 0);
        return bytes;
      },
      byteLength: stateLength,
      encodeInto,
      decode(bytes) {
        const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        if (dv.getUint8(0) !== FORMAT) throw new RangeError(`unknown anomaly state format ${dv.getUint8(0)}`);
        const lifeLength = dv.getUint16(2, true);
        // The lifecycle first: the engine state takes pool memory, kept only if nothing throws after.
        const life = decodeLifecycle(bytes.subarray(HEADER, HEADER + lifeLength));
        return newSeriesState(engine.decode(bytes.subarray(HEADER + lifeLength)), life, {
          lastScore: dv.getFloat32(4, true),
          lastTs: dv.getFloat64(8, true),
          actual: dv.getFloat64(16, true),
          expected: dv.getFloat64(24, true),
          lower: dv.getFloat64(32, true),
          upper: dv.getFloat64(40, true),
          samples: dv.getFloat64(48, true),
          stage: STAGES[dv.getUint8(1)] ?? 'unknown',
        });
      },
    },

    release(s) {
      engine.release(s.engine);
    },

    process(tsMs, value, ctx, emit) {
      let s = ctx.state;
      if (!s) {
        s = newSeriesState(engine.create(), newLifecycleState());
        ctx.setState(s);
      }
      const labels = identity(s, ctx.key);
      if (s.silenceGen !== silences.generation) {
        s.silences = silences.size > 0 ? silences.matching(labels) : [];
        s.silenceGen = silences.generation;
      }
      const silenced = s.silences !== undefined && s.silences.length > 0 && silencedAt(s.silences, tsMs);
      // Timed for the refit metrics: the wall clock is read here, in the wiring, never in the
      // engine (which stays pure). Two performance.now() calls cost well under 1% of a sample.
      const t0 = performance.now();
      engine.process(s.engine, tsMs, value, !silenced, out);
      if (out.refit) recordRefit((performance.now() - t0) / 1000);
      if (out.stage === 'ignored') return;
      s.samples++;
      s.lastSilenced = silenced;
      s.lastScore = out.score;
      s.lastTs = tsMs;
      s.actual = out.actual;
      s.expected = out.expected;
      s.lower = out.lower;
      s.upper = out.upper;
      s.stage = out.stage;
      s.params ??= policy.paramsFor(labels);
      lifeInput.ts = tsMs;
      lifeInput.score = out.score;
      lifeInput.actual = out.actual;
      lifeInput.expected = out.expected;
      const change = stepLifecycle(s.life, s.params, lifeInput);
      if (change) emit({ kind: 'alert', event: event(s, ctx.key, change, engine.periods(s.engine)) });
    },

    query(q, ctx: KeyedContext<SeriesState<E>>) {
      const s = ctx.state;
      if (!s) return undefined;
      switch (q.kind) {
        case 'describe': {
          const d: SeriesDescription = engine.describe(s.engine, q.maxPoints);
          return { ...d, status: statusOf(s) };
        }
        case 'status':
          return statusOf(s);
        case 'open-alert': {
          if (s.life.emitted === 'inactive') return undefined;
          return event(
            s,
            ctx.key,
            {
              status: s.life.emitted,
              startsAt: s.life.emittedStartsAt,
              flapping: s.life.flapping,
            },
            engine.periods(s.engine),
          );
        }
      }
    },

    stats() {
      const snap: Record<string, number> = {
        [REFIT_STATS.count]: refits,
        [REFIT_STATS.sum]: refitSecondsSum,
      };
      let cumulative = 0;
      REFIT_SECONDS_BUCKETS.forEach((b, i) => {
        cumulative += refitBuckets[i] as number;
        snap[`${REFIT_STATS.lePrefix}${b}`] = cumulative;
      });
      return snap;
    },

    onBroadcast(message) {
      if (isSilencesBroadcast(message)) {
        // The dispatcher sends every silence it knows, YAML ones included; either the message
        // `onSilencesChanged` passes or `listSilences()` (API shape) is accepted.
        silences.set(normalizeSilences(message.silences, opts.alerting?.time_intervals ?? []));
      }
    },
  };
  return operator;
}

function statusOf(s: {
  lastTs: number;
  samples: number;
  lastScore: number;
  life: LifecycleState;
  lastSilenced?: boolean;
}): SeriesStatus {
  return {
    lastTs: s.lastTs,
    samples: s.samples,
    lastScore: s.lastScore,
    alertState: s.life.state,
    alertStatus: s.life.emitted,
    flapping: s.life.flapping,
    silenced: s.lastSilenced ?? false,
  };
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e6 || a < 1e-3) ? v.toExponential(3) : String(Math.round(v * 1000) / 1000);
}

/**
 * The operator options for a validated config: the `detection` section and the `alerting`
 * section (lifecycle defaults, route `detection:` overrides, YAML silences). Plain data: it is
 * structured-cloned to every worker.
 */
export function anomalyOperatorOptions(
  detection: DetectionConfig,
  alerting?: AlertingConfig,
): AnomalyOperatorOptions {
  return { detection, ...(alerting ? { alerting } : {}) };
}

/** The OperatorModule entry the keyed runtime loads on each worker. */
export function createOperator(options: unknown) {
  return createAnomalyOperator(options as AnomalyOperatorOptions);
}
