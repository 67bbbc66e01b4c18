/**
 * Receiver integrations (Alertmanager's Notifier): one per `*_configs` entry of a receiver (one
 * per URL for `alertmanager_configs`, since every Alertmanager of an HA pair must get every
 * alert). Each renders a flush into an outbox payload and performs one delivery attempt; the
 * retry stage (deliverer.ts) decides what happens after a failure.
 *
 * Webhook requests carry `Content-Type: application/json`, `Idempotency-Key`,
 * `X-Vigil-Notification-Reason`, the configured headers and credentials, and
 * `X-Vigil-Signature` when a secret is set.
 */
import type { Logger } from 'pino';
import { durationMs } from '../common/index.js';
import {
  ALERTING_DEFAULTS,
  type AlertmanagerReceiverConfig,
  type HttpConfig,
  type ReceiverConfig,
  type WebhookConfig,
} from './config.js';
import { createEmailSender, renderEmail } from './email.js';
import { DeliveryError } from './errors.js';
import { checkHttpStatus, redactUrl, type HttpClient } from './http-client.js';
import type { NotifyReason } from './nflog.js';
import type { IntegrationType, NotificationPayload, OutboxEntry } from './outbox.js';
import {
  alertmanagerBody,
  signatureHeader,
  SIGNATURE_HEADER,
  webhookBody,
  type NotificationData,
} from './payload.js';

export interface RenderContext {
  readonly idempotencyKey: string;
  readonly reason: NotifyReason;
  readonly nowMs: number;
  readonly groupIntervalMs: number;
}

export interface Integration {
  /** `receiver/type/index[/target]`. */
  readonly key: string;
  readonly receiver: string;
  readonly type: IntegrationType;
  readonly sendResolved: boolean;
  /** True for forwarders (Alertmanager) that get the group's alerts on every flush, not deduplicated. */
  readonly forwardsEveryFlush: boolean;
  /** Redacted target for logs and the API (origin, smtp host, "log"). */
  readonly target: string;
  render(data: NotificationData, ctx: RenderContext): NotificationPayload;
  /** One attempt; throws a DeliveryError on failure. */
  send(entry: OutboxEntry, signal: AbortSignal): Promise<{ readonly statusCode?: number }>;
  close(): void;
}

export interface IntegrationDeps {
  readonly http: HttpClient;
  readonly logger: Logger;
  readonly now: () => number;
}

function authHeaders(h: HttpConfig | undefined): Record<string, string> {
  if (h?.authorization)
    return { authorization: `${h.authorization.type ?? 'Bearer'} ${h.authorization.credentials}` };
  if (h?.basic_auth) {
    const token = Buffer.from(`${h.basic_auth.username}:${h.basic_auth.password}`).toString('base64');
    return { authorization: `Basic ${token}` };
  }
  return {};
}

function webhook(receiver: string, index: number, cfg: WebhookConfig, deps: IntegrationDeps): Integration {
  const timeoutMs = durationMs(cfg.timeout ?? ALERTING_DEFAULTS.webhookTimeout);
  const target = redactUrl(cfg.url);
  return {
    key: `${receiver}/webhook/${index}`,
    receiver,
    type: 'webhook',
    sendResolved: cfg.send_resolved ?? true,
    forwardsEveryFlush: false,
    target,
    render: (data) => ({ kind: 'json', body: webhookBody(data, cfg.max_alerts ?? 0) }),
    async send(entry, signal) {
      if (entry.payload.kind !== 'json')
        throw new DeliveryError(`outbox entry ${entry.id} is not JSON`, 'config', false);
      const body = entry.payload.body;
      const headers: Record<string, string> = {
        ...(cfg.headers ?? {}),
        ...authHeaders(cfg.http_config),
        'content-type': 'application/json',
        'idempotency-key': entry.id,
        'x-vigil-notification-reason': entry.reason,
      };
      if (cfg.secret !== undefined)
        headers[SIGNATURE_HEADER.toLowerCase()] = signatureHeader(cfg.secret, body, deps.now());
      const res = await deps.http.post({ url: cfg.url, headers, body, timeoutMs, signal });
      const err = checkHttpStatus(res, target, deps.now());
      if (err) throw err;
      return { statusCode: res.status };
    },
    close() {},
  };
}

