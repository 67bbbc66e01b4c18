/**
 * Checkpoint files: a snapshot of every key group's state plus the source positions it covers
 * (the WAL LSN, and Kafka offsets when Kafka feeds the node). Streamed in both directions, so a
 * checkpoint of a million series (gigabytes) never sits in one buffer.
 *
 * File `dir/ckpt-<id as 12 digits>.vgc`:
 *   "VIGILCKP" | u32 format version
 *   | blobs, one per key group, back to back
 *   | footer JSON (meta + per group: key group, offset, length, crc32, keys, walLsn)
 *   | u32 footer length | u32 crc32(footer) | "VIGILEND"
 * Written to a `.tmp` file, fsynced, renamed, and the directory fsynced: a checkpoint either
 * exists whole or not at all. The newest `retain` checkpoints are kept.
 *
 * Each key group carries the WAL LSN at which it was snapshotted: key groups are snapshotted a
 * few at a time (bounded memory), so the file is not one instant, but every group is exact at
 * its own LSN. Recovery replays the WAL from the smallest LSN; the samples a group already holds
 * are not after its series' last timestamps and are dropped as replays.
 *
 * Loading never falls back to empty state silently: a damaged checkpoint is reported
 * (RUNTIME_CHECKPOINT_UNREADABLE, naming the file and the reason); the caller may then use the
 * previous one, which the WAL still covers.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, unlinkSync } from 'node:fs';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { RuntimeError } from './errors.js';
import { syncDir } from './wal.js';

const MAGIC = 'VIGILCKP';
const END = 'VIGILEND';
export const CHECKPOINT_FORMAT = 2;

export interface CheckpointMeta {
  readonly id: number;
  readonly createdAt: string;
  /** Operator name and state version; a checkpoint of another version is refused. */
  readonly operator: string;
  readonly stateVersion: number;
  readonly keyGroups: number;
  /** Every WAL record before this LSN is in the snapshot (the smallest of the groups' LSNs). */
  readonly walLsn: number;
  /** Opaque source positions (e.g. Kafka offsets per topic-partition). */
  readonly sources: Readonly<Record<string, unknown>>;
  /** Series in the checkpoint. */
  readonly keys: number;
  /** Bytes of state. */
  readonly bytes: number;
}

export interface CheckpointGroupInfo {
  readonly kg: number;
  readonly offset: number;
  readonly length: number;
  readonly crc: number;
  readonly keys: number;
  readonly walLsn: number;
}

interface Footer extends CheckpointMeta {
  readonly groups: readonly CheckpointGroupInfo[];
}

/** A checkpoint's group, as read. */
export interface CheckpointGroup {
  readonly kg: number;
  readonly bytes: Uint8Array;
  readonly keys: number;
  readonly walLsn: number;
}

export interface LoadedCheckpoint {
  readonly meta: CheckpointMeta;
  readonly file: string;
  readonly groups: Map<number, Uint8Array>;
}

const fileName = (id: number): string => `ckpt-${String(id).padStart(12, '0')}.vgc`;

/** Checkpoint ids present in `dir`, newest first. */
export function listCheckpoints(dir: string): number[] {
  mkdirSync(dir, { recursive: true });
  return readdirSync(dir)
    .filter((f) => /^ckpt-\d{12}\.vgc$/.test(f))
    .map((f) => Number(f.slice(5, 17)))
    .sort((a, b) => b - a);
}

/** The footer (JSON) and the 16-byte tail that closes a checkpoint file. */
function footerBytes(
  meta: Omit<CheckpointMeta, 'keys' | 'bytes' | 'walLsn'> & { readonly walLsn?: number },
  groups: readonly CheckpointGroupInfo[],
): { json: Buffer; tail: Buffer } {
  let keys = 0;
  let bytes = 0;
  let walLsn = meta.walLsn ?? Infinity;
  for (const g of groups) {
    keys += g.keys;
    bytes += g.length;
    walLsn = Math.min(walLsn, g.walLsn);
  }
  if (!Number.isFinite(walLsn)) walLsn = 0;
  const footer: Footer = {
    ...meta,
    walLsn,
    keys,
    bytes,
    groups: [...groups].sort((a, b) => a.kg - b.kg),
  };
  const json = Buffer.from(JSON.stringify(footer));
  const tail = Buffer.alloc(16);
  tail.writeUInt32LE(json.length, 0);
  tail.writeUInt32LE(crc32(json), 4);
  tail.write(END, 8, 'latin1');
  return { json, tail };
}

