/**
 * Receivers down for "minutes", end to end through a Vigil process, with a kill -9 in the middle
 * of the outage: ingest → anomaly → alert → webhook receiver down (connection refused) and SMTP
 * server down (connection refused, then 451 "try again later") → Vigil killed and restarted on
 * the same state directory → more alerts fire during the outage → receivers come back → every
 * expected alert is delivered on both channels, no alert that was not expected arrives, and any
 * duplicate delivery of an alert carries the same Idempotency-Key as its first delivery.
 *
 * Time is compressed by config: retry backoff 50 ms doubling to 400 ms, so the ~8 s outage is
 * about 20 failed attempts per notification, what 1 s → 5 min backoff makes of hours. Receivers:
 * test/support/http-receiver.ts (node:http) and test/support/smtp.ts (npm smtp-server), both on
 * 127.0.0.1; Vigil: test/support/vigil-process.ts (stopped by its pid).
 *
 * Run alone: npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/faults/alert-outage.test.js
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprint } from '../../src/alerts/index.js';
import { loadVigilConfigText } from '../../src/app/config.js';
import { createLogger } from '../../src/app/logger.js';
import { startVigil } from '../../src/app/main.js';
import { alertEvent } from '../alerts/helpers.js';
import { startHttpReceiver } from '../support/http-receiver.js';
import { dailySeries } from '../support/series.js';
import { startSmtpSink, textOf } from '../support/smtp.js';
import { startVigilProcess, waitFor, type VigilProcess } from '../support/vigil-process.js';
import { newCounters, processedTotal, reportAndCheck, sendUntilAnswered } from './support/oracle.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const STEP = 5 * 60_000;
const END = Date.now() - 24 * 3_600_000;
const SERIES = ['s0', 's1', 's2', 's3'];
const METRIC = 'orders_total';

interface Notification {
  integrationType: string;
  status: string;
  attemptCount: number;
}

test(
  'receivers down with a kill -9 mid-outage: every alert delivered after recovery, duplicates only under one key',
  { timeout: 300_000 },
  async () => {
    const hook = await startHttpReceiver();
    const smtp = await startSmtpSink();
    cleanups.push(
      () => hook.close(),
      () => smtp.close(),
    );
    // The outage starts before any alert exists.
    await hook.down();
    await smtp.mode('refuse');
    const outageStart = Date.now();
    /** Shortest outage: with 50 ms → 400 ms backoff, about 20 failed attempts per notification. */
    const OUTAGE_MS = 8_000;

    const config = `
runtime:
  workers: 2
  checkpoint_interval: 1s
security:
  outbound_allowlist: ['127.0.0.1']
alerting:
  lifecycle:
    for: 0s
    keep_firing_for: 30m
  route:
    receiver: ops
    group_by: [alertname, service]
    group_wait: 50ms
    group_interval: 200ms
    repeat_interval: 1h
  receivers:
    - name: ops
      webhook_configs:
        - url: ${hook.url}/hook
          timeout: 500ms
      email_configs:
        - to: oncall@example.com
          from: vigil@example.com
          smarthost: ${smtp.smarthost}
          require_tls: false
          timeout: 1s
          chart: false
  retry:
    initial_backoff: 50ms
    max_backoff: 400ms
    give_up_after: 0s
`;
    let vigil: VigilProcess = await startVigilProcess({ configYaml: config });
    cleanups.push(() => vigil.stop());
    const stateDir = vigil.stateDir;
    const c = newCounters();
    const url = () => vigil.url;
    const keys = SERIES.map((s) => `${METRIC}{service="${s}"}`);

    // A week of normal 5-minute data per series, then a spike (ten times the daily amplitude).
    for (const [i, s] of SERIES.entries()) {
      const points = dailySeries(2016, STEP, END, i + 1);
      for (let k = 0; k < points.length; k += 500)
        await sendUntilAnswered(
          url,
          points
            .slice(k, k + 500)
            .map((p) => ({ metric: METRIC, labels: { service: s }, ts: p.ts, value: p.value })),
          c,
        );
    }
    const spike = (s: string) =>
      sendUntilAnswered(url, [{ metric: METRIC, labels: { service: s }, ts: END + STEP, value: 6000 }], c);
    const expected = new Set(SERIES.map((s) => fingerprint({ alertname: METRIC, service: s })));

    // Two alerts fire during the outage; their notifications go to the outbox and are retried.
    await spike('s0');
    await spike('s1');
    const retrying = async (n: number) =>
      waitFor(
        async () => {
          const r = await fetch(`${vigil.url}/api/v1/notifications?status=retrying`);
          const list = ((await r.json()) as { notifications: Notification[] }).notifications;
          const ok = ['webhook', 'email'].every(
            (t) => list.filter((x) => x.integrationType === t && x.attemptCount >= 3).length >= n,
          );
          return ok ? list : undefined;
        },
        30_000,
        `${n} notifications per channel retrying`,
      );
    await retrying(2);
    // SMTP comes back answering 451 (temporary): still retried, still not delivered.
    await smtp.mode('tempfail');
    await smtp.waitFor(() => smtp.rejected.temp >= 2, 10_000, 'two 451 answers');

    // kill -9 in the middle of the outage, restart on the same state directory.
    await vigil.kill9();
    vigil = await startVigilProcess({ configYaml: config, stateDir });
    // Two more alerts fire after the restart, still during the outage.
    await spike('s2');
    await spike('s3');
    await retrying(4);
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - outageStart))));
    const attemptsAtEnd = (
      (await (await fetch(`${vigil.url}/api/v1/notifications?status=retrying`)).json()) as {
        notifications: Notification[];
      }
    ).notifications.map((n) => n.attemptCount);
    const outageEnd = Date.now();

    await hook.up();
    await smtp.mode('accept');

    const hookAlerts = () =>
      hook.delivered().flatMap((r) => {
        const body = JSON.parse(r.body) as { alerts: { fingerprint: string; status: string }[] };
        return body.alerts
          .filter((a) => a.status === 'firing')
          .map((a) => ({ fp: a.fingerprint, key: String(r.headers['idempotency-key']) }));
      });
    const mailAlerts = () =>
      smtp.messages.flatMap((m) =>
        [...textOf(m).matchAll(/fingerprint ([0-9a-f]{16})/g)].map((x) => ({
          fp: x[1] as string,
          key: m.headers.get('x-vigil-idempotency-key') ?? '',
        })),
      );
    await waitFor(
      async () => {
        const h = new Set(hookAlerts().map((a) => a.fp));
        const m = new Set(mailAlerts().map((a) => a.fp));
        if (![...expected].every((fp) => h.has(fp) && m.has(fp))) return undefined;
        const r = await fetch(`${vigil.url}/api/v1/notifications`);
        const list = ((await r.json()) as { notifications: Notification[] }).notifications;
        return list.every((n) => n.status === 'delivered') ? true : undefined;
      },
      60_000,
      'every alert delivered on both channels and the outbox empty',
    );
    const recoverySeconds = (Date.now() - outageEnd) / 1000;

    let delivered = 0;
    let duplicates = 0;
    for (const [channel, list] of [
      ['webhook', hookAlerts()],
      ['email', mailAlerts()],
    ] as const) {
      const byFp = new Map<string, string[]>();
      for (const a of list) byFp.set(a.fp, [...(byFp.get(a.fp) ?? []), a.key]);
      for (const [fp, idempotencyKeys] of byFp) {
        assert.ok(expected.has(fp), `${channel}: alert ${fp} was not expected (spurious)`);
        assert.equal(
          new Set(idempotencyKeys).size,
          1,
          `${channel}: duplicates of ${fp} share one Idempotency-Key`,
        );
        delivered++;
        duplicates += idempotencyKeys.length - 1;
      }
    }
    const processed = await processedTotal(vigil.url, keys);
    reportAndCheck({
      test: 'receivers-down-with-kill9',
      accepted: c.accepted + c.duplicates,
      rejected: c.rejected,
      processed,
      deadLettered: 0,
      alertsExpected: expected.size * 2,
      alertsDelivered: delivered,
      duplicates,
      recoverySeconds,
      extra: {
        outage_s: ((outageEnd - outageStart) / 1000).toFixed(1),
        attempts_per_notification_at_recovery: `${Math.min(...attemptsAtEnd)}..${Math.max(...attemptsAtEnd)}`,
        webhook_requests: hook.requests.length,
        smtp_451: smtp.rejected.temp,
        ingest_503: c.unavailable,
        connection_errors: c.connectionErrors,
      },
    });
    await vigil.stop();
  },
);

