import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Matrix, solve } from 'ml-matrix';
import { choleskyInPlace, choleskySolveInPlace, solveRidge } from './linalg.js';
import {
  PRIOR_LAPLACE,
  PRIOR_NORMAL,
  addRow,
  newNormalEquations,
  solveMap,
  symmetrize,
  type Priors,
} from './map.js';
import { designRows } from './design.js';
import { autoSeasonalities, changepointGrid, fitProphet, predict } from './model.js';
import { createPrng, normalQuantile } from '../detectors/index.js';

const DAY = 86_400_000;
function gauss(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(rng(), 1e-12))) * Math.cos(2 * Math.PI * rng());
}

describe('linear algebra', () => {
  test('Cholesky solve matches ml-matrix on random SPD systems (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer(), (p, seed) => {
        const rng = createPrng(seed);
        const a = Matrix.zeros(p, p);
        const m = Array.from({ length: p + 3 }, () => Array.from({ length: p }, () => rng() - 0.5));
        for (const row of m)
          for (let i = 0; i < p; i++)
            for (let j = 0; j < p; j++) a.set(i, j, a.get(i, j) + row[i]! * row[j]!);
        for (let i = 0; i < p; i++) a.set(i, i, a.get(i, i) + 0.1);
        const b = Array.from({ length: p }, () => rng() - 0.5);
        const ref = solve(a, Matrix.columnVector(b)).to1DArray();
        const l = Float64Array.from(a.to1DArray());
        if (!choleskyInPlace(l, p)) return false;
        const x = Float64Array.from(b);
        choleskySolveInPlace(l, p, x);
        return x.every((v, i) => Math.abs(v - ref[i]!) < 1e-8 * (1 + Math.abs(ref[i]!)));
      }),
    );
  });

  test('ridge: (G + diag λ) x = b; a singular G is solvable once λ > 0, and jitter rescues a PSD one', () => {
    const g = Float64Array.from([1, 1, 1, 1]); // rank 1
    const x = new Float64Array(2);
    assert.ok(solveRidge(g, Float64Array.from([1, 1]), Float64Array.from([2, 2]), 2, x, new Float64Array(4)));
    // (G + I) x = b → x = [2/3, 2/3]
    assert.ok(Math.abs(x[0]! - 2 / 3) < 1e-12 && Math.abs(x[1]! - 2 / 3) < 1e-12);
    assert.ok(solveRidge(g, Float64Array.from([0, 0]), Float64Array.from([2, 2]), 2, x, new Float64Array(4)));
    assert.ok(Math.abs(x[0]! + x[1]! - 2) < 1e-4);
    assert.equal(choleskyInPlace(Float64Array.from([1, 2, 2, 1]), 2), false);
  });
});

describe('MAP solve (Prophet objective on the normal equations)', () => {
  function problem(seed: number, n: number, p: number) {
    const rng = createPrng(seed);
    const X = Array.from({ length: n }, () => Array.from({ length: p }, () => gauss(rng)));
    const truth = Array.from({ length: p }, (_, j) => (j % 3 === 0 ? 0 : gauss(rng)));
    const y = X.map((row) => row.reduce((s, v, j) => s + v * truth[j]!, 0) + 0.1 * gauss(rng));
    const ne = newNormalEquations(p);
    X.forEach((row, i) => addRow(ne, Float64Array.from(row), y[i]!, 1));
    symmetrize(ne);
    return { X, y, ne, truth };
  }

  test("ridge priors with σ fixed: equals the direct solve of (X'X + σ²/s²·I)β = X'y", () => {
    const p = 6;
    const { X, y, ne } = problem(1, 200, p);
    const priors: Priors = {
      kind: new Uint8Array(p).fill(PRIOR_NORMAL),
      scale: new Float64Array(p).fill(0.5),
    };
    const sigma = 0.7;
    const r = solveMap(ne, priors, { sigma, iterations: 1 });
    const A = new Matrix(X).transpose().mmul(new Matrix(X));
    for (let i = 0; i < p; i++) A.set(i, i, A.get(i, i) + sigma ** 2 / 0.25);
    const rhs = new Matrix(X).transpose().mmul(Matrix.columnVector(y));
    const ref = solve(A, rhs).to1DArray();
    r.beta.forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) < 1e-9, `β${i} ${v} vs ${ref[i]}`));
  });

  test('Laplace priors: IRLS reaches the lasso optimum (vs exact coordinate descent) and zeroes the null coefficients', () => {
    const p = 9;
    const { ne, truth } = problem(2, 300, p);
    const tau = 0.002;
    const sigma = 0.1;
    const priors: Priors = {
      kind: new Uint8Array(p).fill(PRIOR_LAPLACE),
      scale: new Float64Array(p).fill(tau),
    };
    const r = solveMap(ne, priors, { sigma, iterations: 200 });
    // exact: minimise ½β'Gβ − β'b + (σ²/τ)‖β‖₁ (the objective × σ²) by coordinate descent
    const lam = sigma ** 2 / tau;
    const beta = new Float64Array(p);
    for (let sweep = 0; sweep < 5000; sweep++) {
      for (let j = 0; j < p; j++) {
        let rho = ne.xty[j]!;
        for (let k = 0; k < p; k++) if (k !== j) rho -= ne.xtx[j * p + k]! * beta[k]!;
        const g = ne.xtx[j * p + j]!;
        beta[j] = (Math.sign(rho) * Math.max(Math.abs(rho) - lam, 0)) / g;
      }
    }
    const obj = (b: ArrayLike<number>) => {
      let q = 0;
      for (let i = 0; i < p; i++) for (let k = 0; k < p; k++) q += b[i]! * ne.xtx[i * p + k]! * b[k]!;
      let l = 0;
      for (let i = 0; i < p; i++) l += b[i]! * ne.xty[i]!;
      let a = 0;
      for (let i = 0; i < p; i++) a += Math.abs(b[i]!);
      return 0.5 * q - l + lam * a;
    };
    assert.ok(obj(r.beta) - obj(beta) < 1e-6 * Math.abs(obj(beta)), `${obj(r.beta)} vs ${obj(beta)}`);
    truth.forEach((t, j) => {
      if (t === 0 && beta[j] === 0) assert.ok(Math.abs(r.beta[j]!) < 1e-3, `β${j} = ${r.beta[j]}`);
    });
  });
});

