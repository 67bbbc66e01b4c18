/**
 * The state directory's disk fills up during ingest. The state directory is a 16 MiB tmpfs
 * mounted for this test (`mount -t tmpfs`, needs root; the test is skipped, saying why, where
 * mounting is not permitted). Senders stream samples and retry until acknowledged; a filler file
 * takes every free byte; then the space comes back.
 *
 * Must show: while full, ingest answers 503 with Retry-After (and /readyz 503) — never a 2xx for
 * samples that cannot be made durable; no crash; when space returns, ingest recovers by itself;
 * every acknowledged sample is processed exactly once; and the WAL is intact: after a kill -9,
 * Vigil restarts on the same directory and every series still has every sample.
 *
 * Run alone (as root): npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/faults/disk-full.test.js
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, cpSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWal, type WalReadStats } from '../../src/keyed-runtime/index.js';
import { startVigilProcess, waitFor, type VigilProcess } from '../support/vigil-process.js';
import { newCounters, processedByKey, reportAndCheck, sendUntilAnswered } from './support/oracle.js';

const mountDir = mkdtempSync(join(tmpdir(), 'vigil-diskfull-'));
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mountDir]);
const skip =
  mounted.status === 0
    ? false
    : `cannot mount a tmpfs here (${mounted.stderr.toString().trim() || `exit ${mounted.status}`}): run as root to test a full disk`;
let vigil: VigilProcess | undefined;
after(async () => {
  await vigil?.stop();
  if (mounted.status === 0) {
    const u = spawnSync('umount', [mountDir]);
    if (u.status !== 0) spawnSync('umount', ['-l', mountDir]);
  }
  rmSync(mountDir, { recursive: true, force: true });
});

const SERIES = 40;
const STEPS_PER_REQUEST = 5;
const ROUNDS = 60;
const STEP = 60_000;
const T0 = Date.now() - 20 * 86_400_000;
const CONFIG = `
runtime:
  workers: 2
  checkpoint_interval: 1s
  wal_group_commit: 2ms
`;

/** Fills the file system at `dir` to the last byte; returns the filler's path and size. */
function fill(dir: string): { path: string; bytes: number } {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(256 * 1024, 0xaa);
  let bytes = 0;
  try {
    // Bounded: the file system is 16 MiB.
    for (let i = 0; i < 200; i++) bytes += writeSync(fd, chunk);
    assert.fail('the tmpfs did not fill up');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    // Take the last few bytes too.
    for (let i = 0; i < 4096; i++) {
      try {
        bytes += writeSync(fd, chunk, 0, 64);
      } catch {
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return { path, bytes };
}

test(
  'disk full: 503 while full, recovery when space returns, every acknowledged sample processed, WAL intact',
  { skip, timeout: 240_000 },
  async () => {
    const stateDir = join(mountDir, 'state');
    vigil = await startVigilProcess({ configYaml: CONFIG, stateDir });
    const url = () => vigil!.url;
    const c = newCounters();
    const keys = Array.from({ length: SERIES }, (_, k) => `disk_metric{series="${k}"}`);

    const sender = (async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const samples = [];
        for (let k = 0; k < SERIES; k++)
          for (let j = 0; j < STEPS_PER_REQUEST; j++) {
            const step = round * STEPS_PER_REQUEST + j;
            samples.push({
              metric: 'disk_metric',
              labels: { series: String(k) },
              ts: T0 + step * STEP,
              value: k + Math.sin(step),
            });
          }
        const r = await sendUntilAnswered(url, samples, c, { retryMs: 50 });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body.rejected, []);
      }
    })();

    // Fill the disk a third of the way in; keep it full for 3 s; free it.
    await waitFor(
      () => (c.accepted >= (SERIES * STEPS_PER_REQUEST * ROUNDS) / 3 ? true : undefined),
      60_000,
      'a third acknowledged',
      5,
    );
    const filler = fill(mountDir);
    const fullAt = Date.now();
    const readyWhileFull = await waitFor(
      async () => {
        const r = await fetch(`${url()}/readyz`);
        return r.status === 503 ? r.status : undefined;
      },
      15_000,
      '/readyz to answer 503 while the disk is full',
    );
    await waitFor(() => (c.unavailable > 0 ? true : undefined), 15_000, 'ingest to answer 503');
    await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (Date.now() - fullAt))));
    const acceptedBeforeFree = c.accepted;
    const checkpointsWritten = () => vigil!.output().split('"msg":"checkpoint written"').length - 1;
    const checkpointsBeforeFree = checkpointsWritten();
    const failedCheckpoints = vigil.output().split('"msg":"checkpoint failed').length - 1;
    rmSync(filler.path);
    const freedAt = Date.now();
    await sender;
    const recoverySeconds = (Date.now() - freedAt) / 1000;
    assert.ok(c.unavailable > 0, 'ingest answered 503 while the disk was full');

    const expectedPerSeries = STEPS_PER_REQUEST * ROUNDS;
    const check = async (when: string): Promise<number> => {
      const got = await processedByKey(url(), keys);
      let total = 0;
      for (const k of keys) {
        const g = got.get(k);
        assert.ok(g, `${when}: ${k} exists`);
        assert.equal(g.samples, expectedPerSeries, `${when}: ${k} processed every sample exactly once`);
        assert.equal(g.lastTs, T0 + (expectedPerSeries - 1) * STEP);
        total += g.samples;
      }
      return total;
    };
    const processed = await check('after recovery');
    // The WAL as it is on disk now (a copy, read while Vigil runs): every record intact, its
    // failed writes cut back and rewritten, no torn tail.
    const walCopy = mkdtempSync(join(tmpdir(), 'vigil-wal-copy-'));
    cpSync(join(stateDir, 'wal'), walCopy, { recursive: true });
    const walStats: WalReadStats = { records: 0, samples: 0, tornBytes: 0 };
    for (const _record of readWal(walCopy, 0, walStats)) void _record;
    rmSync(walCopy, { recursive: true, force: true });
    assert.equal(walStats.tornBytes, 0, 'no torn record in the WAL');
    await waitFor(
      () => (checkpointsWritten() > checkpointsBeforeFree ? true : undefined),
      15_000,
      'a checkpoint written after the space came back',
    );

    // Nothing corrupted: a crash now, and a restart on the same directory, keeps everything.
    await vigil.kill9();
    vigil = await startVigilProcess({ configYaml: CONFIG, stateDir });
    const recovered = vigil
      .output()
      .split('\n')
      .find((l) => l.includes('"msg":"recovered"'));
    const processedAfterRestart = await check('after kill -9 and restart');
    assert.equal(processedAfterRestart, processed);

    reportAndCheck({
      test: 'disk-full',
      accepted: c.accepted + c.duplicates,
      rejected: c.rejected,
      processed,
      deadLettered: 0,
      alertsExpected: 0,
      alertsDelivered: 0,
      duplicates: 0,
      recoverySeconds,
      extra: {
        filler_bytes: filler.bytes,
        ingest_503: c.unavailable,
        readyz_while_full: readyWhileFull,
        accepted_before_free: acceptedBeforeFree,
        checkpoints_failed_while_full: failedCheckpoints,
        duplicates_acknowledged: c.duplicates,
        wal_records: walStats.records,
        wal_samples: walStats.samples,
        replayed_after_restart: recovered
          ? (JSON.parse(recovered) as { replayedSamples: number }).replayedSamples
          : 'n/a',
      },
    });
  },
);
