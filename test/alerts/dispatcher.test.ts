// Routing, grouping, timing, inhibition, silences and time intervals against a real HTTP
// receiver (test/support/http-receiver.ts, node:http on 127.0.0.1). Time is compressed through
// the route timings (group_wait 100ms, group_interval 300ms …).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createAlertDispatcher, type AlertDispatcher, ZERO_TIME } from '../../src/alerts/index.js';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.js';
import { alertEvent, loadAlerting, parseWebhook, sleep, tempStateDir, testLogger } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(yaml: (url: string) => string, opts: { now?: () => number } = {}) {
  const hook = await startHttpReceiver();
  const state = await tempStateDir();
  const d = createAlertDispatcher({
    config: loadAlerting(yaml(hook.url)),
    stateDir: state.dir,
    logger: testLogger(),
    externalUrl: 'http://vigil.test',
    ...(opts.now ? { now: opts.now } : {}),
  });
  await d.start();
  cleanups.push(async () => {
    await d.close();
    await hook.close();
    await state.cleanup();
  });
  return { hook, d, stateDir: state.dir };
}

describe('grouping and timing', () => {
  let hook: HttpReceiver;
  let d: AlertDispatcher;
  before(async () => {
    ({ hook, d } = await setup(
      (url) => `
alerting:
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 150ms
    group_interval: 400ms
    repeat_interval: 1200ms
  receivers:
    - name: hook
      webhook_configs: [{ url: '${url}' }]
`,
    ));
  });

  test('group_wait batches, group_interval adds, repeat_interval reminds, resolved closes', async () => {
    const t0 = Date.now();
    const events = ['h1', 'h2', 'h3'].map((h) => alertEvent('cpu', { host: h }, 'firing', t0));
    d.receive(events);
    await hook.waitFor(() => hook.delivered().length >= 1, 3000, 'first notification');
    const first = hook.delivered()[0]!;
    const p1 = parseWebhook(first);
    assert.ok(first.at - t0 >= 140, `first notification after group_wait (${first.at - t0} ms)`);
    assert.equal(p1.reason, 'first notification');
    assert.equal(p1.alerts.length, 3);
    assert.equal(p1.groupKey, '{}:{alertname="cpu"}');
    assert.equal(p1.body['version'], '4');
    assert.equal(p1.body['status'], 'firing');
    assert.deepEqual(p1.body['groupLabels'], { alertname: 'cpu' });
    assert.deepEqual(p1.body['commonLabels'], { alertname: 'cpu' });
    assert.equal(p1.body['externalURL'], 'http://vigil.test');
    assert.equal(p1.body['truncatedAlerts'], 0);
    const a0 = (p1.body['alerts'] as Record<string, unknown>[])[0]!;
    assert.equal(a0['endsAt'], ZERO_TIME);
    assert.equal(a0['status'], 'firing');
    assert.match(String(a0['generatorURL']), /^http:\/\/vigil\.test\/\?series=cpu%7Bhost%3D%22h1%22%7D$/);
    assert.deepEqual(a0['vigil'], {
      seriesKey: 'cpu{host="h1"}',
      observedAt: new Date(t0).toISOString(),
      actual: 97.5,
      expected: 41,
      lower: 30,
      upper: 52,
      bandCoverage: 0.99,
      score: 0.99,
      stage: 'forecast',
      periodsMs: [86_400_000],
      periods: ['1d'],
      flapping: false,
    });

    // A fourth alert joins at the next group_interval tick.
    d.receive([alertEvent('cpu', { host: 'h4' }, 'firing', Date.now())]);
    await hook.waitFor(() => hook.delivered().length >= 2, 3000, 'second notification');
    const second = hook.delivered()[1]!;
    const p2 = parseWebhook(second);
    assert.equal(p2.reason, 'new alerts added');
    assert.equal(p2.alerts.length, 4);
    const gap = second.at - first.at;
    assert.ok(gap >= 300 && gap < 2500, `second notification one group_interval later (${gap} ms)`);

    // Nothing changes: the next notification is the repeat, ~repeat_interval after the last.
    await hook.waitFor(() => hook.delivered().length >= 3, 4000, 'repeat');
    const third = hook.delivered()[2]!;
    const p3 = parseWebhook(third);
    assert.equal(p3.reason, 'repeat interval elapsed');
    assert.deepEqual([...p3.alerts].sort(), [...p2.alerts].sort());
    assert.notEqual(p3.key, p2.key, 'a reminder carries a new idempotency key');
    const repeatGap = third.at - second.at;
    assert.ok(repeatGap >= 1050 && repeatGap < 4000, `repeat after repeat_interval (${repeatGap} ms)`);

    // Resolving every alert sends one "all alerts resolved" notification.
    const ended = Date.now();
    d.receive(
      ['h1', 'h2', 'h3'].map((h) => alertEvent('cpu', { host: h }, 'resolved', t0, { endsAt: ended })),
    );
    d.receive([alertEvent('cpu', { host: 'h4' }, 'resolved', events[0]!.startsAt + 1, { endsAt: ended })]);
    await hook.waitFor(
      () => hook.delivered().some((r) => parseWebhook(r).status === 'resolved'),
      3000,
      'resolved',
    );
    const last = parseWebhook(hook.delivered().at(-1)!);
    assert.equal(last.reason, 'all alerts resolved');
    const resolvedAlerts = last.body['alerts'] as Record<string, unknown>[];
    assert.ok(resolvedAlerts.every((a) => a['status'] === 'resolved'));
    assert.equal(
      resolvedAlerts.find((a) => (a['labels'] as Record<string, string>)['host'] === 'h1')?.['endsAt'],
      new Date(ended).toISOString(),
    );
    const count = hook.delivered().length;
    await sleep(900);
    assert.equal(hook.delivered().length, count, 'an empty group sends nothing more');
  });

  test('an alert resolved before group_wait ends is never notified', async () => {
    const before = hook.requests.length;
    const t = Date.now();
    d.receive([alertEvent('mem', { host: 'x' }, 'firing', t)]);
    await sleep(40);
    d.receive([alertEvent('mem', { host: 'x' }, 'resolved', t, { endsAt: Date.now() })]);
    await sleep(700);
    assert.equal(
      hook.requests.slice(before).filter((r) => parseWebhook(r).groupKey.includes('mem')).length,
      0,
    );
    assert.equal(d.history({ alertname: 'mem' }).length, 2, 'history still records both transitions');
  });
});

