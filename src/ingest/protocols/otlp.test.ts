import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IngestError } from '../errors.js';
import { makeSample, type SampleLimits } from '../validate.js';
import {
  decodeOtlpJson,
  decodeOtlpProtobuf,
  encodeExportResponse,
  type OtlpBatch,
  type OtlpOptions,
} from './otlp.js';
import { loadOtlpRoot } from './proto/schemas.js';

const LIMITS: SampleLimits = {
  maxLabelsPerSeries: 10,
  maxNameLength: 120,
  maxLabelValueLength: 200,
  maxFutureSkewMs: 600_000,
};
const NOW = 1_750_000_000_000;
const NS = `${NOW - 5000}123456`; // 5 s ago, with sub-millisecond digits
const root = loadOtlpRoot();
const Request = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
const Response = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse');

type Obj = Record<string, unknown>;
const str = (key: string, v: string): Obj => ({ key, value: { stringValue: v } });
const encode = (req: Obj): Uint8Array => Request.encode(Request.fromObject(req)).finish();
/** The canonical OTLP JSON of a request, as protobufjs's JSON mapping writes it (64-bit ints as strings). */
const toJson = (req: Obj): unknown =>
  JSON.parse(
    JSON.stringify(
      Request.toObject(Request.decode(encode(req)), {
        longs: String,
        enums: Number,
        bytes: String,
        json: true,
      }),
    ),
  );

/** Decodes with both encodings, checks they agree, returns the protobuf result. */
function both(req: Obj, opts: OtlpOptions = {}, max = 1000): OtlpBatch {
  const p = decodeOtlpProtobuf(encode(req), NOW, LIMITS, max, opts);
  const j = decodeOtlpJson(toJson(req), NOW, LIMITS, max, opts);
  assert.deepEqual(j.samples, p.samples, 'JSON and protobuf give the same samples');
  assert.deepEqual(j.indices, p.indices);
  assert.equal(j.skipped, p.skipped);
  assert.deepEqual(
    j.rejected.map((r) => [r.index, r.code, r.where]),
    p.rejected.map((r) => [r.index, r.code, r.where]),
  );
  return p;
}
const keys = (b: OtlpBatch) => b.samples.map((s) => `${s.key} ${s.value}`);

const resource = (attrs: Obj[]) => ({ attributes: attrs });
const request = (
  metrics: Obj[],
  attrs: Obj[] = [str('service.name', 'checkout'), str('service.instance.id', 'pod-1')],
): Obj => ({
  resourceMetrics: [
    {
      resource: resource(attrs),
      scopeMetrics: [{ scope: { name: 'io.vigil.test', version: '1' }, metrics }],
    },
  ],
});

