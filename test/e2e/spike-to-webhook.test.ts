/**
 * End to end, as a user runs it: Vigil as a child process on real ports, a series posted over
 * HTTP with a spike, and a real HTTP receiver (node:http on 127.0.0.1) that gets the firing
 * alert and later the resolved one, in Alertmanager's webhook format.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { postJson, startVigilProcess, waitFor, type VigilProcess } from '../support/vigil-process.js';
import { dailySeries } from '../support/series.js';

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: {
    version: string;
    status: string;
    groupKey: string;
    alerts: {
      status: string;
      labels: Record<string, string>;
      fingerprint: string;
      vigil?: Record<string, unknown>;
    }[];
  };
}

const received: Received[] = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    received.push({ headers: req.headers, body: JSON.parse(body) as Received['body'] });
    res.writeHead(200).end();
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
let vigil: VigilProcess | undefined;
after(async () => {
  await vigil?.stop();
  receiver.close();
});

test(
  'a spike posted over HTTP fires an alert at the webhook, and it later resolves',
  { timeout: 120_000 },
  async () => {
    vigil = await startVigilProcess({
      configYaml: `
runtime:
  workers: 2
  checkpoint_interval: 1h
# Receivers on 127.0.0.1 must be allowed explicitly (default: public addresses only).
security:
  outbound_allowlist: ['127.0.0.1']
alerting:
  lifecycle:
    for: 0s
    keep_firing_for: 30m
  route:
    receiver: ops-webhook
    group_by: [alertname]
    group_wait: 100ms
    group_interval: 500ms
    repeat_interval: 1h
    routes:
      - matchers: ['service="other"']
        receiver: log
  receivers:
    - name: ops-webhook
      webhook_configs:
        - url: ${hookUrl}
    - name: log
      log_configs: [{}]
`,
    });

    const step = 5 * 60_000;
    const end = Date.now() - 24 * 3_600_000;
    const series = dailySeries(2016, step, end); // one week of 5-minute data
    const labels = { service: 'checkout', region: 'eu' };
    const post = async (points: { ts: number; value: number }[]) => {
      for (let i = 0; i < points.length; i += 500) {
        const r = await postJson(`${vigil!.url}/api/v1/samples`, {
          samples: points
            .slice(i, i + 500)
            .map((p) => ({ metric: 'orders_total', labels, ts: p.ts, value: p.value })),
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual((r.body as { rejected: unknown[] }).rejected, []);
      }
    };
    await post(series);
    assert.equal(received.length, 0, 'no alert on normal data');

    // The spike: ten times the daily amplitude.
    const spikeTs = end + step;
    await post([{ ts: spikeTs, value: 6000 }]);
    const firing = await waitFor(
      () => received.find((r) => r.body.status === 'firing'),
      30_000,
      'the firing notification',
    );
    assert.equal(firing.body.version, '4');
    const alert = firing.body.alerts[0]!;
    assert.equal(alert.labels['alertname'], 'orders_total');
    assert.equal(alert.labels['service'], 'checkout');
    assert.ok(alert.vigil, 'vigil explanation block');
    assert.equal(alert.vigil['actual'], 6000);
    assert.ok(typeof alert.vigil['expected'] === 'number' && alert.vigil['expected'] < 2000);
    assert.ok(firing.headers['idempotency-key'], 'idempotency key header');

    const listed = await (await fetch(`${vigil.url}/api/v1/alerts`)).json();
    assert.match(JSON.stringify(listed), /orders_total/);

    // Normal data for longer than keep_firing_for (event time) resolves it.
    const after = dailySeries(24, step, spikeTs + 25 * step, 7).map((p) => ({ ...p }));
    await post(after.filter((p) => p.ts > spikeTs));
    const resolved = await waitFor(
      () => received.find((r) => r.body.status === 'resolved'),
      30_000,
      'the resolved notification',
    );
    assert.equal(resolved.body.alerts[0]!.fingerprint, alert.fingerprint);
    assert.equal(resolved.body.groupKey, firing.body.groupKey);
  },
);
