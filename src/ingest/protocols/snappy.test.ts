import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import snappyjs from 'snappyjs';
import { SnappyError, snappyDecompress, snappyUncompressedLength } from './snappy.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

describe('snappy block decoder', () => {
  test('literal-only stream', () => {
    // length 5, literal tag (len-1 = 4) << 2, "hello"
    const out = snappyDecompress(bytes(5, 4 << 2, 104, 101, 108, 108, 111), 100);
    assert.equal(Buffer.from(out).toString(), 'hello');
  });

  test('overlapping copy (run-length style): "ab" then copy offset 2 length 6', () => {
    // copy-1 tag: len = 4 + ((tag >> 2) & 7) → len 6 means (2 << 2); offset 2 high bits 0 → kind 1
    const out = snappyDecompress(bytes(8, 1 << 2, 97, 98, (2 << 2) | 1, 2), 100);
    assert.equal(Buffer.from(out).toString(), 'abababab');
  });

  test('two-byte-offset copy and long literal length forms', () => {
    const text = Buffer.from('x'.repeat(70) + 'y'.repeat(3));
    // literal of 70 bytes with a 1-byte length (tag 60 << 2), then copy-2 of 3 bytes at offset 70... of 'x'
    const stream = Buffer.concat([
      Buffer.from([73, 60 << 2, 69]),
      text.subarray(0, 70),
      Buffer.from([(2 << 2) | 2, 70, 0]),
    ]);
    const out = Buffer.from(snappyDecompress(stream, 100));
    assert.equal(out.toString(), 'x'.repeat(73));
  });

  test('round trip with snappyjs.compress on arbitrary data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.boolean(), (data, repetitive) => {
        const input = repetitive ? Buffer.from(Buffer.from(data).toString('hex').repeat(3)) : data;
        const compressed = snappyjs.compress(input);
        assert.deepEqual(Buffer.from(snappyDecompress(compressed, input.length)), Buffer.from(input));
        assert.equal(snappyUncompressedLength(compressed), input.length);
      }),
      { numRuns: 300 },
    );
  });

  test('malformed streams are SnappyErrors with an offset', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['empty input', bytes(), /truncated length header/],
      ['header never ends', bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80), /length header/],
      ['literal past the input', bytes(5, 4 << 2, 104, 101), /past the end of the input/],
      ['copy before the output start', bytes(4, (0 << 2) | 1, 1), /points before the start/],
      ['offset 0', bytes(5, 0, 97, (0 << 2) | 1, 0), /copy offset 0/],
      ['fewer bytes than declared', bytes(9, 4 << 2, 104, 101, 108, 108, 111), /ends after 5 of 9/],
      ['more bytes than declared', bytes(3, 4 << 2, 104, 101, 108, 108, 111), /past the declared length/],
      ['truncated copy tag', bytes(5, 0, 97, 2), /truncated copy/],
    ];
    for (const [what, input, message] of cases) {
      assert.throws(
        () => snappyDecompress(input, 1000),
        (e: unknown) => e instanceof SnappyError && message.test(e.message),
        what,
      );
    }
  });

  test('a declared length over the limit is refused before allocating', () => {
    // 0xffffffff declared, 5 bytes of header only
    assert.throws(
      () => snappyDecompress(bytes(0xff, 0xff, 0xff, 0xff, 0x0f), 1 << 20),
      (e: unknown) =>
        e instanceof SnappyError && (e as SnappyError & { tooLarge?: boolean }).tooLarge === true,
    );
  });

  test('why not snappyjs.uncompress: it accepts a stream shorter than declared (zero padding)', () => {
    const corrupt = bytes(9, 4 << 2, 104, 101, 108, 108, 111);
    const lenient = Buffer.from(snappyjs.uncompress(corrupt));
    assert.equal(lenient.length, 9, 'snappyjs returns 9 bytes, 4 of them never written');
    assert.throws(() => snappyDecompress(corrupt, 100), SnappyError);
  });

  test('arbitrary bytes: only SnappyError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        try {
          snappyDecompress(data, 1 << 16);
        } catch (e) {
          assert.ok(e instanceof SnappyError, String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