describe('OTLP decoder: mapping', () => {
  test('gauge and sums: names, job/instance, attributes as labels, exact timestamps', () => {
    const b = both(
      request([
        {
          name: 'system.memory.usage',
          unit: 'By',
          gauge: { dataPoints: [{ attributes: [str('state', 'used')], timeUnixNano: NS, asInt: 1024 }] },
        },
        {
          name: 'http.server.requests',
          unit: '{request}',
          sum: {
            aggregationTemporality: 2,
            isMonotonic: true,
            dataPoints: [{ attributes: [str('http.method', 'GET')], timeUnixNano: NS, asDouble: 42 }],
          },
        },
        {
          name: 'queue.depth',
          unit: '1',
          sum: {
            aggregationTemporality: 1,
            isMonotonic: false,
            dataPoints: [{ timeUnixNano: NS, asDouble: 3 }],
          },
        },
      ]),
    );
    assert.deepEqual(keys(b), [
      'system_memory_usage_bytes{instance="pod-1",job="checkout",state="used"} 1024',
      'http_server_requests_total{http_method="GET",instance="pod-1",job="checkout"} 42',
      'queue_depth{instance="pod-1",job="checkout"} 3',
    ]);
    assert.ok(
      b.samples.every((s) => s.ts === NOW - 5000),
      'ns → ms, sub-ms digits truncated',
    );
    for (const s of b.samples) {
      const c = makeSample(s.metric, s.labels, s.ts, s.value, NOW, LIMITS);
      assert.ok(c.ok);
      assert.deepEqual(c.sample, s);
    }
  });

  test('service.namespace joins the job; other resource attributes are dropped unless promoted', () => {
    const req = request(
      [{ name: 'g', gauge: { dataPoints: [{ timeUnixNano: NS, asDouble: 1 }] } }],
      [
        str('service.name', 'api'),
        str('service.namespace', 'shop'),
        str('host.name', 'h1'),
        str('k8s.pod.name', 'p'),
      ],
    );
    assert.deepEqual(keys(both(req)), ['g{job="shop/api"} 1']);
    assert.deepEqual(keys(both(req, { promoteResourceAttributes: ['host.name'] })), [
      'g{host_name="h1",job="shop/api"} 1',
    ]);
  });

  test('resource job/instance win over point attributes; colliding attribute names join with ";"', () => {
    const b = both(
      request([
        {
          name: 'g',
          gauge: {
            dataPoints: [
              {
                attributes: [
                  str('job', 'mine'),
                  str('a.b', 'x'),
                  str('a_b', 'y'),
                  { key: 'n', value: { intValue: '7' } },
                  { key: 'ok', value: { boolValue: true } },
                ],
                timeUnixNano: NS,
                asDouble: 1,
              },
            ],
          },
        },
      ]),
    );
    assert.deepEqual(keys(b), ['g{a_b="x;y",instance="pod-1",job="checkout",n="7",ok="true"} 1']);
  });

  test('histogram: _count and _sum by default; Prometheus-style cumulative buckets on request', () => {
    const h = {
      name: 'http.server.request.duration',
      unit: 's',
      histogram: {
        aggregationTemporality: 2,
        dataPoints: [
          {
            attributes: [str('route', '/a')],
            timeUnixNano: NS,
            count: 10,
            sum: 2.5,
            bucketCounts: [3, 5, 2],
            explicitBounds: [0.005, 0.1],
          },
        ],
      },
    };
    const base = 'http_server_request_duration_seconds';
    const labels = '{instance="pod-1",job="checkout",route="/a"}';
    assert.deepEqual(keys(both(request([h]))), [`${base}_count${labels} 10`, `${base}_sum${labels} 2.5`]);
    const withBuckets = keys(both(request([h]), { histogramBuckets: true }));
    assert.deepEqual(withBuckets.slice(2), [
      `${base}_bucket{instance="pod-1",job="checkout",le="0.005",route="/a"} 3`,
      `${base}_bucket{instance="pod-1",job="checkout",le="0.1",route="/a"} 8`,
      `${base}_bucket{instance="pod-1",job="checkout",le="+Inf",route="/a"} 10`,
    ]);
  });

  test('exponential histogram → _count/_sum; summary → _count/_sum/quantiles', () => {
    const b = both(
      request(
        [
          {
            name: 'lat',
            unit: 'ms',
            exponentialHistogram: {
              aggregationTemporality: 1,
              dataPoints: [
                {
                  timeUnixNano: NS,
                  count: 4,
                  sum: 10,
                  scale: 2,
                  zeroCount: 1,
                  positive: { offset: 1, bucketCounts: [1, 2] },
                },
              ],
            },
          },
          {
            name: 'rpc',
            summary: {
              dataPoints: [
                {
                  timeUnixNano: NS,
                  count: 3,
                  sum: 9,
                  quantileValues: [
                    { quantile: 0.5, value: 2 },
                    { quantile: 0.99, value: 4 },
                  ],
                },
              ],
            },
          },
        ],
        [],
      ),
    );
    assert.deepEqual(keys(b), [
      'lat_milliseconds_count 4',
      'lat_milliseconds_sum 10',
      'rpc_count 3',
      'rpc_sum 9',
      'rpc{quantile="0.5"} 2',
      'rpc{quantile="0.99"} 4',
    ]);
  });

  test('no-recorded-value points are skipped and counted; index counts every point in document order', () => {
    const b = both(
      request([
        {
          name: 'a',
          gauge: {
            dataPoints: [
              { timeUnixNano: NS, asDouble: 1 },
              { timeUnixNano: NS, flags: 1 },
            ],
          },
        },
        { name: 'b', gauge: { dataPoints: [{ timeUnixNano: NS, asDouble: 2 }] } },
      ]),
    );
    assert.equal(b.skipped, 1);
    assert.deepEqual(b.indices, [0, 2]);
  });
});

