import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWalRecord, openWal, readWal, type WalReadStats } from './wal.js';
import { RuntimeError } from './errors.js';
import type { KeyedSample } from './runtime.js';

const fresh = (): string => mkdtempSync(join(tmpdir(), 'vigil-wal-'));
const batch = (i: number, n = 3): KeyedSample[] =>
  Array.from({ length: n }, (_, j) => ({ key: `k${j}{x="é"}`, ts: 1_000 * i + j, value: i + j / 10 }));

function readAll(dir: string, from = 0): { records: KeyedSample[][]; lsns: number[]; stats: WalReadStats } {
  const stats: WalReadStats = { records: 0, samples: 0, tornBytes: 0 };
  const records: KeyedSample[][] = [];
  const lsns: number[] = [];
  for (const r of readWal(dir, from, stats)) {
    records.push(r.samples);
    lsns.push(r.lsn);
  }
  return { records, lsns, stats };
}

test('appended records come back in order, across segments, from any LSN', async () => {
  const dir = fresh();
  const wal = await openWal({ dir, groupCommitMs: 1, segmentBytes: 200 });
  const lsnAt: number[] = [];
  for (let i = 0; i < 20; i++) {
    lsnAt.push(wal.appendLsn);
    wal.append(batch(i));
    if (i % 3 === 0) await wal.sync();
  }
  await wal.sync();
  await wal.close();
  assert.ok(readdirSync(dir).length > 3, 'several segments');
  const all = readAll(dir);
  assert.equal(all.records.length, 20);
  assert.deepEqual(all.records[7], batch(7));
  assert.deepEqual(all.lsns, lsnAt);
  const tail = readAll(dir, lsnAt[12]);
  assert.equal(tail.records.length, 8);
  assert.deepEqual(tail.records[0], batch(12));
});

test('reopening continues after the existing records', async () => {
  const dir = fresh();
  let wal = await openWal({ dir, groupCommitMs: 1 });
  wal.append(batch(1));
  await wal.sync();
  await wal.close();
  for (const _ of readWal(dir, 0));
  wal = await openWal({ dir, groupCommitMs: 1 });
  wal.append(batch(2));
  await wal.sync();
  await wal.close();
  assert.deepEqual(readAll(dir).records, [batch(1), batch(2)]);
});

test('a torn record at the end (crash mid-write) is cut off; the good records remain', async () => {
  const dir = fresh();
  const wal = await openWal({ dir, groupCommitMs: 1 });
  wal.append(batch(1));
  wal.append(batch(2));
  await wal.sync();
  await wal.close();
  const seg = join(dir, readdirSync(dir)[0]!);
  const good = statSync(seg).size;
  appendFileSync(seg, Buffer.from([50, 0, 0, 0, 1, 2, 3, 4, 9, 9])); // header says 50 bytes, only 2 follow
  const r = readAll(dir);
  assert.deepEqual(r.records, [batch(1), batch(2)]);
  assert.equal(r.stats.tornBytes, 10);
  assert.equal(statSync(seg).size, good, 'file truncated to the last good record');
});

test('damage before the last segment is reported, never skipped', async () => {
  const dir = fresh();
  const wal = await openWal({ dir, groupCommitMs: 1, segmentBytes: 100 });
  for (let i = 0; i < 6; i++) {
    wal.append(batch(i));
    await wal.sync();
  }
  await wal.close();
  const first = join(dir, readdirSync(dir).sort()[0]!);
  const bytes = readFileSync(first);
  bytes[20] = (bytes[20] ?? 0) ^ 0xff;
  writeFileSync(first, bytes);
  assert.throws(
    () => readAll(dir),
    (e: unknown) =>
      e instanceof RuntimeError && e.code === 'RUNTIME_WAL_CORRUPT' && /checksum mismatch/.test(e.message),
  );
});

test('truncateBefore deletes only segments wholly before the LSN', async () => {
  const dir = fresh();
  const wal = await openWal({ dir, groupCommitMs: 1, segmentBytes: 150 });
  const lsns: number[] = [];
  for (let i = 0; i < 10; i++) {
    lsns.push(wal.appendLsn);
    wal.append(batch(i));
    await wal.sync();
  }
  const before = readdirSync(dir).length;
  wal.truncateBefore(lsns[6]!);
  assert.ok(readdirSync(dir).length < before);
  await wal.close();
  const rest = readAll(dir, lsns[6]);
  assert.equal(rest.records.length, 4, 'everything from the LSN on is still there');
});

