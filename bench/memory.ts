/**
 * `npm run bench:memory`: resident memory per series with fitted models at 10k, 100k and 1M
 * series (the slope between sizes), and checkpoint write and restore time at the largest size.
 *
 * Method: real series states are built by running the production operator (through the
 * in-process harness) over a few weeks of 5-minute data of several shapes, so every state holds
 * a full history and fitted models. A checkpoint with N series is written in the runtime's own
 * format, each series a copy of one of the template states under its own key. A Vigil process is
 * started on that state directory: the time until it listens is the restore time (it reads,
 * verifies and decodes every series into its worker), and its resident memory (VmRSS of the
 * whole process, all threads) after the restore is measured against a Vigil with no series.
 * Then SIGTERM: the final checkpoint it writes before exiting is the checkpoint write time.
 *
 * Options: --sizes 10000,100000,1000000. The last line is one JSON object of the figures.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadVigilConfigText } from '../src/app/config.js';
import { anomalyOperatorOptions, createAnomalyOperator } from '../src/operators/anomaly-operator.js';
import {
  assignKeyGroup,
  openCheckpointWriter,
  createOperatorHarness,
  encodeKeyGroupEntries,
  type KeyGroupEntry,
} from '../src/keyed-runtime/index.js';
import { seriesKey } from '../src/common/index.js';
import { startVigilProcess } from '../test/support/vigil-process.js';
import { gaussian, mulberry32 } from '../test/support/series.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] as string) : def;
};
const SIZES = arg('sizes', '10000,100000,1000000').split(',').map(Number);
const KEY_GROUPS = 128;
const STEP = 300_000;
const WEEKS = 3;

/** Template states: the real operator over 3 weeks of 5-minute data of four shapes. */
function templates(): { state: Uint8Array; lastTs: number; lastValue: number }[] {
  const config = loadVigilConfigText('{}');
  const operator = createAnomalyOperator(anomalyOperatorOptions(config.detection, config.alerting));
  const h = createOperatorHarness(operator);
  const n = (WEEKS * 7 * 86_400_000) / STEP;
  const end = Date.now() - 86_400_000;
  const start = end - n * STEP;
  const g = gaussian(mulberry32(42));
  const shapes: ((t: number) => number)[] = [
    (t) => 1000 + 400 * Math.sin((2 * Math.PI * t) / 86_400_000) + 20 * g(),
    (t) =>
      50 +
      10 * Math.sin((2 * Math.PI * t) / 86_400_000) +
      5 * Math.sin((2 * Math.PI * t) / 604_800_000) +
      2 * g(),
    (t) => 10 + ((t - start) / 86_400_000) * 0.5 + g(),
    () => 200 + 30 * g(),
  ];
  return shapes.map((f, i) => {
    const key = `template_${i}`;
    let ts = start;
    let v = 0;
    for (let k = 0; k < n; k++) {
      ts = start + k * STEP;
      v = f(ts);
      h.push(key, ts, v);
    }
    const state = h.state(key);
    if (!state) throw new Error('no state');
    return { state: operator.codec.encode(state), lastTs: ts, lastValue: v };
  });
}

async function writeStateDir(
  n: number,
  tpl: ReturnType<typeof templates>,
): Promise<{ dir: string; seconds: number; bytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), `vigil-mem-${n}-`));
  const t0 = performance.now();
  const groups = new Map<number, KeyGroupEntry[]>();
  const w = await openCheckpointWriter(join(dir, 'checkpoints'), 1);
  const flushGroup = async (kg: number): Promise<void> => {
    const entries = groups.get(kg);
    if (!entries || entries.length === 0) return;
    await w.addGroup(kg, encodeKeyGroupEntries(entries), entries.length, 0);
    groups.delete(kg);
  };
  // Keys are assigned to key groups as the runtime does; groups are written whole, in order.
  const byGroup = Array.from({ length: KEY_GROUPS }, () => [] as number[]);
  for (let i = 0; i < n; i++) byGroup[assignKeyGroup(keyOf(i), KEY_GROUPS)]!.push(i);
  for (let kg = 0; kg < KEY_GROUPS; kg++) {
    const entries = byGroup[kg]!.map((i) => {
      const t = tpl[i % tpl.length]!;
      return { key: keyOf(i), lastTs: t.lastTs, lastValue: t.lastValue, state: t.state };
    });
    groups.set(kg, entries);
    await flushGroup(kg);
  }
  const bytes = await w.finish({
    id: 1,
    createdAt: new Date().toISOString(),
    operator: 'anomaly',
    stateVersion: stateVersion(),
    keyGroups: KEY_GROUPS,
    walLsn: 0,
    sources: {},
  });
  return { dir, seconds: (performance.now() - t0) / 1000, bytes };
}

