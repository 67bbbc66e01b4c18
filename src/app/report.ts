/**
 * `vigil backtest --report FILE.html`: a self-contained HTML report (uPlot, the chart script and
 * the data inlined; it opens from disk with no network) answering "what would have paged me?":
 *
 * 1. every CSV series (NAB layout, see backtest.ts) runs through the production anomaly operator
 *    with the configured `detection` and `alerting` sections (lifecycle defaults, route
 *    `detection:` overrides, YAML silences kept out of training), in the in-process harness;
 * 2. per series: a chart of actual vs the expected band with anomalies (score ≥ the series'
 *    threshold) and alert events marked, the detected periods and model facts;
 * 3. the alert events of all series, merged in event time, replay through the configured
 *    routing OFFLINE ({@link replayNotifications}): route tree and `continue`, grouping with
 *    group_wait / group_interval / repeat_interval in event time, inhibition, mute/active time
 *    intervals, YAML silences, and the notification log's dedup, using src/alerts' own pure
 *    functions (buildRouteTree, matchRoutes, needsUpdate, Inhibitor, …), so the notifications
 *    listed are the ones the dispatcher would have sent had the data arrived live.
 *
 * The chart's expected value and band are the model's view as returned by the operator's
 * `describe` query, asked every `chunk` samples (at most half the raw history): the model as of
 * at most that many samples after the point. Long series are thinned for the chart (min/max per
 * bucket, anomalies always kept).
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import {
  alertLabels,
  buildIntegrations,
  buildRouteTree,
  compileInhibitRules,
  compileTimeInterval,
  configSilences,
  createDetectionPolicy,
  groupKeyFor,
  groupLabelsFor,
  Inhibitor,
  routeMutedBy,
  matchRoutes,
  needsUpdate,
  SilenceIndex,
  silencedAt,
  type AlertEvent,
  type AlertingConfig,
  type Integration,
  type LifecycleParams,
  type NflogEntry,
  type RouteNode,
  type Silence,
  type TimeInterval,
} from '../alerts/index.js';
import { formatDuration, parseSeriesKey, seriesKey } from '../common/index.js';
import { createOperatorHarness } from '../keyed-runtime/index.js';
import { createAnomalyOperator } from '../operators/anomaly-operator.js';
import type { DetectionConfig, SeriesDescription } from '../operators/anomaly/index.js';
import { listSeriesFiles, readSeriesFiles } from './backtest.js';
import { CONSOLE_DIR, UPLOT } from './http/console.js';

export interface ReportOptions {
  /** Directory of `<category>/<file>.csv` (NAB layout). */
  readonly dataDir: string;
  /** Only these relative paths. @defaultValue every CSV found */
  readonly files?: readonly string[];
  /** The HTML file to write. */
  readonly outFile: string;
  readonly detection: DetectionConfig;
  /** The `alerting` section: routes, receivers, inhibition, time intervals, silences, lifecycle. */
  readonly alerting?: AlertingConfig;
  /** Lifecycle overrides (replace the config defaults, not route overrides). */
  readonly lifecycle?: Partial<LifecycleParams>;
  /** Extra silences to apply in the replay (e.g. from the API), in addition to the YAML ones. */
  readonly silences?: readonly Silence[];
  /** Most chart points per series (thinned beyond). @defaultValue 4000 */
  readonly maxChartPoints?: number;
  /** Title of the report. @defaultValue "Vigil backtest" */
  readonly title?: string;
  /** Progress in rows. */
  readonly onProgress?: (done: number, total: number, file: string) => void;
  /** The config file named in the report. */
  readonly configName?: string;
}

/** One notification the routes would have sent. Times are event times (epoch ms). */
export interface WouldSend {
  readonly at: number;
  readonly receiver: string;
  readonly integration: string;
  readonly integrationType: string;
  readonly groupKey: string;
  readonly reason: string;
  readonly alerts: readonly { alertname: string; seriesKey: string; status: 'firing' | 'resolved' }[];
}

/** A flush that sent nothing for some alerts because they were silenced, inhibited or muted. */
export interface Suppressed {
  readonly at: number;
  readonly receiver: string;
  readonly groupKey: string;
  readonly why: string;
  readonly alerts: readonly string[];
}

