/**
 * `npm run bench:nab`: the backtest (the production operator through the harness) over
 * shared/datasets/nab-dev and shared/datasets/synth-dev, scored with shared/tools/nab-score.mjs
 * (NAB's standard, reward_low_FP_rate and reward_low_FN_rate profiles), once with the threshold
 * optimised per profile (as NAB reports) and once with the threshold fixed at
 * detection.threshold (as production runs), beside the windowed-Gaussian reference detector
 * scored in the same run.
 *
 * Options: `--ablate` also runs the ablations (each stage off); `--config JSON` overrides detection
 * keys (e.g. '{"suppress_for":"0"}'); `--only nab|synth`.
 * Last line: one JSON object of the figures.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBacktest } from '../src/app/backtest.js';
import { defaultDetectionConfig, type DetectionConfig } from '../src/operators/anomaly/index.js';
import { nabScore, writeGaussianResults, type NabScore } from './lib/nab.js';
import { round } from './lib/stats.js';

const shared = process.env['VIGIL_SHARED'] ?? join(process.cwd(), '..', 'shared');
const scorer = join(shared, 'tools', 'nab-score.mjs');
const outRoot = join(process.cwd(), 'bench', 'out', 'nab');
const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const overrides = JSON.parse(arg('--config') ?? '{}') as Partial<DetectionConfig>;
const only = arg('--only');
const datasets = [
  { name: 'nab-dev', dir: join(shared, 'datasets', 'nab-dev') },
  { name: 'synth-dev', dir: join(shared, 'datasets', 'synth-dev') },
].filter((d) => !only || d.name.startsWith(only));

interface Result {
  readonly opt: NabScore;
  readonly fixed: NabScore;
  readonly rowsPerSecond: number;
}

async function evaluate(
  label: string,
  detection: DetectionConfig,
  dataset: { name: string; dir: string },
): Promise<Result> {
  const out = join(outRoot, label, dataset.name);
  rmSync(out, { recursive: true, force: true });
  const summary = await runBacktest({ dataDir: join(dataset.dir, 'data'), outDir: out, detection });
  const labels = join(dataset.dir, 'labels', 'combined_windows.json');
  return {
    opt: nabScore(scorer, labels, out),
    fixed: nabScore(scorer, labels, out, detection.threshold),
    rowsPerSecond: summary.rowsPerSecond,
  };
}

const fmt = (s: NabScore) =>
  `${s.standard.toFixed(1).padStart(6)} ${s.reward_low_FP_rate.toFixed(1).padStart(6)} ${s.reward_low_FN_rate.toFixed(1).padStart(6)}`;

const detection = defaultDetectionConfig(overrides);
const figures: Record<string, unknown> = { bench: 'nab', threshold: detection.threshold };
console.log(`detection: ${JSON.stringify(detection)}`);
console.log(
  'dataset     detector                 optimised thr: std  lowFP  lowFN | fixed thr: std  lowFP  lowFN | thr(std)',
);
for (const ds of datasets) {
  const t0 = performance.now();
  const vigil = await evaluate('vigil', detection, ds);
  const gOut = join(outRoot, 'gaussian', ds.name);
  rmSync(gOut, { recursive: true, force: true });
  writeGaussianResults(join(ds.dir, 'data'), gOut);
  const gauss = nabScore(scorer, join(ds.dir, 'labels', 'combined_windows.json'), gOut);
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `${ds.name.padEnd(11)} vigil                    ${fmt(vigil.opt)} |        ${fmt(vigil.fixed)} | ${round(vigil.opt.thresholds['standard'] ?? NaN, 4)}`,
  );
  console.log(
    `${ds.name.padEnd(11)} windowed Gaussian        ${fmt(gauss)} |                              | ${round(gauss.thresholds['standard'] ?? NaN, 4)}`,
  );
  console.log(
    `${ds.name.padEnd(11)} ratio vigil/Gaussian (standard): ${(vigil.opt.standard / gauss.standard).toFixed(2)}; ${Math.round(vigil.rowsPerSecond)} rows/s through the operator; ${secs.toFixed(1)} s`,
  );
  const key = ds.name === 'nab-dev' ? 'nab' : 'synth';
  figures[`${key}Standard`] = round(vigil.opt.standard, 2);
  figures[`${key}LowFP`] = round(vigil.opt.reward_low_FP_rate, 2);
  figures[`${key}LowFN`] = round(vigil.opt.reward_low_FN_rate, 2);
  figures[`${key}StandardThreshold`] = round(vigil.opt.thresholds['standard'] ?? NaN, 4);
  figures[`${key}FixedStandard`] = round(vigil.fixed.standard, 2);
  figures[`${key}FixedLowFP`] = round(vigil.fixed.reward_low_FP_rate, 2);
  figures[`${key}FixedLowFN`] = round(vigil.fixed.reward_low_FN_rate, 2);
  figures[`${key}GaussianStandard`] = round(gauss.standard, 2);
  figures[`${key}GaussianLowFP`] = round(gauss.reward_low_FP_rate, 2);
  figures[`${key}GaussianLowFN`] = round(gauss.reward_low_FN_rate, 2);
  figures[`${key}Ratio`] = round(vigil.opt.standard / gauss.standard, 2);
  figures[`${key}RowsPerSecond`] = Math.round(vigil.rowsPerSecond);
  if (args.includes('--per-file')) {
    for (const [f, p] of Object.entries(vigil.opt.perFile)) {
      const s = p['standard']!;
      console.log(
        `  ${f.padEnd(58)} ${s.score.toFixed(2).padStart(7)} tp ${s.tp} fp ${s.fp} fn ${s.fn} windows ${s.windowsDetected}/${s.windows}`,
      );
    }
  }
}

// ---- quiet on clean data: alarms on series with no anomaly at all ---------------------------
// Seeded synthetic series, one week at 1-minute steps: pure Gaussian noise, a 4-hour cycle and
// a daily cycle (both plus noise). Every sample at or above the threshold is a false alarm; the
// figure is alarms per series-week, overall and after the first 3.5 days (when a daily period
// at 1-minute steps has just been confirmed: the cold start is reported apart).
{
  const kinds = [
    { name: 'noise', cycleMin: 0 },
    { name: 'cycle-4h', cycleMin: 240 },
    { name: 'cycle-daily', cycleMin: 1440 },
  ];
  const PER_KIND = 20;
  const N = 10_080;
  const cleanDir = join(outRoot, 'clean');
  rmSync(cleanDir, { recursive: true, force: true });
  const data = join(cleanDir, 'data');
  let seed = 20261121;
  const u = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const t0 = Date.UTC(2026, 0, 5);
  for (const k of kinds) {
    mkdirSync(join(data, k.name), { recursive: true });
    for (let i = 0; i < PER_KIND; i++) {
      const level = 50 + 10 * i;
      const rows = ['timestamp,value'];
      const phase = u() * 2 * Math.PI;
      for (let j = 0; j < N; j++) {
        const cyc = k.cycleMin > 0 ? 0.3 * level * Math.sin((2 * Math.PI * j) / k.cycleMin + phase) : 0;
        const v = level + cyc + 0.03 * level * gauss();
        rows.push(
          `${new Date(t0 + j * 60_000).toISOString().slice(0, 19).replace('T', ' ')},${v.toFixed(4)}`,
        );
      }
      writeFileSync(join(data, k.name, `s${i}.csv`), rows.join('\n') + '\n');
    }
  }
  const out = join(cleanDir, 'out');
  await runBacktest({ dataDir: data, outDir: out, detection });
  const clean: Record<string, unknown> = {};
  console.log('\nclean data (no anomalies), false alarms per series-week (1-minute steps, 20 series each):');
  for (const k of kinds) {
    let all = 0;
    let late = 0;
    for (let i = 0; i < PER_KIND; i++) {
      const lines = readFileSync(join(out, k.name, `s${i}.csv`), 'utf8')
        .trim()
        .split('\n')
        .slice(1);
      lines.forEach((line, j) => {
        if (Number(line.split(',')[2]) >= detection.threshold) {
          all++;
          if (j >= N / 2) late++;
        }
      });
    }
    const perWeek = all / PER_KIND;
    const latePerWeek = (2 * late) / PER_KIND;
    console.log(
      `  ${k.name.padEnd(12)} ${perWeek.toFixed(2)} (second half of the week, as a weekly rate: ${latePerWeek.toFixed(2)})`,
    );
    clean[k.name] = {
      alarmsPerSeriesWeek: round(perWeek, 2),
      lateAlarmsPerSeriesWeek: round(latePerWeek, 2),
    };
  }
  figures['cleanData'] = clean;
}

if (args.includes('--ablate')) {
  const variants: [string, Partial<DetectionConfig>][] = [
    ['no-point-stage', { point_stage: false }],
    ['no-dbscan-gate', { dbscan_gate: false }],
    ['gaussian-tails', { calibration: 'gaussian' }],
    ['no-ar-innovations', { innovations: false }],
    ['with-htm-likelihood', { likelihood_window: 10 }],
    ['no-level-ewma', { level_spans: [0, 0] }],
    ['no-range-rule', { range_tolerance: 0 }],
    ['no-suppression', { suppress_for: '0' }],
    ['no-level-shift', { level_shift_z: 1e9 }],
    ['no-seasonality', { max_periods: 0, calendar_seasonality: false }],
    ['no-calendar', { calendar_seasonality: false }],
    ['no-profile', { seasonal_profile: false }],
    ['no-heteroscedastic', { heteroscedastic: false }],
    ['threshold-0.5', { threshold: 0.5 }],
  ];
  const abl: Record<string, unknown> = {};
  console.log('\nablations (optimised threshold; fixed threshold in brackets): standard');
  for (const [name, o] of variants) {
    const d = defaultDetectionConfig({ ...overrides, ...o });
    const row: Record<string, number> = {};
    let line = `  ${name.padEnd(20)}`;
    for (const ds of datasets) {
      const r = await evaluate(`ablate-${name}`, d, ds);
      const key = ds.name === 'nab-dev' ? 'nab' : 'synth';
      row[key] = round(r.opt.standard, 2);
      row[`${key}Fixed`] = round(r.fixed.standard, 2);
      line += ` ${ds.name} ${r.opt.standard.toFixed(1)} [${r.fixed.standard.toFixed(1)}]`;
    }
    console.log(line);
    abl[name] = row;
  }
  figures['ablations'] = abl;
}
console.log(JSON.stringify(figures));
