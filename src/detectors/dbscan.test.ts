import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DBSCAN } from 'density-clustering';
import { dbscan1d, fitResidualEnvelope } from './dbscan.js';
import { createPrng } from './stats.js';

function gauss(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(rng(), 1e-12))) * Math.cos(2 * Math.PI * rng());
}

/** Runs the oracle (density-clustering 1.3.0) on scalar points. */
function oracle(x: number[], eps: number, minPts: number) {
  const db = new DBSCAN();
  const clusters = db.run(
    x.map((v) => [v]),
    eps,
    minPts,
  );
  return clusters;
}

describe('dbscan1d', () => {
  test('hand-checked: [0,1,2,3,10], eps 1.5, minPts 3 → {10} is the only noise', () => {
    const r = dbscan1d([0, 1, 2, 3, 10], 5, 1.5, 3);
    assert.equal(r.clusters, 1);
    assert.deepEqual(Array.from(r.labels), [0, 0, 0, 0, -1]);
    // 0 and 3 have 2 neighbours (themselves and one other) → border points; 1 and 2 are cores
    assert.deepEqual(Array.from(r.core), [0, 1, 1, 0, 0]);
    // the oracle's own `noise` list wrongly keeps 0 (visited before its core point)
    const db = new DBSCAN();
    const clusters = db.run([[0], [1], [2], [3], [10]], 1.5, 3);
    assert.deepEqual(
      clusters.map((c) => [...c].sort()),
      [[0, 1, 2, 3]],
    );
    assert.deepEqual([...db.noise].sort(), [0, 4]);
  });

  test('strict neighbourhood: points exactly eps apart are not neighbours', () => {
    const r = dbscan1d([0, 1, 2], 3, 1, 2);
    assert.deepEqual(Array.from(r.labels), [-1, -1, -1]);
    const r2 = dbscan1d([0, 0.5, 1], 3, 1, 2);
    assert.deepEqual(Array.from(r2.labels), [0, 0, 0]);
  });

  test('two clusters and noise, clusters numbered by value', () => {
    const r = dbscan1d([10, 10.1, 10.2, 0, 0.1, 0.2, 5], 7, 0.5, 3);
    assert.equal(r.clusters, 2);
    assert.deepEqual(Array.from(r.labels), [1, 1, 1, 0, 0, 0, -1]);
  });

  test('equivalent to density-clustering (cores, noise and clusters; border points to an admissible cluster)', () => {
    for (let trial = 0; trial < 40; trial++) {
      const rng = createPrng(100 + trial);
      const n = 20 + Math.floor(rng() * 180);
      const x = Array.from({ length: n }, () => (rng() < 0.1 ? 8 * gauss(rng) : gauss(rng)));
      if (trial % 5 === 0) x.push(...x.slice(0, 5)); // ties
      const eps = 0.05 + rng() * 0.5;
      const minPts = 2 + Math.floor(rng() * 6);
      const ours = dbscan1d(x, x.length, eps, minPts);
      const theirs = oracle(x, eps, minPts);
      // noise = in no cluster (not the oracle's buggy noise list)
      const inCluster = new Set(theirs.flat());
      const theirNoise = x.map((_, i) => i).filter((i) => !inCluster.has(i));
      const ourNoise = x.map((_, i) => i).filter((i) => ours.labels[i] === -1);
      assert.deepEqual(ourNoise, theirNoise, `trial ${trial}`);
      assert.equal(ours.clusters, theirs.length, `trial ${trial}`);
      // each oracle cluster's core points form exactly one of our clusters
      for (const c of theirs) {
        const cores = c.filter((i) => ours.core[i]);
        const labels = new Set(cores.map((i) => ours.labels[i]));
        assert.ok(labels.size <= 1, `trial ${trial}: a cluster split`);
        // border points: ours may pick another cluster, but only one within eps of a core
        for (const i of c.filter((k) => !ours.core[k])) {
          const mine = ours.labels[i]!;
          const ok = x.some((v, k) => ours.core[k] && ours.labels[k] === mine && Math.abs(v - x[i]!) < eps);
          assert.ok(ok, `trial ${trial}: border point ${i} not within eps of its cluster`);
        }
      }
    }
  });

  test('order invariance: permuting the input permutes the labels (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: 1, maxLength: 80 }),
        fc.double({ min: 0.05, max: 3, noNaN: true }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer(),
        (x, eps, minPts, seed) => {
          const rng = createPrng(seed);
          const perm = x.map((_, i) => i);
          for (let i = perm.length - 1; i > 0; i--) {
            const j = Math.floor(rng() * (i + 1));
            [perm[i], perm[j]] = [perm[j]!, perm[i]!];
          }
          const a = dbscan1d(x, x.length, eps, minPts);
          const b = dbscan1d(
            perm.map((i) => x[i]!),
            x.length,
            eps,
            minPts,
          );
          return perm.every((orig, k) => b.labels[k] === a.labels[orig] && b.core[k] === a.core[orig]);
        },
      ),
    );
  });

  test('rejects eps ≤ 0 and minPts < 1', () => {
    assert.throws(() => dbscan1d([1], 1, 0, 2), RangeError);
    assert.throws(() => dbscan1d([1], 1, 1, 0), RangeError);
  });

  test('sort + sweep scales: 100,000 points in well under a second', () => {
    const rng = createPrng(3);
    const x = Float64Array.from({ length: 100_000 }, () => gauss(rng));
    const t0 = performance.now();
    dbscan1d(x, x.length, 0.01, 8);
    assert.ok(performance.now() - t0 < 1000);
  });
});

