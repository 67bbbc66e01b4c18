/**
 * The real Apache Kafka broker harness, end to end, and Kafka's key partitioning.
 *
 * Server: test/support/kafka-broker.ts starts a single-node KRaft broker (a JVM on 127.0.0.1, free
 * ports, temp data dir) from the jars that scripts/prepare-kafka.mjs fetched with Maven. Run alone:
 *   npx tsc -p tsconfig.json && node scripts/prepare-kafka.mjs &&
 *   node --enable-source-maps --test dist/test/kafka/broker.test.js
 * Another version: prefix both node commands with VIGIL_KAFKA_VERSION=3.9.1.
 *
 * Checks, with kafkajs 2.2.4 as the client: createTopics, produce (acks=-1) with kafkajs's default
 * (Java-compatible) partitioner, a consumer group reading everything and committing, and that every
 * key landed on `toPositive(murmur2(key)) % partitions` computed by src/common, which must also equal
 * what Kafka's Java producer picks (test/kafka/PartitionForKey.java, run on the broker's own
 * kafka-clients jar); then a kill -9 of the broker and a restart on the same data dir keep both the
 * data and the group's committed offsets.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import type { Consumer, Producer } from 'kafkajs';
import { murmur2, toPositive } from '../../src/common/index.js';
import { kafkaClasspath, repoRoot, startKafkaBroker } from '../support/kafka-broker.js';
import type { KafkaBroker } from '../support/kafka-broker.js';

const PARTITIONS = 4;
const MESSAGES = 1000;

interface Received {
  readonly key: string;
  readonly partition: number;
  readonly offset: number;
}

/** Polls `done` every 50 ms until it holds; fails after `timeoutMs`. */
async function waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Partitions Kafka's Java producer picks for `keys` (BuiltInPartitioner.partitionForKey). */
function javaPartitions(keys: readonly string[], partitions: number): number[] {
  const source = join(repoRoot(), 'test', 'kafka', 'PartitionForKey.java');
  const out = execFileSync('java', ['-cp', kafkaClasspath(), source, `${partitions}`], {
    input: keys.join('\n') + '\n',
    encoding: 'utf8',
    timeout: 60_000,
  });
  return out.trim().split('\n').map(Number);
}

/** Keys shaped like series keys, of every length mod 4 (murmur2's tail cases) and with multi-byte UTF-8. */
function keyOf(i: number): string {
  return i % 3 === 0 ? `temp{site="zürich-${i}"}` : `cpu{host="h${i}",dc="${'x'.repeat(i % 4)}"}`;
}

