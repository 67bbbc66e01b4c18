/**
 * The backtest report: (1) the offline notification replay gives known answers for grouping,
 * group_wait / group_interval / repeat_interval in event time, resolved notifications, YAML
 * silences and inhibition; (2) `writeBacktestReport` on a small NAB file (nab-dev) writes a
 * self-contained HTML file that headless Chromium opens from disk with no network request, with
 * a drawn chart holding the series' points and the "would have paged" table.
 * Screenshot: test-artifacts/report.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AlertEvent } from '../../src/alerts/index.js';
import { loadVigilConfigText } from '../../src/app/config.js';
import { replayNotifications, writeBacktestReport, type TimedEvent } from '../../src/app/report.js';
import { launchBrowser } from '../support/browser.js';

const NAB = '/work/shared/datasets/nab-dev/data';
const MIN = 60_000;

function ev(
  status: AlertEvent['status'],
  labels: Record<string, string>,
  at: number,
  startsAt: number,
  fp = labels['service'] ?? 'x',
): TimedEvent {
  return {
    at,
    event: {
      fingerprint: fp.padEnd(16, '0'),
      labels: { alertname: 'orders', ...labels },
      annotations: {},
      status,
      startsAt,
      ...(status === 'resolved' ? { endsAt: at } : {}),
      seriesKey: `orders{service="${labels['service'] ?? ''}"}`,
      flapping: false,
      explanation: {
        ts: at,
        actual: 1,
        expected: 0,
        lower: 0,
        upper: 0,
        score: 0.9,
        stage: 'forecast',
        periodsMs: [],
        bandCoverage: 0.99,
      },
    },
  };
}

test('notification replay: grouping, timers in event time, resolved, silences, inhibition', () => {
  const config = loadVigilConfigText(`
alerting:
  route:
    receiver: ops
    group_by: [alertname]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 1h
  receivers:
    - name: ops
      webhook_configs: [{ url: 'http://127.0.0.1:9/hook' }]
  inhibit_rules:
    - source_matchers: ['severity="critical"']
      target_matchers: ['severity="warning"']
      equal: [alertname]
  silences:
    - matchers: ['service="muted"']
      comment: maintenance
`);
  const t0 = Date.UTC(2024, 0, 1);
  const events = [
    ev('firing', { service: 'a' }, t0, t0),
    ev('firing', { service: 'b' }, t0 + 60_000, t0 + 60_000),
    ev('firing', { service: 'muted' }, t0 + 70_000, t0 + 70_000),
    ev('resolved', { service: 'a' }, t0 + 2 * 3_600_000, t0),
    ev(
      'firing',
      { service: 'db', severity: 'critical', alertname: 'disk' },
      t0 + 3 * 3_600_000,
      t0 + 3 * 3_600_000,
    ),
    ev(
      'firing',
      { service: 'web', severity: 'warning', alertname: 'disk' },
      t0 + 3 * 3_600_000 + 1000,
      t0 + 3 * 3_600_000 + 1000,
    ),
  ];
  const { wouldSend, suppressed } = replayNotifications(
    config.alerting,
    events,
    t0 + 3 * 3_600_000 + 10 * MIN,
  );
  const got = wouldSend.map((n) => [
    (n.at - t0) / 1000,
    n.reason,
    n.alerts
      .map((a) => `${a.alertname}:${a.seriesKey.replace(/^orders\{service="(.*)"\}$/, '$1')}:${a.status}`)
      .join(' '),
  ]);
  assert.deepEqual(got, [
    // a fires at 0: the group flushes after group_wait.
    [30, 'first notification', 'orders:a:firing'],
    // b joins at 60 s: the next flush (30 s + group_interval) tells of it; "muted" is silenced.
    [330, 'new alerts added', 'orders:a:firing orders:b:firing'],
    // nothing new: reminded once repeat_interval has passed since the last notification.
    [330 + 3600, 'repeat interval elapsed', 'orders:a:firing orders:b:firing'],
    // a resolves at 2 h (7200 s): the next flush (30 s + 24 group intervals) says so (webhooks
    // send resolved).
    [7230, 'some alerts resolved', 'orders:b:firing orders:a:resolved'],
    // b still fires an hour after that notification: reminded.
    [7230 + 3600, 'repeat interval elapsed', 'orders:b:firing'],
    // disk: the critical source fires at 3 h; the warning target is inhibited.
    [3 * 3600 + 30, 'first notification', 'disk:db:firing'],
  ]);
  assert.ok(
    suppressed.some((s) => s.alerts.includes('orders silenced')),
    'the silenced alert is listed as suppressed',
  );
  assert.ok(suppressed.some((s) => s.alerts.includes('disk inhibited')));
});

test(
  'backtest report on a NAB file opens in Chromium: chart and "would have paged" table',
  { timeout: 120_000 },
  async () => {
    assert.ok(existsSync(NAB), `${NAB} (nab-dev) is needed`);
    const out = join(mkdtempSync(join(tmpdir(), 'vigil-report-')), 'report.html');
    const config = loadVigilConfigText(`
alerting:
  lifecycle: { for: 0s, keep_firing_for: 1h }
  route:
    receiver: oncall
    group_by: [alertname]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
  receivers:
    - name: oncall
      webhook_configs: [{ url: 'https://hooks.example.com/vigil' }]
`);
    const files = [
      'realKnownCause/ambient_temperature_system_failure.csv',
      'realTraffic/speed_7578.csv',
    ].filter((f) => existsSync(join(NAB, f)));
    assert.ok(files.length >= 1);
    const t0 = performance.now();
    const summary = await writeBacktestReport({
      dataDir: NAB,
      files,
      outFile: out,
      detection: config.detection,
      ...(config.alerting ? { alerting: config.alerting } : {}),
      title: 'NAB report test',
    });
    console.log(
      `report: ${summary.files} files, ${summary.rows} rows, ${summary.anomalies} anomalies, ${summary.alertEvents} alert events, ${summary.notifications} notifications, ${summary.bytes} bytes in ${Math.round(performance.now() - t0)} ms`,
    );
    assert.equal(summary.files, files.length);
    assert.ok(summary.alertEvents > 0, 'the detector raised alerts on NAB data');
    assert.ok(summary.notifications > 0, 'the route would have paged');
    const html = readFileSync(out, 'utf8');
    assert.ok(!/(src|href)="https?:/.test(html), 'no external resource');

    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(out).href);
      await page.waitForSelector('body[data-ready]');
      assert.deepEqual(
        requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:')),
        [],
        'the report makes no network request',
      );
      assert.equal(await page.locator('.chart[data-rendered]').count(), files.length);
      const drawn = await page.evaluate(() =>
        Array.from(document.querySelectorAll('.chart[data-index]')).map((el) => {
          const u = (el as { __uplot: { data: (number | null)[][]; series: { label: string }[] } }).__uplot;
          return {
            n: u.data[0]!.length,
            anomalies: u.data[5]!.filter((v) => v !== null).length,
            labels: u.series.map((s) => s.label),
          };
        }),
      );
      for (const [i, d] of drawn.entries()) {
        const s = summary.series[i]!;
        assert.equal(d.n, s.points.length, `chart ${i} holds the series' points`);
        assert.ok(d.n > 500);
        assert.equal(d.anomalies, s.points.filter((p) => p.score >= s.threshold).length);
        assert.deepEqual(d.labels, ['time (UTC)', 'actual', 'lower', 'upper', 'expected', 'anomaly']);
      }
      const rows = await page.locator('#would-page tbody tr').count();
      assert.equal(rows, summary.notifications);
      assert.equal(await page.textContent('#would-count'), String(summary.notifications));
      assert.match(
        (await page.textContent('#would-page tbody tr'))!,
        /oncall\s*webhook\s*first notification/,
      );
      await browser.screenshot(page, 'report');
      await page.close();
      assert.deepEqual(browser.pageErrors, []);
    } finally {
      await browser.close();
    }
  },
);

/** The browser globals used inside page.evaluate (the project compiles without the DOM lib). */
declare const document: { querySelectorAll(selector: string): ArrayLike<unknown> & Iterable<unknown> };
