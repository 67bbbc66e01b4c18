/**
 * Vigil's Kafka message formats and the producer convention (README "Kafka ingest").
 *
 * Format `json`, one sample per message:
 *
 *     key:   cpu_seconds_total{host="a",mode="idle"}          (the series key, UTF-8)
 *     value: {"metric":"cpu_seconds_total","labels":{"host":"a","mode":"idle"},"ts":1732000000000,"value":12.5}
 *
 * Format `json-batch`, several samples per message (the body of `POST /api/v1/samples`):
 *
 *     key:   cpu_seconds_total{host="a",mode="idle"}
 *     value: {"samples":[{"metric":"cpu_seconds_total","labels":{...},"ts":...,"value":...}, ...]}
 *
 * Format `auto` decides per message: an object with a `samples` field is a batch.
 *
 * Items follow the JSON API's rules exactly (validate.ts): `ts` in epoch milliseconds or RFC 3339,
 * `value` finite, labels strings, unknown fields refused. Headers are ignored.
 *
 * Producer convention: the message key is the series key (`metric{name="value",...}`, labels
 * sorted by name, values escaped as in src/common/series-key.ts) and the partition is Kafka's
 * default one for that key, `toPositive(murmur2(utf8(key))) % partitions` (the Java client's and
 * kafkajs ≥ 2's DefaultPartitioner; librdkafka clients need `partitioner=murmur2_random`). A batch
 * message should hold one series (key = its series key); it may mix series that fall in the same
 * partition. Vigil checks every sample against the partition it was read from, so a producer that
 * breaks the convention costs a repartition (or a dead letter), never a second owner of a series.
 */
import { isUtf8 } from 'node:buffer';
import { murmur2, toPositive } from '../../common/index.js';
import type { RejectCode, Sample } from '../types.js';
import {
  checkTimestamp,
  checkValue,
  makeSample,
  typeOf,
  type Refusal,
  type SampleLimits,
} from '../validate.js';

/** How message values are decoded. */
export type KafkaMessageFormat = 'json' | 'json-batch' | 'auto';

/** Why a whole message was dead-lettered (bounded set: also a metric label value). */
export type KafkaPoisonCode =
  /** Null value (a tombstone) or zero bytes. */
  | 'EMPTY_MESSAGE'
  /** Larger than `max_message_bytes`. */
  | 'MESSAGE_TOO_LARGE'
  /** Not UTF-8 JSON. */
  | 'NOT_JSON'
  /** JSON of the wrong shape (not an object, `samples` not an array, a batch in a `json` topic...). */
  | 'BAD_MESSAGE';

/**
 * Every code a dead letter can carry in `vigil-error-code`: a whole-message code, a per-item
 * refusal code of the JSON rules, or `MISROUTED` (a sample outside its partition, with
 * `misrouted: dead-letter`).
 */
export type DeadLetterCode = KafkaPoisonCode | RejectCode | 'MISROUTED';

/** A message decoded into samples, with each refused item's index and reason. */
export interface DecodedMessage {
  readonly ok: true;
  /** Valid samples, in item order. */
  readonly samples: readonly Sample[];
  /** The item index of each sample (0 for a single-sample message). */
  readonly itemIndex: readonly number[];
  /** Refused items (by item index). */
  readonly rejected: readonly {
    readonly index: number;
    readonly code: RejectCode;
    readonly reason: string;
  }[];
  /** The parsed items, for dead-lettering one item of a batch. */
  readonly items: readonly unknown[];
  readonly batch: boolean;
}

/** A message refused as a whole. */
export interface PoisonMessage {
  readonly ok: false;
  readonly code: KafkaPoisonCode;
  readonly reason: string;
}

/** A series seen before: its raw `metric` and `labels` as parsed, and the checked result. */
interface SeriesEntry {
  readonly metric: string;
  readonly rawLabels: Readonly<Record<string, unknown>> | null;
  readonly rawCount: number;
  readonly labels: Sample['labels'];
  readonly key: string;
}

/** Same raw labels (any key order) as the entry: then they check and clean to the same result. */
function sameLabels(raw: unknown, e: SeriesEntry): boolean {
  if (raw === undefined || raw === null) return e.rawLabels === null;
  if (e.rawLabels === null || typeof raw !== 'object' || Array.isArray(raw)) return false;
  let n = 0;
  for (const k in raw as Record<string, unknown>) {
    if ((raw as Record<string, unknown>)[k] !== e.rawLabels[k]) return false;
    n++;
  }
  return n === e.rawCount;
}

