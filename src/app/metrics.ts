/**
 * Vigil's self-metrics (prom-client), served at GET /metrics. Label values come from bounded sets
 * (reason codes, protocol names, worker indices, receiver types), never from series keys.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface VigilMetrics {
  readonly registry: Registry;
  readonly samplesAccepted: Counter<'source'>;
  readonly samplesRejected: Counter<'source' | 'reason'>;
  readonly samplesDuplicate: Counter<'source'>;
  readonly requestsOverloaded: Counter<'source'>;
  readonly operatorErrors: Counter<'code'>;
  readonly workerRestarts: Counter;
  readonly walBytes: Counter;
  readonly walSyncSeconds: Histogram;
  readonly checkpointSeconds: Histogram;
  readonly checkpointsTotal: Counter<'result'>;
  readonly alertEvents: Counter<'status'>;
}

/** Creates the registry; `collect` callbacks read live values (queue depth, series) at scrape time. */
export function createMetrics(live: {
  queueDepth: () => readonly { worker: number; queued: number; lagMs: number; processed: number }[];
  series: () => number;
}): VigilMetrics {
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
  return m;
}
