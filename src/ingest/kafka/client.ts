/**
 * The only file that imports kafkajs: a thin adapter exposing what Vigil needs from a Kafka client
 * (a group consumer with batch handling, pause/seek/commit-with-metadata and assignment events; a
 * producer that reports offsets; a partition range reader; a few admin calls). A successor client
 * (e.g. @confluentinc/kafka-javascript once Node 22 is the floor, or a librdkafka binding) replaces
 * this file and keeps the interfaces below.
 *
 * kafkajs 2.2.4 facts this adapter relies on (tulios/kafkajs@v2.2.4 src/consumer/*):
 * - no background heartbeat: `heartbeat()` inside the batch handler keeps the session alive, and is
 *   where a rebalance shows up first (REBALANCE_IN_PROGRESS), while the member can still commit;
 * - eager rebalancing, no revoke callback: assignments are learned from GROUP_JOIN after the fact;
 * - pauses survive a rejoin but not a consumer crash-restart (a new consumer group object);
 * - `commitOffsets` is a silent no-op when the runner is not running: commits are confirmed through
 *   the COMMIT_OFFSETS instrumentation event instead;
 * - no `assign()`: the partition reader is a consumer alone in a private group that seeks.
 */
import kafkajs from 'kafkajs';
import type {
  Assigner,
  Consumer,
  KafkaConfig,
  LogEntry,
  PartitionAssigner,
  Producer,
  SASLOptions,
} from 'kafkajs';
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { durationMs } from '../../common/index.js';
import type { KafkaIngestConfig } from './config.js';
import { KafkaIngestError } from './errors.js';
import { assignSticky, decodeClaim, encodeClaim } from './sticky-assignor.js';

// kafkajs is CommonJS; Node's named-export detection misses some of its exports (ConfigResourceTypes).
const { AssignerProtocol, ConfigResourceTypes, Kafka, Partitioners, logLevel } = kafkajs;

/** A consumed record. `offset` is Kafka's int64 as a decimal string. */
export interface KafkaRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly offset: string;
  readonly timestamp: string;
  readonly headers?: Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>>;
}

/** One fetched batch of one partition, with the controls valid while its handler runs. */
export interface RecordBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly KafkaRecord[];
  /** The partition's log end offset when fetched. */
  readonly highWatermark: string;
  /** Marks `offset` consumed: the next fetch of this partition starts after it. */
  resolveOffset(offset: string): void;
  /**
   * Sends a heartbeat when one is due (rate-limited by the heartbeat interval). Throws when the
   * group is rebalancing ({@link isRebalanceError}); the member may still commit then.
   */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping. */
  isRunning(): boolean;
  /** True once the partition was seeked: the rest of this batch must be dropped. */
  isStale(): boolean;
}

export type BatchHandler = (batch: RecordBatch) => Promise<void>;

/** The assignment a member received: topic → partitions. */
export interface GroupAssignment {
  readonly memberId: string;
  readonly isLeader: boolean;
  readonly partitions: ReadonlyMap<string, readonly number[]>;
}

export interface CommitEntry {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to consume. */
  readonly offset: number;
  /** Stored with the offset, atomically (offset.metadata.max.bytes, default 4096). */
  readonly metadata: string | null;
}

export interface GroupConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a partition without a committed offset starts. */
  readonly fromBeginning: boolean;
  /** Partition numbers this member owns now; sent with every join for the sticky assignment. */
  readonly claim: () => readonly number[];
}

/** A consumer-group member. */
export interface GroupConsumer {
  /** Connects, subscribes and starts fetching; resolves once running (before the first join completes). */
  run(handler: BatchHandler): Promise<void>;
  /** Called synchronously when the member (re)joined, before the first fetch of the new assignment. */
  onJoin(listener: (a: GroupAssignment) => void): void;
  /** Called when a rebalance was detected outside the batch handler (the rejoin is already under way). */
  onRebalancing(listener: () => void): void;
  /** Called when the consumer crashed; `restart` says whether kafkajs restarts it itself. */
  onCrash(listener: (err: Error, restart: boolean) => void): void;
  pause(topic: string, partitions: readonly number[]): void;
  resume(topic: string, partitions: readonly number[]): void;
  /** The next fetch of the partition starts at `offset`. */
  seek(topic: string, partition: number, offset: number): void;
  /**
   * Commits offsets with metadata in one request. Throws KafkaIngestError
   * INGEST_KAFKA_COMMIT_REFUSED when the coordinator refused it or the consumer is not running.
   */
  commit(entries: readonly CommitEntry[]): Promise<void>;
  /** Leaves the group and disconnects. */
  disconnect(): Promise<void>;
}