export interface SeriesReport {
  readonly file: string;
  readonly key: string;
  readonly rows: number;
  readonly threshold: number;
  readonly points: readonly {
    ts: number;
    value: number;
    expected: number;
    lower: number;
    upper: number;
    score: number;
  }[];
  readonly anomalies: number;
  readonly events: readonly { status: AlertEvent['status']; ts: number; score: number }[];
  readonly periodsMs: readonly number[];
  readonly model: SeriesDescription['model'];
}

export interface ReportSummary {
  readonly files: number;
  readonly rows: number;
  readonly anomalies: number;
  readonly alertEvents: number;
  readonly notifications: number;
  readonly suppressed: number;
  readonly bytes: number;
  readonly series: readonly SeriesReport[];
  readonly wouldSend: readonly WouldSend[];
  readonly suppressions: readonly Suppressed[];
}

// ---- notification replay (event time) ---------------------------------------------------------

/** An alert event with the event time it happened at (the sample that changed it). */
export interface TimedEvent {
  readonly at: number;
  readonly event: AlertEvent;
}

interface GroupAlertLite {
  readonly fingerprint: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly status: 'firing' | 'resolved';
  readonly startsAt: number;
  readonly flapping: boolean;
  readonly seriesKey: string;
}

interface SimGroup {
  readonly slot: string;
  readonly key: string;
  readonly route: RouteNode;
  readonly alerts: Map<string, GroupAlertLite>;
  nextFlushAt: number;
  hasFlushed: boolean;
}

/**
 * Replays alert events through the configured routing in event time and returns what the
 * receivers would have got. Mirrors the dispatcher's flush (src/alerts/dispatcher.ts) with a
 * simulated clock: a new group flushes `group_wait` after its first alert (at once when the
 * alert is older than that), then every `group_interval` while it holds alerts; each flush
 * applies mute/active time intervals, inhibition and silences, then the notification log's
 * dedup (`needsUpdate`: new alerts, resolved ones when the integration sends them,
 * `repeat_interval`). Groups still open at `untilMs` stop there.
 */
