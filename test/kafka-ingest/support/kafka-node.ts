/**
 * A Vigil node in Kafka mode as a child process, for the Kafka tests (test/support/vigil-cluster.ts
 * starts it): `node dist/test/kafka-ingest/support/kafka-node.js <config.yaml>`.
 *
 * It wires what src/app/main.ts wires (logger, metrics, alert dispatcher, HTTP server with the
 * ingest and alerts APIs) around `startKafkaPipeline` instead of the WAL pipeline, plus two test
 * routes: `GET /api/test/kafka` (the pipeline's counters) and `GET /api/test/series` (every series'
 * status, with the per-key sample count of the counting operator), and `GET /api/test/runtime` (the
 * keyed runtime's counters). By default the operator is the
 * anomaly operator wrapped with a sample counter (support/counting-operator.ts);
 * `VIGIL_TEST_OPERATOR=anomaly` runs the plain anomaly operator, `VIGIL_TEST_DELAY_MS` makes the
 * counting one slow. Prints `vigil listening on <url>` when ready; SIGTERM = graceful stop.
 */
import type { AddressInfo } from 'node:net';
import { createAlertDispatcher } from '../../../src/alerts/index.js';
import { loadVigilConfig } from '../../../src/app/config.js';
import { buildHttpApp } from '../../../src/app/http.js';
import { registerAlertsApi } from '../../../src/app/http/alerts-api.js';
import { startKafkaPipeline, type KafkaPipeline } from '../../../src/app/kafka-pipeline.js';
import { createLogger } from '../../../src/app/logger.js';
import { createMetrics } from '../../../src/app/metrics.js';
import { COUNTING_OPERATOR_NAME, COUNTING_STATE_VERSION } from './counting-operator.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: kafka-node.js <config.yaml>\n');
  process.exit(2);
}
const config = loadVigilConfig(file);
const logger = createLogger(config.log.level);
const ref: { pipeline?: KafkaPipeline } = {};
const metrics = createMetrics({
  queueDepth: () =>
    ref.pipeline?.runtime
      .stats()
      .workers.map((w) => ({ worker: w.index, queued: w.queued, lagMs: w.lagMs, processed: w.processed })) ??
    [],
  series: () => ref.pipeline?.runtime.size ?? 0,
});
const dispatcher = createAlertDispatcher({
  config: config.alerting,
  stateDir: config.state_dir,
  logger,
  externalUrl: 'http://127.0.0.1',
});
await dispatcher.start();
const operatorOptions = { detection: config.detection, alerting: config.alerting };
const counting = process.env['VIGIL_TEST_OPERATOR'] !== 'anomaly';
const p = await startKafkaPipeline({
  config,
  operatorOptions,
  logger,
  metrics,
  onAlertEvents: (events, o) => dispatcher.receive(events, o),
  ...(counting
    ? {
        operator: {
          module: new URL('./counting-operator.js', import.meta.url).href,
          name: COUNTING_OPERATOR_NAME,
          stateVersion: COUNTING_STATE_VERSION,
          options: { anomaly: operatorOptions, delayMs: Number(process.env['VIGIL_TEST_DELAY_MS'] ?? 0) },
        },
      }
    : {}),
});
ref.pipeline = p;
const app = await buildHttpApp({
  config,
  logger,
  metrics,
  sink: p.sink,
  ready: () => (p.ready() ? { ready: true } : { ready: false, reason: 'partitions restoring' }),
  plugins: [
    (a) => registerAlertsApi(a, { dispatcher }),
    (a) => {
      a.get('/api/test/kafka', () => p.stats());
      a.get('/api/test/series', () => p.runtime.queryAll({ kind: 'status' }));
      a.get('/api/test/runtime', () => p.runtime.stats());
    },
  ],
});
await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address() as AddressInfo;
process.stderr.write(`vigil listening on http://127.0.0.1:${addr.port}\n`);
process.once('SIGTERM', () => {
  void (async () => {
    await app.close();
    await p.close();
    await dispatcher.close();
    logger.flush();
    process.exit(0);
  })();
});