/** A record to produce. The partition is always explicit (Vigil computes it). */
export interface OutRecord {
  readonly key: string | Buffer | null;
  readonly value: string | Buffer | null;
  readonly partition: number;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
}

export interface RecordProducer {
  /**
   * Produces with acks=-1 (all in-sync replicas); resolves once the broker acknowledged.
   * @returns the offset of each record, in order
   */
  send(topic: string, records: readonly OutRecord[]): Promise<number[]>;
  disconnect(): Promise<void>;
}

/** Reads offset ranges of one topic's partitions (the state topic). */
export interface PartitionReader {
  /**
   * The records of `partition` with offsets in [from, to], or up to the log end when it is below
   * `to`. Rejects with INGEST_KAFKA_TIMEOUT after `timeoutMs`.
   */
  read(partition: number, from: number, to: number, timeoutMs: number): Promise<KafkaRecord[]>;
  disconnect(): Promise<void>;
}

export interface CommittedOffset {
  readonly topic: string;
  readonly partition: number;
  /** -1 when the group has no offset for the partition. */
  readonly offset: number;
  readonly metadata: string | null;
}

export interface KafkaAdmin {
  /** The topic's partition count, undefined when it does not exist. */
  partitions(topic: string): Promise<number | undefined>;
  /** Creates a topic; false when it already existed. */
  createTopic(
    topic: string,
    partitions: number,
    replicationFactor: number,
    configs: Readonly<Record<string, string>>,
  ): Promise<boolean>;
  topicConfigs(topic: string, names: readonly string[]): Promise<Record<string, string>>;
  committed(groupId: string, topics: readonly string[]): Promise<CommittedOffset[]>;
  /** Low (log start) and high (log end) offsets per partition. */
  offsets(topic: string): Promise<{ partition: number; low: number; high: number }[]>;
  disconnect(): Promise<void>;
}

export interface KafkaClient {
  admin(): Promise<KafkaAdmin>;
  /**
   * A producer (acks=-1). `retries` bounds how long a send keeps retrying (≈ retries × up to 1 s):
   * low for request paths that must answer, the default for background work.
   */
  producer(opts?: { readonly retries?: number }): Promise<RecordProducer>;
  groupConsumer(opts: GroupConsumerOptions): GroupConsumer;
  /** A reader of `topic` (a consumer alone in the private group `<groupPrefix>.reader.<random>`). */
  partitionReader(topic: string, groupPrefix: string): Promise<PartitionReader>;
}

/** True for the errors a heartbeat or commit gets while the group rebalances or fenced this member. */
export function isRebalanceError(err: unknown): boolean {
  const type = (err as { type?: unknown } | null)?.type;
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'ILLEGAL_GENERATION' ||
    type === 'UNKNOWN_MEMBER_ID' ||
    type === 'NOT_COORDINATOR_FOR_GROUP' ||
    type === 'NOT_COORDINATOR'
  );
}

const ASSIGNER_NAME = 'VigilStickyCoPartitioned';

/**
 * The sticky co-partitioning assigner for kafkajs: partition p of every subscribed topic goes to
 * one member, and members keep what they claim (see sticky-assignor.ts).
 */
function stickyAssigner(claim: () => readonly number[]): PartitionAssigner {
  return ({ cluster }): Assigner => ({
    name: ASSIGNER_NAME,
    version: 1,
    assign({ members, topics }) {
      let partitions = Infinity;
      for (const t of topics) partitions = Math.min(partitions, cluster.findTopicPartitionMetadata(t).length);
      if (!Number.isFinite(partitions)) partitions = 0;
      const claims = members.map((m) => ({
        memberId: m.memberId,
        owned: decodeClaim(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData),
      }));
      const plan = assignSticky(claims, partitions);
      return Promise.resolve(
        members.map((m) => {
          const mine = plan.get(m.memberId) ?? [];
          const assignment: Record<string, number[]> = {};
          for (const t of topics) assignment[t] = [...mine];
          return {
            memberId: m.memberId,
            memberAssignment: AssignerProtocol.MemberAssignment.encode({
              version: 1,
              assignment,
              userData: Buffer.alloc(0),
            }),
          };
        }),
      );
    },
    protocol({ topics }) {
      return {
        name: ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: encodeClaim(claim()),
        }),
      };
    },
  });
}