/**
 * Checks one item exactly as `decodeJsonSamples` (the JSON API) does, with a cache of series seen
 * before: when the item's `metric` and raw `labels` equal those of a cached series, their checks
 * and the series key are reused and only `ts` and `value` are checked.
 */
function decodeItem(
  item: unknown,
  nowMs: number,
  limits: SampleLimits,
  cache: Map<string, SeriesEntry> | undefined,
  cacheKey: string | undefined,
): Sample | Refusal {
  if (item === null || typeof item !== 'object' || Array.isArray(item))
    return { code: 'INVALID_SAMPLE', reason: `sample must be an object, got ${typeOf(item)}` };
  const o = item as Record<string, unknown>;
  for (const k in o)
    if (k !== 'metric' && k !== 'ts' && k !== 'value' && k !== 'labels')
      return { code: 'INVALID_SAMPLE', reason: `unknown field ${JSON.stringify(k)}` };
  if (!('metric' in o)) return { code: 'INVALID_SAMPLE', reason: 'missing field "metric"' };
  if (!('ts' in o)) return { code: 'INVALID_SAMPLE', reason: 'missing field "ts"' };
  if (!('value' in o)) return { code: 'INVALID_SAMPLE', reason: 'missing field "value"' };
  const e = cacheKey !== undefined ? cache?.get(cacheKey) : undefined;
  if (e && o['metric'] === e.metric && sameLabels(o['labels'], e)) {
    const t = checkTimestamp(o['ts'], nowMs, limits);
    if (!t.ok) return { code: t.code, reason: t.reason };
    const v = checkValue(o['value']);
    if (v) return v;
    return { metric: e.metric, labels: e.labels, key: e.key, ts: t.ts, value: o['value'] as number };
  }
  const c = makeSample(o['metric'] as string, o['labels'], o['ts'], o['value'], nowMs, limits);
  if (!c.ok) return { code: c.code, reason: c.reason };
  if (cache && cacheKey !== undefined && c.sample.key === cacheKey) {
    if (cache.size >= SERIES_CACHE) cache.clear();
    const raw = o['labels'];
    const rawLabels = raw === undefined || raw === null ? null : (raw as Record<string, unknown>);
    cache.set(cacheKey, {
      metric: c.sample.metric,
      rawLabels,
      rawCount: rawLabels ? Object.keys(rawLabels).length : 0,
      labels: c.sample.labels,
      key: c.sample.key,
    });
  }
  return c.sample;
}

const NO_REJECTS: DecodedMessage['rejected'] = Object.freeze([]);
const FIRST_ITEM: readonly number[] = Object.freeze([0]);

/** Series kept in a decoder's cache (cleared when full). */
const SERIES_CACHE = 1_000_000;

/** A decoder of message values (with a per-series cache: use one per consumer). */
export interface KafkaValueDecoder {
  /**
   * Decodes one message value; `recordKey` (the message key) selects the cache entry. Never throws
   * for bad input: whole-message problems come back as a {@link PoisonMessage}, item problems in
   * `rejected`. Results are the same as without a cache.
   * @param nowMs server clock (epoch ms) for the future-skew check
   */
  decode(
    recordKey: Uint8Array | null,
    value: Uint8Array | null,
    nowMs: number,
  ): DecodedMessage | PoisonMessage;
}

/**
 * Creates a decoder for `format`: values longer than `maxBytes` are refused (MESSAGE_TOO_LARGE)
 * without being parsed; items follow the JSON API's rules (validate.ts).
 */
export function createKafkaDecoder(
  format: KafkaMessageFormat,
  limits: SampleLimits,
  maxBytes: number,
): KafkaValueDecoder {
  const cache = new Map<string, SeriesEntry>();
  return { decode: (key, value, nowMs) => decodeValue(key, value, format, nowMs, limits, maxBytes, cache) };
}

/**
 * Decodes one message value without a cache (see {@link createKafkaDecoder}).
 * @param nowMs server clock (epoch ms) for the future-skew check
 * @param maxBytes values longer than this are refused (MESSAGE_TOO_LARGE) without being parsed
 */
export function decodeKafkaValue(
  value: Uint8Array | null,
  format: KafkaMessageFormat,
  nowMs: number,
  limits: SampleLimits,
  maxBytes: number,
): DecodedMessage | PoisonMessage {
  return decodeValue(null, value, format, nowMs, limits, maxBytes, undefined);
}