describe('fitResidualEnvelope (detection.md §6.3) and its online rule', () => {
  test('pure Gaussian residuals: ≤ 0.2% of fresh N(0,1) points fall outside the envelope', () => {
    let outside = 0;
    let total = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const rng = createPrng(seed);
      const env = fitResidualEnvelope(
        Float64Array.from({ length: 1000 }, () => gauss(rng)),
        1000,
      );
      for (let i = 0; i < 1000; i++) {
        const z = gauss(rng);
        if (!(z > env.lo && z < env.hi)) outside++;
        total++;
      }
    }
    assert.ok(outside / total <= 0.002, `${outside}/${total}`);
  });

  test('injected 5σ spikes are outside the envelope (≥ 95%)', () => {
    let hits = 0;
    let spikes = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rng = createPrng(seed);
      const z = Float64Array.from({ length: 1000 }, () => gauss(rng));
      for (let k = 0; k < 5; k++) z[Math.floor(rng() * 1000)] = (rng() < 0.5 ? -1 : 1) * (5 + rng());
      const env = fitResidualEnvelope(z, 1000);
      for (let k = 0; k < 5; k++) {
        const s = (rng() < 0.5 ? -1 : 1) * (5 + rng());
        spikes++;
        if (!(s > env.lo && s < env.hi)) hits++;
      }
    }
    assert.ok(hits / spikes >= 0.95, `${hits}/${spikes}`);
  });

  test('the online interval is exactly "within eps of a core point of the normal cluster"', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const rng = createPrng(seed);
      const z = Float64Array.from({ length: 300 }, () => (rng() < 0.05 ? 6 * gauss(rng) : gauss(rng)));
      const env = fitResidualEnvelope(z, 300, { epsMin: 0.5 });
      const r = dbscan1d(z, 300, env.eps, env.minPts);
      const sorted = [...z].sort((a, b) => a - b);
      const normal = r.labels[z.indexOf(sorted[150]!)];
      const cores = [...z].filter((_, i) => r.core[i] && r.labels[i] === normal);
      for (let k = 0; k < 200; k++) {
        const probe = (rng() - 0.5) * 16;
        const joins = cores.some((c) => Math.abs(c - probe) < env.eps);
        assert.equal(probe > env.lo && probe < env.hi, joins, `seed ${seed} probe ${probe}`);
      }
    }
  });
});
