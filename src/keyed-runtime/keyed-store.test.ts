import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedStore, decodeKeyGroup } from './keyed-store.js';
import type { KeyedOperator } from './types.js';

/** A counter per key whose states are objects; records every release. */
function counting(withEncodeInto: boolean): { op: KeyedOperator<number, { n: number }>; released: number[] } {
  const released: number[] = [];
  const encode = (s: { n: number }): Uint8Array => Uint8Array.of(s.n & 255, 7, 7);
  const op: KeyedOperator<number, { n: number }> = {
    name: 'count',
    stateVersion: 1,
    codec: {
      encode,
      decode: (b) => ({ n: b[0] as number }),
      ...(withEncodeInto
        ? {
            byteLength: () => 3,
            encodeInto: (s: { n: number }, out: Uint8Array, o: number) => out.set(encode(s), o),
          }
        : {}),
    },
    process(_ts, value, ctx, emit) {
      if (value < 0) ctx.setState({ n: 100 }); // replaces the state
      const s = ctx.state ?? { n: 0 };
      s.n++;
      ctx.setState(s);
      emit(s.n);
    },
    release: (s) => released.push(s.n),
  };
  return { op, released };
}

test('the store releases a state when it forgets the key or the state is replaced, once each', () => {
  const { op, released } = counting(true);
  let now = 0;
  const store = new KeyedStore(op, () => now);
  store.addKey(1, 'a', 0);
  store.addKey(2, 'b', 1);
  store.addKey(3, 'c', 1);
  store.process(1, 1, 1);
  store.process(2, 1, 1);
  store.process(3, 1, 1);
  store.process(3, 2, 1); // same state object: not a replacement
  assert.deepEqual(released, []);
  store.process(1, 2, -1); // replaced by a new object
  assert.deepEqual(released, [1]);
  store.addKey(1, 'a', 0, 0, 0, { n: 42 }); // a duplicate registration's state is not kept
  assert.deepEqual(released, [1, 42]);
  store.dropKeyGroups([1]);
  assert.deepEqual(released, [1, 42, 1, 2]);
  now = 10_000;
  assert.deepEqual(store.expire(5_000), ['a']);
  assert.deepEqual(released, [1, 42, 1, 2, 101]);
  assert.equal(store.size, 0);
});

for (const withEncodeInto of [true, false]) {
  test(`a key group encoded in place equals encodeKeyGroup's bytes (codec ${withEncodeInto ? 'with' : 'without'} encodeInto)`, () => {
    const { op } = counting(withEncodeInto);
    const store = new KeyedStore(op, () => 0);
    store.addKey(1, 'séries{a="1"}', 4);
    store.addKey(2, 'b', 4);
    store.addKey(3, 'no_state_yet', 4);
    store.process(1, 10, 1);
    store.process(2, 20, 1);
    store.process(2, 30, 1);
    const { bytes, keys } = store.encodeKeyGroup(4);
    assert.equal(keys, 3);
    assert.equal(store.keyGroupByteLength(4), bytes.length);
    const out = new Uint8Array(new SharedArrayBuffer(bytes.length + 9)).fill(0xee);
    assert.equal(store.encodeKeyGroupInto(4, out, 4), 3);
    assert.deepEqual(Uint8Array.from(out.subarray(4, 4 + bytes.length)), bytes);
    assert.deepEqual([out[3], out[4 + bytes.length]], [0xee, 0xee]);
    assert.deepEqual(
      decodeKeyGroup(bytes).map((e) => [e.key, e.lastTs, e.state && [...e.state]]),
      [
        ['séries{a="1"}', 10, [1, 7, 7]],
        ['b', 30, [2, 7, 7]],
        ['no_state_yet', -Infinity, undefined],
      ],
    );
  });
}