function decodeValue(
  key: Uint8Array | null,
  value: Uint8Array | null,
  format: KafkaMessageFormat,
  nowMs: number,
  limits: SampleLimits,
  maxBytes: number,
  cache: Map<string, SeriesEntry> | undefined,
): DecodedMessage | PoisonMessage {
  if (value === null || value.length === 0)
    return {
      ok: false,
      code: 'EMPTY_MESSAGE',
      reason: value === null ? 'null value (tombstone)' : 'empty value',
    };
  if (value.length > maxBytes)
    return {
      ok: false,
      code: 'MESSAGE_TOO_LARGE',
      reason: `value is ${value.length} bytes, max_message_bytes is ${maxBytes}`,
    };
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (!isUtf8(buf)) return { ok: false, code: 'NOT_JSON', reason: 'value is not UTF-8 JSON: invalid UTF-8' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    return { ok: false, code: 'NOT_JSON', reason: `value is not UTF-8 JSON: ${(err as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return { ok: false, code: 'BAD_MESSAGE', reason: `value must be a JSON object, got ${typeOf(parsed)}` };
  const isBatch = format === 'json-batch' || (format === 'auto' && 'samples' in parsed);
  if (format === 'json' && 'samples' in parsed && !('metric' in parsed))
    return {
      ok: false,
      code: 'BAD_MESSAGE',
      reason: 'a {"samples":[...]} batch in a topic configured with format json (use json-batch or auto)',
    };
  let items: unknown[];
  if (isBatch) {
    // The JSON API's body rules (http-json.ts decodeJsonSamples).
    for (const k of Object.keys(parsed))
      if (k !== 'samples')
        return {
          ok: false,
          code: 'BAD_MESSAGE',
          reason: `unknown top-level field "${k}" (expected only "samples")`,
        };
    const list = (parsed as { samples?: unknown }).samples;
    if (!Array.isArray(list))
      return { ok: false, code: 'BAD_MESSAGE', reason: `"samples" must be an array, got ${typeOf(list)}` };
    items = list;
  } else items = [parsed];
  const cacheKey =
    cache && key !== null && key.length > 0
      ? (Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength)).toString(
          'utf8',
        )
      : undefined;
  if (!isBatch) {
    // The common case, without the batch bookkeeping.
    const r = decodeItem(parsed, nowMs, limits, cache, cacheKey);
    return 'key' in r
      ? { ok: true, samples: [r], itemIndex: FIRST_ITEM, rejected: NO_REJECTS, items, batch: false }
      : { ok: true, samples: [], itemIndex: [], rejected: [{ index: 0, ...r }], items, batch: false };
  }
  const samples: Sample[] = [];
  const itemIndex: number[] = [];
  const rejected: { index: number; code: RejectCode; reason: string }[] = [];
  for (let i = 0; i < items.length; i++) {
    const r = decodeItem(items[i], nowMs, limits, cache, cacheKey);
    if ('key' in r) {
      samples.push(r);
      itemIndex.push(i);
    } else rejected.push({ index: i, code: r.code, reason: r.reason });
  }
  return { ok: true, samples, itemIndex, rejected, items, batch: isBatch };
}

/** The JSON of one sample as Vigil produces it (format `json`; also an item of `json-batch`). */
export function encodeSampleJson(s: Pick<Sample, 'metric' | 'labels' | 'ts' | 'value'>): string {
  return JSON.stringify({ metric: s.metric, labels: s.labels, ts: s.ts, value: s.value });
}

/** The value of a `json-batch` message holding `samples`. */
export function encodeBatchJson(
  samples: readonly Pick<Sample, 'metric' | 'labels' | 'ts' | 'value'>[],
): string {
  return `{"samples":[${samples.map(encodeSampleJson).join(',')}]}`;
}

/**
 * The partition the producer convention puts `seriesKey` in: Kafka's default partitioner,
 * `toPositive(murmur2(utf8(key))) % partitions`.
 */
export function partitionForKey(seriesKey: string, partitions: number): number {
  return toPositive(murmur2(seriesKey)) % partitions;
}

/**
 * The key groups that lie in `partition` when `partitions` divides `keyGroups`: a key's group is
 * `h % keyGroups` and its partition `h % partitions`, so group g lies in partition `g % partitions`.
 */
export function keyGroupsOfPartition(partition: number, partitions: number, keyGroups: number): number[] {
  const out: number[] = [];
  for (let g = partition; g < keyGroups; g += partitions) out.push(g);
  return out;
}
