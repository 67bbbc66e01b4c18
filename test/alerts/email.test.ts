// Email delivery against a real SMTP server on 127.0.0.1 (npm smtp-server, test/support/smtp.ts):
// content (subject per group, text and HTML bodies, inline PNG chart), a temporary 451 failure
// (retried), a permanent 550 (not retried), a refused connection (retried until the server is
// back), and an SMTP outage that does not delay a webhook receiver. Fault tests print
// `alerts expected=…, delivered=…, duplicates=…`.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createAlertDispatcher,
  type AlertDispatcher,
  type AlertEvent,
  type RecentPoint,
} from '../../src/alerts/index.js';
import { startHttpReceiver } from '../support/http-receiver.js';
import { mimeParts, startSmtpSink, textOf, type ReceivedMail, type SmtpSink } from '../support/smtp.js';
import {
  alertEvent,
  alertId,
  checkDeliveries,
  loadAlerting,
  parseWebhook,
  sleep,
  tempStateDir,
  testLogger,
} from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(smtp: SmtpSink): Promise<AlertDispatcher> {
  const s = await tempStateDir();
  cleanups.push(s.cleanup);
  const d = createAlertDispatcher({
    config: loadAlerting(`
alerting:
  route:
    receiver: mail
    group_by: [alertname]
    group_wait: 50ms
    group_interval: 200ms
    repeat_interval: 1h
  receivers:
    - name: mail
      email_configs:
        - to: 'oncall@example.com, lead@example.com'
          from: vigil@example.com
          smarthost: '${smtp.smarthost}'
          require_tls: false
          timeout: 2s
  retry: { initial_backoff: 30ms, max_backoff: 200ms }
`),
    stateDir: s.dir,
    logger: testLogger(),
    externalUrl: 'http://vigil.test',
    closeTimeoutMs: 500,
  });
  await d.start();
  cleanups.push(() => d.close());
  return d;
}

/** Alert ids named in a mail's text body (`fingerprint <fp>` plus the alert's start and status). */
function mailAlerts(mail: ReceivedMail, events: readonly AlertEvent[]): string[] {
  const text = textOf(mail);
  return events.filter((e) => text.includes(`fingerprint ${e.fingerprint}`)).map(alertId);
}
const mailDeliveries = (smtp: SmtpSink, events: readonly AlertEvent[]) =>
  smtp.messages.map((m) => ({
    key: m.headers.get('x-vigil-idempotency-key') ?? '',
    alerts: mailAlerts(m, events),
  }));

function recent(t: number): RecentPoint[] {
  return Array.from({ length: 60 }, (_, i) => {
    const value = i < 55 ? 40 + 5 * Math.sin(i / 4) : 95;
    return {
      ts: t - (60 - i) * 60_000,
      value,
      expected: 41,
      lower: 30,
      upper: 52,
      score: value > 52 ? 0.99 : 0.1,
    };
  });
}

