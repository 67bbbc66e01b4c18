/**
 * The Kafka-mode data path (`ingest.kafka.enabled`): Vigil as a member of a consumer group, where
 * Kafka's partitions are the distributed keyBy and each partition's state moves with it.
 *
 *   input topic partition p ──▶ decode (codec.ts) ──▶ runtime.offer (key groups g ≡ p mod P)
 *        │ poison / refused items ──▶ dead-letter topic        │ misrouted samples ──▶ re-produced to their partition
 *        ▼
 *   checkpoint: same tick { input positions, snapshot barrier of p's key groups } ──▶ state topic p
 *     (chunks + manifest) ──▶ commit input offsets WITH the snapshot pointer as metadata (one request)
 *
 * Invariants:
 * - Single owner: P divides runtime.key_groups, so every key group lies in exactly one partition;
 *   every sample is checked against the partition it came from (misrouted ones are repartitioned
 *   or dead-lettered), so only the owner of p ever processes p's series.
 * - At least once, no loss: offsets are committed only with a durable snapshot that covers them
 *   (and after the dead letters / repartitions of the covered records were acknowledged).
 * - Exactly once per key in state: a restore loads the snapshot and resumes exactly at the offsets
 *   it covers; records before them are skipped by offset, exact repeats (same key, ts, value) are
 *   acknowledged by the runtime's router without processing.
 * - Fencing: the group coordinator refuses commits of a member that lost the partition, so the
 *   committed (offsets, pointer) pair always comes from the legitimate owner. A member that kept a
 *   partition across a rebalance keeps its in-memory state only if the committed pointer is still
 *   the one it wrote (or restored); otherwise it restores.
 * - Stable alert identity: after a restore, open alerts are re-announced with `resync: true`; alert
 *   fingerprints and idempotency keys depend only on alert content, so a handover re-delivers under
 *   the same ids at worst.
 *
 * kafkajs rebalances eagerly with no revoke callback (client.ts): the sticky co-partitioning
 * assigner keeps partitions in place, a rebalance seen by `heartbeat()` in the batch handler
 * triggers a checkpoint + commit before rejoining (the coordinator still accepts the commit then),
 * and GROUP_JOIN diffs tell which partitions were revoked (dropped) or acquired (restored from the
 * state topic).
 *
 * HTTP ingest in Kafka mode does not process locally: `sink.submit` produces the samples to the
 * first input topic (acks=-1, keyed by series key, partitioned by the convention) and answers once
 * the brokers acknowledged: a 2xx means durable in Kafka. No WAL: Kafka is the log.
 */
import { randomBytes } from 'node:crypto';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { durationMs } from '../common/index.js';
import type { AlertEvent } from '../alerts/index.js';
import {
  IngestError,
  KafkaIngestError,
  STATE_TOPIC_CONFIGS,
  checkKafkaIngestConfig,
  createKafkaClient,
  deadLetterRecord,
  truncateDeadLetter,
  deadLetterTopicOf,
  createKafkaDecoder,
  decodePointer,
  deleteSnapshotRecords,
  encodeBatchJson,
  encodePointer,
  encodeSampleJson,
  isRebalanceError,
  keyGroupsOfPartition,
  partitionForKey,
  readSnapshot,
  snapshotKeys,
  stateTopicOf,
  writeSnapshot,
  type CommittedOffset,
  type DeadLetterCode,
  type DecodedMessage,
  type GroupAssignment,
  type GroupConsumer,
  type KafkaAdmin,
  type KafkaIngestConfig,
  type KafkaRecord,
  type OutRecord,
  type PartitionReader,
  type RecordBatch,
  type RecordProducer,
  type Sample,
  type SampleSink,
  type SnapshotPointer,
  type SubmitResult,
} from '../ingest/index.js';
import {
  createKeyedRuntime,
  RuntimeError,
  type KeyedOutput,
  type KeyedRuntime,
  type OfferResult,
} from '../keyed-runtime/index.js';
import { ANOMALY_OPERATOR as OPERATOR_ID, type AnomalyOutput } from '../operators/anomaly-operator.js';
import { sampleLimits } from './http.js';
import type { Pipeline, PipelineOptions, RecoveryReport } from './pipeline.js';

const ANOMALY_OPERATOR = {
  module: new URL('../operators/anomaly-operator.js', import.meta.url).href,
  ...OPERATOR_ID,
};

/** Options of {@link startKafkaPipeline}: the pipeline's, plus hooks for tests and the wiring. */
export interface KafkaPipelineOptions extends PipelineOptions {
  /**
   * Another keyed operator (tests, benchmarks): module href, its name and state version (recorded
   * in snapshots; a snapshot of another name/version is refused). @defaultValue the anomaly operator
   */
  readonly operator?: {
    readonly module: string;
    readonly name: string;
    readonly stateVersion: number;
    readonly options?: unknown;
  };
  /**
   * Open alerts of partitions this member gave up (their new owner re-announces them). The wiring
   * should make the dispatcher forget them without notifying (a dispatcher API to be added).
   */
  readonly onAlertsReleased?: (events: readonly AlertEvent[]) => void;
}

/** Per-partition status as {@link KafkaPipelineStats} reports it. */
export type PartitionStatus = 'restoring' | 'active' | 'failed';

/** Live counters of the Kafka pipeline (also exported as metrics). */
export interface KafkaPipelineStats {
  readonly memberId: string | undefined;
  readonly writer: string;
  readonly partitionCount: number;
  readonly partitions: readonly {
    partition: number;
    status: PartitionStatus;
    next: Record<string, number>;
  }[];
  /** Group joins (initial join and every rebalance). */
  readonly joins: number;
  readonly messages: number;
  readonly samples: number;
  readonly duplicates: number;
  /** Records skipped because their offset was already in the restored (or retained) state. */
  readonly replaySkipped: number;
  readonly deadLetters: Readonly<Record<string, number>>;
  readonly repartitioned: number;
  readonly restores: number;
  readonly restoredKeys: number;
  readonly commits: number;
  readonly commitFailures: number;
  /** Checkpoints taken because a rebalance was seen in the batch handler (before rejoining). */
  readonly rebalanceCheckpoints: number;
  /** Samples produced by HTTP ingest. */
  readonly produced: number;
  readonly crashes: number;
  /** When the first input record was handled (epoch ms), undefined before. */
  readonly firstRecordAt: number | undefined;
  /** Time the batch handler waited for full worker queues (backpressure), ms. */
  readonly backpressureMs: number;
}

export interface KafkaPipeline extends Pipeline {
  stats(): KafkaPipelineStats;
  /** Messages between each owned partition's position and its log end (one admin round trip). */
  lag(): Promise<number>;
}

