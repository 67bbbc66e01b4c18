import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { murmur2, toPositive } from '../../common/index.js';
import type { SampleLimits } from '../validate.js';
import { decodeJsonSamples } from '../http-json.js';
import {
  createKafkaDecoder,
  decodeKafkaValue,
  encodeBatchJson,
  encodeSampleJson,
  keyGroupsOfPartition,
  partitionForKey,
  type KafkaMessageFormat,
} from './codec.js';
import { decodePointer, encodePointer, snapshotKeys } from './state-store.js';

const limits: SampleLimits = {
  maxLabelsPerSeries: 8,
  maxNameLength: 100,
  maxLabelValueLength: 100,
  maxFutureSkewMs: 600_000,
};
const NOW = Date.UTC(2026, 10, 21);
const good = { metric: 'cpu', labels: { host: 'a' }, ts: NOW - 1000, value: 0.5 };
const buf = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
const decode = (v: Buffer | null, format: KafkaMessageFormat = 'auto', max = 4096) =>
  decodeKafkaValue(v, format, NOW, limits, max);

describe('Kafka message decoding', () => {
  test('one sample per message, and batches, give the same samples with series keys', () => {
    const one = decode(buf(good), 'json');
    assert.ok(one.ok);
    assert.deepEqual(one.samples, [{ ...good, key: 'cpu{host="a"}' }]);
    assert.equal(one.batch, false);
    const batch = decode(buf({ samples: [good, { ...good, ts: NOW }] }), 'json-batch');
    assert.ok(batch.ok);
    assert.equal(batch.batch, true);
    assert.deepEqual(batch.itemIndex, [0, 1]);
    const auto = decode(buf({ samples: [good] }));
    assert.ok(auto.ok && auto.batch);
  });

  test('whole-message poison has a code and a reason', () => {
    const code = (v: Buffer | null, f: KafkaMessageFormat = 'auto', max = 4096): string => {
      const r = decode(v, f, max);
      return r.ok ? 'ok' : `${r.code}: ${r.reason}`;
    };
    assert.match(code(null), /^EMPTY_MESSAGE: null value/);
    assert.match(code(Buffer.alloc(0)), /^EMPTY_MESSAGE/);
    assert.match(
      code(buf('x'.repeat(5000))),
      /^MESSAGE_TOO_LARGE: value is 5000 bytes, max_message_bytes is 4096/,
    );
    assert.match(code(buf('{"metric":')), /^NOT_JSON/);
    assert.match(code(Buffer.from([0x7b, 0xff, 0x7d])), /^NOT_JSON: value is not UTF-8/);
    assert.match(code(buf('[1]')), /^BAD_MESSAGE: value must be a JSON object, got array/);
    assert.match(code(buf('42')), /^BAD_MESSAGE: .*got number/);
    assert.match(code(buf({ samples: {} })), /^BAD_MESSAGE: "samples" must be an array/);
    assert.match(code(buf({ samples: [good], extra: 1 })), /^BAD_MESSAGE: unknown top-level field "extra"/);
    assert.match(code(buf({ samples: [good] }), 'json'), /^BAD_MESSAGE: a \{"samples"/);
    assert.match(code(buf(good), 'json-batch'), /^BAD_MESSAGE: unknown top-level field "metric"/);
  });

  test('bad items of a batch are refused by index; the others are kept (the JSON API rules)', () => {
    const r = decode(
      buf({
        samples: [
          good,
          { ...good, value: 'NaN' },
          { ...good, metric: '9x' },
          null,
          { ...good, ts: NOW + 3_600_000 },
        ],
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual(r.itemIndex, [0]);
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.code]),
      [
        [1, 'INVALID_SAMPLE'],
        [2, 'INVALID_NAME'],
        [3, 'INVALID_SAMPLE'],
        [4, 'TIMESTAMP_OUT_OF_RANGE'],
      ],
    );
    assert.deepEqual(r.items[2], { ...good, metric: '9x' });
  });

  test('fuzz: any bytes decode to samples + refusals or a poison code, never an exception', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.jsonValue().map((v) => buf(JSON.stringify(v) ?? 'null')),
        ),
        (bytes) => {
          for (const f of ['json', 'json-batch', 'auto'] as const) {
            const r = decode(Buffer.from(bytes), f);
            if (r.ok) assert.equal(r.samples.length + r.rejected.length, r.items.length);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  test('property: the cached decoder accepts and refuses exactly what the JSON API does', () => {
    const item = fc.oneof(
      fc.constant(good),
      fc.record({
        metric: fc.constantFrom('cpu', 'mem', '9x', ''),
        labels: fc.oneof(
          fc.constant({ host: 'a' }),
          fc.constant({ host: 'b', dc: '' }),
          fc.constant(null),
          fc.dictionary(
            fc.constantFrom('host', 'dc', '__x', 'b-1'),
            fc.oneof(fc.string({ maxLength: 3 }), fc.integer()),
          ),
        ),
        ts: fc.oneof(
          fc.constant(NOW - 5),
          fc.integer({ min: NOW - 100_000, max: NOW + 1_000_000 }),
          fc.constant('2026-11-20T10:00:00Z'),
          fc.string(),
        ),
        value: fc.oneof(fc.double(), fc.constant('1'), fc.integer()),
      }),
      fc.jsonValue(),
    );
    const decoder = createKafkaDecoder('auto', limits, 1 << 20);
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 12 }),
        fc.constantFrom('cpu{host="a"}', 'mem{host="b"}', ''),
        (items0, key) => {
          // What the JSON API receives is the JSON text's value: ±Infinity and NaN become null.
          const items = JSON.parse(JSON.stringify(items0)) as unknown[];
          const api = decodeJsonSamples({ samples: items }, NOW, limits, Number.MAX_SAFE_INTEGER);
          const batch = decoder.decode(Buffer.from(key), buf({ samples: items }), NOW);
          assert.ok(batch.ok);
          assert.deepEqual([...batch.samples], api.samples);
          assert.deepEqual([...batch.itemIndex], api.indices);
          assert.deepEqual([...batch.rejected], api.rejected);
          for (const it of items) {
            if (it === null || typeof it !== 'object' || Array.isArray(it) || 'samples' in it) continue;
            const one = decoder.decode(Buffer.from(key), buf(it), NOW);
            const ref = decodeJsonSamples({ samples: [it] }, NOW, limits, 1);
            assert.ok(one.ok);
            assert.deepEqual([...one.samples], ref.samples);
            assert.deepEqual([...one.rejected], ref.rejected);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  test('encoders produce what the decoder reads', () => {
    const s = { metric: 'm', labels: { a: 'x"y' }, ts: NOW - 5, value: -1.25 };
    const one = decode(buf(encodeSampleJson(s)), 'json');
    assert.ok(one.ok);
    assert.deepEqual(one.samples[0], { ...s, key: 'm{a="x\\"y"}' });
    const b = decode(buf(encodeBatchJson([s, { ...s, ts: NOW }])), 'json-batch');
    assert.ok(b.ok && b.samples.length === 2);
  });
});

describe('partitioning convention', () => {
  test('partition = toPositive(murmur2(key)) % P, and key groups g ≡ p (mod P) lie in partition p when P | K', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.constantFrom(1, 2, 4, 8, 16, 32),
        fc.constantFrom(1, 2, 4, 8),
        (key, P, mult) => {
          const K = P * mult;
          const p = partitionForKey(key, P);
          assert.equal(p, toPositive(murmur2(key)) % P);
          const kg = toPositive(murmur2(key)) % K;
          assert.ok(keyGroupsOfPartition(p, P, K).includes(kg));
        },
      ),
    );
    assert.deepEqual(keyGroupsOfPartition(1, 4, 16), [1, 5, 9, 13]);
  });
});

describe('state pointers', () => {
  test('round trip; anything else is "no snapshot"', () => {
    const p = { v: 1 as const, f: 10, m: 14, w: 'abc123', s: 7, e: 3, c: 4 };
    assert.deepEqual(decodePointer(encodePointer(p)), p);
    assert.ok(encodePointer(p).length < 200, 'far below offset.metadata.max.bytes (4096)');
    for (const bad of [null, '', 'x', '{"v":2}', '{"v":1,"f":"1"}'])
      assert.equal(decodePointer(bad), undefined);
    assert.deepEqual(snapshotKeys(3, 'w', 9, 2), [
      'vigil.v1/p3/w/9/0',
      'vigil.v1/p3/w/9/1',
      'vigil.v1/p3/w/9/m',
    ]);
  });
});
