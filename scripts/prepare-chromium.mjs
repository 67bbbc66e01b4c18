#!/usr/bin/env node
// Installs Debian's `chromium` package: the real browser that the console tests (test/console/)
// drive through playwright-core at /usr/bin/chromium. Playwright never downloads a browser here.
// Skipped when /usr/bin/chromium (or $CHROMIUM_BIN) is already there. The console tests cannot
// run without a browser, so a failed install fails this step (and `npm test`) with the reason.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const bin = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
if (existsSync(bin)) process.exit(0);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const t0 = Date.now();
for (const args of [
  ['update', '-qq'],
  ['install', '-y', '-qq', '--no-install-recommends', 'chromium', 'fonts-dejavu-core'],
]) {
  const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(
      `prepare-chromium: apt-get ${args[0]} failed (exit ${r.status ?? r.signal}); ` +
        'the console browser tests need /usr/bin/chromium (Debian package "chromium")',
    );
    process.exit(1);
  }
}
if (!existsSync(bin)) {
  console.error(`prepare-chromium: apt-get installed chromium but ${bin} is missing`);
  process.exit(1);
}
console.log(`prepare-chromium: installed chromium in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
