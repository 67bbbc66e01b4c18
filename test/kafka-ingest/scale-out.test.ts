/**
 * Scale-out on a real broker: Vigil nodes (child processes, test/support/vigil-cluster.ts) in one
 * consumer group split the partitions of the input topic; a node killed with SIGKILL mid-stream
 * loses its partitions to the survivor, which restores their state from the state topic and
 * replays from the committed offsets; a node joining later takes partitions over with the
 * snapshots the old owner committed while the group rebalanced.
 *
 * Server: a single-node KRaft broker (test/support/kafka-broker.ts; jars fetched by
 * `node scripts/prepare-kafka.mjs`). Run alone:
 *   npx tsc -p tsconfig.json && node scripts/prepare-kafka.mjs &&
 *   node --enable-source-maps --test dist/test/kafka-ingest/scale-out.test.js
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { partitionForKey } from '../../src/ingest/index.js';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.js';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.js';
import { startKafkaNode, type KafkaNode } from '../support/vigil-cluster.js';
import { waitFor } from '../support/vigil-process.js';
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
  type Point,
} from './support/workload.js';

const P = 8;
const TOPIC = 'metrics';

function nodeYaml(brokers: readonly string[], hookUrl: string): string {
  return `
log:
  level: info
runtime:
  workers: 1
  key_groups: 64
  checkpoint_interval: 1s
ingest:
  kafka:
    brokers: [${brokers.join(', ')}]
    topics: [${TOPIC}]
    group_id: vigil-scale
    format: json
    session_timeout: 3s
    heartbeat_interval: 500ms
    rebalance_timeout: 10s
    fetch_max_wait: 100ms
${alertingYaml(hookUrl)}`;
}

describe('Kafka scale-out', () => {
  let broker: KafkaBroker;
  let receiver: HttpReceiver;
  const nodes: KafkaNode[] = [];

  before(async () => {
    // Sessions of 3 s (the broker's floor is 6 s by default) keep the SIGKILL takeover quick.
    broker = await startKafkaBroker({ properties: { 'group.min.session.timeout.ms': '1000' } });
    await broker.createTopic(TOPIC, P);
    receiver = await startHttpReceiver();
  });
  after(async () => {
    for (const n of nodes) await n.stop(10_000).catch(() => undefined);
    await receiver?.close();
    await broker?.stop();
  });

  async function owned(n: KafkaNode): Promise<number[]> {
    const s = await n.kafka();
    return s.partitions.filter((p) => p.status === 'active').map((p) => p.partition);
  }

  test(
    'SIGKILL of one of two nodes mid-stream: its partitions and state move, every sample is processed once, every alert delivered under one id',
    { timeout: 240_000 },
    async () => {
      const w = makeWorkload('orders_total', 24, 1000);
      const hook = `${receiver.url}/hook`;
      const expected = referenceAlerts(w.points, hook);
      const yaml = nodeYaml(broker.brokers, hook);
      const a = await startKafkaNode({ name: 'a', configYaml: yaml });
      nodes.push(a);
      const b = await startKafkaNode({ name: 'b', configYaml: yaml });
      nodes.push(b);
      const split = await waitFor(
        async () => {
          const [pa, pb] = await Promise.all([owned(a), owned(b)]);
          return pa.length + pb.length === P && pa.length > 0 && pb.length > 0 ? { a: pa, b: pb } : undefined;
        },
        30_000,
        'both nodes to own partitions',
        200,
      );

      // Produce at a pace, in the background, and kill A while it is consuming.
      const { producer } = await conventionProducer(broker.brokers);
      let produced = 0;
      const production = (async () => {
        for (let i = 0; i < w.points.length; i += 400) {
          const slice: readonly Point[] = w.points.slice(i, i + 400);
          await produceJson(producer, TOPIC, slice);
          produced += slice.length;
          await new Promise((r) => setTimeout(r, 60));
        }
      })();
      // Kill A mid-stream once it has committed and delivered an alert of its own partitions: the
      // survivor must deliver A's alerts again only under the same ids.
      const aKeys = new Set(w.keys.filter((k) => split.a.includes(partitionForKey(k, P))));
      const aDelivered = (): boolean =>
        [...deliveries(receiver.requests).firing.keys()].some((id) => aKeys.has(expected.get(id) ?? ''));
      const aBefore = await waitFor(
        async () => {
          const s = await a.kafka();
          return s.commits >= 2 &&
            produced >= w.points.length * 0.6 &&
            produced < w.points.length &&
            aDelivered()
            ? s
            : undefined;
        },
        60_000,
        'node a to commit and deliver an alert mid-stream',
        20,
      );
      await a.kill9();
      const killedAt = Date.now();
      const producedAtKill = produced;
      await production;
      await producer.disconnect();

      const bSeries = await waitFor(
        async () => {
          const s = await b.series();
          return countMismatches(w.perKey, s).length === 0 ? s : undefined;
        },
        90_000,
        'node b to hold every key with every sample counted once',
        250,
      ).catch(async (err: unknown) => {
        const s = await b.series();
        assert.fail(
          `${String(err)}\n${countMismatches(w.perKey, s).slice(0, 10).join('\n')}\n${b.output().slice(-3000)}`,
        );
      });
      const takeoverSeconds = (Date.now() - killedAt) / 1000;
      const bStats = await b.kafka();
      assert.deepEqual(
        bStats.partitions.map((p) => p.partition),
        Array.from({ length: P }, (_, i) => i),
        'the survivor owns every partition',
      );
      assert.ok(bStats.partitions.every((p) => p.status === 'active'));
      assert.ok(
        bStats.restores >= P,
        `b restored a's partitions from the state topic (${bStats.restores} restores)`,
      );
      assert.equal(bSeries.size, w.keys.length);

      await receiver.waitFor(
        () => alertFigures(expected, deliveries(receiver.requests)).missing.length === 0,
        30_000,
        'every expected alert at the webhook',
      );
      await new Promise((r) => setTimeout(r, 1500)); // late duplicates, if any, would show now
      const f = alertFigures(expected, deliveries(receiver.requests));
      const processedTotal = aBefore.samples + bStats.samples;
      report('sigkill-mid-stream', {
        partitions: { a: split.a, b: split.b },
        produced: w.points.length,
        producedAtKill,
        processedUnique: [...bSeries.values()].reduce((n, s) => n + (s.samples ?? 0), 0),
        processedTotalAtLeast: processedTotal,
        replayedAtLeast: processedTotal - w.points.length,
        aBeforeKill: { samples: aBefore.samples, commits: aBefore.commits },
        bRestores: bStats.restores,
        bReplaySkipped: bStats.replaySkipped,
        deadLettered: Object.values(bStats.deadLetters).reduce((n, v) => n + v, 0),
        alertsExpected: f.expected,
        alertsDelivered: f.delivered,
        alertsDuplicates: f.duplicates,
        alertsUnderDifferentIds: f.differentIds.length,
        takeoverSeconds,
      });
      assert.deepEqual(f.missing, [], 'no alert lost');
      assert.deepEqual(f.spurious, [], 'no alert the reference run did not fire');
      assert.deepEqual(f.differentIds, [], 'duplicates only under the same idempotency key');
      assert.ok(f.expected >= 1, 'the workload fires alerts (reference run)');
    },
  );

  test(
    'a node joining mid-stream takes half the partitions over from committed snapshots: sticky, balanced, each sample processed once',
    { timeout: 120_000 },
    async () => {
      const b = nodes.find((n) => n.name === 'b' && !n.exited);
      assert.ok(b, 'node b from the previous test');
      const hook = `${receiver.url}/hook`;
      const before = await b.kafka();
      // 300 more samples per key, one minute apart after the first test's data, streamed while c joins.
      const base = makeWorkload('orders_total', 24, 1000);
      const lastTs = Math.max(...base.points.map((p) => p.ts));
      const more: Point[] = [];
      for (let j = 1; j <= 300; j++)
        for (const key of base.keys) {
          const p = base.points.find((x) => x.key === key) as Point;
          more.push({ ...p, ts: lastTs + j * 60_000, value: 1000 + (j % 7) });
        }
      const { producer } = await conventionProducer(broker.brokers);
      const production = (async () => {
        for (let i = 0; i < more.length; i += 240) {
          await produceJson(producer, TOPIC, more.slice(i, i + 240));
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      await new Promise((r) => setTimeout(r, 800));
      const c = await startKafkaNode({ name: 'c', configYaml: nodeYaml(broker.brokers, hook) });
      nodes.push(c);
      const split = await waitFor(
        async () => {
          const [pb, pc] = await Promise.all([owned(b), owned(c)]);
          return pb.length + pc.length === P && pc.length > 0 ? { b: pb, c: pc } : undefined;
        },
        30_000,
        'c to take partitions',
        100,
      );
      await production;
      await producer.disconnect();
      assert.equal(split.c.length, P / 2, 'balanced');
      assert.ok(
        split.b.every((p) => before.partitions.some((q) => q.partition === p)),
        'b kept partitions it owned (sticky)',
      );
      const perKey = new Map([...base.perKey].map(([k, n]) => [k, n + 300]));
      const merged = await waitFor(
        async () => {
          const [sb, sc] = await Promise.all([b.series(), c.series()]);
          const all = new Map([...sb, ...sc]);
          return countMismatches(perKey, all).length === 0 ? { all, sb, sc } : undefined;
        },
        60_000,
        'both nodes to count every key exactly once more',
        250,
      ).catch(async (err: unknown) => {
        const all = new Map([...(await b.series()), ...(await c.series())]);
        assert.fail(`${String(err)}\n${countMismatches(perKey, all).slice(0, 10).join('\n')}`);
      });
      const overlap = [...merged.sb.keys()].filter((k) => merged.sc.has(k));
      assert.deepEqual(overlap, [], 'no series is held by two nodes');
      assert.equal(merged.sc.size + merged.sb.size, 24);
      const [bAfter, cAfter] = await Promise.all([b.kafka(), c.kafka()]);
      const handled = bAfter.messages - before.messages + cAfter.messages;
      report('join-mid-stream', {
        partitions: split,
        produced: more.length,
        processedUnique: [...merged.all.values()].reduce((n, s) => n + (s.samples ?? 0), 0),
        recordsHandled: handled,
        replayed: handled - more.length,
        bRebalanceCheckpoints: bAfter.rebalanceCheckpoints - before.rebalanceCheckpoints,
        cRestores: cAfter.restores,
        cRestoredKeys: cAfter.restoredKeys,
      });
    },
  );
});
