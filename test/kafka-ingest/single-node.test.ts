/**
 * Kafka ingest on a real broker, one Vigil node (a child process, test/support/vigil-cluster.ts):
 * a CSV replayed with `vigil produce` fires its spike at a real webhook; HTTP ingest in Kafka mode
 * produces into the topic; poison messages go to the dead-letter topic with their headers while
 * consumption goes on; a graceful restart resumes from the committed offsets with the state from
 * the state topic; a broker kill -9 mid-stream loses nothing and double-counts nothing; a slow
 * detector causes no rebalance.
 *
 * Server: a single-node KRaft broker (test/support/kafka-broker.ts; jars fetched by
 * `node scripts/prepare-kafka.mjs`). Run alone:
 *   npx tsc -p tsconfig.json && node scripts/prepare-kafka.mjs &&
 *   node --enable-source-maps --test dist/test/kafka-ingest/single-node.test.js
 */
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { logLevel, Kafka } from 'kafkajs';
import { seriesKey } from '../../src/common/index.js';
import { loadVigilConfigText } from '../../src/app/config.js';
import { sampleLimits } from '../../src/app/http.js';
import { createLogger } from '../../src/app/logger.js';
import { runProduce } from '../../src/app/produce.js';
import { partitionForKey } from '../../src/ingest/index.js';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.js';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.js';
import { metricValue, startKafkaNode, type KafkaNode } from '../support/vigil-cluster.js';
import { postJson, waitFor } from '../support/vigil-process.js';
import { dailySeries } from '../support/series.js';
import {
  alertFigures,
  alertingYaml,
  conventionProducer,
  countMismatches,
  deliveries,
  makeWorkload,
  produceJson,
  referenceAlerts,
  report,
  STEP_MS,
  type Point,
} from './support/workload.js';

const P = 4;
const TOPIC = 'metrics';
const DLQ = `${TOPIC}.dlq`;

function nodeYaml(
  brokers: readonly string[],
  hookUrl: string,
  extra: { topic?: string; group?: string } = {},
): string {
  return `
runtime:
  workers: 1
  key_groups: 64
  checkpoint_interval: 1s
  queue_capacity: 1000
  batch_size: 256
ingest:
  kafka:
    brokers: [${brokers.join(', ')}]
    topics: [${extra.topic ?? TOPIC}]
    group_id: ${extra.group ?? 'vigil-single'}
    max_message_bytes: 65536
    session_timeout: 3s
    heartbeat_interval: 500ms
    rebalance_timeout: 10s
    fetch_max_wait: 100ms
${alertingYaml(hookUrl)}`;
}

/** Every record of `topic` from the beginning (a fresh group), until `count` arrived. */
async function readTopic(
  brokers: string[],
  topic: string,
  count: number,
): Promise<
  { key: string | null; value: string | null; headers: Record<string, string>; partition: number }[]
> {
  const kafka = new Kafka({ clientId: 'vigil-test-reader', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `reader-${Date.now()}-${Math.random()}`, maxWaitTimeInMs: 100 });
  const got: {
    key: string | null;
    value: string | null;
    headers: Record<string, string>;
    partition: number;
  }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message, partition }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {}))
          if (v !== undefined) headers[k] = String(Array.isArray(v) ? v[0] : v);
        got.push({
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? null,
          headers,
          partition,
        });
        return Promise.resolve();
      },
    });
    await waitFor(() => (got.length >= count ? true : undefined), 30_000, `${count} records of ${topic}`);
  } finally {
    await consumer.disconnect();
  }
  return got;
}

