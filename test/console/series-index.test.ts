/**
 * The series list at 100k series: a real keyed runtime (2 worker threads) holding 100,000 keys,
 * a real alert dispatcher with 300 open alerts, and the series endpoints on a real fastify
 * server on 127.0.0.1. Checks search, state filter, sort and deep paging give the right answers
 * and prints the median request time of each (5 runs); fails only if one is slower than 250 ms,
 * an order of magnitude above what it measures here, to catch an accidental O(n log n) per
 * request or a per-series worker round trip.
 *
 * The operator is the small test operator (test/support/operators/sequence.ts): the list only
 * needs the runtime's key index and the page items' status, and 100k anomaly-engine states
 * would take ~1.7 GB.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import {
  alertLabels,
  createAlertDispatcher,
  fingerprint,
  type AlertDispatcher,
} from '../../src/alerts/index.js';
import { loadVigilConfigText } from '../../src/app/config.js';
import { registerSeriesApi } from '../../src/app/http/series-api.js';
import { parseSeriesKey } from '../../src/common/index.js';
import { createKeyedRuntime, type KeyedRuntime } from '../../src/keyed-runtime/index.js';
import type { AnomalyOutput } from '../../src/operators/anomaly-operator.js';

const OPERATOR = new URL('../support/operators/sequence.js', import.meta.url).href;
const N = 100_000;
const FIRING = 300;
let rt: KeyedRuntime<AnomalyOutput>;
let dispatcher: AlertDispatcher;
let app: FastifyInstance;
let url: string;
const key = (i: number): string =>
  `http_requests{host="web-${String(i).padStart(6, '0')}",region="${['eu', 'us', 'ap'][i % 3]}"}`;

before(async () => {
  rt = createKeyedRuntime<AnomalyOutput>({
    operatorModule: OPERATOR,
    operatorOptions: {},
    workers: 2,
    keyGroups: 128,
    queueCapacity: 1_000_000,
    batchSize: 4096,
    onOutputs: () => undefined,
    onError: (e) => {
      throw new Error(e.message);
    },
  });
  await rt.ready;
  const t0 = performance.now();
  for (let i = 0; i < N; i += 10_000)
    rt.offer(Array.from({ length: 10_000 }, (_, j) => ({ key: key(i + j), ts: 1_000, value: 1 })));
  await rt.drain();
  console.log(`created ${rt.size} series in ${Math.round(performance.now() - t0)} ms`);
  const config = loadVigilConfigText(
    'alerting:\n  route:\n    receiver: log\n  receivers:\n    - name: log\n      log_configs: [{}]\n',
  );
  dispatcher = createAlertDispatcher({
    config: config.alerting,
    stateDir: mkdtempSync(join(tmpdir(), 'vigil-index-')),
    logger: pino({ level: 'silent' }),
    externalUrl: 'http://127.0.0.1',
  });
  await dispatcher.start();
  // Every 333rd series fires (300 alerts); the last 20 of them are silenced.
  dispatcher.receive(
    Array.from({ length: FIRING }, (_, n) => {
      const k = key(n * 333);
      const p = parseSeriesKey(k)!;
      const labels = alertLabels(p.metric, p.labels);
      return {
        fingerprint: fingerprint(labels),
        labels,
        annotations: {},
        status: 'firing' as const,
        startsAt: Date.now() - 60_000,
        seriesKey: k,
        flapping: false,
        explanation: {
          ts: 1_000,
          actual: 9,
          expected: 1,
          lower: 0,
          upper: 2,
          score: 0.9,
          stage: 'forecast',
          periodsMs: [],
          bandCoverage: 0.99,
        },
      };
    }),
  );
  await dispatcher.createSilence({
    matchers: [{ name: 'host', value: 'web-09[0-9]{4}', isRegex: true, isEqual: true }],
    startsAt: new Date().toISOString(),
    endsAt: new Date(Date.now() + 3_600_000).toISOString(),
    createdBy: 'test',
    comment: 'index test',
  });
  app = Fastify();
  registerSeriesApi(app, { runtime: rt, config: () => ({}), alerts: dispatcher });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

after(async () => {
  await app?.close();
  await dispatcher?.close();
  await rt?.close();
});

interface Page {
  total: number;
  counts: Record<string, number>;
  items: { key: string; state: string; status: { count: number } | null }[];
}

async function timed(path: string): Promise<{ page: Page; medianMs: number }> {
  const times: number[] = [];
  let page: Page | undefined;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const res = await fetch(`${url}${path}`);
    page = (await res.json()) as Page;
    times.push(performance.now() - t0);
    assert.equal(res.status, 200, JSON.stringify(page));
  }
  times.sort((a, b) => a - b);
  return { page: page!, medianMs: Math.round(times[2]! * 10) / 10 };
}

test('series list at 100k series: right answers, fast', { timeout: 120_000 }, async () => {
  const report: Record<string, number> = {};
  const silenced = Array.from({ length: FIRING }, (_, n) => n * 333).filter((i) =>
    /^09\d{4}$/.test(String(i).padStart(6, '0')),
  ).length;

  const first = await timed('/api/v1/series?limit=50');
  report['first page'] = first.medianMs;
  assert.equal(first.page.total, N);
  assert.equal(first.page.items[0]!.key, key(0));
  assert.equal(first.page.items[0]!.state, 'firing');
  assert.equal(first.page.items[0]!.status?.count, 1, 'status from the worker');
  assert.deepEqual(first.page.counts, {
    firing: FIRING - silenced,
    silenced,
    pending: 0,
    normal: N - FIRING,
  });

  const search = await timed('/api/v1/series?search=web-0123&limit=50');
  report['search (100 hits)'] = search.medianMs;
  assert.equal(search.page.total, 100);
  assert.ok(search.page.items.every((i) => i.key.includes('web-0123')));

  const label = await timed(`/api/v1/series?search=${encodeURIComponent('region="ap"')}&limit=50`);
  report['search (33k hits)'] = label.medianMs;
  assert.equal(label.page.total, Math.floor(N / 3));

  const none = await timed('/api/v1/series?search=nothing-matches&limit=50');
  report['search (no hit)'] = none.medianMs;
  assert.equal(none.page.total, 0);

  const deep = await timed('/api/v1/series?offset=99950&limit=50');
  report['last page'] = deep.medianMs;
  assert.equal(deep.page.items.at(-1)!.key, key(N - 1));

  const firing = await timed('/api/v1/series?state=firing&limit=50');
  report['state=firing'] = firing.medianMs;
  assert.equal(firing.page.total, FIRING - silenced);
  assert.ok(firing.page.items.every((i) => i.state === 'firing'));

  const sil = await timed('/api/v1/series?state=silenced');
  report['state=silenced'] = sil.medianMs;
  assert.equal(sil.page.total, silenced);

  const normal = await timed('/api/v1/series?state=normal&offset=50000&limit=50');
  report['state=normal, page 1000'] = normal.medianMs;
  assert.equal(normal.page.total, N - FIRING);

  const byState = await timed('/api/v1/series?sort=state&limit=50');
  report['sort=state'] = byState.medianMs;
  assert.ok(byState.page.items.every((i) => i.state === 'firing'));
  const byStateDesc = await timed('/api/v1/series?sort=state&order=desc&offset=99990&limit=50');
  report['sort=state desc, last page'] = byStateDesc.medianMs;
  assert.equal(byStateDesc.page.items.at(-1)!.state, 'firing', 'most urgent last when descending');

  console.log(`series list at ${N} series, median of 5 (ms): ${JSON.stringify(report)}`);
  for (const [name, ms] of Object.entries(report)) assert.ok(ms < 250, `${name}: ${ms} ms`);
});
