/**
 * The write-ahead log: what makes an ingest acknowledgement survive `kill -9`.
 *
 * Accepted samples are appended (in memory, synchronously, in the order they were routed) and
 * written + fdatasync'ed in groups (group commit: one write and one fsync for everything appended
 * within `groupCommitMs`). An acknowledgement waits for `sync()`: durable through everything
 * appended so far. On restart, records at or after the last checkpoint's position are replayed.
 *
 * Layout: `dir/<firstLsn as 20 digits>.wal` segments; a record is
 * `u32 payloadLength | u32 crc32(payload) | payload`, payload = `u32 count` then count ×
 * `(u32 keyLength, key UTF-8, f64 ts, f64 value)`. The LSN of a record is its segment's first
 * LSN plus its byte offset in the segment; LSNs only grow.
 *
 * Failures: a failed write or fsync (disk full, I/O error) rejects the waiting acknowledgements
 * (ingest answers 503), truncates the segment back to its last good length, and keeps the
 * records queued: they are written again, in order, by the next flush (retried every
 * `retryMs`), so nothing already routed is ever dropped and nothing acknowledged is lost.
 * While the log is failing, `writable` is false and ingest refuses new samples up front.
 * A torn record at the end of the last segment (a crash mid-write) is cut off on recovery; a bad
 * record anywhere else is reported (RUNTIME_WAL_CORRUPT), never skipped silently.
 */
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { RuntimeError } from './errors.js';
import type { KeyedSample } from './runtime.js';

const SEGMENT_BYTES = 64 * 1024 * 1024;
const decoder = new TextDecoder();

export interface WalOptions {
  readonly dir: string;
  /** Longest wait before a group is written and fsynced, ms. */
  readonly groupCommitMs: number;
  /** Retry interval after a failed write, ms. @defaultValue 1000 */
  readonly retryMs?: number;
  /** Segment size at which a new segment starts, bytes. @defaultValue 64 MiB */
  readonly segmentBytes?: number;
  /** Called after each successful group commit (bytes, seconds). */
  readonly onCommit?: (bytes: number, seconds: number) => void;
  /** Called when a write fails (the records stay queued). */
  readonly onError?: (err: RuntimeError) => void;
}

export interface Wal {
  /** False while writes are failing: refuse new samples (answer 503) until it recovers. */
  readonly writable: boolean;
  /** LSN the next record gets: a checkpoint taken now covers everything before it. */
  readonly appendLsn: number;
  /** Appends one record (synchronously, in memory). */
  append(samples: readonly KeyedSample[]): void;
  /** Resolves when everything appended so far is on disk; rejects (retryable) if the write failed. */
  sync(): Promise<void>;
  /** Deletes segments that only hold records before `lsn` (a durable checkpoint covers them). */
  truncateBefore(lsn: number): void;
  close(): Promise<void>;
}

interface Pending {
  readonly lsn: number;
  readonly bytes: Uint8Array;
}

function segName(lsn: number): string {
  return `${String(lsn).padStart(20, '0')}.wal`;
}

function listSegments(dir: string): number[] {
  return readdirSync(dir)
    .filter((f) => /^\d{20}\.wal$/.test(f))
    .map((f) => Number(f.slice(0, 20)))
    .sort((a, b) => a - b);
}

/** Encodes one record (header + payload) into one buffer, keys written in place as UTF-8. */
export function encodeWalRecord(samples: readonly KeyedSample[]): Uint8Array {
  let size = 8 + 4;
  for (let i = 0; i < samples.length; i++)
    size += 4 + Buffer.byteLength((samples[i] as KeyedSample).key, 'utf8') + 16;
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32LE(samples.length, 8);
  let o = 12;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as KeyedSample;
    const n = buf.write(s.key, o + 4, 'utf8');
    buf.writeUInt32LE(n, o);
    o += 4 + n;
    buf.writeDoubleLE(s.ts, o);
    buf.writeDoubleLE(s.value, o + 8);
    o += 16;
  }
  buf.writeUInt32LE(size - 8, 0);
  buf.writeUInt32LE(crc32(buf.subarray(8)), 4);
  return buf;
}

