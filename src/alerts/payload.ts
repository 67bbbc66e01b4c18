/**
 * What receivers get, built from one group flush:
 *
 * - the webhook body: Alertmanager's version-4 JSON (notify/webhook/webhook.go), so existing
 *   receivers parse it unchanged, plus a `vigil` object per alert (actual, expected, band,
 *   score, stage, periods, band coverage);
 * - the Alertmanager v2 `postableAlerts` body for `alertmanager_configs`;
 * - the idempotency key and the HMAC signature header.
 *
 * Times are RFC 3339 (UTC, ms); a firing alert's endsAt is Go's zero time
 * `0001-01-01T00:00:00Z`, as Alertmanager sends it.
 */
import { createHash, createHmac } from 'node:crypto';
import { formatDuration } from '../common/index.js';
import type { AlertExplanation, RecentPoint } from './types.js';

/** Go's zero time, which Alertmanager sends as endsAt of firing alerts. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** An alert as a group holds it at flush time. */
export interface GroupAlert {
  readonly fingerprint: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly status: 'firing' | 'resolved';
  readonly startsAt: number;
  readonly endsAt?: number;
  readonly seriesKey: string;
  readonly flapping: boolean;
  readonly explanation: AlertExplanation;
  readonly recent?: readonly RecentPoint[];
  /** Dispatcher time of the last update (epoch ms). */
  readonly updatedAt: number;
}

/** Alertmanager's template `Data` for one notification. */
export interface NotificationData {
  readonly receiver: string;
  readonly status: 'firing' | 'resolved';
  readonly alerts: readonly GroupAlert[];
  readonly groupLabels: Readonly<Record<string, string>>;
  readonly commonLabels: Readonly<Record<string, string>>;
  readonly commonAnnotations: Readonly<Record<string, string>>;
  readonly externalURL: string;
  readonly groupKey: string;
}

function common(maps: readonly Readonly<Record<string, string>>[]): Record<string, string> {
  const first = maps[0];
  if (!first) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first)) if (maps.every((m) => m[k] === v)) out[k] = v;
  return out;
}

