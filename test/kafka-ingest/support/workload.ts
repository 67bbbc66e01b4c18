/**
 * The Kafka tests' workload and oracles (design notes kafka-and-state.md §5.4).
 *
 * Workload: `keys` series of `n` five-minute samples (a daily cycle plus seeded noise,
 * test/support/series.ts) ending a day ago, every even key with a spike at 60 % of its history, and
 * every key with a spike as its last sample. Produced interleaved in time order, keyed by series key
 * with Kafka's default partitioner (the producer convention).
 *
 * Oracles:
 * - processed: every key's state counted every sample exactly once (`samples` of the counting
 *   operator equals what was produced for the key, no order violations);
 * - alerts: the alerts a single uninterrupted run of the same operator fires (the keyed runtime's
 *   in-process harness over the same samples) must each reach the webhook, every delivery of one
 *   alert carrying the same idempotency key (duplicates allowed only under the same id).
 */
import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';
import { seriesKey } from '../../../src/common/index.js';
import { createOperatorHarness } from '../../../src/keyed-runtime/index.js';
import {
  createAnomalyOperator,
  type AnomalyOperatorOptions,
} from '../../../src/operators/anomaly-operator.js';
import { loadVigilConfigText, type VigilConfig } from '../../../src/app/config.js';
import { dailySeries } from '../../support/series.js';
import type { ReceivedRequest } from '../../support/http-receiver.js';

export const STEP_MS = 5 * 60_000;

/**
 * Detection and alerting settings of the tests: 400 samples of warm-up (the daily cycle is learned
 * before scoring starts, so the normal data raises no alert), alerts fire at once and stay firing
 * (so each alert is one firing notification, whatever the wall-clock timing), one group per alert.
 */
export function alertingYaml(hookUrl: string): string {
  return `
detection:
  min_history: 400
alerting:
  lifecycle:
    for: 0s
    keep_firing_for: 1000d
  route:
    receiver: hook
    group_by: ['...']
    group_wait: 100ms
    group_interval: 500ms
    repeat_interval: 1000h
  receivers:
    - name: hook
      webhook_configs:
        - url: ${hookUrl}
`;
}

export interface Point {
  readonly metric: string;
  readonly labels: Record<string, string>;
  readonly key: string;
  readonly ts: number;
  readonly value: number;
}

export interface Workload {
  readonly metric: string;
  /** Series keys in creation order. */
  readonly keys: readonly string[];
  /** Every sample, interleaved across keys in time order. */
  readonly points: readonly Point[];
  /** Samples per key. */
  readonly perKey: ReadonlyMap<string, number>;
}

/** Builds the workload of `keys` series × (`n` + 1) samples. */
export function makeWorkload(
  metric: string,
  keys: number,
  n: number,
  endMs = Date.now() - 86_400_000,
): Workload {
  const series = Array.from({ length: keys }, (_, i) => {
    const labels = { service: `svc${i}`, region: 'eu' };
    const key = seriesKey(metric, labels);
    const pts = dailySeries(n, STEP_MS, endMs, i + 1).map((p, j) => ({
      metric,
      labels,
      key,
      ts: p.ts,
      value: i % 2 === 0 && j === Math.floor(n * 0.6) ? 6000 : p.value,
    }));
    pts.push({ metric, labels, key, ts: endMs + STEP_MS, value: 6000 });
    return pts;
  });
  const points: Point[] = [];
  for (let j = 0; j <= n; j++) for (const s of series) points.push(s[j] as Point);
  return {
    metric,
    keys: series.map((s) => (s[0] as Point).key),
    points,
    perKey: new Map(series.map((s) => [(s[0] as Point).key, s.length])),
  };
}

/** The config the tests' nodes run (without `ingest`), for the reference run. */
export function testConfig(hookUrl: string): VigilConfig {
  return loadVigilConfigText(alertingYaml(hookUrl));
}