/** One replayed record. */
export interface WalRecord {
  readonly lsn: number;
  readonly samples: KeyedSample[];
}

/** Counts of a WAL read, filled in as records are yielded. */
export interface WalReadStats {
  records: number;
  samples: number;
  /** Bytes of a torn record cut off the end of the last segment. */
  tornBytes: number;
  /** Bytes read so far, and the total to read (for progress). */
  bytesRead?: number;
  bytesTotal?: number;
}

/**
 * Yields every record with LSN ≥ `fromLsn`, in order, one segment in memory at a time. Cuts a
 * torn tail off the last segment (truncating the file); throws RUNTIME_WAL_CORRUPT for damage
 * anywhere else.
 */
export function* readWal(
  dir: string,
  fromLsn: number,
  stats: WalReadStats = { records: 0, samples: 0, tornBytes: 0 },
): Generator<WalRecord> {
  mkdirSync(dir, { recursive: true });
  const segs = listSegments(dir);
  stats.bytesRead = 0;
  stats.bytesTotal = 0;
  for (let si = 0; si < segs.length; si++) {
    const next = segs[si + 1];
    if (next === undefined || next > fromLsn)
      stats.bytesTotal += statSync(join(dir, segName(segs[si] as number))).size;
  }
  for (let si = 0; si < segs.length; si++) {
    const start = segs[si] as number;
    const next = segs[si + 1];
    if (next !== undefined && next <= fromLsn) continue;
    const path = join(dir, segName(start));
    const buf = readFileSync(path);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let o = 0;
    const last = si === segs.length - 1;
    while (o < buf.length) {
      const bad = (why: string): never => {
        throw new RuntimeError(
          'RUNTIME_WAL_CORRUPT',
          `${path}: ${why} at byte ${o}; the log cannot be replayed past it`,
        );
      };
      if (o + 8 > buf.length) {
        if (last) break;
        bad('truncated record header');
      }
      const len = dv.getUint32(o, true);
      if (o + 8 + len > buf.length) {
        if (last) break;
        bad('truncated record');
      }
      const payload = buf.subarray(o + 8, o + 8 + len);
      if (crc32(payload) !== dv.getUint32(o + 4, true)) {
        if (last && o + 8 + len === buf.length) break;
        bad('checksum mismatch');
      }
      const lsn = start + o;
      if (lsn >= fromLsn) {
        const out: KeyedSample[] = [];
        const p = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
        const count = p.getUint32(0, true);
        let q = 4;
        for (let i = 0; i < count; i++) {
          const kl = p.getUint32(q, true);
          const key = decoder.decode(payload.subarray(q + 4, q + 4 + kl));
          q += 4 + kl;
          out.push({ key, ts: p.getFloat64(q, true), value: p.getFloat64(q + 8, true) });
          q += 16;
        }
        stats.records++;
        stats.samples += out.length;
        yield { lsn, samples: out };
      }
      o += 8 + len;
      stats.bytesRead += 8 + len;
    }
    if (o < buf.length) {
      // A torn tail from a crash mid-write: the bytes were never acknowledged. Cut them off so
      // new records do not land after garbage.
      stats.tornBytes = buf.length - o;
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, o);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }
}

