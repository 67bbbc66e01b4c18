import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TAIL_SLOTS, fitTail, tailProbability, tailQuantile } from './tail.js';
import { createPrng } from './stats.js';

describe('tail model (quantile knots + GPD by probability-weighted moments)', () => {
  test('exponential data: ξ ≈ 0, β ≈ the mean excess, P(X > x) ≈ e^{-x}', () => {
    const rng = createPrng(5);
    const x = Float64Array.from({ length: 20_000 }, () => -Math.log(1 - rng()));
    const m = new Float64Array(TAIL_SLOTS);
    fitTail(x, x.length, m, 0);
    assert.ok(Math.abs(m[2]!) < 0.1, `ξ ${m[2]}`);
    assert.ok(Math.abs(m[1]! - 1) < 0.1, `β ${m[1]}`);
    for (const v of [0.5, 1, 2, 4, 6]) {
      const p = tailProbability(m, 0, v);
      assert.ok(Math.abs(Math.log(p) + v) < 0.25, `x=${v}: p=${p}`);
    }
  });

  test('Pareto-tailed data: ξ near its true 0.4 (heavy tail recognised)', () => {
    const rng = createPrng(6);
    const x = Float64Array.from({ length: 20_000 }, () => (Math.pow(1 - rng(), -0.4) - 1) / 0.4);
    const m = new Float64Array(TAIL_SLOTS);
    fitTail(x, x.length, m, 0);
    assert.ok(m[2]! > 0.25 && m[2]! < 0.5, `ξ ${m[2]}`);
  });

  // continuous data (a PRNG's draws): with atoms (ties) a quantile cannot invert the survival
  // function exactly; monotonicity holds regardless
  test('probability is non-increasing and quantile inverts it (property)', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: 30, max: 400 }),
        fc.constantFrom(0, 0.3, -0.2),
        (seed, n, xi) => {
          const rng = createPrng(seed);
          const xs = Float64Array.from({ length: n }, () => {
            const u = 1 - rng();
            return xi === 0 ? -Math.log(u) : (Math.pow(u, -xi) - 1) / xi;
          });
          const m = new Float64Array(TAIL_SLOTS + 2);
          fitTail(xs, n, m, 2);
          let prev = 1;
          for (let v = 0; v < 80; v += 0.37) {
            const p = tailProbability(m, 2, v);
            if (!(p <= prev + 1e-12 && p >= 0 && p <= 1)) return false;
            prev = p;
          }
          for (const q of [0.3, 0.9, 0.99, 0.999]) {
            const v = tailQuantile(m, 2, q);
            const p = tailProbability(m, 2, v);
            if (Number.isFinite(v) && p > 0 && Math.abs(1 - p - q) > 1e-6) return false;
          }
          return true;
        },
      ),
    );
  });

  test('degenerate samples: empty and all-equal', () => {
    const m = new Float64Array(TAIL_SLOTS);
    fitTail(new Float64Array(0), 0, m, 0);
    assert.equal(tailProbability(m, 0, 1), 0);
    fitTail(new Float64Array(50).fill(2), 50, m, 0);
    assert.equal(tailProbability(m, 0, 2.5), 0);
    assert.equal(tailProbability(m, 0, 1), 1);
  });
});
