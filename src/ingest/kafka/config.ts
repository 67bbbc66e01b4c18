/**
 * `ingest.kafka`: Vigil as a Kafka consumer group (see README "Kafka ingest and scale-out").
 *
 *     ingest:
 *       kafka:
 *         brokers: [kafka-1:9092, kafka-2:9092]
 *         topics: [metrics]
 *         group_id: vigil
 *         format: auto                   # json | json-batch | auto
 *         sasl: { mechanism: scram-sha-512, username: vigil, password: ${KAFKA_PASSWORD} }
 *         tls: { ca_file: /etc/vigil/kafka-ca.pem }
 *
 * Secrets (`password`, `key`, `passphrase`) carry `x-secret` so they are redacted from logs and the
 * config view; any key may be given as `<key>_file: path` (the config loader reads the file).
 */
import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN, durationMs } from '../../common/index.js';

/** Kafka's legal topic names (Topic.java): 1–249 of `[a-zA-Z0-9._-]`. */
export const TOPIC_PATTERN = '^[a-zA-Z0-9._-]{1,249}$';

const Topic = Type.String({ pattern: TOPIC_PATTERN });
const Duration = (def: string) => Type.String({ pattern: DURATION_PATTERN, default: def });

/** TLS to the brokers. Present (even `{}`) = TLS on, verifying brokers against the system CAs or `ca`. */
export const KafkaTlsConfigSchema = Type.Object(
  {
    /** Use TLS. @defaultValue true (when the `tls` block is present) */
    enabled: Type.Boolean({ default: true }),
    /** PEM CA bundle to verify brokers with (`ca_file: path` reads a file). @defaultValue the system CAs */
    ca: Type.Optional(Type.String({ minLength: 1 })),
    /** PEM client certificate for mutual TLS. */
    cert: Type.Optional(Type.String({ minLength: 1 })),
    /** PEM private key of `cert`. */
    key: Type.Optional(Type.String({ minLength: 1, 'x-secret': true })),
    /** Passphrase of `key`. */
    passphrase: Type.Optional(Type.String({ 'x-secret': true })),
    /** Verify the broker certificates. Turn off only for tests. @defaultValue true */
    reject_unauthorized: Type.Boolean({ default: true }),
    /** SNI server name, when it differs from the broker host. */
    servername: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

/** SASL authentication (PLAIN or SCRAM). Use it with `tls`: PLAIN sends the password as is. */
export const KafkaSaslConfigSchema = Type.Object(
  {
    mechanism: Type.Union([
      Type.Literal('plain'),
      Type.Literal('scram-sha-256'),
      Type.Literal('scram-sha-512'),
    ]),
    username: Type.String({ minLength: 1 }),
    password: Type.String({ minLength: 1, 'x-secret': true }),
  },
  { additionalProperties: false },
);

/** The `ingest.kafka` section. */
export const KafkaIngestConfigSchema = Type.Object(
  {
    /** Consume from Kafka (and make HTTP ingest produce into it). @defaultValue true when the section is present */
    enabled: Type.Boolean({ default: true }),
    /** Bootstrap brokers, `host:port`. Use IP literals or DNS names; kafkajs has no IPv6 literals. */
    brokers: Type.Array(Type.String({ minLength: 3, pattern: '^[^\\s:]+:[0-9]{1,5}$' }), { minItems: 1 }),
    /** Client id shown in broker logs and quotas. @defaultValue "vigil" */
    client_id: Type.String({ minLength: 1, default: 'vigil' }),
    /**
     * Consumer group: every Vigil of one deployment uses the same id; partitions (and their state)
     * are split between them. @defaultValue "vigil"
     */
    group_id: Type.String({ minLength: 1, default: 'vigil' }),
    /**
     * Input topics. All must have the same partition count P, and `runtime.key_groups` must be a
     * multiple of P. Partition p of every topic belongs to one member (co-partitioned). HTTP ingest
     * produces into the first one.
     */
    topics: Type.Array(Topic, { minItems: 1, uniqueItems: true }),
    /**
     * Message format: `json` = one sample per message, `json-batch` = `{"samples":[...]}` per
     * message, `auto` = decided per message by its shape. @defaultValue "auto"
     */
    format: Type.Union([Type.Literal('json'), Type.Literal('json-batch'), Type.Literal('auto')], {
      default: 'auto',
    }),
    /**
     * A sample whose series key does not hash to the partition it was read from (a producer not
     * following the convention): `repartition` = produce it to its partition (then it is processed
     * there, by its owner), `dead-letter` = send it to the dead-letter topic. @defaultValue "repartition"
     */
    misrouted: Type.Union([Type.Literal('repartition'), Type.Literal('dead-letter')], {
      default: 'repartition',
    }),
    /** Where a group without committed offsets starts: the oldest retained message or new ones only. @defaultValue "earliest" */
    start_from: Type.Union([Type.Literal('earliest'), Type.Literal('latest')], { default: 'earliest' }),
    /** Dead-letter topic. @defaultValue "<first topic>.dlq" */
    dead_letter_topic: Type.Optional(Topic),
    /**
     * Compacted state topic (the changelog of partition snapshots), one partition per input
     * partition. @defaultValue "<group_id>.vigil-state"
     */
    state_topic: Type.Optional(Topic),
    /**
     * Create the state and dead-letter topics when missing (never the input topics).
     * @defaultValue true
     */
    create_topics: Type.Boolean({ default: true }),
    /** Replication factor of topics Vigil creates; -1 = the broker's default. @defaultValue -1 */
    replication_factor: Type.Integer({ minimum: -1, maximum: 32, default: -1 }),
    /** A message value larger than this is dead-lettered unread, bytes. @defaultValue 1048576 (1 MiB) */
    max_message_bytes: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
    /**
     * State snapshot chunk size, bytes: below the brokers' `message.max.bytes` (default ~1 MB).
     * @defaultValue 524288 (512 KiB)
     */
    state_chunk_bytes: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 512 * 1024 }),
    /** Group session timeout: a member silent this long is removed. @defaultValue 30s */
    session_timeout: Duration('30s'),
    /** Heartbeat interval (at most a third of session_timeout). @defaultValue 3s */
    heartbeat_interval: Duration('3s'),
    /** Time members get to rejoin (and checkpoint) during a rebalance. @defaultValue 60s */
    rebalance_timeout: Duration('60s'),
    /** Longest a fetch waits for data (latency when idle). @defaultValue 250ms */
    fetch_max_wait: Duration('250ms'),
    /** Bytes fetched per partition per request. @defaultValue 1048576 */
    fetch_max_bytes_per_partition: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
    /**
     * HTTP ingest (which produces into the topic) answers 503 when the brokers have not
     * acknowledged a request's samples within this time. @defaultValue 5s
     */
    produce_timeout: Duration('5s'),
    /** TCP connect timeout. @defaultValue 10s */
    connection_timeout: Duration('10s'),
    /** Request timeout. @defaultValue 30s */
    request_timeout: Duration('30s'),
    tls: Type.Optional(KafkaTlsConfigSchema),
    sasl: Type.Optional(KafkaSaslConfigSchema),
  },
  { additionalProperties: false },
);
export type KafkaIngestConfig = Static<typeof KafkaIngestConfigSchema>;
export type KafkaTlsConfig = Static<typeof KafkaTlsConfigSchema>;
export type KafkaSaslConfig = Static<typeof KafkaSaslConfigSchema>;

