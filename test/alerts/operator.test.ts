// The keyed anomaly operator with the alerting config (in-process harness, the same operator
// code the workers run): per-route detection overrides, silenced samples kept out of training,
// the state codec, and flapping end to end (operator → dispatcher → real HTTP receiver).
//
// The detection engine adapts to repeated spikes within a few samples. Where a test needs the
// same spike to stay anomalous (flapping), it broadcasts a silence to the operator only: the
// series is then scored against its pre-spike model without learning (that is what a silence
// does to training), while the dispatcher, which has no such silence, still notifies.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { seriesKey } from '../../src/common/index.js';
import {
  createAlertDispatcher,
  type AlertEvent,
  type AlertingConfig,
  type SilencesBroadcast,
} from '../../src/alerts/index.js';
import { createOperatorHarness } from '../../src/keyed-runtime/index.js';
import { defaultDetectionConfig } from '../../src/operators/anomaly/index.js';
import {
  createAnomalyOperator,
  type AnomalyOutput,
  type SeriesStatus,
} from '../../src/operators/anomaly-operator.js';
import { startHttpReceiver } from '../support/http-receiver.js';
import { loadAlerting, parseWebhook, sleep, tempStateDir, testLogger } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const MIN = 60_000;
const T0 = Date.parse('2025-03-10T00:00:00Z');
const detection = defaultDetectionConfig({ min_history: 32, suppress_for: '0' });
const WARMUP = 40;
/** Deterministic noise around `level` (±0.2). */
const noisy = (i: number, level = 10): number => level + (((i * 7) % 5) - 2) * 0.1;

function harness(alerting: AlertingConfig | undefined) {
  const op = createAnomalyOperator({ detection, ...(alerting ? { alerting } : {}), recentPoints: 30 });
  return createOperatorHarness(op, { startMs: T0 });
}
const events = (outs: { output: AnomalyOutput }[]): AlertEvent[] => outs.map((o) => o.output.event);

test('per-route detection overrides: for, direction and keep_firing_for by matcher', () => {
  const h = harness(
    loadAlerting(`
alerting:
  lifecycle: { for: 0s, keep_firing_for: 0s }
  route:
    receiver: default
    routes:
      - matchers: ['service="patient"']
        detection: { for: 10m }
      - matchers: ['service="drops-only"']
        detection: { direction: below }
      - matchers: ['service=~"sticky.*"']
        detection: { keep_firing_for: 5m }
        routes:
          - matchers: ['service="sticky-patient"']
            detection: { for: 10m }
`),
  );
  const services = ['plain', 'patient', 'drops-only', 'sticky', 'sticky-patient'];
  const keys = services.map((s) => seriesKey('latency', { service: s }));
  const emitted = new Map<string, string[]>();
  for (let i = 0; i < WARMUP + 10; i++) {
    for (const k of keys) {
      const v = i === WARMUP ? 20 : noisy(i); // one sample far above the band
      for (const e of events(h.push(k, T0 + i * MIN, v))) {
        const at = e.status === 'resolved' ? e.endsAt! : e.startsAt;
        emitted.set(k, [...(emitted.get(k) ?? []), `${(at - T0) / MIN - WARMUP}:${e.status}`]);
      }
    }
  }
  assert.deepEqual(emitted.get(keys[0]!), ['0:firing', '1:resolved']);
  assert.deepEqual(
    emitted.get(keys[1]!),
    ['0:pending', '1:resolved'],
    'for: 10m: a one-minute anomaly never fires',
  );
  assert.equal(emitted.get(keys[2]!), undefined, 'a spike up does not alert a drops-only route');
  assert.deepEqual(emitted.get(keys[3]!), ['0:firing', '5:resolved'], 'keep_firing_for: 5m holds it');
  assert.deepEqual(
    emitted.get(keys[4]!),
    ['0:pending', '1:resolved'],
    'a child inherits keep_firing_for and adds for',
  );
  assert.deepEqual(h.errors, []);
});

/** A silence for the operator only (see the header). */
function trainingSilence(
  matchers: { name: string; value: string }[],
  fromMs: number,
  toMs: number,
): SilencesBroadcast {
  return {
    topic: 'silences',
    silences: [
      {
        id: 'maint',
        matchers: matchers.map((m) => ({ ...m, type: '=' as const })),
        startsAt: fromMs,
        endsAt: toMs,
        createdBy: 'ops',
        comment: 'maintenance',
        updatedAt: fromMs,
        source: 'api',
      },
    ],
  };
}

