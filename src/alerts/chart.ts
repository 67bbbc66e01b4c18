/**
 * A small PNG chart of an alert's recent values against the model's band, for emails (attached
 * inline by Content-ID: mail clients show PNG where they strip SVG). No dependency beyond
 * node:zlib: the chart is rasterized into an RGB buffer and encoded as a PNG (RFC 2083: IHDR,
 * one zlib IDAT with filter 0 per row, IEND, CRC-32 per chunk).
 *
 * Drawn: the band [lower, upper] (light blue), the expected line (grey), the values (blue), and
 * values outside the band (red dots). Also a one-line text sparkline for plain-text bodies.
 */
import { deflateSync } from 'node:zlib';
import type { RecentPoint } from './types.js';

type RGB = readonly [number, number, number];
const BAND: RGB = [219, 234, 254];
const EXPECTED: RGB = [100, 116, 139];
const VALUE: RGB = [29, 78, 216];
const OUTSIDE: RGB = [220, 38, 38];
const FRAME: RGB = [203, 213, 225];

class Raster {
  readonly px: Uint8Array;
  constructor(
    readonly w: number,
    readonly h: number,
  ) {
    this.px = new Uint8Array(w * h * 3).fill(255);
  }
  set(x: number, y: number, c: RGB): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.w || yi >= this.h) return;
    const o = (yi * this.w + xi) * 3;
    this.px[o] = c[0];
    this.px[o + 1] = c[1];
    this.px[o + 2] = c[2];
  }
  vline(x: number, y0: number, y1: number, c: RGB): void {
    const [a, b] = y0 < y1 ? [y0, y1] : [y1, y0];
    for (let y = Math.round(a); y <= Math.round(b); y++) this.set(x, y, c);
  }
  line(x0: number, y0: number, x1: number, y1: number, c: RGB, thick = 1): void {
    const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let i = 0; i <= steps; i++) {
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      for (let dx = 0; dx < thick; dx++) for (let dy = 0; dy < thick; dy++) this.set(x + dx, y + dy, c);
    }
  }
  dot(x: number, y: number, r: number, c: RGB): void {
    for (let dx = -r; dx <= r; dx++)
      for (let dy = -r; dy <= r; dy++) if (dx * dx + dy * dy <= r * r) this.set(x + dx, y + dy, c);
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encodes an RGB raster as a PNG file. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  const raw = new Uint8Array(height * (1 + width * 3));
  for (let y = 0; y < height; y++)
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (1 + width * 3) + 1);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', new Uint8Array(deflateSync(raw, { level: 9 }))),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Renders the chart; undefined when fewer than 2 finite points. Size in pixels. */
export function renderChartPng(
  points: readonly RecentPoint[],
  width = 480,
  height = 140,
): Uint8Array | undefined {
  const pts = points.filter((p) => Number.isFinite(p.ts) && Number.isFinite(p.value));
  if (pts.length < 2) return undefined;
  const ys: number[] = [];
  for (const p of pts) {
    ys.push(p.value);
    for (const v of [p.lower, p.upper, p.expected]) if (Number.isFinite(v)) ys.push(v);
  }
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  if (hi - lo < 1e-12) {
    lo -= 1;
    hi += 1;
  }
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const t0 = (pts[0] as RecentPoint).ts;
  const t1 = (pts[pts.length - 1] as RecentPoint).ts;
  const m = 4;
  const X = (ts: number): number => m + ((ts - t0) / Math.max(t1 - t0, 1)) * (width - 2 * m - 1);
  const Y = (v: number): number => height - m - 1 - ((v - lo) / (hi - lo)) * (height - 2 * m - 1);
  const r = new Raster(width, height);
  // Band: fill each column between interpolated lower and upper.
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1] as RecentPoint;
    const b = pts[i] as RecentPoint;
    if (![a.lower, a.upper, b.lower, b.upper].every(Number.isFinite)) continue;
    const xa = Math.round(X(a.ts));
    const xb = Math.round(X(b.ts));
    for (let x = xa; x <= xb; x++) {
      const f = xb === xa ? 0 : (x - xa) / (xb - xa);
      r.vline(x, Y(a.lower + (b.lower - a.lower) * f), Y(a.upper + (b.upper - a.upper) * f), BAND);
    }
  }
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1] as RecentPoint;
    const b = pts[i] as RecentPoint;
    if (Number.isFinite(a.expected) && Number.isFinite(b.expected)) {
      r.line(X(a.ts), Y(a.expected), X(b.ts), Y(b.expected), EXPECTED);
    }
  }
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1] as RecentPoint;
    const b = pts[i] as RecentPoint;
    r.line(X(a.ts), Y(a.value), X(b.ts), Y(b.value), VALUE, 2);
  }
  for (const p of pts) {
    if (Number.isFinite(p.lower) && Number.isFinite(p.upper) && (p.value < p.lower || p.value > p.upper)) {
      r.dot(X(p.ts), Y(p.value), 3, OUTSIDE);
    }
  }
  for (let x = 0; x < width; x++) {
    r.set(x, 0, FRAME);
    r.set(x, height - 1, FRAME);
  }
  r.vline(0, 0, height - 1, FRAME);
  r.vline(width - 1, 0, height - 1, FRAME);
  return encodePng(width, height, r.px);
}

const BLOCKS = '▁▂▃▄▅▆▇█';

/** A text sparkline of the last `width` values (`▁▂▃▅▇`). */
export function textSparkline(points: readonly RecentPoint[], width = 40): string {
  const vals = points
    .map((p) => p.value)
    .filter(Number.isFinite)
    .slice(-width);
  if (vals.length === 0) return '';
  const lo = Math.min(...vals);
  const hi = Math.max(...vals);
  return vals.map((v) => BLOCKS[hi === lo ? 3 : Math.round(((v - lo) / (hi - lo)) * 7)] as string).join('');
}
