/**
 * Prometheus remote write 1.0 at `POST /api/v1/write` (prometheus.io/docs/specs/remote_write_spec).
 *
 * Body: a `prometheus.WriteRequest` (proto/remote.proto, proto/types.proto) in protobuf, compressed
 * with Snappy's block format; `Content-Type: application/x-protobuf`, `Content-Encoding: snappy`.
 *
 *     WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
 *     TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
 *                    repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
 *     Label        { string name = 1; string value = 2; }
 *     Sample       { double value = 1; int64 timestamp = 2; }          // timestamp: epoch ms
 *     Histogram    { uint64 count_int = 1 | double count_float = 2; double sum = 3; int64 timestamp = 15; ... }
 *
 * Mapping (README "Naming rules"):
 * - `__name__` is the metric; every other label is kept as it is; other labels starting with `__`
 *   (Prometheus-internal, e.g. `__type__` metadata labels) are dropped, not refused.
 * - each sample is one Vigil sample; the series key is the same as for a JSON sample with the same
 *   metric and labels. Counters arrive as their raw cumulative value (Vigil stores what it gets).
 * - staleness markers (value bits 0x7ff0000000000002) are skipped and counted, not refused; any
 *   other NaN or ±Inf is refused per sample.
 * - native histograms become two samples, `<name>_count` and `<name>_sum` (the buckets are not
 *   kept: one detector per bucket would multiply series for little signal).
 * - exemplars and metadata are ignored.
 * - every sample passes exactly `makeSample`'s checks (validate.ts), hoisted: metric and labels
 *   once per timeseries (a bad name refuses the whole series), timestamp and value per sample.
 *
 * Answers (Prometheus senders retry 5xx and 429, and drop a batch on any other 4xx):
 * - 204 when every sample was accepted (or was an exact duplicate, or a staleness marker);
 * - 400 `text/plain` listing each problem (`timeseries[3] {__name__="x",...} sample[0]: CODE reason`)
 *   when any item was refused. The good samples of that request ARE stored; 400 only tells the
 *   sender not to resend the batch, as Prometheus's own receiver does for out-of-order samples;
 * - 400 `INGEST_BAD_REQUEST` when the body is not valid snappy or not a WriteRequest (nothing stored);
 * - 413 when the body, or its declared uncompressed size, exceeds the body limit, or it holds more
 *   than `max_samples_per_request` samples; 415 for a remote write 2.0 request
 *   (`proto=io.prometheus.write.v2.Request`) or another content type or encoding;
 * - 503/429 with Retry-After when the sink is overloaded or unavailable (retried by Prometheus).
 *
 * 204 and partial-refusal 400 answers carry `X-Prometheus-Remote-Write-Samples-Written` (accepted +
 * duplicates).
 */