export function replayNotifications(
  alerting: AlertingConfig | undefined,
  events: readonly TimedEvent[],
  untilMs: number,
  extraSilences: readonly Silence[] = [],
): { wouldSend: WouldSend[]; suppressed: Suppressed[] } {
  const cfg = alerting ?? {};
  const root = buildRouteTree(cfg.route ?? { receiver: 'default' });
  const intervals = new Map<string, TimeInterval>(
    (cfg.time_intervals ?? []).map((t) => [t.name, compileTimeInterval(t)] as const),
  );
  const inhibitor = new Inhibitor(compileInhibitRules(cfg.inhibit_rules ?? []));
  const silences = new SilenceIndex();
  silences.set([...configSilences(cfg.silences ?? [], cfg.time_intervals ?? []), ...extraSilences]);
  const integrations = offlineIntegrations(cfg);
  const byReceiver = new Map<string, Integration[]>();
  for (const it of integrations.values())
    byReceiver.set(it.receiver, [...(byReceiver.get(it.receiver) ?? []), it]);
  const nflog = new Map<string, NflogEntry>();
  const alerts = new Map<string, 'pending' | 'firing'>();
  const groups = new Map<string, SimGroup>();
  const wouldSend: WouldSend[] = [];
  const suppressed: Suppressed[] = [];

  const silencedNow = (labels: Readonly<Record<string, string>>, at: number): boolean =>
    silencedAt(silences.matching(labels), at);

  const mutedBy = (route: RouteNode, at: number): string[] => routeMutedBy(route, intervals, at);

  function insert(route: RouteNode, alert: GroupAlertLite, at: number): void {
    const key = groupKeyFor(route, groupLabelsFor(route, alert.labels));
    const slot = `${route.id}\n${key}`;
    let g = groups.get(slot);
    if (!g) {
      g = { slot, key, route, alerts: new Map(), nextFlushAt: at + route.groupWaitMs, hasFlushed: false };
      groups.set(slot, g);
    }
    g.alerts.set(alert.fingerprint, alert);
    if (!g.hasFlushed && alert.startsAt + route.groupWaitMs < at) g.nextFlushAt = Math.min(g.nextFlushAt, at);
  }

  function flush(g: SimGroup, at: number): void {
    const snapshot = [...g.alerts.values()].sort((a, b) =>
      a.status !== b.status ? (a.status === 'firing' ? -1 : 1) : a.fingerprint < b.fingerprint ? -1 : 1,
    );
    const muted = mutedBy(g.route, at);
    if (muted.length > 0) {
      suppressed.push({
        at,
        receiver: g.route.receiver,
        groupKey: g.key,
        why: `muted by ${muted.join(', ')}`,
        alerts: snapshot.map((a) => `${a.labels['alertname'] ?? ''} ${a.status}`),
      });
    } else {
      for (const integ of byReceiver.get(g.route.receiver) ?? []) notify(g, integ, snapshot, at);
    }
    g.hasFlushed = true;
    if (muted.length === 0)
      for (const a of snapshot) if (a.status === 'resolved') g.alerts.delete(a.fingerprint);
    g.nextFlushAt = at + g.route.groupIntervalMs;
    if (g.alerts.size === 0) groups.delete(g.slot);
  }

  function notify(g: SimGroup, integ: Integration, snapshot: readonly GroupAlertLite[], at: number): void {
    const slot = `${g.key}\n${integ.key}`;
    const entry = nflog.get(slot);
    const notifiedFiring = new Set(entry?.firing ?? []);
    const dropped: string[] = [];
    const kept = snapshot.filter((a) => {
      if (a.status === 'resolved' && notifiedFiring.has(a.fingerprint)) return true;
      if (inhibitor.inhibitedBy(a.labels) !== undefined) {
        dropped.push(`${a.labels['alertname'] ?? ''} inhibited`);
        return false;
      }
      if (silencedNow(a.labels, at)) {
        dropped.push(`${a.labels['alertname'] ?? ''} silenced`);
        return false;
      }
      return true;
    });
    if (dropped.length > 0 && snapshot.some((a) => a.status === 'firing'))
      suppressed.push({
        at,
        receiver: integ.receiver,
        groupKey: g.key,
        why: 'silenced or inhibited',
        alerts: dropped,
      });
    const firing = new Set(kept.filter((a) => a.status === 'firing').map((a) => a.fingerprint));
    const resolved = new Set(kept.filter((a) => a.status === 'resolved').map((a) => a.fingerprint));
    let reason: string = needsUpdate(
      entry,
      firing,
      resolved,
      g.route.repeatIntervalMs,
      integ.sendResolved,
      at,
    );
    if (reason === 'repeat interval elapsed' && kept.every((a) => a.status !== 'firing' || a.flapping))
      reason = 'none';
    if (integ.forwardsEveryFlush) reason = kept.length === 0 ? 'none' : reason === 'none' ? 'resend' : reason;
    if (reason === 'none') return;
    const toSend = integ.sendResolved ? kept : kept.filter((a) => a.status === 'firing');
    if (toSend.length > 0) {
      wouldSend.push({
        at,
        receiver: integ.receiver,
        integration: integ.key,
        integrationType: integ.type,
        groupKey: g.key,
        reason,
        alerts: toSend.map((a) => ({
          alertname: a.labels['alertname'] ?? '',
          seriesKey: a.seriesKey,
          status: a.status,
        })),
      });
    }
    nflog.set(slot, {
      groupKey: g.key,
      integration: integ.key,
      firing: [...firing],
      resolved: [...resolved],
      timestamp: at,
      contentHash: '',
      repeat: 0,
    });
  }

  function handle(ev: AlertEvent, at: number): void {
    const prev = alerts.get(ev.fingerprint);
    const base = {
      fingerprint: ev.fingerprint,
      labels: ev.labels,
      startsAt: ev.startsAt,
      flapping: ev.flapping,
      seriesKey: ev.seriesKey,
    };
    switch (ev.status) {
      case 'pending':
        alerts.set(ev.fingerprint, 'pending');
        inhibitor.update(ev.fingerprint, ev.labels, false);
        return;
      case 'firing':
        alerts.set(ev.fingerprint, 'firing');
        inhibitor.update(ev.fingerprint, ev.labels, true);
        for (const r of matchRoutes(root, ev.labels)) insert(r, { ...base, status: 'firing' }, at);
        return;
      case 'resolved':
        alerts.delete(ev.fingerprint);
        inhibitor.remove(ev.fingerprint);
        if (prev === 'pending') return;
        for (const r of matchRoutes(root, ev.labels)) insert(r, { ...base, status: 'resolved' }, at);
        return;
    }
  }

  function flushDue(until: number): void {
    for (;;) {
      let next: SimGroup | undefined;
      for (const g of groups.values()) if (!next || g.nextFlushAt < next.nextFlushAt) next = g;
      if (!next || next.nextFlushAt > until) return;
      flush(next, next.nextFlushAt);
    }
  }

  const ordered = [...events].sort((a, b) => a.at - b.at);
  for (const { at, event } of ordered) {
    flushDue(at);
    handle(event, at);
  }
  flushDue(untilMs);
  for (const it of integrations.values()) it.close();
  return { wouldSend, suppressed };
}

