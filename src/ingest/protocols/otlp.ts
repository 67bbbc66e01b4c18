/**
 * OTLP/HTTP metrics at `POST /v1/metrics` (opentelemetry.io/docs/specs/otlp), in both encodings:
 * `application/x-protobuf` (an `ExportMetricsServiceRequest`, proto/opentelemetry/...) and
 * `application/json` (the OTLP JSON mapping: lowerCamelCase or snake_case keys, 64-bit integers as
 * strings or numbers, enums as numbers or names). `Content-Encoding: gzip` is accepted (bounded
 * by the body limit after decompression).
 *
 * Mapping to Vigil samples (README "Naming rules"), following Prometheus's OTLP translator
 * (prometheus/otlptranslator, `UnderscoreEscapingWithSuffixes`, Prometheus 3's default):
 * - metric name: invalid characters → `_` with unit and type suffixes, see `otlpMetricName`
 *   (`http.server.request.duration` unit `s` → `http_server_request_duration_seconds`).
 * - data point attributes → labels, names sanitised (`http.method` → `http_method`); two keys that
 *   sanitise to the same name have their values joined with `;` in key order, as Prometheus does.
 * - resource: `service.name` → `job` (`service.namespace/service.name` when a namespace is set),
 *   `service.instance.id` → `instance`; these win over data point attributes of the same name.
 *   Other resource attributes are dropped (Prometheus puts them on a `target_info` series, which
 *   is no input for anomaly detection), unless listed in `promoteResourceAttributes`. The
 *   instrumentation scope is dropped.
 * - gauge: one sample per point. sum: one sample per point, monotonic sums named `<name>_total`;
 *   the value is stored as it comes (cumulative counters as their running total, delta sums as the
 *   per-interval increase: Vigil stores what it gets and detects anomalies on that shape).
 * - histogram: `<name>_count` and `<name>_sum` per point. Buckets are not kept by default: each
 *   `le` would be one more series (and detector) per bucket, typically ×10–20 the cardinality, for
 *   series that move together with `_count`; `histogramBuckets: true` adds Prometheus-style
 *   cumulative `<name>_bucket{le="..."}` series, `le="+Inf"` included.
 * - exponential histogram: `<name>_count` and `<name>_sum`.
 * - summary: `<name>_count`, `<name>_sum` and `<name>{quantile="0.99"}` per quantile value.
 * - points flagged "no recorded value" (the OTLP staleness marker) are skipped and counted.
 *
 * Item index = the data point's number in document order (0-based, across all resource, scope
 * and metric lists); refusals name `resourceMetrics[r].scopeMetrics[s].metrics[m] "name" dataPoints[k]`.
 *
 * Answers (OTLP/HTTP): 200 with an `ExportMetricsServiceResponse` in the request's encoding;
 * when items were refused it carries `partial_success { rejected_data_points, error_message }`
 * (the senders must not retry it; the other points are stored). An undecodable body is 400
 * (protobuf) or 400 `INGEST_BAD_JSON` (JSON); overload is 503/429 with Retry-After (retryable
 * for OTLP exporters).
 */
import type { FastifyInstance } from 'fastify';
import { seriesKey } from '../../common/index.js';
import { IngestError } from '../errors.js';
import { admitHook, type IngestRouteDeps } from '../http-json.js';
import type { RejectCode, Sample } from '../types.js';
import {
  checkLabels,
  checkMetricName,
  checkTimestamp,
  checkValue,
  typeOf,
  type SampleLimits,
} from '../validate.js';
import {
  clip,
  countRejectedItems,
  formatProblems,
  gunzipRequestBody,
  mediaType,
  rawBufferParser,
  submitBatch,
  type DecodedBatch,
  type LocatedRejection,
} from './common.js';
import { formatFloat, otlpLabelName, otlpMetricName, type OtlpNameKind } from './names.js';
import {
  decodeUtf8,
  nanosToMillis,
  ProtoError,
  ProtoReader,
  toSigned,
  WIRE_I64,
  WIRE_LEN,
  WIRE_VARINT,
} from './protobuf-reader.js';

/** Options of the OTLP mapping. */
export interface OtlpOptions {
  /** Resource attributes kept as labels (sanitised names) besides `job`/`instance`. @defaultValue [] */
  readonly promoteResourceAttributes?: readonly string[];
  /** Also store `<name>_bucket{le}` series for explicit-bucket histograms. @defaultValue false */
  readonly histogramBuckets?: boolean;
}

/** A decoded OTLP request; `describe` locates a data point for sink refusals. */
export interface OtlpBatch extends DecodedBatch {
  /** Refused data points (a metric-level refusal counts all its points). */
  readonly rejectedPoints: number;
  readonly describe: (index: number, sample: Sample) => string;
}

type DataKind = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';

const NO_RECORDED_VALUE = 1;
/** Nesting depth allowed in attribute values (arrays and key-value lists). */
const MAX_ANY_DEPTH = 16;

/** One data point, filled by the protobuf or the JSON walker, then emitted by {@link Builder}. */
class Point {
  keys: string[] = [];
  vals: string[] = [];
  nAttrs = 0;
  /** Epoch ms, or NaN when absent/invalid (`timeError` says why). */
  timeMs = 0;
  timeError = '';
  flags = 0;
  hasValue = false;
  value = 0;
  count = 0;
  hasSum = false;
  sum = 0;
  bounds: number[] = [];
  buckets: number[] = [];
  quantiles: number[] = [];
  qValues: number[] = [];

  reset(): void {
    this.nAttrs = 0;
    this.timeMs = NaN;
    this.timeError = 'time_unix_nano is missing';
    this.flags = 0;
    this.hasValue = false;
    this.value = 0;
    this.count = 0;
    this.hasSum = false;
    this.sum = 0;
    this.bounds.length = 0;
    this.buckets.length = 0;
    this.quantiles.length = 0;
    this.qValues.length = 0;
  }

  attr(key: string, value: string): void {
    this.keys[this.nAttrs] = key;
    this.vals[this.nAttrs] = value;
    this.nAttrs++;
  }
}

