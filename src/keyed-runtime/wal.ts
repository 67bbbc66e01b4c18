/**
 * The write-ahead log: what makes an ingest acknowledgement survive `kill -9`.
 *
 * Accepted samples are appended (in memory, synchronously, in the order they were routed) and
 * written + fdatasync'ed in groups (group commit: one write and one fsync for everything appended
 * while the previous group was being written, and within `groupCommitMs` when that is above 0).
 * An acknowledgement waits for `sync()`: durable through everything appended so far. On restart,
 * records at or after the last checkpoint's position are replayed.
 *
 * Layout: `dir/<firstLsn as 20 digits>.wal` segments; a record is
 * `u32 payloadLength | u32 crc32(payload) | payload`. Payload (format 2): `u32 0x80000000 | count`,
 * `u32 definitions`, definitions × `(u32 id, u32 keyLength, key UTF-8)`, then count ×
 * `(u32 id, f64 ts, f64 value)`: a key is written once per segment, the first time it appears,
 * and referred to by a number after that (a sample is 20 bytes instead of ~60, and its key is not
 * encoded again: bench:throughput). Ids are per segment; every writer session starts a segment.
 * Format 1 (read, no longer written): `u32 count` (high bit clear), count ×
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
  /**
   * How long a group waits for more records before it is written and fsynced, ms; 0: it is written
   * on the next turn of the event loop, and records appended meanwhile form the next group.
   */
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
  /**
   * Appends one record (synchronously, in memory). `refs[i]`, when given, is the series reference
   * of `samples[i]` (the runtime's `OfferResult.refs`): its id in the segment is kept there, so a
   * key is looked up once per segment instead of once per sample.
   */
  append(samples: readonly KeyedSample[], refs?: readonly WalSeriesRef[]): void;
  /** Resolves when everything appended so far is on disk; rejects (retryable) if the write failed. */
  sync(): Promise<void>;
  /** Deletes segments that only hold records before `lsn` (a durable checkpoint covers them). */
  truncateBefore(lsn: number): void;
  close(): Promise<void>;
}

interface Pending {
  readonly lsn: number;
  readonly bytes: Uint8Array;
  /** The record is the first of a new segment (its definitions start from an empty table). */
  readonly startsSegment: boolean;
}

/** High bit of a payload's first word: format 2 (keys by per-segment id). */
const FORMAT2 = 0x80000000;

function segName(lsn: number): string {
  return `${String(lsn).padStart(20, '0')}.wal`;
}

function listSegments(dir: string): number[] {
  return readdirSync(dir)
    .filter((f) => /^\d{20}\.wal$/.test(f))
    .map((f) => Number(f.slice(0, 20)))
    .sort((a, b) => a - b);
}

/**
 * A series' id in the segment being appended to, remembered by the caller between appends (the
 * runtime's route of the series): `walSegment` is the serial of the key table that assigned
 * `walId` (−1: none). A reference from an older table is simply looked up again.
 */
export interface WalSeriesRef {
  walSegment: number;
  walId: number;
}

let tableSerial = 0;

/**
 * The keys of one segment by id, for format-2 records: `idOf` returns a key's id, defining it
 * (for the next record's definitions) when the segment has not seen it. Holds every key of the
 * segment (a map entry per series, shared key strings) until the segment ends.
 */
class WalKeyTable {
  /** Tells this table from every other one of the process (see {@link WalSeriesRef}). */
  readonly serial = ++tableSerial;
  private readonly ids = new Map<string, number>();
  private newKeys: string[] = [];
  private newBytes = 0;