/** Opens the log for appending after the existing segments (call after {@link readWal}). */
export async function openWal(opts: WalOptions): Promise<Wal> {
  mkdirSync(opts.dir, { recursive: true });
  const segs = listSegments(opts.dir);
  const lastStart = segs[segs.length - 1];
  let segStart = lastStart ?? 0;
  let segSize = lastStart === undefined ? 0 : statSync(join(opts.dir, segName(lastStart))).size;
  let appendLsn = segStart + segSize;
  let fh: FileHandle = await open(join(opts.dir, segName(segStart)), 'a');
  syncDir(opts.dir);
  let queue: Pending[] = [];
  let queuedBytes = 0;
  let flushing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failing = false;
  /** A failed write may have left a partial record past segSize: cut it before writing again. */
  let dirty = false;
  let closed = false;
  let waiters: { lsn: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  let durableLsn = appendLsn;
  const retryMs = opts.retryMs ?? 1000;

  function schedule(delay: number): void {
    if (timer || flushing || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, delay);
  }

  async function flush(): Promise<void> {
    if (flushing) return flushing;
    if (queue.length === 0) return;
    flushing = (async () => {
      // Take the queued records out: appends during the write go to a fresh queue and wait for
      // the next group (counting them as written here would acknowledge unwritten data).
      const batch = queue;
      const bytes = queuedBytes;
      queue = [];
      queuedBytes = 0;
      const t0 = process.hrtime.bigint();
      try {
        if (dirty) {
          await fh.truncate(segSize);
          dirty = false;
        }
        if (segSize >= (opts.segmentBytes ?? SEGMENT_BYTES)) {
          // Roll: the next segment starts at the first queued record's LSN.
          await fh.close();
          segStart = (batch[0] as Pending).lsn;
          segSize = 0;
          fh = await open(join(opts.dir, segName(segStart)), 'a');
          syncDir(opts.dir);
        }
        await writevAll(
          fh,
          batch.map((p) => p.bytes),
        );
        await fh.datasync();
        segSize += bytes;
        durableLsn =
          (batch[batch.length - 1] as Pending).lsn + (batch[batch.length - 1] as Pending).bytes.length;
        failing = false;
        opts.onCommit?.(bytes, Number(process.hrtime.bigint() - t0) / 1e9);
        const keep: typeof waiters = [];
        for (const w of waiters) (w.lsn <= durableLsn ? w.resolve : () => keep.push(w))();
        waiters = keep;
      } catch (cause) {
        failing = true;
        // Any partial write is cut off (segSize is the last good length) before the records are
        // written again, in order, by the next attempt: they go back in front of the queue.
        dirty = true;
        queue = batch.concat(queue);
        queuedBytes += bytes;
        const err = new RuntimeError(
          'RUNTIME_WAL_WRITE_FAILED',
          `write-ahead log write failed: ${(cause as Error).message}`,
          true,
          { cause },
        );
        opts.onError?.(err);
        for (const w of waiters.splice(0)) w.reject(err);
      } finally {
        flushing = undefined;
      }
      if (queue.length > 0) schedule(failing ? retryMs : opts.groupCommitMs);
    })();
    return flushing;
  }

  return {
    get writable() {
      return !failing && !closed;
    },
    get appendLsn() {
      return appendLsn;
    },
    append(samples) {
      if (closed) throw new RuntimeError('RUNTIME_CLOSED', 'write-ahead log is closed');
      const bytes = encodeWalRecord(samples);
      queue.push({ lsn: appendLsn, bytes });
      queuedBytes += bytes.length;
      appendLsn += bytes.length;
      schedule(queuedBytes > 1 << 20 ? 0 : opts.groupCommitMs);
    },
    sync() {
      const target = appendLsn;
      if (durableLsn >= target) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        waiters.push({ lsn: target, resolve, reject });
        schedule(failing ? retryMs : opts.groupCommitMs);
      });
    },
    truncateBefore(lsn) {
      const segments = listSegments(opts.dir);
      for (let i = 0; i + 1 < segments.length; i++) {
        const next = segments[i + 1] as number;
        if (next <= lsn && segments[i] !== segStart)
          unlinkSync(join(opts.dir, segName(segments[i] as number)));
      }
    },
    async close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      while (queue.length > 0 && !failing) await flush();
      if (flushing) await flushing;
      closed = true;
      await fh.close();
    },
  };
}

async function writevAll(fh: FileHandle, chunks: Uint8Array[]): Promise<void> {
  // writev may write partially; loop until every byte is written.
  let rest = chunks;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest.slice(0, 1024));
    let n = bytesWritten;
    let i = 0;
    while (i < rest.length && n >= (rest[i] as Uint8Array).length) n -= (rest[i++] as Uint8Array).length;
    rest = rest.slice(i);
    if (n > 0 && rest.length > 0) rest = [(rest[0] as Uint8Array).subarray(n), ...rest.slice(1)];
  }
}

/** fsyncs a directory so a created or renamed file's entry is durable. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
