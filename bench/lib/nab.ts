/**
 * NAB helpers for the benchmarks: the windowed-Gaussian reference detector (as in
 * shared/datasets/synth-dev/README.md: mean and standard deviation of the last 6,400 values,
 * refitted every 100 rows once the window is full, updated at every row while it fills; score =
 * 1 − upper tail probability of the value, NAB's numenta/NAB windowedGaussian_detector.py with its
 * published window and step), and a runner for shared/tools/nab-score.mjs.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { normalUpperTail } from '../../src/detectors/index.js';
import { parseSeriesCsv } from '../../src/app/backtest.js';

/** Lists `<category>/<file>.csv` under a data dir. */
export function listNabFiles(dataDir: string): string[] {
  const out: string[] = [];
  for (const cat of readdirSync(dataDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()) {
    for (const f of readdirSync(join(dataDir, cat)).sort()) if (f.endsWith('.csv')) out.push(`${cat}/${f}`);
  }
  return out;
}

/** Scores of the windowed-Gaussian detector for one series. */
export function windowedGaussianScores(values: Float64Array, window = 6400, step = 100): Float64Array {
  const n = values.length;
  const out = new Float64Array(n);
  const win: number[] = [];
  let pending: number[] = [];
  let mean = 0;
  let std = 1;
  const update = () => {
    let s = 0;
    for (const v of win) s += v;
    mean = s / win.length;
    let q = 0;
    for (const v of win) q += (v - mean) ** 2;
    std = Math.sqrt(q / win.length);
    if (std === 0) std = 0.000001;
  };
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    if (!Number.isFinite(x)) continue;
    if (win.length > 0) out[i] = 1 - normalUpperTail((x - mean) / std);
    if (win.length < window) {
      // while filling: update at every row (running sums, as np.mean/np.std would give)
      win.push(x);
      sum += x;
      sumSq += x * x;
      mean = sum / win.length;
      std = Math.sqrt(Math.max(0, sumSq / win.length - mean * mean));
      if (std === 0) std = 0.000001;
    } else {
      pending.push(x);
      if (pending.length === step) {
        win.splice(0, step);
        win.push(...pending);
        pending = [];
        update();
      }
    }
  }
  return out;
}

/** Writes windowed-Gaussian results for every file of `dataDir` under `outDir`. */
export function writeGaussianResults(dataDir: string, outDir: string): void {
  for (const file of listNabFiles(dataDir)) {
    const rows = parseSeriesCsv(readFileSync(join(dataDir, file), 'utf8'));
    const scores = windowedGaussianScores(rows.v);
    const lines = ['timestamp,value,anomaly_score'];
    for (let i = 0; i < rows.time.length; i++) lines.push(`${rows.time[i]},${rows.value[i]},${scores[i]}`);
    mkdirSync(dirname(join(outDir, file)), { recursive: true });
    writeFileSync(join(outDir, file), lines.join('\n') + '\n');
  }
}

export interface NabScore {
  readonly standard: number;
  readonly reward_low_FP_rate: number;
  readonly reward_low_FN_rate: number;
  readonly thresholds: Readonly<Record<string, number>>;
  readonly perFile: Readonly<
    Record<
      string,
      Record<
        string,
        { score: number; tp: number; fp: number; fn: number; windows: number; windowsDetected: number }
      >
    >
  >;
  readonly counts: Readonly<Record<string, unknown>>;
}

/** Runs `node nab-score.mjs --json` on a results dir; `threshold` fixes the threshold of every profile. */
export function nabScore(scorer: string, labels: string, results: string, threshold?: number): NabScore {
  const args = [scorer, '--labels', labels, '--results', results, '--json'];
  if (threshold !== undefined) args.push('--threshold', String(threshold));
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`nab-score failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as NabScore;
}