function alertmanager(
  receiver: string,
  index: number,
  urlIndex: number,
  cfg: AlertmanagerReceiverConfig,
  deps: IntegrationDeps,
): Integration {
  const base = cfg.urls[urlIndex] as string;
  const url = new URL('api/v2/alerts', base.endsWith('/') ? base : `${base}/`).toString();
  const timeoutMs = durationMs(cfg.timeout ?? ALERTING_DEFAULTS.alertmanagerTimeout);
  const target = redactUrl(base);
  return {
    key: `${receiver}/alertmanager/${index}/${urlIndex}`,
    receiver,
    type: 'alertmanager',
    sendResolved: cfg.send_resolved ?? true,
    forwardsEveryFlush: true,
    target,
    // Firing alerts stay valid for 4 flush intervals (at least 5 minutes), like Prometheus' 4 × resend delay.
    render: (data, ctx) => ({
      kind: 'json',
      body: alertmanagerBody(data, ctx.nowMs, Math.max(4 * ctx.groupIntervalMs, 300_000)),
    }),
    async send(entry, signal) {
      if (entry.payload.kind !== 'json')
        throw new DeliveryError(`outbox entry ${entry.id} is not JSON`, 'config', false);
      const headers: Record<string, string> = {
        ...(cfg.headers ?? {}),
        ...authHeaders(cfg.http_config),
        'content-type': 'application/json',
        'idempotency-key': entry.id,
      };
      const res = await deps.http.post({ url, headers, body: entry.payload.body, timeoutMs, signal });
      const err = checkHttpStatus(res, target, deps.now());
      if (err) throw err;
      return { statusCode: res.status };
    },
    close() {},
  };
}

/** Builds every integration of every receiver, keyed by integration key. */
export function buildIntegrations(
  receivers: readonly ReceiverConfig[],
  deps: IntegrationDeps,
): Map<string, Integration> {
  const out = new Map<string, Integration>();
  for (const r of receivers) {
    (r.webhook_configs ?? []).forEach((w, i) => {
      const it = webhook(r.name, i, w, deps);
      out.set(it.key, it);
    });
    (r.alertmanager_configs ?? []).forEach((a, i) =>
      a.urls.forEach((_u, j) => {
        const it = alertmanager(r.name, i, j, a, deps);
        out.set(it.key, it);
      }),
    );
    (r.email_configs ?? []).forEach((e, i) => {
      const timeoutMs = durationMs(e.timeout ?? ALERTING_DEFAULTS.emailTimeout);
      const sender = createEmailSender(e, timeoutMs);
      const key = `${r.name}/email/${i}`;
      out.set(key, {
        key,
        receiver: r.name,
        type: 'email',
        sendResolved: e.send_resolved ?? false,
        forwardsEveryFlush: false,
        target: sender.target,
        render: (data, ctx) =>
          renderEmail(data, {
            chart: e.chart ?? true,
            idempotencyKey: ctx.idempotencyKey,
            reason: ctx.reason,
          }),
        async send(entry) {
          await sender.send(entry);
          return {};
        },
        close: () => sender.close(),
      });
    });
    (r.log_configs ?? []).forEach((l, i) => {
      const key = `${r.name}/log/${i}`;
      const level = l.level ?? 'warn';
      const log = deps.logger.child({ receiver: r.name });
      out.set(key, {
        key,
        receiver: r.name,
        type: 'log',
        sendResolved: l.send_resolved ?? true,
        forwardsEveryFlush: false,
        target: 'log',
        render: (data, ctx) => ({
          kind: 'log',
          message: `alert notification: ${data.status} ${data.alerts.length} alert(s) in ${data.groupKey}`,
          record: {
            groupKey: data.groupKey,
            status: data.status,
            reason: ctx.reason,
            idempotencyKey: ctx.idempotencyKey,
            alerts: data.alerts.map((a) => ({
              fingerprint: a.fingerprint,
              status: a.status,
              labels: a.labels,
              summary: a.annotations['summary'],
              actual: a.explanation.actual,
              expected: a.explanation.expected,
              lower: a.explanation.lower,
              upper: a.explanation.upper,
              score: a.explanation.score,
            })),
          },
        }),
        send(entry) {
          if (entry.payload.kind !== 'log') {
            return Promise.reject(
              new DeliveryError(`outbox entry ${entry.id} is not a log record`, 'config', false),
            );
          }
          log[level](entry.payload.record, entry.payload.message);
          return Promise.resolve({});
        },
        close() {},
      });
    });
  }
  return out;
}
