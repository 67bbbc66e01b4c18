/**
 * Partition snapshots in a compacted Kafka topic (Kafka Streams keeps its changelogs the same way):
 * state topic partition p holds the snapshots of input partition p's key groups, so whichever
 * member is assigned p restores p's state from Kafka, not from another member's disk.
 *
 * One snapshot = N chunk records, then one manifest record, all in state partition p:
 *
 *     key  vigil.v1/p<p>/<writer>/<seq>/<i>   value: bytes [i·chunk, (i+1)·chunk) of the stream
 *     key  vigil.v1/p<p>/<writer>/<seq>/m     value: manifest JSON (below)
 *
 * The stream is `"VGPS" | u32 format (1) | u32 groups | groups × (u32 keyGroup, u32 length,
 * u32 crc32)` followed by the key-group blobs in that order (little-endian; the blobs are the keyed
 * runtime's key-group snapshots). Chunks stay below the brokers' message.max.bytes (~1 MB by
 * default): each is produced alone, because a broker limits a whole record batch.
 *
 * Manifest: `{ format: 1, partition, partitions, keyGroups, operator, stateVersion, writer, seq,
 * epoch, createdAt, offsets: { <input topic>: <next offset> }, bytes, chunks: [{ offset, bytes,
 * crc }] }`; `offsets` are the input positions the snapshot covers (every record before them is in
 * it, none after).
 *
 * The snapshot becomes current only when the consumer group commits the input offsets with the
 * pointer as their metadata, in one OffsetCommit: `{"v":1,"f":<first chunk offset>,
 * "m":<manifest offset>,"w":<writer>,"s":<seq>,"e":<epoch>,"c":<chunks>}`. The group coordinator
 * refuses commits from a member fenced by a rebalance, so the committed (offset, pointer) pair is
 * always one consistent cut written by a legitimate owner; a zombie's records are garbage nobody
 * points to. Superseded snapshots are deleted with tombstones after the next successful commit;
 * the topic is created with `min.compaction.lag.ms` so a tombstone never removes records a
 * concurrent restore is still reading.
 */
import { crc32 } from 'node:zlib';
import { KafkaIngestError } from './errors.js';
import type { KafkaRecord, PartitionReader, RecordProducer } from './client.js';

/** What a committed offset's metadata points at. */
export interface SnapshotPointer {
  readonly v: 1;
  /** Offset of the first chunk record. */
  readonly f: number;
  /** Offset of the manifest record. */
  readonly m: number;
  /** Writer id (random per process start). */
  readonly w: string;
  /** Writer's snapshot sequence number. */
  readonly s: number;
  /** Ownership epoch of the partition (1 + the epoch of the snapshot it was restored from). */
  readonly e: number;
  /** Number of chunks. */
  readonly c: number;
}

export interface PartitionManifest {
  readonly format: 1;
  readonly partition: number;
  readonly partitions: number;
  readonly keyGroups: number;
  readonly operator: string;
  readonly stateVersion: number;
  readonly writer: string;
  readonly seq: number;
  readonly epoch: number;
  readonly createdAt: string;
  /** Next input offset per topic that the snapshot covers. */
  readonly offsets: Readonly<Record<string, number>>;
  readonly bytes: number;
  readonly chunks: readonly { readonly offset: number; readonly bytes: number; readonly crc: number }[];
}

/** Topic configs for a state topic Vigil creates. */
export const STATE_TOPIC_CONFIGS: Readonly<Record<string, string>> = {
  'cleanup.policy': 'compact',
  // Tombstones take effect no sooner than this: a restore reading an older snapshot has 10 minutes.
  'min.compaction.lag.ms': '600000',
  'delete.retention.ms': '86400000',
  'segment.bytes': String(64 * 1024 * 1024),
  'max.message.bytes': String(8 * 1024 * 1024),
};

const MAGIC = 0x53504756; // "VGPS" little-endian
const STREAM_FORMAT = 1;
const PREFIX = 'vigil.v1';

/** The record keys of one snapshot: chunk keys, then the manifest key. */
export function snapshotKeys(partition: number, writer: string, seq: number, chunks: number): string[] {
  const keys: string[] = [];
  for (let i = 0; i < chunks; i++) keys.push(`${PREFIX}/p${partition}/${writer}/${seq}/${i}`);
  keys.push(`${PREFIX}/p${partition}/${writer}/${seq}/m`);
  return keys;
}

