/**
 * `vigil backtest`: runs the production anomaly operator (createAnomalyOperator, through the
 * keyed runtime's in-process harness: the same code the workers run) over CSV files in NAB's
 * layout, `DATA/<category>/<file>.csv` with a header and `timestamp,value` rows, and writes
 * `OUT/<category>/<file>.csv` with `timestamp,value,anomaly_score`: one row per input row, in
 * order, timestamp and value copied as written.
 *
 * Each file is one series. Naive timestamps ("YYYY-MM-DD HH:MM:SS") are UTC. A row the runtime or
 * the engine ignores (a timestamp not after the previous one, an unparseable timestamp, a value
 * that is not a finite number) is written with anomaly_score 0.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LifecycleParams } from '../alerts/index.js';
import { createOperatorHarness } from '../keyed-runtime/index.js';
import { createAnomalyOperator, type SeriesStatus } from '../operators/anomaly-operator.js';
import type { DetectionConfig } from '../operators/anomaly/index.js';
import { createProgressBar } from './progress.js';

export interface BacktestOptions {
  /** Directory of `<category>/<file>.csv`. */
  readonly dataDir: string;
  /** Output directory (created). */
  readonly outDir: string;
  readonly detection: DetectionConfig;
  /** Alert lifecycle parameters (the rest come from the config defaults). @defaultValue { forMs: 0, keepFiringForMs: 300000 } */
  readonly lifecycle?: Partial<LifecycleParams>;
  /** Progress in rows; when absent, a progress bar is drawn on stderr if it is a terminal. */
  readonly onProgress?: (done: number, total: number, file: string) => void;
  /** Only these relative paths (`<category>/<file>.csv`). @defaultValue every CSV found */
  readonly files?: readonly string[];
}

export interface BacktestFileSummary {
  readonly file: string;
  readonly rows: number;
  /** Rows written with score 0 because they were ignored. */
  readonly ignored: number;
  /** Alert events the operator emitted (pending/firing/resolved). */
  readonly alertEvents: number;
  readonly ms: number;
}

export interface BacktestSummary {
  readonly files: number;
  readonly rows: number;
  readonly ignored: number;
  readonly alertEvents: number;
  readonly elapsedMs: number;
  /** Rows per second of processing (parsing and writing excluded). */
  readonly rowsPerSecond: number;
  readonly perFile: readonly BacktestFileSummary[];
}

const TS =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/** Parses a CSV timestamp to epoch ms; naive times are UTC. NaN when unparseable. */
export function parseTimestampMs(text: string): number {
  const s = text.trim().replace(/^"|"$/g, '');
  const m = TS.exec(s);
  if (!m) {
    const t = /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : Date.parse(s);
    return Number.isFinite(t) ? t : NaN;
  }
  const num = (i: number): number => (m[i] ? Number(m[i]) : 0);
  let ms = Date.UTC(num(1), num(2) - 1, num(3), num(4), num(5), num(6));
  if (m[7]) ms += Math.round(Number(m[7]) * 1000);
  const zone = m[8];
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2))) * 60_000;
  }
  return ms;
}

/** The rows of a `time,value` CSV (header skipped): raw fields and parsed numbers. */
export interface CsvRows {
  readonly header: string;
  readonly time: string[];
  readonly value: string[];
  readonly tsMs: Float64Array;
  readonly v: Float64Array;
}

export function parseSeriesCsv(text: string): CsvRows {
  const lines = text.split(/\r\n|\n|\r/);
  const time: string[] = [];
  const value: string[] = [];
  let header = 'timestamp,value';
  let first = true;
  for (const line of lines) {
    if (line.trim() === '') continue;
    const c = line.indexOf(',');
    const t = c < 0 ? line : line.slice(0, c);
    const v = c < 0 ? '' : line.slice(c + 1);
    if (first) {
      first = false;
      if (Number.isNaN(parseTimestampMs(t))) {
        header = line;
        continue;
      }
    }
    time.push(t);
    value.push(v);
  }
  const tsMs = Float64Array.from(time, parseTimestampMs);
  const v = Float64Array.from(value, (x) => (x.trim() === '' ? NaN : Number(x)));
  return { header, time, value, tsMs, v };
}

