import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeJsonSamples } from './http-json.js';
import { IngestError } from './errors.js';
import type { SampleLimits } from './validate.js';

const limits: SampleLimits = {
  maxLabelsPerSeries: 4,
  maxNameLength: 50,
  maxLabelValueLength: 20,
  maxFutureSkewMs: 600_000,
};
const NOW = Date.UTC(2026, 10, 21);
const decode = (body: unknown, max = 1000) => decodeJsonSamples(body, NOW, limits, max);
const good = { metric: 'http_requests_total', labels: { service: 'api' }, ts: NOW - 1000, value: 12.5 };

describe('JSON sample decoding', () => {
  test('a good sample gets its series key (metric + sorted labels)', () => {
    const r = decode({ samples: [{ ...good, labels: { service: 'api', method: 'GET' } }] });
    assert.equal(r.rejected.length, 0);
    assert.equal(r.samples[0]!.key, 'http_requests_total{method="GET",service="api"}');
  });

  test('RFC 3339 timestamps are accepted', () => {
    const r = decode({
      samples: [
        { ...good, ts: '2026-11-20T10:00:00.250Z' },
        { ...good, ts: '2026-11-20T11:00:00+01:00' },
      ],
    });
    assert.deepEqual(
      r.samples.map((s) => s.ts),
      [Date.UTC(2026, 10, 20, 10, 0, 0, 250), Date.UTC(2026, 10, 20, 10, 0, 0)],
    );
  });

  test('each bad item is refused by index with a reason; the good ones beside it are kept', () => {
    const items = [
      good,
      { ...good, value: 'NaN' },
      { ...good, value: Infinity },
      { ...good, ts: 'yesterday' },
      { metric: 'x', ts: NOW },
      { ...good, extra: 1 },
      { ...good, metric: '9bad' },
      { ...good, labels: { __name__: 'x' } },
      { ...good, labels: { a: 1 } },
      { ...good, ts: 1_732_000_000 }, // seconds, not ms
      { ...good, ts: NOW + 3_600_000 },
      { ...good, labels: { a: 'x'.repeat(21) } },
      { ...good, labels: { a: '1', b: '2', c: '3', d: '4', e: '5' } },
      null,
      [1, 2],
      { ...good, ts: NOW - 2000 },
    ];
    const r = decode({ samples: items });
    assert.deepEqual(r.indices, [0, 15]);
    const reasons = Object.fromEntries(r.rejected.map((x) => [x.index, `${x.code}: ${x.reason}`]));
    assert.match(reasons[1]!, /^INVALID_SAMPLE: value must be a number, got string/);
    assert.match(reasons[2]!, /^INVALID_SAMPLE: value must be finite/);
    assert.match(reasons[3]!, /neither epoch milliseconds nor RFC 3339/);
    assert.match(reasons[4]!, /missing field "value"/);
    assert.match(reasons[5]!, /unknown field "extra"/);
    assert.match(reasons[6]!, /^INVALID_NAME: metric "9bad"/);
    assert.match(reasons[7]!, /reserved/);
    assert.match(reasons[8]!, /label "a" must be a string, got number/);
    assert.match(reasons[9]!, /^TIMESTAMP_OUT_OF_RANGE: .*seconds\?/);
    assert.match(reasons[10]!, /ahead of the server clock/);
    assert.match(reasons[11]!, /^LIMIT_EXCEEDED: label "a" value is 21 characters, limit 20/);
    assert.match(reasons[12]!, /more than 4 labels/);
    assert.match(reasons[13]!, /must be an object, got null/);
    assert.match(reasons[14]!, /must be an object, got array/);
  });

  test('request-level problems are typed errors', () => {
    const code = (body: unknown, max?: number): string => {
      try {
        decode(body, max);
        return 'ok';
      } catch (e) {
        assert.ok(e instanceof IngestError);
        return `${e.code} ${e.statusCode}`;
      }
    };
    assert.equal(code([good]), 'INGEST_BAD_REQUEST 400');
    assert.equal(code({ samples: {} }), 'INGEST_BAD_REQUEST 400');
    assert.equal(code({ samples: [], other: 1 }), 'INGEST_BAD_REQUEST 400');
    assert.equal(code({ samples: [good, good, good] }, 2), 'INGEST_TOO_MANY_SAMPLES 413');
    assert.equal(code({ samples: [] }), 'ok');
  });

  test('fuzz: arbitrary JSON never throws anything but IngestError, and valid items survive', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.jsonValue(), fc.constant(good))), fc.jsonValue(), (items, top) => {
        for (const body of [top, { samples: items }]) {
          try {
            const r = decode(body);
            if (body === top) continue;
            const goodIdx = items.flatMap((it, i) => (it === good ? [i] : []));
            for (const i of goodIdx) assert.ok(r.indices.includes(i));
            assert.equal(r.indices.length + r.rejected.length, items.length);
          } catch (e) {
            assert.ok(e instanceof IngestError, String(e));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