/** The offset metadata of a snapshot pointer. */
export function encodePointer(p: SnapshotPointer): string {
  return JSON.stringify(p);
}

/** Parses offset metadata; undefined when it is not a Vigil pointer (no snapshot yet, or another tool's). */
export function decodePointer(metadata: string | null | undefined): SnapshotPointer | undefined {
  if (!metadata) return undefined;
  try {
    const p = JSON.parse(metadata) as Partial<SnapshotPointer>;
    if (
      p.v === 1 &&
      Number.isSafeInteger(p.f) &&
      Number.isSafeInteger(p.m) &&
      typeof p.w === 'string' &&
      Number.isSafeInteger(p.s) &&
      Number.isSafeInteger(p.e) &&
      Number.isSafeInteger(p.c)
    )
      return p as SnapshotPointer;
  } catch {
    // Not JSON: metadata written by something else; treated as "no snapshot".
  }
  return undefined;
}

/** The stream of one partition's key groups (header + blobs), as chunks of at most `chunkBytes`. */
function chunkStream(
  groups: ReadonlyMap<number, Uint8Array>,
  chunkBytes: number,
): { chunks: Buffer[]; bytes: number } {
  const entries = [...groups].sort((a, b) => a[0] - b[0]);
  const header = Buffer.alloc(12 + entries.length * 12);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(STREAM_FORMAT, 4);
  header.writeUInt32LE(entries.length, 8);
  entries.forEach(([kg, blob], i) => {
    header.writeUInt32LE(kg, 12 + i * 12);
    header.writeUInt32LE(blob.length, 16 + i * 12);
    header.writeUInt32LE(crc32(blob), 20 + i * 12);
  });
  const parts: Uint8Array[] = [header, ...entries.map((e) => e[1])];
  const total = parts.reduce((n, p) => n + p.length, 0);
  const chunks: Buffer[] = [];
  let cur = Buffer.allocUnsafe(Math.min(chunkBytes, total));
  let fill = 0;
  let left = total;
  for (const part of parts) {
    let o = 0;
    while (o < part.length) {
      const n = Math.min(part.length - o, cur.length - fill);
      cur.set(part.subarray(o, o + n), fill);
      fill += n;
      o += n;
      if (fill === cur.length) {
        chunks.push(cur);
        left -= fill;
        cur = Buffer.allocUnsafe(Math.min(chunkBytes, left));
        fill = 0;
      }
    }
  }
  return { chunks, bytes: total };
}

/** What {@link writeSnapshot} needs besides the key groups. */
export interface SnapshotMeta {
  readonly partition: number;
  readonly partitions: number;
  readonly keyGroups: number;
  readonly operator: string;
  readonly stateVersion: number;
  readonly writer: string;
  readonly seq: number;
  readonly epoch: number;
  readonly offsets: Readonly<Record<string, number>>;
}

/**
 * Produces one partition snapshot (chunks, then the manifest) with acks=-1 and returns its pointer.
 * Nothing points to it until the caller commits the pointer.
 */
export async function writeSnapshot(
  producer: RecordProducer,
  topic: string,
  meta: SnapshotMeta,
  groups: ReadonlyMap<number, Uint8Array>,
  chunkBytes: number,
): Promise<{ pointer: SnapshotPointer; manifest: PartitionManifest; keys: string[] }> {
  const { chunks, bytes } = chunkStream(groups, chunkBytes);
  const keys = snapshotKeys(meta.partition, meta.writer, meta.seq, chunks.length);
  const written: { offset: number; bytes: number; crc: number }[] = [];
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i] as Buffer;
    const [offset] = await producer.send(topic, [
      {
        key: keys[i] as string,
        value: chunk,
        partition: meta.partition,
        headers: { 'vigil-state': 'chunk' },
      },
    ]);
    written.push({ offset: offset ?? -1, bytes: chunk.length, crc: crc32(chunk) });
  }
  const manifest: PartitionManifest = {
    format: 1,
    ...meta,
    createdAt: new Date().toISOString(),
    bytes,
    chunks: written,
  };
  const [m] = await producer.send(topic, [
    {
      key: keys[chunks.length] as string,
      value: JSON.stringify(manifest),
      partition: meta.partition,
      headers: { 'vigil-state': 'manifest' },
    },
  ]);
  const pointer: SnapshotPointer = {
    v: 1,
    f: written[0]?.offset ?? m ?? -1,
    m: m ?? -1,
    w: meta.writer,
    s: meta.seq,
    e: meta.epoch,
    c: chunks.length,
  };
  return { pointer, manifest, keys };
}