/** The CSV files of `dataDir` in NAB's layout (`<category>/<file>.csv`), sorted. */
export async function listSeriesFiles(dataDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const cat of (await readdir(dataDir, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    if (!cat.isDirectory()) continue;
    for (const f of (await readdir(join(dataDir, cat.name))).sort())
      if (f.endsWith('.csv')) out.push(`${cat.name}/${f}`);
  }
  return out;
}

/** Reads and parses `files` (relative to `dataDir`); `total` = their rows. */
export async function readSeriesFiles(
  dataDir: string,
  files: readonly string[],
): Promise<{ parsed: { file: string; rows: CsvRows }[]; total: number }> {
  const parsed: { file: string; rows: CsvRows }[] = [];
  let total = 0;
  for (const file of files) {
    const rows = parseSeriesCsv(await readFile(join(dataDir, file), 'utf8'));
    parsed.push({ file, rows });
    total += rows.time.length;
  }
  return { parsed, total };
}

function formatScore(s: number): string {
  if (s === 0) return '0';
  return (Math.round(s * 1e9) / 1e9).toString();
}

/** Runs the backtest (see the module comment). */
export async function runBacktest(opts: BacktestOptions): Promise<BacktestSummary> {
  const lifecycle = opts.lifecycle ?? { forMs: 0, keepFiringForMs: 300_000 };
  const files = opts.files ? [...opts.files] : await listSeriesFiles(opts.dataDir);
  const { parsed, total } = await readSeriesFiles(opts.dataDir, files);
  const bar = opts.onProgress ? undefined : createProgressBar({ title: 'backtest' });
  const progress = opts.onProgress ?? ((d: number, t: number, f: string) => bar?.update(d, t, f));
  const perFile: BacktestFileSummary[] = [];
  let done = 0;
  let busyMs = 0;
  const t0 = performance.now();
  try {
    for (const { file, rows } of parsed) {
      const operator = createAnomalyOperator({ detection: opts.detection, lifecycle });
      const harness = createOperatorHarness(operator);
      const key = file;
      const n = rows.time.length;
      const scores = new Float64Array(n);
      let ignored = 0;
      let events = 0;
      const start = performance.now();
      let lastScored = NaN;
      for (let i = 0; i < n; i++) {
        const ts = rows.tsMs[i] as number;
        events += harness.push(key, ts, rows.v[i] as number).length;
        const st = harness.query<SeriesStatus>(key, { kind: 'status' });
        // scored iff the series' last scored time moved to this row's (a duplicate of the previous
        // row's time is dropped by the runtime and leaves it where it was)
        if (st && st.lastTs === ts && ts !== lastScored) {
          scores[i] = st.lastScore;
          lastScored = ts;
        } else ignored++;
        if ((++done & 4095) === 0) progress(done, total, file);
      }
      if (harness.errors.length > 0) {
        const e = harness.errors[0];
        throw new Error(`backtest: operator failed on ${file}: ${e?.code ?? ''} ${e?.message ?? ''}`);
      }
      const ms = performance.now() - start;
      busyMs += ms;
      progress(done, total, file);
      const out: string[] = ['timestamp,value,anomaly_score'];
      for (let i = 0; i < n; i++)
        out.push(`${rows.time[i]},${rows.value[i]},${formatScore(scores[i] as number)}`);
      const dir = join(opts.outDir, file.slice(0, file.lastIndexOf('/')));
      await mkdir(dir, { recursive: true });
      await writeFile(join(opts.outDir, file), out.join('\n') + '\n');
      perFile.push({ file, rows: n, ignored, alertEvents: events, ms });
    }
  } finally {
    bar?.finish();
  }
  const rowsTotal = perFile.reduce((s, f) => s + f.rows, 0);
  return {
    files: perFile.length,
    rows: rowsTotal,
    ignored: perFile.reduce((s, f) => s + f.ignored, 0),
    alertEvents: perFile.reduce((s, f) => s + f.alertEvents, 0),
    elapsedMs: performance.now() - t0,
    rowsPerSecond: busyMs > 0 ? (rowsTotal / busyMs) * 1000 : 0,
    perFile,
  };
}
