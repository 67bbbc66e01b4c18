/**
 * Clock skew, out-of-order delivery and retries, against a Vigil process:
 * - a client whose clock runs ahead by more than `ingest.http.max_future_skew` (1m here) has its
 *   samples refused with TIMESTAMP_OUT_OF_RANGE and a reason naming the skew; within the skew
 *   they are accepted; epoch seconds sent as milliseconds (before 2000) are refused too;
 * - samples of a series that arrive out of order (shuffled across requests, as a client with
 *   several senders or a replayed buffer produces them) are accepted when newer than the series'
 *   newest sample and refused per item with OUT_OF_ORDER otherwise; the test's own oracle
 *   predicts every answer exactly, and the operators processed exactly the accepted samples;
 * - a retried request (same samples) is acknowledged as duplicates while its samples are within
 *   `runtime.dedup_window` (8) of the series' newest, and processed once; the same timestamp with
 *   another value is DUPLICATE_CONFLICT.
 *
 * Run alone: npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/faults/timestamps.test.js
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../support/series.js';
import { startVigilProcess, type VigilProcess } from '../support/vigil-process.js';
import { newCounters, processedByKey, reportAndCheck, sendUntilAnswered } from './support/oracle.js';

let vigil: VigilProcess | undefined;
after(async () => {
  await vigil?.stop();
});

const SERIES = 20;
const POINTS = 60;
const STEP = 10_000;

test(
  'skewed clocks, shuffled order and retries: every answer as predicted, processed = accepted',
  { timeout: 120_000 },
  async () => {
    vigil = await startVigilProcess({
      configYaml: `
ingest:
  http:
    max_future_skew: 1m
runtime:
  workers: 2
  dedup_window: 8
`,
    });
    const url = () => vigil!.url;
    const c = newCounters();
    const now = Date.now();

    // 1. Skew.
    const ahead = await sendUntilAnswered(
      url,
      [
        { metric: 'skew_m', labels: { client: 'fast' }, ts: now + 5 * 60_000, value: 1 },
        { metric: 'skew_m', labels: { client: 'fast' }, ts: now + 2 * 3_600_000, value: 2 },
      ],
      c,
    );
    assert.equal(ahead.status, 400);
    for (const r of ahead.body.rejected ?? []) {
      assert.equal(r.code, 'TIMESTAMP_OUT_OF_RANGE');
      assert.match(r.reason, /is more than 60s ahead of the server clock/);
    }
    const within = await sendUntilAnswered(
      url,
      [{ metric: 'skew_m', labels: { client: 'ok' }, ts: now + 30_000, value: 1 }],
      c,
    );
    assert.equal(within.body.accepted, 1, 'within max_future_skew: accepted');
    const seconds = await sendUntilAnswered(
      url,
      [{ metric: 'skew_m', labels: { client: 'seconds' }, ts: Math.floor(now / 1000), value: 1 }],
      c,
    );
    assert.equal(seconds.body.rejected?.[0]?.code, 'TIMESTAMP_OUT_OF_RANGE');
    assert.match(
      seconds.body.rejected?.[0]?.reason ?? '',
      /before 2000-01-01 \(epoch milliseconds expected; seconds\?\)/,
    );

    // 2. Shuffled delivery: every series' points in a random order across requests of 1-40 samples.
    const rand = mulberry32(42);
    const t0 = now - 3_600_000;
    const all: { metric: string; labels: { s: string }; ts: number; value: number }[] = [];
    for (let i = 0; i < POINTS; i++)
      for (let s = 0; s < SERIES; s++)
        all.push({ metric: 'ooo_m', labels: { s: String(s) }, ts: t0 + i * STEP, value: s * 1000 + i });
    // Time order across series, with local disorder: each point moves up to ~3 steps of its series.
    const keyed = all.map((p, i) => ({ p, k: i + rand() * 3 * SERIES }));
    keyed.sort((a, b) => a.k - b.k);
    const order = keyed.map((x) => x.p);
    const newest = new Map<string, number>();
    const expected = { accepted: 0, outOfOrder: 0 };
    const acceptedBySeries = new Map<string, number>();
    const acceptedSamples = new Set<string>();
    for (let i = 0; i < order.length;) {
      const n = 1 + Math.floor(rand() * 40);
      const batch = order.slice(i, i + n);
      i += n;
      const predicted: string[] = batch.map((p) => {
        const last = newest.get(p.labels.s) ?? -Infinity;
        if (p.ts > last) {
          newest.set(p.labels.s, p.ts);
          acceptedSamples.add(`${p.labels.s}@${p.ts}`);
          acceptedBySeries.set(p.labels.s, (acceptedBySeries.get(p.labels.s) ?? 0) + 1);
          return 'ok';
        }
        return 'OUT_OF_ORDER';
      });
      const r = await sendUntilAnswered(url, batch, c);
      const got = batch.map(() => 'ok');
      for (const x of r.body.rejected ?? []) got[x.index] = x.code;
      assert.deepEqual(got, predicted, 'every item answered as predicted');
      for (const x of r.body.rejected ?? [])
        assert.match(x.reason, /older than the series' newest accepted sample/);
      expected.accepted += predicted.filter((x) => x === 'ok').length;
      expected.outOfOrder += predicted.filter((x) => x !== 'ok').length;
    }
    assert.ok(
      expected.outOfOrder > 50,
      `the shuffle produced disorder (${expected.outOfOrder} out of order)`,
    );
    assert.ok(expected.accepted > expected.outOfOrder, 'mostly in order');

    // 3. Retries: the last request of series 0 resent → duplicates; a changed value → conflict.
    const last8 = all.filter((p) => p.labels.s === '0' && p.ts >= (newest.get('0') ?? 0) - 7 * STEP);
    const dupAnswer = await sendUntilAnswered(url, last8, c);
    // Those accepted before are within the dedup window (the series' last 8): duplicates; those
    // refused as out of order before are refused again.
    const alreadyAccepted = last8.filter((p) => acceptedSamples.has(`0@${p.ts}`)).length;
    assert.equal(dupAnswer.body.duplicates, alreadyAccepted);
    assert.equal(dupAnswer.body.rejected?.length ?? 0, last8.length - alreadyAccepted);
    assert.equal(dupAnswer.body.accepted, 0);
    assert.ok(
      (dupAnswer.body.duplicates ?? 0) > 0,
      'a retry of recent samples is acknowledged as duplicates',
    );
    const conflict = await sendUntilAnswered(url, [{ ...last8[last8.length - 1]!, value: -1 }], c);
    assert.equal(conflict.body.rejected?.[0]?.code, 'DUPLICATE_CONFLICT');

    // The operators processed exactly the accepted samples, once each.
    const keys = [...Array.from({ length: SERIES }, (_, s) => `ooo_m{s="${s}"}`), 'skew_m{client="ok"}'];
    const got = await processedByKey(vigil.url, keys);
    let processed = 0;
    for (let s = 0; s < SERIES; s++) {
      const g = got.get(`ooo_m{s="${s}"}`);
      assert.equal(g?.samples, acceptedBySeries.get(String(s)), `series ${s}: processed = accepted`);
      assert.equal(g?.lastTs, t0 + (POINTS - 1) * STEP);
      processed += g?.samples ?? 0;
    }
    processed += got.get('skew_m{client="ok"}')?.samples ?? 0;
    assert.equal(c.accepted, expected.accepted + 1);
    reportAndCheck({
      test: 'skew-reorder-retry',
      // Duplicates are acknowledged copies of samples already counted as accepted: not added again.
      accepted: c.accepted,
      rejected: c.rejected,
      processed,
      deadLettered: 0,
      alertsExpected: 0,
      alertsDelivered: 0,
      duplicates: c.duplicates,
      extra: { retried_samples: last8.length, retried_previously_accepted: alreadyAccepted },
    });
  },
);
