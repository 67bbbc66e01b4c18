/**
 * The detection engine inside the production keyed operator, through the in-process harness
 * (createAnomalyOperator + createOperatorHarness: the code the workers run). No servers.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  createAnomalyOperator,
  type AnomalyOutput,
  type SeriesStatus,
} from '../../src/operators/anomaly-operator.js';
import { createOperatorHarness, type KeyedOutput } from '../../src/keyed-runtime/index.js';
import { defaultDetectionConfig } from '../../src/operators/anomaly/index.js';
import { createPrng } from '../../src/detectors/index.js';

const STEP = 300_000;
const T0 = Date.UTC(2024, 0, 1);
const KEY = 'http_requests{job="api"}';

function harness() {
  const operator = createAnomalyOperator({
    detection: defaultDetectionConfig(),
    lifecycle: { forMs: 0, keepFiringForMs: 300_000 },
  });
  return createOperatorHarness(operator);
}

function gauss(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(rng(), 1e-12))) * Math.cos(2 * Math.PI * rng());
}

/** Daily pattern + noise; `edit` may change sample i. */
function feed(
  h: ReturnType<typeof harness>,
  from: number,
  to: number,
  edit: (i: number, v: number) => number = (_, v) => v,
  seed = 1,
) {
  const rng = createPrng(seed + from);
  const events: KeyedOutput<AnomalyOutput>[] = [];
  const statuses: SeriesStatus[] = [];
  for (let i = from; i < to; i++) {
    const v = edit(i, 100 + 30 * Math.sin((2 * Math.PI * i) / 288) + 2 * gauss(rng));
    events.push(...h.push(KEY, T0 + i * STEP, v));
    statuses.push(h.query<SeriesStatus>(KEY, { kind: 'status' })!);
  }
  return { events, statuses };
}

describe('anomaly operator with the detection engine', () => {
  test('cold start: no alerts and score 0 while warming up; no operator errors', () => {
    const h = harness();
    const { events, statuses } = feed(h, 0, 99);
    assert.equal(events.length, 0);
    assert.ok(statuses.every((s) => s.lastScore === 0 && s.alertState === 'inactive'));
    assert.deepEqual(h.errors, []);
  });

  test('a spike fires an alert with its explanation, which resolves after keep_firing_for', () => {
    const h = harness();
    const quiet = feed(h, 0, 1500);
    // at most one false alarm in ~800 scored normal samples (p ≈ 3e-5 per sample and stage)
    const falseAlarms = quiet.events.filter(
      (e) => e.output.event.status === 'firing' && e.output.event.startsAt > T0 + 700 * STEP,
    );
    assert.ok(falseAlarms.length <= 1, `${falseAlarms.length} false alarms`);
    const spike = feed(h, 1500, 1510, (i, v) => (i === 1500 ? v + 60 : v));
    const firing = spike.events.find((e) => e.output.event.status === 'firing');
    assert.ok(firing, 'a firing event');
    const ev = firing.output.event;
    assert.equal(ev.startsAt, T0 + 1500 * STEP);
    assert.equal(ev.seriesKey, KEY);
    assert.ok(ev.explanation.score >= 0.5);
    assert.ok(['dbscan', 'range'].includes(ev.explanation.stage), ev.explanation.stage);
    assert.ok(ev.explanation.actual > ev.explanation.upper);
    assert.deepEqual(ev.explanation.periodsMs, [86_400_000]);
    assert.ok(spike.events.some((e) => e.output.event.status === 'resolved'));
    assert.deepEqual(h.errors, []);
  });

  test('a level shift alerts at its onset, refits at once, and stops alerting after', () => {
    const h = harness();
    feed(h, 0, 2000);
    const shifted = feed(h, 2000, 2600, (_, v) => v + 40);
    const firing = shifted.events.filter((e) => e.output.event.status === 'firing');
    assert.ok(
      firing.length >= 1 && firing[0]!.output.event.startsAt <= T0 + 2003 * STEP,
      'alert at the onset',
    );
    assert.ok(
      firing.every((e) => e.output.event.startsAt < T0 + 2050 * STEP),
      'no alert long after the shift',
    );
    assert.equal(shifted.statuses[shifted.statuses.length - 1]!.alertState, 'inactive');
    const desc = h.query<{ points: { expected: number; value: number }[] }>(KEY, {
      kind: 'describe',
      maxPoints: 10,
    })!;
    const last = desc.points[desc.points.length - 1]!;
    assert.ok(Math.abs(last.expected - last.value) < 15, `expected ${last.expected} vs ${last.value}`);
  });

  test('gaps: a day without samples, then scoring resumes without alerts', () => {
    const h = harness();
    feed(h, 0, 1400);
    const after = feed(h, 1688, 2300);
    // no burst of alarms after the gap (one chance false alarm in 600 samples is allowed)
    assert.ok(after.events.filter((e) => e.output.event.status === 'firing').length <= 1);
    assert.ok(after.statuses.every((s) => Number.isFinite(s.lastScore)));
    assert.deepEqual(h.errors, []);
  });

  test('constant series: never alerts while constant; a change alerts', () => {
    const h = harness();
    let events: KeyedOutput<AnomalyOutput>[] = [];
    for (let i = 0; i < 800; i++) events.push(...h.push(KEY, T0 + i * STEP, 42));
    assert.equal(events.length, 0);
    events = h.push(KEY, T0 + 800 * STEP, 45);
    assert.equal(events[0]?.output.event.status, 'firing');
  });

  test('the state codec writes in place exactly what encode returns (snapshots use encodeInto)', () => {
    const operator = createAnomalyOperator({
      detection: defaultDetectionConfig(),
      lifecycle: { forMs: 0, keepFiringForMs: 300_000 },
    });
    const h = createOperatorHarness(operator);
    feed(h, 0, 1500);
    const spike = feed(h, 1500, 1510, (i, v) => (i === 1500 ? v + 60 : v));
    assert.ok(
      spike.events.some((e) => e.output.event.status === 'resolved'),
      'the lifecycle moved',
    );
    const state = h.state(KEY)!;
    const bytes = operator.codec.encode(state);
    const codec = operator.codec;
    assert.ok('byteLength' in codec && 'encodeInto' in codec);
    assert.equal(codec.byteLength?.(state), bytes.length);
    const out = new Uint8Array(bytes.length + 5).fill(0xff);
    codec.encodeInto?.(state, out, 3);
    assert.deepEqual(out.subarray(3, 3 + bytes.length), bytes);
    assert.deepEqual([out[2], out[3 + bytes.length]], [0xff, 0xff]);
  });

  test('duplicate and out-of-order samples are dropped before the engine; state survives a checkpoint round trip', () => {
    const h = harness();
    feed(h, 0, 800);
    assert.deepEqual(h.push(KEY, T0 + 799 * STEP, 1e6), []);
    const before = h.query<SeriesStatus>(KEY, { kind: 'status' })!;
    assert.equal(before.lastTs, T0 + 799 * STEP);
    const restored = h.roundTrip();
    const a = feed(h, 800, 900);
    const b = feed(restored, 800, 900);
    assert.deepEqual(
      a.statuses.map((s) => s.lastScore),
      b.statuses.map((s) => s.lastScore),
    );
  });
});