interface MetricCtx {
  readonly path: string;
  readonly name: string;
  readonly kind: DataKind;
  readonly firstIndex: number;
  /** Prometheus name, or undefined with `refusal` set. */
  readonly base: string | undefined;
  readonly refusal: { code: RejectCode; reason: string } | undefined;
}

/** Turns points into samples with the common rules; collects refusals. */
class Builder {
  readonly samples: Sample[] = [];
  readonly indices: number[] = [];
  readonly rejected: LocatedRejection[] = [];
  skipped = 0;
  rejectedPoints = 0;
  /** Next data point index. */
  next = 0;
  private produced = 0;
  private resourceLabels: Record<string, string> = {};
  private metric: MetricCtx | undefined;
  private readonly metricStarts: number[] = [];
  private readonly metricPaths: string[] = [];
  private readonly promote: ReadonlySet<string>;
  readonly point = new Point();

  constructor(
    private readonly nowMs: number,
    private readonly limits: SampleLimits,
    private readonly maxSamples: number,
    private readonly opts: OtlpOptions,
  ) {
    this.promote = new Set(opts.promoteResourceAttributes ?? []);
  }

  /** Whether a resource attribute matters (the walkers skip converting the others). */
  wantsResourceAttr(key: string): boolean {
    return (
      key === 'service.name' ||
      key === 'service.namespace' ||
      key === 'service.instance.id' ||
      this.promote.has(key)
    );
  }

