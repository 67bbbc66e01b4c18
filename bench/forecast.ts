/**
 * `npm run bench:forecast`: Prophet's own cross-validation on Peyton Manning's log page views,
 * replicated: `cross_validation(initial='730 days', period='180 days', horizon='365 days')`
 * (cutoffs as prophet/diagnostics.py `generate_cutoffs`), yearly (10) + weekly (3) seasonality,
 * no holidays, then `performance_metrics` with a rolling window of 10% (`rolling_mean_by_h`).
 * Prints MAPE, RMSE and the 80% band's coverage at the 37-day horizon beside Prophet's published
 * 0.0584 / 0.7024 / 0.677 (docs/_docs/diagnostics.md), and the median fit time.
 * Last line: one JSON object of the figures.
 */
import { join } from 'node:path';
import { fitProphet, predict, type ProphetOptions } from '../src/prophet/index.js';
import { readSeriesCsv } from './lib/csv.js';
import { median, round } from './lib/stats.js';

const DAY = 86_400_000;
const file =
  process.env['VIGIL_PROPHET_CSV'] ??
  join(process.cwd(), '..', 'shared', 'datasets', 'prophet-examples', 'example_wp_log_peyton_manning.csv');
const PUBLISHED = { mape37: 0.0584, rmse37: 0.7024, coverage37: 0.677 };

const data = readSeriesCsv(file);
const ok: number[] = [];
for (let i = 0; i < data.values.length; i++) if (Number.isFinite(data.values[i])) ok.push(i);
const ts = Float64Array.from(ok, (i) => data.timestampsMs[i]!);
const ys = Float64Array.from(ok, (i) => data.values[i]!);
const n = ts.length;

/** prophet/diagnostics.py generate_cutoffs. */
function cutoffs(horizon: number, initial: number, period: number): number[] {
  const min = ts[0]!;
  const max = ts[n - 1]!;
  let cutoff = max - horizon;
  const result = [cutoff];
  while (result[result.length - 1]! >= min + initial) {
    cutoff -= period;
    let any = false;
    for (let i = 0; i < n; i++) if (ts[i]! > cutoff && ts[i]! <= cutoff + horizon) any = true;
    if (!any && cutoff > min) {
      let closest = min;
      for (let i = 0; i < n; i++) if (ts[i]! <= cutoff) closest = ts[i]!;
      cutoff = closest - horizon;
    }
    result.push(cutoff);
  }
  result.pop();
  return result.reverse();
}

const options: ProphetOptions = {
  seasonalities: [
    { name: 'yearly', periodMs: 365.25 * DAY, order: 10 },
    { name: 'weekly', periodMs: 7 * DAY, order: 3 },
  ],
};

interface Row {
  h: number;
  y: number;
  yhat: number;
  lower: number;
  upper: number;
  /** Band with the holdout-calibrated future noise (holdoutFraction 0.1). */
  lowerCal: number;
  upperCal: number;
}
const rows: Row[] = [];
const fitMs: number[] = [];
const cuts = cutoffs(365 * DAY, 730 * DAY, 180 * DAY);
for (const c of cuts) {
  let m = 0;
  while (m < n && ts[m]! <= c) m++;
  const t0 = performance.now();
  const model = fitProphet({ timestampsMs: ts, values: ys, n: m }, options);
  fitMs.push(performance.now() - t0);
  const calibrated = fitProphet({ timestampsMs: ts, values: ys, n: m }, { ...options, holdoutFraction: 0.1 });
  for (let i = m; i < n && ts[i]! <= c + 365 * DAY; i++) {
    const p = predict(model, ts[i]!, 0.8);
    const q = predict(calibrated, ts[i]!, 0.8);
    rows.push({
      h: Math.round((ts[i]! - c) / DAY),
      y: ys[i]!,
      yhat: p.yhat,
      lower: p.lower,
      upper: p.upper,
      lowerCal: q.lower,
      upperCal: q.upper,
    });
  }
}
rows.sort((a, b) => a.h - b.h);
const w = Math.max(1, Math.floor(0.1 * rows.length));