test('webhook details: HMAC signature, max_alerts truncation, headers, credentials', async () => {
  const { hook, d } = await setup(
    (url) => `
alerting:
  route: { receiver: hook, group_by: [alertname], group_wait: 50ms, group_interval: 1s }
  receivers:
    - name: hook
      webhook_configs:
        - url: '${url}/hook?token=abc'
          secret: s3cret
          max_alerts: 2
          headers: { X-Team: sre }
          http_config: { authorization: { credentials: tok } }
`,
  );
  const t = Date.now();
  d.receive(['a', 'b', 'c'].map((h) => alertEvent('disk', { host: h }, 'firing', t)));
  await hook.waitFor(() => hook.delivered().length === 1, 3000, 'notification');
  const r = hook.delivered()[0]!;
  assert.equal(r.path, '/hook?token=abc');
  assert.equal(r.headers['x-team'], 'sre');
  assert.equal(r.headers['authorization'], 'Bearer tok');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.match(String(r.headers['idempotency-key']), /^[0-9a-f]{32}$/);
  const sig = String(r.headers['x-vigil-signature']);
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig);
  assert.ok(m, sig);
  assert.equal(m[2], createHmac('sha256', 's3cret').update(`${m[1]}.${r.body}`).digest('hex'));
  assert.ok(Math.abs(Number(m[1]) - Date.now() / 1000) < 5);
  const body = JSON.parse(r.body) as { alerts: unknown[]; truncatedAlerts: number };
  assert.equal(body.alerts.length, 2);
  assert.equal(body.truncatedAlerts, 1);
});

test('inhibition: a firing critical alert mutes warnings with equal labels', async () => {
  const { hook, d } = await setup(
    (url) => `
alerting:
  route: { receiver: hook, group_by: [alertname, service], group_wait: 50ms, group_interval: 200ms, repeat_interval: 1h }
  receivers:
    - name: hook
      webhook_configs: [{ url: '${url}' }]
  inhibit_rules:
    - source_matchers: ['severity="critical"']
      target_matchers: ['severity="warning"']
      equal: [service]
`,
  );
  const t = Date.now();
  const crit = alertEvent('errors', { service: 'api', severity: 'critical' }, 'firing', t);
  const warnApi = alertEvent('latency', { service: 'api', severity: 'warning' }, 'firing', t);
  const warnDb = alertEvent('latency', { service: 'db', severity: 'warning' }, 'firing', t);
  d.receive([crit, warnApi, warnDb]);
  await sleep(600);
  const names = (): string[] => hook.delivered().map((r) => parseWebhook(r).groupKey);
  assert.deepEqual(names().sort(), [
    '{}:{alertname="errors", service="api"}',
    '{}:{alertname="latency", service="db"}',
  ]);
  const view = d.listAlerts({
    filter: [
      { name: 'service', type: '=', value: 'api' },
      { name: 'severity', type: '=', value: 'warning' },
    ],
  });
  assert.equal(view.length, 1);
  assert.equal(view[0]!.status.state, 'suppressed');
  assert.deepEqual(view[0]!.status.inhibitedBy, [crit.fingerprint]);
  // The source resolves: the warning is notified at its group's next flush.
  d.receive([
    alertEvent('errors', { service: 'api', severity: 'critical' }, 'resolved', t, { endsAt: Date.now() }),
  ]);
  await hook.waitFor(
    () => names().includes('{}:{alertname="latency", service="api"}'),
    3000,
    'uninhibited warning',
  );
  assert.equal(d.listAlerts({ inhibited: true }).length, 0);
});

