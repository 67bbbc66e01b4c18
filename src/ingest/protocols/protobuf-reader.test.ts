import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { decodeUtf8, nanosToMillis, ProtoError, ProtoReader, toSigned } from './protobuf-reader.js';

const reader = (...b: number[]): ProtoReader => new ProtoReader(Uint8Array.from(b));

describe('protobuf wire reader', () => {
  test('varints: known encodings', () => {
    assert.equal(reader(0x96, 0x01).int64(), 150);
    assert.equal(reader(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).int64(), -1);
    assert.equal(reader(0x80, 0x80, 0x80, 0x80, 0x10).uint64(), 2 ** 32);
    assert.equal(reader(0x03).sint64(), -2);
    assert.equal(reader(0x04).sint64(), 2);
  });

  test('int64/uint64/sint64 agree with protobufjs for safe integers', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        const w = protobuf.Writer.create();
        w.int64(n).sint64(n);
        if (n >= 0) w.uint64(n);
        const r = new ProtoReader(w.finish());
        assert.equal(r.int64(), n);
        assert.equal(r.sint64(), n);
        if (n >= 0) assert.equal(r.uint64(), n);
      }),
    );
  });

  test('truncated and overlong varints are ProtoErrors', () => {
    assert.throws(() => reader(0x80).int64(), /truncated varint/);
    assert.throws(
      () => reader(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f).int64(),
      /overflows 64 bits/,
    );
    assert.throws(
      () => reader(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).int64(),
      /overflows|longer than 10/,
    );
    assert.throws(() => reader(0x80, 0x80, 0x80, 0x80, 0x80, 0x01).tag(), /exceeds 32 bits/);
  });

  test('tags: field 0 and group wire types are refused', () => {
    assert.throws(() => reader(0x02).tag(), /field number 0/);
    assert.throws(() => reader((1 << 3) | 3).tag(), /wire type 3/);
    assert.equal(reader((5 << 3) | 2).tag(), (5 << 3) | 2);
  });

  test('lengths may not run past the message', () => {
    const r = new ProtoReader(Uint8Array.from([5, 1, 2]));
    assert.throws(
      () => r.len(),
      (e: unknown) => e instanceof ProtoError && /runs past the end/.test(e.message),
    );
  });

  test('skip every wire type', () => {
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 0).int64(-5);
    w.uint32((2 << 3) | 1).double(1.5);
    w.uint32((3 << 3) | 2).string('abc');
    w.uint32((4 << 3) | 5).float(2);
    w.uint32((9 << 3) | 0).uint32(7);
    const r = new ProtoReader(w.finish());
    for (let i = 0; i < 4; i++) r.skip(r.tag() & 7);
    assert.equal(r.tag(), (9 << 3) | 0);
    assert.equal(r.uint32(), 7);
  });

  test('nanosToMillis is exact floor(ns / 1e6) for every uint64 below 2^63', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), (ns) => {
        const lo = Number(ns & 0xffffffffn);
        const hi = Number(ns >> 32n);
        assert.equal(nanosToMillis(lo, hi), Number(ns / 1_000_000n));
      }),
      { numRuns: 2000 },
    );
    // A millisecond boundary where a float division of 1.7e18 would be off by one.
    const ns = 1_732_000_000_000_000_000n;
    assert.equal(nanosToMillis(Number(ns & 0xffffffffn), Number(ns >> 32n)), 1_732_000_000_000);
  });

  test('toSigned two-complement', () => {
    assert.equal(toSigned(0xffffffff, 0xffffffff), -1);
    assert.equal(toSigned(0, 0x80000000), -(2 ** 63));
    assert.equal(toSigned(5, 0), 5);
  });

  test('strings: ASCII (interned), multi-byte, invalid UTF-8', () => {
    const a = Buffer.from('job');
    const s1 = decodeUtf8(a, 0, 3);
    const s2 = decodeUtf8(Buffer.from('xjob'), 1, 4);
    assert.equal(s1, 'job');
    assert.equal(s2, 'job');
    assert.equal(decodeUtf8(Buffer.from('zürich'), 0, 7), 'zürich');
    const long = 'a'.repeat(100);
    assert.equal(decodeUtf8(Buffer.from(long), 0, 100), long);
    assert.throws(() => decodeUtf8(Uint8Array.from([0x61, 0xff, 0x62]), 0, 3), /not valid UTF-8/);
  });

  test('strings: intern table never returns a different string', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 50 }), (strings) => {
        for (const s of strings) {
          const b = Buffer.from(s, 'utf8');
          assert.equal(decodeUtf8(b, 0, b.length), s);
        }
      }),
      { numRuns: 300 },
    );
  });
});
