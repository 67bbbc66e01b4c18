import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import snappyjs from 'snappyjs';
import { IngestError } from '../errors.js';
import { makeSample, type SampleLimits } from '../validate.js';
import { loadPrometheusRoot } from './proto/schemas.js';
import { decodeRemoteWrite, decodeWriteRequest } from './remote-write.js';

const LIMITS: SampleLimits = {
  maxLabelsPerSeries: 8,
  maxNameLength: 100,
  maxLabelValueLength: 200,
  maxFutureSkewMs: 600_000,
};
const NOW = 1_750_000_000_000;
const WriteRequest = loadPrometheusRoot().lookupType('prometheus.WriteRequest');

interface TS {
  labels: { name: string; value: string }[];
  samples?: { value: number; timestamp: number }[];
  histograms?: Record<string, unknown>[];
  exemplars?: Record<string, unknown>[];
}

const L = (o: Record<string, string>) => Object.entries(o).map(([name, value]) => ({ name, value }));
const proto = (timeseries: TS[], metadata: Record<string, unknown>[] = []): Uint8Array =>
  WriteRequest.encode(WriteRequest.fromObject({ timeseries, metadata })).finish();
const body = (timeseries: TS[], metadata: Record<string, unknown>[] = []): Uint8Array =>
  snappyjs.compress(proto(timeseries, metadata));
const decode = (b: Uint8Array, max = 1000) => decodeRemoteWrite(b, NOW, LIMITS, max);

function ingestError(code: string, message?: RegExp) {
  return (e: unknown) =>
    e instanceof IngestError && e.code === code && (message === undefined || message.test(e.message));
}

/** Replaces the 8 little-endian bytes of `marker` in `bytes` with Prometheus's StaleNaN bits. */
function withStaleNaN(bytes: Uint8Array, marker: number): Uint8Array {
  const m = Buffer.alloc(8);
  m.writeDoubleLE(marker);
  const out = Buffer.from(bytes);
  const at = out.indexOf(m);
  assert.ok(at >= 0, 'marker value not found in the encoding');
  out.writeUInt32LE(0x00000002, at);
  out.writeUInt32LE(0x7ff00000, at + 4);
  return out;
}

