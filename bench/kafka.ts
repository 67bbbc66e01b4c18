/**
 * `npm run bench:kafka`: Kafka ingest throughput and consumer lag, on a real broker
 * (test/support/kafka-broker.ts; run `node scripts/prepare-kafka.mjs` once first).
 *
 * For each message format (`json`: one sample per message; `json-batch`: 100 samples of one series
 * per message) the same pre-produced topic (S series × M five-minute samples, keyed and
 * partitioned by the producer convention) is consumed, in one run, by:
 * - raw:          a plain kafkajs consumer (same fetch settings) that only JSON-decodes every value;
 * - vigil_ingest: Vigil's Kafka pipeline with a count-only operator (decode, validation, series
 *                 keys, partition checks, routing to the worker thread, checkpoints + commits);
 * - vigil_full:   Vigil's Kafka pipeline with the anomaly detector (what a deployment runs).
 * Each consumer runs REPEATS times, interleaved, with a fresh consumer group (and state topic); a
 * run's rate is samples / (time the last sample was processed − time the first batch arrived);
 * figures are medians, and the ratios are the medians of the per-run ratios (same conditions). A
 * first, discarded round warms the JIT and the page cache for all of them. The machine's load
 * average is printed: on shared cores the per-run figures vary widely.
 * Then the lag under sustained load: Vigil (anomaly detector) consumes while a producer writes at a
 * fixed fraction of the measured vigil_full rate for LOAD_SECONDS; the consumer lag (log end
 * offsets − Vigil's positions, in messages) is sampled every 250 ms.
 *
 * Environment: VIGIL_BENCH_SERIES (200), VIGIL_BENCH_SAMPLES (2000 per series), VIGIL_BENCH_REPEATS
 * (5), VIGIL_BENCH_LOAD_SECONDS (10), VIGIL_BENCH_LOAD_FRACTION (0.5). Last line: one JSON object.
 */
import { availableParallelism, loadavg } from 'node:os';
import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';
import { seriesKey } from '../src/common/index.js';
import { loadVigilConfigText } from '../src/app/config.js';
import { startKafkaPipeline, type KafkaPipeline } from '../src/app/kafka-pipeline.js';
import { createLogger } from '../src/app/logger.js';
import { createMetrics } from '../src/app/metrics.js';
import { encodeBatchJson, encodeSampleJson, partitionForKey } from '../src/ingest/index.js';
import { startKafkaBroker, type KafkaBroker } from '../test/support/kafka-broker.js';
import { dailySeries } from '../test/support/series.js';
import { median, quantile, round } from './lib/stats.js';

const SERIES = Number(process.env['VIGIL_BENCH_SERIES'] ?? 200);
const PER_SERIES = Number(process.env['VIGIL_BENCH_SAMPLES'] ?? 2000);
const REPEATS = Number(process.env['VIGIL_BENCH_REPEATS'] ?? 5);
const LOAD_SECONDS = Number(process.env['VIGIL_BENCH_LOAD_SECONDS'] ?? 10);
const LOAD_FRACTION = Number(process.env['VIGIL_BENCH_LOAD_FRACTION'] ?? 0.5);
const PARTITIONS = 4;
const BATCH = 100;
const STEP = 5 * 60_000;
const N = SERIES * PER_SERIES;
type Format = 'json' | 'json-batch';

const NOOP = new URL('../test/kafka-ingest/support/noop-operator.js', import.meta.url).href;

interface Sample {
  metric: string;
  labels: Record<string, string>;
  key: string;
  ts: number;
  value: number;
}

/** S series of M samples, interleaved in time order. */
function workload(endMs: number, from = 0, per = PER_SERIES): Sample[][] {
  return Array.from({ length: SERIES }, (_, i) => {
    const labels = { host: `h${i}`, dc: `dc${i % 4}` };
    const key = seriesKey('bench_requests', labels);
    return dailySeries(per, STEP, endMs, i + 1 + from).map((p) => ({
      metric: 'bench_requests',
      labels,
      key,
      ts: p.ts,
      value: p.value,
    }));
  });
}

/** Produces the series as `format` messages keyed by series key, explicit convention partitions. */
async function produce(
  producer: Producer,
  topic: string,
  format: Format,
  series: Sample[][],
  batch = BATCH,
): Promise<number> {
  let messages = 0;
  const per = format === 'json' ? 1 : batch;
  const len = series[0]?.length ?? 0;
  for (let start = 0; start < len; start += per * 10) {
    const out: { key: string; value: string; partition: number }[] = [];
    for (let j = start; j < Math.min(len, start + per * 10); j += per)
      for (const s of series) {
        const chunk = s.slice(j, j + per);
        const key = chunk[0]!.key;
        out.push({
          key,
          value: format === 'json' ? encodeSampleJson(chunk[0]!) : encodeBatchJson(chunk),
          partition: partitionForKey(key, PARTITIONS),
        });
      }
    // Requests stay well below the brokers' 1 MB record-batch limit per partition.
    const perSend = format === 'json' ? 2000 : Math.max(1, Math.floor(2000 / per));
    for (let i = 0; i < out.length; i += perSend)
      await producer.send({ topic, acks: -1, messages: out.slice(i, i + perSend) });
    messages += out.length;
  }
  return messages;
}