/**
 * The configured receivers' integrations, built by src/alerts itself (so `send_resolved`
 * defaults and per-URL Alertmanager integrations are the dispatcher's), with transports that are
 * never used: the replay only renders decisions, it sends nothing.
 */
function offlineIntegrations(cfg: AlertingConfig): Map<string, Integration> {
  type Deps = Parameters<typeof buildIntegrations>[1];
  const http: Deps['http'] = {
    post: () => Promise.reject(new Error('the backtest report never sends notifications')),
  };
  return buildIntegrations(cfg.receivers ?? [], { http, logger: pino({ level: 'silent' }), now: () => 0 });
}

// ---- series pass ----------------------------------------------------------------------------

/** The series key a report gives a file: metric = file name without .csv, labels category and file. */
export function reportSeriesKey(file: string): string {
  const slash = file.lastIndexOf('/');
  const name = file.slice(slash + 1).replace(/\.csv$/, '');
  const category = slash > 0 ? file.slice(0, slash) : '';
  return seriesKey(name, category ? { category, file } : { file });
}

/** Keeps at most `max` points: min and max value per bucket, anomalies always. */
export function thinPoints<T extends { value: number; score: number }>(
  points: readonly T[],
  max: number,
  threshold: number,
): T[] {
  if (points.length <= max) return [...points];
  const buckets = Math.max(1, Math.floor(max / 2));
  const size = points.length / buckets;
  const keep = new Uint8Array(points.length);
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor(b * size);
    const to = Math.min(points.length, Math.floor((b + 1) * size));
    let lo = from;
    let hi = from;
    for (let i = from; i < to; i++) {
      const v = (points[i] as T).value;
      if (v < (points[lo] as T).value) lo = i;
      if (v > (points[hi] as T).value) hi = i;
    }
    keep[lo] = 1;
    keep[hi] = 1;
  }
  return points.filter((p, i) => keep[i] === 1 || p.score >= threshold);
}

