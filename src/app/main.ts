/**
 * Starts a Vigil node: logger and metrics, the alert dispatcher, the pipeline (keyed runtime +
 * WAL + checkpoints, recovered from the state directory), and the HTTP server; and stops it in
 * reverse order, draining in-flight work (`close`).
 *
 *   HTTP ingest ──▶ sink: runtime.offer + WAL ──▶ workers: anomaly operator (engine + lifecycle)
 *                                                        │ alert events
 *                                                        ▼
 *                            dispatcher: routes, groups, silences, inhibition, outbox ──▶ receivers
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createAlertDispatcher, createDetectionPolicy, type AlertDispatcher } from '../alerts/index.js';
import { anomalyOperatorOptions } from '../operators/anomaly-operator.js';
import { createOutboundPolicy, receiverUrls } from './auth/outbound.js';
import { redactConfig, type VigilConfig } from './config.js';
import { buildHttpApp } from './http.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, retryingNotifications } from './metrics.js';
import { registerConsole } from './http/console.js';
import { startPipeline, type Pipeline, type RecoveryReport } from './pipeline.js';
import { startKafkaPipeline } from './kafka-pipeline.js';

export interface VigilNode {
  /** The HTTP server's address (host:port as bound). */
  readonly url: string;
  readonly app: FastifyInstance;
  readonly pipeline: Pipeline;
  readonly dispatcher: AlertDispatcher;
  readonly recovery: RecoveryReport;
  readonly logger: Logger;
  /** Graceful stop: stop accepting, drain, checkpoint, flush alerts, close. */
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  readonly onProgress?: (phase: string, done: number, total: number) => void;
  /** See PipelineOptions.operatorModule (fault tests). */
  readonly operatorModule?: string;
}

export async function startVigil(config: VigilConfig, opts: StartOptions = {}): Promise<VigilNode> {
  const logger = opts.logger ?? createLogger(config.log.level);
  mkdirSync(config.state_dir, { recursive: true });
  const host = config.server.host;
  // The metrics read the pipeline lazily: it starts after them (it reports into them).
  const live: { pipeline?: Pipeline } = {};
  const metrics = createMetrics({
    queueDepth: () =>
      live.pipeline?.runtime.stats().workers.map((w) => ({
        worker: w.index,
        queued: w.queued,
        lagMs: w.lagMs,
        processed: w.processed,
      })) ?? [],
    series: () => live.pipeline?.runtime.size ?? 0,
    operatorStats: () =>
      live.pipeline?.runtime.stats().workers.map((w) => ({ worker: w.index, stats: w.operatorStats })) ?? [],
    notificationsRetrying: () => retryingNotifications(dispatcher),
  });

  const scheme = config.server.tls ? 'https' : 'http';
  // Receivers may call only what security.outbound_allowlist permits (default: public addresses).
  const outbound = createOutboundPolicy(config.security.outbound_allowlist);
  await outbound.prime(receiverUrls(config.alerting));
  const dispatcher = createAlertDispatcher({
    config: config.alerting,
    stateDir: config.state_dir,
    logger: logger.child({ module: 'alerts' }),
    externalUrl: config.server.external_url ?? `${scheme}://${host}:${config.server.port}`,
    registry: metrics.registry,
    checkUrl: outbound.checkUrl,
  });
  await dispatcher.start();

  // Kafka mode: the input topics are the log (no WAL); HTTP ingest produces into them.
  const start = config.ingest.kafka?.enabled ? startKafkaPipeline : startPipeline;
  const p = await start({
    config,
    operatorOptions: anomalyOperatorOptions(config.detection, config.alerting),
    logger,
    metrics,
    onAlertEvents: (events, o) => dispatcher.receive(events, o),
    // Kafka mode: alerts of partitions that moved to another node are that node's now.
    onAlertsReleased: (events: readonly { readonly fingerprint: string }[]) =>
      dispatcher.release(events.map((e) => e.fingerprint)),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.operatorModule ? { operatorModule: opts.operatorModule } : {}),
  });
  live.pipeline = p;
  // Silences reach the operators (silenced samples are kept out of training); called at once
  // with the current set, then on every change.
  dispatcher.onSilencesChanged((message) => p.runtime.broadcast(message));

  const policy = createDetectionPolicy(config.alerting, config.detection.threshold);
  const app = await buildHttpApp({
    config,
    logger,
    metrics,
    sink: p.sink,
    ready: () =>
      p.ready()
        ? { ready: true }
        : {
            ready: false,
            reason: config.ingest.kafka?.enabled
              ? 'joining the consumer group or restoring partitions from the state topic'
              : 'recovering or write-ahead log not writable',
          },
    // The alerts and series endpoints, registered by http.ts once per tenant.
    api: {
      dispatcher,
      runtime: p.runtime,
      config: () => redactConfig(config),
      thresholdFor: (labels) => policy.paramsFor(labels).threshold,
    },
    // The series-limit alert (limits.max_series_per_tenant) goes through the routes like any alert.
    onAlertEvents: (events) => dispatcher.receive(events),
    plugins: [(a) => registerConsole(a)],
  });
  await app.listen({ host, port: config.server.port });
  const addr = app.server.address() as AddressInfo;
  const url = `${scheme}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  logger.info({ url, stateDir: config.state_dir, workers: p.runtime.workerCount }, 'vigil listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    app,
    pipeline: p,
    dispatcher,
    recovery: p.recovery,
    logger,
    close() {
      closing ??= (async () => {
        logger.info('shutting down: draining in-flight work');
        await app.close(); // stops accepting; waits for in-flight requests
        await p.close(); // drains workers, final checkpoint, closes WAL
        await dispatcher.close(); // stops timers; pending notifications stay in the outbox
        outbound.close();
        logger.info('stopped');
        logger.flush();
      })();
      return closing;
    },
  };
}
