import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import fftJs from 'fft-js';
import { autocorrelation, nextPow2, powerSpectrum, realDft } from './fft.js';

/** O(N²) reference DFT. */
function dft(x: number[], size: number): { re: number[]; im: number[] } {
  const re: number[] = [];
  const im: number[] = [];
  for (let k = 0; k < size; k++) {
    let a = 0;
    let b = 0;
    for (let t = 0; t < x.length; t++) {
      a += x[t]! * Math.cos((2 * Math.PI * k * t) / size);
      b -= x[t]! * Math.sin((2 * Math.PI * k * t) / size);
    }
    re.push(a);
    im.push(b);
  }
  return { re, im };
}

describe('FFT', () => {
  test('a sine of k cycles puts all its power at bin k', () => {
    const n = 256;
    const x = Float64Array.from({ length: n }, (_, t) => Math.sin((2 * Math.PI * 5 * t) / n));
    const p = new Float64Array(n / 2 + 1);
    powerSpectrum(x, n, n, p);
    // |X_5| = n/2 for a unit sine
    assert.ok(Math.abs(p[5]! - (n / 2) ** 2) < 1e-6);
    for (let k = 0; k <= n / 2; k++) if (k !== 5) assert.ok(p[k]! < 1e-12, `bin ${k}: ${p[k]}`);
  });

  test('two sines: peaks at both frequencies, amplitudes², nothing else', () => {
    const n = 1024;
    const x = Float64Array.from(
      { length: n },
      (_, t) => 3 * Math.cos((2 * Math.PI * 16 * t) / n) + Math.sin((2 * Math.PI * 100 * t) / n),
    );
    const p = new Float64Array(n / 2 + 1);
    powerSpectrum(x, n, n, p);
    assert.ok(Math.abs(p[16]! / (1.5 * n) ** 2 - 1) < 1e-9);
    assert.ok(Math.abs(p[100]! / (0.5 * n) ** 2 - 1) < 1e-9);
  });

  test('Parseval: Σ|X_k|² = N·Σx² (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: 1, maxLength: 300 }),
        (xs) => {
          const size = nextPow2(xs.length);
          const out = new Float64Array(2 * size);
          realDft(xs, xs.length, size, out);
          let lhs = 0;
          for (let k = 0; k < size; k++) lhs += out[2 * k]! ** 2 + out[2 * k + 1]! ** 2;
          let rhs = 0;
          for (const v of xs) rhs += v * v;
          rhs *= size;
          return Math.abs(lhs - rhs) <= 1e-9 * Math.max(1, rhs);
        },
      ),
    );
  });

  test('linearity (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 8, maxLength: 8 }),
        fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 8, maxLength: 8 }),
        fc.double({ min: -10, max: 10, noNaN: true }),
        (a, b, c) => {
          const fa = new Float64Array(16);
          const fb = new Float64Array(16);
          const fab = new Float64Array(16);
          realDft(a, 8, 8, fa);
          realDft(b, 8, 8, fb);
          realDft(
            a.map((v, i) => c * v + b[i]!),
            8,
            8,
            fab,
          );
          return fab.every((v, i) => Math.abs(v - (c * fa[i]! + fb[i]!)) < 1e-9 * (1 + Math.abs(v)));
        },
      ),
    );
  });

  test('non-power-of-two lengths are zero-padded: equals the reference DFT of the padded series', () => {
    for (const n of [3, 12, 100]) {
      const x = Array.from({ length: n }, (_, i) => Math.sin(i) + i / n);
      const size = nextPow2(n);
      const out = new Float64Array(2 * size);
      realDft(x, n, size, out);
      const ref = dft(x, size);
      for (let k = 0; k < size; k++) {
        assert.ok(Math.abs(out[2 * k]! - ref.re[k]!) < 1e-9, `n=${n} re[${k}]`);
        assert.ok(Math.abs(out[2 * k + 1]! - ref.im[k]!) < 1e-9, `n=${n} im[${k}]`);
      }
    }
    assert.throws(() => realDft([1, 2, 3], 3, 3, new Float64Array(6)), RangeError);
  });

  test('agrees with fft-js on powers of two', () => {
    const x = Array.from({ length: 64 }, (_, i) => Math.cos(i * 0.3) * (i % 7));
    const ref = fftJs.fft(x);
    const out = new Float64Array(128);
    realDft(x, 64, 64, out);
    ref.forEach(([re, im], k) => {
      assert.ok(Math.abs(out[2 * k]! - re) < 1e-9);
      assert.ok(Math.abs(out[2 * k + 1]! - im) < 1e-9);
    });
  });

  test('autocorrelation equals the direct biased estimate', () => {
    const n = 200;
    const x = Float64Array.from(
      { length: n },
      (_, t) => Math.sin((2 * Math.PI * t) / 20) + 0.3 * Math.cos(t * 1.7) + 5,
    );
    const r = new Float64Array(61);
    autocorrelation(x, n, 60, r);
    const mean = x.reduce((a, b) => a + b, 0) / n;
    let c0 = 0;
    for (let t = 0; t < n; t++) c0 += (x[t]! - mean) ** 2;
    for (const lag of [0, 1, 10, 20, 37, 60]) {
      let c = 0;
      for (let t = 0; t + lag < n; t++) c += (x[t]! - mean) * (x[t + lag]! - mean);
      assert.ok(Math.abs(r[lag]! - c / c0) < 1e-12, `lag ${lag}`);
    }
    assert.ok(r[20]! > 0.7 && r[10]! < -0.7, `r20 ${r[20]} r10 ${r[10]}`);
  });

  test('autocorrelation of a constant is 1 at lag 0 and 0 elsewhere', () => {
    const r = new Float64Array(5);
    autocorrelation(new Float64Array(10).fill(3), 10, 4, r);
    assert.deepEqual(Array.from(r), [1, 0, 0, 0, 0]);
  });
});
