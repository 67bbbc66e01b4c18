/**
 * `vigil produce`: replays a CSV in NAB layout (`timestamp,value` with a header line; timestamps
 * `YYYY-MM-DD HH:MM:SS` in UTC, RFC 3339, or epoch milliseconds) into a Kafka topic the way any
 * producer should write for Vigil (src/ingest/kafka/codec.ts): message key = the series key,
 * partition = Kafka's default partitioner for that key (`toPositive(murmur2(key)) % partitions`),
 * value = the JSON of one sample (`json`) or of `{"samples":[...]}` (`json-batch`), acks=-1.
 * It is also the example to copy for a producer of one's own.
 *
 *     vigil produce --config vigil.yaml --file data/nyc_taxi.csv --metric nyc_taxi --label source=nab
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from 'pino';
import { seriesKey } from '../common/index.js';
import {
  createKafkaClient,
  encodeBatchJson,
  encodeSampleJson,
  KafkaIngestError,
  makeSample,
  partitionForKey,
  type KafkaIngestConfig,
  type OutRecord,
  type Sample,
  type SampleLimits,
} from '../ingest/index.js';

export interface ProduceOptions {
  /** Connection settings (brokers, TLS, SASL, client id): the config's `ingest.kafka`. */
  readonly kafka: KafkaIngestConfig;
  /** Target topic. @defaultValue the first of `kafka.topics` */
  readonly topic?: string;
  /** The CSV file. */
  readonly file: string;
  /** Metric name. @defaultValue the file name, sanitized (`nyc_taxi.csv` → `nyc_taxi`) */
  readonly metric?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** @defaultValue the topic's configured format (`auto` → `json-batch`) */
  readonly format?: 'json' | 'json-batch';
  /** Samples per `json-batch` message. @defaultValue 500 */
  readonly batchSize?: number;
  /** Samples per second (0 = as fast as the brokers take them). @defaultValue 0 */
  readonly rate?: number;
  /** Limits the samples are checked against (refused rows are counted, not sent). */
  readonly limits: SampleLimits;
  readonly logger: Logger;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface ProduceSummary {
  readonly topic: string;
  readonly seriesKey: string;
  readonly partition: number;
  readonly samples: number;
  readonly messages: number;
  /** Rows refused (unparsable timestamp or value, out of range), with the first few reasons. */
  readonly skipped: number;
  readonly skippedReasons: readonly string[];
  readonly seconds: number;
}

const NAB_TS = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

/** Parses a CSV timestamp: NAB's `YYYY-MM-DD HH:MM:SS` (UTC), RFC 3339, or epoch milliseconds. */
export function parseCsvTimestamp(text: string): number | string | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const m = NAB_TS.exec(t);
  if (m) {
    const [, y, mo, d, h, mi, s, ms] = m;
    return Date.UTC(
      Number(y),
      Number(mo) - 1,
      Number(d),
      Number(h),
      Number(mi),
      Number(s ?? 0),
      Number((ms ?? '0').padEnd(3, '0')),
    );
  }
  return t.length > 0 ? t : undefined; // RFC 3339 strings are checked by makeSample
}

/** A metric name from a file name: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export function metricFromFile(file: string): string {
  const name = basename(file)
    .replace(/\.[^.]*$/, '')
    .replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[a-zA-Z_:]/.test(name) ? name : `m_${name}`;
}

/**
 * Replays the CSV into the topic and resolves once every message was acknowledged.
 * @throws KafkaIngestError INGEST_KAFKA_TOPOLOGY (topic missing), INGEST_KAFKA_UNAVAILABLE
 */
export async function runProduce(opts: ProduceOptions): Promise<ProduceSummary> {
  const t0 = Date.now();
  const topic = opts.topic ?? opts.kafka.topics[0];
  if (!topic)
    throw new KafkaIngestError('INGEST_KAFKA_TOPOLOGY', 'no topic given and ingest.kafka.topics is empty');
  const metric = opts.metric ?? metricFromFile(opts.file);
  const labels = opts.labels ?? {};
  const format = opts.format ?? (opts.kafka.format === 'json' ? 'json' : 'json-batch');
  const batchSize = Math.max(1, opts.batchSize ?? 500);

  // Parse and check every row first: nothing is sent for a file we cannot read.
  const lines = readFileSync(opts.file, 'utf8').split(/\r?\n/);
  const samples: Sample[] = [];
  const reasons: string[] = [];
  let skipped = 0;
  const now = Date.now();
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || (i === 0 && /[a-df-zA-DF-Z]/.test(line.split(',')[1] ?? line))) continue; // header
    const [tsText = '', valueText = ''] = line.split(',');
    const ts = parseCsvTimestamp(tsText);
    const value = valueText.trim() === '' ? NaN : Number(valueText);
    const c = makeSample(metric, labels, ts, value, now, opts.limits);
    if (c.ok) samples.push(c.sample);
    else {
      skipped++;
      if (reasons.length < 5) reasons.push(`line ${i + 1}: ${c.code}: ${c.reason}`);
    }
  }
  samples.sort((a, b) => a.ts - b.ts);

  const client = createKafkaClient(opts.kafka, opts.logger);
  const admin = await client.admin();
  let partitions: number | undefined;
  try {
    partitions = await admin.partitions(topic);
  } finally {
    await admin.disconnect();
  }
  if (partitions === undefined)
    throw new KafkaIngestError('INGEST_KAFKA_TOPOLOGY', `topic ${topic} does not exist`);
  const key = seriesKey(metric, labels);
  const partition = partitionForKey(key, partitions);
  const producer = await client.producer();
  let messages = 0;
  try {
    const perSend = format === 'json' ? 1000 : batchSize * 20;
    for (let i = 0; i < samples.length; i += perSend) {
      const slice = samples.slice(i, i + perSend);
      const records: OutRecord[] = [];
      if (format === 'json')
        for (const s of slice) records.push({ key, value: encodeSampleJson(s), partition });
      else
        for (let j = 0; j < slice.length; j += batchSize)
          records.push({ key, value: encodeBatchJson(slice.slice(j, j + batchSize)), partition });
      await producer.send(topic, records);
      messages += records.length;
      opts.onProgress?.(i + slice.length, samples.length);
      if (opts.rate && opts.rate > 0) {
        const due = t0 + ((i + slice.length) / opts.rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  } finally {
    await producer.disconnect();
  }
  return {
    topic,
    seriesKey: key,
    partition,
    samples: samples.length,
    messages,
    skipped,
    skippedReasons: reasons,
    seconds: (Date.now() - t0) / 1000,
  };
}
