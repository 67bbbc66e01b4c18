/**
 * Strict decoder of Snappy's block format (the body encoding of Prometheus remote write 1.0).
 *
 * Wire format (github.com/google/snappy, format_description.txt):
 *
 *     stream   = uvarint(uncompressed length)  element*
 *     element  = tag byte; tag & 3 selects the kind:
 *       0 literal: length-1 = tag >> 2 when < 60, else the next 1..4 bytes (60..63) little-endian;
 *                  then that many literal bytes
 *       1 copy:    length = 4 + ((tag >> 2) & 7), offset = ((tag >> 5) << 8) | next byte
 *       2 copy:    length = (tag >> 2) + 1, offset = next 2 bytes little-endian
 *       3 copy:    length = (tag >> 2) + 1, offset = next 4 bytes little-endian
 *
 * Why not snappyjs's `uncompress` (we still use snappyjs to *compress* in tests and benches): it
 * does not check that copies stay inside the output nor that the stream fills exactly the declared
 * length, and it reads past the input on a truncated copy tag, so some corrupt streams decode to
 * zero-padded garbage instead of failing. A corrupt body must be a 400, never silently different
 * samples. This decoder checks every bound, copies literals with `TypedArray.set`, and is faster
 * (bench figures in the report of issue 8).
 */

/** A malformed snappy stream; `offset` is the byte position in the compressed input. */
export class SnappyError extends Error {
  override readonly name = 'SnappyError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Reads the uncompressed length header (bytes). Throws {@link SnappyError}. */
export function snappyUncompressedLength(src: Uint8Array): number {
  return readHeader(src).length;
}

function readHeader(src: Uint8Array): { length: number; pos: number } {
  let result = 0;
  let pos = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= src.length) throw new SnappyError('truncated length header', pos);
    const b = src[pos++] as number;
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) {
      if (result > 0xffffffff) throw new SnappyError('length header exceeds 32 bits', 0);
      return { length: result, pos };
    }
  }
  throw new SnappyError('length header longer than 5 bytes', 0);
}

/**
 * Decompresses a snappy block. `maxLength` bounds the declared uncompressed size (bytes): a larger
 * declaration throws a {@link SnappyError} with `tooLarge = true` before anything is allocated.
 */
export function snappyDecompress(src: Uint8Array, maxLength: number): Uint8Array {
  const header = readHeader(src);
  const length = header.length;
  if (length > maxLength) {
    const e = new SnappyError(`uncompressed length ${length} bytes exceeds the limit of ${maxLength}`, 0);
    (e as SnappyError & { tooLarge: boolean }).tooLarge = true;
    throw e;
  }
  const dst = Buffer.allocUnsafe(length);
  let s = header.pos;
  let d = 0;
  const srcLen = src.length;
  while (s < srcLen) {
    const tagPos = s;
    const tag = src[s++] as number;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const extra = len - 59;
        if (s + extra > srcLen) throw new SnappyError('truncated literal length', tagPos);
        len = 0;
        for (let k = 0; k < extra; k++) len += (src[s + k] as number) * 2 ** (8 * k);
        s += extra;
      }
      len += 1;
      if (s + len > srcLen) throw new SnappyError('literal runs past the end of the input', tagPos);
      if (d + len > length) throw new SnappyError('literal runs past the declared length', tagPos);
      if (len < 16) {
        for (let k = 0; k < len; k++) dst[d + k] = src[s + k] as number;
      } else {
        dst.set(src.subarray(s, s + len), d);
      }
      s += len;
      d += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (s >= srcLen) throw new SnappyError('truncated copy', tagPos);
      len = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | (src[s] as number);
      s += 1;
    } else if (kind === 2) {
      if (s + 2 > srcLen) throw new SnappyError('truncated copy', tagPos);
      len = (tag >>> 2) + 1;
      offset = (src[s] as number) | ((src[s + 1] as number) << 8);
      s += 2;
    } else {
      if (s + 4 > srcLen) throw new SnappyError('truncated copy', tagPos);
      len = (tag >>> 2) + 1;
      offset =
        ((src[s] as number) | ((src[s + 1] as number) << 8) | ((src[s + 2] as number) << 16)) +
        (src[s + 3] as number) * 0x1000000;
      s += 4;
    }
    if (offset === 0 || offset > d)
      throw new SnappyError(`copy offset ${offset} points before the start of the output`, tagPos);
    if (d + len > length) throw new SnappyError('copy runs past the declared length', tagPos);
    if (offset >= len && len >= 16) {
      dst.copyWithin(d, d - offset, d - offset + len);
      d += len;
    } else {
      // Overlapping (run-length style) or short copy: byte by byte, front to back.
      for (let k = 0; k < len; k++, d++) dst[d] = dst[d - offset] as number;
    }
  }
  if (d !== length) throw new SnappyError(`stream ends after ${d} of ${length} declared bytes`, srcLen);
  return dst;
}
