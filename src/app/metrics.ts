/**
 * Vigil's self-metrics (prom-client), served at GET /metrics. Label values come from bounded sets
 * (reason codes, protocol names, worker indices, receiver types), never from series keys.
 *
 * What is registered where (all on the one registry `createMetrics` returns):
 *
 * | metric | type | labels | registered by |
 * | --- | --- | --- | --- |
 * | `vigil_samples_accepted_total` | counter | source | here (ingest sinks increment it) |
 * | `vigil_samples_rejected_total` | counter | source, reason | here |
 * | `vigil_samples_duplicate_total` | counter | source | here |
 * | `vigil_ingest_overloaded_total` | counter | source | here |
 * | `vigil_worker_queue_samples` | gauge | worker | here (live: `queueDepth`) |
 * | `vigil_worker_lag_seconds` | gauge | worker | here (live: `queueDepth`) |
 * | `vigil_worker_processed_samples` | gauge | worker | here (live: `queueDepth`) |
 * | `vigil_series` | gauge | | here (live: `series`) |
 * | `vigil_refits_total` | counter | worker | here (live: `operatorStats`) |
 * | `vigil_refit_duration_seconds` | histogram | worker | here (live: `operatorStats`) |
 * | `vigil_notifications_retrying` | gauge | integration | here (live: `notificationsRetrying`) |
 * | `vigil_operator_errors_total`, `vigil_worker_restarts_total` | counter | code / | here |
 * | `vigil_wal_bytes_total`, `vigil_wal_fsync_seconds` | counter, histogram | | here |
 * | `vigil_checkpoint_seconds`, `vigil_checkpoints_total` | histogram, counter | / result | here |
 * | `vigil_alert_events_total` | counter | status | here |
 * | `vigil_alerts{state}`, `vigil_silences{state}`, `vigil_alert_groups` | gauges | state | src/alerts (dispatcher) |
 * | `vigil_notifications_total{integration,result}` | counter | delivered / failed | src/alerts |
 * | `vigil_notification_attempt_failures_total`, `vigil_notification_attempt_seconds`, `vigil_notification_outbox` | | integration | src/alerts |
 * | `vigil_kafka_consumer_lag_messages` | gauge | | src/app/kafka-pipeline.ts (Kafka ingest only) |
 * | `vigil_process_*` | prom-client defaults | | here |
 *
 * Hook for other modules: register your own metrics on `metrics.registry` (name them
 * `vigil_<module>_…`, bounded labels); to read a value at scrape time, give the metric a
 * `collect()` (as the Kafka consumer lag gauge does, reading the consumer's committed offsets
 * against the partitions' high watermarks).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { AlertDispatcher } from '../alerts/index.js';
import { REFIT_STATS } from '../operators/anomaly-operator.js';

/** The live readings `createMetrics` polls at scrape time. */
export interface LiveReadings {
  /** Queue depth, lag and processed samples per worker (`runtime.stats().workers`). */
  queueDepth: () => readonly { worker: number; queued: number; lagMs: number; processed: number }[];
  /** Series held by this node. */
  series: () => number;
  /**
   * The operator's stats snapshot per worker (`runtime.stats().workers[i].operatorStats`); the
   * refit keys are described at REFIT_STATS in src/operators/anomaly-operator.ts.
   */
  operatorStats?: () => readonly {
    readonly worker: number;
    readonly stats: Readonly<Record<string, number>> | undefined;
  }[];
  /** Notifications waiting for a retry after a failed attempt, per integration type. */
  notificationsRetrying?: () => Readonly<Record<string, number>>;
}

export interface VigilMetrics {
  readonly registry: Registry;
  readonly samplesAccepted: Counter<'source'>;
  readonly samplesRejected: Counter<'source' | 'reason'>;
  readonly samplesDuplicate: Counter<'source'>;
  readonly requestsOverloaded: Counter<'source'>;
  readonly operatorErrors: Counter<'code'>;
  readonly workerRestarts: Counter;
  readonly samplesQuarantined: Counter;
  readonly walBytes: Counter;
  readonly walSyncSeconds: Histogram;
  readonly checkpointSeconds: Histogram;
  readonly checkpointsTotal: Counter<'result'>;
  readonly alertEvents: Counter<'status'>;
}

