import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  listCheckpoints,
  openCheckpoint,
  openCheckpointWriter,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from './checkpoint-store.js';
import { RuntimeError } from './errors.js';

const meta = (id: number) => ({
  id,
  createdAt: '2026-11-21T00:00:00Z',
  operator: 'anomaly',
  stateVersion: 1,
  keyGroups: 8,
  walLsn: 1234 * id,
  sources: { kafka: { 't-0': 5 } },
});

test('a checkpoint round-trips its key groups and positions', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-ckpt-'));
  const groups = new Map([
    [3, { bytes: new Uint8Array([1, 2, 3]), keys: 2 }],
    [0, { bytes: new Uint8Array([9]), keys: 1 }],
  ]);
  await writeCheckpoint(dir, meta(1), groups);
  const c = readCheckpoint(dir, 1);
  assert.equal(c.meta.walLsn, 1234);
  assert.equal(c.meta.keys, 3);
  assert.deepEqual(c.meta.sources, { kafka: { 't-0': 5 } });
  assert.deepEqual([...c.groups.keys()].sort(), [0, 3]);
  assert.deepEqual([...c.groups.get(3)!], [1, 2, 3]);
});

test('streaming a checkpoint group by group writes the same bytes as writeCheckpoint; abort leaves nothing', async () => {
  const groups = new Map([
    [0, { bytes: new Uint8Array([9]), keys: 1 }],
    [3, { bytes: new Uint8Array(100_000).fill(5), keys: 2 }],
  ]);
  const a = mkdtempSync(join(tmpdir(), 'vigil-ckpt-'));
  const b = mkdtempSync(join(tmpdir(), 'vigil-ckpt-'));
  await writeCheckpoint(a, meta(2), groups);
  const w = await openCheckpointWriter(b, 2);
  for (const [kg, g] of groups) await w.addGroup(kg, g.bytes, g.keys, meta(2).walLsn);
  const size = await w.finish(meta(2));
  const name = 'ckpt-000000000002.vgc';
  assert.equal(size, readFileSync(join(b, name)).length);
  assert.deepEqual(readFileSync(join(b, name)), readFileSync(join(a, name)));
  assert.equal(readCheckpoint(b, 2).meta.keys, 3);

  const c = mkdtempSync(join(tmpdir(), 'vigil-ckpt-'));
  const partial = await openCheckpointWriter(c, 3);
  await partial.addGroup(1, new Uint8Array(10), 1, 0);
  await partial.abort();
  assert.deepEqual(readdirSync(c), []);
});

test('pruning keeps the newest N', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-ckpt-'));
  for (let id = 1; id <= 4; id++) await writeCheckpoint(dir, meta(id), new Map());
  pruneCheckpoints(dir, 2);
  assert.deepEqual(listCheckpoints(dir), [4, 3]);
});

test('a damaged checkpoint is reported with the file and the reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-ckpt-'));
  await writeCheckpoint(dir, meta(7), new Map([[1, { bytes: new Uint8Array(64).fill(7), keys: 1 }]]));
  const file = join(dir, 'ckpt-000000000007.vgc');
  const bytes = readFileSync(file);
  bytes[12 + 10] = (bytes[12 + 10] ?? 0) ^ 0xff; // inside key group 1's blob
  writeFileSync(file, bytes);
  assert.throws(
    () => readCheckpoint(dir, 7),
    (e: unknown) =>
      e instanceof RuntimeError &&
      e.code === 'RUNTIME_CHECKPOINT_UNREADABLE' &&
      e.message.includes(file) &&
      /key group 1 checksum mismatch/.test(e.message),
  );
  writeFileSync(file, 'garbage that is long enough to be framed');
  assert.throws(() => readCheckpoint(dir, 7), /bad magic/);
  writeFileSync(file, bytes.subarray(0, bytes.length - 3));
  assert.throws(() => readCheckpoint(dir, 7), /no end marker/);
});

test('reading with a reused buffer yields the same groups, each valid until the next is read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-ckpt-'));
  const groups = new Map([
    [0, { bytes: new Uint8Array(1000).fill(1), keys: 1 }],
    [1, { bytes: new Uint8Array(3000).fill(2), keys: 2 }],
    [2, { bytes: new Uint8Array(10).fill(3), keys: 1 }],
  ]);
  // A shared buffer's view, as snapshots hand them to the writer.
  const shared = new Uint8Array(new SharedArrayBuffer(500)).fill(4);
  const w = await openCheckpointWriter(dir, 5);
  for (const [kg, g] of groups) await w.addGroup(kg, g.bytes, g.keys, 0);
  await w.addGroup(3, shared, 1, 0);
  await w.finish(meta(5));
  const r = openCheckpoint(dir, 5);
  const seen: number[][] = [];
  for (const g of r.read(undefined, true)) seen.push([g.kg, g.bytes.length, ...new Set(g.bytes)]);
  r.close();
  assert.deepEqual(seen, [
    [0, 1000, 1],
    [1, 3000, 2],
    [2, 10, 3],
    [3, 500, 4],
  ]);
});
