/**
 * Shared helpers of the alerting integration tests: config through the real loader (YAML →
 * schema → semantic checks), alert events, a temp state dir, and the delivery oracle that every
 * fault test prints: `alerts expected=…, delivered=…, duplicates=…`.
 *
 * Set VIGIL_TEST_LOG=debug to see the dispatcher's logs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { pino, type Logger } from 'pino';
import {
  AlertingConfigSchema,
  checkAlertingConfig,
  fingerprint,
  type AlertEvent,
  type AlertingConfig,
  type RecentPoint,
} from '../../src/alerts/index.js';
import { loadConfigText } from '../../src/app/config-loader.js';
import type { ReceivedRequest } from '../support/http-receiver.js';

const Root = Type.Object({ alerting: AlertingConfigSchema }, { additionalProperties: false });

/** Loads `alerting:` YAML through the real config loader (defaults, secrets, checks). */
export function loadAlerting(yaml: string, env: Record<string, string> = {}): AlertingConfig {
  const cfg = loadConfigText(Root, {
    file: 'test.yaml',
    text: yaml,
    baseDir: process.cwd(),
    env,
    check: (c) => checkAlertingConfig(c.alerting).map((i) => ({ ...i, path: ['alerting', ...i.path] })),
  });
  return cfg.alerting;
}

export function testLogger(): Logger {
  return pino({ level: process.env['VIGIL_TEST_LOG'] ?? 'silent' });
}

export async function tempStateDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-alerts-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 5 }) };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Builds an alert event for `labels` (plus alertname). */
export function alertEvent(
  alertname: string,
  labels: Record<string, string>,
  status: AlertEvent['status'],
  startsAt: number,
  extra: { endsAt?: number; flapping?: boolean; actual?: number; recent?: RecentPoint[] } = {},
): AlertEvent {
  const all = { ...labels, alertname };
  const actual = extra.actual ?? 97.5;
  return {
    fingerprint: fingerprint(all),
    labels: all,
    annotations: { summary: `${alertname} is above its expected range` },
    status,
    startsAt,
    ...(status === 'resolved' ? { endsAt: extra.endsAt ?? startsAt + 1000 } : {}),
    seriesKey: `${alertname}{${Object.entries(labels)
      .sort()
      .map(([k, v]) => `${k}="${v}"`)
      .join(',')}}`,
    flapping: extra.flapping ?? false,
    explanation: {
      ts: startsAt,
      actual,
      expected: 41,
      lower: 30,
      upper: 52,
      score: 0.99,
      stage: 'forecast',
      periodsMs: [86_400_000],
      bandCoverage: 0.99,
    },
    ...(extra.recent ? { recent: extra.recent } : {}),
  };
}

/** The alerts of one delivered webhook request. */
export interface WebhookDelivery {
  readonly key: string;
  readonly groupKey: string;
  readonly status: string;
  readonly reason: string;
  /** `fingerprint:startsAt:status` per alert. */
  readonly alerts: readonly string[];
  readonly body: Record<string, unknown>;
}

interface WebhookAlertJson {
  fingerprint: string;
  startsAt: string;
  status: string;
}

export function parseWebhook(r: ReceivedRequest): WebhookDelivery {
  const body = JSON.parse(r.body) as Record<string, unknown> & { alerts: WebhookAlertJson[] };
  return {
    key: String(r.headers['idempotency-key']),
    groupKey: String(body['groupKey']),
    status: String(body['status']),
    reason: String(r.headers['x-vigil-notification-reason']),
    alerts: body.alerts.map((a) => `${a.fingerprint}:${Date.parse(a.startsAt)}:${a.status}`),
    body,
  };
}

/** `fingerprint:startsAt:status` of an event (what a receiver must eventually see). */
export const alertId = (e: AlertEvent): string =>
  `${e.fingerprint}:${e.startsAt}:${e.status === 'resolved' ? 'resolved' : 'firing'}`;

/**
 * The fault-test oracle (kafka-and-state.md §5.4 I3): every expected alert delivered, nothing
 * unexpected, and every duplicate delivery is a repeat of an idempotency key with identical
 * content. Prints one line and returns the figures.
 */
export function checkDeliveries(
  name: string,
  expected: ReadonlySet<string>,
  deliveries: readonly { key: string; alerts: readonly string[] }[],
  opts: { readonly resends?: boolean } = {},
): { expected: number; delivered: number; duplicates: number } {
  const delivered = new Set<string>();
  const byKey = new Map<string, string>();
  let duplicates = 0;
  for (const d of deliveries) {
    for (const a of d.alerts) delivered.add(a);
    const content = [...d.alerts].sort().join(',');
    const seen = byKey.get(d.key);
    if (seen !== undefined) {
      duplicates++;
      assert.equal(content, seen, `${name}: a duplicate under key ${d.key} carries different alerts`);
    } else byKey.set(d.key, content);
  }
  // Distinct keys never carry the same content (no duplicate under a fresh key), except for a
  // forwarder that re-sends firing alerts on purpose (the Alertmanager receiver).
  const contents = [...byKey.values()];
  if (!opts.resends) {
    assert.equal(
      new Set(contents).size,
      contents.length,
      `${name}: the same alerts were sent under two idempotency keys`,
    );
  }
  console.log(
    `${name}: alerts expected=${expected.size}, delivered=${delivered.size}, duplicates=${duplicates}`,
  );
  assert.deepEqual(
    [...delivered].sort(),
    [...expected].sort(),
    `${name}: delivered alerts differ from expected`,
  );
  return { expected: expected.size, delivered: delivered.size, duplicates };
}