/** Creates the registry; `collect` callbacks read live values (queue depth, series) at scrape time. */
export function createMetrics(live: LiveReadings): VigilMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vigil_process_' });
  const m: VigilMetrics = {
    registry,
    samplesAccepted: new Counter({
      name: 'vigil_samples_accepted_total',
      help: 'Samples accepted for processing, by ingest source.',
      labelNames: ['source'],
      registers: [registry],
    }),
    samplesRejected: new Counter({
      name: 'vigil_samples_rejected_total',
      help: 'Samples refused, by source and reason code.',
      labelNames: ['source', 'reason'],
      registers: [registry],
    }),
    samplesDuplicate: new Counter({
      name: 'vigil_samples_duplicate_total',
      help: 'Exact repeats of accepted samples (acknowledged, not reprocessed).',
      labelNames: ['source'],
      registers: [registry],
    }),
    requestsOverloaded: new Counter({
      name: 'vigil_ingest_overloaded_total',
      help: 'Requests answered 503 because a worker queue was full.',
      labelNames: ['source'],
      registers: [registry],
    }),
    operatorErrors: new Counter({
      name: 'vigil_operator_errors_total',
      help: 'Samples an operator failed on (skipped and logged).',
      labelNames: ['code'],
      registers: [registry],
    }),
    workerRestarts: new Counter({
      name: 'vigil_worker_restarts_total',
      help: 'Worker threads that died and were restarted.',
      registers: [registry],
    }),
    samplesQuarantined: new Counter({
      name: 'vigil_samples_quarantined_total',
      help: 'Samples quarantined because a worker thread died twice while processing them (see quarantine.jsonl).',
      registers: [registry],
    }),
    walBytes: new Counter({
      name: 'vigil_wal_bytes_total',
      help: 'Bytes appended to the write-ahead log.',
      registers: [registry],
    }),
    walSyncSeconds: new Histogram({
      name: 'vigil_wal_fsync_seconds',
      help: 'Duration of write-ahead-log group commits (write + fsync).',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers: [registry],
    }),
    checkpointSeconds: new Histogram({
      name: 'vigil_checkpoint_seconds',
      help: 'Duration of checkpoints (snapshot + write + fsync).',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
      registers: [registry],
    }),
    checkpointsTotal: new Counter({
      name: 'vigil_checkpoints_total',
      help: 'Checkpoints, by result.',
      labelNames: ['result'],
      registers: [registry],
    }),
    alertEvents: new Counter({
      name: 'vigil_alert_events_total',
      help: 'Alert lifecycle events emitted by operators, by status.',
      labelNames: ['status'],
      registers: [registry],
    }),
  };
  new Gauge({
    name: 'vigil_worker_queue_samples',
    help: 'Samples queued per worker (sent, not yet processed).',
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      for (const w of live.queueDepth()) this.set({ worker: String(w.worker) }, w.queued);
    },
  });
  new Gauge({
    name: 'vigil_worker_lag_seconds',
    help: 'Age of the oldest unprocessed batch per worker.',
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      for (const w of live.queueDepth()) this.set({ worker: String(w.worker) }, w.lagMs / 1000);
    },
  });
  new Gauge({
    name: 'vigil_worker_processed_samples',
    help: 'Samples processed per worker since start.',
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      for (const w of live.queueDepth()) this.set({ worker: String(w.worker) }, w.processed);
    },
  });
  new Gauge({
    name: 'vigil_series',
    help: 'Series (keys) held by this node.',
    registers: [registry],
    collect() {
      this.set(live.series());
    },
  });
  new Counter({
    name: 'vigil_refits_total',
    help: 'Model refits by the anomaly operator, per worker (restarts from 0 with a restarted worker).',
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of live.operatorStats?.() ?? []) {
        const n = w.stats?.[REFIT_COUNT];
        if (n !== undefined) this.inc({ worker: String(w.worker) }, n);
      }
    },
  });
  registry.registerMetric(
    snapshotHistogram(
      'vigil_refit_duration_seconds',
      'Duration of model refits (fit + forecast tables), per worker.',
      () =>
        (live.operatorStats?.() ?? []).flatMap((w) => {
          const h = w.stats ? refitHistogram(w.stats) : undefined;
          return h ? [{ labels: { worker: String(w.worker) }, ...h }] : [];
        }),
    ),
  );
  new Gauge({
    name: 'vigil_notifications_retrying',
    help: 'Notifications waiting for another attempt after a failed one, by integration type.',
    labelNames: ['integration'],
    registers: [registry],
    collect() {
      if (!live.notificationsRetrying) return;
      this.reset();
      for (const [integration, n] of Object.entries(live.notificationsRetrying()))
        this.set({ integration }, n);
    },
  });
  return m;
}