describe('OTLP decoder: refusals', () => {
  test('per point: NaN, missing value, missing or zero time, bad attribute key; the rest is kept', () => {
    const b = both(
      request([
        {
          name: 'g',
          gauge: {
            dataPoints: [
              { timeUnixNano: NS, asDouble: 1 },
              { timeUnixNano: NS },
              { asDouble: 2 },
              { timeUnixNano: '0', asDouble: 3 },
              { timeUnixNano: NS, asDouble: 4, attributes: [str('...', 'x')] },
              { timeUnixNano: NS, asDouble: 5, attributes: [str('__x', 'y')] },
              { timeUnixNano: NS, asDouble: 6 },
            ],
          },
        },
      ]),
    );
    assert.deepEqual(
      b.samples.map((s) => s.value),
      [1, 6],
    );
    assert.deepEqual(
      b.rejected.map((r) => [r.index, r.code, r.reason]),
      [
        [1, 'INVALID_SAMPLE', 'data point has no value (as_double or as_int)'],
        [2, 'INVALID_SAMPLE', 'time_unix_nano is missing'],
        [3, 'INVALID_SAMPLE', 'time_unix_nano is missing'], // 0 is the proto3 default: absent on the wire
        [4, 'INVALID_NAME', 'attribute key "..." has no valid character'],
        [5, 'INVALID_NAME', 'label name "__x" is reserved (starts with __)'],
      ],
    );
    assert.equal(b.rejected[0]!.where, 'resourceMetrics[0].scopeMetrics[0].metrics[0] "g" dataPoints[1]');
    assert.equal(b.rejectedPoints, 5);
  });

  test('per metric: no data, or a name with no valid character', () => {
    const b = both(
      request([
        { name: 'empty' },
        {
          name: '...',
          gauge: {
            dataPoints: [
              { timeUnixNano: NS, asDouble: 1 },
              { timeUnixNano: NS, asDouble: 2 },
            ],
          },
        },
        { name: 'ok', gauge: { dataPoints: [{ timeUnixNano: NS, asDouble: 3 }] } },
      ]),
    );
    assert.deepEqual(keys(b), ['ok{instance="pod-1",job="checkout"} 3']);
    assert.deepEqual(
      b.rejected.map((r) => [r.index, r.code]),
      [
        [0, 'INVALID_SAMPLE'],
        [1, 'INVALID_NAME'],
        [2, 'INVALID_NAME'],
      ],
    );
    assert.deepEqual(b.indices, [3]);
  });

  test('protobuf: a malformed data point or metric with intact framing is refused alone', () => {
    const good = encode(
      request([{ name: 'ok', gauge: { dataPoints: [{ timeUnixNano: NS, asDouble: 1 }] } }]),
    );
    // Same request with the as_double field's wire type changed from I64 (1) to VARINT (0): the
    // point's bytes no longer parse, its length prefix is intact.
    const asDoubleTag = (4 << 3) | 1;
    const at = Buffer.from(good).indexOf(asDoubleTag);
    const bad = Buffer.from(good);
    bad[at] = (4 << 3) | 0;
    const r = decodeOtlpProtobuf(bad, NOW, LIMITS, 100);
    assert.equal(r.samples.length, 0);
    assert.equal(r.rejected.length, 1);
    assert.match(r.rejected[0]!.reason, /malformed data point: as_double \(field 4\) has wire type 0/);
  });

  test('protobuf: truncation anywhere is a 400 or a shorter valid request, nothing else', () => {
    const full = encode(
      request([
        {
          name: 'a',
          gauge: { dataPoints: [{ timeUnixNano: NS, asDouble: 1, attributes: [str('k', 'v')] }] },
        },
        {
          name: 'h',
          histogram: {
            dataPoints: [{ timeUnixNano: NS, count: 2, sum: 1, bucketCounts: [1, 1], explicitBounds: [1] }],
          },
        },
      ]),
    );
    for (let cut = 1; cut < full.length; cut++) {
      try {
        decodeOtlpProtobuf(full.subarray(0, cut), NOW, LIMITS, 100);
      } catch (e) {
        assert.ok(e instanceof IngestError && e.code === 'INGEST_BAD_REQUEST', String(e));
      }
    }
  });

  test('JSON: a body that is not an object, or resourceMetrics not an array, is 400', () => {
    for (const body of [null, [], 'x', 3, { resourceMetrics: {} }]) {
      assert.throws(
        () => decodeOtlpJson(body, NOW, LIMITS, 10),
        (e: unknown) => e instanceof IngestError && e.code === 'INGEST_BAD_REQUEST',
      );
    }
    assert.equal(decodeOtlpJson({}, NOW, LIMITS, 10).samples.length, 0);
  });

  test('JSON: an explicit zero time is refused as such', () => {
    const b = decodeOtlpJson(toJson(request([])), NOW, LIMITS, 10);
    assert.equal(b.samples.length, 0);
    const z = decodeOtlpJson(
      {
        resourceMetrics: [
          {
            scopeMetrics: [
              { metrics: [{ name: 'g', gauge: { dataPoints: [{ timeUnixNano: '0', asDouble: 1 }] } }] },
            ],
          },
        ],
      },
      NOW,
      LIMITS,
      10,
    );
    assert.equal(z.rejected[0]?.reason, 'timeUnixNano is 0 (required)');
  });

  test('JSON: snake_case keys, numeric int64s and enum names are accepted', () => {
    const b = decodeOtlpJson(
      {
        resource_metrics: [
          {
            scope_metrics: [
              {
                metrics: [
                  {
                    name: 'c',
                    sum: {
                      is_monotonic: true,
                      aggregation_temporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE',
                      data_points: [{ time_unix_nano: (NOW - 1000) * 1e6, as_int: 5 }],
                    },
                  },
                ],
              },
            ],
          },
        ],
      },
      NOW,
      LIMITS,
      10,
    );
    assert.deepEqual(keys(b), ['c_total 5']);
    assert.equal(b.samples[0]!.ts, NOW - 1000);
  });

  test('too many samples is 413 INGEST_TOO_MANY_SAMPLES', () => {
    const req = request([
      {
        name: 's',
        summary: {
          dataPoints: [{ timeUnixNano: NS, count: 1, sum: 1, quantileValues: [{ quantile: 0.5, value: 1 }] }],
        },
      },
    ]);
    assert.throws(
      () => decodeOtlpProtobuf(encode(req), NOW, LIMITS, 2),
      (e: unknown) => e instanceof IngestError && e.code === 'INGEST_TOO_MANY_SAMPLES',
    );
    assert.equal(decodeOtlpProtobuf(encode(req), NOW, LIMITS, 3).samples.length, 3);
  });
});

