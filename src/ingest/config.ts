import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../common/index.js';
import { KafkaIngestConfigSchema } from './kafka/config.js';

/** `ingest.http`: limits shared by every HTTP protocol (JSON, remote write, OTLP, Influx). */
export const HttpIngestConfigSchema = Type.Object(
  {
    /** Serve the ingest endpoints. @defaultValue true */
    enabled: Type.Boolean({ default: true }),
    /** Samples accepted in one request; more → 413 INGEST_TOO_MANY_SAMPLES. @defaultValue 100000 */
    max_samples_per_request: Type.Integer({ minimum: 1, default: 100_000 }),
    /** Labels per series, metric name excluded. @defaultValue 32 */
    max_labels_per_series: Type.Integer({ minimum: 0, default: 32 }),
    /** Characters in a metric or label name. @defaultValue 200 */
    max_name_length: Type.Integer({ minimum: 1, default: 200 }),
    /** Characters in a label value. @defaultValue 1024 */
    max_label_value_length: Type.Integer({ minimum: 1, default: 1024 }),
    /** How far ahead of this server's clock a timestamp may be. @defaultValue 10m */
    max_future_skew: Type.String({ pattern: DURATION_PATTERN, default: '10m' }),
  },
  { additionalProperties: false, default: {} },
);
export type HttpIngestConfig = Static<typeof HttpIngestConfigSchema>;

/** `ingest`: how samples get in: HTTP protocols, and optionally a Kafka consumer group. */
export const IngestConfigSchema = Type.Object(
  {
    http: HttpIngestConfigSchema,
    /** Consume from Kafka and scale out as a consumer group (absent: HTTP only). */
    kafka: Type.Optional(KafkaIngestConfigSchema),
  },
  { additionalProperties: false, default: {} },
);
export type IngestConfig = Static<typeof IngestConfigSchema>;