/** Runs the series, replays the notifications and writes the HTML report. */
export async function writeBacktestReport(opts: ReportOptions): Promise<ReportSummary> {
  const files = opts.files ? [...opts.files] : await listSeriesFiles(opts.dataDir);
  const { parsed, total } = await readSeriesFiles(opts.dataDir, files);
  const policy = createDetectionPolicy(opts.alerting, opts.detection.threshold, opts.lifecycle ?? {});
  const chunk = Math.max(16, Math.min(512, Math.floor(opts.detection.raw_history / 2)));
  const maxPoints = opts.maxChartPoints ?? 4000;
  const series: SeriesReport[] = [];
  const timed: TimedEvent[] = [];
  let until = -Infinity;
  let done = 0;
  for (const { file, rows } of parsed) {
    const operator = createAnomalyOperator({
      detection: opts.detection,
      ...(opts.alerting ? { alerting: opts.alerting } : {}),
      ...(opts.lifecycle ? { lifecycle: opts.lifecycle } : {}),
      recentPoints: 0,
    });
    const harness = createOperatorHarness(operator);
    const key = reportSeriesKey(file);
    const points: SeriesReport['points'][number][] = [];
    const events: { status: AlertEvent['status']; ts: number; score: number }[] = [];
    let lastTs = -Infinity;
    let since = 0;
    const collect = (): void => {
      const d = harness.query<SeriesDescription>(key, { kind: 'describe', maxPoints: since + 1 });
      for (const p of d?.points ?? []) if (p.ts > lastTs) points.push({ ...p });
      lastTs = points.at(-1)?.ts ?? lastTs;
      since = 0;
    };
    const n = rows.time.length;
    for (let i = 0; i < n; i++) {
      const ts = rows.tsMs[i] as number;
      for (const o of harness.push(key, ts, rows.v[i] as number)) {
        const ev = o.output.event;
        const at = Number.isFinite(ev.explanation.ts) ? ev.explanation.ts : ts;
        timed.push({ at, event: ev });
        events.push({
          status: ev.status,
          ts: ev.status === 'resolved' ? (ev.endsAt ?? at) : at,
          score: ev.explanation.score,
        });
      }
      if (Number.isFinite(ts) && ts > until) until = ts;
      if (++since >= chunk) collect();
      if ((++done & 4095) === 0) opts.onProgress?.(done, total, file);
    }
    collect();
    if (harness.errors.length > 0) {
      const e = harness.errors[0];
      throw new Error(`report: operator failed on ${file}: ${e?.code ?? ''} ${e?.message ?? ''}`);
    }
    opts.onProgress?.(done, total, file);
    const final = harness.query<SeriesDescription>(key, { kind: 'describe', maxPoints: 0 });
    const threshold = policy.paramsFor(alertLabelsOf(key)).threshold;
    series.push({
      file,
      key,
      rows: n,
      threshold,
      points: thinPoints(points, maxPoints, threshold),
      anomalies: points.filter((p) => p.score >= threshold).length,
      events,
      periodsMs: final?.periodsMs ?? [],
      model: final?.model ?? {},
    });
  }
  const { wouldSend, suppressed } = replayNotifications(opts.alerting, timed, until, opts.silences ?? []);
  const html = renderReport({
    title: opts.title ?? 'Vigil backtest',
    configName: opts.configName,
    dataDir: opts.dataDir,
    series,
    wouldSend,
    suppressed,
    alerting: opts.alerting,
  });
  await writeFile(opts.outFile, html);
  return {
    files: series.length,
    rows: total,
    anomalies: series.reduce((s, x) => s + x.anomalies, 0),
    alertEvents: timed.length,
    notifications: wouldSend.length,
    suppressed: suppressed.length,
    bytes: Buffer.byteLength(html),
    series,
    wouldSend,
    suppressions: suppressed,
  };
}

function alertLabelsOf(key: string): Record<string, string> {
  const parsed = parseSeriesKey(key) ?? { metric: key, labels: {} };
  return alertLabels(parsed.metric, parsed.labels);
}

// ---- HTML -----------------------------------------------------------------------------------

const esc = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
/** JSON safe inside a <script> element. */
const scriptJson = (v: unknown): string =>
  JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
const isoMin = (ms: number): string =>
  new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/:\d\d\.\d+Z$/, 'Z');
const num = (v: number): number | null => (Number.isFinite(v) ? v : null);

