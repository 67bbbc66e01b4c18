import type { Labels } from '../common/index.js';

/**
 * One observation of one series. `key` is `seriesKey(metric, labels)`; `ts` is event time in
 * epoch milliseconds; `value` is finite (decoders reject NaN and ±Infinity).
 */
export interface Sample {
  readonly metric: string;
  readonly labels: Labels;
  readonly key: string;
  readonly ts: number;
  readonly value: number;
}

/** Why one item of a request was refused. `index` is the item's position in the request. */
export interface RejectedItem {
  readonly index: number;
  readonly code: RejectCode;
  readonly reason: string;
}

/**
 * Per-item refusal codes (bounded set: they are also metric label values).
 * - `INVALID_SAMPLE`: wrong shape or type, missing field, unknown field, non-finite value.
 * - `INVALID_NAME`: metric or label name not allowed.
 * - `LIMIT_EXCEEDED`: too many labels, name or value too long, too many series.
 * - `OUT_OF_ORDER`: older than the newest accepted sample of its series.
 * - `DUPLICATE_CONFLICT`: same series and timestamp as an accepted sample, different value.
 * - `TIMESTAMP_OUT_OF_RANGE`: too far in the future, or not a plausible epoch-ms time.
 * - `QUARANTINED`: this exact sample (series and timestamp) crashed a worker thread repeatedly and
 *   is quarantined (listed in the state directory's quarantine.jsonl).
 */
export type RejectCode =
  | 'INVALID_SAMPLE'
  | 'INVALID_NAME'
  | 'LIMIT_EXCEEDED'
  | 'OUT_OF_ORDER'
  | 'DUPLICATE_CONFLICT'
  | 'TIMESTAMP_OUT_OF_RANGE'
  | 'QUARANTINED';

/** What a sink did with a batch: indices in `rejected` refer to the submitted array. */
export interface SubmitResult {
  /** Samples that will be processed (durable when the sink's promise resolves). */
  readonly accepted: number;
  /** Exact repeats (same series, timestamp and value) of accepted samples: acknowledged, not re-processed. */
  readonly duplicates: number;
  readonly rejected: readonly RejectedItem[];
}

/**
 * Where decoded samples go. The wiring layer implements it (write-ahead log, then keyed runtime).
 * `submit` resolves once accepted samples are durable; it rejects with an {@link IngestError}
 * `INGEST_OVERLOADED` (answer 503/429 with Retry-After) or `INGEST_UNAVAILABLE` (e.g. disk full)
 * when nothing of the batch was accepted.
 */
export interface SampleSink {
  submit(samples: readonly Sample[], source: IngestSource): Promise<SubmitResult>;
  /**
   * Throws the {@link IngestError} `submit` would reject any batch with right now (overloaded,
   * unavailable); returns when a batch may be accepted. The HTTP routes call it before reading a
   * request's body, so an overloaded node refuses a request without receiving and decoding it
   * (load shedding at the door: decoding what is then refused took half the main thread at
   * saturation, bench:throughput).
   */
  admit?(source: IngestSource): void;
}

/** Which protocol a batch came in by (a bounded metric label). */
export type IngestSource = 'json' | 'remote_write' | 'otlp' | 'influx' | 'kafka' | 'replay';
