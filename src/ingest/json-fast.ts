/**
 * The fast path of `POST /api/v1/samples`: decodes the request bytes directly, without building
 * a JSON object tree, and recognises a series it has seen before by its bytes (metric and labels
 * as sent), so that its checked labels and series key are not rebuilt for every sample.
 *
 * It is an optimisation with one rule: **it returns either exactly what `JSON.parse` (as fastify
 * runs it) followed by {@link decodeJsonSamples} returns, or `undefined`**, and the caller then
 * takes that slow path. It therefore handles only the common shape and gives up on anything
 * else: escapes or control characters in strings, unknown, duplicate or missing fields, a value of
 * another type, an item or series the checks would refuse, a key such as `__proto__`, more items
 * than allowed. Every refusal and its message come from the slow path, so they are the same
 * whichever path a request could have taken (test: json-fast.test.ts compares both on
 * generated bodies).
 *
 * Numbers: integers of up to 15 digits and decimals of up to 15 significant digits without an
 * exponent are exact here (m / 10^k with both operands exact is the correctly rounded result,
 * Clinger's fast path); others go through `Number()`, which rounds as `JSON.parse` does.
 *
 * Pure: no I/O; the cache is the caller's.
 */
import { isUtf8 } from 'node:buffer';
import { seriesKey, type Labels } from '../common/index.js';
import type { Sample } from './types.js';
import {
  checkLabels,
  checkMetricName,
  checkTimestamp,
  MIN_TIMESTAMP_MS,
  type SampleLimits,
} from './validate.js';