test('silences: API and YAML silences mute, expiring unmutes, resolved still reaches receivers that saw firing', async () => {
  const { hook, d } = await setup(
    (url) => `
alerting:
  route: { receiver: hook, group_by: [alertname, host], group_wait: 50ms, group_interval: 200ms, repeat_interval: 1h }
  receivers:
    - name: hook
      webhook_configs: [{ url: '${url}' }]
  silences:
    - id: staging
      matchers: ['env="staging"']
      comment: staging never pages
`,
  );
  const t = Date.now();
  const groups = (): string[] => hook.delivered().map((r) => parseWebhook(r).groupKey);
  // YAML silence
  d.receive([alertEvent('cpu', { host: 's1', env: 'staging' }, 'firing', t)]);
  // API silence (Alertmanager v2 body)
  const { silenceID } = await d.createSilence({
    matchers: [{ name: 'host', value: 'p[12]', isRegex: true, isEqual: true }],
    startsAt: new Date(t - 1000).toISOString(),
    endsAt: new Date(t + 3_600_000).toISOString(),
    createdBy: 'alice',
    comment: 'maintenance',
  });
  d.receive([
    alertEvent('cpu', { host: 'p1', env: 'prod' }, 'firing', t),
    alertEvent('cpu', { host: 'p3', env: 'prod' }, 'firing', t),
  ]);
  await sleep(500);
  assert.deepEqual(groups(), ['{}:{alertname="cpu", host="p3"}']);
  const p1 = d
    .listAlerts({ silenced: true })
    .map((a) => a.labels['host'])
    .sort();
  assert.deepEqual(p1, ['p1', 's1']);
  assert.deepEqual(
    d.listAlerts({ filter: [{ name: 'host', type: '=', value: 'p1' }] })[0]!.status.silencedBy,
    [silenceID],
  );
  const got = d.getSilence(silenceID);
  assert.equal(got.status.state, 'active');
  assert.deepEqual(got.matchers, [{ name: 'host', value: 'p[12]', isRegex: true, isEqual: true }]);
  const started = Date.parse(got.startsAt);
  assert.ok(started >= t && started <= Date.now(), 'a start in the past becomes now');
  await assert.rejects(d.expireSilence('staging'), { code: 'ALERTS_SILENCE_CONFLICT' });
  await assert.rejects(d.expireSilence('nope'), { code: 'ALERTS_SILENCE_NOT_FOUND' });
  await assert.rejects(
    d.createSilence({
      matchers: [{ name: 'a', value: '.*', isRegex: true }],
      startsAt: new Date(t).toISOString(),
      endsAt: new Date(t + 1000).toISOString(),
      createdBy: 'x',
      comment: '',
    }),
    { code: 'ALERTS_SILENCE_INVALID', message: /must not match the empty string/ },
  );
  // Expire: p1 is notified at the next flush.
  await d.expireSilence(silenceID);
  assert.equal(d.getSilence(silenceID).status.state, 'expired');
  await assert.rejects(d.expireSilence(silenceID), { code: 'ALERTS_SILENCE_CONFLICT' });
  await hook.waitFor(() => groups().includes('{}:{alertname="cpu", host="p1"}'), 3000, 'p1 after expiry');

  // Silence p3 after it was notified, then resolve it: the receiver still hears it resolved.
  await d.createSilence({
    matchers: [{ name: 'host', value: 'p3', isRegex: false }],
    startsAt: new Date().toISOString(),
    endsAt: new Date(Date.now() + 3_600_000).toISOString(),
    createdBy: 'bob',
    comment: '',
  });
  d.receive([alertEvent('cpu', { host: 'p3', env: 'prod' }, 'resolved', t, { endsAt: Date.now() })]);
  await hook.waitFor(
    () =>
      hook
        .delivered()
        .some((r) => parseWebhook(r).groupKey.includes('p3') && parseWebhook(r).status === 'resolved'),
    3000,
    'p3 resolved despite the silence',
  );
  // Listing and filters.
  assert.deepEqual(
    d
      .listSilences({ state: 'active' })
      .map((s) => s.source)
      .sort(),
    ['api', 'config'],
  );
  assert.equal(d.listSilences({ state: 'expired' }).length, 1);
  assert.deepEqual(
    d.listSilences({ filter: [{ name: 'env', type: '=', value: 'staging' }] }).map((s) => s.id),
    ['staging'],
  );
});