/**
 * Notifications waiting for another attempt after a failed one, per integration type: the
 * reading for `LiveReadings.notificationsRetrying` (the outbox is small; this walks it once).
 */
export function retryingNotifications(d: Pick<AlertDispatcher, 'notifications'>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of d.notifications({ status: 'retrying', limit: 1_000_000 }))
    out[n.integrationType] = (out[n.integrationType] ?? 0) + 1;
  return out;
}

const REFIT_COUNT = REFIT_STATS.count;
const REFIT_SUM = REFIT_STATS.sum;
const REFIT_LE = REFIT_STATS.lePrefix;

/** A histogram's exposition values. */
interface HistogramReading {
  readonly labels: Readonly<Record<string, string>>;
  /** Cumulative counts per upper bound, ascending (without +Inf). */
  readonly buckets: readonly (readonly [le: number, count: number])[];
  readonly sum: number;
  readonly count: number;
}

/** The refit histogram in one worker's stats snapshot, or undefined when it has none. */
export function refitHistogram(
  stats: Readonly<Record<string, number>>,
): Omit<HistogramReading, 'labels'> | undefined {
  const count = stats[REFIT_COUNT];
  if (count === undefined) return undefined;
  const buckets: [number, number][] = [];
  for (const [k, v] of Object.entries(stats))
    if (k.startsWith(REFIT_LE)) buckets.push([Number(k.slice(REFIT_LE.length)), v]);
  buckets.sort((a, b) => a[0] - b[0]);
  return { buckets, sum: stats[REFIT_SUM] ?? 0, count };
}

/**
 * A histogram whose buckets are read, already accumulated, from somewhere else at scrape time
 * (the workers' snapshots): prom-client's Histogram can only `observe` values one by one, so this
 * implements the small metric interface the Registry reads (`get`, `getForPromString`, `reset`).
 */
function snapshotHistogram(name: string, help: string, read: () => readonly HistogramReading[]): Metric {
  const values = (): { labels: Record<string, string | number>; value: number; metricName: string }[] =>
    read().flatMap((h) => [
      ...h.buckets.map(([le, count]) => ({
        labels: { ...h.labels, le },
        value: count,
        metricName: `${name}_bucket`,
      })),
      { labels: { ...h.labels, le: '+Inf' }, value: h.count, metricName: `${name}_bucket` },
      { labels: { ...h.labels }, value: h.sum, metricName: `${name}_sum` },
      { labels: { ...h.labels }, value: h.count, metricName: `${name}_count` },
    ]);
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: () => Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values: values() }),
    getForPromString: () =>
      Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values: values() }),
    reset: () => undefined,
  };
  // The Registry only calls the members above; Metric is prom-client's union of its own classes.
  return metric as unknown as Metric;
}
