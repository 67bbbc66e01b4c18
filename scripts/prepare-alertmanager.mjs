#!/usr/bin/env node
// Builds a real Prometheus Alertmanager (and amtool) from the Go module proxy for
// test/alerts/alertmanager.test.ts, cached in node_modules/.cache. About 60 s cold, a few seconds
// with a warm Go module cache, instant when already built. Without `go`, that test skips and says so.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const VERSION = 'v0.28.1'; // v0.34.x cannot be built with `go install` (its UI assets are not in the module zip)
const bin = resolve('node_modules/.cache/vigil-alertmanager', VERSION);
if (existsSync(`${bin}/alertmanager`) && existsSync(`${bin}/amtool`)) process.exit(0);
if (spawnSync('go', ['version']).status !== 0) {
  console.warn('prepare-alertmanager: no go toolchain; the real-Alertmanager test will skip');
  process.exit(0);
}
const t0 = Date.now();
const r = spawnSync(
  'go',
  [
    'install',
    `github.com/prometheus/alertmanager/cmd/alertmanager@${VERSION}`,
    `github.com/prometheus/alertmanager/cmd/amtool@${VERSION}`,
  ],
  { stdio: 'inherit', env: { ...process.env, GOBIN: bin, GOFLAGS: '-mod=mod' } },
);
if (r.status !== 0) {
  console.warn('prepare-alertmanager: go install failed; the real-Alertmanager test will skip');
  process.exit(0);
}
console.log(
  `prepare-alertmanager: built alertmanager ${VERSION} in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
);