test('time intervals: mute_time_intervals and active_time_intervals in their zone', async () => {
  // A clock running at real speed but shifted to Saturday 2025-03-15 10:00 UTC.
  const offset = Date.parse('2025-03-15T10:00:00Z') - Date.now();
  const clock = (): number => Date.now() + offset;
  const { hook, d } = await setup(
    (url) => `
alerting:
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 50ms
    group_interval: 200ms
    repeat_interval: 1h
    routes:
      - matchers: ['team="weekend-muted"']
        mute_time_intervals: [weekends]
      - matchers: ['team="office-hours"']
        active_time_intervals: [office]
      - matchers: ['team="nights-ny"']
        mute_time_intervals: [ny-night]
  receivers:
    - name: hook
      webhook_configs: [{ url: '${url}' }]
  time_intervals:
    - name: weekends
      time_intervals: [{ weekdays: ['saturday', 'sunday'] }]
    - name: office
      time_intervals: [{ weekdays: ['monday:friday'], times: [{ start_time: '09:00', end_time: '17:00' }], location: Europe/Berlin }]
    - name: ny-night
      time_intervals: [{ times: [{ start_time: '00:00', end_time: '07:00' }], location: America/New_York }]
`,
    { now: clock },
  );
  const t = clock();
  d.receive([
    alertEvent('a', { team: 'weekend-muted' }, 'firing', t),
    alertEvent('b', { team: 'office-hours' }, 'firing', t),
    alertEvent('c', { team: 'nights-ny' }, 'firing', t), // 10:00 UTC = 06:00 EDT: muted
    alertEvent('d', { team: 'other' }, 'firing', t),
  ]);
  await sleep(700);
  assert.deepEqual(
    hook
      .delivered()
      .map((r) => (parseWebhook(r).body['commonLabels'] as Record<string, string>)['alertname']),
    ['d'],
  );
  const muted = d.listAlerts({ state: 'suppressed' }).map((a) => [a.labels['alertname'], a.status.mutedBy]);
  assert.deepEqual(muted.sort(), [
    ['a', ['weekends']],
    ['b', ['not in office']],
    ['c', ['ny-night']],
  ]);
});

test('history and listing survive a restart', async () => {
  const state = await tempStateDir();
  cleanups.push(state.cleanup);
  const config = loadAlerting(`
alerting:
  route: { receiver: quiet, group_wait: 1h }
  receivers: [{ name: quiet }]
`);
  const make = () =>
    createAlertDispatcher({
      config,
      stateDir: state.dir,
      logger: testLogger(),
      externalUrl: 'http://vigil.test',
    });
  const d1 = make();
  await d1.start();
  const t = Date.now() - 5000;
  d1.receive([alertEvent('cpu', { host: 'a' }, 'pending', t)]);
  d1.receive([
    alertEvent('cpu', { host: 'a' }, 'firing', t + 1000),
    alertEvent('cpu', { host: 'b' }, 'firing', t),
  ]);
  d1.receive([alertEvent('cpu', { host: 'b' }, 'resolved', t, { endsAt: t + 2000 })]);
  assert.deepEqual(
    d1.listAlerts().map((a) => [a.labels['host'], a.lifecycle]),
    [['a', 'firing']],
  );
  await d1.close();
  const d2 = make();
  await d2.start();
  const h = d2.history();
  assert.deepEqual(
    h.map((e) => [e.labels['host'], e.status]),
    [
      ['b', 'resolved'],
      ['b', 'firing'],
      ['a', 'firing'],
    ],
  );
  assert.equal(h[0]!.endsAt, new Date(t + 2000).toISOString());
  // A resync of the open alert adds no history entry.
  d2.receive([alertEvent('cpu', { host: 'a' }, 'firing', t + 1000)], { resync: true });
  assert.equal(d2.history().length, 3);
  assert.equal(d2.history({ fingerprint: h[2]!.fingerprint }).length, 1);
  await d2.close();
});
