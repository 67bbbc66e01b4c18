#!/usr/bin/env node
// Installs Debian's prometheus package: the real remote-write client that
// test/protocols/remote-write.test.ts points at Vigil (agent mode). Skipped when a binary is
// already there (/usr/bin/prometheus or $PROMETHEUS_BIN); if apt cannot install it, the test
// says so and skips that one case.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

if (process.env.PROMETHEUS_BIN || existsSync('/usr/bin/prometheus')) process.exit(0);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const t0 = Date.now();
for (const args of [
  ['update', '-qq'],
  ['install', '-y', '-qq', '--no-install-recommends', 'prometheus'],
]) {
  const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
  if (r.status !== 0) {
    console.warn(`prepare-prometheus: apt-get ${args[0]} failed; the real-Prometheus test will be skipped`);
    process.exit(0);
  }
}
console.log(`prepare-prometheus: installed prometheus in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
