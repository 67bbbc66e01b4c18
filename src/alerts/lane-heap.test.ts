import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LaneHeap } from './lane-heap.js';

describe('LaneHeap', () => {
  test('pops in time order (known answer)', () => {
    const h = new LaneHeap();
    for (const [at, lane] of [
      [30, 'c'],
      [10, 'a'],
      [20, 'b'],
      [10, 'a2'],
    ] as const)
      h.push(at, lane);
    assert.equal(h.peekAt(), 10);
    const out: number[] = [];
    for (let x = h.pop(); x; x = h.pop()) out.push(x.at);
    assert.deepEqual(out, [10, 10, 20, 30]);
    assert.equal(h.size, 0);
    assert.equal(h.peekAt(), Infinity);
  });

  test('property: pops every pushed item, sorted, with its lane, under interleaved pushes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(-1)), { maxLength: 300 }),
        (ops) => {
          const h = new LaneHeap();
          const model: { at: number; lane: string }[] = [];
          ops.forEach((op, i) => {
            if (op >= 0) {
              h.push(op, `l${i}`);
              model.push({ at: op, lane: `l${i}` });
            } else {
              const got = h.pop();
              if (model.length === 0) return assert.equal(got, undefined);
              const min = Math.min(...model.map((m) => m.at));
              assert.equal(got?.at, min);
              const j = model.findIndex((m) => m.at === min && m.lane === got?.lane);
              assert.ok(j >= 0, 'popped lane was pushed with that time');
              model.splice(j, 1);
            }
            assert.equal(h.size, model.length);
          });
        },
      ),
    );
  });
});
