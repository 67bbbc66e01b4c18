/**
 * What an acknowledgement promises: a 2xx from ingest means the samples survive kill -9.
 *
 * Senders stream samples for 120 series to a Vigil child process and retry every request until
 * it is acknowledged (as a well-behaved client does). Vigil is killed with SIGKILL twice in the
 * middle of the stream and restarted on the same state directory (checkpoint + WAL replay).
 * In the end every series must have processed exactly the samples that were sent: none lost
 * (acknowledged → processed), none twice (retries of samples that were already processed come
 * back as duplicates and are not processed again). Counts are printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startVigilProcess, waitFor, type VigilProcess } from '../support/vigil-process.js';
import { reportAndCheck } from './support/oracle.js';

const SERIES = 120;
const SENDERS = 4;
const PER_REQUEST_STEPS = 5;
const ROUNDS = 60;
const STEP = 60_000;
const T0 = Date.now() - 30 * 86_400_000;
const CONFIG = `
log:
  level: info
runtime:
  workers: 2
  checkpoint_interval: 1s
  wal_group_commit: 2ms
`;

interface Counters {
  sent: number;
  acked: number;
  duplicates: number;
  retries: number;
}

test(
  'every acknowledged sample is processed exactly once across two kill -9 restarts',
  { timeout: 240_000 },
  async () => {
    let vigil: VigilProcess = await startVigilProcess({ configYaml: CONFIG });
    const stateDir = vigil.stateDir;
    let url = vigil.url;
    const c: Counters = { sent: 0, acked: 0, duplicates: 0, retries: 0 };
    let restarting: Promise<void> | undefined;
    const replayed: string[] = [];

    async function sendUntilAcked(body: string, n: number): Promise<void> {
      for (let attempt = 0; attempt < 2000; attempt++) {
        if (restarting) await restarting;
        try {
          const res = await fetch(`${url}/api/v1/samples`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          });
          const json = (await res.json()) as { accepted?: number; duplicates?: number; rejected?: unknown[] };
          if (res.status === 200) {
            assert.deepEqual(json.rejected, [], 'nothing refused');
            c.acked += json.accepted ?? 0;
            c.duplicates += json.duplicates ?? 0;
            assert.equal((json.accepted ?? 0) + (json.duplicates ?? 0), n);
            return;
          }
          assert.ok(res.status === 503, `unexpected status ${res.status}: ${JSON.stringify(json)}`);
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          // Connection refused or reset: Vigil is down; retry.
        }
        c.retries++;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('request never acknowledged');
    }

    async function sender(s: number): Promise<void> {
      const mine = Array.from({ length: SERIES / SENDERS }, (_, i) => s + i * SENDERS);
      for (let round = 0; round < ROUNDS; round++) {
        const samples = [];
        for (const k of mine)
          for (let j = 0; j < PER_REQUEST_STEPS; j++) {
            const step = round * PER_REQUEST_STEPS + j;
            samples.push({
              metric: 'fault_metric',
              labels: { series: String(k) },
              ts: T0 + step * STEP,
              value: (k % 7) + Math.sin(step / 10),
            });
          }
        c.sent += samples.length;
        await sendUntilAcked(JSON.stringify({ samples }), samples.length);
      }
    }

    const killer = (async () => {
      for (const atAcked of [0.3, 0.65]) {
        const target = Math.floor(atAcked * SERIES * ROUNDS * PER_REQUEST_STEPS);
        await waitFor(
          () => (c.acked >= target ? true : undefined),
          120_000,
          `${target} acknowledged samples`,
          5,
        );
        let done!: () => void;
        restarting = new Promise<void>((r) => (done = r));
        await vigil.kill9();
        console.log(`kill -9 after ${c.acked} acknowledged samples`);
        vigil = await startVigilProcess({ configYaml: CONFIG, stateDir });
        url = vigil.url;
        const recovered = vigil
          .output()
          .split('\n')
          .find((l) => l.includes('"msg":"recovered"'));
        const r = recovered ? (JSON.parse(recovered) as Record<string, unknown>) : {};
        replayed.push(String(r['replayedSamples']));
        console.log(
          `restarted: checkpoint ${String(r['checkpointId'])}, restored ${String(r['restoredKeys'])} series, replayed ${String(r['replayedSamples'])} samples from the WAL, torn bytes ${String(r['tornBytes'])}`,
        );
        restarting = undefined;
        done();
      }
    })();
    await Promise.all([...Array.from({ length: SENDERS }, (_, s) => sender(s)), killer]);

    let processed = 0;
    const expectedPerSeries = ROUNDS * PER_REQUEST_STEPS;
    for (let k = 0; k < SERIES; k++) {
      const key = `fault_metric{series="${k}"}`;
      const res = await fetch(`${url}/api/v1/series?search=${encodeURIComponent(key)}&limit=1`);
      const page = (await res.json()) as {
        items: { key: string; status: { samples: number; lastTs: number } }[];
      };
      const item = page.items.find((i) => i.key === key);
      assert.ok(item, `series ${key} exists`);
      assert.equal(item.status.samples, expectedPerSeries, `${key} processed every sample exactly once`);
      assert.equal(item.status.lastTs, T0 + (expectedPerSeries - 1) * STEP);
      processed += item.status.samples;
    }
    console.log(
      `sent=${c.sent} acknowledged=${c.acked} duplicates-acknowledged=${c.duplicates} retries=${c.retries} processed=${processed} distinct=${SERIES * expectedPerSeries}`,
    );
    assert.equal(processed, SERIES * expectedPerSeries);
    // A request in flight at the kill may have been processed (and logged) without its answer
    // arriving: its retry is acknowledged as duplicates. So every sample was acknowledged once,
    // as accepted or as a duplicate, and processed once.
    assert.equal(c.acked + c.duplicates, processed, 'acknowledged (accepted + duplicates) = processed');
    reportAndCheck({
      test: 'sigkill-http',
      accepted: c.acked + c.duplicates,
      rejected: {},
      processed,
      deadLettered: 0,
      alertsExpected: 0,
      alertsDelivered: 0,
      duplicates: c.duplicates,
      extra: { kills: 2, sent: c.sent, retries: c.retries, replayed_from_wal: replayed.join('+') },
    });
    await vigil.stop();
  },
);
