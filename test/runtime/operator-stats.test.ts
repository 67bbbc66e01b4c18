/**
 * Operator self-metrics across threads: the production anomaly operator on real worker threads
 * counts its model refits and their durations (`KeyedOperator.stats()`), each worker attaches the
 * snapshot to its acknowledgements at most about once a second, and `runtime.stats()` shows the
 * latest one per worker and their sum.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createKeyedRuntime,
  createOperatorHarness,
  type KeyedSample,
} from '../../src/keyed-runtime/index.js';
import {
  createAnomalyOperator,
  REFIT_SECONDS_BUCKETS,
  REFIT_STATS,
} from '../../src/operators/anomaly-operator.js';
import { defaultDetectionConfig } from '../../src/operators/anomaly/index.js';
import { dailySeries } from '../support/series.js';

const OPERATOR = new URL('../../src/operators/anomaly-operator.js', import.meta.url).href;
const OPTIONS = { detection: defaultDetectionConfig(), recentPoints: 0 };

test('refit counts and duration buckets reach the main thread per worker', { timeout: 60_000 }, async () => {
  const errors: unknown[] = [];
  const rt = createKeyedRuntime({
    operatorModule: OPERATOR,
    operatorOptions: OPTIONS,
    workers: 2,
    keyGroups: 32,
    queueCapacity: 1_000_000,
    batchSize: 512,
    onOutputs: () => undefined,
    onError: (e) => errors.push(e),
  });
  try {
    await rt.ready;
    assert.deepEqual(rt.stats().operatorStats, {}, 'nothing reported before any sample');
    const step = 5 * 60_000;
    // 12 series × 600 five-minute samples: the first fit after min_history (100) and a refit a
    // day (288 records) later, so at least 2 refits per series.
    const SERIES = 12;
    const N = 600;
    const end = Date.UTC(2024, 0, 10);
    const samples: KeyedSample[] = [];
    const perSeries = Array.from({ length: SERIES }, (_, k) => dailySeries(N, step, end, k + 1));
    for (let i = 0; i < N; i++)
      for (let k = 0; k < SERIES; k++) {
        const p = perSeries[k]![i]!;
        samples.push({ key: `load{host="h${k}"}`, ts: p.ts, value: p.value });
      }
    for (let i = 0; i < samples.length; i += 1000) rt.offer(samples.slice(i, i + 1000));
    await rt.drain();

    // The engine is deterministic: the same samples through the same operator in-process
    // refit exactly as often. That is the count the workers must report.
    const op = createAnomalyOperator(OPTIONS);
    const harness = createOperatorHarness(op);
    for (const smp of samples) harness.push(smp.key, smp.ts, smp.value);
    const expected = op.stats?.()[REFIT_STATS.count] ?? -1;
    assert.ok(expected >= 2 * SERIES, `at least 2 refits per series, got ${expected}`);

    // The final snapshot arrives on the worker's 1 s timer at the latest; wait (bounded).
    const deadline = Date.now() + 10_000;
    let refits = 0;
    while (Date.now() < deadline) {
      refits = rt.stats().operatorStats[REFIT_STATS.count] ?? 0;
      if (refits === expected) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const st = rt.stats();
    assert.deepEqual(errors, []);
    assert.equal(refits, expected, 'same refit count as the in-process operator');

    // Per worker: cumulative buckets are non-decreasing and end at the count; the sum is a
    // plausible duration (positive, under a second per refit on average).
    let summed = 0;
    for (const w of st.workers) {
      const s = w.operatorStats;
      assert.ok(s, `worker ${w.index} reported`);
      const count = s[REFIT_STATS.count]!;
      summed += count;
      let prev = 0;
      for (const b of REFIT_SECONDS_BUCKETS) {
        const c = s[`${REFIT_STATS.lePrefix}${b}`];
        assert.ok(c !== undefined && c >= prev, `bucket le=${b} cumulative`);
        prev = c;
      }
      assert.ok(prev <= count);
      const sum = s[REFIT_STATS.sum]!;
      if (count > 0) assert.ok(sum > 0 && sum / count < 1, `mean refit ${sum / count}s`);
    }
    assert.equal(summed, refits, 'the top-level snapshot is the sum of the workers');
  } finally {
    await rt.close();
  }
});
