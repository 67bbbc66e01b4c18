/**
 * The web console in a real browser: Debian's headless Chromium (scripts/prepare-chromium.mjs)
 * driven by playwright-core, against a real in-process Vigil on 127.0.0.1 (real worker threads,
 * WAL, dispatcher) fed a week of 5-minute data and a spike over HTTP, with a real webhook
 * receiver (node:http) getting the notifications.
 *
 * Asserts on what is drawn: the uPlot instance's data and scales read back from the page equal
 * the API's series detail, and canvas pixels are sampled where the band, the spike's anomaly dot
 * and empty plot area must be. Creating a silence through the UI silences the alert (API) and
 * stops its repeat notifications (the receiver gets nothing more); expiring it in the UI lets
 * them resume. Screenshots: test-artifacts/console-*.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { loadVigilConfigText } from '../../src/app/config.js';
import { createLogger } from '../../src/app/logger.js';
import { startVigil, type VigilNode } from '../../src/app/main.js';
import { launchBrowser, type Browser } from '../support/browser.js';
import { dailySeries } from '../support/series.js';
import { postJson, waitFor } from '../support/vigil-process.js';

const SECRET = 'hook-secret-4f1c9e';
const received: { status: string; alerts: { fingerprint: string; status: string }[] }[] = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    received.push(JSON.parse(body) as (typeof received)[number]);
    res.writeHead(200).end();
  });
});

let node: VigilNode;
let browser: Browser;
const STEP = 5 * 60_000;
const END = Date.now() - 24 * 3_600_000;
const SPIKE_TS = END + STEP;
const KEY = 'orders_total{region="eu",service="checkout"}';
const timings: Record<string, number> = {};

async function post(metric: string, labels: Record<string, string>, points: { ts: number; value: number }[]) {
  for (let i = 0; i < points.length; i += 1000) {
    const r = await postJson(`${node.url}/api/v1/samples`, {
      samples: points.slice(i, i + 1000).map((p) => ({ metric, labels, ts: p.ts, value: p.value })),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
}

before(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const stateDir = mkdtempSync(join(tmpdir(), 'vigil-console-'));
  const config = loadVigilConfigText(`
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
  lifecycle:
    for: 0s
    keep_firing_for: 30m
  route:
    receiver: ops
    group_by: [alertname]
    group_wait: 100ms
    group_interval: 300ms
    repeat_interval: 1s
  receivers:
    - name: ops
      webhook_configs:
        - url: ${hook}
          secret: ${SECRET}
`);
  node = await startVigil(config, { logger: createLogger('silent') });
  const week = dailySeries(2016, STEP, END);
  await post('orders_total', { service: 'checkout', region: 'eu' }, week);
  await post('orders_total', { service: 'search', region: 'eu' }, dailySeries(600, STEP, END, 3));
  for (let k = 0; k < 40; k++)
    await post(
      'latency_ms',
      { host: `web-${String(k).padStart(2, '0')}` },
      dailySeries(50, STEP, END, 10 + k),
    );
  await post('orders_total', { service: 'checkout', region: 'eu' }, [{ ts: SPIKE_TS, value: 6000 }]);
  await waitFor(() => received.find((r) => r.status === 'firing'), 30_000, 'the firing notification');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await node?.close();
  receiver.close();
  console.log(`console page timings (ms): ${JSON.stringify(timings)}`);
});

async function open(page: Page, path: string, ready: string, name: string): Promise<void> {
  const t0 = performance.now();
  await page.goto(`${node.url}${path}`);
  await page.waitForSelector(ready);
  timings[name] = Math.round(performance.now() - t0);
}

describe('web console (headless Chromium)', () => {
  test('series list: server-side search, state filter, paging, keyboard', async () => {
    const page = await browser.newPage();
    await open(page, '/', '#series-table tbody tr[data-key]', 'series list');
    const rows = await page.locator('#series-table tbody tr[data-key]').count();
    assert.equal(rows, 42, 'all 42 series on the first page (50 per page)');
    assert.match((await page.textContent('#series-summary'))!, /1–42 of 42 series \(1 firing/);

    await page.fill('#search', 'checkout');
    await page.waitForFunction(
      () => document.querySelector('#series-table')?.getAttribute('data-total') === '1',
    );
    assert.equal(await page.locator('#series-table tbody tr[data-key]').getAttribute('data-key'), KEY);
    assert.equal(await page.locator('#series-table tbody tr .badge').textContent(), 'firing');
    await page.fill('#search', '');
    await page.selectOption('#state', 'normal');
    await page.waitForFunction(
      () => document.querySelector('#series-table')?.getAttribute('data-total') === '41',
    );
    await page.selectOption('#state', '');
    await page.selectOption('#sort', 'state');
    await page.waitForFunction(
      (key) => document.querySelector('#series-table tbody tr[data-key]')?.getAttribute('data-key') === key,
      KEY,
    );
    await browser.screenshot(page, 'console-series-list');

    // Keyboard: the first Tab reaches the skip link, which moves focus to the content; the
    // series link opens the series page with Enter.
    await open(page, '/', '#series-table tbody tr[data-key]', 'series list (reload)');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.focus(`#series-table a[href="#/series/${encodeURIComponent(KEY)}"]`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#chart[data-rendered]');
    assert.equal(
      await page.evaluate(() => document.activeElement?.id),
      'title',
      'focus moves to the new heading',
    );
    assert.equal(await page.locator('#search').count(), 0, 'left the list');
    await page.close();
  });

  test('series page: the chart draws the real data, band, anomaly and alert event', async () => {
    const page = await browser.newPage();
    await open(page, `/?series=${encodeURIComponent(KEY)}`, '#chart[data-rendered]', 'series page');
    await browser.screenshot(page, 'console-series');
    const detail = (await (
      await fetch(`${node.url}/api/v1/series/detail?key=${encodeURIComponent(KEY)}&points=2000`)
    ).json()) as {
      points: {
        ts: number;
        value: number;
        lower: number | null;
        upper: number | null;
        expected: number | null;
      }[];
      anomalies: { ts: number }[];
      events: { status: string; ts: number }[];
      periods: string[];
    };
    assert.ok(detail.points.length >= 1000, `points: ${detail.points.length}`);
    assert.ok(detail.periods.includes('1d'), `the daily period is detected: ${detail.periods.join(',')}`);
    const drawn = await page.evaluate(() => {
      const u = (document.getElementById('chart') as { __uplot: UPlotLike }).__uplot;
      return {
        xs: u.data[0]!,
        value: u.data[1]!,
        lower: u.data[2]!,
        upper: u.data[3]!,
        expected: u.data[4]!,
        anomaly: u.data[5]!,
        yMin: u.scales.y.min,
        yMax: u.scales.y.max,
        events: u.vigil.events,
      };
    });
    assert.deepEqual(
      drawn.xs,
      detail.points.map((p) => p.ts / 1000),
    );
    assert.deepEqual(
      drawn.value,
      detail.points.map((p) => p.value),
    );
    assert.deepEqual(
      drawn.lower,
      detail.points.map((p) => p.lower),
    );
    assert.deepEqual(
      drawn.upper,
      detail.points.map((p) => p.upper),
    );
    // Values are kept as float32 offsets from a base in the model state: within 1e-3.
    assert.ok(
      Math.abs(drawn.value.at(-1)! - 6000) < 1e-3,
      `the spike is the last point: ${drawn.value.at(-1)}`,
    );
    assert.equal(drawn.anomaly.at(-1), drawn.value.at(-1), 'the spike is marked as an anomaly');
    assert.ok(drawn.yMax >= 5999 && drawn.yMin <= Math.min(...detail.points.map((p) => p.value)));
    assert.ok(
      drawn.events.some((e) => e.status === 'firing' && e.ts === SPIKE_TS),
      `firing event at the spike: ${JSON.stringify(drawn.events)}`,
    );

    // Pixels: the spike's dot is red. Then, zoomed to the hours before the spike (as a user
    // drags to zoom; y follows the visible range), inside the band away from the actual line is
    // the band colour, and well above the band, away from any line, is background.
    const dot = await page.evaluate(() => {
      const u = (document.getElementById('chart') as { __uplot: UPlotLike }).__uplot;
      const [xs, value] = u.data as [number[], number[]];
      const last = xs.length - 1;
      const p = u.ctx.getImageData(
        Math.round(u.valToPos(xs[last]!, 'x', true) - 1),
        Math.round(u.valToPos(value[last]!, 'y', true)),
        1,
        1,
      ).data;
      u.setScale('x', { min: xs[0]!, max: xs[last - 12]! }); // redrawn on the next frame
      return Array.from(p);
    });
    await page.evaluate(
      () => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))),
    );
    const px = await page.evaluate(() => {
      const u = (document.getElementById('chart') as { __uplot: UPlotLike }).__uplot;
      const at = (x: number, y: number) =>
        Array.from(u.ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data);
      const [xs, value, lower, upper, expected] = u.data as [
        number[],
        number[],
        (number | null)[],
        (number | null)[],
        (number | null)[],
      ];
      const last = xs.length - 1;
      // Grid lines (1 px, drawn over the band) and the alert-event markers cross the band: a pixel
      // on one is the band blended with the line, so candidates keep 3 px away from them.
      const gridX = (u.axes[0]?._splits ?? []).map((v) => u.valToPos(v, 'x', true));
      const gridY = (u.axes[1]?._splits ?? []).map((v) => u.valToPos(v, 'y', true));
      const eventX = u.vigil.events.map((e) => u.valToPos(e.ts, 'x', true));
      const clearOf = (x: number, y: number) =>
        gridX.every((g) => Math.abs(g - x) > 3) &&
        eventX.every((g) => Math.abs(g - x) > 3) &&
        gridY.every((g) => Math.abs(g - y) > 3);
      let inside: number[] | undefined;
      let above: number[] | undefined;
      for (let i = Math.floor(xs.length / 3); i < last - 20 && !(inside && above); i += 7) {
        const lo = lower[i];
        const hi = upper[i];
        if (lo == null || hi == null) continue;
        const x = u.valToPos(xs[i]!, 'x', true);
        const yLo = u.valToPos(lo, 'y', true);
        const yHi = u.valToPos(hi, 'y', true);
        const yVal = u.valToPos(value[i]!, 'y', true);
        if (yLo - yHi < 12) continue;
        const ex = expected[i];
        const yExp = ex == null ? Number.NaN : u.valToPos(ex, 'y', true);
        for (const f of [0.2, 0.8]) {
          const y = yHi + f * (yLo - yHi);
          if (!inside && Math.abs(y - yVal) > 6 && !(Math.abs(y - yExp) <= 4) && clearOf(x, y))
            inside = at(x, y);
        }
        const yAbove = yHi - 25;
        if (!above && yAbove > u.bbox.top + 5 && Math.abs(yAbove - yVal) > 25 && clearOf(x, yAbove))
          above = at(x, yAbove);
      }
      return {
        inside,
        above,
        gridLines: gridX.length + gridY.length,
        band: [u.valToPos(upper[400]!, 'y', true), u.valToPos(lower[400]!, 'y', true)],
      };
    });
    assert.ok(px.gridLines > 2, 'grid lines located (uPlot axes._splits)');
    assert.ok(px.inside, `found a band pixel (band at y ${px.band.join('..')})`);
    // The plot canvas is transparent: a band pixel is exactly the band fill, rgba(130, 80, 223, 0.2).
    const [r, g, b, a] = px.inside;
    assert.ok(
      Math.abs(r! - 130) <= 4 && Math.abs(g! - 80) <= 4 && Math.abs(b! - 223) <= 4 && Math.abs(a! - 51) <= 4,
      `band pixel ${px.inside.join(',')}`,
    );
    assert.ok(px.above, 'found a pixel above the band');
    assert.ok(px.above[3]! < 30, `nothing drawn above the band but grid lines: ${px.above.join(',')}`);
    assert.ok(dot[0]! > 150 && dot[1]! < 110 && dot[3]! > 200, `red anomaly dot: ${dot.join(',')}`);

    assert.match((await page.textContent('#model'))!, /Detected periods\s*1d/);
    assert.ok((await page.locator('#events tbody tr').count()) >= 1);
    await page.close();
  });

  test('a silence created in the UI silences the alert and stops its notifications', async () => {
    // Repeats arrive every second or so while the alert fires (repeat_interval 1s).
    const firingCount = () => received.filter((r) => r.status === 'firing').length;
    const before0 = firingCount();
    await waitFor(() => firingCount() >= before0 + 2 || undefined, 15_000, 'two repeat notifications');

    const page = await browser.newPage();
    await open(page, '/#/alerts', '#open-alerts tbody tr[data-fingerprint]', 'alerts page');
    assert.equal(await page.locator('#open-alerts tbody tr .badge').first().textContent(), 'active');
    await browser.screenshot(page, 'console-alerts-firing');
    await page.click('#open-alerts a[data-action="silence"]');
    await page.waitForSelector('#silence-form');
    assert.match(await page.inputValue('#matchers'), /alertname="orders_total"/);
    await page.fill('#created-by', 'console-test');
    await page.fill('#comment', 'deploy in progress');
    await page.click('#create-silence');
    const id = await (
      await page.waitForSelector('#silence-status[data-silence-id]')
    ).getAttribute('data-silence-id');
    assert.ok(id);
    await page.waitForSelector(`#silences tr[data-silence-id="${id}"] .badge.active`);

    const alerts = (await (await fetch(`${node.url}/api/v1/alerts`)).json()) as {
      labels: Record<string, string>;
      status: { state: string; silencedBy: string[] };
    }[];
    const a = alerts.find((x) => x.labels['service'] === 'checkout');
    assert.ok(a);
    assert.equal(a.status.state, 'suppressed');
    assert.deepEqual(a.status.silencedBy, [id]);
    const list = (await (await fetch(`${node.url}/api/v1/series?state=silenced`)).json()) as {
      items: { key: string }[];
    };
    assert.deepEqual(
      list.items.map((i) => i.key),
      [KEY],
    );

    // A flush already running when the silence was saved may still deliver; after that, nothing.
    await new Promise((r) => setTimeout(r, 1200));
    const settled = received.length;
    const loggedBefore = (
      (await (await fetch(`${node.url}/api/v1/notifications?limit=1000`)).json()) as {
        notifications: unknown[];
      }
    ).notifications.length;
    await new Promise((r) => setTimeout(r, 3500)); // > 3 repeat intervals, > 10 group intervals
    assert.equal(received.length, settled, 'no notification while silenced');
    const loggedAfter = (
      (await (await fetch(`${node.url}/api/v1/notifications?limit=1000`)).json()) as {
        notifications: unknown[];
      }
    ).notifications.length;
    assert.equal(loggedAfter, loggedBefore, 'nothing new in the delivery log');
    await browser.screenshot(page, 'console-silences');

    // Expire it in the UI: the repeats resume.
    await page.click(`#silences tr[data-silence-id="${id}"] button[data-action="expire"]`);
    await page.waitForFunction(
      (sid) => !document.querySelector(`#silences tr[data-silence-id="${sid}"]`),
      id,
    );
    const silence = (await (await fetch(`${node.url}/api/v1/silences/${id}`)).json()) as {
      status: { state: string };
    };
    assert.equal(silence.status.state, 'expired');
    await waitFor(() => (received.length > settled ? true : undefined), 10_000, 'notifications after expiry');

    await open(page, '/#/alerts', '#alert-history tbody tr', 'alerts page (history)');
    assert.ok((await page.locator('#notifications tbody tr').count()) >= 3);
    await browser.screenshot(page, 'console-alerts');
    await page.close();
  });

  test('config page: the running config with secrets redacted', async () => {
    const page = await browser.newPage();
    await open(page, '/#/config', '#config', 'config page');
    const text = (await page.textContent('#config'))!;
    assert.match(text, /"group_interval": "300ms"/);
    assert.match(text, /"secret": "<secret>"/);
    assert.ok(!text.includes(SECRET), 'the webhook secret is not shown');
    await browser.screenshot(page, 'console-config');
    await page.close();
  });

  test('API reference page renders the generated OpenAPI document', async () => {
    const page = await browser.newPage();
    await open(page, '/api/docs', '.op', 'api page');
    const text = (await page.textContent('#view'))!;
    assert.match(text, /API reference \(OpenAPI 3\.0\.3\)/);
    assert.match(text, /GET\s*\/api\/v1\/series\s*— List series/);
    assert.match(text, /POST\s*\/api\/v1\/samples/);
    await browser.screenshot(page, 'console-api');
    await page.close();
    assert.deepEqual(browser.pageErrors, [], 'no script errors in any page');
  });
});

/** The part of a uPlot instance the tests read. */
interface UPlotLike {
  data: (number | null)[][];
  scales: { y: { min: number; max: number } };
  ctx: { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
  bbox: { left: number; top: number; width: number; height: number };
  /** uPlot's tick values per axis (where the grid lines are drawn); internal but stable since 1.0. */
  axes: { _splits?: number[] }[];
  valToPos(v: number, scale: string, canvasPixels?: boolean): number;
  setScale(scale: string, range: { min: number; max: number }): void;
  vigil: { events: { status: string; ts: number }[] };
}

/** The browser globals used inside page.evaluate (the project compiles without the DOM lib). */
declare function requestAnimationFrame(cb: () => void): number;
declare const document: {
  getElementById(id: string): unknown;
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
  readonly activeElement: { readonly textContent: string | null; readonly id: string } | null;
};
