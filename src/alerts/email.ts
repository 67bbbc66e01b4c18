/**
 * Email notifications: rendering (a subject per group in Alertmanager's default form, text and
 * HTML bodies with actual against expected and the band, an inline PNG chart per alert) and
 * sending through a pooled nodemailer transport.
 *
 * nodemailer does not retry: a temporary failure (4yz reply, dropped or refused connection,
 * timeout) is returned as a retryable DeliveryError for the retry stage; a 5yz reply (except
 * 503, see nodemailer's `err.permanent`) and authentication failures are permanent.
 */
import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import { formatDuration } from '../common/index.js';
import { renderChartPng, textSparkline } from './chart.js';
import type { EmailConfig } from './config.js';
import { DeliveryError } from './errors.js';
import { formatLabelSet } from './matchers.js';
import type { NotifyReason } from './nflog.js';
import type { NotificationPayload, OutboxEntry } from './outbox.js';
import { generatorUrl, type GroupAlert, type NotificationData } from './payload.js';

/** Alertmanager's default subject: `[FIRING:2] <group label values> (<other common label values>)`. */
export function emailSubject(data: NotificationData): string {
  const firing = data.alerts.filter((a) => a.status === 'firing').length;
  const prefix = data.status === 'firing' ? `[FIRING:${firing}]` : '[RESOLVED]';
  const groupValues = Object.values(data.groupLabels).join(' ');
  const extra = Object.entries(data.commonLabels)
    .filter(([k]) => !(k in data.groupLabels))
    .map(([, v]) => v)
    .join(' ');
  return [prefix, groupValues, extra ? `(${extra})` : ''].filter((s) => s !== '').join(' ');
}

const fmt = (v: number): string => {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e6 || a < 1e-3) ? v.toExponential(3) : String(Math.round(v * 1000) / 1000);
};
const esc = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

function alertName(a: GroupAlert): string {
  const { alertname, ...rest } = a.labels;
  return `${alertname ?? ''}${Object.keys(rest).length ? formatLabelSet(rest) : ''}`;
}

function explain(a: GroupAlert): { band: string; detail: string } {
  const e = a.explanation;
  const cov = Number.isFinite(e.bandCoverage) ? ` (${Math.round(e.bandCoverage * 1000) / 10}% band)` : '';
  const band = `actual ${fmt(e.actual)} · expected ${fmt(e.expected)} · band [${fmt(e.lower)}, ${fmt(e.upper)}]${cov}`;
  const periods = e.periodsMs.length ? ` · periods ${e.periodsMs.map(formatDuration).join(', ')}` : '';
  const since =
    a.status === 'resolved' && a.endsAt !== undefined
      ? `${new Date(a.startsAt).toISOString()} → ${new Date(a.endsAt).toISOString()}`
      : `since ${new Date(a.startsAt).toISOString()}`;
  return {
    band,
    detail: `score ${fmt(e.score)} (${e.stage})${periods} · ${since}${a.flapping ? ' · flapping' : ''}`,
  };
}

/** Renders one notification as an email (charts for at most `maxCharts` alerts). */
export function renderEmail(
  data: NotificationData,
  opts: {
    readonly chart: boolean;
    readonly idempotencyKey: string;
    readonly reason: NotifyReason;
    readonly maxCharts?: number;
  },
): Extract<NotificationPayload, { kind: 'email' }> {
  const subject = emailSubject(data);
  const firing = data.alerts.filter((a) => a.status === 'firing').length;
  const resolved = data.alerts.length - firing;
  const summary = `${firing} firing, ${resolved} resolved · ${opts.reason}`;
  const attachments: { cid: string; filename: string; contentType: string; base64: string }[] = [];
  const text: string[] = [
    subject,
    '',
    summary,
    `Group: ${formatLabelSet(data.groupLabels)}`,
    `Console: ${data.externalURL}`,
    '',
  ];
  const rows: string[] = [];
  let charts = 0;
  for (const a of data.alerts) {
    const { band, detail } = explain(a);
    const link = generatorUrl(data.externalURL, a.seriesKey);
    const spark = a.recent ? textSparkline(a.recent) : '';
    text.push(
      `${a.status.toUpperCase()}  ${alertName(a)}`,
      `  ${band}`,
      `  ${detail}`,
      `  fingerprint ${a.fingerprint}`,
    );
    if (a.annotations['summary']) text.push(`  ${a.annotations['summary']}`);
    if (spark) text.push(`  recent ${spark}`);
    text.push(`  ${link}`, '');
    let img = '';
    if (opts.chart && a.recent && charts < (opts.maxCharts ?? 10)) {
      const png = renderChartPng(a.recent);
      if (png) {
        const cid = `chart-${a.fingerprint}@vigil`;
        attachments.push({
          cid,
          filename: `chart-${a.fingerprint}.png`,
          contentType: 'image/png',
          base64: Buffer.from(png).toString('base64'),
        });
        img = `<div><img src="cid:${cid}" width="480" height="140" alt="recent values against the expected band"></div>`;
        charts++;
      }
    }
    const color = a.status === 'firing' ? '#dc2626' : '#16a34a';
    rows.push(
      `<tr><td style="padding:12px;border-top:1px solid #e2e8f0">` +
        `<div><span style="color:${color};font-weight:bold">${a.status.toUpperCase()}</span> <code>${esc(alertName(a))}</code></div>` +
        `<div style="font-size:15px;margin:6px 0">${esc(band)}</div>` +
        `<div style="color:#475569;font-size:13px">${esc(detail)}</div>` +
        (a.annotations['summary']
          ? `<div style="font-size:13px">${esc(a.annotations['summary'])}</div>`
          : '') +
        img +
        `<div style="font-size:12px"><a href="${esc(link)}">open the series</a></div></td></tr>`,
    );
  }
  const html =
    `<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#0f172a">` +
    `<h2 style="margin:0 0 4px">${esc(subject)}</h2><div style="color:#475569">${esc(summary)}</div>` +
    `<table style="border-collapse:collapse;width:100%;max-width:640px;margin-top:8px">${rows.join('')}</table>` +
    `<p style="font-size:12px;color:#64748b">Sent by Vigil · <a href="${esc(data.externalURL)}">${esc(data.externalURL)}</a></p>` +
    `</body></html>`;
  const thread = createHash('sha256').update(data.groupKey).digest('hex').slice(0, 24);
  return {
    kind: 'email',
    subject,
    text: text.join('\n'),
    html,
    headers: {
      'Message-ID': `<${opts.idempotencyKey}@vigil>`,
      // One thread per group (Alertmanager's email `threading`).
      References: `<group-${thread}@vigil>`,
      'In-Reply-To': `<group-${thread}@vigil>`,
      'X-Vigil-Idempotency-Key': opts.idempotencyKey,
      'X-Vigil-Notification-Reason': opts.reason,
    },
    attachments,
  };
}