  idOf(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(key, id);
      this.newKeys.push(key);
      this.newBytes += 8 + Buffer.byteLength(key, 'utf8');
    }
    return id;
  }

  /** Writes the keys defined since the last call at `buf[o…)`; returns the offset after them. */
  writeDefinitions(buf: Buffer, o: number): number {
    buf.writeUInt32LE(this.newKeys.length, o);
    o += 4;
    for (const key of this.newKeys) {
      buf.writeUInt32LE(this.ids.get(key) as number, o);
      const n = buf.write(key, o + 8, 'utf8');
      buf.writeUInt32LE(n, o + 4);
      o += 8 + n;
    }
    this.newKeys = [];
    this.newBytes = 0;
    return o;
  }

  /** Bytes the pending definitions take. */
  get definitionBytes(): number {
    return 4 + this.newBytes;
  }
}

/** Encodes one format-2 record (header + payload) against a segment's key table. */
function encodeWalRecord2(
  samples: readonly KeyedSample[],
  refs: readonly WalSeriesRef[] | undefined,
  table: WalKeyTable,
  ids: Int32Array,
): Uint8Array {
  if (refs) {
    const serial = table.serial;
    for (let i = 0; i < samples.length; i++) {
      const ref = refs[i] as WalSeriesRef;
      if (ref.walSegment !== serial) {
        ref.walId = table.idOf((samples[i] as KeyedSample).key);
        ref.walSegment = serial;
      }
      ids[i] = ref.walId;
    }
  } else for (let i = 0; i < samples.length; i++) ids[i] = table.idOf((samples[i] as KeyedSample).key);
  const size = 8 + 4 + table.definitionBytes + 20 * samples.length;
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32LE((FORMAT2 | samples.length) >>> 0, 8);
  let o = table.writeDefinitions(buf, 12);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as KeyedSample;
    buf.writeUInt32LE(ids[i] as number, o);
    buf.writeDoubleLE(s.ts, o + 4);
    buf.writeDoubleLE(s.value, o + 12);
    o += 20;
  }
  buf.writeUInt32LE(size - 8, 0);
  buf.writeUInt32LE(crc32(buf.subarray(8)), 4);
  return buf;
}