test('silenced samples are scored but kept out of training', () => {
  const h = harness(loadAlerting(`alerting: { lifecycle: { keep_firing_for: 0s } }`));
  const silenced = seriesKey('queue_depth', { shard: '1' });
  const learned = seriesKey('queue_depth', { shard: '2' });
  const end = WARMUP + 120;
  h.broadcast(trainingSilence([{ name: 'shard', value: '1' }], T0 + WARMUP * MIN, T0 + end * MIN));
  const status = (k: string): SeriesStatus => h.query<SeriesStatus>(k, { kind: 'status' })!;
  // The level moves from 10 to 20 while shard 1 is silenced.
  for (let i = 0; i < end; i++)
    for (const k of [silenced, learned]) h.push(k, T0 + i * MIN, i < WARMUP ? noisy(i) : noisy(i, 20));
  assert.equal(status(learned).silenced, false);
  assert.ok(
    status(learned).lastScore < 0.5,
    `the unsilenced twin learned the new level (score ${status(learned).lastScore})`,
  );
  assert.equal(status(silenced).silenced, true);
  assert.ok(
    status(silenced).lastScore > 0.9,
    `the silenced series did not learn it (score ${status(silenced).lastScore})`,
  );
  // After the silence ends the samples are learned again.
  for (let i = end; i < end + 120; i++) h.push(silenced, T0 + i * MIN, noisy(i, 20));
  assert.equal(status(silenced).silenced, false);
  assert.ok(
    status(silenced).lastScore < 0.5,
    `learned after the silence (score ${status(silenced).lastScore})`,
  );
  // The API shape of listSilences() is accepted too (ISO times, isRegex/isEqual matchers).
  h.broadcast({
    topic: 'silences',
    silences: [
      {
        id: 'api-shaped',
        matchers: [{ name: 'shard', value: '[12]', isRegex: true, isEqual: true }],
        startsAt: new Date(T0).toISOString(),
        endsAt: new Date(T0 + 10_000 * MIN).toISOString(),
      },
    ],
  });
  h.push(learned, T0 + (end + 1) * MIN, noisy(end + 1, 20));
  assert.equal(status(learned).silenced, true);
});

test('state codec round trip keeps the lifecycle mid-flap, and open-alert re-emits it', () => {
  const h = harness(
    loadAlerting(
      `alerting: { lifecycle: { keep_firing_for: 0s, flapping: { transitions: 3, window: 1h } } }`,
    ),
  );
  const k = seriesKey('errors', { app: 'x' });
  h.broadcast(trainingSilence([{ name: 'app', value: 'x' }], T0 + WARMUP * MIN, T0 + 10_000 * MIN));
  for (let i = 0; i < WARMUP; i++) h.push(k, T0 + i * MIN, noisy(i));
  const seen: string[] = [];
  for (let i = WARMUP; i < WARMUP + 5; i++) {
    const v = (i - WARMUP) % 2 === 0 ? 20 : noisy(i);
    for (const e of events(h.push(k, T0 + i * MIN, v)))
      seen.push(`${e.status}${e.flapping ? ':flapping' : ''}`);
  }
  assert.deepEqual(seen, ['firing', 'resolved', 'firing:flapping']);
  const restored = h.roundTrip();
  const open = restored.query<AlertEvent>(k, { kind: 'open-alert' })!;
  assert.equal(open.status, 'firing');
  assert.equal(open.flapping, true);
  assert.equal(open.startsAt, T0 + (WARMUP + 2) * MIN);
  assert.equal(open.explanation.actual, 20);
  // Both copies go on identically.
  for (let i = WARMUP + 5; i < WARMUP + 80; i++) {
    assert.deepEqual(
      events(restored.push(k, T0 + i * MIN, noisy(i))),
      events(h.push(k, T0 + i * MIN, noisy(i))),
    );
  }
});

test('flapping end to end: receivers see firing/resolved once, then nothing while it flaps, then resolved', async () => {
  const hook = await startHttpReceiver();
  const state = await tempStateDir();
  cleanups.push(() => hook.close(), state.cleanup);
  const alerting = loadAlerting(`
alerting:
  lifecycle: { for: 0s, keep_firing_for: 0s, flapping: { transitions: 4, window: 10m } }
  route: { receiver: hook, group_by: [alertname], group_wait: 30ms, group_interval: 150ms, repeat_interval: 400ms }
  receivers:
    - name: hook
      webhook_configs: [{ url: '${hook.url}' }]
`);
  const d = createAlertDispatcher({
    config: alerting,
    stateDir: state.dir,
    logger: testLogger(),
    externalUrl: 'http://vigil.test',
  });
  await d.start();
  cleanups.push(() => d.close());
  const h = harness(alerting);
  const k = seriesKey('errors', { app: 'web' });
  h.broadcast(trainingSilence([{ name: 'app', value: 'web' }], T0 + WARMUP * MIN, T0 + 10_000 * MIN));
  let i = 0;
  const push = (v: number): void => {
    d.receive(events(h.push(k, T0 + i * MIN, v)));
    i++;
  };
  for (let n = 0; n < WARMUP; n++) push(noisy(i));
  const phases: [number[], string][] = [
    [[20], 'firing'],
    [[10], 'resolved'],
    [[20], 'firing'],
    [[10], 'flapping: held firing, no notification'],
    [[20, 10, 20, 10, 20, 10], 'still flapping'],
  ];
  const statuses = (): string[] => hook.delivered().map((r) => parseWebhook(r).status);
  for (const [values] of phases) {
    for (const v of values) push(v);
    await sleep(450); // > group_interval, and > repeat_interval: a reminder would show up
  }
  assert.deepEqual(statuses(), ['firing', 'resolved', 'firing']);
  const listed = d.listAlerts();
  assert.equal(listed.length, 1);
  assert.equal(listed[0]!.flapping, true);
  assert.ok(d.history().some((e) => e.flapping && e.status === 'firing'));
  // Calm for the window: resolved (flapping over).
  for (let n = 0; n < 11; n++) push(noisy(i));
  await hook.waitFor(() => statuses().length === 4, 2000, 'final resolved');
  assert.deepEqual(statuses(), ['firing', 'resolved', 'firing', 'resolved']);
  assert.equal(d.listAlerts().length, 0);
});
