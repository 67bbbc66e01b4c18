/**
 * Real-thread tests of the keyed runtime: per-key order across workers, router order checks,
 * backpressure, snapshots and rescaling, operator errors, worker crashes, queries, broadcasts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assignKeyGroup,
  createKeyedRuntime,
  recoveryDelayMs,
  RuntimeError,
  type KeyedOutput,
  type KeyedRuntime,
} from '../../src/keyed-runtime/index.js';
import type { SeqOutput, SeqState } from '../support/operators/sequence.js';

const OPERATOR = new URL('../support/operators/sequence.js', import.meta.url).href;

function start(
  workers: number,
  extra: Partial<Parameters<typeof createKeyedRuntime<SeqOutput>>[0]> = {},
): {
  rt: KeyedRuntime<SeqOutput>;
  outputs: KeyedOutput<SeqOutput>[];
  errors: { code: string; key?: string }[];
} {
  const outputs: KeyedOutput<SeqOutput>[] = [];
  const errors: { code: string; key?: string }[] = [];
  const rt = createKeyedRuntime<SeqOutput>({
    operatorModule: OPERATOR,
    operatorOptions: {},
    workers,
    keyGroups: 64,
    queueCapacity: 1_000_000,
    batchSize: 256,
    onOutputs: (o) => outputs.push(...o),
    onError: (e) => errors.push(e),
    ...extra,
  });
  return { rt, outputs, errors };
}

describe('keyed runtime (real worker threads)', () => {
  test('keeps per-key order across 4 workers and processes every sample once', async () => {
    const { rt, outputs, errors } = start(4);
    await rt.ready;
    const keys = Array.from({ length: 200 }, (_, i) => `m{k="${i}"}`);
    let total = 0;
    for (let round = 0; round < 50; round++) {
      const batch = keys.map((key, i) => ({ key, ts: 1_000 + round * 10 + (i % 7), value: round }));
      const r = rt.offer(batch);
      assert.equal(r.accepted.length, batch.length);
      total += batch.length;
    }
    await rt.drain();
    assert.equal(outputs.length, total);
    assert.deepEqual(errors, []);
    const perKey = new Map<string, SeqOutput[]>();
    for (const o of outputs) perKey.set(o.key, [...(perKey.get(o.key) ?? []), o.output]);
    for (const [key, outs] of perKey) {
      assert.equal(outs.length, 50, key);
      outs.forEach((o, i) => assert.equal(o.count, i + 1, `${key} count order`));
      for (let i = 1; i < outs.length; i++) assert.ok(outs[i]!.ts > outs[i - 1]!.ts, `${key} ts order`);
    }
    const workersUsed = new Set(
      rt
        .stats()
        .workers.filter((w) => w.processed > 0)
        .map((w) => w.index),
    );
    assert.equal(workersUsed.size, 4, 'keys spread over all workers');
    await rt.close();
  });

  test('a retried request (exact repeats of recent samples) is acknowledged as duplicates, not refused', async () => {
    const { rt, outputs } = start(1);
    await rt.ready;
    const req = [10, 20, 30, 40].map((ts) => ({ key: 'r', ts, value: ts / 10 }));
    assert.equal(rt.offer(req).accepted.length, 4);
    const again = rt.offer(req);
    assert.deepEqual(again.accepted, []);
    assert.equal(again.duplicates, 4);
    assert.deepEqual(again.rejected, []);
    const conflict = rt.offer([{ key: 'r', ts: 20, value: 99 }]);
    assert.equal(conflict.rejected[0]?.code, 'DUPLICATE_CONFLICT');
    await rt.drain();
    assert.equal(outputs.length, 4, 'processed once');
    await rt.close();
  });

  test('router refuses out-of-order samples, acks exact duplicates, refuses conflicting duplicates', async () => {
    const { rt, outputs } = start(1);
    await rt.ready;
    const r = rt.offer([
      { key: 'a', ts: 10, value: 1 },
      { key: 'a', ts: 20, value: 2 },
      { key: 'a', ts: 20, value: 2 },
      { key: 'a', ts: 20, value: 3 },
      { key: 'a', ts: 15, value: 9 },
      { key: 'b', ts: 15, value: 9 },
    ]);
    assert.deepEqual(r.accepted, [0, 1, 5]);
    assert.equal(r.duplicates, 1);
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.code]),
      [
        [3, 'DUPLICATE_CONFLICT'],
        [4, 'OUT_OF_ORDER'],
      ],
    );
    assert.match(r.rejected[1]!.reason, /older than/);
    await rt.drain();
    assert.equal(outputs.length, 3);
    await rt.close();
  });

  test('bounded queues: offer refuses with RUNTIME_OVERLOADED instead of buffering without limit', async () => {
    const { rt } = start(1, { queueCapacity: 1000, batchSize: 100 });
    await rt.ready;
    const big = Array.from({ length: 1000 }, (_, i) => ({ key: `k${i % 10}`, ts: 1_000 + i, value: 1 }));
    rt.offer(big);
    assert.throws(
      () => rt.offer([{ key: 'x', ts: 1, value: 1 }]),
      (e: unknown) => e instanceof RuntimeError && e.code === 'RUNTIME_OVERLOADED' && e.retryable,
    );
    await rt.drain();
    assert.doesNotThrow(() => rt.offer([{ key: 'x', ts: 1, value: 1 }]));
    await rt.close();
  });

  test('snapshot → restore into a different worker count keeps every key (rescaling by key group)', async () => {
    const a = start(3);
    await a.rt.ready;
    const keys = Array.from({ length: 300 }, (_, i) => `series_${i}`);
    for (let t = 1; t <= 5; t++) a.rt.offer(keys.map((key, i) => ({ key, ts: t * 1000, value: i })));
    const snap = await a.rt.snapshot();
    await a.rt.close();
    for (const kg of snap.keys()) assert.ok(kg >= 0 && kg < 64);

    const b = start(2);
    await b.rt.ready;
    assert.equal(await b.rt.restore([...snap].map(([kg, g]) => [kg, g.bytes] as const)), 300);
    for (const [i, key] of keys.entries()) {
      const s = await b.rt.query<SeqState>(key, 'state');
      assert.deepEqual(s, { count: 5, lastTs: 5000, sum: 5 * i, orderViolations: 0 }, key);
    }
    // Restored keys keep their order checks: an old timestamp is refused, a new one continues.
    const r = b.rt.offer([
      { key: keys[0]!, ts: 4000, value: 0 },
      { key: keys[0]!, ts: 6000, value: 0 },
    ]);
    assert.deepEqual(r.accepted, [1]);
    await b.rt.drain();
    assert.equal(b.outputs.at(-1)?.output.count, 6);
    // Each restored key went to the worker that owns its key group now.
    const owner = (key: string): number => Math.floor((assignKeyGroup(key, 64) * 2) / 64);
    assert.ok(b.outputs.every((o) => o.key !== keys[0] || owner(keys[0]) === owner(o.key)));
    await b.rt.close();
  });

  test('snapshotEach hands out the bytes snapshot returns, group by group, also when two run at once', async () => {
    const a = start(2);
    await a.rt.ready;
    const keys = Array.from({ length: 500 }, (_, i) => `series_${i}`);
    for (let t = 1; t <= 3; t++) a.rt.offer(keys.map((key, i) => ({ key, ts: t * 1000, value: i })));
    const whole = await a.rt.snapshot();
    const collect = async (): Promise<Map<number, { bytes: Uint8Array; keys: number }>> => {
      const out = new Map<number, { bytes: Uint8Array; keys: number }>();
      await a.rt.snapshotEach(undefined, async (kg, bytes, n) => {
        await new Promise((r) => setTimeout(r, 1)); // the view stays valid while `each` runs
        out.set(kg, { bytes: Uint8Array.from(bytes), keys: n });
      });
      return out;
    };
    // Twice in a row (the second reuses the workers' buffers), then two at once (one of them
    // gets fresh buffers), and a chosen subset.
    const runs = [await collect(), await collect(), ...(await Promise.all([collect(), collect()]))];
    for (const r of runs) assert.deepEqual(r, whole);
    const some = new Map<number, Uint8Array>();
    const chosen = [...whole.keys()].slice(0, 3);
    await a.rt.snapshotEach(chosen, (kg, bytes) => {
      some.set(kg, Uint8Array.from(bytes));
      return Promise.resolve();
    });
    assert.deepEqual([...some.keys()].sort(), [...chosen].sort());
    for (const kg of chosen) assert.deepEqual(some.get(kg), whole.get(kg)?.bytes);
    await a.rt.close();
  });

  test('an operator error skips that sample, is reported with its key, and others go on', async () => {
    const { rt, outputs, errors } = start(2);
    await rt.ready;
    rt.offer([
      { key: 'good', ts: 1, value: 1 },
      { key: 'bad', ts: 1, value: -1 },
      { key: 'good', ts: 2, value: 1 },
    ]);
    await rt.drain();
    assert.equal(outputs.filter((o) => o.key === 'good').length, 2);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'RUNTIME_OPERATOR_FAILED');
    assert.equal(errors[0]!.key, 'bad');
    await rt.close();
  });

  test('a series limiter is asked only for new series and kept in step: seeded, refusals per sample, replays, expiry, dropped groups', async () => {
    const { rt, outputs } = start(2);
    await rt.ready;
    assert.equal(rt.offer(['a', 'b', 'c'].map((key) => ({ key, ts: 1, value: 1 }))).accepted.length, 3);
    const live = new Set<string>();
    let asked = 0;
    const LIMIT = 4;
    rt.setSeriesLimiter({
      admit(key) {
        asked++;
        if (live.size >= LIMIT) return `full (${live.size})`;
        live.add(key);
        return undefined;
      },
      added: (key) => live.add(key),
      removed: (key) => assert.ok(live.delete(key), `removed ${key} once`),
    });
    assert.deepEqual([...live].sort(), ['a', 'b', 'c'], 'seeded with the existing series');
    const r = rt.offer([
      { key: 'a', ts: 2, value: 1 },
      { key: 'd', ts: 2, value: 1 },
      { key: 'e', ts: 2, value: 1 },
      { key: 'b', ts: 2, value: 1 },
      { key: 'e', ts: 3, value: 1 },
    ]);
    assert.deepEqual(r.accepted, [0, 1, 3]);
    assert.equal(r.refs.length, r.accepted.length, 'one series reference per accepted sample');
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.code, x.reason]),
      [
        [2, 'LIMIT_EXCEEDED', 'full (4)'],
        [4, 'LIMIT_EXCEEDED', 'full (4)'],
      ],
    );
    assert.equal(asked, 3, 'asked for d and twice for e, never for a known series');
    // Replays create series without asking (they were accepted once).
    rt.reoffer([{ key: 'f', ts: 5, value: 1 }]);
    assert.ok(live.has('f'));
    await rt.drain();
    assert.equal(outputs.filter((o) => o.key === 'e').length, 0);
    // Dropping key groups and expiry forget series, and the limiter hears of each.
    const groupOfA = assignKeyGroup('a', 64);
    await rt.dropKeyGroups([groupOfA]);
    assert.ok(!live.has('a'));
    const before = live.size;
    assert.equal(await rt.expire(Date.now() + 1000), before);
    assert.equal(live.size, 0);
    assert.equal(rt.offer([{ key: 'e', ts: 9, value: 1 }]).accepted.length, 1, 'room again');
    await rt.close();
  });

  test('a worker crash is surfaced, the worker restarts, ingest pauses until recovery resumes it', async () => {
    let restarted: { worker: number; keyGroups: readonly number[] } | undefined;
    const { rt, errors } = start(2, {
      onWorkerRestarted: (worker, keyGroups) => {
        restarted = { worker, keyGroups };
      },
    });
    await rt.ready;
    rt.offer([{ key: 'victim', ts: 1, value: -999 }]);
    const deadline = Date.now() + 10_000;
    while (!restarted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(restarted, 'onWorkerRestarted called');
    assert.ok(errors.some((e) => e.code === 'RUNTIME_WORKER_FAILED'));
    assert.ok(restarted.keyGroups.includes(assignKeyGroup('victim', 64)));
    assert.throws(() => rt.offer([{ key: 'x', ts: 5, value: 1 }]), /paused/);
    rt.resume();
    rt.offer([{ key: 'x', ts: 5, value: 1 }]);
    await rt.drain();
    assert.equal(rt.stats().workers[restarted.worker]!.restarts, 1);
    await rt.close();
  });

  test('a sample its worker dies on twice is quarantined: refused by offer, skipped by reoffer; preloaded quarantines are refused at once', async () => {
    const quarantined: { key: string; ts: number; crashes: number }[] = [];
    const victim = { key: 'victim', ts: 1, value: -999 };
    let recoveries = 0;
    const { rt, errors } = start(2, {
      onQuarantined: (q) => quarantined.push(q),
      // As the wiring does: replay what the dead worker had (here, the poison sample), then resume.
      onWorkerRestarted: () => {
        recoveries++;
        rt.reoffer([victim]);
        rt.resume();
      },
    });
    await rt.ready;
    rt.offer([victim, { key: 'other', ts: 1, value: 5 }]);
    const deadline = Date.now() + 15_000;
    while (recoveries < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await rt.drain();
    assert.equal(recoveries, 2, 'two crashes, two recoveries, no third crash');
    assert.deepEqual(
      quarantined.map((q) => [q.key, q.ts, q.crashes]),
      [['victim', 1, 2]],
    );
    const crashes = errors.filter((e) => e.code === 'RUNTIME_WORKER_FAILED');
    assert.equal(crashes.length, 2);
    assert.ok(
      crashes.every((e) => e.key === 'victim'),
      'each crash names the sample being processed',
    );
    assert.equal(rt.stats().quarantined, 1);
    assert.equal(rt.stats().quarantineSkipped, 1, 'the second recovery skipped it');
    const r = rt.offer([victim, { key: 'victim', ts: 2, value: 7 }]);
    assert.deepEqual(r.accepted, [1]);
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.code]),
      [[0, 'QUARANTINED']],
    );
    await rt.drain();
    assert.equal((await rt.query<SeqState>('victim', 'state'))?.count, 1, 'its series goes on');
    await rt.close();

    const again = start(1, { quarantined: [{ key: 'victim', ts: 1 }] });
    await again.rt.ready;
    assert.equal(again.rt.offer([victim]).rejected[0]?.code, 'QUARANTINED');
    await again.rt.close();
  });

  test('recovery delay after repeated crashes: none, then 500 ms doubling, at most 30 s', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 7, 8, 20].map(recoveryDelayMs),
      [0, 500, 1000, 2000, 4000, 16_000, 30_000, 30_000],
    );
  });

  test('queries, broadcasts and timers reach the operator', async () => {
    const { rt, outputs } = start(2);
    await rt.ready;
    rt.offer([{ key: 'q', ts: 1, value: 42 }]);
    rt.broadcast({ topic: 'silences', n: 1 } as { topic: string });
    assert.deepEqual(await rt.query('q', 'broadcast'), { topic: 'silences', n: 1 });
    assert.equal(await rt.query('nope', 'state'), undefined);
    const all = await rt.queryAll<SeqState>('state');
    assert.equal(all.length, 1);
    const deadline = Date.now() + 5_000;
    while (!outputs.some((o) => o.output.ts === -1) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(
      outputs.some((o) => o.key === 'q' && o.output.ts === -1),
      'timer fired for its key',
    );
    await rt.close();
  });
});
