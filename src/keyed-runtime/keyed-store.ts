/**
 * The per-worker keyed state store: one entry per key (its state, last timestamp, timer), the
 * calls into the operator, processing-time timers, and the encoding of a key group's entries for
 * snapshots. Used by the worker thread (worker-main.ts) and, unchanged, by the in-process test
 * harness (harness.ts), so tests exercise the same code the workers run.
 */
import type { KeyedContext, KeyedOperator } from './types.js';
import type { WireError, WireOutput } from './protocol.js';

interface Entry<S> {
  readonly id: number;
  readonly key: string;
  readonly keyGroup: number;
  state: S | undefined;
  /** Event time and value of the last processed sample (ms). */
  lastTs: number;
  lastValue: number;
  /** Processing time of the last processed sample (ms), for TTL expiry. */
  lastSeenMs: number;
  timerAtMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Key-group snapshot format version (the operator's own state has `operator.stateVersion`). */
export const KEY_GROUP_FORMAT = 1;

export class KeyedStore<O, S> {
  private readonly entries = new Map<number, Entry<S>>();
  private readonly byGroup = new Map<number, Set<number>>();
  /** Ids of keys with a pending timer (so firing timers does not scan every key). */
  private readonly timed = new Set<number>();
  private current: Entry<S> | undefined;
  private readonly ctx: KeyedContext<S>;
  private outputs: WireOutput[] = [];
  private errors: WireError[] = [];
  private readonly emit = (out: O): void => {
    const e = this.current;
    if (e) this.outputs.push({ key: e.key, keyGroup: e.keyGroup, output: out });
  };

  constructor(
    readonly operator: KeyedOperator<O, S>,
    private readonly clock: () => number,
  ) {
    // One context object, re-pointed at each call's entry (valid only during that call).
    const cur = (): Entry<S> => this.cur();
    const timed = this.timed;
    const release = (st: S): void => this.operator.release?.(st);
    this.ctx = {
      get key() {
        return cur().key;
      },
      get keyGroup() {
        return cur().keyGroup;
      },
      get state() {
        return cur().state;
      },
      setState(next) {
        const e = cur();
        if (e.state !== undefined && e.state !== next) release(e.state);
        e.state = next;
      },
      setTimer(atMs) {
        const e = cur();
        e.timerAtMs = atMs;
        timed.add(e.id);
      },
    };
  }

  private cur(): Entry<S> {
    if (!this.current) throw new Error('KeyedContext used outside an operator call (do not store it)');
    return this.current;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Registers a key under a worker-local id (idempotent). */
  addKey(id: number, key: string, keyGroup: number, lastTs = -Infinity, lastValue = NaN, state?: S): void {
    if (this.entries.has(id)) {
      if (state !== undefined) this.operator.release?.(state);
      return;
    }
    this.entries.set(id, {
      id,
      key,
      keyGroup,
      state,
      lastTs,
      lastValue,
      lastSeenMs: this.clock(),
      timerAtMs: Infinity,
    });
    let g = this.byGroup.get(keyGroup);
    if (!g) this.byGroup.set(keyGroup, (g = new Set()));
    g.add(id);
  }

  /**
   * Processes one sample of key `id`. Returns false when the sample was not after the key's
   * last timestamp (a replayed sample) and was dropped. `nowMs` is the processing time the key is
   * marked as seen at (for expiry): a batch passes one reading of the clock for all its samples.
   */
  process(id: number, tsMs: number, value: number, nowMs: number = this.clock()): boolean {
    const e = this.entries.get(id);
    if (!e) {
      this.errors.push({ code: 'RUNTIME_UNKNOWN_KEY', message: `no key with id ${id}` });
      return false;
    }
    if (!(tsMs > e.lastTs)) return false;
    e.lastTs = tsMs;
    e.lastValue = value;
    e.lastSeenMs = nowMs;
    this.current = e;
    try {
      this.operator.process(tsMs, value, this.ctx, this.emit);
    } catch (err) {
      this.errors.push({
        code: 'RUNTIME_OPERATOR_FAILED',
        message: String((err as Error)?.message ?? err),
        key: e.key,
      });
    } finally {
      this.current = undefined;
    }
    return true;
  }

  /** Fires the timers due at `nowMs`. */
  fireTimers(nowMs: number): void {
    if (!this.operator.onTimer) return;
    for (const id of [...this.timed]) {
      const e = this.entries.get(id);
      if (!e) {
        this.timed.delete(id);
        continue;
      }
      if (e.timerAtMs > nowMs) continue;
      e.timerAtMs = Infinity;
      this.timed.delete(id);
      this.current = e;
      try {
        this.operator.onTimer(nowMs, this.ctx, this.emit);
      } catch (err) {
        this.errors.push({
          code: 'RUNTIME_OPERATOR_FAILED',
          message: String((err as Error)?.message ?? err),
          key: e.key,
        });
      } finally {
        this.current = undefined;
      }
    }
  }

  /** Takes the outputs and errors produced since the last call. */
  drain(): { outputs: WireOutput[]; errors: WireError[] } {
    const r = { outputs: this.outputs, errors: this.errors };
    this.outputs = [];
    this.errors = [];
    return r;
  }

  query(id: number, q: unknown): unknown {
    const e = this.entries.get(id);
    if (!e || !this.operator.query) return undefined;
    this.current = e;
    try {
      return this.operator.query(q, this.ctx);
    } finally {
      this.current = undefined;
    }
  }

  /** Asks every key; returns up to `limit` non-undefined answers with their keys. */
  queryAll(q: unknown, limit: number): { key: string; result: unknown }[] {
    const out: { key: string; result: unknown }[] = [];
    if (!this.operator.query) return out;
    for (const e of this.entries.values()) {
      this.current = e;
      try {
        const r = this.operator.query(q, this.ctx);
        if (r !== undefined) out.push({ key: e.key, result: r });
      } finally {
        this.current = undefined;
      }
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Key groups this store holds keys for. */
  keyGroups(): number[] {
    return [...this.byGroup.keys()].sort((a, b) => a - b);
  }

  /**
   * Encodes the entries of one key group:
   * `u32 format | u32 count | count × (u32 keyLen, key UTF-8, f64 lastTs, f64 lastValue, u32 stateLen, state)`.
   * A key whose state is undefined is written with stateLen 0xffffffff.
   */
  encodeKeyGroup(keyGroup: number): { bytes: Uint8Array; keys: number } {
    const bytes = new Uint8Array(this.keyGroupByteLength(keyGroup));
    return { bytes, keys: this.encodeKeyGroupInto(keyGroup, bytes, 0) };
  }

  /** Length of {@link encodeKeyGroup}'s bytes for `keyGroup` now. */
  keyGroupByteLength(keyGroup: number): number {
    const codec = this.operator.codec;
    let size = 8;
    for (const id of this.byGroup.get(keyGroup) ?? []) {
      const e = this.entries.get(id);
      if (!e) continue;
      size += entryHeadBytes(e.key);
      if (e.state !== undefined)
        size += codec.byteLength ? codec.byteLength(e.state) : codec.encode(e.state).length;
    }
    return size;
  }

  /**
   * Writes {@link encodeKeyGroup}'s bytes at `out[offset…offset + keyGroupByteLength(keyGroup))`
   * (a snapshot writes every group of a chunk into one reused buffer); returns the keys written.
   */
  encodeKeyGroupInto(keyGroup: number, out: Uint8Array, offset: number): number {
    const codec = this.operator.codec;
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    let o = offset + 8;
    let keys = 0;
    for (const id of this.byGroup.get(keyGroup) ?? []) {
      const e = this.entries.get(id);
      if (!e) continue;
      if (e.state === undefined) {
        o = writeEntryHead(out, dv, o, e, NO_STATE);
      } else if (codec.byteLength && codec.encodeInto) {
        const n = codec.byteLength(e.state);
        o = writeEntryHead(out, dv, o, e, n);
        codec.encodeInto(e.state, out, o);
        o += n;
      } else {
        const bytes = codec.encode(e.state);
        o = writeEntryHead(out, dv, o, e, bytes.length);
        out.set(bytes, o);
        o += bytes.length;
      }
      keys++;
    }
    dv.setUint32(offset, KEY_GROUP_FORMAT, true);
    dv.setUint32(offset + 4, keys, true);
    return keys;
  }

  /** Forgets every key of the given key groups (their partition moved elsewhere). */
  dropKeyGroups(keyGroups: readonly number[]): void {
    for (const g of keyGroups) {
      for (const id of this.byGroup.get(g) ?? []) {
        const e = this.entries.get(id);
        if (e?.state !== undefined) this.operator.release?.(e.state);
        this.entries.delete(id);
        this.timed.delete(id);
      }
      this.byGroup.delete(g);
    }
  }

  /** Forgets keys not seen (processing time) since `olderThanMs`; returns their keys. */
  expire(olderThanMs: number): string[] {
    const gone: string[] = [];
    for (const [id, e] of this.entries) {
      if (e.lastSeenMs >= olderThanMs) continue;
      if (e.state !== undefined) this.operator.release?.(e.state);
      this.entries.delete(id);
      this.timed.delete(id);
      this.byGroup.get(e.keyGroup)?.delete(id);
      gone.push(e.key);
    }
    return gone;
  }

  /** The state of key `id` (tests and queries). */
  stateOf(id: number): S | undefined {
    return this.entries.get(id)?.state;
  }
}

/** One entry decoded from a key-group blob (`state` is a view into the blob). */
export interface DecodedEntry {
  readonly key: string;
  readonly lastTs: number;
  readonly lastValue: number;
  readonly state: Uint8Array | undefined;
}

/** Decodes a blob written by {@link KeyedStore.encodeKeyGroup}; throws RangeError on a malformed blob. */
export function decodeKeyGroup(bytes: Uint8Array): DecodedEntry[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 8) throw new RangeError('key-group blob shorter than its header');
  const format = dv.getUint32(0, true);
  if (format !== KEY_GROUP_FORMAT)
    throw new RangeError(`key-group format ${format}, expected ${KEY_GROUP_FORMAT}`);
  const count = dv.getUint32(4, true);
  const out: DecodedEntry[] = [];
  let o = 8;
  for (let i = 0; i < count; i++) {
    if (o + 4 > bytes.byteLength) throw new RangeError(`key-group blob truncated at entry ${i}`);
    const keyLen = dv.getUint32(o, true);
    if (o + 4 + keyLen + 20 > bytes.byteLength)
      throw new RangeError(`key-group blob truncated at entry ${i}`);
    const key = decoder.decode(bytes.subarray(o + 4, o + 4 + keyLen));
    o += 4 + keyLen;
    const lastTs = dv.getFloat64(o, true);
    const lastValue = dv.getFloat64(o + 8, true);
    const stateLen = dv.getUint32(o + 16, true);
    o += 20;
    let state: Uint8Array | undefined;
    if (stateLen !== NO_STATE) {
      if (o + stateLen > bytes.byteLength)
        throw new RangeError(`key-group blob truncated in the state of ${key}`);
      state = bytes.subarray(o, o + stateLen);
      o += stateLen;
    }
    out.push({ key, lastTs, lastValue, state });
  }
  return out;
}

/** One series as stored in a key-group blob. */
export interface KeyGroupEntry {
  readonly key: string;
  readonly lastTs: number;
  readonly lastValue: number;
  /** The operator's encoded state, or undefined when the key has none. */
  readonly state: Uint8Array | undefined;
}

/**
 * Encodes a key group's entries:
 * `u32 format | u32 count | count × (u32 keyLen, key UTF-8, f64 lastTs, f64 lastValue, u32 stateLen, state)`;
 * a key without state has stateLen 0xffffffff. {@link decodeKeyGroup} reads it back.
 */
export function encodeKeyGroupEntries(entries: readonly KeyGroupEntry[]): Uint8Array {
  let size = 8;
  for (const e of entries) size += entryHeadBytes(e.key) + (e.state?.length ?? 0);
  const bytes = new Uint8Array(size);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, KEY_GROUP_FORMAT, true);
  dv.setUint32(4, entries.length, true);
  let o = 8;
  for (const e of entries) {
    o = writeEntryHead(bytes, dv, o, e, e.state ? e.state.length : NO_STATE);
    if (e.state) {
      bytes.set(e.state, o);
      o += e.state.length;
    }
  }
  return bytes;
}

/** stateLen of a key without state. */
const NO_STATE = 0xffffffff;

/** Bytes of an entry before its state: u32 keyLen, key UTF-8, f64 lastTs, f64 lastValue, u32 stateLen. */
function entryHeadBytes(key: string): number {
  return 4 + Buffer.byteLength(key, 'utf8') + 20;
}

/** Writes an entry's head at `o` (`dv` views all of `out`); returns the offset of its state. */
function writeEntryHead(
  out: Uint8Array,
  dv: DataView,
  o: number,
  e: { readonly key: string; readonly lastTs: number; readonly lastValue: number },
  stateLen: number,
): number {
  const { written } = encoder.encodeInto(e.key, out.subarray(o + 4));
  dv.setUint32(o, written, true);
  o += 4 + written;
  dv.setFloat64(o, e.lastTs, true);
  dv.setFloat64(o + 8, e.lastValue, true);
  dv.setUint32(o + 16, stateLen, true);
  return o + 20;
}