describe('real Kafka broker', () => {
  let broker: KafkaBroker;
  let kafka: Kafka;
  const topic = `vigil-broker-test-${process.pid}`;
  const groupId = `vigil-broker-test-group-${process.pid}`;

  /** Produces keys `from..to-1` in batches of 100 and disconnects. */
  async function produce(from: number, to: number): Promise<void> {
    const producer: Producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      for (let start = from; start < to; start += 100) {
        const messages = [];
        for (let i = start; i < Math.min(start + 100, to); i++)
          messages.push({ key: keyOf(i), value: `${i}` });
        await producer.send({ topic, acks: -1, messages });
      }
    } finally {
      await producer.disconnect();
    }
  }

  /** Runs a consumer of `group` until `count` messages arrived, then disconnects (which commits). */
  async function consume(group: string, fromBeginning: boolean, count: number): Promise<Received[]> {
    const consumer: Consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 500 });
    const got: Received[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning });
      await consumer.run({
        eachMessage: ({ partition, message }) => {
          got.push({ key: message.key?.toString() ?? '', partition, offset: Number(message.offset) });
          return Promise.resolve();
        },
      });
      await waitFor(() => got.length >= count, 30_000, `${count} messages for group ${group}`);
    } finally {
      await consumer.disconnect();
    }
    return got;
  }

  /** The group's committed offset and the log end offset, per partition. */
  async function offsets(): Promise<{ committed: number[]; high: number[] }> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const high = await admin.fetchTopicOffsets(topic);
      const byPartition = (rows: { partition: number; offset: string }[]) =>
        [...rows].sort((a, b) => a.partition - b.partition).map((r) => Number(r.offset));
      return {
        committed: byPartition(committed?.partitions ?? []),
        high: byPartition(high.map((h) => ({ partition: h.partition, offset: h.high }))),
      };
    } finally {
      await admin.disconnect();
    }
  }

  before(async () => {
    const t0 = Date.now();
    broker = await startKafkaBroker();
    console.log(
      `Kafka ${broker.version} pid ${broker.pid} ready in ${Date.now() - t0} ms on ${broker.brokers[0]}`,
    );
    kafka = new Kafka({ clientId: 'vigil-broker-test', brokers: broker.brokers, logLevel: logLevel.ERROR });
  });

  after(async () => {
    const pid = broker.pid;
    const t0 = Date.now();
    await broker.stop();
    console.log(`stopped (SIGTERM) in ${Date.now() - t0} ms`);
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'broker process is gone');
  });

  test('keyed messages land on toPositive(murmur2(key)) % partitions; a group consumes and commits all', async () => {
    await broker.createTopic(topic, PARTITIONS);
    await produce(0, MESSAGES);
    const got = await consume(groupId, true, MESSAGES);

    assert.equal(got.length, MESSAGES, 'no duplicates within one uninterrupted group member');
    assert.deepEqual(
      new Set(got.map((m) => m.key)),
      new Set(Array.from({ length: MESSAGES }, (_, i) => keyOf(i))),
    );
    for (const m of got) {
      assert.equal(m.partition, toPositive(murmur2(m.key)) % PARTITIONS, `partition of key ${m.key}`);
    }
    const keys = got.map((m) => m.key);
    assert.deepEqual(
      javaPartitions(keys, PARTITIONS),
      got.map((m) => m.partition),
      'Java producer agrees',
    );
    const perPartition = Array.from(
      { length: PARTITIONS },
      (_, p) => got.filter((m) => m.partition === p).length,
    );
    assert.ok(
      perPartition.every((n) => n > 150),
      `keys spread over all partitions: ${perPartition.join(',')}`,
    );

    const { committed, high } = await offsets();
    assert.deepEqual(high, perPartition, 'log end offset = messages per partition');
    assert.deepEqual(committed, high, 'the group committed everything it read');
  });

  test('kill -9 and restart on the same data dir keep the data and the committed offsets', async () => {
    const prior = await offsets();
    const oldPid = broker.pid;
    await broker.kill9();
    assert.throws(() => process.kill(oldPid, 0), { code: 'ESRCH' }, 'broker was killed');
    const t0 = Date.now();
    await broker.restart();
    console.log(`restarted after kill -9 in ${Date.now() - t0} ms (pid ${broker.pid})`);
    assert.notEqual(broker.pid, oldPid);
    assert.deepEqual(await offsets(), prior, 'committed and end offsets survived');

    // The group resumes from its committed offsets (fromBeginning applies only to a group without
    // any): it sees only what was produced after the restart.
    await produce(MESSAGES, MESSAGES + 10);
    const resumed = await consume(groupId, true, 10);
    assert.deepEqual(
      resumed.map((m) => m.key).sort(),
      Array.from({ length: 10 }, (_, i) => keyOf(MESSAGES + i)).sort(),
    );
    for (const m of resumed) assert.ok(m.offset >= prior.high[m.partition]!, `offset ${m.offset} is new`);

    // A fresh group reads every message ever produced: the data survived the crash.
    const all = await consume(`${groupId}-fresh`, true, MESSAGES + 10);
    assert.equal(new Set(all.map((m) => m.key)).size, MESSAGES + 10);
  });
});