/** The dead-letter topic: configured, or `<first topic>.dlq`. */
export function deadLetterTopicOf(cfg: KafkaIngestConfig): string {
  return cfg.dead_letter_topic ?? `${cfg.topics[0] ?? 'vigil'}.dlq`;
}

/** The state topic: configured, or `<group_id>.vigil-state`. */
export function stateTopicOf(cfg: KafkaIngestConfig): string {
  return cfg.state_topic ?? `${cfg.group_id}.vigil-state`;
}

/** A problem found by {@link checkKafkaIngestConfig}; `path` is relative to `ingest.kafka`. */
export interface KafkaConfigIssue {
  readonly path: readonly (string | number)[];
  readonly code: 'INVALID_VALUE' | 'CONFLICT';
  readonly message: string;
}

/**
 * Checks what the schema cannot: the timeouts' relations (Kafka refuses heartbeat ≥ session and a
 * session above the rebalance timeout makes no sense) and distinct topics.
 */
export function checkKafkaIngestConfig(cfg: KafkaIngestConfig): KafkaConfigIssue[] {
  const issues: KafkaConfigIssue[] = [];
  const session = durationMs(cfg.session_timeout);
  const heartbeat = durationMs(cfg.heartbeat_interval);
  const rebalance = durationMs(cfg.rebalance_timeout);
  if (heartbeat <= 0 || heartbeat * 3 > session)
    issues.push({
      path: ['heartbeat_interval'],
      code: 'INVALID_VALUE',
      message: `heartbeat_interval ${cfg.heartbeat_interval} must be positive and at most a third of session_timeout ${cfg.session_timeout}`,
    });
  if (rebalance < session)
    issues.push({
      path: ['rebalance_timeout'],
      code: 'INVALID_VALUE',
      message: `rebalance_timeout ${cfg.rebalance_timeout} must be at least session_timeout ${cfg.session_timeout}`,
    });
  const state = stateTopicOf(cfg);
  const dlq = deadLetterTopicOf(cfg);
  cfg.topics.forEach((t, i) => {
    if (t === state)
      issues.push({ path: ['topics', i], code: 'CONFLICT', message: `topic ${t} is also the state topic` });
    if (t === dlq)
      issues.push({
        path: ['topics', i],
        code: 'CONFLICT',
        message: `topic ${t} is also the dead-letter topic`,
      });
  });
  if (state === dlq)
    issues.push({
      path: ['state_topic'],
      code: 'CONFLICT',
      message: `the state topic and the dead-letter topic must differ (both ${state})`,
    });
  return issues;
}