/** Produces tombstones for `keys` (deleting superseded snapshots once compaction runs). */
export async function deleteSnapshotRecords(
  producer: RecordProducer,
  topic: string,
  partition: number,
  keys: readonly string[],
): Promise<void> {
  if (keys.length === 0) return;
  await producer.send(
    topic,
    keys.map((key) => ({ key, value: null, partition })),
  );
}

/**
 * Reads the snapshot `pointer` names from state partition `partition` and verifies every record
 * (key, offset, checksum). Throws KafkaIngestError INGEST_KAFKA_STATE_UNREADABLE naming what is
 * missing or damaged, INGEST_KAFKA_TIMEOUT when the read did not finish.
 */
export async function readSnapshot(
  reader: PartitionReader,
  partition: number,
  pointer: SnapshotPointer,
  timeoutMs: number,
): Promise<{ manifest: PartitionManifest; groups: Map<number, Uint8Array> }> {
  const where = `state partition ${partition}, snapshot ${pointer.w}/${pointer.s} (offsets ${pointer.f}..${pointer.m})`;
  const fail = (why: string): never => {
    throw new KafkaIngestError('INGEST_KAFKA_STATE_UNREADABLE', `${where}: ${why}`);
  };
  const records = await reader.read(partition, pointer.f, pointer.m, timeoutMs);
  const byOffset = new Map<number, KafkaRecord>();
  for (const r of records) byOffset.set(Number(r.offset), r);
  const keys = snapshotKeys(partition, pointer.w, pointer.s, pointer.c);
  const mrec = byOffset.get(pointer.m);
  if (!mrec?.value)
    return fail(`manifest record at offset ${pointer.m} is missing (compacted away or deleted?)`);
  if (mrec.key?.toString() !== keys[pointer.c])
    return fail(`offset ${pointer.m} holds ${mrec.key?.toString()}, not the manifest`);
  let manifest: PartitionManifest;
  try {
    manifest = JSON.parse(mrec.value.toString('utf8')) as PartitionManifest;
  } catch {
    return fail('the manifest is not JSON');
  }
  if (manifest.format !== 1) fail(`manifest format ${String(manifest.format)}, this Vigil reads 1`);
  if (manifest.epoch !== pointer.e || manifest.seq !== pointer.s || manifest.writer !== pointer.w)
    fail('the manifest does not match the committed pointer');
  if (manifest.chunks.length !== pointer.c)
    fail(`manifest lists ${manifest.chunks.length} chunks, pointer ${pointer.c}`);
  const parts: Buffer[] = [];
  manifest.chunks.forEach((c, i) => {
    const rec = byOffset.get(c.offset);
    if (!rec?.value) return fail(`chunk ${i} at offset ${c.offset} is missing`);
    if (rec.key?.toString() !== keys[i])
      return fail(`offset ${c.offset} holds ${rec.key?.toString()}, not chunk ${i}`);
    if (rec.value.length !== c.bytes || crc32(rec.value) !== c.crc)
      return fail(`chunk ${i} checksum mismatch`);
    parts.push(rec.value);
  });
  const stream = Buffer.concat(parts);
  if (stream.length !== manifest.bytes || stream.length < 12)
    fail(`stream is ${stream.length} bytes, manifest says ${manifest.bytes}`);
  if (stream.readUInt32LE(0) !== MAGIC || stream.readUInt32LE(4) !== STREAM_FORMAT) fail('bad stream header');
  const n = stream.readUInt32LE(8);
  let o = 12 + n * 12;
  if (o > stream.length) fail('truncated stream header');
  const groups = new Map<number, Uint8Array>();
  for (let i = 0; i < n; i++) {
    const kg = stream.readUInt32LE(12 + i * 12);
    const len = stream.readUInt32LE(16 + i * 12);
    const crc = stream.readUInt32LE(20 + i * 12);
    if (o + len > stream.length) fail(`key group ${kg} is truncated`);
    const blob = new Uint8Array(stream.buffer, stream.byteOffset + o, len);
    if (crc32(blob) !== crc) fail(`key group ${kg} checksum mismatch`);
    groups.set(kg, blob);
    o += len;
  }
  return { manifest, groups };
}
