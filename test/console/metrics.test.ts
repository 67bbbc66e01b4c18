/**
 * Self-monitoring: a real in-process Vigil gets real traffic over HTTP (good and bad samples,
 * enough history per series for model refits, a spike that fires an alert notified to one
 * webhook that answers 200 and one that answers 503), then GET /metrics is scraped and the
 * issue's series are checked for presence and sane values.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadVigilConfigText } from '../../src/app/config.js';
import { createLogger } from '../../src/app/logger.js';
import { startVigil, type VigilNode } from '../../src/app/main.js';
import { dailySeries } from '../support/series.js';
import { postJson, waitFor } from '../support/vigil-process.js';

let node: VigilNode;
const servers: Server[] = [];
let delivered = 0;
/** Samples refused by ingest validation (not a number) as /metrics counts them. */
let invalidRejected = -1;

async function hook(status: number): Promise<string> {
  const s = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (status === 200) delivered++;
      res.writeHead(status).end();
    });
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`;
}

/** Parses Prometheus text exposition into `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}
const sum = (m: Map<string, number>, prefix: RegExp): number =>
  [...m].filter(([k]) => prefix.test(k)).reduce((s, [, v]) => s + v, 0);

before(async () => {
  const ok = await hook(200);
  const failing = await hook(503);
  const stateDir = mkdtempSync(join(tmpdir(), 'vigil-metrics-'));
  node = await startVigil(
    loadVigilConfigText(`
state_dir: ${stateDir}
server:
  port: 0
runtime:
  workers: 2
  checkpoint_interval: 1h
# Receivers on 127.0.0.1 must be allowed explicitly (default: public addresses only).
security:
  outbound_allowlist: ['127.0.0.1']
alerting:
  lifecycle: { for: 0s, keep_firing_for: 30m }
  retry: { initial_backoff: 10s, max_backoff: 1m }
  route:
    receiver: ops
    group_by: [alertname]
    group_wait: 100ms
    group_interval: 1s
    repeat_interval: 1h
  receivers:
    - name: ops
      webhook_configs:
        - url: ${ok}
        - url: ${failing}
`),
    { logger: createLogger('silent') },
  );
});
after(async () => {
  await node.close();
  for (const s of servers) s.close();
});

test(
  '/metrics after real traffic: ingest, queues, series, refits, alerts, notifications',
  { timeout: 60_000 },
  async () => {
    const step = 5 * 60_000;
    const end = Date.now() - 24 * 3_600_000;
    let accepted = 0;
    for (let k = 0; k < 3; k++) {
      const points = dailySeries(700, step, end, k + 1);
      for (let i = 0; i < points.length; i += 350) {
        const r = await postJson(`${node.url}/api/v1/samples`, {
          samples: points
            .slice(i, i + 350)
            .map((p) => ({ metric: 'orders_total', labels: { shard: String(k) }, ts: p.ts, value: p.value })),
        });
        assert.equal(r.status, 200);
        accepted += (r.body as { accepted: number }).accepted;
      }
    }
    // Two refused samples: one out of order, one not a number.
    const bad = await postJson(`${node.url}/api/v1/samples`, {
      samples: [
        { metric: 'orders_total', labels: { shard: '0' }, ts: end - 10 * step, value: 1 },
        { metric: 'orders_total', labels: { shard: '1' }, ts: end + step, value: 'x' },
        { metric: 'orders_total', labels: { shard: '2' }, ts: end + step, value: 9000 },
      ],
    });
    assert.equal(bad.status, 200);
    accepted += 1;
    await waitFor(() => (delivered >= 1 ? true : undefined), 30_000, 'the firing notification');

    // Refit counts reach the main thread about once a second; the failing webhook is retrying.
    let m = new Map<string, number>();
    await waitFor(
      async () => {
        m = parse(await (await fetch(`${node.url}/metrics`)).text());
        return sum(m, /^vigil_refits_total\{/) >= 6 &&
          (m.get('vigil_notifications_retrying{integration="webhook"}') ?? 0) >= 1
          ? true
          : undefined;
      },
      20_000,
      'refits and a retrying notification in /metrics',
    );

    assert.equal(sum(m, /^vigil_samples_accepted_total\{/), accepted, 'accepted samples');
    assert.equal(m.get('vigil_samples_accepted_total{source="json"}'), accepted);
    assert.equal(m.get('vigil_samples_rejected_total{source="json",reason="OUT_OF_ORDER"}'), 1);
    invalidRejected = sum(m, /^vigil_samples_rejected_total\{source="json",reason="(?!OUT_OF_ORDER)/);
    for (const w of ['0', '1']) {
      assert.ok(
        (m.get(`vigil_worker_queue_samples{worker="${w}"}`) ?? -1) >= 0,
        `queue depth of worker ${w}`,
      );
      const lag = m.get(`vigil_worker_lag_seconds{worker="${w}"}`) ?? -1;
      assert.ok(lag >= 0 && lag < 5, `lag of worker ${w}: ${lag}`);
    }
    assert.equal(sum(m, /^vigil_worker_processed_samples\{/), accepted, 'every accepted sample processed');
    assert.equal(m.get('vigil_series'), 3);

    // Refits: 3 series × 700 samples (first fit at 100, then about daily = 288 samples).
    const refits = sum(m, /^vigil_refits_total\{/);
    assert.ok(refits >= 6 && refits <= 100, `refits ${refits}`);
    assert.equal(sum(m, /^vigil_refit_duration_seconds_count\{/), refits, 'histogram count = refits');
    assert.equal(sum(m, /^vigil_refit_duration_seconds_bucket\{.*le="\+Inf"/), refits);
    const seconds = sum(m, /^vigil_refit_duration_seconds_sum\{/);
    assert.ok(seconds > 0 && seconds / refits < 1, `mean refit ${seconds / refits}s`);
    for (const w of ['0', '1']) {
      const buckets = [...m]
        .filter(([k]) => k.startsWith(`vigil_refit_duration_seconds_bucket{worker="${w}"`))
        .map(([, v]) => v);
      for (let i = 1; i < buckets.length; i++)
        assert.ok(buckets[i]! >= buckets[i - 1]!, 'cumulative buckets');
    }

    // Alerts by state and notifications sent, failed/retrying (registered by src/alerts).
    assert.equal(m.get('vigil_alerts{state="firing"}'), 1);
    assert.equal(m.get('vigil_alerts{state="pending"}'), 0);
    assert.ok((m.get('vigil_notifications_total{integration="webhook",result="delivered"}') ?? 0) >= 1);
    assert.equal(m.get('vigil_notifications_retrying{integration="webhook"}'), 1);
    assert.ok(sum(m, /^vigil_notification_attempt_failures_total\{integration="webhook"/) >= 1);
    assert.ok((m.get('vigil_notification_outbox{integration="webhook"}') ?? 0) >= 1);
    assert.ok(
      [...m.keys()].some((k) => k.startsWith('vigil_process_') && k.includes('resident_memory_bytes')),
    );
  },
);

test('/metrics counts samples refused by ingest validation by reason', () => {
  assert.equal(invalidRejected, 1);
});