/** A checked series: what every sample of it shares. */
interface SeriesEntry {
  readonly metric: string;
  readonly labels: Labels;
  readonly key: string;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const D0 = 0x30;
const D9 = 0x39;

/** Exact powers of ten (10^0 … 10^22 are exactly representable doubles). */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** FNV-1a, 32 bits, over `buf[a, b)`, continuing from `h`. */
function fnv(buf: Uint8Array, a: number, b: number, h: number): number {
  for (let i = a; i < b; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  return h;
}
const FNV_BASIS = 0x811c9dc5 | 0;

/**
 * Values by byte strings (one range, or two joined by a marker byte): an open-addressing table
 * over an arena of those bytes. Bounded: when it holds `capacity` values it starts over.
 */
class BytesTable<V> {
  private slots = new Int32Array(0);
  private hashes = new Int32Array(0);
  private starts = new Int32Array(0);
  private lengths = new Int32Array(0);
  private values: V[] = [];
  private bytes = new Uint8Array(0);
  private view = new DataView(this.bytes.buffer);
  private used = 0;

  constructor(readonly capacity: number) {
    this.clear();
  }

  get size(): number {
    return this.values.length;
  }

  clear(): void {
    this.alloc(Math.min(1024, this.capacity), 64 * 1024);
  }

  private alloc(entries: number, bytes: number): void {
    this.slots = new Int32Array(2 * 2 ** Math.ceil(Math.log2(Math.max(2, entries))));
    this.hashes = new Int32Array(entries);
    this.starts = new Int32Array(entries);
    this.lengths = new Int32Array(entries);
    this.values = [];
    this.bytes = new Uint8Array(bytes);
    this.view = new DataView(this.bytes.buffer);
    this.used = 0;
  }

  /**
   * The value stored for bytes `buf[m0, m1)` and `buf[l0, l1)` (l0 = l1 = -1: none), with `h`
   * their {@link hashOf}; `view` is a DataView over `buf` (compares four bytes at a time).
   */
  get(
    buf: Uint8Array,
    view: DataView,
    m0: number,
    m1: number,
    l0: number,
    l1: number,
    h: number,
  ): V | undefined {
    const mask = this.slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = this.slots[i] as number;
      if (s === 0) return undefined;
      const e = s - 1;
      if (this.hashes[e] === h && this.equals(e, buf, view, m0, m1, l0, l1)) return this.values[e];
    }
  }

  private equals(
    e: number,
    buf: Uint8Array,
    view: DataView,
    m0: number,
    m1: number,
    l0: number,
    l1: number,
  ): boolean {
    const mLen = m1 - m0;
    const lLen = l1 - l0;
    if (this.lengths[e] !== mLen + 1 + lLen) return false;
    const j = this.starts[e] as number;
    if (!this.same(j, buf, view, m0, m1)) return false;
    if (this.bytes[j + mLen] !== (l0 < 0 ? 0 : 1)) return false;
    return l0 < 0 || this.same(j + mLen + 1, buf, view, l0, l1);
  }

  /** Whether the arena at `j` holds `buf[a, b)`: four bytes at a time, then the rest. */
  private same(j: number, buf: Uint8Array, view: DataView, a: number, b: number): boolean {
    const mine = this.view;
    let i = a;
    for (; i + 4 <= b; i += 4, j += 4) if (mine.getInt32(j) !== view.getInt32(i)) return false;
    const bytes = this.bytes;
    for (; i < b; i++, j++) if (bytes[j] !== buf[i]) return false;
    return true;
  }

  /** Adds a series (not present: call after {@link get} returned undefined). */
  add(buf: Uint8Array, m0: number, m1: number, l0: number, l1: number, h: number, entry: V): void {
    let n = this.values.length;
    if (n >= this.capacity) {
      this.clear();
      n = 0;
    }
    const len = m1 - m0 + 1 + (l1 - l0);
    if (n === this.hashes.length || this.used + len > this.bytes.length) this.grow(len);
    const at = this.used;
    this.bytes.set(buf.subarray(m0, m1), at);
    this.bytes[at + m1 - m0] = l0 < 0 ? 0 : 1;
    if (l0 >= 0) this.bytes.set(buf.subarray(l0, l1), at + m1 - m0 + 1);
    this.used += len;
    this.hashes[n] = h;
    this.starts[n] = at;
    this.lengths[n] = len;
    this.values.push(entry);
    this.place(n);
  }

  private place(e: number): void {
    const mask = this.slots.length - 1;
    let i = (this.hashes[e] as number) & mask;
    while (this.slots[i] !== 0) i = (i + 1) & mask;
    this.slots[i] = e + 1;
  }

  private grow(need: number): void {
    const n = this.values.length;
    const entries = n === this.hashes.length ? Math.min(this.capacity, 2 * n) : this.hashes.length;
    const old = { hashes: this.hashes, starts: this.starts, lengths: this.lengths, bytes: this.bytes };
    const values = this.values;
    const used = this.used;
    this.alloc(entries, Math.max(2 * old.bytes.length, used + need));
    this.hashes.set(old.hashes.subarray(0, n));
    this.starts.set(old.starts.subarray(0, n));
    this.lengths.set(old.lengths.subarray(0, n));
    this.bytes.set(old.bytes.subarray(0, used));
    this.used = used;
    this.values = values;
    for (let e = 0; e < n; e++) this.place(e);
  }

  /** The hash {@link get} and {@link add} take for bytes `[m0, m1)` and `[l0, l1)` (l0 = -1: none). */
  static hashOf(buf: Uint8Array, m0: number, m1: number, l0: number, l1: number): number {
    const h = Math.imul(fnv(buf, m0, m1, FNV_BASIS) ^ (l0 < 0 ? 0 : 1), 0x01000193);
    return l0 < 0 ? h : fnv(buf, l0, l1, h);
  }
}

/**
 * What the fast path remembers between requests (one per route), bounded at `capacity` entries
 * each (about 200 bytes per series in all):
 * - series by the bytes they were sent as: the metric string's content and the labels object's
 *   text → checked labels and series key;
 * - item prefixes: the bytes of an item from its `{` up to the `,` before a `"ts":` key, when
 *   they were exactly a metric field and optionally a labels field (most clients write every
 *   sample of a series the same way). Equal bytes parse the same way, so a known prefix is
 *   skipped in one hashing scan and one comparison instead of being parsed.
 */
export class SeriesBytesCache {
  /** @internal */
  readonly series: BytesTable<SeriesEntry>;
  /** @internal */
  readonly prefixes: BytesTable<SeriesEntry>;

  /** @param capacity - most series (and prefixes) held at once */
  constructor(readonly capacity = 1 << 20) {
    this.series = new BytesTable(capacity);
    this.prefixes = new BytesTable(capacity);
  }

