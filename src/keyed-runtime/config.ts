import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../common/index.js';

/** `runtime`: the keyed runtime (worker threads, key groups, queues, checkpoints). */
export const RuntimeConfigSchema = Type.Object(
  {
    /** Worker threads; "auto" = available cores − 1, but 2 on two cores and 1 on one. @defaultValue "auto" */
    workers: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 256 })], {
      default: 'auto',
    }),
    /**
     * Number of key groups (Flink's max parallelism): fixed for the life of the state directory;
     * a key's group is murmur2(key) mod key_groups. @defaultValue 128
     */
    key_groups: Type.Integer({ minimum: 1, maximum: 32768, default: 128 }),
    /** Samples queued per worker before ingest answers 503. @defaultValue 200000 */
    queue_capacity: Type.Integer({ minimum: 1000, default: 200_000 }),
    /**
     * Recent samples remembered per series: an exact repeat (same timestamp and value) of one of
     * them is acknowledged as a duplicate (a retried request), anything else at or before the
     * newest timestamp is refused. @defaultValue 8
     */
    dedup_window: Type.Integer({ minimum: 0, maximum: 1024, default: 8 }),
    /** Samples per batch sent to a worker. @defaultValue 2048 */
    batch_size: Type.Integer({ minimum: 1, maximum: 65536, default: 2048 }),
    /** Time between checkpoints. @defaultValue 60s */
    checkpoint_interval: Type.String({ pattern: DURATION_PATTERN, default: '60s' }),
    /** Complete checkpoints kept on disk. @defaultValue 2 */
    checkpoints_retained: Type.Integer({ minimum: 1, default: 2 }),
    /**
     * How long a write-ahead-log group waits for more samples before it is written and fsynced.
     * "0": no wait; the group is what arrived while the previous write + fsync ran (group commit
     * without added latency, as PostgreSQL's commit_delay 0). At 5ms the throughput benchmark's
     * 8 closed-loop connections were bound by acknowledgement latency. @defaultValue 0
     */
    wal_group_commit: Type.String({ pattern: DURATION_PATTERN, default: '0' }),
    /** A series with no sample for this long is forgotten ("0" = never). @defaultValue 7d */
    series_ttl: Type.String({ pattern: DURATION_PATTERN, default: '7d' }),
  },
  { additionalProperties: false, default: {} },
);
export type RuntimeConfig = Static<typeof RuntimeConfigSchema>;