describe('Kafka ingest, one node', () => {
  let broker: KafkaBroker;
  let receiver: HttpReceiver;
  let node: KafkaNode;
  const others: KafkaNode[] = [];
  let hook: string;

  before(async () => {
    broker = await startKafkaBroker({ properties: { 'group.min.session.timeout.ms': '1000' } });
    await broker.createTopic(TOPIC, P);
    receiver = await startHttpReceiver();
    hook = `${receiver.url}/hook`;
    node = await startKafkaNode({ name: 'n1', configYaml: nodeYaml(broker.brokers, hook) });
  });
  after(async () => {
    for (const n of [node, ...others]) await n?.stop(10_000).catch(() => undefined);
    await receiver?.close();
    await broker?.stop();
  });

  test(
    'a CSV replayed with `vigil produce` fires its spike at the webhook; the series is counted once',
    { timeout: 90_000 },
    async () => {
      // NAB layout: timestamp,value; the last sample is a spike.
      const end = Date.now() - 86_400_000;
      const series = dailySeries(1000, STEP_MS, end, 7);
      series.push({ ts: end + STEP_MS, value: 6000 });
      const dir = mkdtempSync(join(tmpdir(), 'vigil-csv-'));
      const file = join(dir, 'nyc_taxi.csv');
      const fmt = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
      writeFileSync(file, `timestamp,value\n${series.map((p) => `${fmt(p.ts)},${p.value}`).join('\n')}\n`);
      const config = loadVigilConfigText(nodeYaml(broker.brokers, hook));
      const summary = await runProduce({
        kafka: config.ingest.kafka!,
        file,
        labels: { source: 'nab' },
        limits: sampleLimits(config),
        logger: createLogger('silent'),
      });
      const key = seriesKey('nyc_taxi', { source: 'nab' });
      assert.equal(summary.seriesKey, key);
      assert.equal(summary.samples, 1001);
      assert.equal(summary.partition, partitionForKey(key, P));
      assert.equal(summary.messages, 3, 'json-batch messages of 500 samples');

      // Reference: the same samples (NAB timestamps have second resolution) through the operator in-process.
      const points: Point[] = series.map((p) => ({
        metric: 'nyc_taxi',
        labels: { source: 'nab' },
        key,
        ts: Math.floor(p.ts / 1000) * 1000,
        value: p.value,
      }));
      const expected = referenceAlerts(points, hook);
      assert.ok(expected.size >= 1, 'the reference run fires on the spike');
      const status = await waitFor(
        async () => {
          const s = (await node.series()).get(key);
          return s?.samples === 1001 ? s : undefined;
        },
        30_000,
        'the CSV series processed',
        100,
      );
      await receiver.waitFor(
        () => alertFigures(expected, deliveries(receiver.requests)).missing.length === 0,
        20_000,
        'the alert',
      );
      const f = alertFigures(expected, deliveries(receiver.requests));
      report('csv-e2e', {
        produced: summary.samples,
        messages: summary.messages,
        processed: status.samples,
        deadLettered: 0,
        alertsExpected: f.expected,
        alertsDelivered: f.delivered,
        alertsDuplicates: f.duplicates,
      });
      assert.deepEqual(f.differentIds, []);
      const body = JSON.parse(receiver.delivered().at(-1)!.body) as {
        alerts: { labels: Record<string, string> }[];
      };
      assert.equal(body.alerts[0]?.labels['alertname'], 'nyc_taxi');
    },
  );

  test(
    'HTTP ingest in Kafka mode produces into the topic (2xx = acknowledged by Kafka); each sample is processed once',
    { timeout: 60_000 },
    async () => {
      const m0 = await node.metrics();
      const now = Date.now() - 3_600_000;
      const samples = [0, 1, 2].flatMap((s) =>
        Array.from({ length: 100 }, (_, i) => ({
          metric: 'http_ingest',
          labels: { s: `${s}` },
          ts: now + i * 1000,
          value: i,
        })),
      );
      const r = await postJson(`${node.url}/api/v1/samples`, { samples });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { accepted: 300, duplicates: 0, rejected: [] });
      // A client retry of the whole request: the consumer acknowledges the repeats it still
      // remembers (the runtime's per-series dedup window, at least the newest sample) as duplicates
      // and refuses older ones as OUT_OF_ORDER (dead-lettered): nothing is processed twice.
      assert.equal((await postJson(`${node.url}/api/v1/samples`, { samples })).status, 200);
      const perKey = new Map([0, 1, 2].map((s) => [seriesKey('http_ingest', { s: `${s}` }), 100]));
      const delta = async (name: string, labels: Record<string, string> = {}): Promise<number> =>
        metricValue(await node.metrics(), name, labels) - metricValue(m0, name, labels);
      const settled = await waitFor(
        async () => {
          if (countMismatches(perKey, await node.series()).length > 0) return undefined;
          const duplicates = await delta('vigil_samples_duplicate_total', { source: 'kafka' });
          const outOfOrder = await delta('vigil_kafka_dead_letters_total', { code: 'OUT_OF_ORDER' });
          return duplicates + outOfOrder === 300 ? { duplicates, outOfOrder } : undefined;
        },
        20_000,
        'the HTTP samples processed once and the retry acknowledged or refused',
        100,
      );
      report('http-ingest', {
        produced: await delta('vigil_kafka_produced_samples_total', { source: 'json' }),
        processedUnique: 300,
        retryDuplicatesAcknowledged: settled.duplicates,
        retryRefusedOutOfOrder: settled.outOfOrder,
      });
      assert.ok(settled.duplicates >= 3, "at least each series' newest sample is recognised as a repeat");
      assert.equal(await delta('vigil_kafka_produced_samples_total', { source: 'json' }), 600);
    },
  );

  test(
    'poison messages go to the dead-letter topic with headers; valid items are processed; misrouted samples are repartitioned',
    { timeout: 60_000 },
    async () => {
      const m0 = await node.metrics();
      const dlq0 = metricValue(m0, 'vigil_kafka_dead_letters_total');
      const s0 = await node.kafka();
      const kafka = new Kafka({ clientId: 'poison', brokers: broker.brokers, logLevel: logLevel.NOTHING });
      const producer = kafka.producer();
      await producer.connect();
      const ts = Date.now() - 3_600_000;
      const k1 = { metric: 'poison_ok', labels: { k: '1' } };
      const k2 = { metric: 'poison_moved', labels: { k: '2' } };
      const k3 = { metric: 'poison_after', labels: { k: '3' } };
      const key1 = seriesKey(k1.metric, k1.labels);
      const key2 = seriesKey(k2.metric, k2.labels);
      const key3 = seriesKey(k3.metric, k3.labels);
      const p1 = partitionForKey(key1, P);
      const wrong = (partitionForKey(key2, P) + 1) % P;
      const sent: { what: string; partition: number; offset: number; code?: string; item?: number }[] = [];
      const send = async (
        what: string,
        partition: number,
        key: string | null,
        value: string | null,
        code?: string,
        item?: number,
      ) => {
        const [meta] = await producer.send({ topic: TOPIC, acks: -1, messages: [{ key, value, partition }] });
        sent.push({
          what,
          partition,
          offset: Number(meta!.baseOffset),
          ...(code ? { code } : {}),
          ...(item !== undefined ? { item } : {}),
        });
      };
      await send('not json', 0, 'x', '{"metric": oops', 'NOT_JSON');
      await send('array', 1, 'x', '[1,2]', 'BAD_MESSAGE');
      await send('tombstone', 2, 'x', null, 'EMPTY_MESSAGE');
      await send(
        'oversized',
        3,
        'x',
        JSON.stringify({ metric: 'big', labels: { pad: 'x'.repeat(70_000) }, ts, value: 1 }),
        'MESSAGE_TOO_LARGE',
      );
      await send('wrong type', 0, key1, JSON.stringify({ ...k1, ts, value: 'NaN' }), 'INVALID_SAMPLE');
      await send(
        'batch',
        p1,
        key1,
        JSON.stringify({
          samples: [
            { ...k1, ts, value: 1 },
            { ...k1, ts: 'yesterday', value: 2 },
            { metric: '9bad', ts, value: 3 },
            { ...k1, ts: ts + 1000, value: 4 },
          ],
        }),
      );
      sent.at(-1)!.code = 'batch';
      // Same partition, after the batch: older than the series' newest sample, a repeat, a conflicting repeat.
      await send(
        'out of order',
        p1,
        key1,
        JSON.stringify({ ...k1, ts: ts - 1000, value: 5 }),
        'OUT_OF_ORDER',
      );
      await send('exact repeat', p1, key1, JSON.stringify({ ...k1, ts: ts + 1000, value: 4 }));
      await send(
        'conflict',
        p1,
        key1,
        JSON.stringify({ ...k1, ts: ts + 1000, value: 99 }),
        'DUPLICATE_CONFLICT',
      );
      await send('misrouted', wrong, key2, JSON.stringify({ ...k2, ts, value: 7 }));
      await send('after', partitionForKey(key3, P), key3, JSON.stringify({ ...k3, ts, value: 8 }));
      await producer.disconnect();
      const mine = (l: { headers: Record<string, string> }): boolean =>
        sent.some(
          (s) =>
            `${s.partition}/${s.offset}` ===
            `${l.headers['vigil-source-partition']}/${l.headers['vigil-source-offset']}`,
        );

      const series = await waitFor(
        async () => {
          const s = await node.series();
          return s.get(key1)?.samples === 2 && s.get(key2)?.samples === 1 && s.get(key3)?.samples === 1
            ? s
            : undefined;
        },
        20_000,
        'the valid samples processed (consumption went on)',
        100,
      );
      const letters = (await readTopic(broker.brokers, DLQ, dlq0 + 9)).filter(mine);
      const byOffset = (l: (typeof letters)[number]) =>
        `${l.headers['vigil-source-partition']}/${l.headers['vigil-source-offset']}`;
      const codes = letters.map((l) => l.headers['vigil-error-code']).sort();
      assert.deepEqual(codes, [
        'BAD_MESSAGE',
        'DUPLICATE_CONFLICT',
        'EMPTY_MESSAGE',
        'INVALID_NAME',
        'INVALID_SAMPLE',
        'INVALID_SAMPLE',
        'MESSAGE_TOO_LARGE',
        'NOT_JSON',
        'OUT_OF_ORDER',
      ]);
      for (const l of letters) {
        assert.equal(l.headers['vigil-source-topic'], TOPIC);
        assert.ok((l.headers['vigil-error-reason'] ?? '').length > 0);
        const src = sent.find((s) => `${s.partition}/${s.offset}` === byOffset(l));
        assert.ok(src, `dead letter ${byOffset(l)} points at a produced message`);
        if (src.code !== 'batch') assert.equal(l.headers['vigil-error-code'], src.code, src.what);
      }
      const batch = sent.find((s) => s.code === 'batch')!;
      const items = letters.filter((l) => byOffset(l) === `${batch.partition}/${batch.offset}`);
      assert.deepEqual(
        items.map((l) => l.headers['vigil-item-index']).sort(),
        ['1', '2'],
        'only the bad items of the batch',
      );
      assert.match(
        letters.find((l) => l.headers['vigil-error-code'] === 'NOT_JSON')!.value ?? '',
        /oops/,
        'original value kept',
      );
      assert.match(
        letters.find((l) => l.headers['vigil-error-code'] === 'INVALID_NAME')!.value ?? '',
        /9bad/,
        'the item as value',
      );
      const big = letters.find((l) => l.headers['vigil-error-code'] === 'MESSAGE_TOO_LARGE')!;
      assert.equal(big.value?.length, 64 * 1024, 'an oversized message is kept as its first 64 KiB');
      assert.ok(Number(big.headers['vigil-truncated-from']) > 70_000);
      const m = await node.metrics();
      const dlqTotal = metricValue(m, 'vigil_kafka_dead_letters_total') - dlq0;
      const stats = await node.kafka();
      report('poison', {
        produced: sent.length,
        processed: {
          [key1]: series.get(key1)?.samples,
          [key2]: series.get(key2)?.samples,
          [key3]: series.get(key3)?.samples,
        },
        deadLettered: dlqTotal,
        byCode: Object.fromEntries(
          letters
            .map((l) => l.headers['vigil-error-code'])
            .map((c) => [c, letters.filter((l) => l.headers['vigil-error-code'] === c).length]),
        ),
        repartitioned: stats.repartitioned - s0.repartitioned,
      });
      assert.equal(dlqTotal, 9);
      assert.equal(
        metricValue(m, 'vigil_kafka_dead_letters_total', { code: 'INVALID_SAMPLE' }) -
          metricValue(m0, 'vigil_kafka_dead_letters_total', { code: 'INVALID_SAMPLE' }),
        2,
      );
      assert.equal(stats.repartitioned - s0.repartitioned, 1);
    },
  );

  test(
    'a graceful restart restores the state from the state topic and resumes at the committed offsets: nothing replayed',
    { timeout: 90_000 },
    async () => {
      const w = makeWorkload('restart_metric', 6, 60);
      const { producer } = await conventionProducer(broker.brokers);
      await produceJson(producer, TOPIC, w.points);
      await waitFor(
        async () => (countMismatches(w.perKey, await node.series()).length === 0 ? true : undefined),
        20_000,
        'first half processed',
        100,
      );
      const before = await node.series();
      assert.equal(await node.stop(), 0, 'clean exit');
      const t0 = Date.now();
      node = await startKafkaNode({ name: 'n1-restarted', configYaml: nodeYaml(broker.brokers, hook) });
      const restartSeconds = (Date.now() - t0) / 1000;
      const restored = await node.series();
      for (const [k, s] of before)
        assert.equal(restored.get(k)?.samples, s.samples, `state of ${k} restored from Kafka`);
      const more = w.points.map((p) => ({ ...p, ts: p.ts + 100 * STEP_MS }));
      await produceJson(producer, TOPIC, more);
      await producer.disconnect();
      const perKey = new Map([...w.perKey].map(([k, n]) => [k, 2 * n]));
      await waitFor(
        async () => (countMismatches(perKey, await node.series()).length === 0 ? true : undefined),
        20_000,
        'second half processed',
        100,
      );
      const stats = await node.kafka();
      report('graceful-restart', {
        produced: 2 * w.points.length,
        processedAfterRestart: stats.samples,
        replaySkipped: stats.replaySkipped,
        restoredKeys: stats.restoredKeys,
        restartSeconds,
      });
      assert.equal(stats.samples, more.length, 'only the new samples were processed after the restart');
      assert.equal(stats.replaySkipped, 0);
    },
  );

  test(
    'broker kill -9 and restart mid-stream: HTTP ingest answers 503 meanwhile, every sample is processed once',
    { timeout: 150_000 },
    async () => {
      const w = makeWorkload('broker_metric', 8, 200);
      const half = Math.floor(w.points.length / 2);
      let { producer } = await conventionProducer(broker.brokers);
      await produceJson(producer, TOPIC, w.points.slice(0, half), 200);
      await producer.disconnect();
      await broker.kill9();
      const downAt = Date.now();
      const httpSample = { metric: 'broker_http', labels: {}, ts: Date.now() - 60_000, value: 1 };
      const refused = await postJson(`${node.url}/api/v1/samples`, { samples: [httpSample] });
      const refusedAfter = (Date.now() - downAt) / 1000;
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.ok(refused.headers.get('retry-after'), 'Retry-After');
      await broker.restart();
      const upAt = Date.now();
      ({ producer } = await conventionProducer(broker.brokers));
      await produceJson(producer, TOPIC, w.points.slice(half), 200);
      await producer.disconnect();
      const retried = await waitFor(
        async () => {
          const r = await postJson(`${node.url}/api/v1/samples`, { samples: [httpSample] });
          return r.status === 200 ? r : undefined;
        },
        30_000,
        'HTTP ingest to accept again',
        500,
      );
      assert.equal(retried.status, 200);
      const perKey = new Map([...w.perKey, [seriesKey('broker_http', {}), 1]]);
      await waitFor(
        async () => (countMismatches(perKey, await node.series()).length === 0 ? true : undefined),
        60_000,
        'every sample processed once after the broker came back',
        250,
      ).catch(async (err: unknown) => {
        assert.fail(
          `${String(err)}\n${countMismatches(perKey, await node.series()).join('\n')}\n${node.output().slice(-3000)}`,
        );
      });
      const stats = await node.kafka();
      report('broker-kill9', {
        produced: w.points.length + 1,
        processedUnique: w.points.length + 1,
        http503AfterSeconds: refusedAfter,
        recoverySeconds: (Date.now() - upAt) / 1000,
        joins: stats.joins,
        crashes: stats.crashes,
        commitFailures: stats.commitFailures,
        deadLettered: Object.values(stats.deadLetters).reduce((n, v) => n + v, 0),
      });
    },
  );

  test(
    'a slow detector never misses the session timeout: no rebalance, everything processed',
    { timeout: 120_000 },
    async () => {
      await broker.createTopic('slow', 2);
      const slow = await startKafkaNode({
        name: 'slow',
        configYaml: nodeYaml(broker.brokers, hook, { topic: 'slow', group: 'vigil-slow' }),
        env: { VIGIL_TEST_DELAY_MS: '2' },
      });
      others.push(slow);
      // 4000 samples × 2 ms = 8 s of detector time: well past the 3 s session timeout.
      const w = makeWorkload('slow_metric', 4, 999);
      const { producer } = await conventionProducer(broker.brokers);
      const t0 = Date.now();
      await produceJson(producer, 'slow', w.points);
      await producer.disconnect();
      await waitFor(
        async () => (countMismatches(w.perKey, await slow.series()).length === 0 ? true : undefined),
        90_000,
        'the slow node to process everything',
        250,
      );
      const seconds = (Date.now() - t0) / 1000;
      const stats = await slow.kafka();
      report('slow-detector', {
        produced: w.points.length,
        processed: stats.samples,
        seconds,
        sessionTimeoutSeconds: 3,
        joins: stats.joins,
        crashes: stats.crashes,
      });
      assert.ok(seconds > 6, `the detector was slow (${seconds} s)`);
      assert.equal(stats.joins, 1, 'no rebalance');
      assert.equal(stats.crashes, 0);
      assert.equal(stats.samples, w.points.length, 'nothing processed twice');
    },
  );
});
