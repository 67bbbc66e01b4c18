/**
 * The dispatcher's self-metrics (prom-client), registered on the registry the app passes in.
 * Label values come from fixed sets: integration types, results, failure reasons, states.
 *
 * - `vigil_alerts{state}`: pending, firing, silenced, inhibited alerts (gauge)
 * - `vigil_alert_groups`: aggregation groups (gauge)
 * - `vigil_silences{state}`: active, pending, expired silences (gauge)
 * - `vigil_notifications_total{integration,result}`: finished notifications, delivered or failed
 * - `vigil_notification_attempt_failures_total{integration,reason}`: failed attempts by reason
 * - `vigil_notification_attempt_seconds{integration}`: attempt durations (histogram)
 * - `vigil_notification_outbox{integration}`: notifications waiting in the outbox (gauge)
 * - `vigil_notification_log_entries`: notification log entries (gauge)
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DeliveryRecord } from './deliverer.js';
import type { AttemptRecord, IntegrationType, OutboxEntry } from './outbox.js';

export interface AlertMetricsSource {
  stats(): {
    readonly alerts: { pending: number; firing: number; silenced: number; inhibited: number };
    readonly groups: number;
    readonly silences: { active: number; pending: number; expired: number };
    readonly notifications: Record<IntegrationType, { pending: number }>;
    readonly nflogEntries: number;
  };
}

export interface AlertMetricsHooks {
  onAttempt(entry: OutboxEntry, attempt: AttemptRecord): void;
  onFinished(record: DeliveryRecord): void;
}

export function registerAlertMetrics(registry: Registry, source0: AlertMetricsSource): AlertMetricsHooks {
  const registers = [registry];
  // One stats() per scrape: prom-client runs every collect() in one synchronous pass, so a
  // snapshot cleared at the next microtask serves all five gauges (stats() walks every alert).
  let cached: ReturnType<AlertMetricsSource['stats']> | undefined;
  const source: AlertMetricsSource = {
    stats() {
      if (!cached) {
        cached = source0.stats();
        queueMicrotask(() => (cached = undefined));
      }
      return cached;
    },
  };
  new Gauge({
    name: 'vigil_alerts',
    help: 'Open alerts by state (silenced and inhibited are firing alerts that are suppressed).',
    labelNames: ['state'],
    registers,
    collect() {
      const a = source.stats().alerts;
      for (const [state, n] of Object.entries(a)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'vigil_alert_groups',
    help: 'Aggregation groups (route × group labels) holding alerts.',
    registers,
    collect() {
      this.set(source.stats().groups);
    },
  });
  new Gauge({
    name: 'vigil_silences',
    help: 'Silences by state.',
    labelNames: ['state'],
    registers,
    collect() {
      for (const [state, n] of Object.entries(source.stats().silences)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'vigil_notification_outbox',
    help: 'Notifications waiting in the durable outbox (queued or retrying), by integration type.',
    labelNames: ['integration'],
    registers,
    collect() {
      for (const [integration, c] of Object.entries(source.stats().notifications))
        this.set({ integration }, c.pending);
    },
  });
  new Gauge({
    name: 'vigil_notification_log_entries',
    help: 'Entries of the notification log (group × integration).',
    registers,
    collect() {
      this.set(source.stats().nflogEntries);
    },
  });
  const finished = new Counter({
    name: 'vigil_notifications_total',
    help: 'Finished notifications by integration type and result (delivered, failed).',
    labelNames: ['integration', 'result'],
    registers,
  });
  const failures = new Counter({
    name: 'vigil_notification_attempt_failures_total',
    help: 'Failed delivery attempts by integration type and reason.',
    labelNames: ['integration', 'reason'],
    registers,
  });
  const latency = new Histogram({
    name: 'vigil_notification_attempt_seconds',
    help: 'Duration of delivery attempts by integration type.',
    labelNames: ['integration'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  return {
    onAttempt(entry, attempt) {
      latency.observe({ integration: entry.integrationType }, attempt.durationMs / 1000);
      if (!attempt.ok)
        failures.inc({ integration: entry.integrationType, reason: attempt.reason ?? 'unknown' });
    },
    onFinished(record) {
      finished.inc({ integration: record.integrationType, result: record.status });
    },
  };
}