/** kafkajs log levels → pino: its INFO chatter (joins, pauses) goes to debug, its ERROR to warn. */
function logCreator(logger: Logger) {
  return () =>
    ({ level, log }: LogEntry): void => {
      const { message, ...extra } = log;
      const fields = { kafka: extra };
      if (level === logLevel.ERROR || level === logLevel.WARN) logger.warn(fields, `kafkajs: ${message}`);
      else if (level === logLevel.INFO) logger.debug(fields, `kafkajs: ${message}`);
      else logger.trace(fields, `kafkajs: ${message}`);
    };
}

function kafkaConfig(cfg: KafkaIngestConfig, logger: Logger): KafkaConfig {
  const c: KafkaConfig = {
    clientId: cfg.client_id,
    brokers: [...cfg.brokers],
    connectionTimeout: durationMs(cfg.connection_timeout),
    requestTimeout: durationMs(cfg.request_timeout),
    logLevel: logLevel.INFO,
    logCreator: logCreator(logger),
    retry: { initialRetryTime: 100, maxRetryTime: 5_000, retries: 8 },
  };
  if (cfg.tls?.enabled) {
    c.ssl = {
      rejectUnauthorized: cfg.tls.reject_unauthorized,
      ...(cfg.tls.ca ? { ca: [cfg.tls.ca] } : {}),
      ...(cfg.tls.cert ? { cert: cfg.tls.cert } : {}),
      ...(cfg.tls.key ? { key: cfg.tls.key } : {}),
      ...(cfg.tls.passphrase ? { passphrase: cfg.tls.passphrase } : {}),
      ...(cfg.tls.servername ? { servername: cfg.tls.servername } : {}),
    };
  }
  if (cfg.sasl) {
    c.sasl = {
      mechanism: cfg.sasl.mechanism,
      username: cfg.sasl.username,
      password: cfg.sasl.password,
    } as SASLOptions;
  }
  return c;
}

/** Wraps a kafkajs failure into KafkaIngestError INGEST_KAFKA_UNAVAILABLE (retryable). */
function unavailable(what: string, err: unknown): KafkaIngestError {
  return new KafkaIngestError(
    'INGEST_KAFKA_UNAVAILABLE',
    `${what}: ${(err as Error)?.message ?? String(err)}`,
    true,
    { cause: err },
  );
}

/** Runs `fn`, logging (at debug) instead of throwing: for calls that are re-applied later anyway. */
function quietlyWith(logger: Logger, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    logger.debug(
      { err },
      'kafkajs refused a pause/resume/seek (consumer restarting); it is re-applied at the next join',
    );
  }
}