/** The raw kafkajs consumer: decodes every value, counts samples; rate from first to last sample. */
async function raw(kafka: Kafka, topic: string, run: number): Promise<{ rate: number; seconds: number }> {
  const consumer = kafka.consumer({
    groupId: `raw-${topic}-${run}`,
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: 1024 * 1024,
    sessionTimeout: 30_000,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  let first = 0;
  let last = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: true,
    eachBatch: async (payload) => {
      const { batch } = payload;
      if (first === 0) first = Date.now();
      let n = 0;
      for (const m of batch.messages) {
        const v = JSON.parse(m.value!.toString('utf8')) as { samples?: unknown[] };
        n += Array.isArray(v.samples) ? v.samples.length : 1;
      }
      seen += n;
      if (seen >= N) {
        last = Date.now();
        done();
      }
      await payload.heartbeat();
    },
  });
  await finished;
  await consumer.disconnect();
  return { rate: N / ((last - first) / 1000), seconds: (last - first) / 1000 };
}

function vigilConfig(broker: KafkaBroker, topic: string, group: string) {
  return loadVigilConfigText(`
runtime:
  key_groups: 128
  checkpoint_interval: 2s
ingest:
  kafka:
    brokers: [${broker.brokers.join(', ')}]
    topics: [${topic}]
    group_id: ${group}
    fetch_max_wait: 100ms
`);
}

async function startVigil(
  broker: KafkaBroker,
  topic: string,
  group: string,
  detector: boolean,
): Promise<KafkaPipeline> {
  const config = vigilConfig(broker, topic, group);
  const operatorOptions = { detection: config.detection, alerting: config.alerting };
  return startKafkaPipeline({
    config,
    operatorOptions,
    logger: createLogger('warn'),
    metrics: createMetrics({ queueDepth: () => [], series: () => 0 }),
    onAlertEvents: () => undefined,
    ...(detector ? {} : { operator: { module: NOOP, name: 'count-only', stateVersion: 1 } }),
  });
}

const processed = (p: KafkaPipeline): number =>
  p.runtime.stats().workers.reduce((n, w) => n + w.processed, 0);

/** Vigil consuming the whole topic: rate from the first processed sample to the last. */
async function vigil(
  broker: KafkaBroker,
  topic: string,
  run: number,
  detector: boolean,
): Promise<{ rate: number; seconds: number }> {
  const p = await startVigil(
    broker,
    topic,
    `vigil-${detector ? 'full' : 'ingest'}-${topic}-${run}`,
    detector,
  );
  const deadline = Date.now() + 600_000;
  for (;;) {
    const n = processed(p);
    if (n >= N) break;
    if (Date.now() > deadline) throw new Error(`vigil processed ${n} of ${N} in 600 s`);
    await new Promise((r) => setTimeout(r, 2));
  }
  const last = Date.now();
  const first = p.stats().firstRecordAt ?? last;
  await p.close();
  return { rate: N / ((last - first) / 1000), seconds: (last - first) / 1000 };
}