describe('OTLP decoder: properties', () => {
  const attr = fc.record({
    key: fc.string({ maxLength: 8 }),
    value: fc.oneof(
      fc.record({ stringValue: fc.string({ maxLength: 6 }) }),
      fc.record({ intValue: fc.integer() }),
      fc.record({ boolValue: fc.boolean() }),
      fc.record({ doubleValue: fc.double({ noNaN: true }) }),
    ),
  });
  const point = fc.record(
    {
      attributes: fc.array(attr, { maxLength: 3 }),
      timeUnixNano: fc.oneof(fc.constant(NS), fc.constant('0'), fc.constant(`${NOW + 3_600_000}000000`)),
      asDouble: fc.oneof(fc.double(), fc.constant(1.5)),
      flags: fc.constantFrom(0, 0, 0, 1),
    },
    { requiredKeys: ['timeUnixNano'] },
  );
  const metric = fc.oneof(
    fc.record({
      name: fc.string({ maxLength: 10 }),
      unit: fc.constantFrom('', 's', 'By', '1'),
      gauge: fc.record({ dataPoints: fc.array(point, { maxLength: 4 }) }),
    }),
    fc.record({
      name: fc.string({ maxLength: 10 }),
      sum: fc.record({
        isMonotonic: fc.boolean(),
        aggregationTemporality: fc.constantFrom(1, 2),
        dataPoints: fc.array(point, { maxLength: 4 }),
      }),
    }),
  );
  const req = fc.record({
    resourceMetrics: fc.array(
      fc.record({
        resource: fc.record({ attributes: fc.array(attr, { maxLength: 3 }) }),
        scopeMetrics: fc.array(fc.record({ metrics: fc.array(metric, { maxLength: 4 }) }), { maxLength: 2 }),
      }),
      { maxLength: 2 },
    ),
  });

  test('protobuf and JSON agree; every point is accepted, skipped or refused exactly once', () => {
    fc.assert(
      fc.property(req, (r) => {
        const b = both(r);
        const points = r.resourceMetrics
          .flatMap((rm) =>
            rm.scopeMetrics.flatMap((sm) =>
              sm.metrics.map((m) => ('gauge' in m ? m.gauge.dataPoints.length : m.sum.dataPoints.length)),
            ),
          )
          .reduce((a, n) => a + n, 0);
        const accepted = new Set(b.indices).size;
        assert.equal(accepted + b.skipped + b.rejectedPoints, points);
      }),
      { numRuns: 300 },
    );
  });

  test('fuzz: arbitrary bytes only ever raise IngestError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (data) => {
        try {
          decodeOtlpProtobuf(data, NOW, LIMITS, 1000);
        } catch (e) {
          assert.ok(e instanceof IngestError, String(e));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('fuzz: mutated valid requests only ever raise IngestError', () => {
    const base = encode(
      request([
        {
          name: 'a.b',
          unit: 's',
          histogram: {
            dataPoints: [
              {
                timeUnixNano: NS,
                count: 2,
                sum: 1,
                bucketCounts: [1, 1],
                explicitBounds: [1],
                attributes: [str('x', 'y')],
              },
            ],
          },
        },
      ]),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const b = Buffer.from(base);
          for (const [at, v] of edits) b[at] = v;
          try {
            decodeOtlpProtobuf(b, NOW, LIMITS, 1000, { histogramBuckets: true });
          } catch (e) {
            assert.ok(e instanceof IngestError, String(e));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('fuzz: arbitrary JSON values only ever raise IngestError', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        try {
          decodeOtlpJson({ resourceMetrics: [v] }, NOW, LIMITS, 1000);
          decodeOtlpJson(v, NOW, LIMITS, 1000);
        } catch (e) {
          assert.ok(e instanceof IngestError, String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('deeply nested attribute values are refused, not a stack overflow', () => {
    let v: Obj = { stringValue: 'x' };
    for (let i = 0; i < 40; i++) v = { arrayValue: { values: [v] } };
    const b = both(
      request([
        {
          name: 'g',
          gauge: { dataPoints: [{ timeUnixNano: NS, asDouble: 1, attributes: [{ key: 'deep', value: v }] }] },
        },
      ]),
    );
    assert.equal(b.samples.length, 0);
    assert.equal(b.rejected.length, 1);
  });
});

describe('ExportMetricsServiceResponse', () => {
  test('empty on success; partial_success otherwise (checked with protobufjs)', () => {
    assert.equal(encodeExportResponse(0, '').length, 0);
    const decoded = Response.toObject(Response.decode(encodeExportResponse(3, 'three points refused: é')), {
      longs: Number,
    });
    assert.deepEqual(decoded, {
      partialSuccess: { rejectedDataPoints: 3, errorMessage: 'three points refused: é' },
    });
  });
});