function renderReport(r: {
  title: string;
  configName: string | undefined;
  dataDir: string;
  series: readonly SeriesReport[];
  wouldSend: readonly WouldSend[];
  suppressed: readonly Suppressed[];
  alerting: AlertingConfig | undefined;
}): string {
  const uplotJs = readFileSyncText(join(UPLOT.dir, 'uPlot.iife.min.js'));
  const uplotCss = readFileSyncText(join(UPLOT.dir, 'uPlot.min.css'));
  const chartJs = readFileSyncText(join(CONSOLE_DIR, 'chart.js'));
  const index = new Map<string, number>();
  r.series.forEach((s, i) => {
    if (!index.has(s.key)) index.set(s.key, i);
  });
  const anchor = (key: string): string => `s-${index.get(key) ?? -1}`;
  const perDay = new Map<string, Map<string, number>>();
  for (const n of r.wouldSend) {
    const day = new Date(n.at).toISOString().slice(0, 10);
    const m = perDay.get(day) ?? new Map<string, number>();
    m.set(n.receiver, (m.get(n.receiver) ?? 0) + 1);
    perDay.set(day, m);
  }
  const receivers = [...new Set(r.wouldSend.map((n) => n.receiver))].sort();
  const firing = r.series.reduce((s, x) => s + x.events.filter((e) => e.status === 'firing').length, 0);
  const sendRows = r.wouldSend
    .map(
      (n) =>
        `<tr><td>${esc(isoMin(n.at))}</td><td>${esc(n.receiver)}</td><td>${esc(n.integrationType)}</td>` +
        `<td>${esc(n.reason)}</td><td class="key">${esc(n.groupKey)}</td><td>${n.alerts
          .map(
            (a) =>
              `<a href="#${anchor(a.seriesKey)}">${esc(a.alertname)}</a> <span class="badge ${a.status}">${a.status}</span>`,
          )
          .join('<br>')}</td></tr>`,
    )
    .join('\n');
  const dayRows = [...perDay.keys()]
    .sort()
    .map(
      (d) =>
        `<tr><td>${d}</td>${receivers.map((rc) => `<td class="num">${perDay.get(d)?.get(rc) ?? 0}</td>`).join('')}</tr>`,
    )
    .join('\n');
  const supRows = r.suppressed
    .map(
      (s) =>
        `<tr><td>${esc(isoMin(s.at))}</td><td>${esc(s.receiver)}</td><td class="key">${esc(s.groupKey)}</td><td>${esc(s.why)}</td><td>${esc(s.alerts.join(', '))}</td></tr>`,
    )
    .join('\n');
  const sections = r.series
    .map((s, i) => {
      const data = {
        threshold: s.threshold,
        points: s.points.map((p) => ({
          ts: p.ts,
          value: num(p.value),
          expected: num(p.expected),
          lower: num(p.lower),
          upper: num(p.upper),
          score: num(p.score),
        })),
        anomalies: [],
        events: s.events.filter((e) => e.status !== 'pending'),
      };
      const facts = [
        ['rows', String(s.rows)],
        ['anomalies (score ≥ threshold)', String(s.anomalies)],
        ['threshold', String(s.threshold)],
        ['alerts fired', String(s.events.filter((e) => e.status === 'firing').length)],
        ['detected periods', s.periodsMs.length ? s.periodsMs.map(formatDuration).join(', ') : 'none'],
        ...Object.entries(s.model).map(([k, v]) => [
          k,
          typeof v === 'number' ? String(Math.round(v * 1e4) / 1e4) : String(v),
        ]),
      ];
      const top = s.points
        .filter((p) => p.score >= s.threshold)
        .sort((a, b) => b.score - a.score)
        .slice(0, 10)
        .map(
          (p) =>
            `<tr><td>${esc(isoMin(p.ts))}</td><td class="num">${fmt(p.value)}</td><td class="num">${fmt(p.expected)}</td><td class="num">${fmt(p.score)}</td></tr>`,
        )
        .join('');
      return `<section id="s-${i}" class="series" aria-labelledby="h-${i}">
<h3 id="h-${i}">${esc(s.file)}</h3>
<p class="muted key">${esc(s.key)}</p>
<figure><div class="chart" id="chart-${i}" data-index="${i}" role="img" aria-label="${esc(`Chart of ${s.file}: actual against the expected band, ${s.anomalies} anomalies`)}"></div>
<figcaption>Blue: actual. Dashed purple: expected. Shaded: band of normal values. Red dots: anomalies. Vertical lines: alerts (F firing, R resolved).</figcaption></figure>
<script type="application/json" id="data-${i}">${scriptJson(data)}</script>
<div class="grid"><dl class="facts">${facts.map(([k, v]) => `<dt>${esc(k as string)}</dt><dd>${esc(v as string)}</dd>`).join('')}</dl>
<table><caption>Top anomalies</caption><thead><tr><th>Time (UTC)</th><th class="num">Actual</th><th class="num">Expected</th><th class="num">Score</th></tr></thead><tbody>${top || '<tr><td colspan="4">none</td></tr>'}</tbody></table></div>
</section>`;
    })
    .join('\n');
  const routeNote = r.alerting?.route
    ? `root receiver <code>${esc(r.alerting.route.receiver ?? '')}</code>, ${(r.alerting.receivers ?? []).length} receiver(s), ${(r.alerting.inhibit_rules ?? []).length} inhibit rule(s), ${(r.alerting.silences ?? []).length} YAML silence(s)`
    : 'no alerting section: the default route';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(r.title)}</title>
