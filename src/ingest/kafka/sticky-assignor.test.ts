import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assignSticky, decodeClaim, encodeClaim, type MemberClaim } from './sticky-assignor.js';

const sizes = (m: Map<string, number[]>): number[] => [...m.values()].map((l) => l.length);
function checkPartition(m: Map<string, number[]>, partitions: number): void {
  const all = [...m.values()].flat().sort((a, b) => a - b);
  assert.deepEqual(
    all,
    Array.from({ length: partitions }, (_, i) => i),
    'every partition exactly once',
  );
  const s = sizes(m);
  assert.ok(Math.max(...s) - Math.min(...s) <= 1, `balanced: ${s.join(',')}`);
}

describe('sticky co-partitioned assignment', () => {
  test('known answers: first join, a second member, a member leaving', () => {
    const first = assignSticky([{ memberId: 'a', owned: [] }], 8);
    assert.deepEqual(first.get('a'), [0, 1, 2, 3, 4, 5, 6, 7]);
    // b joins: a keeps half of what it had, b gets the rest.
    const second = assignSticky(
      [
        { memberId: 'a', owned: [0, 1, 2, 3, 4, 5, 6, 7] },
        { memberId: 'b', owned: [] },
      ],
      8,
    );
    assert.deepEqual(second.get('a'), [0, 1, 2, 3]);
    assert.deepEqual(second.get('b'), [4, 5, 6, 7]);
    // c joins 3 ways over 8: a and b keep 3 each (one keeps a 3rd... ⌈8/3⌉ = 3), c gets 2.
    const third = assignSticky(
      [
        { memberId: 'a', owned: [0, 1, 2, 3] },
        { memberId: 'b', owned: [4, 5, 6, 7] },
        { memberId: 'c', owned: [] },
      ],
      8,
    );
    assert.deepEqual(third.get('a'), [0, 1, 2]);
    assert.deepEqual(third.get('b'), [4, 5, 6]);
    assert.deepEqual(third.get('c'), [3, 7]);
    // b leaves: a keeps everything it had and takes b's.
    const left = assignSticky(
      [
        { memberId: 'a', owned: [0, 1, 2] },
        { memberId: 'c', owned: [3, 7] },
      ],
      8,
    );
    assert.deepEqual(left.get('a'), [0, 1, 2, 4]);
    assert.deepEqual(left.get('c'), [3, 5, 6, 7]);
  });

  test('contested and invalid claims: first claimant in id order wins, out-of-range claims are ignored', () => {
    const m = assignSticky(
      [
        { memberId: 'b', owned: [0, 1, 99, -1] },
        { memberId: 'a', owned: [0, 1] },
      ],
      4,
    );
    assert.deepEqual(m.get('a'), [0, 1]);
    assert.deepEqual(m.get('b'), [2, 3]);
  });

  test('property: every partition once, balanced, and a balanced valid claim set is kept as is', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.array(fc.integer({ min: -2, max: 70 }), { maxLength: 20 }), {
          minLength: 1,
          maxLength: 9,
        }),
        (partitions, owned) => {
          const members: MemberClaim[] = owned.map((o, i) => ({ memberId: `m${i}`, owned: o }));
          const plan = assignSticky(members, partitions);
          checkPartition(plan, partitions);
          // Stability: feeding the plan back changes nothing.
          const again = assignSticky(
            [...plan].map(([memberId, o]) => ({ memberId, owned: o })),
            partitions,
          );
          assert.deepEqual(again, plan);
          // Stickiness: a member keeps min(its valid claims, ⌊P/n⌋) of what it claimed.
          const base = Math.floor(partitions / members.length);
          const seen = new Set<number>();
          for (const m of [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : 1))) {
            const valid = [...new Set(m.owned)].filter((p) => p >= 0 && p < partitions && !seen.has(p));
            valid.forEach((p) => seen.add(p));
            const kept = (plan.get(m.memberId) ?? []).filter((p) => valid.includes(p));
            assert.ok(
              kept.length >= Math.min(valid.length, base),
              `${m.memberId} kept ${kept.length} of ${valid.length}`,
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('claims travel as versioned JSON; unreadable ones claim nothing', () => {
    assert.deepEqual(decodeClaim(encodeClaim([3, 1, 2])), [1, 2, 3]);
    assert.deepEqual(decodeClaim(Buffer.from('garbage')), []);
    assert.deepEqual(decodeClaim(Buffer.from('{"v":2,"owned":[1]}')), []);
    assert.deepEqual(decodeClaim(undefined), []);
  });
});
