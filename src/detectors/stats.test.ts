import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  createPrng,
  erfc,
  medianInPlace,
  normalCdf,
  normalQuantile,
  normalUpperTail,
  selectKth,
} from './stats.js';
import { tailToScore, twoSidedTail } from './robust-zscore.js';

describe('Gaussian tail', () => {
  test('known values of erfc and Φ (Abramowitz & Stegun table 7.1 / 26.1)', () => {
    assert.ok(Math.abs(erfc(0) - 1) < 1e-7);
    assert.ok(Math.abs(erfc(1) - 0.157299207) < 1e-7);
    assert.ok(Math.abs(erfc(-1) - 1.842700793) < 1e-7);
    assert.ok(Math.abs(normalCdf(1.959963985) - 0.975) < 1e-7);
    assert.ok(Math.abs(normalUpperTail(3) - 0.001349898) < 1e-8);
  });
  test('far tails keep relative accuracy (erfc(6/√2) = 1.973e-9)', () => {
    const p = twoSidedTail(6);
    assert.ok(Math.abs(p / 1.973175e-9 - 1) < 1e-5, `got ${p}`);
  });
  test('quantile inverts the CDF', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-12, max: 1 - 1e-12, noNaN: true }), (p) => {
        const z = normalQuantile(p);
        return Math.abs(normalCdf(z) - p) <= 1e-7 * Math.max(p, 1 - p) + 1e-15;
      }),
    );
    assert.equal(normalQuantile(0), -Infinity);
    assert.equal(normalQuantile(1), Infinity);
    assert.ok(Number.isNaN(normalQuantile(1.5)));
  });
  test('HTM log transform: z = 3/4/5/6 → 0.26/0.42/0.62/0.87', () => {
    const got = [3, 4, 5, 6].map((z) => Math.round(tailToScore(twoSidedTail(z)) * 100) / 100);
    assert.deepEqual(got, [0.26, 0.42, 0.62, 0.87]);
  });
});

describe('selection', () => {
  test('selectKth and medianInPlace agree with sorting', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }),
        fc.nat(),
        (xs, k0) => {
          const k = k0 % xs.length;
          const sorted = [...xs].sort((a, b) => a - b);
          if (selectKth(Float64Array.from(xs), xs.length, k) !== sorted[k]) return false;
          const m = xs.length;
          const med = m % 2 ? sorted[m >> 1]! : (sorted[m / 2 - 1]! + sorted[m / 2]!) / 2;
          return medianInPlace(Float64Array.from(xs), m) === med;
        },
      ),
    );
  });

  test('selectKth leaves the array partitioned around k (quartiles are then selected in its halves)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -20, max: 20 }), { minLength: 1, maxLength: 200 }),
        fc.nat(),
        (xs, k0) => {
          const k = k0 % xs.length;
          const a = Float64Array.from(xs);
          const v = selectKth(a, a.length, k);
          for (let i = 0; i < a.length; i++) if (i < k ? a[i]! > v : i > k && a[i]! < v) return false;
          return a[k] === v;
        },
      ),
    );
  });
});

describe('PRNG', () => {
  test('deterministic for a seed, uniform in [0,1)', () => {
    const a = createPrng(42);
    const b = createPrng(42);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = a();
      assert.equal(x, b());
      assert.ok(x >= 0 && x < 1);
      sum += x;
    }
    assert.ok(Math.abs(sum / 10_000 - 0.5) < 0.02);
    assert.notEqual(createPrng(1)(), createPrng(2)());
  });
});
