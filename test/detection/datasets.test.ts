/**
 * Known answers on the shared datasets (../shared/datasets, read-only): periodicity on NAB files,
 * and the backtest (the production operator through the harness) writing NAB-layout results that
 * the NAB scorer accepts. Bounded: a few seconds. Skipped when the datasets are not present.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { DAY_MS, WEEK_MS, detectPeriods } from '../../src/detectors/index.js';
import { parseSeriesCsv, runBacktest } from '../../src/app/backtest.js';
import { defaultDetectionConfig } from '../../src/operators/anomaly/index.js';

const shared = process.env['VIGIL_SHARED'] ?? join(process.cwd(), '..', 'shared');
const nab = join(shared, 'datasets', 'nab-dev');
const skip = !existsSync(join(nab, 'data')) ? 'shared datasets not found' : false;

function periodsOf(rel: string): number[] {
  const rows = parseSeriesCsv(readFileSync(join(nab, 'data', rel), 'utf8'));
  const r = detectPeriods({ timestampsMs: rows.tsMs, values: rows.v }, { seed: 1 });
  assert.equal(r.kind, 'ok');
  return r.kind === 'ok' ? r.findings.map((p) => p.periodMs) : [];
}

describe('periodicity on NAB files', { skip }, () => {
  test('artificial daily series (5-minute data): 288 samples = 1 day', () => {
    for (const f of [
      'artificialNoAnomaly/art_daily_no_noise.csv',
      'artificialNoAnomaly/art_daily_small_noise.csv',
      'artificialWithAnomaly/art_daily_jumpsdown.csv',
      'artificialWithAnomaly/art_daily_nojump.csv',
    ]) {
      assert.deepEqual(periodsOf(f), [DAY_MS], f);
    }
  });
  test('pure noise (art_noisy): none', () => {
    assert.deepEqual(periodsOf('artificialNoAnomaly/art_noisy.csv'), []);
  });
  test('nyc_taxi (30-minute data): daily and weekly; exchange-2 (hourly): daily', () => {
    assert.deepEqual(
      periodsOf('realKnownCause/nyc_taxi.csv').sort((a, b) => a - b),
      [DAY_MS, WEEK_MS],
    );
    assert.deepEqual(periodsOf('realAdExchange/exchange-2_cpc_results.csv'), [DAY_MS]);
  });
});

describe('backtest', { skip }, () => {
  test('writes one scored row per input row, in NAB layout, and the NAB scorer accepts it', async () => {
    const out = mkdtempSync(join(tmpdir(), 'vigil-backtest-'));
    try {
      const files = [
        'artificialWithAnomaly/art_daily_jumpsdown.csv',
        'realTraffic/speed_7578.csv',
        'realAdExchange/exchange-3_cpc_results.csv',
      ];
      const progress: number[] = [];
      const summary = await runBacktest({
        dataDir: join(nab, 'data'),
        outDir: out,
        detection: defaultDetectionConfig(),
        files,
        onProgress: (done) => progress.push(done),
      });
      assert.equal(summary.files, 3);
      assert.equal(progress[progress.length - 1], summary.rows);
      for (const f of files) {
        const input = readFileSync(join(nab, 'data', f), 'utf8')
          .trim()
          .split('\n');
        const output = readFileSync(join(out, f), 'utf8').trim().split('\n');
        assert.equal(output[0], 'timestamp,value,anomaly_score');
        assert.equal(output.length, input.length);
        for (let i = 1; i < output.length; i++) {
          const [t, v, s] = output[i]!.split(',');
          assert.equal(`${t},${v}`, input[i]!.trim());
          const score = Number(s);
          assert.ok(score >= 0 && score <= 1, `${f}:${i + 1} score ${s}`);
        }
      }
      // the jump-down anomaly of art_daily_jumpsdown is found inside its window
      const scorer = join(shared, 'tools', 'nab-score.mjs');
      const labels = join(nab, 'labels', 'combined_windows.json');
      const r = spawnSync(
        process.execPath,
        [scorer, '--labels', labels, '--results', out, '--json', '--threshold', '0.5'],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      const json = JSON.parse(r.stdout) as {
        perFile: Record<string, { standard: { windowsDetected: number; windows: number } }>;
      };
      const jd = json.perFile['artificialWithAnomaly/art_daily_jumpsdown.csv']!.standard;
      assert.equal(jd.windowsDetected, jd.windows);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('rows the runtime drops (duplicate timestamps, bad values) are written with score 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-backtest-in-'));
    const out = join(dir, 'out');
    try {
      const { mkdirSync, writeFileSync } = await import('node:fs');
      mkdirSync(join(dir, 'data', 'cat'), { recursive: true });
      const lines = ['timestamp,value'];
      for (let i = 0; i < 300; i++)
        lines.push(
          `2024-01-01 ${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00,${10 + (i % 7)}`,
        );
      lines.push(lines[lines.length - 1]!); // duplicate timestamp
      lines.push('2024-01-01 05:00:00,abc'); // not a number
      lines.push('not a time,3');
      writeFileSync(join(dir, 'data', 'cat', 'x.csv'), lines.join('\n') + '\n');
      const summary = await runBacktest({
        dataDir: join(dir, 'data'),
        outDir: out,
        detection: defaultDetectionConfig(),
        onProgress: () => {},
      });
      assert.equal(summary.rows, 303);
      assert.equal(summary.ignored, 3);
      const rows = readFileSync(join(out, 'cat', 'x.csv'), 'utf8')
        .trim()
        .split('\n');
      assert.equal(rows.length, 304);
      assert.deepEqual(
        rows.slice(-3).map((r) => r.split(',')[2]),
        ['0', '0', '0'],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