import type { FastifyInstance } from 'fastify';
import { seriesKey } from '../../common/index.js';
import { IngestError } from '../errors.js';
import { admitHook, type IngestRouteDeps } from '../http-json.js';
import type { Sample } from '../types.js';
import { checkLabels, checkMetricName, checkTimestamp, checkValue, type SampleLimits } from '../validate.js';
import {
  clip,
  formatProblems,
  mediaTypeParam,
  rawBufferParser,
  reject,
  submitBatch,
  type DecodedBatch,
  type LocatedRejection,
  type ProtocolOutcome,
} from './common.js';
import { ProtoError, ProtoReader, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './protobuf-reader.js';
import { SnappyError, snappyDecompress } from './snappy.js';

/** Upper bound on a decompressed body when the caller gives none (bytes). */
const DEFAULT_MAX_DECOMPRESSED = 64 * 1024 * 1024;

// Tags (field << 3 | wire type) of the fields we read.
const TAG_WR_TIMESERIES = (1 << 3) | WIRE_LEN;
const TAG_TS_LABEL = (1 << 3) | WIRE_LEN;
const TAG_TS_SAMPLE = (2 << 3) | WIRE_LEN;
const TAG_TS_HISTOGRAM = (4 << 3) | WIRE_LEN;
const TAG_LABEL_NAME = (1 << 3) | WIRE_LEN;
const TAG_LABEL_VALUE = (2 << 3) | WIRE_LEN;
const TAG_SAMPLE_VALUE = (1 << 3) | WIRE_I64;
const TAG_SAMPLE_TS = (2 << 3) | WIRE_VARINT;
const TAG_H_COUNT_INT = (1 << 3) | WIRE_VARINT;
const TAG_H_COUNT_FLOAT = (2 << 3) | WIRE_I64;
const TAG_H_SUM = (3 << 3) | WIRE_I64;
const TAG_H_TS = (15 << 3) | WIRE_VARINT;

/** Prometheus's staleness marker `value.StaleNaN`: 0x7ff0000000000002. */
const STALE_HI = 0x7ff00000;
const STALE_LO = 0x00000002;

/**
 * Decodes a remote-write body (snappy-compressed `WriteRequest`) into checked samples.
 *
 * Item index = timeseries index (0-based). A timeseries whose bytes are malformed while its
 * framing is intact is refused on its own; a broken top-level framing or snappy stream refuses the
 * request (IngestError `INGEST_BAD_REQUEST`).
 *
 * @param body - the request body as sent (snappy block format)
 * @param nowMs - server clock, epoch ms (future-skew check)
 * @param maxSamples - more samples → IngestError `INGEST_TOO_MANY_SAMPLES`
 * @param maxDecompressedBytes - larger declared size → IngestError `INGEST_BODY_TOO_LARGE`
 * @throws IngestError and nothing else
 */
export function decodeRemoteWrite(
  body: Uint8Array,
  nowMs: number,
  limits: SampleLimits,
  maxSamples: number,
  maxDecompressedBytes = DEFAULT_MAX_DECOMPRESSED,
): DecodedBatch {
  let raw: Uint8Array;
  try {
    raw = snappyDecompress(body, maxDecompressedBytes);
  } catch (e) {
    if (e instanceof SnappyError) {
      if ((e as SnappyError & { tooLarge?: boolean }).tooLarge)
        throw new IngestError('INGEST_BODY_TOO_LARGE', `remote write body: ${e.message}`, {
          limit: maxDecompressedBytes,
        });
      throw new IngestError(
        'INGEST_BAD_REQUEST',
        `remote write body is not valid snappy (block format): ${e.message} at byte ${e.offset}`,
      );
    }
    throw e;
  }
  return decodeWriteRequest(raw, nowMs, limits, maxSamples);
}

// Scratch space for one timeseries (decoding is synchronous, so one set is enough).
let names: string[] = [];
let values: string[] = [];
let sValues: number[] = [];
let sTimes: number[] = [];
let sStale: boolean[] = [];
let hCounts: number[] = [];
let hSums: number[] = [];
let hTimes: number[] = [];
let hStale: boolean[] = [];

/**
 * Decodes an uncompressed `WriteRequest` (see {@link decodeRemoteWrite}).
 * @throws IngestError and nothing else
 */
export function decodeWriteRequest(
  raw: Uint8Array,
  nowMs: number,
  limits: SampleLimits,
  maxSamples: number,
): DecodedBatch {
  const r = new ProtoReader(raw);
  const batch: MutableBatch = { samples: [], indices: [], rejected: [], skipped: 0, count: 0 };
  let tsIndex = 0;
  try {
    while (r.pos < r.end) {
      const t = r.tag();
      if (t === TAG_WR_TIMESERIES) {
        const end = r.len();
        decodeTimeSeries(r, end, tsIndex++, batch, nowMs, limits, maxSamples);
        r.pos = end;
        r.end = raw.length;
      } else if (t >>> 3 === 1) throw new ProtoError(`WriteRequest.timeseries has wire type ${t & 7}`, r.pos);
      else r.skip(t & 7);
    }
  } catch (e) {
    if (e instanceof ProtoError)
      throw new IngestError(
        'INGEST_BAD_REQUEST',
        `remote write body is not a valid prometheus.WriteRequest: ${e.message}`,
      );
    throw e;
  } finally {
    resetScratchIfLarge();
  }
  return { samples: batch.samples, indices: batch.indices, rejected: batch.rejected, skipped: batch.skipped };
}
interface MutableBatch {
  samples: Sample[];
  indices: number[];
  rejected: LocatedRejection[];
  skipped: number;
  /** Samples decoded so far (refused ones included), against `maxSamples`. */
  count: number;
}

function resetScratchIfLarge(): void {
  // A request with a huge series would otherwise pin its scratch arrays forever.
  if (sValues.length > 4096 || names.length > 1024 || hCounts.length > 4096) {
    names = [];
    values = [];
    sValues = [];
    sTimes = [];
    sStale = [];
    hCounts = [];
    hSums = [];
    hTimes = [];
    hStale = [];
  }
}

function decodeTimeSeries(
  r: ProtoReader,
  end: number,
  index: number,
  batch: MutableBatch,
  nowMs: number,
  limits: SampleLimits,
  maxSamples: number,
): void {
  let nLabels = 0;
  let nSamples = 0;
  let nHist = 0;
  r.end = end;
  try {
    while (r.pos < end) {
      const t = r.tag();
      if (t === TAG_TS_SAMPLE) {
        const sEnd = r.len();
        r.end = sEnd;
        let value = 0;
        let ts = 0;
        let stale = false;
        while (r.pos < sEnd) {
          const st = r.tag();
          if (st === TAG_SAMPLE_VALUE) {
            const p = r.pos;
            r.fixed64();
            stale = r.lo === STALE_LO && r.hi === STALE_HI;
            value = r.view.getFloat64(p, true);
          } else if (st === TAG_SAMPLE_TS) ts = r.int64();
          else if (st >>> 3 === 1 || st >>> 3 === 2)
            throw new ProtoError(`Sample field ${st >>> 3} has wire type ${st & 7}`, r.pos);
          else r.skip(st & 7);
        }
        r.end = end;
        if (++batch.count > maxSamples) throw tooMany(maxSamples);
        sValues[nSamples] = value;
        sTimes[nSamples] = ts;
        sStale[nSamples] = stale;
        nSamples++;
      } else if (t === TAG_TS_LABEL) {
        const lEnd = r.len();
        r.end = lEnd;
        let name = '';
        let value = '';
        while (r.pos < lEnd) {
          const lt = r.tag();
          if (lt === TAG_LABEL_NAME) name = r.string();
          else if (lt === TAG_LABEL_VALUE) value = r.string();
          else if (lt >>> 3 === 1 || lt >>> 3 === 2)
            throw new ProtoError(`Label field ${lt >>> 3} has wire type ${lt & 7}`, r.pos);
          else r.skip(lt & 7);
        }
        r.end = end;
        names[nLabels] = name;
        values[nLabels] = value;
        nLabels++;
      } else if (t === TAG_TS_HISTOGRAM) {
        const hEnd = r.len();
        r.end = hEnd;
        let count = 0;
        let sum = 0;
        let ts = 0;
        let stale = false;
        while (r.pos < hEnd) {
          const ht = r.tag();
          if (ht === TAG_H_COUNT_INT) count = r.uint64();
          else if (ht === TAG_H_COUNT_FLOAT) count = r.double();
          else if (ht === TAG_H_SUM) {
            const p = r.pos;
            r.fixed64();
            stale = r.lo === STALE_LO && r.hi === STALE_HI;
            sum = r.view.getFloat64(p, true);
          } else if (ht === TAG_H_TS) ts = r.int64();
          else r.skip(ht & 7);
        }
        r.end = end;
        batch.count += 2;
        if (batch.count > maxSamples) throw tooMany(maxSamples);
        hCounts[nHist] = count;
        hSums[nHist] = sum;
        hTimes[nHist] = ts;
        hStale[nHist] = stale;
        nHist++;
      } else if (t >>> 3 <= 4) {
        if (t >>> 3 === 3 && (t & 7) === WIRE_LEN) r.skip(WIRE_LEN);
        else throw new ProtoError(`TimeSeries field ${t >>> 3} has wire type ${t & 7}`, r.pos);
      } else r.skip(t & 7);
    }
  } catch (e) {
    if (!(e instanceof ProtoError)) throw e;
    batch.rejected.push(
      reject(index, `timeseries[${index}]`, 'INVALID_SAMPLE', `malformed TimeSeries: ${e.message}`),
    );
    return;
  }
  if (nSamples === 0 && nHist === 0) return;

  // Labels → metric + label object. `__name__` is the metric; other `__` labels are dropped.
  let metric: string | undefined;
  const labels: Record<string, string> = {};
  for (let i = 0; i < nLabels; i++) {
    const name = names[i] as string;
    const value = values[i] as string;
    if (name === '__name__') {
      if (metric !== undefined)
        return refuseSeries(
          batch,
          index,
          nLabels,
          nSamples,
          nHist,
          'INVALID_SAMPLE',
          'duplicate __name__ label',
        );
      metric = value;
    } else if (name.charCodeAt(0) === 95 && name.charCodeAt(1) === 95) {
      continue;
    } else if (Object.prototype.hasOwnProperty.call(labels, name)) {
      return refuseSeries(
        batch,
        index,
        nLabels,
        nSamples,
        nHist,
        'INVALID_SAMPLE',
        `duplicate label name ${JSON.stringify(name)}`,
      );
    } else labels[name] = value;
  }
  if (metric === undefined || metric === '')
    return refuseSeries(
      batch,
      index,
      nLabels,
      nSamples,
      nHist,
      'INVALID_NAME',
      'timeseries has no __name__ label',
    );
  const l = checkLabels(labels, limits);
  if (!l.ok) return refuseSeries(batch, index, nLabels, nSamples, nHist, l.code, l.reason);

  if (nSamples > 0) {
    const m = checkMetricName(metric, limits);
    if (m) return refuseSeries(batch, index, nLabels, nSamples, nHist, m.code, m.reason);
    const key = seriesKey(metric, l.labels);
    for (let j = 0; j < nSamples; j++) {
      if (sStale[j]) {
        batch.skipped++;
        continue;
      }
      emit(
        batch,
        index,
        j,
        metric,
        l.labels,
        key,
        sTimes[j] as number,
        sValues[j] as number,
        nowMs,
        limits,
        'sample',
      );
    }
  }
  if (nHist > 0) {
    const countName = metric + '_count';
    const sumName = metric + '_sum';
    const m = checkMetricName(countName, limits) ?? checkMetricName(sumName, limits);
    if (m) {
      batch.rejected.push(
        reject(index, `timeseries[${index}] ${clip(labelText(nLabels))}`, m.code, `histograms: ${m.reason}`),
      );
      return;
    }
    // Series keys share the label part: seriesKey(name, labels) = name + seriesKey('', labels).
    const suffix = seriesKey('', l.labels);
    for (let j = 0; j < nHist; j++) {
      if (hStale[j]) {
        batch.skipped++;
        continue;
      }
      const ts = hTimes[j] as number;
      emit(
        batch,
        index,
        j,
        countName,
        l.labels,
        countName + suffix,
        ts,
        hCounts[j] as number,
        nowMs,
        limits,
        'histogram',
      );
      emit(
        batch,
        index,
        j,
        sumName,
        l.labels,
        sumName + suffix,
        ts,
        hSums[j] as number,
        nowMs,
        limits,
        'histogram',
      );
    }
  }
}

function emit(
  batch: MutableBatch,
  index: number,
  j: number,
  metric: string,
  labels: Record<string, string>,
  key: string,
  ts: number,
  value: number,
  nowMs: number,
  limits: SampleLimits,
  what: 'sample' | 'histogram',
): void {
  const t = checkTimestamp(ts, nowMs, limits);
  if (!t.ok) {
    batch.rejected.push(reject(index, `timeseries[${index}] ${clip(key)} ${what}[${j}]`, t.code, t.reason));
    return;
  }
  const v = checkValue(value);
  if (v) {
    batch.rejected.push(reject(index, `timeseries[${index}] ${clip(key)} ${what}[${j}]`, v.code, v.reason));
    return;
  }
  batch.samples.push({ metric, labels, key, ts: t.ts, value });
  batch.indices.push(index);
}

function refuseSeries(
  batch: MutableBatch,
  index: number,
  nLabels: number,
  nSamples: number,
  nHist: number,
  code: LocatedRejection['code'],
  reason: string,
): void {
  const n = nSamples + 2 * nHist;
  batch.rejected.push(
    reject(
      index,
      `timeseries[${index}] ${clip(labelText(nLabels))}`,
      code,
      `${reason} (${n} sample${n === 1 ? '' : 's'} refused)`,
    ),
  );
}

/** The scratch labels as written by the sender: `{__name__="up", job="api"}`. */
function labelText(nLabels: number): string {
  const parts: string[] = [];
  for (let i = 0; i < nLabels; i++)
    parts.push(`${names[i]}=${JSON.stringify(clip(values[i] as string, 60))}`);
  return `{${parts.join(', ')}}`;
}

function tooMany(maxSamples: number): IngestError {
  return new IngestError('INGEST_TOO_MANY_SAMPLES', `more than ${maxSamples} samples in one request`, {
    limit: maxSamples,
  });
}

/** The 400 body: a summary line, then one line per problem (at most 50). */
export function remoteWriteProblemText(o: ProtocolOutcome): string {
  const head =
    `${o.rejected.length} problem${o.rejected.length === 1 ? '' : 's'}; ` +
    `${o.accepted} samples accepted and stored, ${o.duplicates} duplicates, ${o.skipped} stale markers skipped. ` +
    'Do not resend this batch: the accepted samples are kept.';
  return `${head}\n${formatProblems(o.rejected)}\n`;
}

/**
 * Registers `POST /api/v1/write` in an encapsulated child context (its `application/x-protobuf`
 * parser stays local to it; the app's hooks, e.g. authentication, and error handler apply).
 * Call before `app.ready()`/`listen()`; the route exists once the app is ready.
 */
export function registerRemoteWrite(app: FastifyInstance, deps: IngestRouteDeps): void {
  const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;
  void app.register((child, _opts, done) => {
    child.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer', bodyLimit }, rawBufferParser);
    child.post('/api/v1/write', { onRequest: admitHook(deps, 'remote_write') }, async (req, reply) => {
      const proto = mediaTypeParam(req, 'proto');
      if (proto !== undefined && proto !== 'prometheus.WriteRequest')
        throw new IngestError(
          'INGEST_UNSUPPORTED_MEDIA_TYPE',
          `remote write message ${JSON.stringify(proto)} is not supported; send remote write 1.0 (prometheus.WriteRequest)`,
        );
      const enc = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
      if (enc !== '' && enc !== 'snappy')
        throw new IngestError(
          'INGEST_UNSUPPORTED_MEDIA_TYPE',
          `remote write needs Content-Encoding: snappy, got ${JSON.stringify(enc)}`,
        );
      if (!Buffer.isBuffer(req.body))
        throw new IngestError(
          'INGEST_UNSUPPORTED_MEDIA_TYPE',
          'remote write needs Content-Type: application/x-protobuf',
        );
      const batch = decodeRemoteWrite(
        req.body,
        deps.now(),
        deps.limits,
        deps.maxSamplesPerRequest,
        bodyLimit,
      );
      const outcome = await submitBatch(deps, 'remote_write', batch, describeRemoteWriteItem);
      void reply.header(
        'X-Prometheus-Remote-Write-Samples-Written',
        String(outcome.accepted + outcome.duplicates),
      );
      if (outcome.rejected.length === 0) return reply.code(204).send();
      return reply.code(400).type('text/plain; charset=utf-8').send(remoteWriteProblemText(outcome));
    });
    done();
  });
}

/** Where a sample refused by the sink came from. */
export function describeRemoteWriteItem(index: number, sample: Sample): string {
  return `timeseries[${index}] ${clip(sample.key)}`;
}