/** Alert identity `fingerprint:startsAt` → series key, from one uninterrupted in-process run. */
export function referenceAlerts(points: readonly Point[], hookUrl: string): Map<string, string> {
  const config = testConfig(hookUrl);
  const opts: AnomalyOperatorOptions = { detection: config.detection, alerting: config.alerting };
  const h = createOperatorHarness(createAnomalyOperator(opts));
  const out = new Map<string, string>();
  for (const p of points) {
    for (const o of h.push(p.key, p.ts, p.value)) {
      const e = o.output.event;
      if (e.status === 'firing') out.set(`${e.fingerprint}:${e.startsAt}`, p.key);
    }
  }
  return out;
}

/** What the webhook received: firing alert identities with their idempotency keys. */
export interface Deliveries {
  /** `fingerprint:startsAt` → idempotency keys it was delivered under (one entry per delivery). */
  readonly firing: Map<string, string[]>;
  readonly total: number;
}

export function deliveries(requests: readonly ReceivedRequest[]): Deliveries {
  const firing = new Map<string, string[]>();
  let total = 0;
  for (const r of requests) {
    if (r.status < 200 || r.status >= 300) continue;
    const body = JSON.parse(r.body) as {
      alerts: { status: string; fingerprint: string; startsAt: string }[];
    };
    const id = String(r.headers['idempotency-key'] ?? '');
    for (const a of body.alerts) {
      if (a.status !== 'firing') continue;
      total++;
      const k = `${a.fingerprint}:${Date.parse(a.startsAt)}`;
      const list = firing.get(k) ?? [];
      list.push(id);
      firing.set(k, list);
    }
  }
  return { firing, total };
}

/** Alert figures of one test: expected, delivered (unique), duplicates, and alerts delivered under >1 id. */
export function alertFigures(expected: ReadonlyMap<string, string>, d: Deliveries) {
  const missing = [...expected.keys()].filter((k) => !d.firing.has(k));
  const spurious = [...d.firing.keys()].filter((k) => !expected.has(k));
  const differentIds = [...d.firing.entries()].filter(([, ids]) => new Set(ids).size > 1).map(([k]) => k);
  return {
    expected: expected.size,
    delivered: d.firing.size,
    duplicates: d.total - d.firing.size,
    missing,
    spurious,
    differentIds,
  };
}

/** A kafkajs producer following the convention (key = series key, Java-compatible partitioner, acks=-1). */
export async function conventionProducer(brokers: string[]): Promise<{ producer: Producer; kafka: Kafka }> {
  const kafka = new Kafka({ clientId: 'vigil-test-producer', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return { producer, kafka };
}

/** Produces `points` as one-sample JSON messages keyed by series key, `perSend` per request. */
export async function produceJson(
  producer: Producer,
  topic: string,
  points: readonly Point[],
  perSend = 2000,
): Promise<void> {
  for (let i = 0; i < points.length; i += perSend) {
    await producer.send({
      topic,
      acks: -1,
      messages: points.slice(i, i + perSend).map((p) => ({
        key: p.key,
        value: JSON.stringify({ metric: p.metric, labels: p.labels, ts: p.ts, value: p.value }),
      })),
    });
  }
}

/** Checks every key's count; returns the keys whose count differs, with what was found. */
export function countMismatches(
  perKey: ReadonlyMap<string, number>,
  found: ReadonlyMap<string, { samples?: number; orderViolations?: number } | undefined>,
): string[] {
  const bad: string[] = [];
  for (const [key, n] of perKey) {
    const s = found.get(key);
    if (s?.samples !== n || (s.orderViolations ?? 0) !== 0)
      bad.push(
        `${key}: expected ${n}, got ${s?.samples ?? 'none'} (order violations ${s?.orderViolations ?? 0})`,
      );
  }
  return bad;
}

/** One line per test, the figures of §5.4. */
export function report(test: string, fields: Readonly<Record<string, unknown>>): void {
  console.log(`[kafka-ingest] ${test}: ${JSON.stringify(fields)}`);
}