  /** Starts a resource from its (wanted) attributes. */
  beginResource(keys: readonly string[], vals: readonly string[]): void {
    const labels: Record<string, string> = {};
    let name: string | undefined;
    let ns: string | undefined;
    let instance: string | undefined;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      const v = vals[i] as string;
      if (k === 'service.name') name = v;
      else if (k === 'service.namespace') ns = v;
      else if (k === 'service.instance.id') instance = v;
      if (this.promote.has(k)) {
        const n = otlpLabelName(k);
        if (n !== undefined) labels[n] = v;
      }
    }
    if (name !== undefined && name !== '') labels['job'] = ns ? `${ns}/${name}` : name;
    if (instance !== undefined && instance !== '') labels['instance'] = instance;
    this.resourceLabels = labels;
  }

  /** Starts a metric; `path` locates it in the request. */
  beginMetric(
    path: string,
    name: string,
    unit: string,
    kind: DataKind | undefined,
    monotonic: boolean,
  ): boolean {
    if (kind === undefined) {
      this.metric = undefined;
      this.refuseItems(
        this.next,
        `${path} ${JSON.stringify(clip(name))}`,
        'INVALID_SAMPLE',
        'metric has no data (gauge, sum, histogram, exponential_histogram or summary)',
        1,
      );
      this.next++;
      return false;
    }
    const nameKind: OtlpNameKind =
      kind === 'gauge'
        ? 'gauge'
        : kind === 'sum'
          ? monotonic
            ? 'counter'
            : 'updown'
          : kind === 'summary'
            ? 'summary'
            : 'histogram';
    const base = otlpMetricName(name, unit, nameKind);
    let refusal: MetricCtx['refusal'];
    if (base === undefined)
      refusal = {
        code: 'INVALID_NAME',
        reason: `metric name ${JSON.stringify(clip(name))} has no valid character`,
      };
    else {
      const longest =
        kind === 'gauge' || kind === 'sum'
          ? base
          : base + (this.opts.histogramBuckets && kind === 'histogram' ? '_bucket' : '_count');
      const m = checkMetricName(longest, this.limits);
      if (m) refusal = { code: m.code, reason: m.reason };
    }
    this.metric = {
      path: `${path} ${JSON.stringify(clip(name))}`,
      name,
      kind,
      firstIndex: this.next,
      base,
      refusal,
    };
    this.metricStarts.push(this.next);
    this.metricPaths.push(this.metric.path);
    return true;
  }

  /** Refuses a metric whose bytes or structure are broken (counts as one point). */
  refuseMetric(path: string, reason: string): void {
    this.refuseItems(this.next, path, 'INVALID_SAMPLE', reason, 1);
    this.next++;
  }

  refuseItems(index: number, where: string, code: RejectCode, reason: string, points: number): void {
    this.rejected.push({ index, code, reason, where });
    this.rejectedPoints += points;
  }

  /** Refuses the current point (its index was already taken). */
  refusePoint(index: number, code: RejectCode, reason: string): void {
    const m = this.metric;
    const where = m ? `${m.path} dataPoints[${index - m.firstIndex}]` : `dataPoint #${index}`;
    this.refuseItems(index, where, code, reason, 1);
  }

  /** Emits the samples of {@link point} for the current metric. */
  emitPoint(): void {
    const index = this.next++;
    const m = this.metric;
    if (m === undefined) return;
    const p = this.point;
    if (m.refusal) return this.refusePoint(index, m.refusal.code, m.refusal.reason);
    if (p.flags & NO_RECORDED_VALUE) {
      this.skipped++;
      return;
    }
    const base = m.base as string;
    // Labels: promoted resource attributes < point attributes < job/instance.
    const labels: Record<string, string> = {};
    for (const k in this.resourceLabels)
      if (k !== 'job' && k !== 'instance') labels[k] = this.resourceLabels[k] as string;
    let collided: Set<string> | undefined;
    const seen = new Set<string>();
    for (let i = 0; i < p.nAttrs; i++) {
      const key = p.keys[i] as string;
      const n = otlpLabelName(key);
      if (n === undefined)
        return this.refusePoint(
          index,
          'INVALID_NAME',
          `attribute key ${JSON.stringify(clip(key))} has no valid character`,
        );
      if (seen.has(n)) (collided ??= new Set()).add(n);
      seen.add(n);
      labels[n] = p.vals[i] as string;
    }
    if (collided) {
      for (const n of collided) {
        const pairs: [string, string][] = [];
        for (let i = 0; i < p.nAttrs; i++)
          if (otlpLabelName(p.keys[i] as string) === n)
            pairs.push([p.keys[i] as string, p.vals[i] as string]);
        pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        labels[n] = pairs.map((x) => x[1]).join(';');
      }
    }
    const job = this.resourceLabels['job'];
    if (job !== undefined) labels['job'] = job;
    const instance = this.resourceLabels['instance'];
    if (instance !== undefined) labels['instance'] = instance;
    const l = checkLabels(labels, this.limits);
    if (!l.ok) return this.refusePoint(index, l.code, l.reason);
    if (Number.isNaN(p.timeMs)) return this.refusePoint(index, 'INVALID_SAMPLE', p.timeError);
    const t = checkTimestamp(p.timeMs, this.nowMs, this.limits);
    if (!t.ok) return this.refusePoint(index, t.code, t.reason);
    const ts = t.ts;
    switch (m.kind) {
      case 'gauge':
      case 'sum':
        if (!p.hasValue)
          return this.refusePoint(index, 'INVALID_SAMPLE', 'data point has no value (as_double or as_int)');
        this.sample(index, base, l.labels, seriesKey(base, l.labels), ts, p.value);
        return;
      case 'histogram':
      case 'exponential_histogram': {
        const suffix = seriesKey('', l.labels);
        this.sample(index, base + '_count', l.labels, base + '_count' + suffix, ts, p.count);
        if (p.hasSum) this.sample(index, base + '_sum', l.labels, base + '_sum' + suffix, ts, p.sum);
        if (m.kind === 'histogram' && this.opts.histogramBuckets && p.bounds.length > 0)
          this.buckets(index, base, l.labels, ts);
        return;
      }
      case 'summary': {
        const suffix = seriesKey('', l.labels);
        this.sample(index, base + '_count', l.labels, base + '_count' + suffix, ts, p.count);
        this.sample(index, base + '_sum', l.labels, base + '_sum' + suffix, ts, p.sum);
        for (let i = 0; i < p.quantiles.length; i++) {
          const q = p.quantiles[i] as number;
          const extended = checkLabels({ ...l.labels, quantile: formatFloat(q) }, this.limits);
          if (!extended.ok) {
            this.refusePoint(index, extended.code, `quantile ${q}: ${extended.reason}`);
            continue;
          }
          this.sample(
            index,
            base,
            extended.labels,
            seriesKey(base, extended.labels),
            ts,
            p.qValues[i] as number,
          );
        }
        return;
      }
    }
  }

  private buckets(index: number, base: string, labels: Record<string, string>, ts: number): void {
    const p = this.point;
    if (p.buckets.length !== p.bounds.length + 1) {
      this.refusePoint(
        index,
        'INVALID_SAMPLE',
        `histogram has ${p.buckets.length} bucket counts for ${p.bounds.length} bounds (expected bounds + 1)`,
      );
      return;
    }
    const name = base + '_bucket';
    let cumulative = 0;
    for (let i = 0; i <= p.bounds.length; i++) {
      cumulative += p.buckets[i] as number;
      const le = i < p.bounds.length ? formatFloat(p.bounds[i] as number) : '+Inf';
      const extended = checkLabels({ ...labels, le }, this.limits);
      if (!extended.ok) {
        this.refusePoint(index, extended.code, `bucket le=${le}: ${extended.reason}`);
        return;
      }
      this.sample(index, name, extended.labels, seriesKey(name, extended.labels), ts, cumulative);
    }
  }

  private sample(
    index: number,
    metric: string,
    labels: Record<string, string>,
    key: string,
    ts: number,
    value: number,
  ): void {
    if (++this.produced > this.maxSamples)
      throw new IngestError(
        'INGEST_TOO_MANY_SAMPLES',
        `more than ${this.maxSamples} samples in one request`,
        { limit: this.maxSamples },
      );
    const v = checkValue(value);
    if (v) {
      this.refusePoint(index, v.code, `${metric}: ${v.reason}`);
      return;
    }
    this.samples.push({ metric, labels, key, ts, value });
    this.indices.push(index);
  }

  /** Where point `index` is, for refusals reported by the sink. */
  describe(index: number, sample: Sample): string {
    // Binary search the metric whose first point index is the largest ≤ index.
    let lo = 0;
    let hi = this.metricStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.metricStarts[mid] as number) <= index) lo = mid;
      else hi = mid - 1;
    }
    const start = this.metricStarts[lo];
    const path = this.metricPaths[lo];
    if (start === undefined || path === undefined) return `dataPoint #${index} ${clip(sample.key)}`;
    return `${path} dataPoints[${index - start}] ${clip(sample.key)}`;
  }

  batch(): OtlpBatch {
    return {
      samples: this.samples,
      indices: this.indices,
      rejected: this.rejected,
      skipped: this.skipped,
      rejectedPoints: this.rejectedPoints,
      describe: (index, sample) => this.describe(index, sample),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Protobuf

// Field numbers (proto/opentelemetry/proto/metrics/v1/metrics.proto).
const F = {
  requestResourceMetrics: 1,
  rmResource: 1,
  rmScopeMetrics: 2,
  resourceAttributes: 1,
  smMetrics: 2,
  metricName: 1,
  metricUnit: 3,
  metricGauge: 5,
  metricSum: 7,
  metricHistogram: 9,
  metricExpHistogram: 10,
  metricSummary: 11,
  dataPoints: 1,
  sumMonotonic: 3,
} as const;

/**
 * Decodes an OTLP protobuf `ExportMetricsServiceRequest` into checked samples.
 *
 * A resource, scope, metric or data point whose bytes are malformed while its framing is intact
 * is refused on its own; a broken top-level framing refuses the request (IngestError
 * `INGEST_BAD_REQUEST`).
 *
 * @param nowMs - server clock, epoch ms
 * @param maxSamples - more samples → IngestError `INGEST_TOO_MANY_SAMPLES`
 * @throws IngestError and nothing else
 */
export function decodeOtlpProtobuf(
  bytes: Uint8Array,
  nowMs: number,
  limits: SampleLimits,
  maxSamples: number,
  opts: OtlpOptions = {},
): OtlpBatch {
  const b = new Builder(nowMs, limits, maxSamples, opts);
  const r = new ProtoReader(bytes);
  let ri = 0;
  try {
    while (r.pos < r.end) {
      const t = r.tag();
      if (t >>> 3 === F.requestResourceMetrics) {
        r.expect(t, WIRE_LEN, 'ExportMetricsServiceRequest.resource_metrics');
        const end = r.len();
        const path = `resourceMetrics[${ri++}]`;
        guard(b, path, 'ResourceMetrics', () => pbResourceMetrics(r, r.pos, end, b, path));
        r.pos = end;
        r.end = bytes.length;
      } else r.skip(t & 7);
    }
  } catch (e) {
    if (e instanceof ProtoError)
      throw new IngestError(
        'INGEST_BAD_REQUEST',
        `body is not a valid OTLP ExportMetricsServiceRequest: ${e.message}`,
      );
    throw e;
  }
  return b.batch();
}

/** Runs `fn`; a {@link ProtoError} refuses the item at `path` instead of the request. */
function guard(b: Builder, path: string, what: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ProtoError)) throw e;
    b.refuseMetric(path, `malformed ${what}: ${e.message}`);
  }
}

