/**
 * A minimal, allocation-light reader of the protobuf wire format, for the hand-written decoders of
 * remote write and OTLP (they decode straight into samples instead of building a message tree).
 *
 * Wire format (protobuf.dev/programming-guides/encoding):
 *
 *     record    = tag value
 *     tag       = uvarint(field_number << 3 | wire_type)
 *     wire_type = 0 VARINT (uvarint, ≤ 10 bytes) | 1 I64 (8 bytes LE) | 2 LEN (uvarint length, bytes)
 *               | 5 I32 (4 bytes LE); 3/4 (groups) are refused.
 *
 * Every read is bounds-checked against `end` (the end of the enclosing message), so a decoder can
 * parse one length-delimited sub-message and, when it is corrupt, refuse just that item and go on
 * after it. Errors are {@link ProtoError}s carrying the byte offset.
 */

/** A wire-format violation at byte `offset` of the decoded buffer. */
export class ProtoError extends Error {
  override readonly name = 'ProtoError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
  }
}

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

const TWO_32 = 4294967296;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class ProtoReader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos: number;
  end: number;
  /** Low and high 32 bits of the last {@link varint64} / {@link fixed64}. */
  lo = 0;
  hi = 0;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
    this.end = end;
  }

  /** Reads a tag; returns `field << 3 | wireType`. Refuses field 0 and group wire types. */
  tag(): number {
    const at = this.pos;
    const t = this.shortVarint('tag');
    const wt = t & 7;
    if (t < 8) throw new ProtoError('field number 0', at);
    if (wt === 3 || wt === 4 || wt > 5) throw new ProtoError(`unsupported wire type ${wt}`, at);
    return t;
  }

  /** A varint of at most 5 bytes whose value fits in 32 bits (tags and lengths). */
  private shortVarint(what: string): number {
    const buf = this.buf;
    let pos = this.pos;
    const end = this.end;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      if (pos >= end) throw new ProtoError(`truncated ${what}`, pos);
      const b = buf[pos++] as number;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (result > 0xffffffff) break;
        this.pos = pos;
        return result;
      }
      mul *= 128;
    }
    throw new ProtoError(`${what} varint exceeds 32 bits`, this.pos);
  }

  /** A varint that must fit in 32 bits (tags, lengths, enums, flags). */
  uint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    const end = this.end;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= end) throw new ProtoError('truncated varint', pos);
      const b = buf[pos++] as number;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) {
        this.pos = pos;
        // Enums and int32 may be sign-extended to 10 bytes; keep the low 32 bits as protobuf does.
        return result > 0xffffffff ? result % TWO_32 : result;
      }
    }
    // Longer varints: a negative int32 written as 10 bytes. Consume and keep the low 32 bits.
    this.pos = pos;
    this.varint64Tail(result);
    return this.lo;
  }

  private varint64Tail(low35: number): void {
    // Already read 5 bytes (35 bits) into low35; read the remaining ≤ 5 bytes.
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < 5; i++) {
      if (pos >= this.end) throw new ProtoError('truncated varint', pos);
      const b = buf[pos++] as number;
      if (i === 4 && b > 1) throw new ProtoError('varint overflows 64 bits', pos - 1);
      if (b < 0x80) {
        this.pos = pos;
        this.lo = low35 % TWO_32;
        return;
      }
    }
    throw new ProtoError('varint longer than 10 bytes', pos);
  }

  /** Reads a varint into {@link lo}/{@link hi} (two's complement for int64). */
  varint64(): void {
    const buf = this.buf;
    let pos = this.pos;
    const end = this.end;
    let lo = 0;
    let hi = 0;
    let b: number;
    for (let i = 0; i < 4; i++) {
      if (pos >= end) throw new ProtoError('truncated varint', pos);
      b = buf[pos++] as number;
      lo = (lo | ((b & 0x7f) << (i * 7))) >>> 0;
      if (b < 0x80) {
        this.pos = pos;
        this.lo = lo;
        this.hi = 0;
        return;
      }
    }
    if (pos >= end) throw new ProtoError('truncated varint', pos);
    b = buf[pos++] as number;
    lo = (lo | ((b & 0x7f) << 28)) >>> 0;
    hi = (b & 0x7f) >>> 4;
    if (b >= 0x80) {
      for (let i = 0; ; i++) {
        if (i === 5) throw new ProtoError('varint longer than 10 bytes', pos);
        if (pos >= end) throw new ProtoError('truncated varint', pos);
        b = buf[pos++] as number;
        if (i === 4 && b > 1) throw new ProtoError('varint overflows 64 bits', pos - 1);
        hi = (hi | ((b & 0x7f) << (i * 7 + 3))) >>> 0;
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    this.lo = lo;
    this.hi = hi;
  }

  /** int64 varint as a number (exact within ±2^53). */
  int64(): number {
    this.varint64();
    return toSigned(this.lo, this.hi);
  }

  /** uint64 varint as a number (exact below 2^53). */
  uint64(): number {
    this.varint64();
    return this.hi * TWO_32 + this.lo;
  }

  /** sint32/sint64 (zigzag) varint as a number. */
  sint64(): number {
    this.varint64();
    const lo = this.lo;
    const hi = this.hi;
    // zigzag: (n >>> 1) ^ -(n & 1) on 64 bits.
    const mag = (hi >>> 1) * TWO_32 + (((lo >>> 1) | ((hi & 1) << 31)) >>> 0);
    return lo & 1 ? -mag - 1 : mag;
  }

  /** Reads 8 little-endian bytes into {@link lo}/{@link hi}. */
  fixed64(): void {
    const pos = this.pos;
    if (pos + 8 > this.end) throw new ProtoError('truncated 64-bit field', pos);
    this.lo = this.view.getUint32(pos, true);
    this.hi = this.view.getUint32(pos + 4, true);
    this.pos = pos + 8;
  }

  /** A little-endian IEEE 754 double. */
  double(): number {
    const pos = this.pos;
    if (pos + 8 > this.end) throw new ProtoError('truncated double', pos);
    this.pos = pos + 8;
    return this.view.getFloat64(pos, true);
  }

  /** Reads a length prefix and checks the bytes are there; returns the end of the payload. */
  len(): number {
    const at = this.pos;
    const n = this.shortVarint('length');
    const end = this.pos + n;
    if (end > this.end) throw new ProtoError(`length ${n} runs past the end of the message`, at);
    return end;
  }

  /** A length-delimited UTF-8 string (invalid UTF-8 is a {@link ProtoError}). */
  string(): string {
    const end = this.len();
    const start = this.pos;
    this.pos = end;
    return decodeUtf8(this.buf, start, end);
  }

  /** Skips one value of wire type `wt` (the low 3 bits of a tag). */
  skip(wt: number): void {
    switch (wt) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_I64:
        if (this.pos + 8 > this.end) throw new ProtoError('truncated 64-bit field', this.pos);
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.pos = this.len();
        return;
      case WIRE_I32:
        if (this.pos + 4 > this.end) throw new ProtoError('truncated 32-bit field', this.pos);
        this.pos += 4;
        return;
      default:
        throw new ProtoError(`unsupported wire type ${wt}`, this.pos);
    }
  }

  /** Throws unless the field's wire type is `expected` (a mismatch means a different schema). */
  expect(t: number, expected: number, what: string): void {
    if ((t & 7) !== expected)
      throw new ProtoError(
        `${what} (field ${t >>> 3}) has wire type ${t & 7}, expected ${expected}`,
        this.pos,
      );
  }
}