/** Waits until `done()` (polling every 20 ms); throws with `what()` after `boundMs`. */
async function until(done: () => boolean, boundMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${boundMs} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Lag under a sustained produce rate (samples/s) while Vigil (detector) consumes. */
async function sustained(broker: KafkaBroker, producer: Producer, format: Format, rate: number) {
  const topic = `bench-load-${format}`;
  await broker.createTopic(topic, PARTITIONS);
  const p = await startVigil(broker, topic, `vigil-load-${format}`, true);
  // History first (400 five-minute samples per series), so the detectors are past warm-up.
  // Far enough back that the live part (one-minute steps, up to ~3,000 per series) stays in the past:
  // ingest refuses timestamps beyond the allowed future skew.
  const endHist = Date.now() - 10 * 86_400_000;
  await produce(producer, topic, format, workload(endHist, 1000, 400));
  await until(
    () => processed(p) >= SERIES * 400,
    300_000,
    () => `history: processed ${processed(p)} of ${SERIES * 400}`,
  );
  const lags: number[] = [];
  let stop = false;
  const sampler = (async () => {
    while (!stop) {
      lags.push(await p.lag());
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  // Live data: `per` one-minute samples per series per tick, ticks paced to `rate` samples/s.
  const per = format === 'json' ? 1 : Math.max(1, Math.round(rate / SERIES / 20));
  const t0 = Date.now();
  let sent = 0;
  for (let tick = 0; Date.now() - t0 < LOAD_SECONDS * 1000; tick++) {
    const live = workload(endHist, 1000, 1).map((s) =>
      Array.from({ length: per }, (_, j) => {
        const ts = endHist + (tick * per + j + 1) * 60_000;
        return {
          ...s[0]!,
          ts,
          value: 1000 + 400 * Math.sin((2 * Math.PI * ts) / 86_400_000) + ((tick * 7 + j) % 13),
        };
      }),
    );
    await produce(producer, topic, format, live, per);
    sent += SERIES * per;
    const due = t0 + (sent / rate) * 1000;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
  }
  const produceSeconds = (Date.now() - t0) / 1000;
  const target = SERIES * 400 + sent;
  const drainStart = Date.now();
  await until(
    () => processed(p) >= target,
    300_000,
    () => `live: processed ${processed(p)} of ${target} (${JSON.stringify(p.stats())})`,
  );
  const drainSeconds = (Date.now() - drainStart) / 1000;
  stop = true;
  await sampler;
  await p.close();
  const msgPerSec = sent / produceSeconds / (format === 'json' ? 1 : per);
  return {
    format,
    offeredSamplesPerSec: round(sent / produceSeconds, 0),
    lagMessagesP50: quantile(lags, 0.5),
    lagMessagesP95: quantile(lags, 0.95),
    lagMessagesMax: Math.max(...lags),
    lagSecondsP95: round(quantile(lags, 0.95) / msgPerSec, 3),
    drainAfterStopSeconds: round(drainSeconds, 3),
  };
}

const broker = await startKafkaBroker();
const result: Record<string, unknown> = {
  bench: 'kafka',
  kafka: broker.version,
  client: 'kafkajs 2.2.4',
  series: SERIES,
  samples: N,
  partitions: PARTITIONS,
  repeats: REPEATS,
  cores: availableParallelism(),
  loadAverageAtStart: loadavg().map((x) => round(x, 2)),
};
try {
  const kafka = new Kafka({ clientId: 'vigil-bench', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const rates: Record<string, number> = {};
  for (const format of ['json', 'json-batch'] as const) {
    const topic = `bench-${format}`;
    await broker.createTopic(topic, PARTITIONS);
    const t = Date.now();
    const messages = await produce(producer, topic, format, workload(Date.now() - 86_400_000));
    console.log(
      `${format}: produced ${N} samples in ${messages} messages in ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );
    const runs: Record<'raw' | 'vigil_ingest' | 'vigil_full', number[]> = {
      raw: [],
      vigil_ingest: [],
      vigil_full: [],
    };
    for (let r = 0; r < REPEATS; r++) {
      // Interleaved, so drift (page cache, JIT, other load) hits every consumer alike.
      const a = await raw(kafka, topic, r);
      const b = await vigil(broker, topic, r, false);
      const c = await vigil(broker, topic, r, true);
      runs.raw.push(a.rate);
      runs.vigil_ingest.push(b.rate);
      runs.vigil_full.push(c.rate);
      console.log(
        `${format} run ${r + 1}: raw ${Math.round(a.rate)}/s (${a.seconds.toFixed(2)} s), vigil_ingest ${Math.round(b.rate)}/s (${b.seconds.toFixed(2)} s), vigil_full ${Math.round(c.rate)}/s (${c.seconds.toFixed(2)} s)`,
      );
    }
    const rawM = median(runs.raw);
    const ingM = median(runs.vigil_ingest);
    const fullM = median(runs.vigil_full);
    rates[format] = fullM;
    result[format] = {
      messages,
      rawSamplesPerSec: Math.round(rawM),
      vigilIngestSamplesPerSec: Math.round(ingM),
      vigilFullSamplesPerSec: Math.round(fullM),
      ingestRatio: round(median(runs.vigil_ingest.map((v, i) => v / runs.raw[i]!)), 3),
      fullRatio: round(median(runs.vigil_full.map((v, i) => v / runs.raw[i]!)), 3),
      ingestRatioRuns: runs.vigil_ingest.map((v, i) => round(v / runs.raw[i]!, 3)),
    };
    console.log(`${format}: ${JSON.stringify(result[format])}`);
  }
  const lag = [];
  for (const format of ['json', 'json-batch'] as const) {
    const rate = Math.max(1000, Math.round((rates[format] ?? 10_000) * LOAD_FRACTION));
    const r = await sustained(broker, producer, format, rate);
    console.log(`sustained load ${format}: ${JSON.stringify(r)}`);
    lag.push(r);
  }
  result['sustained'] = { seconds: LOAD_SECONDS, fractionOfFullRate: LOAD_FRACTION, runs: lag };
  result['loadAverageAtEnd'] = loadavg().map((x) => round(x, 2));
  await producer.disconnect();
} finally {
  await broker.stop();
}
console.log(JSON.stringify(result));
