import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AlertEvent } from '../../alerts/index.js';
import { seriesKey } from '../../common/index.js';
import type { Sample, SampleSink } from '../../ingest/index.js';
import { createTenantSink, SERIES_LIMIT_ALERT } from './tenant-sink.js';

const sample = (metric: string, labels: Record<string, string>, ts = 1_750_000_000_000): Sample => ({
  metric,
  labels,
  key: seriesKey(metric, labels),
  ts,
  value: 1,
});

/** The next sink in line: takes everything, remembers what it got. */
function passThrough(): SampleSink & { got: Sample[] } {
  const s = {
    got: [] as Sample[],
    submit(samples: readonly Sample[]) {
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

test('series limit: counts what the runtime reports, refuses new series past it, one alert per episode', async () => {
  const events: AlertEvent[] = [];
  const limited: [string, number][] = [];
  const sink = createTenantSink({
    inner: passThrough(),
    tenantLabel: 'tenant',
    currentTenant: () => undefined,
    maxSeriesPerTenant: 3,
    resolveAfterMs: 60_000,
    onAlertEvents: (e) => events.push(...e),
    onLimited: (t, n) => limited.push([t, n]),
  });
  const l = sink.limiter!;
  for (const key of ['a{tenant="t"}', 'b{tenant="t"}', 'c{}']) l.added(key);
  assert.equal(sink.seriesOf('t'), 2, 'seeded from the runtime’s series');
  assert.equal(sink.seriesOf(''), 1);
  assert.equal(l.admit('d{tenant="t"}'), undefined);
  assert.equal(sink.seriesOf('t'), 3, 'an admitted series counts at once');
  assert.equal(
    l.admit('e{tenant="t"}'),
    'series limit reached: tenant "t" has 3 series (limits.max_series_per_tenant 3); new series refused',
  );
  assert.equal(l.admit('f{tenant="t"}')?.startsWith('series limit reached'), true);
  assert.equal(l.admit('g{}'), undefined, 'other tenants are counted apart');
  assert.equal(events.length, 0, 'reported once per turn, after the offer');
  await Promise.resolve();
  assert.deepEqual(limited, [['t', 2]]);
  assert.equal(events.length, 1);
  assert.equal(events[0]?.labels['alertname'], SERIES_LIMIT_ALERT);
  assert.equal(events[0]?.labels['tenant'], 't');
  assert.equal(events[0]?.status, 'firing');
  assert.ok(l.admit('h{tenant="t"}'));
  await Promise.resolve();
  assert.equal(events.length, 1, 'one alert per episode, not one per refusal');
  l.removed('a{tenant="t"}');
  assert.equal(sink.seriesOf('t'), 2, 'a forgotten series (expired, dropped) frees its place');
  assert.equal(l.admit('h{tenant="t"}'), undefined);
  sink.close();
});

test('series limit: the alert resolves after a quiet period; no limit means no limiter', async () => {
  let now = 1_000_000;
  const events: AlertEvent[] = [];
  const sink = createTenantSink({
    inner: passThrough(),
    tenantLabel: 'tenant',
    currentTenant: () => 'x',
    maxSeriesPerTenant: 1,
    resolveAfterMs: 400,
    onAlertEvents: (e) => events.push(...e),
    now: () => now,
  });
  const l = sink.limiter!;
  assert.equal(l.admit('a{tenant="x"}'), undefined);
  assert.ok(l.admit('b{tenant="x"}'));
  await Promise.resolve();
  assert.equal(sink.limitFiring('x'), true);
  now += 1000; // no refusal for longer than resolveAfterMs
  await new Promise((r) => setTimeout(r, 300)); // the resolve timer runs every 100 ms
  assert.deepEqual(
    events.map((e) => e.status),
    ['firing', 'resolved'],
  );
  assert.equal(events[0]?.fingerprint, events[1]?.fingerprint);
  assert.equal(sink.limitFiring('x'), false);
  sink.close();
  const unlimited = createTenantSink({
    inner: passThrough(),
    tenantLabel: 'tenant',
    currentTenant: () => undefined,
    maxSeriesPerTenant: 0,
    resolveAfterMs: 400,
  });
  assert.equal(unlimited.limiter, undefined);
  unlimited.close();
});