  /** Series held. */
  get size(): number {
    return this.series.size;
  }

  clear(): void {
    this.series.clear();
    this.prefixes.clear();
  }
}

/** Longest item prefix looked up, bytes (longer ones are parsed every time). */
const MAX_PREFIX = 4096;
const LOWER_T = 0x74;
const LOWER_S = 0x73;

/** Decoded samples; `indices[i]` is the request index of `samples[i]` (here always i). */
export interface FastDecoded {
  readonly samples: Sample[];
  readonly indices: number[];
  readonly rejected: [];
}

/**
 * Decodes a `{"samples":[...]}` body from its bytes, or returns undefined when the slow path
 * must decide (see the module comment).
 */
export function decodeJsonSamplesFast(
  buf: Buffer,
  nowMs: number,
  limits: SampleLimits,
  maxSamples: number,
  cache: SeriesBytesCache,
): FastDecoded | undefined {
  return new Scanner(buf).decode(nowMs, limits, maxSamples, cache);
}

/** One pass over the bytes; every method returns false (or -1) to give up. */
class Scanner {
  private p = 0;
  /** The last string's content `[s0, s1)` and whether it holds a byte ≥ 0x80. */
  private s0 = 0;
  private s1 = 0;
  private high = false;
  /** The last number. */
  private num = 0;

  /** The body as a DataView (word compares in the caches). */
  private readonly view: DataView;