function keyOf(i: number): string {
  return seriesKey('http_request_duration_seconds', {
    service: `svc-${i % 997}`,
    instance: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:9100`,
    job: 'api',
  });
}

function stateVersion(): number {
  const config = loadVigilConfigText('{}');
  return createAnomalyOperator(anomalyOperatorOptions(config.detection, config.alerting)).stateVersion;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const CONFIG = `
log:
  level: info
runtime:
  key_groups: ${KEY_GROUPS}
  checkpoint_interval: 24h
  checkpoints_retained: 1
  series_ttl: '0'
`;

async function measure(
  stateDir: string | undefined,
): Promise<{ rss: number; restoreSeconds: number; checkpointSeconds: number }> {
  const t0 = performance.now();
  const v = await startVigilProcess({
    // e.g. BENCH_VIGIL_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the Vigil process.
    nodeArgs: (process.env['BENCH_VIGIL_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
    configYaml: CONFIG,
    ...(stateDir ? { stateDir } : {}),
    timeoutMs: 30 * 60_000,
  });
  const restoreSeconds = (performance.now() - t0) / 1000;
  // Steady state: restore leaves garbage (checkpoint blobs read and copied) that V8 collects and
  // returns when the process is idle (its memory reducer). Sample RSS every 2 s until it stops
  // falling (or 60 s), and report the settled value.
  let rss = rssBytes(v.pid);
  for (let waited = 0; waited < 60_000; waited += 2000) {
    await new Promise((r) => setTimeout(r, 2000));
    const now = rssBytes(v.pid);
    const settled = now > rss * 0.995;
    rss = Math.min(rss, now);
    if (settled && waited >= 8000) break;
  }
  await v.stop(30 * 60_000);
  const line = v
    .output()
    .split('\n')
    .find((l) => l.includes('"msg":"checkpoint written"'));
  const checkpointSeconds = line ? Number((JSON.parse(line) as { seconds: number }).seconds) : NaN;
  return { rss, restoreSeconds, checkpointSeconds };
}

async function main(): Promise<void> {
  process.stderr.write('building template states with the production operator…\n');
  const tpl = templates();
  const stateBytes = tpl.map((t) => t.state.length);
  const base = await measure(undefined);
  process.stderr.write(`baseline (0 series): RSS ${(base.rss / 2 ** 20).toFixed(0)} MiB\n`);
  const rows: {
    series: number;
    rssMiB: number;
    bytesPerSeries: number;
    restoreSeconds: number;
    checkpointSeconds: number;
    fileBytes: number;
  }[] = [];
  for (const n of SIZES) {
    const { dir, bytes } = await writeStateDir(n, tpl);
    const m = await measure(dir);
    rmSync(dir, { recursive: true, force: true });
    const row = {
      series: n,
      rssMiB: Math.round(m.rss / 2 ** 20),
      bytesPerSeries: Math.round((m.rss - base.rss) / n),
      restoreSeconds: Number(m.restoreSeconds.toFixed(2)),
      checkpointSeconds: Number(m.checkpointSeconds.toFixed(2)),
      fileBytes: bytes,
    };
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  const slope =
    rows.length > 1
      ? Math.round(((last.rssMiB - first.rssMiB) * 2 ** 20) / (last.series - first.series))
      : first.bytesPerSeries;
  const result = {
    bench: 'memory',
    date: new Date().toISOString(),
    node: process.version,
    encodedStateBytes: stateBytes,
    baselineRssMiB: Math.round(base.rss / 2 ** 20),
    rows,
    bytesPerSeriesSlope: slope,
    restoreSecondsAtMax: last.restoreSeconds,
    checkpointWriteSecondsAtMax: last.checkpointSeconds,
  };
  process.stdout.write(
    [
      '',
      'series      RSS MiB   bytes/series   restore s   checkpoint write s   checkpoint file',
      ...rows.map(
        (r) =>
          `${String(r.series).padStart(8)}   ${String(r.rssMiB).padStart(7)}   ${String(r.bytesPerSeries).padStart(12)}   ${r.restoreSeconds.toFixed(2).padStart(9)}   ${r.checkpointSeconds.toFixed(2).padStart(18)}   ${(r.fileBytes / 2 ** 30).toFixed(2)} GiB`,
      ),
      `slope ${slope} bytes/series (RSS between ${first.series} and ${last.series} series); encoded state ${stateBytes.join('/')} bytes`,
      JSON.stringify(result),
      '',
    ].join('\n'),
  );
}

await main();
