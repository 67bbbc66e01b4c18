/**
 * `npm run bench:fit`: the cost of the model, measured on the engine itself.
 *
 * - One refit of a series holding 4,000 samples of 5-minute data (14 days; daily and weekly
 *   pattern, trend, noise): at the defaults that is 1,024 raw samples plus 248 coarse hourly
 *   buckets. Median of repeated refits on copies of the same state (periodicity detection,
 *   Prophet MAP fit with the robust pass, residual model, DBSCAN envelope, tails).
 * - The same refit with periodicity detection forced (it normally runs once a week).
 * - Scoring one sample (median over batches of 256 consecutive samples without a refit).
 * - A direct fitProphet on the 4,000 raw points (Prophet's defaults: 25 changepoints, daily and
 *   weekly seasonality), for comparison with Prophet's 0.2–2 s per fit.
 * - The state's size at the defaults, in memory and encoded.
 *
 * Last line: one JSON object of the figures.
 */
import {
  createAnomalyEngine,
  defaultDetectionConfig,
  newScoreOutput,
} from '../src/operators/anomaly/index.js';
import { layoutOf, PERIOD_AGE, type EngineState } from '../src/operators/anomaly/state.js';
import { newScratch, refit } from '../src/operators/anomaly/refit.js';
import { fitProphet } from '../src/prophet/index.js';
import { createPrng } from '../src/detectors/index.js';
import { median, round } from './lib/stats.js';

const STEP = 300_000;
const N = 4000;
const config = defaultDetectionConfig();
const engine = createAnomalyEngine(config);
const out = newScoreOutput();
const rng = createPrng(7);
const gauss = () => {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
};
const t0 = Date.UTC(2024, 0, 1);
const value = (i: number) => {
  const t = t0 + i * STEP;
  const day = ((t % 86_400_000) / 86_400_000) * 2 * Math.PI;
  const dow = Math.floor(t / 86_400_000 + 4) % 7;
  return 100 + 0.002 * i + 30 * Math.sin(day) + 10 * Math.cos(2 * day) + (dow >= 5 ? -15 : 0) + 4 * gauss();
};
const ts = Float64Array.from({ length: N + 40 * 4096 }, (_, i) => t0 + i * STEP);
const vs = Float64Array.from({ length: N + 40 * 4096 }, (_, i) => value(i));

const st = engine.create();
for (let i = 0; i < N; i++) engine.process(st, ts[i]!, vs[i]!, true, out);
const l = layoutOf(config);
const sc = newScratch(l, config);
const copy = (s: EngineState) => engine.decode(engine.encode(s));

function timeRefits(forcePeriods: boolean, reps: number): number[] {
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const s = copy(st);
    if (forcePeriods) s.f[PERIOD_AGE] = 1e9;
    const a = performance.now();
    refit(s, l, config, sc);
    times.push(performance.now() - a);
  }
  return times;
}
timeRefits(false, 20); // warm up
const refitMs = median(timeRefits(false, 101));
const refitPeriodsMs = median(timeRefits(true, 41));

// scoring: continue the series; time batches of 256 samples and keep those without a refit (the
// refit's cost is the figure above, amortised over the cadence)
const s2 = copy(st);
const perSample: number[] = [];
let i = N;
let batches = 0;
while (perSample.length < 300 && i + 256 <= ts.length) {
  const a = performance.now();
  let refits = 0;
  let ignored = 0;
  for (let k = 0; k < 256; k++, i++) {
    engine.process(s2, ts[i]!, vs[i]!, true, out);
    if (out.refit) refits++;
    if (out.stage === 'ignored') ignored++;
  }
  const us = ((performance.now() - a) * 1000) / 256;
  if (ignored > 0) throw new Error('bench:fit: samples were ignored');
  batches++;
  if (refits === 0) perSample.push(us);
}
const scoreUs = median(perSample);

// direct Prophet-style fit on the raw 4,000 points (Prophet's defaults)
const prophetTimes: number[] = [];
for (let r = 0; r < 15; r++) {
  const a = performance.now();
  fitProphet({ timestampsMs: ts, values: vs, n: N }, { seasonalities: 'auto' });
  prophetTimes.push(performance.now() - a);
}
const prophetMs = median(prophetTimes.slice(3));

const stateBytes = st.b.byteOffset + st.b.byteLength - st.f.byteOffset; // its region of the slab
const encodedBytes = engine.encode(st).byteLength;
const cadence = st.f[13]!;
console.log(
  `series: ${N} samples at 5 min (raw ring ${config.raw_history}, coarse ${config.coarse_history} buckets)`,
);
console.log(
  `refit (median of 101): ${refitMs.toFixed(3)} ms; with periodicity detection: ${refitPeriodsMs.toFixed(3)} ms`,
);
console.log(
  `refit cadence: every ${cadence} records → amortised ${((refitMs * 1000) / cadence).toFixed(2)} µs/sample`,
);
console.log(
  `score one sample (median of ${perSample.length} refit-free batches of 256, of ${batches}): ${scoreUs.toFixed(3)} µs`,
);
console.log(
  `fitProphet on the 4,000 raw points (25 changepoints, daily+weekly): ${prophetMs.toFixed(2)} ms (Prophet: 200–2000 ms → ${Math.round(200 / prophetMs)}–${Math.round(2000 / prophetMs)}× faster)`,
);
console.log(`state: ${stateBytes} bytes in memory, ${encodedBytes} bytes encoded`);
console.log(
  JSON.stringify({
    bench: 'fit',
    refitMs: round(refitMs, 3),
    refitWithPeriodsMs: round(refitPeriodsMs, 3),
    cadenceRecords: cadence,
    amortisedRefitUsPerSample: round((refitMs * 1000) / cadence, 3),
    scoreUsPerSample: round(scoreUs, 3),
    fitProphet4000Ms: round(prophetMs, 3),
    speedupVsProphetLow: round(200 / refitMs, 1),
    stateBytes,
    encodedBytes,
  }),
);