/** Creates the client. Nothing connects until a method is called. */
export function createKafkaClient(cfg: KafkaIngestConfig, logger: Logger): KafkaClient {
  const kafka = new Kafka(kafkaConfig(cfg, logger));
  const quietly = (fn: () => void): void => quietlyWith(logger, fn);
  const consumerTimeouts = {
    sessionTimeout: durationMs(cfg.session_timeout),
    rebalanceTimeout: durationMs(cfg.rebalance_timeout),
    heartbeatInterval: durationMs(cfg.heartbeat_interval),
    maxWaitTimeInMs: durationMs(cfg.fetch_max_wait),
    maxBytesPerPartition: cfg.fetch_max_bytes_per_partition,
    allowAutoTopicCreation: false,
  };

  return {
    async admin() {
      const admin = kafka.admin();
      try {
        await admin.connect();
      } catch (err) {
        throw unavailable('cannot connect the Kafka admin client', err);
      }
      return {
        async partitions(topic) {
          const topics = await admin.listTopics();
          if (!topics.includes(topic)) return undefined;
          const md = await admin.fetchTopicMetadata({ topics: [topic] });
          return md.topics.find((t) => t.name === topic)?.partitions.length;
        },
        createTopic(topic, partitions, replicationFactor, configs) {
          return admin.createTopics({
            topics: [
              {
                topic,
                numPartitions: partitions,
                replicationFactor,
                configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
              },
            ],
            waitForLeaders: true,
          });
        },
        async topicConfigs(topic, names) {
          const r = await admin.describeConfigs({
            includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: [...names] }],
          });
          const out: Record<string, string> = {};
          for (const e of r.resources[0]?.configEntries ?? []) out[e.configName] = e.configValue;
          return out;
        },
        async committed(groupId, topics) {
          const rows = await admin.fetchOffsets({ groupId, topics: [...topics] });
          return rows.flatMap((t) =>
            t.partitions.map((p) => ({
              topic: t.topic,
              partition: p.partition,
              offset: Number(p.offset),
              metadata: p.metadata,
            })),
          );
        },
        async offsets(topic) {
          const rows = await admin.fetchTopicOffsets(topic);
          return rows.map((r) => ({ partition: r.partition, low: Number(r.low), high: Number(r.high) }));
        },
        disconnect: () => admin.disconnect(),
      };
    },

    async producer(opts = {}) {
      const retries = opts.retries ?? 10;
      const producer: Producer = kafka.producer({
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { initialRetryTime: 100, maxRetryTime: retries < 10 ? 1_000 : 5_000, retries },
      });
      try {
        await producer.connect();
      } catch (err) {
        throw unavailable('cannot connect the Kafka producer', err);
      }
      return {
        async send(topic, records) {
          let meta;
          try {
            meta = await producer.send({
              topic,
              acks: -1,
              messages: records.map((r) => ({
                key: r.key,
                value: r.value,
                partition: r.partition,
                ...(r.headers ? { headers: { ...r.headers } } : {}),
              })),
            });
          } catch (err) {
            throw unavailable(`cannot produce to ${topic}`, err);
          }
          // Records of one partition form one batch with consecutive offsets, in order.
          const base = new Map<number, number>();
          for (const m of meta) base.set(m.partition, Number(m.baseOffset ?? m.offset ?? -1));
          const next = new Map<number, number>();
          return records.map((r) => {
            const i = next.get(r.partition) ?? 0;
            next.set(r.partition, i + 1);
            return (base.get(r.partition) ?? -1) + i;
          });
        },
        disconnect: () => producer.disconnect(),
      };
    },

    groupConsumer(opts) {
      const consumer: Consumer = kafka.consumer({
        groupId: opts.groupId,
        ...consumerTimeouts,
        partitionAssigners: [stickyAssigner(opts.claim)],
        retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 10 },
      });
      let commits = 0;
      let running = false;
      consumer.on(consumer.events.COMMIT_OFFSETS, () => {
        commits++;
      });
      consumer.on(consumer.events.STOP, () => {
        running = false;
      });
      return {
        async run(handler) {
          await consumer.connect();
          await consumer.subscribe({ topics: [...opts.topics], fromBeginning: opts.fromBeginning });
          await consumer.run({
            autoCommit: false,
            eachBatchAutoResolve: false,
            partitionsConsumedConcurrently: 1,
            eachBatch: (p) =>
              handler({
                topic: p.batch.topic,
                partition: p.batch.partition,
                records: p.batch.messages,
                highWatermark: p.batch.highWatermark,
                resolveOffset: (offset) => p.resolveOffset(offset),
                heartbeat: () => p.heartbeat(),
                isRunning: () => p.isRunning(),
                isStale: () => p.isStale(),
              }),
          });
          running = true;
        },
        onJoin(listener) {
          consumer.on(consumer.events.GROUP_JOIN, (e) => {
            running = true;
            const partitions = new Map<string, number[]>();
            for (const [t, ps] of Object.entries(e.payload.memberAssignment)) partitions.set(t, [...ps]);
            listener({ memberId: e.payload.memberId, isLeader: e.payload.isLeader, partitions });
          });
        },
        onRebalancing(listener) {
          consumer.on(consumer.events.REBALANCING, () => listener());
        },
        onCrash(listener) {
          consumer.on(consumer.events.CRASH, (e) => {
            if (!e.payload.restart) running = false;
            listener(e.payload.error, e.payload.restart);
          });
        },
        // Between a crash and its restart kafkajs has no consumer group and throws; pauses and
        // seeks are re-applied at the next join anyway, so they are dropped then.
        pause(topic, partitions) {
          if (partitions.length > 0) quietly(() => consumer.pause([{ topic, partitions: [...partitions] }]));
        },
        resume(topic, partitions) {
          if (partitions.length > 0) quietly(() => consumer.resume([{ topic, partitions: [...partitions] }]));
        },
        seek(topic, partition, offset) {
          quietly(() => consumer.seek({ topic, partition, offset: String(offset) }));
        },
        async commit(entries) {
          if (entries.length === 0) return;
          if (!running)
            throw new KafkaIngestError('INGEST_KAFKA_COMMIT_REFUSED', 'the consumer is not running', true);
          const before = commits;
          try {
            await consumer.commitOffsets(
              entries.map((e) => ({
                topic: e.topic,
                partition: e.partition,
                offset: String(e.offset),
                metadata: e.metadata,
              })),
            );
          } catch (err) {
            throw new KafkaIngestError(
              'INGEST_KAFKA_COMMIT_REFUSED',
              `offset commit refused: ${(err as Error).message}`,
              !isRebalanceError(err),
              { cause: err },
            );
          }
          if (commits === before)
            throw new KafkaIngestError(
              'INGEST_KAFKA_COMMIT_REFUSED',
              'offset commit skipped: the consumer is not running (stopping or restarting)',
              true,
            );
        },
        async disconnect() {
          running = false;
          await consumer.disconnect();
        },
      };
    },

    async partitionReader(topic, groupPrefix) {
      const consumer = kafka.consumer({
        groupId: `${groupPrefix}.reader.${randomBytes(6).toString('hex')}`,
        ...consumerTimeouts,
        maxWaitTimeInMs: 100,
        retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 10 },
      });
      interface Read {
        readonly partition: number;
        readonly from: number;
        readonly to: number;
        readonly out: KafkaRecord[];
        next: number;
        done(err?: Error): void;
      }
      const reads = new Map<number, Read>();
      const queue = new Map<number, Promise<unknown>>();
      let assigned: number[] = [];
      let joined: () => void = () => undefined;
      const joinedOnce = new Promise<void>((r) => (joined = r));
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        assigned = [...(e.payload.memberAssignment[topic] ?? [])];
        // Alone in its group it gets every partition; only ranges being read are fetched. A
        // crash-restart forgets pauses and seeks, so both are re-applied on every join.
        consumer.pause([{ topic, partitions: assigned.filter((p) => !reads.has(p)) }]);
        for (const r of reads.values())
          consumer.seek({ topic, partition: r.partition, offset: String(r.next) });
        joined();
      });
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: false });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: (payload) => {
            const { batch } = payload;
            const r = reads.get(batch.partition);
            if (!r || payload.isStale()) return Promise.resolve();
            let finished = false;
            for (const m of batch.messages) {
              const off = Number(m.offset);
              payload.resolveOffset(m.offset);
              if (off < r.next) continue;
              r.next = off + 1;
              if (off > r.to) {
                finished = true;
                break;
              }
              r.out.push(m);
              if (off >= r.to) {
                finished = true;
                break;
              }
            }
            if (!finished && r.next >= Number(batch.highWatermark)) finished = true;
            if (finished) r.done();
            return Promise.resolve();
          },
        });
        const t = setTimeout(() => joined(), 60_000);
        await joinedOnce;
        clearTimeout(t);
      } catch (err) {
        await consumer.disconnect().catch(() => undefined);
        throw unavailable(`cannot start the reader of ${topic}`, err);
      }

      const readOne = (
        partition: number,
        from: number,
        to: number,
        timeoutMs: number,
      ): Promise<KafkaRecord[]> =>
        new Promise<KafkaRecord[]>((resolve, reject) => {
          const timer = setTimeout(
            () =>
              r.done(
                new KafkaIngestError(
                  'INGEST_KAFKA_TIMEOUT',
                  `reading ${topic}[${partition}] offsets ${from}..${to} did not finish within ${timeoutMs} ms (read up to ${r.next})`,
                  true,
                ),
              ),
            timeoutMs,
          );
          const r: Read = {
            partition,
            from,
            to,
            out: [],
            next: from,
            done(err) {
              if (reads.get(partition) !== r) return;
              clearTimeout(timer);
              reads.delete(partition);
              consumer.pause([{ topic, partitions: [partition] }]);
              if (err) reject(err);
              else resolve(r.out);
            },
          };
          reads.set(partition, r);
          consumer.seek({ topic, partition, offset: String(from) });
          consumer.resume([{ topic, partitions: [partition] }]);
        });

      return {
        read(partition, from, to, timeoutMs) {
          // One range per partition at a time (the fetch position is per partition).
          const prev = queue.get(partition) ?? Promise.resolve();
          const p = prev.then(
            () => readOne(partition, from, to, timeoutMs),
            () => readOne(partition, from, to, timeoutMs),
          );
          queue.set(
            partition,
            p.catch(() => undefined),
          );
          return p;
        },
        async disconnect() {
          for (const r of [...reads.values()])
            r.done(new KafkaIngestError('INGEST_KAFKA_UNAVAILABLE', 'the reader is closing', true));
          await consumer.disconnect();
        },
      };
    },
  };
}