test(
  'kill -9 while a webhook delivery is in flight: delivered again after restart, under the same Idempotency-Key',
  { timeout: 120_000 },
  async () => {
    const hook = await startHttpReceiver();
    cleanups.push(() => hook.close());
    // A slow receiver: the request arrives, the answer comes 3 s later — after Vigil is dead.
    hook.behave({ kind: 'status', status: 200, delayMs: 3000 });
    const config = `
runtime:
  workers: 1
  checkpoint_interval: 1s
security:
  outbound_allowlist: ['127.0.0.1']
alerting:
  lifecycle: { for: 0s, keep_firing_for: 30m }
  route: { receiver: ops, group_by: [alertname, service], group_wait: 50ms, group_interval: 200ms, repeat_interval: 1h }
  receivers:
    - name: ops
      webhook_configs: [{ url: '${hook.url}/hook', timeout: 10s }]
  retry: { initial_backoff: 50ms, max_backoff: 400ms, give_up_after: 0s }
`;
    let vigil = await startVigilProcess({ configYaml: config });
    cleanups.push(() => vigil.stop());
    const stateDir = vigil.stateDir;
    const c = newCounters();
    const points = dailySeries(2016, STEP, END, 7);
    for (let k = 0; k < points.length; k += 500)
      await sendUntilAnswered(
        () => vigil.url,
        points
          .slice(k, k + 500)
          .map((p) => ({ metric: METRIC, labels: { service: 'inflight' }, ts: p.ts, value: p.value })),
        c,
      );
    await sendUntilAnswered(
      () => vigil.url,
      [{ metric: METRIC, labels: { service: 'inflight' }, ts: END + STEP, value: 6000 }],
      c,
    );
    await hook.waitFor(() => hook.requests.length >= 1, 30_000, 'the delivery to arrive');
    await vigil.kill9(); // the receiver has the alert; Vigil never learns it did
    hook.behave({ kind: 'status', status: 200 });
    vigil = await startVigilProcess({ configYaml: config, stateDir });
    const killedAt = Date.now();
    await hook.waitFor(
      () => hook.requests.length >= 2,
      30_000,
      'the delivery to be repeated after the restart',
    );
    await waitFor(
      async () => {
        const r = await fetch(`${vigil.url}/api/v1/notifications`);
        const list = ((await r.json()) as { notifications: Notification[] }).notifications;
        return list.length > 0 && list.every((n) => n.status === 'delivered') ? true : undefined;
      },
      30_000,
      'the outbox to be empty',
    );
    const recoverySeconds = (Date.now() - killedAt) / 1000;
    const deliveries = hook.requests.map((r) => ({
      key: String(r.headers['idempotency-key']),
      fps: (JSON.parse(r.body) as { alerts: { fingerprint: string; status: string }[] }).alerts
        .filter((a) => a.status === 'firing')
        .map((a) => a.fingerprint),
    }));
    const expected = fingerprint({ alertname: METRIC, service: 'inflight' });
    const firing = deliveries.filter((d) => d.fps.includes(expected));
    assert.ok(
      deliveries.every((d) => d.fps.every((fp) => fp === expected)),
      'no other alert delivered',
    );
    assert.equal(
      new Set(firing.map((d) => d.key)).size,
      1,
      'every delivery carries the same Idempotency-Key',
    );
    const processed = await processedTotal(vigil.url, [`${METRIC}{service="inflight"}`]);
    reportAndCheck({
      test: 'kill9-during-delivery',
      accepted: c.accepted + c.duplicates,
      rejected: c.rejected,
      processed,
      deadLettered: 0,
      alertsExpected: 1,
      alertsDelivered: new Set(firing.flatMap((d) => d.fps)).size,
      duplicates: firing.length - 1,
      recoverySeconds,
      extra: { webhook_requests: hook.requests.length },
    });
    assert.ok(firing.length >= 2, 'at-least-once: the in-flight delivery was repeated');
    await vigil.stop();
  },
);

