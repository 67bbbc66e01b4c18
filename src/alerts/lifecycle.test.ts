import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeLifecycle,
  encodeLifecycle,
  fingerprint,
  newLifecycleState,
  stepLifecycle,
  type LifecycleChange,
  type LifecycleParams,
} from './lifecycle.js';

const BASE: LifecycleParams = {
  forMs: 0,
  keepFiringForMs: 0,
  threshold: 0.5,
  recoveryThreshold: 0.5,
  direction: 'both',
  flapping: { enabled: false, transitions: 4, windowMs: 10_000 },
};

/** Runs `scores` (one per second from ts 0) and returns the emitted changes as compact strings. */
function run(params: Partial<LifecycleParams>, samples: (number | [number, number, number])[]): string[] {
  const p = { ...BASE, ...params };
  const s = newLifecycleState();
  const out: string[] = [];
  samples.forEach((x, i) => {
    const [score, actual, expected] = typeof x === 'number' ? [x, 1, 0] : x;
    const c: LifecycleChange | undefined = stepLifecycle(s, p, { ts: i * 1000, score, actual, expected });
    if (c)
      out.push(
        `${i}:${c.status}@${c.startsAt}${c.endsAt !== undefined ? `-${c.endsAt}` : ''}${c.flapping ? ':flapping' : ''}`,
      );
  });
  return out;
}

describe('lifecycle (known sequences)', () => {
  const cases: [string, Partial<LifecycleParams>, (number | [number, number, number])[], string[]][] = [
    [
      'for = 0 fires at once and resolves at the first normal sample',
      {},
      [0.1, 0.9, 0.9, 0.1],
      ['1:firing@1000', '3:resolved@1000-3000'],
    ],
    [
      'pending until `for` has passed',
      { forMs: 2000 },
      [0.9, 0.9, 0.9, 0.1],
      ['0:pending@0', '2:firing@2000', '3:resolved@2000-3000'],
    ],
    [
      'a pending alert that clears never fires',
      { forMs: 5000 },
      [0.9, 0.1],
      ['0:pending@0', '1:resolved@0-1000'],
    ],
    [
      'keep_firing_for holds the alert',
      { keepFiringForMs: 2000 },
      [0.9, 0.1, 0.1, 0.1],
      ['0:firing@0', '2:resolved@0-2000'],
    ],
    [
      'an anomaly while recovering restarts keep_firing_for',
      { keepFiringForMs: 2000 },
      [0.9, 0.1, 0.9, 0.1, 0.1, 0.1],
      ['0:firing@0', '4:resolved@0-4000'],
    ],
    [
      'recovery threshold: hysteresis below the threshold',
      { recoveryThreshold: 0.3 },
      [0.9, 0.4, 0.35, 0.2],
      ['0:firing@0', '3:resolved@0-3000'],
    ],
    ['recovery threshold does not lower the firing threshold', { recoveryThreshold: 0.3 }, [0.4, 0.45], []],
    [
      'direction above ignores drops',
      { direction: 'above' },
      [
        [0.9, 0, 5],
        [0.9, 9, 5],
        [0.9, 1, 5],
      ],
      ['1:firing@1000', '2:resolved@1000-2000'],
    ],
    [
      'direction below ignores spikes',
      { direction: 'below' },
      [
        [0.9, 9, 5],
        [0.9, 1, 5],
      ],
      ['1:firing@1000'],
    ],
  ];
  for (const [name, params, samples, want] of cases)
    test(name, () => assert.deepEqual(run(params, samples), want));
});

describe('flapping', () => {
  const flap = { enabled: true, transitions: 4, windowMs: 10_000 };
  test('the 4th transition within the window holds the alert firing; calm for a window resolves it', () => {
    const samples = [0.9, 0.1, 0.9, 0.1, 0.9, 0.1, ...Array<number>(12).fill(0.1)];
    assert.deepEqual(run({ flapping: flap }, samples), [
      '0:firing@0',
      '1:resolved@0-1000',
      '2:firing@2000',
      '3:firing@2000:flapping', // the resolve is swallowed: receivers keep seeing one firing alert
      '15:resolved@2000-15000', // last transition at 5 s + 10 s of calm
    ]);
  });
  test('flapping ends as an ordinary firing alert when the anomaly persists', () => {
    const samples = [0.9, 0.1, 0.9, 0.1, 0.9, ...Array<number>(12).fill(0.9)];
    assert.deepEqual(run({ flapping: flap }, samples), [
      '0:firing@0',
      '1:resolved@0-1000',
      '2:firing@2000',
      '3:firing@2000:flapping',
      '14:firing@2000',
    ]);
  });
  test('transitions spread wider than the window do not flap', () => {
    const slow = { enabled: true, transitions: 4, windowMs: 2500 };
    assert.deepEqual(run({ flapping: slow }, [0.9, 0.1, 0.9, 0.1, 0.9]), [
      '0:firing@0',
      '1:resolved@0-1000',
      '2:firing@2000',
      '3:resolved@2000-3000',
      '4:firing@4000',
    ]);
  });
});

test('state survives encode/decode, mid-flap included', () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 60 }),
      fc.integer({ min: 0, max: 60 }),
      (scores, cut) => {
        const p: LifecycleParams = {
          ...BASE,
          keepFiringForMs: 1500,
          forMs: 1000,
          flapping: { enabled: true, transitions: 3, windowMs: 5000 },
        };
        const a = newLifecycleState();
        const outA: (LifecycleChange | undefined)[] = [];
        const outB: (LifecycleChange | undefined)[] = [];
        let b = newLifecycleState();
        scores.forEach((score, i) => {
          const input = { ts: i * 1000, score, actual: 1, expected: 0 };
          outA.push(stepLifecycle(a, p, input));
          if (i === cut) b = decodeLifecycle(encodeLifecycle(b));
          outB.push(stepLifecycle(b, p, input));
        });
        assert.deepEqual(outB, outA);
      },
    ),
  );
});

test('fingerprint matches Alertmanager for ASCII labels', () => {
  // model.LabelSet{"alertname":"cpu","service":"api"}.Fingerprint() in Go: FNV-1a 64 over
  // "alertname\xffcpu\xffservice\xffapi\xff".
  assert.equal(
    fingerprint({ service: 'api', alertname: 'cpu' }),
    fingerprint({ alertname: 'cpu', service: 'api' }),
  );
  assert.match(fingerprint({ alertname: 'cpu' }), /^[0-9a-f]{16}$/);
  assert.notEqual(fingerprint({ a: 'b' }), fingerprint({ a: 'c' }));
});