test('email content: subject per group, bodies with actual vs expected and band, inline chart', async () => {
  const smtp = await startSmtpSink();
  cleanups.push(() => smtp.close());
  const d = await setup(smtp);
  const t = Date.now();
  const evs = ['a', 'b'].map((h) =>
    alertEvent('latency_p99', { host: h, service: 'api' }, 'firing', t, { recent: recent(t) }),
  );
  d.receive(evs);
  await smtp.waitFor(() => smtp.messages.length === 1, 5000, 'one email');
  const m = smtp.messages[0]!;
  assert.equal(m.subject, '[FIRING:2] latency_p99 (api)');
  assert.equal(m.from, 'vigil@example.com');
  assert.deepEqual([...m.to].sort(), ['lead@example.com', 'oncall@example.com']);
  const key = m.headers.get('x-vigil-idempotency-key')!;
  assert.match(key, /^[0-9a-f]{32}$/);
  assert.equal(m.headers.get('message-id'), `<${key}@vigil>`);
  assert.match(m.headers.get('references') ?? '', /^<group-[0-9a-f]{24}@vigil>$/);
  const text = textOf(m);
  assert.match(text, /FIRING {2}latency_p99\{host="a", service="api"\}/);
  assert.match(text, /actual 97\.5 · expected 41 · band \[30, 52\] \(99% band\)/);
  assert.match(text, /score 0\.99 \(forecast\) · periods 1d/);
  assert.match(text, /recent [▁▂▃▄▅▆▇█]{40}/);
  const parts = mimeParts(m.raw);
  const html = parts.find((p) => p.type === 'text/html')!.body.toString('utf8');
  assert.match(html, /actual 97\.5 · expected 41 · band \[30, 52\]/);
  for (const e of evs) assert.ok(html.includes(`cid:chart-${e.fingerprint}@vigil`));
  const pngs = parts.filter((p) => p.type === 'image/png');
  assert.equal(pngs.length, 2);
  for (const p of pngs) {
    assert.deepEqual([...p.body.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(p.body.readUInt32BE(16), 480); // IHDR width
    assert.equal(p.body.readUInt32BE(20), 140); // IHDR height
    assert.match(p.cid ?? '', /^chart-[0-9a-f]{16}@vigil$/);
  }
  // send_resolved defaults to false for email: resolving sends nothing.
  d.receive(
    evs.map((e) => alertEvent('latency_p99', { host: e.labels['host']!, service: 'api' }, 'resolved', t)),
  );
  await sleep(500);
  assert.equal(smtp.messages.length, 1);
});

test('SMTP 451 (temporary) is retried until accepted', async () => {
  const smtp = await startSmtpSink();
  cleanups.push(() => smtp.close());
  await smtp.mode('tempfail');
  const d = await setup(smtp);
  const evs = [
    alertEvent('cpu', { host: 'a' }, 'firing', Date.now()),
    alertEvent('mem', { host: 'a' }, 'firing', Date.now()),
  ];
  d.receive(evs);
  await smtp.waitFor(() => smtp.rejected.temp >= 4, 5000, 'several 451s');
  await smtp.mode('accept');
  await smtp.waitFor(() => smtp.messages.length === 2, 5000, 'two emails');
  await sleep(300);
  checkDeliveries('smtp-451', new Set(evs.map(alertId)), mailDeliveries(smtp, evs));
  const n = d.notifications({ status: 'delivered' });
  assert.equal(n.length, 2);
  const failed = n.flatMap((x) => x.attempts).filter((a) => !a.ok);
  assert.ok(failed.length >= 4);
  assert.ok(
    failed.every((a) => a.reason === 'smtpTemporary' && a.statusCode === 451 && a.retryable === true),
  );
});

test('SMTP 550 (permanent) fails once, is recorded and counted, never retried', async () => {
  const smtp = await startSmtpSink();
  cleanups.push(() => smtp.close());
  await smtp.mode('permfail');
  const d = await setup(smtp);
  const evs = [alertEvent('cpu', { host: 'a' }, 'firing', Date.now())];
  d.receive(evs);
  await smtp.waitFor(() => smtp.rejected.perm === 1, 5000, 'a 550');
  await sleep(600);
  assert.equal(smtp.rejected.perm, 1, 'not retried');
  const failed = d.notifications({ status: 'failed' });
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.failureReason, 'smtpPermanent');
  assert.equal(failed[0]!.attempts[0]!.statusCode, 550);
  assert.equal(d.stats().notifications.email.failed, 1);
  checkDeliveries('smtp-550', new Set(), mailDeliveries(smtp, evs));
});

test('SMTP server refusing connections: retried until it is back; a webhook next to it is not delayed', async () => {
  const smtp = await startSmtpSink();
  const hook = await startHttpReceiver();
  cleanups.push(
    () => smtp.close(),
    () => hook.close(),
  );
  await smtp.mode('refuse');
  const s = await tempStateDir();
  cleanups.push(s.cleanup);
  const both = createAlertDispatcher({
    config: loadAlerting(`
alerting:
  route:
    receiver: mail
    group_by: [alertname]
    group_wait: 50ms
    group_interval: 200ms
    routes:
      - { receiver: mail, continue: true }
      - { receiver: hook }
  receivers:
    - name: mail
      email_configs: [{ to: oncall@example.com, from: vigil@example.com, smarthost: '${smtp.smarthost}', require_tls: false, timeout: 1s }]
    - name: hook
      webhook_configs: [{ url: '${hook.url}' }]
  retry: { initial_backoff: 30ms, max_backoff: 200ms }
`),
    stateDir: s.dir,
    logger: testLogger(),
    externalUrl: 'http://vigil.test',
    closeTimeoutMs: 500,
  });
  await both.start();
  cleanups.push(() => both.close());
  const t0 = Date.now();
  const evs = ['cpu', 'mem', 'disk'].map((n) => alertEvent(n, { host: 'a' }, 'firing', t0));
  both.receive(evs);
  await hook.waitFor(() => hook.delivered().length === 3, 3000, 'webhook deliveries');
  assert.ok(Date.now() - t0 < 1500, 'the webhook is served while SMTP is down');
  await sleep(800);
  const retrying = both.notifications({ status: 'retrying', receiver: 'mail' });
  assert.equal(retrying.length, 3);
  assert.ok(retrying.every((n) => n.attempts.every((a) => a.reason === 'network' && a.retryable)));
  await smtp.mode('accept');
  await smtp.waitFor(() => smtp.messages.length === 3, 5000, 'emails after the server is back');
  await sleep(300);
  checkDeliveries('smtp-refused', new Set(evs.map(alertId)), mailDeliveries(smtp, evs));
  checkDeliveries('smtp-refused/webhook', new Set(evs.map(alertId)), hook.delivered().map(parseWebhook));
  assert.equal(both.stats().outbox, 0);
});
