/**
 * A worker thread dies inside a real in-process Vigil (real worker threads, WAL, checkpoints and
 * HTTP): the crash is surfaced (log, metric, stats), the worker restarts, its key groups are
 * restored from the newest checkpoint and the WAL after it is replayed into it while ingest
 * answers 503; no acknowledged sample is lost or processed twice. A sample that kills its worker
 * every time is quarantined after two crashes instead of crash-looping the node, the samples
 * beside it go on, and the quarantine survives a restart.
 *
 * The workers load test/support/operators/crashing-anomaly.ts: the anomaly operator, plus value
 * -998 (kills its thread once) and -999 (kills it every time).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadVigilConfigText } from '../../src/app/config.js';
import { startVigil, type VigilNode } from '../../src/app/main.js';
import { createLogger } from '../../src/app/logger.js';
import { listCheckpoints } from '../../src/keyed-runtime/index.js';
import { waitFor } from '../support/vigil-process.js';
import { metricValue } from '../support/vigil-cluster.js';
import {
  newCounters,
  processedByKey,
  reportAndCheck,
  sendUntilAnswered,
  type IngestAnswer,
  type SendCounters,
} from './support/oracle.js';

const OPERATOR = new URL('../support/operators/crashing-anomaly.js', import.meta.url).href;
const STEP = 60_000;
const T0 = Date.now() - 30 * 86_400_000;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function configFor(stateDir: string): ReturnType<typeof loadVigilConfigText> {
  return loadVigilConfigText(
    `state_dir: ${stateDir}\nserver:\n  port: 0\nruntime:\n  workers: 2\n  checkpoint_interval: 1s\n`,
  );
}

async function start(stateDir: string): Promise<VigilNode> {
  return startVigil(configFor(stateDir), { logger: createLogger('silent'), operatorModule: OPERATOR });
}

interface Sample {
  metric: string;
  labels: Record<string, string>;
  ts: number;
  value: number;
}

/** Posts until acknowledged (the shared fault-test sender, retrying 503s); returns the 200 body. */
async function sendUntilAcked(
  node: VigilNode,
  samples: readonly Sample[],
  c: SendCounters,
): Promise<IngestAnswer> {
  const r = await sendUntilAnswered(() => node.url, samples, c);
  assert.equal(r.status, 200, `unexpected status ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

async function seriesStatus(node: VigilNode, key: string): Promise<{ samples: number; lastTs: number }> {
  const status = (await processedByKey(node.url, [key])).get(key);
  assert.ok(status, `series ${key} exists`);
  return status;
}

async function metric(node: VigilNode, name: string): Promise<number> {
  return metricValue(await (await fetch(`${node.url}/metrics`)).text(), name);
}

const SERIES = 40;
const ROUNDS = 40;
const PER_REQUEST = 5;
const key = (k: number) => `crash_metric{series="${k}"}`;
const sample = (k: number, step: number, value = (k % 5) + Math.sin(step / 7)): Sample => ({
  metric: 'crash_metric',
  labels: { series: String(k) },
  ts: T0 + step * STEP,
  value,
});

test('a worker crash mid-stream: surfaced, restarted, restored and replayed; every acknowledged sample processed once', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'vigil-crash-'));
  dirs.push(stateDir);
  const marker = join(stateDir, 'crash-once');
  process.env['VIGIL_TEST_CRASH_ONCE'] = marker;
  process.env['VIGIL_TEST_SLOW_START_MS'] = '300';
  let node = await start(stateDir);
  const c = newCounters();
  const crashRound = Math.floor(ROUNDS / 2);
  const copyDir = mkdtempSync(join(tmpdir(), 'vigil-crash-copy-'));
  dirs.push(copyDir);
  for (let round = 0; round < ROUNDS; round++) {
    if (round === crashRound) {
      // At least one checkpoint behind us, so the recovery restores one and replays the WAL after it.
      await waitFor(() => (checkpointsOf(stateDir) > 0 ? true : undefined), 10_000, 'a checkpoint');
      writeFileSync(marker, '');
    }
    const samples: Sample[] = [];
    for (let k = 0; k < SERIES; k++)
      for (let j = 0; j < PER_REQUEST; j++) {
        const step = round * PER_REQUEST + j;
        // Series 7's sample at the crash round carries the value that kills its worker once.
        samples.push(sample(k, step, round === crashRound && k === 7 && j === 2 ? -998 : undefined));
      }
    const r = await sendUntilAcked(node, samples, c);
    assert.deepEqual(r.rejected ?? [], []);
    if (round === crashRound) {
      // A checkpoint asked for while the restarted worker is still starting (held 300 ms) and
      // being rebuilt waits for it (a snapshot of a half-restored worker would lose its series'
      // history). Copy the state directory right after it: a node started on the copy must
      // have every sample acknowledged so far.
      await waitFor(() => (restartsOf(node) > 0 ? true : undefined), 10_000, 'the worker crash', 1);
      assert.equal(node.pipeline.ready(), false, 'not ready while a worker is being rebuilt');
      await node.pipeline.checkpoint();
      cpSync(stateDir, copyDir, { recursive: true });
    }
  }
  await node.pipeline.runtime.drain();
  await waitFor(() => (node.pipeline.ready() ? true : undefined), 20_000, 'the worker recovered');
  const restarts = restartsOf(node);
  assert.equal(restarts, 1, 'one worker died and was restarted');
  assert.equal(await metric(node, 'vigil_worker_restarts_total'), 1, 'the crash is counted');
  assert.equal(existsSync(marker), false, 'the crash happened (the marker was consumed)');

  const expected = ROUNDS * PER_REQUEST;
  let processed = 0;
  for (let k = 0; k < SERIES; k++) {
    const s = await seriesStatus(node, key(k));
    assert.equal(s.samples, expected, `${key(k)} processed every sample exactly once`);
    assert.equal(s.lastTs, T0 + (expected - 1) * STEP);
    processed += s.samples;
  }
  // The checkpoint written after the recovery holds the whole state: a restart restores it.
  await node.close();
  node = await start(stateDir);
  for (const k of [0, 7, SERIES - 1])
    assert.equal((await seriesStatus(node, key(k))).samples, expected, `${key(k)} after a restart`);
  await node.close();
  delete process.env['VIGIL_TEST_SLOW_START_MS'];
  const copy = await start(copyDir);
  for (let k = 0; k < SERIES; k++)
    assert.equal(
      (await seriesStatus(copy, key(k))).samples,
      (crashRound + 1) * PER_REQUEST,
      `${key(k)} in the checkpoint taken during the recovery (+ the WAL after it)`,
    );
  await copy.close();
  reportAndCheck({
    test: 'worker-crash',
    accepted: c.accepted + c.duplicates,
    rejected: {},
    processed,
    deadLettered: 0,
    alertsExpected: 0,
    alertsDelivered: 0,
    duplicates: c.duplicates,
    extra: { worker_restarts: restarts, ingest_503: c.unavailable },
  });
});

test('a sample that kills its worker every time is quarantined after two crashes; the rest goes on, and stays quarantined', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'vigil-poison-'));
  dirs.push(stateDir);
  let node = await start(stateDir);
  const c = newCounters();
  for (let step = 0; step < 50; step++) await sendUntilAcked(node, [sample(1, step), sample(2, step)], c);
  // The poison sample between good ones of its own series and another series.
  const poison = sample(1, 50, -999);
  const r = await sendUntilAcked(node, [poison, sample(2, 50), sample(1, 51)], c);
  assert.equal(r.accepted, 3, 'acknowledged: it is durable in the WAL before any worker sees it');
  await waitFor(
    () => (node.pipeline.runtime.stats().quarantined === 1 ? true : undefined),
    20_000,
    'quarantine',
  );
  await waitFor(() => (node.pipeline.ready() ? true : undefined), 20_000, 'recovery after the quarantine');
  // Ingest goes on for both series.
  for (let step = 52; step < 60; step++) await sendUntilAcked(node, [sample(1, step), sample(2, step)], c);
  await node.pipeline.runtime.drain();

  const restarts = restartsOf(node);
  assert.equal(restarts, 2, 'two crashes, then the sample is quarantined instead of crashing again');
  assert.equal(await metric(node, 'vigil_samples_quarantined_total'), 1);
  const lines = readFileSync(join(stateDir, 'quarantine.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  const q = JSON.parse(lines[0]!) as { key: string; ts: number; crashes: number };
  assert.deepEqual([q.key, q.ts, q.crashes], [key(1), poison.ts, 2], 'the quarantine names the sample');
  const s1 = await seriesStatus(node, key(1));
  const s2 = await seriesStatus(node, key(2));
  assert.equal(s1.samples, 59, 'series 1: every sample but the poison one');
  assert.equal(s1.lastTs, T0 + 59 * STEP);
  assert.equal(s2.samples, 59, 'series 2: every sample (steps 0–50 and 52–59)');
  // Sent again, it is refused by name (400: everything in the request was refused).
  await assertQuarantinedRefusal(node, poison, c);

  // The quarantine outlives the process.
  await node.close();
  node = await start(stateDir);
  assert.equal(node.pipeline.runtime.stats().quarantined, 1, 'quarantine.jsonl loaded at start');
  await assertQuarantinedRefusal(node, poison, c);
  assert.equal((await seriesStatus(node, key(1))).samples, 59);
  await node.close();
  reportAndCheck({
    test: 'worker-poison-sample',
    accepted: 50 * 2 + 3 + 8 * 2,
    rejected: c.rejected,
    processed: s1.samples + s2.samples,
    deadLettered: 1, // the quarantined sample, listed in quarantine.jsonl
    alertsExpected: 0,
    alertsDelivered: 0,
    duplicates: c.duplicates,
    extra: { worker_restarts: restarts, ingest_503: c.unavailable },
  });
});

async function assertQuarantinedRefusal(node: VigilNode, poison: Sample, c: SendCounters): Promise<void> {
  const { status, body } = await sendUntilAnswered(() => node.url, [poison], c);
  assert.equal(status, 400);
  const rejected = body.rejected ?? [];
  assert.deepEqual(
    rejected.map((x) => [x.index, x.code]),
    [[0, 'QUARANTINED']],
  );
  assert.match(rejected[0]!.reason, /crashed a worker thread 2 times/);
}

function restartsOf(node: VigilNode): number {
  return node.pipeline.runtime.stats().workers.reduce((a, w) => a + w.restarts, 0);
}

function checkpointsOf(stateDir: string): number {
  return listCheckpoints(join(stateDir, 'checkpoints')).length;
}