/** The 12-byte file header. */
function headBytes(): Buffer {
  const head = Buffer.alloc(12);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(CHECKPOINT_FORMAT, 8);
  return head;
}

/**
 * Writes one checkpoint, a key group at a time (nothing is kept in memory), with asynchronous I/O:
 * the event loop keeps serving while it writes.
 */
export interface CheckpointWriter {
  /** Appends one key group's blob. */
  addGroup(kg: number, bytes: Uint8Array, keys: number, walLsn: number): Promise<void>;
  /** Writes the footer, fsyncs, renames into place; returns the file size. */
  finish(
    meta: Omit<CheckpointMeta, 'keys' | 'bytes' | 'walLsn'> & { readonly walLsn?: number },
  ): Promise<number>;
  /** Removes the partial file (after a failure). */
  abort(): Promise<void>;
}

/**
 * Starts writing checkpoint `id` in `dir` with asynchronous writes and fsync (what the running
 * pipeline uses: at 100k series a checkpoint is ~1.5 GB, and synchronous writes held the main
 * thread, so ingest and health checks, for seconds; at 1M series for minutes).
 */
export async function openCheckpointWriter(dir: string, id: number): Promise<CheckpointWriter> {
  const tmp = join(dir, `${fileName(id)}.tmp`);
  const wrap = (cause: unknown): RuntimeError =>
    new RuntimeError(
      'RUNTIME_CHECKPOINT_WRITE_FAILED',
      `cannot write checkpoint ${tmp}: ${(cause as Error).message}`,
      true,
      {
        cause,
      },
    );
  let fh: FileHandle;
  try {
    await mkdir(dir, { recursive: true });
    fh = await open(tmp, 'w');
  } catch (cause) {
    throw wrap(cause);
  }
  let pos = 0;
  let isOpen = true;
  const groups: CheckpointGroupInfo[] = [];
  const write = async (chunk: Uint8Array): Promise<void> => {
    let done = 0;
    while (done < chunk.length) done += (await fh.write(chunk, done, chunk.length - done)).bytesWritten;
    pos += chunk.length;
  };
  const writer: CheckpointWriter = {
    async addGroup(kg, bytes, keys, walLsn) {
      const offset = pos;
      try {
        await write(bytes);
      } catch (cause) {
        await writer.abort();
        throw wrap(cause);
      }
      groups.push({ kg, offset, length: bytes.length, crc: crc32(bytes), keys, walLsn });
    },
    async finish(meta) {
      const { json, tail } = footerBytes(meta, groups);
      try {
        await write(json);
        await write(tail);
        await fh.sync();
        await fh.close();
        isOpen = false;
        await rename(tmp, join(dir, fileName(meta.id)));
        syncDir(dir);
      } catch (cause) {
        await writer.abort();
        throw wrap(cause);
      }
      return pos;
    },
    async abort() {
      if (isOpen) {
        isOpen = false;
        await fh.close().catch(() => undefined); // already closed or broken: the unlink matters
      }
      // Best effort: a leftover .tmp is ignored by loading and removed by the next prune.
      await unlink(tmp).catch(() => undefined);
    },
  };
  try {
    await write(headBytes());
  } catch (cause) {
    await writer.abort();
    throw wrap(cause);
  }
  return writer;
}

/**
 * Writes a whole checkpoint from in-memory groups (tests and small states); every group gets
 * `meta.walLsn`. Returns the file size.
 */
export async function writeCheckpoint(
  dir: string,
  meta: Omit<CheckpointMeta, 'keys' | 'bytes'>,
  groups: ReadonlyMap<number, { bytes: Uint8Array; keys: number }> | ReadonlyMap<number, Uint8Array>,
): Promise<number> {
  const w = await openCheckpointWriter(dir, meta.id);
  for (const [kg, g] of [...groups].sort((a, b) => a[0] - b[0])) {
    if (g instanceof Uint8Array) await w.addGroup(kg, g, -1, meta.walLsn);
    else await w.addGroup(kg, g.bytes, g.keys, meta.walLsn);
  }
  return w.finish(meta);
}

