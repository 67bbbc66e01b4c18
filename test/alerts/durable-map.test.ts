/**
 * The append-only durable map under the outbox and the notification log: what was acknowledged is
 * there after a reopen, the file stays bounded, and damage is skipped (torn tail) or reported
 * (corrupt line) without losing the good entries beside it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableMap } from '../../src/alerts/durable-map.js';
import { NotificationLog } from '../../src/alerts/nflog.js';
import { Outbox, type OutboxEntry } from '../../src/alerts/outbox.js';

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-dmap-'));
  test.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('acknowledged sets and deletes survive a reopen; concurrent changes share writes', async () => {
  const path = join(await tempDir(), 'm.log');
  const a = new DurableMap<{ n: number }>(path);
  await a.open();
  // 500 changes issued at once: all acknowledged, the file holds each of them once.
  await Promise.all(Array.from({ length: 500 }, (_, i) => a.set(`k${i}`, { n: i })));
  await Promise.all(Array.from({ length: 250 }, (_, i) => a.delete(`k${2 * i}`)));
  await a.set('k1', { n: -1 });
  await a.close();
  const b = new DurableMap<{ n: number }>(path);
  assert.deepEqual(await b.open(), { corruptLines: 0 });
  assert.equal(b.size, 250);
  assert.deepEqual(b.get('k1'), { n: -1 });
  assert.equal(b.get('k2'), undefined);
  assert.deepEqual(b.get('k499'), { n: 499 });
  await b.close();
});

test('the log is rewritten when mostly stale: its size follows the live keys, not the history', async () => {
  const path = join(await tempDir(), 'm.log');
  const m = new DurableMap<string>(path);
  await m.open();
  for (let i = 0; i < 5000; i++) {
    await m.set(`id${i}`, 'x'.repeat(50));
    await m.delete(`id${i}`);
  }
  await m.set('kept', 'yes');
  await m.close();
  const lines = (await readFile(path, 'utf8')).split('\n').filter(Boolean).length;
  assert.ok(lines <= 2 * 1 + 1000 + 2, `${lines} lines for 1 live key after 10,001 changes`);
  const again = new DurableMap<string>(path);
  await again.open();
  assert.deepEqual([...again.entries()], [['kept', 'yes']]);
  await again.close();
});

test('a torn last line (crash mid-append) is skipped; a corrupt line elsewhere is reported and copied aside', async () => {
  const dir = await tempDir();
  const path = join(dir, 'm.log');
  const m = new DurableMap<number>(path);
  await m.open();
  await m.set('a', 1);
  await m.set('b', 2);
  await m.close();
  await appendFile(path, '{"k":"c","v":');
  const torn = new DurableMap<number>(path);
  assert.deepEqual(await torn.open(), { corruptLines: 0 });
  assert.deepEqual(
    [...torn.entries()],
    [
      ['a', 1],
      ['b', 2],
    ],
  );
  await torn.set('c', 3); // appended after the rewrite, not glued to the torn line
  await torn.close();

  const text = await readFile(path, 'utf8');
  await writeFile(path, text.replace('{"k":"b","v":2}', '{"k":"b","v":2'));
  const damaged = new DurableMap<number>(path);
  const r = await damaged.open();
  assert.equal(r.corruptLines, 1);
  assert.ok(r.copiedTo && (await readdir(dir)).some((f) => r.copiedTo?.endsWith(f)));
  assert.deepEqual(
    [...damaged.entries()],
    [
      ['a', 1],
      ['c', 3],
    ],
    'the good entries beside it are kept',
  );
  await damaged.close();
});

const entry = (id: string, seq: number): OutboxEntry => ({
  id,
  seq,
  createdAt: 1,
  receiver: 'r',
  integrationType: 'webhook',
  integration: 'r/webhook/0',
  groupKey: '{}',
  reason: 'first notification',
  alerts: [],
  payload: { kind: 'json', body: '{}' },
  attempts: [],
  attemptCount: 0,
  nextAttemptAt: 0,
});

test('outbox: entries of the older one-file-per-notification format are moved into the log', async () => {
  const alerts = await tempDir();
  const dir = join(alerts, 'outbox');
  const first = new Outbox(alerts);
  await first.load();
  await first.put(entry('new', 3));
  await first.close();
  await writeFile(join(dir, 'old.json'), JSON.stringify(entry('old', 1)));
  await writeFile(join(dir, 'broken.json'), '{"id":');
  const second = new Outbox(alerts);
  const { entries, corrupt } = await second.load();
  assert.deepEqual(
    entries.map((e) => e.id),
    ['old', 'new'],
  );
  assert.deepEqual(corrupt, ['broken.json']);
  assert.deepEqual((await readdir(dir)).sort(), ['corrupt', 'outbox.log']);
  assert.equal(await second.put(entry('old', 9)), false, 'already pending');
  await second.remove('old');
  await second.close();
  const third = new Outbox(alerts);
  assert.deepEqual(
    (await third.load()).entries.map((e) => e.id),
    ['new'],
  );
  await third.close();
});

test('notification log: the older nflog.json is read once, then the log is the only file', async () => {
  const dir = await tempDir();
  const e = {
    groupKey: 'g',
    integration: 'r/webhook/0',
    firing: ['f1'],
    resolved: [],
    timestamp: 5,
    contentHash: 'h',
    repeat: 0,
  };
  await writeFile(join(dir, 'nflog.json'), JSON.stringify({ entries: [e] }));
  const errors: unknown[] = [];
  const a = new NotificationLog(dir, (err) => errors.push(err));
  await a.load();
  assert.deepEqual(a.get('g', 'r/webhook/0'), e);
  a.set({ ...e, groupKey: 'g2' });
  await a.close();
  assert.deepEqual((await readdir(dir)).sort(), ['nflog.log']);
  const b = new NotificationLog(dir, (err) => errors.push(err));
  await b.load();
  assert.equal(b.size, 2);
  b.gc(10, 1); // both older than retention
  await b.close();
  const c = new NotificationLog(dir, (err) => errors.push(err));
  await c.load();
  assert.equal(c.size, 0);
  await c.close();
  assert.deepEqual(errors, []);
});