/** Collects the (start, end) ranges of every LEN field `field` in [start, end). */
function ranges(r: ProtoReader, start: number, end: number, field: number): number[] {
  const out: number[] = [];
  r.pos = start;
  r.end = end;
  while (r.pos < end) {
    const t = r.tag();
    if (t >>> 3 === field && (t & 7) === WIRE_LEN) {
      const e = r.len();
      out.push(r.pos, e);
      r.pos = e;
    } else r.skip(t & 7);
  }
  return out;
}

function pbResourceMetrics(r: ProtoReader, start: number, end: number, b: Builder, path: string): void {
  // Pass 1: the resource may come after its scopes on the wire.
  const keys: string[] = [];
  const vals: string[] = [];
  const resource = ranges(r, start, end, F.rmResource);
  for (let i = 0; i < resource.length; i += 2) {
    const attrs = ranges(r, resource[i] as number, resource[i + 1] as number, F.resourceAttributes);
    for (let j = 0; j < attrs.length; j += 2)
      pbKeyValue(r, attrs[j] as number, attrs[j + 1] as number, keys, vals, b);
  }
  b.beginResource(keys, vals);
  const scopes = ranges(r, start, end, F.rmScopeMetrics);
  for (let s = 0; s < scopes.length; s += 2) {
    const spath = `${path}.scopeMetrics[${s / 2}]`;
    guard(b, spath, 'ScopeMetrics', () => {
      const metrics = ranges(r, scopes[s] as number, scopes[s + 1] as number, F.smMetrics);
      for (let m = 0; m < metrics.length; m += 2) {
        const mpath = `${spath}.metrics[${m / 2}]`;
        guard(b, mpath, 'Metric', () =>
          pbMetric(r, metrics[m] as number, metrics[m + 1] as number, b, mpath),
        );
      }
    });
  }
}

/** Decodes a KeyValue; keeps it (value as label text) when `b` wants it or `b` is undefined. */
function pbKeyValue(
  r: ProtoReader,
  start: number,
  end: number,
  keys: string[],
  vals: string[],
  b?: Builder,
): void {
  r.pos = start;
  r.end = end;
  let key = '';
  let vStart = -1;
  let vEnd = -1;
  while (r.pos < end) {
    const t = r.tag();
    if (t === ((1 << 3) | WIRE_LEN)) key = r.string();
    else if (t === ((2 << 3) | WIRE_LEN)) {
      vEnd = r.len();
      vStart = r.pos;
      r.pos = vEnd;
    } else r.skip(t & 7);
  }
  if (b !== undefined && !b.wantsResourceAttr(key)) return;
  let text = '';
  if (vStart >= 0) {
    const v = pbAnyValue(r, vStart, vEnd, 0);
    text = typeof v === 'string' ? v : anyToText(v);
  }
  keys.push(key);
  vals.push(text);
  r.end = end;
}

type AnyJs = string | number | boolean | null | AnyJs[] | { [k: string]: AnyJs };

/** Decodes an AnyValue to a JS value (strings stay strings; ints beyond 2^53 become decimal text). */
function pbAnyValue(r: ProtoReader, start: number, end: number, depth: number): AnyJs {
  if (depth > MAX_ANY_DEPTH)
    throw new ProtoError(`attribute value nested deeper than ${MAX_ANY_DEPTH} levels`, start);
  r.pos = start;
  r.end = end;
  let out: AnyJs = '';
  while (r.pos < end) {
    const t = r.tag();
    switch (t) {
      case (1 << 3) | WIRE_LEN:
        out = r.string();
        break;
      case (2 << 3) | WIRE_VARINT:
        r.varint64();
        out = r.lo !== 0 || r.hi !== 0;
        break;
      case (3 << 3) | WIRE_VARINT: {
        r.varint64();
        const n = toSigned(r.lo, r.hi);
        out = Number.isSafeInteger(n)
          ? n
          : BigInt.asIntN(64, (BigInt(r.hi) << 32n) | BigInt(r.lo)).toString();
        break;
      }
      case (4 << 3) | WIRE_I64:
        out = r.double();
        break;
      case (5 << 3) | WIRE_LEN:
      case (6 << 3) | WIRE_LEN: {
        const e = r.len();
        const isList = t === ((6 << 3) | WIRE_LEN);
        const items = ranges(r, r.pos, e, 1);
        if (isList) {
          const obj: { [k: string]: AnyJs } = {};
          for (let i = 0; i < items.length; i += 2) {
            const [k, v] = pbKeyValueJs(r, items[i] as number, items[i + 1] as number, depth + 1);
            obj[k] = v;
          }
          out = obj;
        } else {
          const arr: AnyJs[] = [];
          for (let i = 0; i < items.length; i += 2)
            arr.push(pbAnyValue(r, items[i] as number, items[i + 1] as number, depth + 1));
          out = arr;
        }
        r.pos = e;
        r.end = end;
        break;
      }
      case (7 << 3) | WIRE_LEN: {
        const e = r.len();
        out = Buffer.from(r.buf.subarray(r.pos, e)).toString('base64');
        r.pos = e;
        break;
      }
      default:
        r.skip(t & 7);
    }
  }
  return out;
}