interface Owned {
  readonly partition: number;
  status: PartitionStatus;
  /** Bumped on every (re)acquisition; work started under an older one is discarded. */
  incarnation: number;
  /** Next offset to offer, per input topic. */
  next: Map<string, number>;
  /** Offsets covered by `pointer` (the last commit or restore), per topic. */
  committedNext: Map<string, number>;
  /** The committed snapshot this state derives from, and its record keys. */
  pointer: SnapshotPointer | undefined;
  pointerKeys: string[];
  epoch: number;
  /** Keys of snapshots we wrote that no successful commit points to yet. */
  garbage: string[];
  /** Dead-letter and repartition sends not yet acknowledged. */
  readonly pending: Set<Promise<void>>;
}

type CheckpointResult = { id: number; keys: number; bytes: number; seconds: number };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Samples of one HTTP submit go out in sends of at most this many bytes per partition (< message.max.bytes). */
const PRODUCE_BATCH_BYTES = 256 * 1024;
/** How long a batch handler keeps going before yielding to kafkajs (heartbeats are sent meanwhile). */
const MAX_BATCH_MS = 2_000;
/** Series key → partition cache bound. */
const PARTITION_CACHE = 1_000_000;

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * Starts the Kafka-mode pipeline: checks the topics, joins the consumer group and restores the
 * assigned partitions from the state topic before resolving.
 * @throws KafkaIngestError INGEST_KAFKA_TOPOLOGY (partition counts, key_groups), INGEST_KAFKA_UNAVAILABLE
 */