/** Two's-complement 64-bit (lo, hi) to a number (exact within ±2^53). */
export function toSigned(lo: number, hi: number): number {
  if (hi & 0x80000000) return -((~hi >>> 0) * TWO_32 + ((~lo >>> 0) + 1));
  return hi * TWO_32 + lo;
}

/**
 * Exact `floor(ns / 1e6)` for an unsigned 64-bit nanosecond count given as (lo, hi): the product
 * `hi * 2^32` exceeds 2^53, so a plain division could land 1 ms off at a millisecond boundary.
 */
export function nanosToMillis(lo: number, hi: number): number {
  // hi * 2^32 = hi * 4294 * 1e6 + hi * 967296; the remainder part stays below 2^53.
  const r = hi * 967296 + lo;
  return hi * 4294 + (r - (r % 1e6)) / 1e6;
}

// Intern table for short ASCII strings: label names and many label values repeat across the
// series of a request (and across requests), so returning the same string object saves the
// allocation and the garbage collection of a fresh one. Slots are overwritten on collision.
const INTERN_SLOTS = 4096;
const INTERN_MAX = 40;
const internTable: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS);

/** Decodes UTF-8 bytes; short ASCII strings come from an intern table. Throws {@link ProtoError}. */
export function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n <= INTERN_MAX) {
    // FNV-1a over the bytes, checking they are ASCII on the way.
    let h = 0x811c9dc5;
    let ascii = true;
    for (let i = start; i < end; i++) {
      const b = buf[i] as number;
      if (b >= 0x80) {
        ascii = false;
        break;
      }
      h = Math.imul(h ^ b, 0x01000193);
    }
    if (ascii) {
      const slot = (h >>> 0) & (INTERN_SLOTS - 1);
      const cached = internTable[slot];
      if (cached !== undefined && cached.length === n) {
        let same = true;
        for (let i = 0; i < n; i++) {
          if (cached.charCodeAt(i) !== buf[start + i]) {
            same = false;
            break;
          }
        }
        if (same) return cached;
      }
      const s =
        n === 0 ? '' : String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
      internTable[slot] = s;
      return s;
    }
  }
  try {
    return utf8.decode(buf.subarray(start, end));
  } catch {
    throw new ProtoError('string is not valid UTF-8', start);
  }
}