test('records appended while a group is being written are not acknowledged with it (concurrent appends)', async () => {
  const dir = fresh();
  const wal = await openWal({ dir, groupCommitMs: 0 });
  const acked: number[] = [];
  const pending: Promise<void>[] = [];
  // Many appenders, each appending then awaiting sync, interleaved with writes in flight.
  for (let i = 0; i < 300; i++) {
    wal.append(batch(i, 2));
    const n = i;
    pending.push(wal.sync().then(() => void acked.push(n)));
    if (i % 7 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  await wal.close();
  const onDisk = readAll(dir).records;
  assert.equal(acked.length, 300);
  assert.equal(onDisk.length, 300, 'every acknowledged record is on disk');
  onDisk.forEach((r, i) => assert.deepEqual(r, batch(i, 2)));
});

test('a key is written once per segment; later records refer to it by id (replay from mid-segment too)', async () => {
  const dir = fresh();
  const wal = await openWal({ dir, groupCommitMs: 1 });
  const lsns: number[] = [];
  for (let i = 0; i < 100; i++) {
    lsns.push(wal.appendLsn);
    wal.append(batch(i));
  }
  await wal.sync();
  await wal.close();
  const size = statSync(join(dir, readdirSync(dir)[0]!)).size;
  const keysOnce = 3 * (8 + Buffer.byteLength('k0{x="é"}'));
  // header 8 + count 4 + definitions 4 + 3 samples × 20 bytes per record, the keys once
  assert.equal(size, 100 * (8 + 4 + 4 + 3 * 20) + keysOnce);
  assert.ok(size < 100 * encodeWalRecord(batch(0)).length, 'smaller than with the key in every record');
  const tail = readAll(dir, lsns[50]);
  assert.equal(tail.records.length, 50);
  assert.deepEqual(tail.records[0], batch(50));
});

test("series references carry a key's id between appends: same bytes as without, across segment rolls and two logs", async () => {
  const refsOf = new Map<string, { walSegment: number; walId: number }>();
  const refs = (b: KeyedSample[]): { walSegment: number; walId: number }[] =>
    b.map((smp) => {
      let r = refsOf.get(smp.key);
      if (!r) refsOf.set(smp.key, (r = { walSegment: -1, walId: 0 }));
      return r;
    });
  // Shuffled key orders, so ids differ from positions; small segments, so tables roll.
  const mixed = (i: number): KeyedSample[] => {
    const b = Array.from({ length: 5 }, (_, j) => ({
      key: `m{k="${(j * 3 + i) % 7}"}`,
      ts: 1_000 * i + j,
      value: j,
    }));
    return i % 2 === 0 ? b : b.reverse();
  };
  const dirA = fresh();
  const dirB = fresh();
  const a = await openWal({ dir: dirA, groupCommitMs: 1, segmentBytes: 300 });
  const b = await openWal({ dir: dirB, groupCommitMs: 1, segmentBytes: 300 });
  const plain = await openWal({ dir: fresh(), groupCommitMs: 1, segmentBytes: 300 });
  for (let i = 0; i < 40; i++) {
    a.append(mixed(i), refs(mixed(i)));
    // The same references passed to a second log: its tables are other tables, so they are
    // looked up again there rather than trusted.
    b.append(mixed(i), refs(mixed(i)));
    plain.append(mixed(i));
  }
  await Promise.all([a.sync(), b.sync(), plain.sync()]);
  await Promise.all([a.close(), b.close(), plain.close()]);
  assert.ok(readdirSync(dirA).length > 3, 'several segments');
  const expected = Array.from({ length: 40 }, (_, i) => mixed(i));
  assert.deepEqual(readAll(dirA).records, expected);
  assert.deepEqual(readAll(dirB).records, expected);
});

test('records of the earlier format (keys in every record) are still replayed, then new ones after them', async () => {
  const dir = fresh();
  writeFileSync(
    join(dir, `${'0'.padStart(20, '0')}.wal`),
    Buffer.concat([encodeWalRecord(batch(1)), encodeWalRecord(batch(2))]),
  );
  const wal = await openWal({ dir, groupCommitMs: 1 });
  wal.append(batch(3));
  await wal.sync();
  await wal.close();
  assert.equal(readdirSync(dir).length, 2, 'the new session writes its own segment');
  assert.deepEqual(readAll(dir).records, [batch(1), batch(2), batch(3)]);
});
