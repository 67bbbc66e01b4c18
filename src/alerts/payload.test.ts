import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emailSubject } from './email.js';
import { needsUpdate, type NflogEntry } from './nflog.js';
import {
  alertmanagerBody,
  alertsContent,
  buildNotificationData,
  idempotencyKey,
  signatureHeader,
  webhookBody,
  type GroupAlert,
} from './payload.js';
import { retryDelayMs } from './retry.js';
import { DeliveryError } from './errors.js';

const T = Date.parse('2025-03-14T16:30:00Z');
const alert = (host: string, status: 'firing' | 'resolved', extra: Partial<GroupAlert> = {}): GroupAlert => ({
  fingerprint: host === 'a' ? 'aaaaaaaaaaaaaaaa' : 'bbbbbbbbbbbbbbbb',
  labels: { alertname: 'cpu', service: 'api', host },
  annotations: { summary: 'cpu is high', runbook: 'https://runbooks/cpu' },
  status,
  startsAt: T,
  ...(status === 'resolved' ? { endsAt: T + 60_000 } : {}),
  seriesKey: `cpu{host="${host}",service="api"}`,
  flapping: false,
  explanation: {
    ts: T,
    actual: 97.5,
    expected: 41,
    lower: 30,
    upper: 52,
    score: 0.99,
    stage: 'forecast',
    periodsMs: [86_400_000, 604_800_000],
    bandCoverage: 0.99,
  },
  updatedAt: T,
  ...extra,
});

describe('webhook body (Alertmanager version 4 + vigil)', () => {
  const data = buildNotificationData({
    receiver: 'team',
    groupKey: '{}:{alertname="cpu"}',
    groupLabels: { alertname: 'cpu' },
    alerts: [
      alert('a', 'firing'),
      alert('b', 'resolved', { explanation: { ...alert('b', 'resolved').explanation, expected: NaN } }),
    ],
    externalURL: 'https://vigil.example',
  });

  test('golden body', () => {
    assert.deepEqual(JSON.parse(webhookBody(data, 0)), {
      receiver: 'team',
      status: 'firing',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'cpu', host: 'a', service: 'api' },
          annotations: { runbook: 'https://runbooks/cpu', summary: 'cpu is high' },
          startsAt: '2025-03-14T16:30:00.000Z',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: 'https://vigil.example/?series=cpu%7Bhost%3D%22a%22%2Cservice%3D%22api%22%7D',
          fingerprint: 'aaaaaaaaaaaaaaaa',
          vigil: {
            seriesKey: 'cpu{host="a",service="api"}',
            observedAt: '2025-03-14T16:30:00.000Z',
            actual: 97.5,
            expected: 41,
            lower: 30,
            upper: 52,
            bandCoverage: 0.99,
            score: 0.99,
            stage: 'forecast',
            periodsMs: [86_400_000, 604_800_000],
            periods: ['1d', '1w'],
            flapping: false,
          },
        },
        {
          status: 'resolved',
          labels: { alertname: 'cpu', host: 'b', service: 'api' },
          annotations: { runbook: 'https://runbooks/cpu', summary: 'cpu is high' },
          startsAt: '2025-03-14T16:30:00.000Z',
          endsAt: '2025-03-14T16:31:00.000Z',
          generatorURL: 'https://vigil.example/?series=cpu%7Bhost%3D%22b%22%2Cservice%3D%22api%22%7D',
          fingerprint: 'bbbbbbbbbbbbbbbb',
          vigil: {
            seriesKey: 'cpu{host="b",service="api"}',
            observedAt: '2025-03-14T16:30:00.000Z',
            actual: 97.5,
            expected: null,
            lower: 30,
            upper: 52,
            bandCoverage: 0.99,
            score: 0.99,
            stage: 'forecast',
            periodsMs: [86_400_000, 604_800_000],
            periods: ['1d', '1w'],
            flapping: false,
          },
        },
      ],
      groupLabels: { alertname: 'cpu' },
      commonLabels: { alertname: 'cpu', service: 'api' },
      commonAnnotations: { runbook: 'https://runbooks/cpu', summary: 'cpu is high' },
      externalURL: 'https://vigil.example',
      version: '4',
      groupKey: '{}:{alertname="cpu"}',
      truncatedAlerts: 0,
    });
  });

  test('max_alerts truncates and counts', () => {
    const b = JSON.parse(webhookBody(data, 1)) as { alerts: unknown[]; truncatedAlerts: number };
    assert.equal(b.alerts.length, 1);
    assert.equal(b.truncatedAlerts, 1);
  });

  test('Alertmanager v2 postable alerts', () => {
    const b = JSON.parse(alertmanagerBody(data, T + 1000, 300_000)) as Record<string, unknown>[];
    assert.deepEqual(b[0], {
      labels: { alertname: 'cpu', host: 'a', service: 'api' },
      annotations: {
        runbook: 'https://runbooks/cpu',
        summary: 'cpu is high',
        vigil_actual: '97.5',
        vigil_expected: '41',
        vigil_lower: '30',
        vigil_upper: '52',
        vigil_score: '0.99',
        vigil_stage: 'forecast',
        vigil_periods: '1d,1w',
      },
      startsAt: '2025-03-14T16:30:00.000Z',
      endsAt: '2025-03-14T16:35:01.000Z',
      generatorURL: 'https://vigil.example/?series=cpu%7Bhost%3D%22a%22%2Cservice%3D%22api%22%7D',
    });
    assert.equal(b[1]!['endsAt'], '2025-03-14T16:31:00.000Z');
    assert.equal((b[1]!['annotations'] as Record<string, string>)['vigil_expected'], undefined);
  });

  test('email subject follows Alertmanager’s default template', () => {
    assert.equal(emailSubject(data), '[FIRING:1] cpu (api)');
    const resolved = buildNotificationData({
      receiver: 'team',
      groupKey: 'k',
      groupLabels: { alertname: 'cpu', service: 'api' },
      alerts: [alert('a', 'resolved')],
      externalURL: '',
    });
    assert.equal(emailSubject(resolved), '[RESOLVED] cpu api (a)');
  });
});