const sortedRecord = (r: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(
    Object.keys(r)
      .sort()
      .map((k) => [k, r[k] as string]),
  );

export function buildNotificationData(opts: {
  receiver: string;
  groupKey: string;
  groupLabels: Readonly<Record<string, string>>;
  alerts: readonly GroupAlert[];
  externalURL: string;
}): NotificationData {
  return {
    receiver: opts.receiver,
    status: opts.alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    alerts: opts.alerts,
    groupLabels: sortedRecord(opts.groupLabels),
    commonLabels: sortedRecord(common(opts.alerts.map((a) => a.labels))),
    commonAnnotations: sortedRecord(common(opts.alerts.map((a) => a.annotations))),
    externalURL: opts.externalURL,
    groupKey: opts.groupKey,
  };
}

/** Epoch ms → RFC 3339. */
export const iso = (ms: number): string => new Date(ms).toISOString();
/** A finite number, or null (JSON has no NaN). */
export const num = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** Where a user sees the series behind an alert. */
export function generatorUrl(externalURL: string, seriesKey: string): string {
  return `${externalURL.replace(/\/+$/, '')}/?series=${encodeURIComponent(seriesKey)}`;
}

/** The `vigil` object of an alert. Non-finite numbers become null. */
export function vigilBlock(a: GroupAlert): Record<string, unknown> {
  const e = a.explanation;
  return {
    seriesKey: a.seriesKey,
    observedAt: Number.isFinite(e.ts) ? iso(e.ts) : null,
    actual: num(e.actual),
    expected: num(e.expected),
    lower: num(e.lower),
    upper: num(e.upper),
    bandCoverage: num(e.bandCoverage),
    score: num(e.score),
    stage: e.stage,
    periodsMs: e.periodsMs,
    periods: e.periodsMs.map(formatDuration),
    flapping: a.flapping,
  };
}

/** One alert in Alertmanager's webhook shape, plus `vigil`. */
export function webhookAlert(a: GroupAlert, externalURL: string): Record<string, unknown> {
  return {
    status: a.status,
    labels: sortedRecord(a.labels),
    annotations: sortedRecord(a.annotations),
    startsAt: iso(a.startsAt),
    endsAt: a.status === 'resolved' && a.endsAt !== undefined ? iso(a.endsAt) : ZERO_TIME,
    generatorURL: generatorUrl(externalURL, a.seriesKey),
    fingerprint: a.fingerprint,
    vigil: vigilBlock(a),
  };
}

/**
 * The version-4 webhook body. `maxAlerts` > 0 keeps that many alerts (firing first, as sorted
 * by the caller) and reports the rest in `truncatedAlerts`.
 */
export function webhookBody(data: NotificationData, maxAlerts: number): string {
  const kept = maxAlerts > 0 ? data.alerts.slice(0, maxAlerts) : data.alerts;
  return JSON.stringify({
    receiver: data.receiver,
    status: data.status,
    alerts: kept.map((a) => webhookAlert(a, data.externalURL)),
    groupLabels: data.groupLabels,
    commonLabels: data.commonLabels,
    commonAnnotations: data.commonAnnotations,
    externalURL: data.externalURL,
    version: '4',
    groupKey: data.groupKey,
    truncatedAlerts: data.alerts.length - kept.length,
  });
}

/**
 * The Alertmanager v2 `POST /api/v2/alerts` body. Firing alerts get `endsAt = now + validForMs`
 * (they are re-sent every group_interval, like Prometheus re-sends its alerts, and expire in the
 * Alertmanager if Vigil stops); resolved ones their real endsAt. The `vigil` numbers travel as
 * `vigil_*` annotations so Alertmanager templates can use them.
 */
export function alertmanagerBody(data: NotificationData, nowMs: number, validForMs: number): string {
  return JSON.stringify(
    data.alerts.map((a) => {
      const v = vigilBlock(a);
      const extra: Record<string, string> = {};
      for (const k of ['actual', 'expected', 'lower', 'upper', 'score', 'stage'] as const) {
        const val = v[k] as string | number | null;
        if (val !== null) extra[`vigil_${k}`] = String(val);
      }
      if (a.explanation.periodsMs.length > 0)
        extra['vigil_periods'] = a.explanation.periodsMs.map(formatDuration).join(',');
      return {
        labels: sortedRecord(a.labels),
        annotations: { ...sortedRecord(a.annotations), ...extra },
        startsAt: iso(a.startsAt),
        endsAt: a.status === 'resolved' && a.endsAt !== undefined ? iso(a.endsAt) : iso(nowMs + validForMs),
        generatorURL: generatorUrl(data.externalURL, a.seriesKey),
      };
    }),
  );
}

/**
 * Content hash of a notification's alerts: sorted `fingerprint:startsAt:status` lines. Equal
 * for a retry, a replay after restart, or a re-flush of the same alerts.
 */
export function alertsContent(
  alerts: readonly Pick<GroupAlert, 'fingerprint' | 'startsAt' | 'status'>[],
): string {
  return alerts
    .map((a) => `${a.fingerprint}:${a.startsAt}:${a.status}`)
    .sort()
    .join('\n');
}

/**
 * The `Idempotency-Key`: SHA-256 (hex, 32 chars) of the integration, the group key, the alerts'
 * content and, for the n-th repeat of identical content (repeat_interval reminders), `#n`. A
 * retry or a replay after restart computes the same key; a reminder gets a new one.
 */
export function idempotencyKey(
  integration: string,
  groupKey: string,
  content: string,
  repeat: number,
): string {
  const h = createHash('sha256')
    .update(integration)
    .update('\n')
    .update(groupKey)
    .update('\n')
    .update(content);
  if (repeat > 0) h.update(`\n#${repeat}`);
  return h.digest('hex').slice(0, 32);
}

export const SIGNATURE_HEADER = 'X-Vigil-Signature';

/**
 * `X-Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Receivers
 * recompute the HMAC over the timestamp, a dot and the raw body, compare in constant time, and
 * reject timestamps too far from their clock (replay protection). A new `t` is used per attempt.
 */
export function signatureHeader(secret: string, body: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${v1}`;
}