function pbKeyValueJs(r: ProtoReader, start: number, end: number, depth: number): [string, AnyJs] {
  r.pos = start;
  r.end = end;
  let key = '';
  let value: AnyJs = null;
  while (r.pos < end) {
    const t = r.tag();
    if (t === ((1 << 3) | WIRE_LEN)) key = r.string();
    else if (t === ((2 << 3) | WIRE_LEN)) {
      const e = r.len();
      value = pbAnyValue(r, r.pos, e, depth);
      r.pos = e;
      r.end = end;
    } else r.skip(t & 7);
  }
  return [key, value];
}

/**
 * An attribute value as label text, like pdata's `Value.AsString()`: strings as they are, bools as
 * `true`/`false`, numbers in plain decimal, arrays and key-value lists as JSON, bytes as base64.
 */
function anyToText(v: AnyJs): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : formatFloat(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === null) return '';
  return JSON.stringify(v, (_k, x: unknown) =>
    typeof x === 'number' && !Number.isFinite(x) ? String(x) : x,
  );
}

function pbMetric(r: ProtoReader, start: number, end: number, b: Builder, path: string): void {
  r.pos = start;
  r.end = end;
  let name = '';
  let unit = '';
  let kind: DataKind | undefined;
  let dStart = 0;
  let dEnd = 0;
  while (r.pos < end) {
    const t = r.tag();
    const f = t >>> 3;
    if (t === ((F.metricName << 3) | WIRE_LEN)) name = r.string();
    else if (t === ((F.metricUnit << 3) | WIRE_LEN)) unit = r.string();
    else if ((t & 7) === WIRE_LEN && (f === 5 || f === 7 || f === 9 || f === 10 || f === 11)) {
      dEnd = r.len();
      dStart = r.pos;
      r.pos = dEnd;
      kind =
        f === F.metricGauge
          ? 'gauge'
          : f === F.metricSum
            ? 'sum'
            : f === F.metricHistogram
              ? 'histogram'
              : f === F.metricExpHistogram
                ? 'exponential_histogram'
                : 'summary';
    } else r.skip(t & 7);
  }
  // The data message: points (field 1) and, for sums, is_monotonic (field 3) in any order.
  let monotonic = false;
  const points: number[] = [];
  if (kind !== undefined) {
    r.pos = dStart;
    r.end = dEnd;
    while (r.pos < dEnd) {
      const t = r.tag();
      if (t === ((F.dataPoints << 3) | WIRE_LEN)) {
        const e = r.len();
        points.push(r.pos, e);
        r.pos = e;
      } else if (kind === 'sum' && t === ((F.sumMonotonic << 3) | WIRE_VARINT)) {
        r.varint64();
        monotonic = r.lo !== 0 || r.hi !== 0;
      } else r.skip(t & 7);
    }
  }
  if (!b.beginMetric(path, name, unit, kind, monotonic)) return;
  for (let i = 0; i < points.length; i += 2) {
    const index = b.next;
    try {
      pbPoint(r, points[i] as number, points[i + 1] as number, kind as DataKind, b.point);
    } catch (e) {
      if (!(e instanceof ProtoError)) throw e;
      b.next++;
      b.refusePoint(index, 'INVALID_SAMPLE', `malformed data point: ${e.message}`);
      continue;
    }
    b.emitPoint();
  }
}

// Per-kind field numbers of the data point messages.
const ATTRS: Record<DataKind, number> = {
  gauge: 7,
  sum: 7,
  histogram: 9,
  exponential_histogram: 1,
  summary: 7,
};
const FLAGS: Record<DataKind, number> = {
  gauge: 8,
  sum: 8,
  histogram: 10,
  exponential_histogram: 10,
  summary: 8,
};

function pbPoint(r: ProtoReader, start: number, end: number, kind: DataKind, p: Point): void {
  p.reset();
  const attrField = ATTRS[kind];
  const flagsField = FLAGS[kind];
  const number = kind === 'gauge' || kind === 'sum';
  r.pos = start;
  r.end = end;
  while (r.pos < end) {
    const t = r.tag();
    const f = t >>> 3;
    const wt = t & 7;
    if (f === attrField) {
      r.expect(t, WIRE_LEN, 'attributes');
      const e = r.len();
      pbPointAttr(r, r.pos, e, p);
      r.pos = e;
      r.end = end;
    } else if (f === 3) {
      r.expect(t, WIRE_I64, 'time_unix_nano');
      r.fixed64();
      p.timeMs = nanosToMillis(r.lo, r.hi);
    } else if (f === flagsField) {
      r.expect(t, WIRE_VARINT, 'flags');
      p.flags = r.uint32();
    } else if (number && f === 4) {
      r.expect(t, WIRE_I64, 'as_double');
      p.value = r.double();
      p.hasValue = true;
    } else if (number && f === 6) {
      r.expect(t, WIRE_I64, 'as_int');
      r.fixed64();
      p.value = toSigned(r.lo, r.hi);
      p.hasValue = true;
    } else if (!number && f === 4) {
      r.expect(t, WIRE_I64, 'count');
      r.fixed64();
      p.count = r.hi * 4294967296 + r.lo;
    } else if (!number && f === 5) {
      r.expect(t, WIRE_I64, 'sum');
      p.sum = r.double();
      p.hasSum = true;
    } else if (kind === 'histogram' && f === 6) {
      // repeated fixed64 bucket_counts: packed (LEN) or one I64 per value.
      if (wt === WIRE_LEN) {
        const e = r.len();
        if ((e - r.pos) % 8 !== 0)
          throw new ProtoError('packed bucket_counts length is not a multiple of 8', r.pos);
        while (r.pos < e) {
          r.fixed64();
          p.buckets.push(r.hi * 4294967296 + r.lo);
        }
      } else {
        r.expect(t, WIRE_I64, 'bucket_counts');
        r.fixed64();
        p.buckets.push(r.hi * 4294967296 + r.lo);
      }
    } else if (kind === 'histogram' && f === 7) {
      if (wt === WIRE_LEN) {
        const e = r.len();
        if ((e - r.pos) % 8 !== 0)
          throw new ProtoError('packed explicit_bounds length is not a multiple of 8', r.pos);
        while (r.pos < e) p.bounds.push(r.double());
      } else {
        r.expect(t, WIRE_I64, 'explicit_bounds');
        p.bounds.push(r.double());
      }
    } else if (kind === 'summary' && f === 6) {
      r.expect(t, WIRE_LEN, 'quantile_values');
      const e = r.len();
      let q = 0;
      let v = 0;
      r.end = e;
      while (r.pos < e) {
        const qt = r.tag();
        if (qt === ((1 << 3) | WIRE_I64)) q = r.double();
        else if (qt === ((2 << 3) | WIRE_I64)) v = r.double();
        else r.skip(qt & 7);
      }
      r.end = end;
      p.quantiles.push(q);
      p.qValues.push(v);
    } else r.skip(wt);
  }
  if (p.timeMs === 0) {
    p.timeMs = NaN;
    p.timeError = 'time_unix_nano is 0 (required)';
  }
}