test('idempotency keys: equal for equal content, distinct per repeat, integration and group', () => {
  const content = alertsContent([alert('b', 'firing'), alert('a', 'firing')]);
  assert.equal(content, alertsContent([alert('a', 'firing'), alert('b', 'firing')]), 'order does not matter');
  const k0 = idempotencyKey('team/webhook/0', 'g', content, 0);
  assert.match(k0, /^[0-9a-f]{32}$/);
  assert.equal(idempotencyKey('team/webhook/0', 'g', content, 0), k0);
  assert.notEqual(idempotencyKey('team/webhook/0', 'g', content, 1), k0);
  assert.notEqual(idempotencyKey('team/webhook/1', 'g', content, 0), k0);
  assert.notEqual(idempotencyKey('team/webhook/0', 'h', content, 0), k0);
  assert.notEqual(idempotencyKey('team/webhook/0', 'g', alertsContent([alert('a', 'resolved')]), 0), k0);
});

test('signature header: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<body>")', () => {
  // Known answer: printf '1741969800.{"a":1}' | openssl dgst -sha256 -hmac s3cret
  assert.equal(
    signatureHeader('s3cret', '{"a":1}', 1_741_969_800_123),
    't=1741969800,v1=c47d5283bef0dd7f75d3c9b224fcb33a53968c9564f1ab698478ab96ac4e5e2e',
  );
});

describe('dedup (Alertmanager needsUpdate)', () => {
  const entry = (firing: string[], resolved: string[], timestamp: number): NflogEntry => ({
    groupKey: 'g',
    integration: 'i',
    firing,
    resolved,
    timestamp,
    contentHash: '',
    repeat: 0,
  });
  const S = (...x: string[]): Set<string> => new Set(x);
  const cases: [string, NflogEntry | undefined, Set<string>, Set<string>, boolean, string][] = [
    ['nothing notified yet, firing', undefined, S('a'), S(), true, 'first notification'],
    ['nothing notified yet, only resolved', undefined, S(), S('a'), true, 'none'],
    ['a new firing alert', entry(['a'], [], T), S('a', 'b'), S(), true, 'new alerts added'],
    ['firing after all resolved', entry([], ['a'], T), S('a'), S(), true, 'first notification'],
    ['all resolved', entry(['a'], [], T), S(), S('a'), false, 'all alerts resolved'],
    ['fired and resolved within an interval', entry([], [], T), S(), S('a'), true, 'none'],
    ['some resolved, send_resolved', entry(['a', 'b'], [], T), S('a'), S('b'), true, 'some alerts resolved'],
    ['some resolved, no send_resolved', entry(['a', 'b'], [], T), S('a'), S('b'), false, 'none'],
    ['unchanged within repeat_interval', entry(['a'], [], T), S('a'), S(), true, 'none'],
    [
      'unchanged after repeat_interval',
      entry(['a'], [], T - 3_600_000),
      S('a'),
      S(),
      true,
      'repeat interval elapsed',
    ],
  ];
  for (const [name, e, firing, resolved, sendResolved, want] of cases) {
    test(name, () => assert.equal(needsUpdate(e, firing, resolved, 3_600_000, sendResolved, T), want));
  }
});

test('retry delay: capped exponential with equal jitter, at least Retry-After', () => {
  const p = { initialMs: 1000, maxMs: 60_000, giveUpAfterMs: 0 };
  assert.equal(
    retryDelayMs(p, 1, undefined, () => 0),
    500,
  );
  assert.equal(
    retryDelayMs(p, 1, undefined, () => 1),
    1000,
  );
  assert.equal(
    retryDelayMs(p, 4, undefined, () => 0.5),
    6000,
  );
  assert.equal(
    retryDelayMs(p, 30, undefined, () => 1),
    60_000,
  );
  const limited = new DeliveryError('429', 'rateLimited', true, { retryAfterMs: 120_000 });
  assert.equal(
    retryDelayMs(p, 1, limited, () => 0),
    120_000,
  );
});