describe('fitProphet / predict', () => {
  test('recovers a known trend + weekly + yearly signal (daily data, 3 years)', () => {
    const rng = createPrng(3);
    const t0 = Date.UTC(2018, 0, 1);
    const n = 3 * 365;
    const ts = Float64Array.from({ length: n }, (_, i) => t0 + i * DAY);
    const truth = (t: number) => {
      const d = (t - t0) / DAY;
      return (
        8 +
        0.002 * d +
        0.5 * Math.sin((2 * Math.PI * t) / (7 * DAY)) +
        0.8 * Math.cos((2 * Math.PI * t) / (365.25 * DAY))
      );
    };
    const ys = Float64Array.from(ts, (t) => truth(t) + 0.05 * gauss(rng));
    const m = fitProphet({ timestampsMs: ts, values: ys });
    assert.deepEqual(
      m.spec.seasonalities.map((s) => s.name),
      ['yearly', 'weekly'],
    );
    let se = 0;
    for (let i = 0; i < n; i += 7) se += (predict(m, ts[i]!).yhat - truth(ts[i]!)) ** 2;
    assert.ok(Math.sqrt(se / (n / 7)) < 0.03, `in-sample RMSE vs truth ${Math.sqrt(se / (n / 7))}`);
    // 30 days ahead: the trend extrapolates
    const future = t0 + (n + 30) * DAY;
    assert.ok(Math.abs(predict(m, future).yhat - truth(future)) < 0.1);
    assert.ok(Math.abs(m.sigma - 0.05) < 0.01, `σ ${m.sigma}`);
  });

  test('a slope change is picked up by the sparse changepoints', () => {
    const t0 = Date.UTC(2020, 0, 1);
    const n = 400;
    const ts = Float64Array.from({ length: n }, (_, i) => t0 + i * DAY);
    const ys = Float64Array.from({ length: n }, (_, i) => (i < 200 ? 10 + 0.01 * i : 12 + 0.05 * (i - 200)));
    const m = fitProphet({ timestampsMs: ts, values: ys }, { seasonalities: [], changepointPriorScale: 0.5 });
    const slope = (predict(m, t0 + 399 * DAY).yhat - predict(m, t0 + 389 * DAY).yhat) / 10;
    assert.ok(Math.abs(slope - 0.05) < 0.005, `slope ${slope}`);
  });

  test("constant series: Prophet's shortcut (σ = 1e-9, the constant predicted)", () => {
    const ts = Float64Array.from({ length: 50 }, (_, i) => i * 1000);
    const m = fitProphet({ timestampsMs: ts, values: new Float64Array(50).fill(4.2) });
    const p = predict(m, 60_000);
    assert.ok(Math.abs(p.yhat - 4.2) < 1e-12 && p.upper - p.lower < 1e-6);
    assert.throws(() => fitProphet({ timestampsMs: [0], values: [1] }), RangeError);
  });

  test('band: ±Φ⁻¹((1+w)/2)·σ in the history, wider in the future; stated coverage holds in-sample', () => {
    const rng = createPrng(8);
    const ts = Float64Array.from({ length: 2000 }, (_, i) => i * 3_600_000);
    const ys = Float64Array.from(
      { length: 2000 },
      (_, i) => 5 + Math.sin((2 * Math.PI * i) / 24) + 0.2 * gauss(rng),
    );
    const m = fitProphet({ timestampsMs: ts, values: ys });
    const p = predict(m, ts[1000]!, 0.8);
    assert.ok(Math.abs((p.upper - p.yhat) / (normalQuantile(0.9) * m.sigma) - 1) < 1e-9);
    const far = predict(m, ts[1999]! + 100 * DAY, 0.8);
    assert.ok(far.upper - far.yhat > p.upper - p.yhat);
    let inside = 0;
    for (let i = 0; i < 2000; i++) {
      const q = predict(m, ts[i]!, 0.8);
      if (ys[i]! >= q.lower && ys[i]! <= q.upper) inside++;
    }
    assert.ok(Math.abs(inside / 2000 - 0.8) < 0.03, `coverage ${inside / 2000}`);
  });

  test('holdout calibration: the future band uses the out-of-sample error (≥ the in-sample σ)', () => {
    const rng = createPrng(31);
    const ts = Float64Array.from({ length: 1000 }, (_, i) => i * DAY);
    let walk = 0;
    const ys = Float64Array.from({ length: 1000 }, () => (walk += 0.05 * gauss(rng)) + 0.02 * gauss(rng));
    const plain = fitProphet({ timestampsMs: ts, values: ys }, { seasonalities: [] });
    const cal = fitProphet({ timestampsMs: ts, values: ys }, { seasonalities: [], holdoutFraction: 0.1 });
    assert.equal(plain.sigmaFuture, plain.sigma);
    assert.ok(cal.sigmaFuture > 1.5 * cal.sigma, `${cal.sigmaFuture} vs ${cal.sigma}`);
    const t = ts[999]! + 10 * DAY;
    assert.ok(
      predict(cal, t).upper - predict(cal, t).yhat > predict(plain, t).upper - predict(plain, t).yhat,
    );
    assert.equal(predict(cal, ts[500]!).upper, predict(plain, ts[500]!).upper);
  });

  test('no NaN out for finite input (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 60 }),
        (vs) => {
          const ts = vs.map((_, i) => i * 60_000);
          const m = fitProphet({ timestampsMs: ts, values: vs }, { nChangepoints: 5 });
          const p = predict(m, ts[ts.length - 1]! + 60_000);
          return Number.isFinite(p.yhat) && Number.isFinite(p.lower) && Number.isFinite(p.upper);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('design', () => {
  test("Prophet's auto seasonalities and changepoint grid", () => {
    const d = (days: number, step: number) =>
      Array.from({ length: Math.floor(days / step) + 1 }, (_, i) => i * step * DAY);
    assert.deepEqual(
      autoSeasonalities(d(800, 1), 801).map((s) => s.name),
      ['yearly', 'weekly'],
    );
    assert.deepEqual(
      autoSeasonalities(d(20, 1 / 24), 481).map((s) => s.name),
      ['weekly', 'daily'],
    );
    assert.deepEqual(autoSeasonalities(d(1, 1 / 24), 25), []);
    // 100 rows, 25 changepoints over the first 80 rows: indexes round(linspace(0, 79, 26))[1:]
    const ts = Array.from({ length: 100 }, (_, i) => i);
    const g = changepointGrid(ts, 100, 0, 99, 25, 0.8, 'rows');
    assert.equal(g.length, 25);
    assert.ok(Math.abs(g[0]! - Math.round(79 / 25) / 99) < 1e-12 && Math.abs(g[24]! - 79 / 99) < 1e-12);
  });

  test('a bucket row is the exact mean of the point rows over its window', () => {
    const rows = designRows({
      startMs: 0,
      scaleMs: 100 * DAY,
      changepointsT: [0.3021, 0.5],
      seasonalities: [{ name: 'daily', periodMs: DAY, order: 4 }],
      stepsMs: [30.2 * DAY],
    });
    const w = rows.layout.width;
    const centre = 30.2 * DAY;
    const width = 0.25 * DAY;
    const avg = new Float64Array(w);
    const x = new Float64Array(w);
    const k = 20_000;
    for (let i = 0; i < k; i++) {
      rows.fill(centre - width / 2 + ((i + 0.5) * width) / k, 0, x);
      for (let j = 0; j < w; j++) avg[j]! += x[j]! / k;
    }
    rows.fill(centre, width, x);
    for (let j = 0; j < w; j++)
      assert.ok(Math.abs(avg[j]! - x[j]!) < 1e-6, `column ${j}: ${avg[j]} vs ${x[j]}`);
  });
});