<style>${uplotCss}</style>
<style>
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;padding:16px 24px 48px;color:#1f2328;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px}h3{font-size:16px;margin:24px 0 4px}
.muted{color:#59636e}.key{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12px;word-break:break-all}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}caption{text-align:left;font-weight:600;padding:4px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #d1d9e0;vertical-align:top}th{background:#f6f8fa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:11px;color:#fff}.badge.firing{background:#d1242f}.badge.resolved{background:#1a7f37}
.grid{display:grid;grid-template-columns:minmax(260px,1fr) 2fr;gap:16px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0;font-size:13px}dl.facts dt{color:#59636e}dl.facts dd{margin:0}
.summary{display:flex;gap:24px;flex-wrap:wrap}.summary div{background:#f6f8fa;border:1px solid #d1d9e0;border-radius:8px;padding:8px 14px}
.summary strong{display:block;font-size:22px}.chart{min-height:300px}
</style></head>
<body>
<h1>${esc(r.title)}</h1>
<p class="muted">Data: ${esc(r.dataDir)}${r.configName ? ` · config: ${esc(r.configName)}` : ''} · routing: ${routeNote} · generated ${esc(new Date().toISOString())}</p>
<div class="summary" id="summary">
<div><strong>${r.series.length}</strong>series</div>
<div><strong>${r.series.reduce((s, x) => s + x.rows, 0)}</strong>rows</div>
<div><strong>${r.series.reduce((s, x) => s + x.anomalies, 0)}</strong>anomalous points</div>
<div><strong>${firing}</strong>alerts fired</div>
<div><strong id="would-count">${r.wouldSend.length}</strong>notifications would have been sent</div>
<div><strong>${r.suppressed.length}</strong>suppressed flushes</div>
</div>
<h2 id="paged">What would have paged me</h2>
<p class="muted">Every notification the configured routes would have sent, replayed in event time: grouping (group_wait, group_interval, repeat_interval), inhibition, time intervals, YAML silences and the notification log's dedup.</p>
<table id="would-page"><caption>Notifications (${r.wouldSend.length})</caption>
<thead><tr><th>Time (UTC)</th><th>Receiver</th><th>Integration</th><th>Reason</th><th>Group</th><th>Alerts</th></tr></thead>
<tbody>${sendRows || '<tr><td colspan="6">None: these routes would have sent nothing.</td></tr>'}</tbody></table>
<table id="per-day"><caption>Notifications per day and receiver</caption>
<thead><tr><th>Day (UTC)</th>${receivers.map((rc) => `<th class="num">${esc(rc)}</th>`).join('')}</tr></thead>
<tbody>${dayRows || '<tr><td>none</td></tr>'}</tbody></table>
<table id="suppressed"><caption>Suppressed (silenced, inhibited or muted)</caption>
<thead><tr><th>Time (UTC)</th><th>Receiver</th><th>Group</th><th>Why</th><th>Alerts</th></tr></thead>
<tbody>${supRows || '<tr><td colspan="5">none</td></tr>'}</tbody></table>
<h2>Series</h2>
${sections}
<script>${uplotJs}</script>
<script>${chartJs}</script>
<script>
(function () {
  for (const el of document.querySelectorAll('.chart[data-index]')) {
    const data = JSON.parse(document.getElementById('data-' + el.dataset.index).textContent);
    window.VigilChart.render(el, data, { width: Math.max(600, el.clientWidth || 1000), height: 300 });
    el.setAttribute('data-rendered', 'true');
  }
  document.body.setAttribute('data-ready', 'true');
})();
</script>
</body></html>
`;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e6 || a < 1e-3) ? v.toExponential(3) : String(Math.round(v * 1000) / 1000);
}

function readFileSyncText(path: string): string {
  return readFileSync(path, 'utf8');
}
