/**
 * Faults of Kafka mode, on a real single-node KRaft broker (test/support/kafka-broker.ts; jars
 * from `node scripts/prepare-kafka.mjs`, which `npm test` runs) and Vigil nodes as child
 * processes (test/support/vigil-cluster.ts, the Kafka tests' node entry with a counting operator
 * around the anomaly operator, so every key's state counts the samples it processed):
 *
 * 1. kill -9 of the consuming node, twice, each time replaced by a fresh node (empty state
 *    directory: partitions restore from the state topic and resume at the committed offsets);
 * 2. broker kill -9 and restart while clients stream samples over HTTP (HTTP ingest produces
 *    into the topic): 503 while the broker is down, never 2xx-then-drop;
 * 3. poison messages (malformed JSON, NaN, oversized, wrong schema, tombstones, bad names)
 *    interleaved with valid ones: each goes to the dead-letter topic with its code, the partition
 *    is never blocked, every valid message is processed.
 *
 * Each test prints the fault-suite line (test/faults/support/oracle.ts) and checks
 * accepted = processed + dead-lettered and alerts delivered = expected. The workloads and alert
 * oracle are the Kafka tests' own (test/kafka-ingest/support/workload.ts).
 *
 * Run alone: npx tsc -p tsconfig.json && node scripts/prepare-kafka.mjs &&
 *   node --enable-source-maps --test dist/test/faults/kafka.test.js
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { seriesKey } from '../../src/common/index.js';
import { DLQ_HEADERS, partitionForKey } from '../../src/ingest/index.js';
import {
  alertFigures,
  alertingYaml,
  conventionProducer,
  countMismatches,
  deliveries,
  makeWorkload,
  produceJson,
  referenceAlerts,
} from '../kafka-ingest/support/workload.js';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.js';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.js';
import { mulberry32 } from '../support/series.js';
import { startKafkaNode, type KafkaNode } from '../support/vigil-cluster.js';
import { waitFor } from '../support/vigil-process.js';
import { newCounters, reportAndCheck, sendUntilAnswered } from './support/oracle.js';

const P = 4;

function nodeYaml(brokers: readonly string[], hookUrl: string, topic: string, group: string): string {
  return `
runtime:
  workers: 1
  key_groups: 64
  checkpoint_interval: 1s
  queue_capacity: 2000
  batch_size: 256
ingest:
  kafka:
    brokers: [${brokers.join(', ')}]
    topics: [${topic}]
    group_id: ${group}
    max_message_bytes: 65536
    session_timeout: 3s
    heartbeat_interval: 500ms
    rebalance_timeout: 10s
    fetch_max_wait: 100ms
${alertingYaml(hookUrl)}`;
}

const sumSamples = (m: ReadonlyMap<string, { samples?: number }>): number =>
  [...m.values()].reduce((n, s) => n + (s.samples ?? 0), 0);
const sumDeadLetters = (d: Readonly<Record<string, number>>): number =>
  Object.values(d).reduce((n, v) => n + v, 0);

describe('fault suite: Kafka', () => {
  let broker: KafkaBroker;
  let receiver: HttpReceiver;
  const nodes: KafkaNode[] = [];

  before(async () => {
    broker = await startKafkaBroker({ properties: { 'group.min.session.timeout.ms': '1000' } });
    receiver = await startHttpReceiver();
  });
  after(async () => {
    for (const n of nodes) if (!n.exited) await n.stop(10_000).catch(() => undefined);
    await receiver?.close();
    await broker?.stop();
  });

  test(
    'kill -9 of the consuming node, twice: a fresh node restores and resumes; every sample once, every alert delivered',
    { timeout: 240_000 },
    async () => {
      const topic = 'faults-sigkill';
      await broker.createTopic(topic, P);
      const w = makeWorkload('fault_kafka_total', 12, 1200);
      const hook = `${receiver.url}/sigkill`;
      const expected = referenceAlerts(w.points, hook);
      const yaml = nodeYaml(broker.brokers, hook, topic, 'faults-sigkill');
      let node = await startKafkaNode({ name: 'k1', configYaml: yaml });
      nodes.push(node);
      // Produced at a pace in the background (about 11 s), so that the kills land mid-stream;
      // the node consumes as it arrives.
      const { producer } = await conventionProducer(broker.brokers);
      let produced = 0;
      const production = (async () => {
        for (let i = 0; i < w.points.length; i += 200) {
          await produceJson(producer, topic, w.points.slice(i, i + 200));
          produced = Math.min(w.points.length, i + 200);
          await new Promise((r) => setTimeout(r, 150));
        }
      })();
      const kills: { at: number; processedByNode: number; produced: number }[] = [];
      for (const fraction of [0.3, 0.65]) {
        const n = node;
        // Cumulative: the keys' state counts what every node before processed too.
        const stats = await waitFor(
          async () => {
            const s = await n.kafka();
            const done = sumSamples(await n.series());
            return done >= fraction * w.points.length && s.commits >= 1 && produced < w.points.length
              ? s
              : undefined;
          },
          90_000,
          `${fraction * 100}% consumed, mid-stream`,
          20,
        );
        await node.kill9();
        kills.push({ at: Date.now(), processedByNode: stats.samples, produced });
        node = await startKafkaNode({ name: `k${kills.length + 1}`, configYaml: yaml });
        nodes.push(node);
      }
      await production;
      await producer.disconnect();
      const n = node;
      const series = await waitFor(
        async () => {
          const s = await n.series();
          return countMismatches(w.perKey, s).length === 0 ? s : undefined;
        },
        120_000,
        'every key with every sample counted once',
        250,
      ).catch(async (err: unknown) => {
        assert.fail(
          `${String(err)}\n${countMismatches(w.perKey, await n.series())
            .slice(0, 10)
            .join('\n')}`,
        );
      });
      const recoverySeconds = (Date.now() - (kills.at(-1)?.at ?? Date.now())) / 1000;
      await receiver.waitFor(
        () =>
          alertFigures(expected, deliveries(receiver.requests.filter((r) => r.path === '/sigkill'))).missing
            .length === 0,
        30_000,
        'every expected alert at the webhook',
      );
      await new Promise((r) => setTimeout(r, 1500)); // late duplicates, if any, arrive now
      const f = alertFigures(expected, deliveries(receiver.requests.filter((r) => r.path === '/sigkill')));
      assert.deepEqual(f.spurious, [], 'no alert the uninterrupted reference run did not fire');
      assert.deepEqual(f.differentIds, [], 'duplicates only under the same idempotency key');
      const last = await n.kafka();
      reportAndCheck({
        test: 'kafka-sigkill-consumer',
        accepted: w.points.length,
        rejected: {},
        processed: sumSamples(series),
        deadLettered: sumDeadLetters(last.deadLetters),
        alertsExpected: f.expected,
        alertsDelivered: f.delivered,
        duplicates: f.duplicates,
        recoverySeconds,
        extra: {
          kills: kills.length,
          processed_before_kills: kills.map((k) => k.processedByNode).join('+'),
          produced_at_kills: kills.map((k) => k.produced).join('+'),
          processed_total_at_least: kills.reduce((s, k) => s + k.processedByNode, 0) + last.samples,
          restores: last.restores,
          replay_skipped: last.replaySkipped,
        },
      });
      assert.ok(f.expected >= 1, 'the workload fires alerts');
      await n.stop();
    },
  );

  test(
    'broker kill -9 and restart under HTTP ingest: 503 while down, every acknowledged sample processed once',
    { timeout: 240_000 },
    async () => {
      const topic = 'faults-broker';
      await broker.createTopic(topic, P);
      const node = await startKafkaNode({
        name: 'kb',
        configYaml: nodeYaml(broker.brokers, `${receiver.url}/broker`, topic, 'faults-broker'),
      });
      nodes.push(node);
      const SERIES = 8;
      const STEPS = 5; // ≤ runtime.dedup_window: a retried request is all duplicates
      const ROUNDS = 60;
      const t0 = Date.now() - 10 * 86_400_000;
      const c = newCounters();
      let acked = 0;
      const sender = (async () => {
        for (let round = 0; round < ROUNDS; round++) {
          const samples = [];
          for (let k = 0; k < SERIES; k++)
            for (let j = 0; j < STEPS; j++) {
              const step = round * STEPS + j;
              samples.push({
                metric: 'fault_broker',
                labels: { k: String(k) },
                ts: t0 + step * 60_000,
                value: k + step,
              });
            }
          const r = await sendUntilAnswered(() => node.url, samples, c, { retryMs: 200, maxAttempts: 1000 });
          assert.equal(r.status, 200, JSON.stringify(r.body));
          assert.deepEqual(r.body.rejected ?? [], []);
          acked += samples.length;
        }
      })();
      await waitFor(
        () => (acked >= 0.3 * SERIES * STEPS * ROUNDS ? true : undefined),
        60_000,
        '30% acknowledged',
        10,
      );
      await broker.kill9();
      const downAt = Date.now();
      await waitFor(() => (c.unavailable > 0 ? true : undefined), 30_000, 'ingest to answer 503', 50);
      const first503 = (Date.now() - downAt) / 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, 6000 - (Date.now() - downAt))));
      await broker.restart();
      const upAt = Date.now();
      await sender;
      const keys = Array.from({ length: SERIES }, (_, k) => seriesKey('fault_broker', { k: String(k) }));
      const perKey = new Map(keys.map((k) => [k, STEPS * ROUNDS]));
      const series = await waitFor(
        async () => {
          const s = await node.series();
          return countMismatches(perKey, s).length === 0 ? s : undefined;
        },
        90_000,
        'every acknowledged sample processed once',
        250,
      ).catch(async (err: unknown) => {
        assert.fail(`${String(err)}\n${countMismatches(perKey, await node.series()).join('\n')}`);
      });
      const recoverySeconds = (Date.now() - upAt) / 1000;
      const stats = await node.kafka();
      reportAndCheck({
        test: 'kafka-broker-restart',
        accepted: c.accepted + c.duplicates,
        rejected: c.rejected,
        processed: sumSamples(series),
        // Dead letters here can only be redundant copies (a send that timed out, landed late,
        // and was retried): every distinct acknowledged sample was processed, as checked above.
        deadLettered: 0,
        alertsExpected: 0,
        alertsDelivered: 0,
        duplicates: c.duplicates,
        recoverySeconds,
        extra: {
          ingest_503: c.unavailable,
          first_503_after_s: first503.toFixed(1),
          connection_errors: c.connectionErrors,
          redundant_copies_dead_lettered: sumDeadLetters(stats.deadLetters),
          consumer_duplicates_dropped: stats.duplicates,
          joins: stats.joins,
          commit_failures: stats.commitFailures,
        },
      });
      assert.ok(c.unavailable > 0, 'ingest answered 503 while the broker was down');
      await node.stop();
    },
  );

  test(
    'poison messages among valid ones: each dead-lettered with its code, nothing blocked, every valid one processed',
    { timeout: 180_000 },
    async () => {
      const topic = 'faults-poison';
      await broker.createTopic(topic, P);
      const node = await startKafkaNode({
        name: 'kp',
        configYaml: nodeYaml(broker.brokers, `${receiver.url}/poison`, topic, 'faults-poison'),
      });
      nodes.push(node);
      const rand = mulberry32(7);
      const ts0 = Date.now() - 86_400_000;
      const SERIES = 24;
      const MESSAGES = 3000;
      const POISON: readonly [string, (k: string, ts: number) => string | null][] = [
        ['NOT_JSON', () => '{"metric": oops'],
        ['BAD_MESSAGE', () => '[1,2,3]'],
        ['EMPTY_MESSAGE', () => null],
        [
          'MESSAGE_TOO_LARGE',
          (_k, ts) => JSON.stringify({ metric: 'big', labels: { pad: 'x'.repeat(70_000) }, ts, value: 1 }),
        ],
        ['INVALID_SAMPLE', (_k, ts) => JSON.stringify({ metric: 'poison_m', ts, value: 'NaN' })],
        ['INVALID_SAMPLE', (_k, ts) => JSON.stringify({ metric: 'poison_m', ts, value: 1, extra: true })],
        ['INVALID_NAME', (_k, ts) => JSON.stringify({ metric: '9bad', ts, value: 1 })],
        ['TIMESTAMP_OUT_OF_RANGE', () => JSON.stringify({ metric: 'poison_m', ts: 12, value: 1 })],
      ];
      const next = new Map<number, number>();
      const valid = new Map<string, number>();
      const poisonByCode: Record<string, number> = {};
      const messages: { key: string; value: string | null; partition: number }[] = [];
      for (let i = 0; i < MESSAGES; i++) {
        const s = Math.floor(rand() * SERIES);
        const labels = { s: String(s) };
        const key = seriesKey('poison_m', labels);
        const partition = partitionForKey(key, P);
        if (rand() < 0.1) {
          const [code, make] = POISON[Math.floor(rand() * POISON.length)]!;
          messages.push({ key, value: make(key, ts0), partition });
          poisonByCode[code] = (poisonByCode[code] ?? 0) + 1;
        } else {
          const step = next.get(s) ?? 0;
          next.set(s, step + 1);
          messages.push({
            key,
            value: JSON.stringify({ metric: 'poison_m', labels, ts: ts0 + step * 60_000, value: step }),
            partition,
          });
          valid.set(key, (valid.get(key) ?? 0) + 1);
        }
      }
      const poisonCount = Object.values(poisonByCode).reduce((a, b) => a + b, 0);
      const { producer } = await conventionProducer(broker.brokers);
      for (let i = 0; i < messages.length; i += 500)
        await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
      await producer.disconnect();
      const producedAt = Date.now();

      const series = await waitFor(
        async () => {
          const s = await node.series();
          return countMismatches(valid, s).length === 0 ? s : undefined;
        },
        90_000,
        'every valid message processed',
        250,
      ).catch(async (err: unknown) => {
        assert.fail(
          `${String(err)}\n${countMismatches(valid, await node.series())
            .slice(0, 10)
            .join('\n')}`,
        );
      });
      const stats = await waitFor(
        async () => {
          const s = await node.kafka();
          return sumDeadLetters(s.deadLetters) >= poisonCount ? s : undefined;
        },
        30_000,
        'every poison message dead-lettered',
        100,
      );
      // The dead-letter topic holds them, each with its code.
      const kafka = new Kafka({
        clientId: 'faults-dlq-reader',
        brokers: broker.brokers,
        logLevel: logLevel.NOTHING,
      });
      const consumer = kafka.consumer({ groupId: `faults-dlq-${Date.now()}`, maxWaitTimeInMs: 100 });
      const dlqCodes: Record<string, number> = {};
      let dlq = 0;
      await consumer.connect();
      try {
        await consumer.subscribe({ topics: [`${topic}.dlq`], fromBeginning: true });
        await consumer.run({
          eachMessage: ({ message }) => {
            const code = String(message.headers?.[DLQ_HEADERS.code] ?? '');
            dlqCodes[code] = (dlqCodes[code] ?? 0) + 1;
            dlq++;
            return Promise.resolve();
          },
        });
        await waitFor(
          () => (dlq >= poisonCount ? true : undefined),
          30_000,
          `${poisonCount} dead letters in ${topic}.dlq`,
        );
      } finally {
        await consumer.disconnect();
      }
      assert.deepEqual(dlqCodes, poisonByCode, 'each poison message dead-lettered once, with its code');
      assert.deepEqual(stats.deadLetters, poisonByCode);
      reportAndCheck({
        test: 'kafka-poison',
        accepted: MESSAGES,
        rejected: {},
        processed: sumSamples(series),
        deadLettered: dlq,
        alertsExpected: 0,
        alertsDelivered: 0,
        duplicates: 0,
        recoverySeconds: (Date.now() - producedAt) / 1000,
        extra: { poison_by_code: poisonByCode, crashes: stats.crashes, joins: stats.joins },
      });
      assert.equal(stats.crashes, 0, 'no consumer crash');
      await node.stop();
    },
  );
});