  constructor(private readonly buf: Buffer) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private ws(): void {
    const buf = this.buf;
    let p = this.p;
    for (;;) {
      const c = buf[p];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.p = p;
  }

  /** Expects `c` (after whitespace). */
  private eat(c: number): boolean {
    this.ws();
    if (this.buf[this.p] !== c) return false;
    this.p++;
    return true;
  }

  /** A string without escapes or control characters (after whitespace). */
  private str(): boolean {
    this.ws();
    const buf = this.buf;
    let p = this.p;
    if (buf[p] !== QUOTE) return false;
    this.s0 = ++p;
    let high = false;
    for (;;) {
      const c = buf[p];
      if (c === undefined || c < 0x20 || c === BACKSLASH) return false;
      if (c === QUOTE) break;
      if (c >= 0x80) high = true;
      p++;
    }
    this.s1 = p;
    this.p = p + 1;
    this.high = high;
    return true;
  }

  /** Whether the last string's content is `word` (ASCII). */
  private is(word: string): boolean {
    const n = this.s1 - this.s0;
    if (n !== word.length) return false;
    for (let i = 0; i < n; i++) if (this.buf[this.s0 + i] !== word.charCodeAt(i)) return false;
    return true;
  }

  /** The string `[a, b)` as JSON.parse of the UTF-8 body would give it, or undefined. */
  private text(a: number, b: number, high: boolean): string | undefined {
    const buf = this.buf;
    if (!high) return buf.toString('latin1', a, b);
    return isUtf8(buf.subarray(a, b)) ? buf.toString('utf8', a, b) : undefined;
  }

  /** A JSON number (after whitespace) into `num`. */
  private number(): boolean {
    this.ws();
    const buf = this.buf;
    let p = this.p;
    const start = p;
    const neg = buf[p] === MINUS;
    if (neg) p++;
    let c = buf[p];
    if (c === undefined || c < D0 || c > D9) return false;
    let m = 0;
    let digits = 0;
    if (c === D0) {
      p++;
      digits = 1;
    } else {
      while (c !== undefined && c >= D0 && c <= D9) {
        m = m * 10 + (c - D0);
        digits++;
        c = buf[++p];
      }
    }
    let frac = 0;
    if (buf[p] === DOT) {
      c = buf[++p];
      if (c === undefined || c < D0 || c > D9) return false;
      while (c !== undefined && c >= D0 && c <= D9) {
        m = m * 10 + (c - D0);
        digits++;
        frac++;
        c = buf[++p];
      }
    }
    let exp = false;
    c = buf[p];
    if (c === 0x65 || c === 0x45) {
      exp = true;
      c = buf[++p];
      if (c === PLUS || c === MINUS) c = buf[++p];
      if (c === undefined || c < D0 || c > D9) return false;
      while (c !== undefined && c >= D0 && c <= D9) c = buf[++p];
    }
    let v: number;
    if (!exp && digits <= 15) v = frac === 0 ? m : m / (POW10[frac] as number);
    else v = Number(buf.toString('latin1', neg ? start + 1 : start, p));
    this.num = neg ? -v : v;
    this.p = p;
    return true;
  }

  /** Skips a labels object of string values (after whitespace); its text is `[start, this.p)`. */
  private labelsObject(): boolean {
    if (!this.eat(LBRACE)) return false;
    this.ws();
    if (this.buf[this.p] === RBRACE) {
      this.p++;
      return true;
    }
    for (;;) {
      if (!this.str() || !this.eat(COLON) || !this.str()) return false;
      this.ws();
      const c = this.buf[this.p++];
      if (c === RBRACE) return true;
      if (c !== COMMA) return false;
    }
  }

  /** Builds and checks the series of an item seen for the first time. */
  private series(
    m0: number,
    m1: number,
    mHigh: boolean,
    l0: number,
    l1: number,
    limits: SampleLimits,
  ): SeriesEntry | undefined {
    const metric = this.text(m0, m1, mHigh);
    if (metric === undefined || checkMetricName(metric, limits) !== undefined) return undefined;
    const labels: Record<string, string> = {};
    if (l0 >= 0) {
      const end = this.p;
      this.p = l0 + 1;
      this.ws();
      if (this.buf[this.p] === RBRACE) this.p = l1;
      while (this.p < l1) {
        this.str();
        const name = this.text(this.s0, this.s1, this.high);
        this.eat(COLON);
        this.str();
        const value = this.text(this.s0, this.s1, this.high);
        if (name === undefined || value === undefined) return undefined;
        // JSON.parse keeps the last of duplicate names and fastify refuses __proto__ and
        // constructor keys: the slow path says what happens.
        if (name === '__proto__' || name === 'constructor' || Object.hasOwn(labels, name)) return undefined;
        labels[name] = value;
        this.ws();
        this.p++; // ',' or the closing '}'
      }
      this.p = end;
    }
    const checked = checkLabels(labels, limits);
    if (!checked.ok) return undefined;
    return { metric, labels: checked.labels, key: seriesKey(metric, checked.labels) };
  }

  decode(
    nowMs: number,
    limits: SampleLimits,
    maxSamples: number,
    cache: SeriesBytesCache,
  ): FastDecoded | undefined {
    const buf = this.buf;
    if (!this.eat(LBRACE) || !this.str() || !this.is('samples') || !this.eat(COLON) || !this.eat(LBRACKET))
      return undefined;
    const samples: Sample[] = [];
    const latest = nowMs + limits.maxFutureSkewMs;
    this.ws();
    let more = buf[this.p] !== RBRACKET;
    if (!more) this.p++;
    // Off for the rest of a body once one of its items had no prefix to remember (another field
    // order): the scan would only cost.
    let tryPrefix = true;
    while (more) {
      if (samples.length >= maxSamples) return undefined;
      this.ws();
      const itemStart = this.p;
      if (buf[itemStart] !== LBRACE) return undefined;
      // The item's prefix: up to the first `,"ts":` (hashed while scanning for it).
      let cut = -1;
      let ph = FNV_BASIS;
      let hit: SeriesEntry | undefined;
      if (tryPrefix) {
        const lim = Math.min(buf.length - 5, itemStart + MAX_PREFIX);
        for (let i = itemStart; i < lim; i++) {
          const c = buf[i] as number;
          if (
            c === COMMA &&
            buf[i + 1] === QUOTE &&
            buf[i + 2] === LOWER_T &&
            buf[i + 3] === LOWER_S &&
            buf[i + 4] === QUOTE &&
            buf[i + 5] === COLON
          ) {
            cut = i;
            break;
          }
          ph = Math.imul(ph ^ c, 0x01000193);
        }
        if (cut >= 0) {
          ph = Math.imul(ph, 0x01000193); // = BytesTable.hashOf(buf, itemStart, cut, -1, -1)
          hit = cache.prefixes.get(buf, this.view, itemStart, cut, -1, -1, ph);
        }
      }
      let m0 = -1;
      let m1 = -1;
      let mHigh = false;
      let l0 = -1;
      let l1 = -1;
      let hasMetric = false;
      let hasLabels = false;
      let fields = 0;
      let hasTs = false;
      let ts = 0;
      let hasValue = false;
      let value = 0;
      /** Where the ts key starts when only metric (and labels) came before it; else -1. */
      let tsKeyAt = -1;
      let fieldsBeforeTs = 0;
      let afterValue = false;
      if (hit) {
        // Known bytes: the parse would end here, after the metric (and labels) fields. A metric
        // or labels field after this point gives up (the slow path decides).
        hasMetric = true;
        hasLabels = true;
        this.p = cut;
        afterValue = true;
      } else this.p = itemStart + 1;
      for (;;) {
        if (afterValue) {
          this.ws();
          const c = buf[this.p++];
          if (c === RBRACE) break;
          if (c !== COMMA) return undefined;
        }
        afterValue = true;
        this.ws();
        const keyAt = this.p;
        if (!this.str() || !this.eat(COLON)) return undefined;
        const len = this.s1 - this.s0;
        if (len === 6 && this.is('metric') && !hasMetric) {
          if (!this.str()) return undefined;
          m0 = this.s0;
          m1 = this.s1;
          mHigh = this.high;
          hasMetric = true;
        } else if (len === 6 && this.is('labels') && !hasLabels) {
          this.ws();
          l0 = this.p;
          if (!this.labelsObject()) return undefined;
          l1 = this.p;
          hasLabels = true;
        } else if (len === 2 && this.is('ts') && !hasTs) {
          if (hasMetric && fields === (hasLabels ? 2 : 1)) {
            tsKeyAt = keyAt;
            fieldsBeforeTs = fields;
          }
          this.ws();
          if (buf[this.p] === QUOTE) {
            if (!this.str() || this.high) return undefined;
            const t = checkTimestamp(this.text(this.s0, this.s1, false), nowMs, limits);
            if (!t.ok) return undefined;
            ts = t.ts;
          } else {
            if (!this.number() || !(this.num >= MIN_TIMESTAMP_MS && this.num <= latest)) return undefined;
            ts = Math.round(this.num);
          }
          hasTs = true;
        } else if (len === 5 && this.is('value') && !hasValue) {
          if (!this.number() || !Number.isFinite(this.num)) return undefined;
          value = this.num;
          hasValue = true;
        } else return undefined;
        fields++;
      }
      if (!hasMetric || !hasTs || !hasValue) return undefined;
      let s: SeriesEntry | undefined;
      if (hit) s = hit;
      else {
        const h = BytesTable.hashOf(buf, m0, m1, l0, l1);
        s = cache.series.get(buf, this.view, m0, m1, l0, l1, h);
        if (s === undefined) {
          s = this.series(m0, m1, mHigh, l0, l1, limits);
          if (s === undefined) return undefined;
          cache.series.add(buf, m0, m1, l0, l1, h, s);
        }
        // Remember the prefix when the scan's cut is this item's ts key (not, say, a label
        // named "ts" earlier) and only the value came after ts (the prefix alone names the
        // series), so the next item sent the same way is recognised by it.
        if (tsKeyAt >= 0 && cut === tsKeyAt - 1 && fields === fieldsBeforeTs + 2)
          cache.prefixes.add(buf, itemStart, cut, -1, -1, ph, s);
        else tryPrefix = false;
      }
      samples.push({ metric: s.metric, labels: s.labels, key: s.key, ts, value });
      this.ws();
      const c = buf[this.p++];
      if (c === RBRACKET) more = false;
      else if (c !== COMMA) return undefined;
    }
    if (!this.eat(RBRACE)) return undefined;
    this.ws();
    if (this.p !== buf.length) return undefined;
    const indices = new Array<number>(samples.length);
    for (let i = 0; i < samples.length; i++) indices[i] = i;
    return { samples, indices, rejected: [] };
  }
}