test(
  'a receiver down for longer than give_up_after: the notification is given up, recorded as failed (expired), not retried forever',
  { timeout: 60_000 },
  async () => {
    const hook = await startHttpReceiver();
    cleanups.push(() => hook.close());
    await hook.down();
    const dir = mkdtempSync(join(tmpdir(), 'vigil-giveup-'));
    const node = await startVigil(
      loadVigilConfigText(`
state_dir: ${dir}
server: { port: 0 }
runtime: { workers: 1 }
security: { outbound_allowlist: ['127.0.0.1'] }
alerting:
  route: { receiver: ops, group_by: [alertname], group_wait: 10ms, group_interval: 100ms, repeat_interval: 1h }
  receivers:
    - name: ops
      webhook_configs: [{ url: '${hook.url}/hook', timeout: 200ms }]
  retry: { initial_backoff: 50ms, max_backoff: 200ms, give_up_after: 1s }
`),
      { logger: createLogger('silent') },
    );
    cleanups.push(() => node.close());
    node.dispatcher.receive([alertEvent('given_up', { service: 'x' }, 'firing', Date.now() - 1000)]);
    const failed = await waitFor(
      async () => {
        const r = await fetch(`${node.url}/api/v1/notifications`);
        const list = ((await r.json()) as { notifications: (Notification & { failureReason?: string })[] })
          .notifications;
        return list.find((n) => n.status === 'failed');
      },
      15_000,
      'the notification to be given up',
    );
    assert.equal(failed.failureReason, 'expired');
    await hook.up();
    await new Promise((r) => setTimeout(r, 500));
    reportAndCheck({
      test: 'receiver-down-past-give-up',
      accepted: 0,
      rejected: {},
      processed: 0,
      deadLettered: 0,
      alertsExpected: 0,
      alertsDelivered: hook.requests.length,
      duplicates: 0,
      extra: { failed: 1, failure_reason: failed.failureReason, attempts: failed.attemptCount },
    });
  },
);