function pbPointAttr(r: ProtoReader, start: number, end: number, p: Point): void {
  r.pos = start;
  r.end = end;
  let key = '';
  let value = '';
  while (r.pos < end) {
    const t = r.tag();
    if (t === ((1 << 3) | WIRE_LEN)) key = r.string();
    else if (t === ((2 << 3) | WIRE_LEN)) {
      const e = r.len();
      // Fast path: a string value is by far the most common.
      const vStart = r.pos;
      const first = vStart < e ? (r.buf[vStart] as number) : -1;
      if (first === ((1 << 3) | WIRE_LEN)) {
        r.end = e;
        r.pos = vStart + 1;
        const se = r.len();
        if (se === e) {
          const s = r.pos;
          r.pos = se;
          value = decodeUtf8(r.buf, s, se);
          r.end = end;
          continue;
        }
      }
      const v = pbAnyValue(r, vStart, e, 0);
      value = typeof v === 'string' ? v : anyToText(v);
      r.pos = e;
      r.end = end;
    } else r.skip(t & 7);
  }
  p.attr(key, value);
}

// ---------------------------------------------------------------------------------------------
// JSON

/** A JSON value quoted and clipped for a message. */
function show(v: unknown): string {
  return JSON.stringify(clip(typeof v === 'string' ? v : JSON.stringify(v), 40));
}

