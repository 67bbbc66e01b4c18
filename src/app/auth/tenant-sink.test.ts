import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AlertEvent } from '../../alerts/index.js';
import { seriesKey } from '../../common/index.js';
import { IngestError, type Sample, type SampleSink } from '../../ingest/index.js';
import { createTenantSink, SERIES_LIMIT_ALERT } from './tenant-sink.js';

const sample = (metric: string, labels: Record<string, string>, ts = 1_750_000_000_000): Sample => ({
  metric,
  labels,
  key: seriesKey(metric, labels),
  ts,
  value: 1,
});

/** The next sink in line: takes everything, remembers what it got (or fails when told to). */
function passThrough(): SampleSink & { got: Sample[]; fail: boolean } {
  const s = {
    got: [] as Sample[],
    fail: false,
    submit(samples: readonly Sample[]) {
      if (s.fail) return Promise.reject(new IngestError('INGEST_UNAVAILABLE', 'disk full'));
      s.got.push(...samples);
      return Promise.resolve({ accepted: samples.length, duplicates: 0, rejected: [] });
    },
  };
  return s;
}

test('stamping: the tenant label replaces the client’s, keys follow; no tenant leaves samples alone', async () => {
  const inner = passThrough();
  let tenant: string | undefined = 'team-a';
  const sink = createTenantSink({
    inner,
    tenantLabel: 'tenant',
    currentTenant: () => tenant,
    maxSeriesPerTenant: 0,
    seriesTtlMs: 0,
    resolveAfterMs: 60_000,
  });
  await sink.submit([sample('m', { tenant: 'team-b', x: '1' }), sample('m', {})], 'json');
  assert.deepEqual(
    inner.got.map((s) => s.key),
    ['m{tenant="team-a",x="1"}', 'm{tenant="team-a"}'],
  );
  tenant = undefined;
  await sink.submit([sample('m', { tenant: 'team-b' })], 'json');
  assert.equal(inner.got.at(-1)?.key, 'm{tenant="team-b"}');
  sink.close();
});

test('series limit: existing series are counted, new ones refused past it, a failed submit counts nothing', async () => {
  const inner = passThrough();
  const events: AlertEvent[] = [];
  const sink = createTenantSink({
    inner,
    tenantLabel: 'tenant',
    currentTenant: () => undefined,
    maxSeriesPerTenant: 3,
    seriesTtlMs: 0,
    resolveAfterMs: 60_000,
    existingKeys: () => ['a{tenant="t"}', 'b{tenant="t"}', 'c{}'],
    onAlertEvents: (e) => events.push(...e),
  });
  assert.equal(sink.seriesOf('t'), 2, 'seeded from the runtime’s keys');
  assert.equal(sink.seriesOf(''), 1);
  inner.fail = true;
  await assert.rejects(sink.submit([sample('d', { tenant: 't' })], 'json'));
  assert.equal(sink.seriesOf('t'), 2, 'a series of a refused (503) batch does not count');
  inner.fail = false;
  const r = await sink.submit(
    [sample('d', { tenant: 't' }), sample('e', { tenant: 't' }), sample('a', { tenant: 't' }, 2e12)],
    'json',
  );
  assert.equal(r.accepted, 2);
  assert.deepEqual(
    r.rejected.map((x) => [x.index, x.code]),
    [[1, 'LIMIT_EXCEEDED']],
  );
  assert.equal(events.length, 1);
  assert.equal(events[0]?.labels['alertname'], SERIES_LIMIT_ALERT);
  assert.equal(events[0]?.labels['tenant'], 't');
  assert.equal(events[0]?.status, 'firing');
  await sink.submit([sample('f', { tenant: 't' })], 'json');
  assert.equal(events.length, 1, 'one alert per episode, not one per refusal');
  sink.close();
});

test('series limit: a series unseen for series_ttl frees its place; the alert resolves after a quiet period', async () => {
  let now = 1_000_000;
  const events: AlertEvent[] = [];
  const sink = createTenantSink({
    inner: passThrough(),
    tenantLabel: 'tenant',
    currentTenant: () => 'x',
    maxSeriesPerTenant: 2,
    seriesTtlMs: 60_000,
    resolveAfterMs: 400,
    onAlertEvents: (e) => events.push(...e),
    now: () => now,
  });
  await sink.submit([sample('a', {}), sample('b', {})], 'json');
  const refused = await sink.submit([sample('c', {})], 'json');
  assert.equal(refused.rejected[0]?.code, 'LIMIT_EXCEEDED');
  assert.equal(sink.limitFiring('x'), true);
  now += 61_000; // a and b unseen for longer than the TTL
  const ok = await sink.submit([sample('c', {})], 'json');
  assert.equal(ok.accepted, 1, 'room again after the forgotten series were pruned');
  now += 1000; // no refusal for longer than resolveAfterMs
  await new Promise((r) => setTimeout(r, 300)); // the resolve timer runs every 100 ms
  assert.deepEqual(
    events.map((e) => e.status),
    ['firing', 'resolved'],
  );
  assert.equal(events[0]?.fingerprint, events[1]?.fingerprint);
  assert.equal(sink.limitFiring('x'), false);
  sink.close();
});