describe('remote write decoder', () => {
  test('a canonical WriteRequest: one sample per Prometheus sample, same keys as the JSON API', () => {
    const b = body(
      [
        {
          labels: L({ __name__: 'http_requests_total', job: 'api', instance: '10.0.0.1:9090' }),
          samples: [
            { value: 12, timestamp: NOW - 30_000 },
            { value: 15, timestamp: NOW - 15_000 },
          ],
        },
        {
          labels: L({ __name__: 'up', job: 'api' }),
          samples: [{ value: 1, timestamp: NOW }],
          exemplars: [{ labels: L({ trace_id: 'abc' }), value: 1, timestamp: NOW }],
        },
      ],
      [{ type: 1, metricFamilyName: 'http_requests_total', help: 'Requests.', unit: '' }],
    );
    const r = decode(b);
    assert.deepEqual(r.rejected, []);
    assert.deepEqual(r.indices, [0, 0, 1]);
    assert.deepEqual(
      r.samples.map((s) => [s.key, s.ts, s.value]),
      [
        ['http_requests_total{instance="10.0.0.1:9090",job="api"}', NOW - 30_000, 12],
        ['http_requests_total{instance="10.0.0.1:9090",job="api"}', NOW - 15_000, 15],
        ['up{job="api"}', NOW, 1],
      ],
    );
    for (const s of r.samples) {
      const c = makeSample(s.metric, s.labels, s.ts, s.value, NOW, LIMITS);
      assert.ok(c.ok);
      assert.deepEqual(c.sample, s, 'identical to the JSON API for the same metric, labels, ts and value');
    }
  });

  test('staleness markers are skipped and counted; other NaN and ±Inf are refused per sample', () => {
    const marker = 1.2345e300;
    const b = snappyjs.compress(
      withStaleNaN(
        proto([
          {
            labels: L({ __name__: 'temp', room: 'a' }),
            samples: [
              { value: 21.5, timestamp: NOW - 2000 },
              { value: marker, timestamp: NOW - 1000 },
              { value: NaN, timestamp: NOW - 500 },
              { value: Infinity, timestamp: NOW },
            ],
          },
        ]),
        marker,
      ),
    );
    const r = decode(b);
    assert.equal(r.skipped, 1);
    assert.deepEqual(
      r.samples.map((s) => s.value),
      [21.5],
    );
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.code, x.where, x.reason]),
      [
        [0, 'INVALID_SAMPLE', 'timeseries[0] temp{room="a"} sample[2]', 'value must be finite, got NaN'],
        [0, 'INVALID_SAMPLE', 'timeseries[0] temp{room="a"} sample[3]', 'value must be finite, got Infinity'],
      ],
    );
  });

  test('label rules: __name__ required, __-prefixed labels dropped, duplicates and bad names refused per series', () => {
    const r = decode(
      body([
        { labels: L({ job: 'x' }), samples: [{ value: 1, timestamp: NOW }] },
        {
          labels: L({ __name__: 'm', __type__: 'gauge', env: '', zone: 'z' }),
          samples: [{ value: 2, timestamp: NOW }],
        },
        {
          labels: [...L({ __name__: 'm', a: '1' }), { name: 'a', value: '2' }],
          samples: [{ value: 3, timestamp: NOW }],
        },
        {
          labels: L({ __name__: 'm', 'bad-name': 'v' }),
          samples: [
            { value: 4, timestamp: NOW },
            { value: 5, timestamp: NOW + 1 },
          ],
        },
        { labels: L({ __name__: 'bad metric' }), samples: [{ value: 6, timestamp: NOW }] },
        {
          labels: L({
            __name__: 'many',
            ...Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`l${i}`, 'v'])),
          }),
          samples: [{ value: 7, timestamp: NOW }],
        },
      ]),
    );
    assert.deepEqual(
      r.samples.map((s) => s.key),
      ['m{zone="z"}'],
    );
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.code, x.reason]),
      [
        [0, 'INVALID_NAME', 'timeseries has no __name__ label (1 sample refused)'],
        [2, 'INVALID_SAMPLE', 'duplicate label name "a" (1 sample refused)'],
        [
          3,
          'INVALID_NAME',
          'label name "bad-name" is not valid ([a-zA-Z_][a-zA-Z0-9_]*) (2 samples refused)',
        ],
        [
          4,
          'INVALID_NAME',
          'metric "bad metric" is not a valid name ([a-zA-Z_:][a-zA-Z0-9_:]*) (1 sample refused)',
        ],
        [5, 'LIMIT_EXCEEDED', 'more than 8 labels (1 sample refused)'],
      ],
    );
    assert.match(r.rejected[0]!.where, /^timeseries\[0\] \{job="x"\}$/);
  });

  test('timestamps: seconds instead of ms and the far future are refused per sample', () => {
    const r = decode(
      body([
        {
          labels: L({ __name__: 'm' }),
          samples: [
            { value: 1, timestamp: NOW / 1000 },
            { value: 2, timestamp: NOW + 3_600_000 },
            { value: 3, timestamp: NOW },
          ],
        },
      ]),
    );
    assert.deepEqual(
      r.samples.map((s) => s.value),
      [3],
    );
    assert.deepEqual(
      r.rejected.map((x) => x.code),
      ['TIMESTAMP_OUT_OF_RANGE', 'TIMESTAMP_OUT_OF_RANGE'],
    );
  });

  test('native histograms become <name>_count and <name>_sum; a stale histogram is skipped', () => {
    const marker = 9.87e299;
    const b = snappyjs.compress(
      withStaleNaN(
        proto([
          {
            labels: L({ __name__: 'rpc_seconds', svc: 'a' }),
            histograms: [
              {
                countInt: 12,
                sum: 3.5,
                schema: 3,
                timestamp: NOW - 1000,
                positiveSpans: [{ offset: 0, length: 2 }],
                positiveDeltas: [5, 2],
              },
              { countFloat: 13.5, sum: marker, timestamp: NOW },
            ],
          },
        ]),
        marker,
      ),
    );
    const r = decode(b);
    assert.equal(r.skipped, 1);
    assert.deepEqual(
      r.samples.map((s) => [s.key, s.value, s.ts]),
      [
        ['rpc_seconds_count{svc="a"}', 12, NOW - 1000],
        ['rpc_seconds_sum{svc="a"}', 3.5, NOW - 1000],
      ],
    );
  });

  test('a malformed timeseries with intact framing is refused alone', () => {
    const good = proto([{ labels: L({ __name__: 'a' }), samples: [{ value: 1, timestamp: NOW }] }]);
    // field 1 (timeseries), length 3: a Label tag then a length that runs past the timeseries.
    const bad = Uint8Array.from([0x0a, 3, 0x0a, 5, 0x0a]);
    const r = decode(snappyjs.compress(Buffer.concat([good, bad, good])));
    assert.deepEqual(r.indices, [0, 2]);
    assert.equal(r.rejected.length, 1);
    assert.equal(r.rejected[0]!.index, 1);
    assert.match(r.rejected[0]!.reason, /malformed TimeSeries: length 5 runs past the end of the message/);
  });

  test('truncated protobuf: every cut either decodes a prefix or is a 400, never anything else', () => {
    const full = proto([
      { labels: L({ __name__: 'a', job: 'j' }), samples: [{ value: 1.5, timestamp: NOW }] },
      {
        labels: L({ __name__: 'b' }),
        samples: [{ value: 2, timestamp: NOW }],
        histograms: [{ countInt: 1, sum: 1, timestamp: NOW }],
      },
    ]);
    let refused = 0;
    for (let cut = 1; cut < full.length; cut++) {
      try {
        decodeWriteRequest(full.subarray(0, cut), NOW, LIMITS, 1000);
      } catch (e) {
        assert.ok(e instanceof IngestError && e.code === 'INGEST_BAD_REQUEST', String(e));
        assert.match(e.message, /not a valid prometheus\.WriteRequest/);
        refused++;
      }
    }
    assert.ok(refused > full.length / 2);
  });

  test('wrong varints and wire types at the top level are 400', () => {
    assert.throws(
      () => decodeWriteRequest(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), NOW, LIMITS, 10),
      ingestError('INGEST_BAD_REQUEST', /tag varint exceeds 32 bits/),
    );
    assert.throws(
      () => decodeWriteRequest(Uint8Array.from([0x08, 0x01]), NOW, LIMITS, 10),
      ingestError('INGEST_BAD_REQUEST', /timeseries has wire type 0/),
    );
    assert.throws(
      () => decodeWriteRequest(Uint8Array.from([0x0a, 0x80]), NOW, LIMITS, 10),
      ingestError('INGEST_BAD_REQUEST', /truncated/),
    );
  });

  test('bad snappy is 400, a declared size over the limit 413, too many samples 413', () => {
    assert.throws(
      () => decode(Uint8Array.from([0x05, 0x00])),
      ingestError('INGEST_BAD_REQUEST', /not valid snappy/),
    );
    assert.throws(
      () => decode(proto([{ labels: L({ __name__: 'a' }), samples: [{ value: 1, timestamp: NOW }] }])),
      ingestError('INGEST_BAD_REQUEST'),
    );
    assert.throws(
      () => decodeRemoteWrite(Uint8Array.from([0xff, 0xff, 0xff, 0x07]), NOW, LIMITS, 10, 1024),
      ingestError('INGEST_BODY_TOO_LARGE'),
    );
    const many = body(
      Array.from({ length: 11 }, (_, i) => ({
        labels: L({ __name__: 'm', i: String(i) }),
        samples: [{ value: i, timestamp: NOW }],
      })),
    );
    assert.throws(() => decode(many, 10), ingestError('INGEST_TOO_MANY_SAMPLES'));
    assert.equal(decode(many, 11).samples.length, 11);
  });

  test('fuzz: arbitrary bytes (raw or snappy-wrapped) only ever raise IngestError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (data, wrap) => {
        try {
          decode(wrap ? snappyjs.compress(data) : data);
        } catch (e) {
          assert.ok(e instanceof IngestError, String(e));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('fuzz: valid series beside invalid ones are all returned, with their index', () => {
    const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/);
    const goodSeries = fc.record({
      metric: name,
      labels: fc.dictionary(
        name.filter((n) => !n.startsWith('__')),
        fc.string({ minLength: 1, maxLength: 10 }),
        { maxKeys: 4 },
      ),
      value: fc.double({ noNaN: true, noDefaultInfinity: true }),
      dt: fc.integer({ min: -1_000_000, max: 0 }),
    });
    const badSeries = fc.oneof(
      fc.record({ kind: fc.constant('noname' as const) }),
      fc.record({ kind: fc.constant('nan' as const) }),
      fc.record({ kind: fc.constant('badlabel' as const), label: fc.stringMatching(/^[0-9-][a-z-]{0,5}$/) }),
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            goodSeries.map((g) => ({ good: g })),
            badSeries.map((b) => ({ bad: b })),
          ),
          { maxLength: 30 },
        ),
        (items) => {
          const ts: TS[] = items.map((it) => {
            if ('good' in it) {
              const g = it.good;
              return {
                labels: L({ __name__: g.metric, ...g.labels }),
                samples: [{ value: g.value, timestamp: NOW + g.dt }],
              };
            }
            const b = it.bad;
            if (b.kind === 'noname')
              return { labels: L({ job: 'x' }), samples: [{ value: 1, timestamp: NOW }] };
            if (b.kind === 'nan')
              return { labels: L({ __name__: 'n' }), samples: [{ value: NaN, timestamp: NOW }] };
            return { labels: L({ __name__: 'n', [b.label]: 'v' }), samples: [{ value: 1, timestamp: NOW }] };
          });
          const r = decode(body(ts), 10_000);
          const want = items.flatMap((it, i) => ('good' in it ? [i] : []));
          assert.deepEqual(r.indices, want);
          assert.deepEqual(
            r.rejected.map((x) => x.index),
            items.flatMap((it, i) => ('bad' in it ? [i] : [])),
          );
          items.forEach((it, i) => {
            if (!('good' in it)) return;
            const s = r.samples[want.indexOf(i)]!;
            const c = makeSample(
              it.good.metric,
              Object.fromEntries(Object.entries(it.good.labels)),
              NOW + it.good.dt,
              it.good.value,
              NOW,
              LIMITS,
            );
            assert.ok(c.ok);
            assert.deepEqual(s, c.sample);
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});