/** prophet/diagnostics.py rolling_mean_by_h: right-aligned means of ≥ w points, per horizon. */
function rollingMeanByH(x: (r: Row) => number): Map<number, number> {
  const hs: number[] = [];
  const sums: number[] = [];
  const counts: number[] = [];
  for (const r of rows) {
    if (hs.length === 0 || hs[hs.length - 1] !== r.h) {
      hs.push(r.h);
      sums.push(0);
      counts.push(0);
    }
    sums[sums.length - 1]! += x(r);
    counts[counts.length - 1]! += 1;
  }
  const out = new Map<number, number>();
  for (let i = hs.length - 1; i >= 0; i--) {
    let cnt = counts[i]!;
    let xbar = sums[i]! / counts[i]!;
    let j = i - 1;
    while (cnt < w && j >= 0) {
      const n2 = Math.min(w - cnt, counts[j]!);
      xbar = xbar * (cnt / (cnt + n2)) + (sums[j]! / counts[j]!) * (n2 / (cnt + n2));
      cnt += n2;
      j--;
    }
    if (cnt < w) break;
    out.set(hs[i]!, xbar);
  }
  return out;
}

const mape = rollingMeanByH((r) => Math.abs((r.y - r.yhat) / r.y));
const mse = rollingMeanByH((r) => (r.y - r.yhat) ** 2);
const cov = rollingMeanByH((r) => (r.y >= r.lower && r.y <= r.upper ? 1 : 0));
const covCal = rollingMeanByH((r) => (r.y >= r.lowerCal && r.y <= r.upperCal ? 1 : 0));
const firstH = Math.min(...mape.keys());
const at = (h: number) => ({
  mape: mape.get(h)!,
  rmse: Math.sqrt(mse.get(h)!),
  coverage: cov.get(h)!,
  coverageCalibrated: covCal.get(h)!,
});
const h37 = at(37);
const h365 = at(Math.max(...mape.keys()));

console.log(
  `Peyton Manning CV: ${cuts.length} cutoffs, ${rows.length} forecasts, rolling window ${w} points`,
);
console.log(`first horizon reported: ${firstH} days`);
console.log('horizon   MAPE     RMSE     coverage(80%)');
console.log(
  `37 d      ${h37.mape.toFixed(4)}   ${h37.rmse.toFixed(4)}   ${h37.coverage.toFixed(3)}   (vigil)`,
);
console.log(
  `37 d      ${PUBLISHED.mape37.toFixed(4)}   ${PUBLISHED.rmse37.toFixed(4)}   ${PUBLISHED.coverage37.toFixed(3)}   (Prophet, published)`,
);
console.log(
  `365 d     ${h365.mape.toFixed(4)}   ${h365.rmse.toFixed(4)}   ${h365.coverage.toFixed(3)}   (vigil)`,
);
console.log(
  `80% band with holdout-calibrated future noise (last 10% of each training span): coverage ${h37.coverageCalibrated.toFixed(3)} at 37 d, ${h365.coverageCalibrated.toFixed(3)} at 365 d (nominal 0.8)`,
);
console.log(
  `fit: median ${median(fitMs).toFixed(2)} ms over ${fitMs.length} cutoffs (Prophet: 200–2000 ms per fit)`,
);
console.log(
  JSON.stringify({
    bench: 'forecast',
    cutoffs: cuts.length,
    forecasts: rows.length,
    mape37: round(h37.mape, 5),
    rmse37: round(h37.rmse, 5),
    coverage37: round(h37.coverage, 4),
    coverage37Calibrated: round(h37.coverageCalibrated, 4),
    coverage365Calibrated: round(h365.coverageCalibrated, 4),
    mape365: round(h365.mape, 5),
    prophetMape37: PUBLISHED.mape37,
    prophetRmse37: PUBLISHED.rmse37,
    prophetCoverage37: PUBLISHED.coverage37,
    medianFitMs: round(median(fitMs), 3),
  }),
);
