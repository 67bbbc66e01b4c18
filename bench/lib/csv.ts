/**
 * Reading the benchmark CSVs: a header row, then `timestamp,value` rows (NAB layout) or `ds,y`
 * (Prophet's examples). Naive timestamps ("YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DD") are UTC.
 */
import { readFileSync } from 'node:fs';

export interface CsvSeries {
  /** The timestamp column as written. */
  readonly raw: string[];
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
}

const TS =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/** Parses a timestamp to epoch ms; naive times are UTC. NaN when unparseable. */
export function parseTimestampMs(text: string): number {
  const s = text.trim().replace(/^"|"$/g, '');
  const m = TS.exec(s);
  if (!m) {
    const t = Date.parse(s);
    return Number.isNaN(t) ? NaN : t;
  }
  let ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, m[4] ? +m[4] : 0, m[5] ? +m[5] : 0, m[6] ? +m[6] : 0);
  if (m[7]) ms += Math.round(Number(m[7]) * 1000);
  if (m[8] && m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1 : 1;
    const hh = +m[8].slice(1, 3);
    const mm = +m[8].slice(-2);
    ms -= sign * (hh * 60 + mm) * 60_000;
  }
  return ms;
}

/** Reads a two-column CSV (header + `time,value` rows). Unparseable values become NaN. */
export function readSeriesCsv(file: string): CsvSeries {
  const lines = readFileSync(file, 'utf8').split(/\r\n|\n|\r/);
  const raw: string[] = [];
  const ts: number[] = [];
  const vs: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const c = line.indexOf(',');
    const t = c < 0 ? line : line.slice(0, c);
    const v = c < 0 ? '' : line.slice(c + 1).trim();
    raw.push(t);
    ts.push(parseTimestampMs(t));
    vs.push(v === '' ? NaN : Number(v));
  }
  return { raw, timestampsMs: Float64Array.from(ts), values: Float64Array.from(vs) };
}