/** Sends emails for one `email_configs` entry through a pooled transport. */
export interface EmailSender {
  send(entry: OutboxEntry): Promise<void>;
  close(): void;
  readonly target: string;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  permanent?: boolean;
}

const TEMPORARY_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'EPROXY', 'ETLS']);

/** Classifies a nodemailer error (exported for tests). */
export function classifySmtpError(err: unknown, target: string): DeliveryError {
  const e = err as SmtpError;
  if (typeof e.responseCode === 'number') {
    const permanent = e.permanent ?? (e.responseCode >= 500 && e.responseCode !== 503);
    const msg = `${target} answered ${e.response ?? e.responseCode}`;
    return new DeliveryError(
      msg,
      permanent ? 'smtpPermanent' : 'smtpTemporary',
      !permanent,
      { statusCode: e.responseCode },
      { cause: err },
    );
  }
  const code = e.code ?? '';
  if (TEMPORARY_CODES.has(code)) {
    return new DeliveryError(
      `${target}: ${e.message}`,
      code === 'ETIMEDOUT' ? 'timeout' : 'network',
      true,
      {},
      { cause: err },
    );
  }
  if (code === 'EAUTH' || code === 'ENOAUTH')
    return new DeliveryError(`${target}: ${e.message}`, 'authError', false, {}, { cause: err });
  // Unclassified errors (envelope, message, configuration) are not retried: they would fail again.
  return new DeliveryError(
    `${target}: ${code ? `${code} ` : ''}${e.message}`,
    'config',
    false,
    {},
    { cause: err },
  );
}

export function createEmailSender(cfg: EmailConfig, timeoutMs: number): EmailSender {
  const idx = cfg.smarthost.lastIndexOf(':');
  const host = cfg.smarthost.slice(0, idx).replace(/^\[|\]$/g, '');
  const port = Number(cfg.smarthost.slice(idx + 1));
  const target = `smtp://${cfg.smarthost}`;
  const requireTls = cfg.require_tls ?? true;
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 2,
    host,
    port,
    secure: cfg.force_implicit_tls ?? false,
    requireTLS: requireTls,
    // As Alertmanager: without require_tls the session stays plain even if STARTTLS is offered.
    ignoreTLS: !requireTls && !(cfg.force_implicit_tls ?? false),
    name: cfg.hello ?? 'localhost',
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    tls: { rejectUnauthorized: !(cfg.tls_insecure_skip_verify ?? false) },
    ...(cfg.auth_username !== undefined
      ? { auth: { user: cfg.auth_username, pass: cfg.auth_password ?? '' } }
      : {}),
  });
  return {
    target,
    async send(entry) {
      const p = entry.payload;
      if (p.kind !== 'email')
        throw new DeliveryError(`outbox entry ${entry.id} is not an email`, 'config', false);
      const user = cfg.headers ?? {};
      const pick = (name: string): string | undefined =>
        Object.entries(user).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
      const { 'Message-ID': messageId, ...ours } = p.headers;
      const headers: Record<string, string> = { ...ours };
      for (const [k, v] of Object.entries(user))
        if (!['subject', 'to', 'from'].includes(k.toLowerCase())) headers[k] = v;
      try {
        await transport.sendMail({
          from: pick('From') ?? cfg.from,
          to: pick('To') ?? cfg.to,
          subject: pick('Subject') ?? p.subject,
          text: p.text,
          html: p.html,
          messageId: messageId ?? `<${entry.id}@vigil>`,
          headers,
          attachments: p.attachments.map((a) => ({
            filename: a.filename,
            cid: a.cid,
            contentType: a.contentType,
            content: Buffer.from(a.base64, 'base64'),
          })),
        });
      } catch (err) {
        throw classifySmtpError(err, target);
      }
    },
    close() {
      transport.close();
    },
  };
}