/**
 * Encodes one format-1 record (header + payload), keys written in place as UTF-8: no longer
 * written by the log, still read (tests write old segments with it).
 */
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
    /** Format-2 keys of this segment by id. */
    const keys: string[] = [];
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
      const p = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      const first = len >= 4 ? p.getUint32(0, true) : 0;
      let out: KeyedSample[] | undefined;
      if (first >= FORMAT2) {
        // Definitions count for every later record of the segment, replayed or not.
        const count = first - FORMAT2;
        const defs = p.getUint32(4, true);
        let q = 8;
        for (let d = 0; d < defs; d++) {
          const id = p.getUint32(q, true);
          const kl = p.getUint32(q + 4, true);
          if (id !== keys.length) bad(`key definition ${id} out of sequence (expected ${keys.length})`);
          keys.push(decoder.decode(payload.subarray(q + 8, q + 8 + kl)));
          q += 8 + kl;
        }
        if (lsn >= fromLsn) {
          out = [];
          for (let i = 0; i < count; i++) {
            const id = p.getUint32(q, true);
            const key = keys[id];
            if (key === undefined) bad(`sample refers to undefined key ${id}`);
            out.push({
              key: key as string,
              ts: p.getFloat64(q + 4, true),
              value: p.getFloat64(q + 12, true),
            });
            q += 20;
          }
        }
      } else if (lsn >= fromLsn) {
        out = [];
        const count = first;
        let q = 4;
        for (let i = 0; i < count; i++) {
          const kl = p.getUint32(q, true);
          const key = decoder.decode(payload.subarray(q + 4, q + 4 + kl));
          q += 4 + kl;
          out.push({ key, ts: p.getFloat64(q, true), value: p.getFloat64(q + 8, true) });
          q += 16;
        }
      }
      if (out) {
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
  const lastSize = lastStart === undefined ? 0 : statSync(join(opts.dir, segName(lastStart))).size;
  let appendLsn = (lastStart ?? 0) + lastSize;
  // A session writes its own segments (its key ids start from an empty table); an empty last
  // segment is reused.
  let segStart = lastSize === 0 ? (lastStart ?? 0) : appendLsn;
  let segSize = 0;
  let fh: FileHandle = await open(join(opts.dir, segName(segStart)), 'a');
  syncDir(opts.dir);
  const segmentBytes = opts.segmentBytes ?? SEGMENT_BYTES;
  /** Key table and size of the segment the next appended record goes to. */
  let table = new WalKeyTable();
  let appendSegBytes = 0;
  let ids = new Int32Array(1024);
  let queue: Pending[] = [];
  let queuedBytes = 0;
  let flushing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  let failing = false;
  /** A failed write may have left a partial record past segSize: cut it before writing again. */
  let dirty = false;
  let closed = false;
  let waiters: { lsn: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  let durableLsn = appendLsn;
  const retryMs = opts.retryMs ?? 1000;

  function schedule(delay: number): void {
    if (timer || flushing || closed) return;
    const run = (): void => {
      timer = undefined;
      void flush();
    };
    // 0: on the next turn of the event loop (what the current tick appends joins the group).
    timer = delay > 0 ? setTimeout(run, delay) : setImmediate(run);
  }

  async function flush(): Promise<void> {
    if (flushing) return flushing;
    if (queue.length === 0) return;
    flushing = (async () => {
      // Take the queued records out: appends during the write go to a fresh queue and wait for
      // the next group (counting them as written here would acknowledge unwritten data).
      let batch = queue;
      let bytes = queuedBytes;
      queue = [];
      queuedBytes = 0;
      const t0 = process.hrtime.bigint();
      try {
        if (dirty) {
          await fh.truncate(segSize);
          dirty = false;
        }
        // One write + fdatasync per segment the group touches: a record that starts a segment
        // (decided at append, where its key ids were assigned) rolls to a new file first.
        while (batch.length > 0) {
          const head = batch[0] as Pending;
          if (head.startsSegment && head.lsn !== segStart) {
            // Everything written to the old segment is already fdatasync'ed (per chunk). Open the
            // new file first: if that fails, the old handle stays usable for the retry.
            const next = await open(join(opts.dir, segName(head.lsn)), 'a');
            await fh.close().catch(() => undefined);
            fh = next;
            segStart = head.lsn;
            segSize = 0;
            syncDir(opts.dir);
          }
          let end = 1;
          while (end < batch.length && !(batch[end] as Pending).startsSegment) end++;
          const chunk = end === batch.length ? batch : batch.slice(0, end);
          let chunkBytes = 0;
          for (const r of chunk) chunkBytes += r.bytes.length;
          await writevAll(
            fh,
            chunk.map((r) => r.bytes),
          );
          await fh.datasync();
          segSize += chunkBytes;
          const last = chunk[chunk.length - 1] as Pending;
          durableLsn = last.lsn + last.bytes.length;
          batch = end === batch.length ? [] : batch.slice(end);
          bytes -= chunkBytes;
          failing = false;
          opts.onCommit?.(chunkBytes, Number(process.hrtime.bigint() - t0) / 1e9);
          const keep: typeof waiters = [];
          for (const w of waiters) (w.lsn <= durableLsn ? w.resolve : () => keep.push(w))();
          waiters = keep;
        }
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
    append(samples, refs) {
      if (closed) throw new RuntimeError('RUNTIME_CLOSED', 'write-ahead log is closed');
      let startsSegment = false;
      if (appendSegBytes >= segmentBytes) {
        table = new WalKeyTable();
        appendSegBytes = 0;
        startsSegment = true;
      }
      if (ids.length < samples.length) ids = new Int32Array(2 * samples.length);
      const bytes = encodeWalRecord2(samples, refs, table, ids);
      appendSegBytes += bytes.length;
      queue.push({ lsn: appendLsn, bytes, startsSegment });
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
      if (timer) {
        clearTimeout(timer as NodeJS.Timeout);
        clearImmediate(timer as NodeJS.Immediate);
      }
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