/** Reads `o[camel] ?? o[snake]` (protobuf JSON parsers accept both spellings). */
function field(o: Record<string, unknown>, camel: string, snake: string): unknown {
  const v = o[camel];
  return v !== undefined ? v : o[snake];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON list field: absent/null → [], an array → itself, anything else → a refusal reason. */
function list(o: Record<string, unknown>, camel: string, snake: string): unknown[] | string {
  const v = field(o, camel, snake);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return `"${camel}" must be an array, got ${typeOf(v)}`;
  return v as unknown[];
}

/**
 * Decodes an OTLP JSON `ExportMetricsServiceRequest` (already parsed) into checked samples.
 * Same mapping and refusals as {@link decodeOtlpProtobuf}; a body that is not an object, or whose
 * `resourceMetrics` is not an array, is IngestError `INGEST_BAD_REQUEST`.
 * @throws IngestError and nothing else
 */
export function decodeOtlpJson(
  body: unknown,
  nowMs: number,
  limits: SampleLimits,
  maxSamples: number,
  opts: OtlpOptions = {},
): OtlpBatch {
  if (!isObject(body))
    throw new IngestError('INGEST_BAD_REQUEST', `OTLP JSON body must be an object, got ${typeOf(body)}`);
  const rms = list(body, 'resourceMetrics', 'resource_metrics');
  if (typeof rms === 'string') throw new IngestError('INGEST_BAD_REQUEST', rms);
  const b = new Builder(nowMs, limits, maxSamples, opts);
  for (let ri = 0; ri < rms.length; ri++) {
    const path = `resourceMetrics[${ri}]`;
    const rm = rms[ri];
    if (!isObject(rm)) {
      b.refuseMetric(path, `ResourceMetrics must be an object, got ${typeOf(rm)}`);
      continue;
    }
    const keys: string[] = [];
    const vals: string[] = [];
    const resource = field(rm, 'resource', 'resource');
    if (isObject(resource)) {
      const attrs = list(resource, 'attributes', 'attributes');
      if (typeof attrs === 'string') {
        b.refuseMetric(path, `resource: ${attrs}`);
        continue;
      }
      for (const kv of attrs) {
        const key = isObject(kv) ? (kv['key'] ?? '') : undefined;
        if (typeof key !== 'string' || !b.wantsResourceAttr(key)) continue;
        const text = jsonAnyText((kv as Record<string, unknown>)['value'], 0);
        if (text === undefined) continue;
        keys.push(key);
        vals.push(text);
      }
    }
    b.beginResource(keys, vals);
    const sms = list(rm, 'scopeMetrics', 'scope_metrics');
    if (typeof sms === 'string') {
      b.refuseMetric(path, sms);
      continue;
    }
    for (let si = 0; si < sms.length; si++) {
      const spath = `${path}.scopeMetrics[${si}]`;
      const sm = sms[si];
      const metrics = isObject(sm)
        ? list(sm, 'metrics', 'metrics')
        : `ScopeMetrics must be an object, got ${typeOf(sm)}`;
      if (typeof metrics === 'string') {
        b.refuseMetric(spath, metrics);
        continue;
      }
      for (let mi = 0; mi < metrics.length; mi++) jsonMetric(metrics[mi], `${spath}.metrics[${mi}]`, b);
    }
  }
  return b.batch();
}

const JSON_KINDS: readonly [DataKind, string, string][] = [
  ['gauge', 'gauge', 'gauge'],
  ['sum', 'sum', 'sum'],
  ['histogram', 'histogram', 'histogram'],
  ['exponential_histogram', 'exponentialHistogram', 'exponential_histogram'],
  ['summary', 'summary', 'summary'],
];

function jsonMetric(metric: unknown, path: string, b: Builder): void {
  if (!isObject(metric)) return b.refuseMetric(path, `Metric must be an object, got ${typeOf(metric)}`);
  const name = metric['name'] ?? '';
  const unit = metric['unit'] ?? '';
  if (typeof name !== 'string')
    return b.refuseMetric(path, `metric name must be a string, got ${typeOf(name)}`);
  if (typeof unit !== 'string')
    return b.refuseMetric(path, `metric unit must be a string, got ${typeOf(unit)}`);
  let kind: DataKind | undefined;
  let data: Record<string, unknown> | undefined;
  for (const [k, camel, snake] of JSON_KINDS) {
    const d = field(metric, camel, snake);
    if (isObject(d)) {
      kind = k;
      data = d;
    }
  }
  let monotonic = false;
  let points: unknown[] | string = [];
  if (data !== undefined) {
    monotonic = field(data, 'isMonotonic', 'is_monotonic') === true;
    points = list(data, 'dataPoints', 'data_points');
  }
  if (typeof points === 'string') return b.refuseMetric(`${path} ${JSON.stringify(clip(name))}`, points);
  if (!b.beginMetric(path, name, unit, kind, monotonic)) return;
  for (const dp of points) {
    const index = b.next;
    const err = jsonPoint(dp, kind as DataKind, b.point);
    if (err !== undefined) {
      b.next++;
      b.refusePoint(index, 'INVALID_SAMPLE', err);
      continue;
    }
    b.emitPoint();
  }
}

/** Fills `p` from a JSON data point; returns a refusal reason for a malformed one. */
function jsonPoint(dp: unknown, kind: DataKind, p: Point): string | undefined {
  p.reset();
  if (!isObject(dp)) return `data point must be an object, got ${typeOf(dp)}`;
  const attrs = list(dp, 'attributes', 'attributes');
  if (typeof attrs === 'string') return attrs;
  for (const kv of attrs) {
    // Proto3 JSON omits default values: a missing key is "", a missing value is empty.
    const key = isObject(kv) ? (kv['key'] ?? '') : undefined;
    if (typeof key !== 'string') return 'attribute must be an object {"key": string, "value": AnyValue}';
    const text = jsonAnyText((kv as Record<string, unknown>)['value'], 0);
    if (text === undefined) return `attribute ${JSON.stringify(clip(key))} has an invalid value`;
    p.attr(key, text);
  }
  const time = field(dp, 'timeUnixNano', 'time_unix_nano');
  if (time !== undefined) {
    const ms = jsonNanosToMillis(time);
    if (ms === undefined) {
      p.timeMs = NaN;
      p.timeError = `timeUnixNano must be an integer (string or number) of nanoseconds, got ${show(time)}`;
    } else if (ms === 0) p.timeError = 'timeUnixNano is 0 (required)';
    else p.timeMs = ms;
  }
  const flags = field(dp, 'flags', 'flags');
  if (flags !== undefined) {
    if (typeof flags !== 'number' || !Number.isInteger(flags))
      return `flags must be an integer, got ${typeOf(flags)}`;
    p.flags = flags;
  }
  if (kind === 'gauge' || kind === 'sum') {
    const d = field(dp, 'asDouble', 'as_double');
    const i = field(dp, 'asInt', 'as_int');
    if (d !== undefined) {
      const v = jsonDouble(d);
      if (v === undefined) return `asDouble must be a number, got ${typeOf(d)}`;
      p.value = v;
      p.hasValue = true;
    } else if (i !== undefined) {
      const v = jsonInt(i);
      if (v === undefined) return `asInt must be an integer (string or number), got ${show(i)}`;
      p.value = v;
      p.hasValue = true;
    }
    return undefined;
  }
  const count = field(dp, 'count', 'count');
  if (count !== undefined) {
    const v = jsonInt(count);
    if (v === undefined) return `count must be an integer (string or number), got ${show(count)}`;
    p.count = v;
  }
  const sum = field(dp, 'sum', 'sum');
  if (sum !== undefined && sum !== null) {
    const v = jsonDouble(sum);
    if (v === undefined) return `sum must be a number, got ${typeOf(sum)}`;
    p.sum = v;
    p.hasSum = true;
  }
  if (kind === 'histogram') {
    const bc = list(dp, 'bucketCounts', 'bucket_counts');
    const eb = list(dp, 'explicitBounds', 'explicit_bounds');
    if (typeof bc === 'string') return bc;
    if (typeof eb === 'string') return eb;
    for (const c of bc) {
      const v = jsonInt(c);
      if (v === undefined) return 'bucketCounts must hold integers';
      p.buckets.push(v);
    }
    for (const x of eb) {
      const v = jsonDouble(x);
      if (v === undefined) return 'explicitBounds must hold numbers';
      p.bounds.push(v);
    }
  }
  if (kind === 'summary') {
    const qs = list(dp, 'quantileValues', 'quantile_values');
    if (typeof qs === 'string') return qs;
    for (const q of qs) {
      if (!isObject(q)) return 'quantileValues must hold objects {"quantile", "value"}';
      const qq = jsonDouble(q['quantile'] ?? 0);
      const qv = jsonDouble(q['value'] ?? 0);
      if (qq === undefined || qv === undefined) return 'quantileValues must hold numbers';
      p.quantiles.push(qq);
      p.qValues.push(qv);
    }
  }
  return undefined;
}

const INT_TEXT = /^-?\d{1,20}$/;

/** Nanoseconds (decimal string or number) → epoch ms (exact for strings), or undefined. */
function jsonNanosToMillis(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.floor(v / 1e6) : undefined;
  if (typeof v !== 'string' || !/^\d{1,20}$/.test(v)) return undefined;
  return v.length <= 6 ? 0 : Number(v.slice(0, v.length - 6));
}

/** int64 as string or number. */
function jsonInt(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? v : undefined;
  if (typeof v === 'string' && INT_TEXT.test(v)) return Number(v);
  return undefined;
}

/** double as number, or string (`"NaN"`, `"Infinity"`, `"-Infinity"`, decimal text). */
function jsonDouble(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return undefined;
  return Number(v);
}

/** A JSON AnyValue as label text (see {@link anyToText}); undefined when malformed. */
function jsonAnyText(v: unknown, depth: number): string | undefined {
  const js = jsonAny(v, depth);
  return js === undefined ? undefined : anyToText(js);
}

function jsonAny(v: unknown, depth: number): AnyJs | undefined {
  if (depth > MAX_ANY_DEPTH) return undefined;
  if (v === undefined || v === null) return '';
  if (!isObject(v)) return undefined;
  const s = field(v, 'stringValue', 'string_value');
  if (s !== undefined) return typeof s === 'string' ? s : undefined;
  const bo = field(v, 'boolValue', 'bool_value');
  if (bo !== undefined) return typeof bo === 'boolean' ? bo : undefined;
  const i = field(v, 'intValue', 'int_value');
  if (i !== undefined) {
    if (typeof i === 'string' && INT_TEXT.test(i))
      return Number.isSafeInteger(Number(i)) ? Number(i) : i.replace(/^(-?)0+(?=\d)/, '$1');
    return typeof i === 'number' && Number.isInteger(i) ? i : undefined;
  }
  const d = field(v, 'doubleValue', 'double_value');
  if (d !== undefined) return jsonDouble(d);
  const bytes = field(v, 'bytesValue', 'bytes_value');
  if (bytes !== undefined) return typeof bytes === 'string' ? bytes : undefined;
  const arr = field(v, 'arrayValue', 'array_value');
  if (arr !== undefined) {
    if (!isObject(arr)) return undefined;
    const values = list(arr, 'values', 'values');
    if (typeof values === 'string') return undefined;
    const out: AnyJs[] = [];
    for (const x of values) {
      const y = jsonAny(x, depth + 1);
      if (y === undefined) return undefined;
      out.push(y);
    }
    return out;
  }
  const kvl = field(v, 'kvlistValue', 'kvlist_value');
  if (kvl !== undefined) {
    if (!isObject(kvl)) return undefined;
    const values = list(kvl, 'values', 'values');
    if (typeof values === 'string') return undefined;
    const out: { [k: string]: AnyJs } = {};
    for (const kv of values) {
      const key = isObject(kv) ? (kv['key'] ?? '') : undefined;
      if (typeof key !== 'string') return undefined;
      const y = jsonAny((kv as Record<string, unknown>)['value'], depth + 1);
      if (y === undefined) return undefined;
      out[key] = y;
    }
    return out;
  }
  return '';
}

// ---------------------------------------------------------------------------------------------
// Answers

/**
 * Encodes an `ExportMetricsServiceResponse` (protobuf): empty on full success, else
 * `partial_success (1) { rejected_data_points (1): int64, error_message (2): string }`.
 */
export function encodeExportResponse(rejectedPoints: number, message: string): Uint8Array {
  if (rejectedPoints === 0 && message === '') return new Uint8Array(0);
  const msg = Buffer.from(message, 'utf8');
  const inner: number[] = [];
  if (rejectedPoints > 0) {
    inner.push((1 << 3) | WIRE_VARINT);
    pushVarint(inner, rejectedPoints);
  }
  const head: number[] = [];
  if (msg.length > 0) {
    head.push((2 << 3) | WIRE_LEN);
    pushVarint(head, msg.length);
  }
  const innerLen = inner.length + head.length + msg.length;
  const outer: number[] = [(1 << 3) | WIRE_LEN];
  pushVarint(outer, innerLen);
  return Buffer.concat([Buffer.from(outer), Buffer.from(inner), Buffer.from(head), msg]);
}

function pushVarint(out: number[], n: number): void {
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

/**
 * Registers `POST /v1/metrics` in an encapsulated child context (its `application/x-protobuf`
 * parser stays local; `application/json` uses the app's JSON parser; the app's hooks, e.g.
 * authentication, and error handler apply). Call before `app.ready()`/`listen()`.
 */
export function registerOtlp(app: FastifyInstance, deps: IngestRouteDeps, opts: OtlpOptions = {}): void {
  const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;
  void app.register((child, _o, done) => {
    child.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer', bodyLimit }, rawBufferParser);
    child.post(
      '/v1/metrics',
      { onRequest: admitHook(deps, 'otlp'), preParsing: gunzipRequestBody },
      async (req, reply) => {
        const type = mediaType(req);
        let batch: OtlpBatch;
        let json: boolean;
        if (type === 'application/x-protobuf' && Buffer.isBuffer(req.body)) {
          batch = decodeOtlpProtobuf(req.body, deps.now(), deps.limits, deps.maxSamplesPerRequest, opts);
          json = false;
        } else if (type === 'application/json') {
          batch = decodeOtlpJson(req.body, deps.now(), deps.limits, deps.maxSamplesPerRequest, opts);
          json = true;
        } else {
          throw new IngestError(
            'INGEST_UNSUPPORTED_MEDIA_TYPE',
            `OTLP/HTTP needs Content-Type application/x-protobuf or application/json, got ${JSON.stringify(type)}`,
          );
        }
        const outcome = await submitBatch(deps, 'otlp', batch, batch.describe);
        // Points refused by the decoder are counted there (a metric-level refusal covers all its
        // points); the sink's refusals add their distinct points.
        const fromDecoder = new Set<LocatedRejection>(batch.rejected);
        const sinkOnly = outcome.rejected.filter((r) => !fromDecoder.has(r));
        const rejectedPoints = batch.rejectedPoints + countRejectedItems(sinkOnly);
        const message =
          outcome.rejected.length === 0
            ? ''
            : `${rejectedPoints} data point(s) refused, ${outcome.accepted} samples accepted (do not retry; the rest is stored):\n${formatProblems(outcome.rejected)}`;
        if (json) {
          const body =
            rejectedPoints === 0 && message === ''
              ? {}
              : { partialSuccess: { rejectedDataPoints: String(rejectedPoints), errorMessage: message } };
          return reply.code(200).type('application/json').send(body);
        }
        return reply
          .code(200)
          .type('application/x-protobuf')
          .send(Buffer.from(encodeExportResponse(rejectedPoints, message)));
      },
    );
    done();
  });
}