/** Deletes all but the newest `retain` checkpoints (and stray .tmp files). */
export function pruneCheckpoints(dir: string, retain: number): void {
  for (const id of listCheckpoints(dir).slice(retain)) unlinkSync(join(dir, fileName(id)));
  for (const f of readdirSync(dir)) if (f.endsWith('.vgc.tmp')) unlinkSync(join(dir, f));
}

/** An open checkpoint: its metadata, and its groups read one at a time. */
export interface CheckpointReader {
  readonly file: string;
  readonly meta: CheckpointMeta;
  readonly groups: readonly CheckpointGroupInfo[];
  /**
   * Reads and verifies the groups (all, or those `filter` accepts), one at a time. With `reuse`,
   * every group is read into one buffer reused from group to group: a group's `bytes` are valid
   * only until the next one is read (a restore copies them out at once; reading each group into
   * a fresh buffer cost a full GC per 64 MB at a million series).
   */
  read(filter?: (kg: number) => boolean, reuse?: boolean): Generator<CheckpointGroup>;
  close(): void;
}

/** Opens checkpoint `id` and verifies its frame and footer. Throws RUNTIME_CHECKPOINT_UNREADABLE with the reason. */
export function openCheckpoint(dir: string, id: number): CheckpointReader {
  const file = join(dir, fileName(id));
  const fail = (why: string, cause?: unknown): never => {
    throw new RuntimeError(
      'RUNTIME_CHECKPOINT_UNREADABLE',
      `checkpoint ${file} is unreadable: ${why}`,
      false,
      { cause },
    );
  };
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (cause) {
    return fail((cause as Error).message, cause);
  }
  let scratch: Buffer | undefined;
  const readAt = (pos: number, len: number, reuse = false): Buffer => {
    let buf: Buffer;
    if (reuse) {
      if (!scratch || scratch.length < len) scratch = Buffer.allocUnsafeSlow(Math.ceil(len * 1.25));
      buf = scratch.subarray(0, len);
    } else buf = Buffer.allocUnsafe(len);
    let done = 0;
    while (done < len) {
      const n = readSync(fd, buf, done, len - done, pos + done);
      if (n === 0) fail(`truncated at byte ${pos + done}`);
      done += n;
    }
    return buf;
  };
  try {
    const size = fstatSync(fd).size;
    if (size < 28) fail('shorter than a checkpoint frame');
    const head = readAt(0, 12);
    if (head.toString('latin1', 0, 8) !== MAGIC) fail('not a Vigil checkpoint (bad magic)');
    const format = head.readUInt32LE(8);
    if (format !== CHECKPOINT_FORMAT) fail(`format version ${format}, this Vigil reads ${CHECKPOINT_FORMAT}`);
    const tail = readAt(size - 16, 16);
    if (tail.toString('latin1', 8, 16) !== END) fail('no end marker (truncated write?)');
    const flen = tail.readUInt32LE(0);
    if (flen > size - 28) fail('footer length out of range');
    const fbytes = readAt(size - 16 - flen, flen);
    if (crc32(fbytes) !== tail.readUInt32LE(4)) fail('footer checksum mismatch');
    let footer: Footer;
    try {
      footer = JSON.parse(fbytes.toString('utf8')) as Footer;
    } catch (cause) {
      return fail('footer is not JSON', cause);
    }
    const { groups, ...meta } = footer;
    const dataEnd = size - 16 - flen;
    for (const g of groups)
      if (g.offset < 12 || g.offset + g.length > dataEnd) fail(`key group ${g.kg} lies outside the data`);
    let closed = false;
    return {
      file,
      meta,
      groups,
      *read(filter, reuse) {
        for (const g of groups) {
          if (filter && !filter(g.kg)) continue;
          const bytes = readAt(g.offset, g.length, reuse);
          if (crc32(bytes) !== g.crc) fail(`key group ${g.kg} checksum mismatch`);
          yield {
            kg: g.kg,
            bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
            keys: g.keys,
            walLsn: g.walLsn,
          };
        }
      },
      close() {
        if (!closed) closeSync(fd);
        closed = true;
        scratch = undefined;
      },
    };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Reads and verifies a whole checkpoint into memory (tests, small states). */
export function readCheckpoint(dir: string, id: number): LoadedCheckpoint {
  const r = openCheckpoint(dir, id);
  try {
    const groups = new Map<number, Uint8Array>();
    for (const g of r.read()) groups.set(g.kg, g.bytes);
    return { meta: r.meta, file: r.file, groups };
  } finally {
    r.close();
  }
}