export async function startKafkaPipeline(opts: KafkaPipelineOptions): Promise<KafkaPipeline> {
  const { config, logger, metrics } = opts;
  const section: KafkaIngestConfig | undefined = config.ingest.kafka;
  if (!section?.enabled)
    throw new KafkaIngestError('INGEST_KAFKA_TOPOLOGY', 'ingest.kafka is not configured or not enabled');
  const kcfg: KafkaIngestConfig = section;
  const issues = checkKafkaIngestConfig(kcfg);
  if (issues.length > 0)
    throw new KafkaIngestError(
      'INGEST_KAFKA_TOPOLOGY',
      issues.map((i) => `ingest.kafka.${i.path.join('.')}: ${i.message}`).join('\n'),
    );
  const log = logger.child({ module: 'kafka' });
  const t0 = Date.now();
  const topics = [...kcfg.topics];
  const stateTopic = stateTopicOf(kcfg);
  const dlqTopic = deadLetterTopicOf(kcfg);
  const K = config.runtime.key_groups;
  const operator = opts.operator ?? {
    ...ANOMALY_OPERATOR,
    ...(opts.operatorModule ? { module: opts.operatorModule } : {}),
    options: opts.operatorOptions,
  };
  const limits = sampleLimits(config);
  const client = createKafkaClient(kcfg, log);
  const writer = randomBytes(6).toString('hex');
  const readTimeoutMs = Math.max(60_000, durationMs(kcfg.request_timeout) * 2);
  const fromBeginning = kcfg.start_from === 'earliest';

  // ---- topology: P divides K, state and dead-letter topics exist -------------------------------
  const admin: KafkaAdmin = await client.admin();
  let P = 0;
  let dlqPartitions = 1;
  try {
    for (const t of topics) {
      const n = await admin.partitions(t);
      if (n === undefined)
        throw new KafkaIngestError(
          'INGEST_KAFKA_TOPOLOGY',
          `input topic ${t} does not exist (Vigil never creates input topics)`,
        );
      if (P !== 0 && n !== P)
        throw new KafkaIngestError(
          'INGEST_KAFKA_TOPOLOGY',
          `input topics must have the same partition count: ${topics[0]} has ${P}, ${t} has ${n}`,
        );
      P = n;
    }
    if (K % P !== 0)
      throw new KafkaIngestError(
        'INGEST_KAFKA_TOPOLOGY',
        `runtime.key_groups (${K}) must be a multiple of the partition count of ${topics.join(', ')} (${P}), so that every key group lies in exactly one partition; ` +
          `set runtime.key_groups to e.g. ${Math.ceil(K / P) * P} (key groups are fixed for the life of the state)`,
      );
    const ensure = async (
      topic: string,
      partitions: number,
      configs: Record<string, string>,
    ): Promise<number> => {
      let n = await admin.partitions(topic);
      if (n === undefined) {
        if (!kcfg.create_topics)
          throw new KafkaIngestError(
            'INGEST_KAFKA_TOPOLOGY',
            `topic ${topic} does not exist and create_topics is off`,
          );
        await admin.createTopic(topic, partitions, kcfg.replication_factor, configs);
        log.info({ topic, partitions }, 'created topic');
        n = (await admin.partitions(topic)) ?? partitions;
      }
      return n;
    };
    const stateP = await ensure(stateTopic, P, STATE_TOPIC_CONFIGS);
    if (stateP !== P)
      throw new KafkaIngestError(
        'INGEST_KAFKA_TOPOLOGY',
        `state topic ${stateTopic} has ${stateP} partitions, the input topics ${P}: it needs one per input partition`,
      );
    const policy = (await admin.topicConfigs(stateTopic, ['cleanup.policy']))['cleanup.policy'] ?? '';
    if (!policy.split(',').includes('compact'))
      log.warn(
        { topic: stateTopic, policy },
        'the state topic is not compacted: superseded snapshots are never removed',
      );
    dlqPartitions = await ensure(dlqTopic, P, {});
  } catch (err) {
    await admin.disconnect().catch(() => undefined);
    throw err;
  }

  // ---- metrics ----------------------------------------------------------------------------------
  const owned = new Map<number, Owned>();
  const ownedRef = { current: owned };
  const reg = metrics.registry;
  const m = {
    deadLetters: metric(
      reg,
      'vigil_kafka_dead_letters_total',
      () =>
        new Counter({
          name: 'vigil_kafka_dead_letters_total',
          help: 'Messages or batch items sent to the dead-letter topic, by reason code.',
          labelNames: ['code'],
          registers: [reg],
        }),
    ),
    repartitioned: metric(
      reg,
      'vigil_kafka_repartitioned_samples_total',
      () =>
        new Counter({
          name: 'vigil_kafka_repartitioned_samples_total',
          help: 'Samples read from a partition their series key does not hash to, re-produced to their own.',
          registers: [reg],
        }),
    ),
    messages: metric(
      reg,
      'vigil_kafka_messages_total',
      () =>
        new Counter({
          name: 'vigil_kafka_messages_total',
          help: 'Input messages handled, by result (processed, replay_skipped).',
          labelNames: ['result'],
          registers: [reg],
        }),
    ),
    joins: metric(
      reg,
      'vigil_kafka_group_joins_total',
      () =>
        new Counter({
          name: 'vigil_kafka_group_joins_total',
          help: 'Consumer group joins (the first one and one per rebalance).',
          registers: [reg],
        }),
    ),
    restores: metric(
      reg,
      'vigil_kafka_partition_restores_total',
      () =>
        new Counter({
          name: 'vigil_kafka_partition_restores_total',
          help: 'Partition state restores from the state topic, by result (snapshot, empty, failed).',
          labelNames: ['result'],
          registers: [reg],
        }),
    ),
    restoreSeconds: metric(
      reg,
      'vigil_kafka_partition_restore_seconds',
      () =>
        new Histogram({
          name: 'vigil_kafka_partition_restore_seconds',
          help: 'Time to restore one partition from the state topic.',
          buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
          registers: [reg],
        }),
    ),
    commits: metric(
      reg,
      'vigil_kafka_commits_total',
      () =>
        new Counter({
          name: 'vigil_kafka_commits_total',
          help: 'Offset commits with snapshot pointers, by result.',
          labelNames: ['result'],
          registers: [reg],
        }),
    ),
    stateBytes: metric(
      reg,
      'vigil_kafka_state_bytes_total',
      () =>
        new Counter({
          name: 'vigil_kafka_state_bytes_total',
          help: 'Snapshot bytes written to the state topic.',
          registers: [reg],
        }),
    ),
    produced: metric(
      reg,
      'vigil_kafka_produced_samples_total',
      () =>
        new Counter({
          name: 'vigil_kafka_produced_samples_total',
          help: 'Samples HTTP ingest produced into the input topic (acknowledged by the brokers).',
          labelNames: ['source'],
          registers: [reg],
        }),
    ),
  };
  metric(
    reg,
    'vigil_kafka_partitions_owned',
    () =>
      new Gauge({
        name: 'vigil_kafka_partitions_owned',
        help: 'Input partitions this member owns, by status.',
        labelNames: ['status'],
        registers: [reg],
        collect() {
          const n: Record<PartitionStatus, number> = { restoring: 0, active: 0, failed: 0 };
          for (const o of ownedRef.current.values()) n[o.status]++;
          for (const [s, v] of Object.entries(n)) this.set({ status: s }, v);
        },
      }),
  );

  metric(
    reg,
    'vigil_kafka_consumer_lag_messages',
    () =>
      new Gauge({
        name: 'vigil_kafka_consumer_lag_messages',
        help: "Messages between this member's positions and the log end of its partitions (read at scrape time).",
        registers: [reg],
        async collect() {
          try {
            this.set(await lagRef.current());
          } catch {
            // Brokers unreachable: no value this scrape (the gauge keeps its last one).
          }
        },
      }),
  );
  const lagRef: { current: () => Promise<number> } = { current: () => Promise.resolve(0) };

  // ---- state -----------------------------------------------------------------------------------
  const stats = {
    memberId: undefined as string | undefined,
    joins: 0,
    messages: 0,
    samples: 0,
    duplicates: 0,
    replaySkipped: 0,
    deadLetters: {} as Record<string, number>,
    repartitioned: 0,
    restores: 0,
    restoredKeys: 0,
    commits: 0,
    commitFailures: 0,
    rebalanceCheckpoints: 0,
    produced: 0,
    crashes: 0,
    firstRecordAt: undefined as number | undefined,
    backpressureMs: 0,
  };
  const partCache = new Map<string, number>();
  const partitionOf = (key: string): number => {
    let p = partCache.get(key);
    if (p === undefined) {
      if (partCache.size >= PARTITION_CACHE) partCache.clear();
      p = partitionForKey(key, P);
      partCache.set(key, p);
    }
    return p;
  };
  const kgsOf = (p: number): number[] => keyGroupsOfPartition(p, P, K);
  let closing = false;
  let topologyBroken: string | undefined;
  let joinSeq = 0;
  let chain: Promise<void> = Promise.resolve();
  let joined = false;
  /** A rebalance was seen in the batch handler and checkpointed: process nothing until the next join. */
  let rebalancing = false;
  let firstJoinDone: () => void = () => undefined;
  const firstJoin = new Promise<void>((r) => (firstJoinDone = r));
  let writerSeq = 0;
  let restoredAtStart = 0;

  // ---- runtime ---------------------------------------------------------------------------------
  const runtime: KeyedRuntime<AnomalyOutput> = createKeyedRuntime<AnomalyOutput>({
    operatorModule: operator.module,
    operatorOptions: operator.options ?? opts.operatorOptions,
    workers: config.runtime.workers,
    keyGroups: K,
    queueCapacity: config.runtime.queue_capacity,
    batchSize: config.runtime.batch_size,
    dedupWindow: config.runtime.dedup_window,
    onOutputs: (outputs) => deliver(outputs),
    onError: (e) => {
      if (e.code === 'RUNTIME_WORKER_FAILED') {
        metrics.workerRestarts.inc();
        log.error(
          { err: e, worker: e.worker },
          'worker failed; restarting it and restoring its partitions from Kafka',
        );
      } else {
        metrics.operatorErrors.inc({ code: e.code });
        log.warn({ err: e, metricKey: e.key }, 'operator failed on a sample; the sample was skipped');
      }
    },
    // The poison record is dead-lettered (QUARANTINED) when its partition is re-read, and the
    // committed offsets move past it: Kafka needs no quarantine file.
    onQuarantined: (q) => {
      metrics.samplesQuarantined.inc();
      log.error(
        { metricKey: q.key, ts: q.ts, worker: q.worker, crashes: q.crashes },
        'a sample crashed its worker thread repeatedly: quarantined (dead-lettered from now on)',
      );
    },
    onWorkerRestarted: (_worker, keyGroups) => {
      // Every partition with a key group on the dead worker rewinds to its committed snapshot.
      const parts = new Set(keyGroups.map((g) => g % P));
      for (const p of parts) if (owned.has(p)) reacquire(p, 'its worker thread died');
      runtime.resume();
    },
  });
  function deliver(outputs: readonly KeyedOutput<AnomalyOutput>[]): void {
    const events: AlertEvent[] = [];
    for (const o of outputs) {
      if (o.output?.kind === 'alert') {
        events.push(o.output.event);
        metrics.alertEvents.inc({ status: o.output.event.status });
      }
    }
    if (events.length > 0) opts.onAlertEvents(events, { resync: false });
  }

  let producer: RecordProducer;
  let ingestProducer: RecordProducer;
  let reader: PartitionReader;
  try {
    await runtime.ready;
    producer = await client.producer();
    // HTTP ingest answers within a few seconds when the brokers are away (503, the client retries).
    ingestProducer = await client.producer({ retries: 3 });
    reader = await client.partitionReader(stateTopic, kcfg.group_id);
  } catch (err) {
    await runtime.close().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    throw err;
  }

  // ---- partition lifecycle ---------------------------------------------------------------------
  function pauseAll(p: number): void {
    for (const t of topics) consumer.pause(t, [p]);
  }
  function resumeAll(p: number): void {
    for (const t of topics) consumer.resume(t, [p]);
  }
  function newOwned(p: number): Owned {
    return {
      partition: p,
      status: 'restoring',
      incarnation: 0,
      next: new Map(),
      committedNext: new Map(),
      pointer: undefined,
      pointerKeys: [],
      epoch: 0,
      garbage: [],
      pending: new Set(),
    };
  }
  function pointerOf(rows: readonly CommittedOffset[], p: number): SnapshotPointer | undefined {
    let best: SnapshotPointer | undefined;
    for (const r of rows) {
      if (r.partition !== p) continue;
      const ptr = decodePointer(r.metadata);
      if (ptr && (!best || ptr.e > best.e || (ptr.e === best.e && ptr.m > best.m))) best = ptr;
    }
    return best;
  }
  const samePointer = (a: SnapshotPointer | undefined, b: SnapshotPointer | undefined): boolean =>
    a === b || (a !== undefined && b !== undefined && a.w === b.w && a.s === b.s && a.m === b.m);

  async function committedWithRetry(): Promise<CommittedOffset[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await admin.committed(kcfg.group_id, topics);
      } catch (err) {
        if (closing || attempt >= 20) throw err;
        log.warn({ err, attempt }, 'cannot fetch committed offsets; retrying');
        await sleep(Math.min(5_000, 200 * 2 ** attempt));
      }
    }
  }

  /**
   * Loads partition p's committed snapshot (or starts it empty at its committed or initial
   * offsets), seeks, and resumes it. Runs on the `chain` (one assignment change at a time).
   */
  async function restore(o: Owned, rows: readonly CommittedOffset[]): Promise<boolean> {
    const p = o.partition;
    const inc = o.incarnation;
    const mine = (): boolean => owned.get(p) === o && o.incarnation === inc && !closing;
    const started = process.hrtime.bigint();
    // Whoever asked, nothing of p is consumed while its state is replaced.
    o.status = 'restoring';
    pauseAll(p);
    await runtime.dropKeyGroups(kgsOf(p));
    const ptr = pointerOf(rows, p);
    const next = new Map<string, number>();
    let keys = 0;
    try {
      if (ptr) {
        let snap;
        for (let attempt = 0; ; attempt++) {
          try {
            snap = await readSnapshot(reader, p, ptr, readTimeoutMs);
            break;
          } catch (err) {
            const retryable = err instanceof KafkaIngestError && err.retryable;
            if (!retryable || attempt >= 5 || !mine()) throw err;
            log.warn({ err, partition: p, attempt }, 'reading the partition snapshot failed; retrying');
            await sleep(500 * 2 ** attempt);
          }
        }
        const man = snap.manifest;
        if (
          man.keyGroups !== K ||
          man.partitions !== P ||
          man.operator !== operator.name ||
          man.stateVersion !== operator.stateVersion
        )
          throw new KafkaIngestError(
            'INGEST_KAFKA_STATE_INCOMPATIBLE',
            `partition ${p}'s snapshot was written with key_groups=${man.keyGroups}, ${man.partitions} partitions, operator ${man.operator} v${man.stateVersion}; ` +
              `this Vigil has key_groups=${K}, ${P} partitions, ${operator.name} v${operator.stateVersion}`,
          );
        if (!mine()) return false;
        keys = await runtime.restore(snap.groups);
        for (const t of topics) {
          const covered =
            man.offsets[t] ?? rows.find((r) => r.topic === t && r.partition === p)?.offset ?? -1;
          if (covered >= 0) next.set(t, covered);
        }
        o.pointer = ptr;
        o.pointerKeys = snapshotKeys(p, ptr.w, ptr.s, ptr.c);
        o.epoch = ptr.e + 1;
        m.restores.inc({ result: 'snapshot' });
      } else {
        o.pointer = undefined;
        o.pointerKeys = [];
        o.epoch = 1;
        for (const t of topics) {
          const c = rows.find((r) => r.topic === t && r.partition === p)?.offset ?? -1;
          if (c >= 0) {
            next.set(t, c);
            log.warn(
              { partition: p, topic: t, offset: c },
              'partition has committed offsets but no Vigil snapshot pointer: its series start with empty state from the committed offset',
            );
          }
        }
        m.restores.inc({ result: 'empty' });
      }
      // Topics without a position start where a new group starts.
      for (const t of topics) {
        if (next.has(t)) continue;
        const offs = await admin.offsets(t);
        const row = offs.find((r) => r.partition === p);
        next.set(t, row ? (fromBeginning ? row.low : row.high) : 0);
      }
    } catch (err) {
      m.restores.inc({ result: 'failed' });
      if (!mine()) return false;
      o.status = 'failed';
      log.error(
        { err, partition: p },
        'cannot restore the partition from the state topic; it stays paused (never processed from empty state silently). Retrying in 30 s',
      );
      const retry = setTimeout(() => {
        if (owned.get(p) === o && o.status === 'failed') reacquire(p, 'retrying a failed restore');
      }, 30_000);
      retry.unref();
      return false;
    }
    if (!mine()) {
      await runtime.dropKeyGroups(kgsOf(p));
      return false;
    }
    o.next = next;
    o.committedNext = new Map(next);
    for (const [t, off] of next) consumer.seek(t, p, off);
    o.status = 'active';
    resumeAll(p);
    stats.restores++;
    stats.restoredKeys += keys;
    restoredAtStart += keys;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    m.restoreSeconds.observe(seconds);
    log.info(
      {
        partition: p,
        keys,
        snapshot: ptr ? `${ptr.w}/${ptr.s}` : null,
        epoch: o.epoch,
        offsets: Object.fromEntries(next),
        seconds,
      },
      'partition restored',
    );
    return true;
  }

  /** Re-announces the open alerts of `parts` (restored): the dispatcher dedups them. */
  async function resync(parts: ReadonlySet<number>): Promise<void> {
    if (parts.size === 0) return;
    const open = await runtime.queryAll<AlertEvent>({ kind: 'open-alert' });
    const events = open.filter((o) => parts.has(partitionOf(o.key))).map((o) => o.result);
    if (events.length > 0) opts.onAlertEvents(events, { resync: true });
  }

  async function release(parts: readonly number[]): Promise<void> {
    if (parts.length === 0) return;
    const set = new Set(parts);
    for (const p of parts) owned.delete(p);
    if (opts.onAlertsReleased) {
      const open = await runtime.queryAll<AlertEvent>({ kind: 'open-alert' });
      const events = open.filter((o) => set.has(partitionOf(o.key))).map((o) => o.result);
      if (events.length > 0) opts.onAlertsReleased(events);
    }
    await runtime.dropKeyGroups(parts.flatMap(kgsOf));
    log.info(
      { partitions: parts },
      'partitions revoked: their state was dropped (the new owner restores it from Kafka)',
    );
  }

  function onJoin(a: GroupAssignment): void {
    rebalancing = false;
    stats.joins++;
    stats.memberId = a.memberId;
    m.joins.inc();
    const seq = ++joinSeq;
    const sets = topics.map((t) => new Set(a.partitions.get(t) ?? []));
    const parts = [...(sets[0] ?? new Set<number>())]
      .filter((p) => sets.every((s) => s.has(p)))
      .sort((x, y) => x - y);
    // Nothing is fetched for the new assignment until it is checked or restored.
    for (const t of topics) consumer.pause(t, a.partitions.get(t) ?? []);
    for (const o of owned.values()) if (o.status === 'active') o.status = 'restoring';
    if (sets.some((s) => s.size !== parts.length))
      log.error(
        { assignment: Object.fromEntries(a.partitions) },
        'assignment is not co-partitioned (another assignor in the group?); unmatched partitions stay paused',
      );
    chain = chain
      .then(() => handleJoin(parts, seq))
      .catch((err: unknown) => log.error({ err }, 'handling the new assignment failed'))
      .finally(() => {
        if (seq === joinSeq) {
          joined = true;
          firstJoinDone();
        }
      });
  }

  async function handleJoin(parts: readonly number[], seq: number): Promise<void> {
    if (seq !== joinSeq || closing) return;
    const n = await admin.partitions(topics[0] as string).catch(() => P);
    if (n !== P) {
      topologyBroken = `the partition count of ${topics[0]} changed from ${P} to ${n}: series were re-homed and their state cannot follow. Restore the partition count or start a new consumer group with a new state topic.`;
      log.fatal(topologyBroken);
      return;
    }
    const want = new Set(parts);
    await release([...owned.keys()].filter((p) => !want.has(p)));
    const rows = await committedWithRetry();
    if (seq !== joinSeq) return;
    const restored = new Set<number>();
    const toRestore: Owned[] = [];
    for (const p of parts) {
      const o = owned.get(p);
      if (o && o.status !== 'failed' && samePointer(pointerOf(rows, p), o.pointer)) {
        // Kept through the rebalance and nobody committed it meanwhile: continue where we were.
        for (const [t, off] of o.next) consumer.seek(t, p, off);
        o.status = 'active';
        resumeAll(p);
        continue;
      }
      if (o)
        log.info(
          { partition: p },
          'partition was committed by another member meanwhile; restoring it from Kafka',
        );
      const fresh = o ?? newOwned(p);
      fresh.status = 'restoring';
      fresh.incarnation++;
      owned.set(p, fresh);
      toRestore.push(fresh);
    }
    opts.onProgress?.('restore', 0, toRestore.length);
    let done = 0;
    await Promise.all(
      toRestore.map(async (o) => {
        if (await restore(o, rows)) restored.add(o.partition);
        opts.onProgress?.('restore', ++done, toRestore.length);
      }),
    );
    await resync(restored);
    log.info({ partitions: parts, restored: [...restored], memberId: stats.memberId }, 'assignment applied');
  }

  /** Rewinds p to its committed snapshot (worker crash, failed dead-letter send, retry). */
  function reacquire(p: number, why: string): void {
    const o = owned.get(p);
    if (!o || closing) return;
    o.status = 'restoring';
    o.incarnation++;
    pauseAll(p);
    log.warn({ partition: p, reason: why }, 'rewinding the partition to its committed snapshot');
    const inc = o.incarnation;
    chain = chain
      .then(async () => {
        if (owned.get(p) !== o || o.incarnation !== inc) return;
        const rows = await committedWithRetry();
        if (await restore(o, rows)) await resync(new Set([p]));
      })
      .catch((err: unknown) => log.error({ err, partition: p }, 'rewinding the partition failed'));
  }

  // ---- side effects of records: dead letters and repartitions ----------------------------------
  function track(o: Owned, send: Promise<unknown>, what: string): void {
    const p: Promise<void> = send.then(
      () => {
        o.pending.delete(p);
      },
      (err: unknown) => {
        o.pending.delete(p);
        log.error({ err, partition: o.partition }, `${what} failed after retries`);
        reacquire(o.partition, `${what} failed`);
        throw err;
      },
    );
    p.catch(() => undefined); // observed by checkpoints (which skip the partition) and logged above
    o.pending.add(p);
  }
  const dlqChains = new Map<number, Promise<unknown>>();
  function deadLetter(o: Owned, records: OutRecord[], codes: DeadLetterCode[]): void {
    if (records.length === 0) return;
    for (const c of codes) {
      m.deadLetters.inc({ code: c });
      stats.deadLetters[c] = (stats.deadLetters[c] ?? 0) + 1;
    }
    const dp = records[0]?.partition ?? 0;
    const prev = dlqChains.get(dp) ?? Promise.resolve();
    const send = prev.then(async () => {
      try {
        await producer.send(dlqTopic, records);
      } catch (err) {
        // A message above the dead-letter topic's size limit is kept as its first 64 KiB.
        const cut = records.map(truncateDeadLetter);
        if (cut.every((r, i) => r === records[i])) throw err;
        await producer.send(dlqTopic, cut);
      }
    });
    dlqChains.set(
      dp,
      send.catch(() => undefined),
    );
    track(o, send, 'a dead-letter send');
  }
  const repartitionChains = new Map<string, Promise<unknown>>();
  function repartition(o: Owned, topic: string, src: KafkaRecord, samples: Sample[], batch: boolean): void {
    const byPart = new Map<number, Sample[]>();
    for (const s of samples) {
      const q = partitionOf(s.key);
      const list = byPart.get(q);
      if (list) list.push(s);
      else byPart.set(q, [s]);
    }
    for (const [q, list] of byPart) {
      const records: OutRecord[] = (batch ? [list] : list.map((s) => [s])).map((group) => ({
        key: group[0]?.key ?? null,
        value: batch ? encodeBatchJson(group) : encodeSampleJson(group[0] as Sample),
        partition: q,
        headers: { 'vigil-repartitioned-from': `${topic}/${o.partition}/${src.offset}` },
      }));
      // Per target partition in order, so a misrouted series keeps its order.
      const k = `${topic}/${q}`;
      const prev = repartitionChains.get(k) ?? Promise.resolve();
      const send = prev.then(() => producer.send(topic, records));
      repartitionChains.set(
        k,
        send.catch(() => undefined),
      );
      track(o, send, 'a repartition send');
    }
    stats.repartitioned += samples.length;
    m.repartitioned.inc(samples.length);
  }

  // ---- the batch handler -----------------------------------------------------------------------
  /** A rebalance seen by our heartbeat: checkpoint and commit while the coordinator still accepts it. */
  async function beat(b: RecordBatch): Promise<void> {
    try {
      await b.heartbeat();
    } catch (err) {
      if (isRebalanceError(err) && !closing && !rebalancing) {
        // The rest of this fetch's batches are left alone until the new assignment.
        rebalancing = true;
        stats.rebalanceCheckpoints++;
        log.info('rebalance in progress: checkpointing owned partitions before rejoining');
        const bound = Math.max(1_000, durationMs(kcfg.rebalance_timeout) / 2);
        await Promise.race([checkpoint(true).catch(() => undefined), sleep(bound)]);
      }
      throw err;
    }
  }

  /** One record, decoded: its samples for this partition and what else it needs once offered. */
  interface Prepared {
    readonly rec: KafkaRecord;
    readonly offset: number;
    /** Whole-message refusal (dead-lettered after the chunk is offered). */
    readonly poison?: { readonly code: DeadLetterCode; readonly reason: string };
    readonly decoded?: DecodedMessage;
    /** Index into the chunk's offered samples of this record's first local sample. */
    readonly first: number;
    /** Item index of each local sample. */
    readonly localItems: readonly number[];
    readonly misrouted: boolean;
  }

  /** Records per offer: one offer (one router pass, one queue check) per chunk. */
  const CHUNK_RECORDS = 256;
  const CHUNK_SAMPLES = 4096;

  /** Offers `samples`; 'overloaded' when a worker queue is full (nothing taken). */
  function tryOffer(samples: readonly Sample[]): OfferResult | 'overloaded' {
    if (samples.length === 0) return { accepted: [], refs: [], duplicates: 0, rejected: [] };
    try {
      return runtime.offer(samples);
    } catch (err) {
      if (err instanceof RuntimeError && err.code === 'RUNTIME_OVERLOADED') return 'overloaded';
      throw err;
    }
  }

  /** Decodes one record; appends its samples of partition p to `out`. No side effects. */
  const decoder = createKafkaDecoder(kcfg.format, limits, kcfg.max_message_bytes);
  function prepare(p: number, rec: KafkaRecord, offset: number, out: Sample[], nowMs: number): Prepared {
    const decoded = decoder.decode(rec.key, rec.value, nowMs);
    const first = out.length;
    if (!decoded.ok)
      return {
        rec,
        offset,
        poison: { code: decoded.code, reason: decoded.reason },
        first,
        localItems: [],
        misrouted: false,
      };
    const localItems: number[] = [];
    let misrouted = false;
    for (let i = 0; i < decoded.samples.length; i++) {
      const smp = decoded.samples[i] as Sample;
      if (partitionOf(smp.key) === p) {
        out.push(smp);
        localItems.push(decoded.itemIndex[i] ?? 0);
      } else misrouted = true;
    }
    return { rec, offset, decoded, first, localItems, misrouted };
  }

  /**
   * After the chunk was offered: dead letters (poison, refused items, router refusals, misrouted
   * samples with `misrouted: dead-letter`) and repartitions of each record, in record order.
   */
  function finishChunk(o: Owned, topic: string, chunk: readonly Prepared[], res: OfferResult): void {
    const dp = o.partition % dlqPartitions;
    const letters: OutRecord[] = [];
    const codes: DeadLetterCode[] = [];
    const refused = new Map<number, { code: DeadLetterCode; reason: string }>();
    for (const r of res.rejected) refused.set(r.index, { code: r.code, reason: r.reason });
    for (const prep of chunk) {
      const src = { topic, partition: o.partition, record: prep.rec };
      if (prep.poison) {
        const truncate = prep.poison.code === 'MESSAGE_TOO_LARGE';
        letters.push(deadLetterRecord(src, prep.poison.code, prep.poison.reason, dp, undefined, truncate));
        codes.push(prep.poison.code);
        continue;
      }
      const decoded = prep.decoded;
      if (!decoded) continue;
      const itemJson = (i: number): string => JSON.stringify(decoded.items[i] ?? null);
      for (const r of decoded.rejected) {
        letters.push(
          deadLetterRecord(src, r.code, r.reason, dp, { index: r.index, json: itemJson(r.index) }),
        );
        codes.push(r.code);
        metrics.samplesRejected.inc({ source: 'kafka', reason: r.code });
      }
      if (refused.size > 0) {
        for (let j = 0; j < prep.localItems.length; j++) {
          const r = refused.get(prep.first + j);
          if (!r) continue;
          const item = prep.localItems[j] ?? 0;
          letters.push(deadLetterRecord(src, r.code, r.reason, dp, { index: item, json: itemJson(item) }));
          codes.push(r.code);
          metrics.samplesRejected.inc({ source: 'kafka', reason: r.code });
        }
      }
      if (!prep.misrouted) continue;
      const away = decoded.samples.filter((x) => partitionOf(x.key) !== o.partition);
      if (kcfg.misrouted === 'dead-letter') {
        for (let i = 0; i < decoded.samples.length; i++) {
          const x = decoded.samples[i] as Sample;
          const q = partitionOf(x.key);
          if (q === o.partition) continue;
          const item = decoded.itemIndex[i] ?? 0;
          letters.push(
            deadLetterRecord(
              src,
              'MISROUTED',
              `series ${x.key} belongs to partition ${q} (murmur2 of the series key), read from partition ${o.partition}; the producer does not follow the partitioning convention`,
              dp,
              { index: item, json: itemJson(item) },
            ),
          );
          codes.push('MISROUTED');
        }
      } else repartition(o, topic, prep.rec, away, decoded.batch);
    }
    deadLetter(o, letters, codes);
    stats.samples += res.accepted.length;
    stats.duplicates += res.duplicates;
    if (res.accepted.length > 0) metrics.samplesAccepted.inc({ source: 'kafka' }, res.accepted.length);
    if (res.duplicates > 0) metrics.samplesDuplicate.inc({ source: 'kafka' }, res.duplicates);
  }

  let inBatch: Promise<void> = Promise.resolve();
  async function onBatch(b: RecordBatch): Promise<void> {
    let release: () => void = () => undefined;
    inBatch = new Promise<void>((r) => (release = r));
    try {
      await handleBatch(b);
    } finally {
      release();
    }
  }

  /**
   * Processes one fetched batch in chunks: decode a chunk of records, offer its samples at once
   * (waiting, with heartbeats, while the workers are full), then its side effects, then move the
   * position and resolve the chunk's last offset. Yields to kafkajs after MAX_BATCH_MS; the rest
   * is fetched again from the resolved offset.
   */
  async function handleBatch(b: RecordBatch): Promise<void> {
    if (closing || topologyBroken || rebalancing) return;
    const o = owned.get(b.partition);
    if (!o || o.status !== 'active') return;
    const inc = o.incarnation;
    const topic = b.topic;
    stats.firstRecordAt ??= Date.now();
    const live = (): boolean =>
      b.isRunning() &&
      !b.isStale() &&
      !closing &&
      !rebalancing &&
      owned.get(o.partition) === o &&
      o.incarnation === inc &&
      o.status === 'active';
    const started = Date.now();
    let lastBeat = started;
    let next = o.next.get(topic) ?? -1;
    let processed = 0;
    let skipped = 0;
    const records = b.records;
    try {
      let i = 0;
      while (i < records.length) {
        if (!live()) break;
        const chunk: Prepared[] = [];
        const samples: Sample[] = [];
        const chunkNow = Date.now();
        let lastOffset: string | undefined;
        while (i < records.length && chunk.length < CHUNK_RECORDS && samples.length < CHUNK_SAMPLES) {
          const rec = records[i++] as KafkaRecord;
          const off = Number(rec.offset);
          lastOffset = rec.offset;
          if (off < next) {
            skipped++; // already in the restored (or retained) state
            continue;
          }
          chunk.push(prepare(o.partition, rec, off, samples, chunkNow));
        }
        let res = tryOffer(samples);
        let wait = 1;
        while (res === 'overloaded') {
          // Backpressure: wait for the workers, heartbeating so the session never lapses.
          if (Date.now() - started > MAX_BATCH_MS) return;
          const w0 = Date.now();
          await sleep(wait);
          stats.backpressureMs += Date.now() - w0;
          wait = Math.min(wait * 2, 20);
          if (Date.now() - lastBeat > 200) {
            await beat(b);
            lastBeat = Date.now();
          }
          if (!live()) return;
          res = tryOffer(samples);
        }
        finishChunk(o, topic, chunk, res);
        const last = chunk.at(-1);
        if (last) {
          next = last.offset + 1;
          o.next.set(topic, next);
        }
        if (lastOffset !== undefined) b.resolveOffset(lastOffset);
        processed += chunk.length;
        const now = Date.now();
        if (now - lastBeat > 200) {
          await beat(b);
          lastBeat = now;
        }
        if (now - started > MAX_BATCH_MS) break;
      }
    } catch (err) {
      if (isRebalanceError(err)) throw err;
      // A bug or an unexpected runtime failure: never let kafkajs crash-loop on it; rewind instead.
      log.error({ err, partition: o.partition, topic }, 'processing a batch failed; rewinding the partition');
      reacquire(o.partition, 'a batch failed');
    } finally {
      stats.messages += processed;
      stats.replaySkipped += skipped;
      if (processed > 0) m.messages.inc({ result: 'processed' }, processed);
      if (skipped > 0) m.messages.inc({ result: 'replay_skipped' }, skipped);
    }
    // kafkajs heartbeats right after this handler anyway (rate-limited to heartbeat_interval):
    // doing it here means a rebalance is seen while we can still checkpoint and commit.
    await beat(b);
  }

  // ---- checkpoints -----------------------------------------------------------------------------
  let checkpointing: Promise<CheckpointResult> | undefined;
  let lastResult: CheckpointResult = { id: 0, keys: 0, bytes: 0, seconds: 0 };
  const dirty = (o: Owned): boolean => {
    for (const [t, off] of o.next) if (o.committedNext.get(t) !== off) return true;
    return false;
  };

  /**
   * Snapshots the owned, active partitions that moved since their last commit (all of them when
   * `force`), writes them to the state topic and commits their offsets with the pointers.
   */
  function checkpoint(force = false): Promise<CheckpointResult> {
    const run = async (): Promise<CheckpointResult> => {
      const started = process.hrtime.bigint();
      const targets = [...owned.values()].filter(
        (o) => o.status === 'active' && (dirty(o) || (force && !o.pointer && o.next.size > 0)),
      );
      if (targets.length === 0) return { ...lastResult, bytes: 0, seconds: 0 };
      // The cut: positions, pending side effects and the snapshot barrier in one tick.
      const cut = targets.map((o) => ({
        o,
        inc: o.incarnation,
        offsets: Object.fromEntries(o.next),
        pending: [...o.pending],
      }));
      const snapshot = runtime.snapshot(cut.flatMap((c) => kgsOf(c.o.partition)));
      const valid = (c: (typeof cut)[number]): boolean =>
        owned.get(c.o.partition) === c.o && c.o.incarnation === c.inc && c.o.status !== 'failed';
      let groups: Map<number, { bytes: Uint8Array; keys: number }>;
      try {
        groups = await snapshot;
      } catch (err) {
        metrics.checkpointsTotal.inc({ result: 'failed' });
        throw err;
      }
      let bytes = 0;
      const written = await Promise.all(
        cut.map(async (c) => {
          try {
            await Promise.all(c.pending);
          } catch {
            return undefined; // a side effect failed: that partition is being rewound
          }
          if (!valid(c)) return undefined;
          const p = c.o.partition;
          const mine = new Map<number, Uint8Array>();
          for (const g of kgsOf(p)) {
            const blob = groups.get(g);
            if (blob) mine.set(g, blob.bytes);
          }
          const seq = ++writerSeq;
          try {
            const w = await writeSnapshot(
              producer,
              stateTopic,
              {
                partition: p,
                partitions: P,
                keyGroups: K,
                operator: operator.name,
                stateVersion: operator.stateVersion,
                writer,
                seq,
                epoch: c.o.epoch,
                offsets: c.offsets,
              },
              mine,
              kcfg.state_chunk_bytes,
            );
            c.o.garbage.push(...w.keys);
            bytes += w.manifest.bytes;
            m.stateBytes.inc(w.manifest.bytes);
            return { c, w };
          } catch (err) {
            log.warn(
              { err, partition: p },
              'writing the partition snapshot failed; its offsets stay uncommitted',
            );
            return undefined;
          }
        }),
      );
      const ok = written.filter((x): x is NonNullable<typeof x> => x !== undefined && valid(x.c));
      if (ok.length > 0) {
        try {
          await consumer.commit(
            ok.flatMap(({ c, w }) =>
              topics
                .filter((t) => c.offsets[t] !== undefined)
                .map((t) => ({
                  topic: t,
                  partition: c.o.partition,
                  offset: c.offsets[t] as number,
                  metadata: encodePointer(w.pointer),
                })),
            ),
          );
        } catch (err) {
          stats.commitFailures++;
          m.commits.inc({ result: 'refused' });
          metrics.checkpointsTotal.inc({ result: 'failed' });
          log.warn(
            { err },
            'offset commit refused; the previous snapshots stay current (records since then will be replayed)',
          );
          throw err;
        }
        stats.commits++;
        m.commits.inc({ result: 'ok' });
        for (const { c, w } of ok) {
          const o = c.o;
          const keep = new Set(w.keys);
          const obsolete = [...o.pointerKeys, ...o.garbage].filter((k) => !keep.has(k));
          o.pointer = w.pointer;
          o.pointerKeys = w.keys;
          o.garbage = [];
          o.committedNext = new Map(Object.entries(c.offsets));
          deleteSnapshotRecords(producer, stateTopic, o.partition, obsolete).catch((err: unknown) =>
            log.warn(
              { err, partition: o.partition },
              'deleting superseded snapshot records failed (they stay until the next success)',
            ),
          );
        }
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.checkpointSeconds.observe(seconds);
      metrics.checkpointsTotal.inc({ result: 'ok' });
      lastResult = { id: writerSeq, keys: runtime.size, bytes, seconds };
      log.info(
        { checkpoint: writerSeq, partitions: ok.map((x) => x.c.o.partition), bytes, seconds },
        'checkpoint committed',
      );
      return lastResult;
    };
    const prev = checkpointing;
    const p = (prev ? prev.catch(() => undefined).then(run) : run()).finally(() => {
      if (checkpointing === p) checkpointing = undefined;
    });
    checkpointing = p;
    return p;
  }

  // ---- the consumer ----------------------------------------------------------------------------
  let consumer: GroupConsumer = makeConsumer();
  function makeConsumer(): GroupConsumer {
    const c = client.groupConsumer({
      groupId: kcfg.group_id,
      topics,
      fromBeginning,
      claim: () => [...owned.keys()],
    });
    c.onJoin(onJoin);
    c.onRebalancing(() => {
      if (closing) return;
      // Seen outside our handler: kafkajs is already rejoining; a commit may still get in.
      checkpoint(true).catch(() => undefined);
    });
    c.onCrash((err, restart) => {
      stats.crashes++;
      if (restart) {
        log.warn({ err }, 'the Kafka consumer crashed; kafkajs restarts it');
        return;
      }
      log.error({ err }, 'the Kafka consumer stopped; starting a new one');
      setTimeout(() => {
        if (closing) return;
        void release([...owned.keys()])
          .then(() => {
            consumer = makeConsumer();
            return consumer.run(onBatch);
          })
          .catch((e: unknown) => log.fatal({ err: e }, 'cannot restart the Kafka consumer'));
      }, 1_000).unref();
    });
    return c;
  }
  try {
    await consumer.run(onBatch);
  } catch (err) {
    await Promise.allSettled([
      reader.disconnect(),
      producer.disconnect(),
      ingestProducer.disconnect(),
      admin.disconnect(),
    ]);
    await runtime.close().catch(() => undefined);
    throw new KafkaIngestError(
      'INGEST_KAFKA_UNAVAILABLE',
      `cannot start the Kafka consumer: ${(err as Error).message}`,
      true,
      { cause: err },
    );
  }
  const joinBound = durationMs(kcfg.rebalance_timeout) + readTimeoutMs;
  const joinTimer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), joinBound).unref());
  if ((await Promise.race([firstJoin.then(() => 'joined' as const), joinTimer])) === 'timeout')
    log.warn(
      { waitedMs: joinBound },
      'no group assignment yet; continuing (not ready until partitions are restored)',
    );

  const ckptTimer = setInterval(() => {
    checkpoint().catch(() => undefined); // logged inside
  }, durationMs(config.runtime.checkpoint_interval));
  ckptTimer.unref();

  const recovery: RecoveryReport = {
    checkpointId: undefined,
    restoredKeys: restoredAtStart,
    replayedRecords: 0,
    replayedSamples: 0,
    tornBytes: 0,
    skippedCheckpoints: [],
    seconds: (Date.now() - t0) / 1000,
  };
  log.info(
    {
      ...recovery,
      partitions: [...owned.keys()],
      partitionCount: P,
      stateTopic,
      deadLetterTopic: dlqTopic,
      writer,
    },
    'kafka pipeline started',
  );

  // ---- HTTP ingest produces into Kafka ---------------------------------------------------------
  const produceTopic = topics[0] as string;
  // A send still retrying after the timeout may land later: the client's retry is then a duplicate
  // (acknowledged) or older than the series' newest sample (refused OUT_OF_ORDER): never lost.
  const produceTimeoutMs = durationMs(kcfg.produce_timeout);
  const batchFormat = kcfg.format !== 'json';
  const sink: SampleSink = {
    async submit(samples, source): Promise<SubmitResult> {
      if (closing)
        throw new IngestError('INGEST_UNAVAILABLE', 'shutting down; retry on another node', {
          retryAfterSeconds: 1,
        });
      const perPartition = new Map<number, OutRecord[]>();
      const add = (q: number, r: OutRecord): void => {
        const list = perPartition.get(q);
        if (list) list.push(r);
        else perPartition.set(q, [r]);
      };
      if (batchFormat) {
        const bySeries = new Map<string, Sample[]>();
        for (const s of samples) {
          const list = bySeries.get(s.key);
          if (list) list.push(s);
          else bySeries.set(s.key, [s]);
        }
        for (const [key, list] of bySeries) {
          const q = partitionOf(key);
          for (let i = 0; i < list.length; i += 2000)
            add(q, { key, value: encodeBatchJson(list.slice(i, i + 2000)), partition: q });
        }
      } else {
        for (const s of samples) {
          const q = partitionOf(s.key);
          add(q, { key: s.key, value: encodeSampleJson(s), partition: q });
        }
      }
      // Sends of bounded size per partition (a broker refuses a record batch above
      // message.max.bytes): every partition's sends in order, partitions in parallel.
      const byPart = new Map<number, OutRecord[][]>();
      for (const [q, list] of perPartition) {
        const sends: OutRecord[][] = [];
        let cur: OutRecord[] = [];
        let size = 0;
        for (const r of list) {
          const n = (r.value?.length ?? 0) + (typeof r.key === 'string' ? r.key.length : 0) + 32;
          if (cur.length > 0 && size + n > PRODUCE_BATCH_BYTES) {
            sends.push(cur);
            cur = [];
            size = 0;
          }
          cur.push(r);
          size += n;
        }
        if (cur.length > 0) sends.push(cur);
        if (sends.length > 0) byPart.set(q, sends);
      }
      try {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no acknowledgement within ${kcfg.produce_timeout}`)),
            produceTimeoutMs,
          );
        });
        try {
          await Promise.race([
            Promise.all(
              [...byPart.values()].map(async (list) => {
                for (const s of list) await ingestProducer.send(produceTopic, s);
              }),
            ),
            timeout,
          ]);
        } finally {
          clearTimeout(timer);
        }
      } catch (err) {
        metrics.requestsOverloaded.inc({ source });
        throw new IngestError(
          'INGEST_UNAVAILABLE',
          `Kafka did not acknowledge the samples (${(err as Error).message}); nothing of this request is guaranteed, retry it`,
          { retryAfterSeconds: 1 },
          { cause: err },
        );
      }
      stats.produced += samples.length;
      m.produced.inc({ source }, samples.length);
      return { accepted: samples.length, duplicates: 0, rejected: [] };
    },
  };

  async function lag(): Promise<number> {
    let total = 0;
    for (const t of topics) {
      const offs = await admin.offsets(t);
      for (const r of offs) {
        const o = owned.get(r.partition);
        if (!o) continue;
        total += Math.max(0, r.high - (o.next.get(t) ?? r.low));
      }
    }
    return total;
  }
  lagRef.current = lag;

  let closed: Promise<void> | undefined;
  return {
    sink,
    runtime,
    recovery,
    checkpoint: () => checkpoint(true),
    ready: () =>
      !closing &&
      topologyBroken === undefined &&
      joined &&
      [...owned.values()].every((o) => o.status === 'active'),
    stats: () => ({
      ...stats,
      deadLetters: { ...stats.deadLetters },
      writer,
      partitionCount: P,
      partitions: [...owned.values()]
        .sort((a, b) => a.partition - b.partition)
        .map((o) => ({ partition: o.partition, status: o.status, next: Object.fromEntries(o.next) })),
    }),
    lag,
    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(ckptTimer);
        for (const p of owned.keys()) pauseAll(p);
        await inBatch;
        await runtime.drain();
        // Commit where we are, so the next owner starts exactly here (no replay, no duplicates).
        try {
          await checkpoint(true);
        } catch {
          // Logged in checkpoint(); the previous snapshots stay current (records since are replayed).
        }
        await chain.catch(() => undefined);
        await consumer.disconnect().catch((err: unknown) => log.warn({ err }, 'consumer disconnect failed'));
        for (const o of owned.values()) await Promise.allSettled([...o.pending]);
        await Promise.allSettled([
          reader.disconnect(),
          producer.disconnect(),
          ingestProducer.disconnect(),
          admin.disconnect(),
        ]);
        await runtime.close();
        log.info('kafka pipeline closed');
      })();
      return closed;
    },
  };
}
