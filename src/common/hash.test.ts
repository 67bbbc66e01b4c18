import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { fnv1a64Hex, murmur2, toPositive } from './hash.js';

const require = createRequire(import.meta.url);
// kafkajs's own Java-compatible murmur2 (its default partitioner): the oracle.
const kafkaMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  key: string | Buffer,
) => number;

test('murmur2 equals kafkajs (Kafka Java client) on known keys', () => {
  for (const key of ['', 'a', 'ab', 'abc', 'abcd', 'http_requests_total{service="api"}', 'ü€😀']) {
    assert.equal(murmur2(key), kafkaMurmur2(key), key);
  }
  // A published Kafka known answer: murmur2("21") = -973932308 (Kafka UtilsTest).
  assert.equal(murmur2('21'), -973932308);
});

test('murmur2 equals kafkajs on arbitrary strings (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => murmur2(s) === kafkaMurmur2(s)),
    { numRuns: 2000 },
  );
});

test('toPositive clears only the sign bit', () => {
  assert.equal(toPositive(-1), 0x7fffffff);
  assert.equal(toPositive(5), 5);
});

test('fnv1a64 known answers', () => {
  assert.equal(fnv1a64Hex(''), 'cbf29ce484222325');
  assert.equal(fnv1a64Hex('a'), 'af63dc4c8601ec8c');
});
