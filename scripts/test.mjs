#!/usr/bin/env node
// The one test command (`npm test`, run by .ci/run). It prepares everything the tests need and
// runs them, in this order:
//   1. lint (eslint, type-aware) and format check (prettier)      skip with --no-lint
//   2. build: tsc compiles src/, test/ and bench/ to dist/
//   3. prepare: scripts/prepare-*.mjs (e.g. fetch the Kafka broker jars with mvn, cached in .kafka/)
//   4. run node's test runner over the compiled tests:
//        unit         dist/src/**/*.test.js     (pure code, beside the sources)
//        integration  dist/test/**/*.test.js    (real servers on loopback), except test/faults/
//        faults       dist/test/faults/**/*.test.js
//      --only unit|integration|faults picks one group; extra arguments filter files by substring.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const noLint = args.includes('--no-lint');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : undefined;
const filters = args.filter((a, i) => !a.startsWith('--') && i !== onlyIdx + 1);

function run(cmd, argv, opts = {}) {
  const t0 = Date.now();
  console.log(`\n$ ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts });
  const s = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    console.error(`\n✗ ${cmd} ${argv[0] ?? ''} failed (exit ${r.status ?? r.signal}) after ${s}s`);
    process.exit(r.status ?? 1);
  }
  console.log(`✓ ${s}s`);
}

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const bin = (name) => join(root, 'node_modules', '.bin', name);
if (!noLint) {
  run(bin('eslint'), ['.', '--max-warnings=0']);
  run(bin('prettier'), ['--check', '--log-level=warn', '.']);
}
run(bin('tsc'), ['-p', 'tsconfig.json']);

const prepares = existsSync(join(root, 'scripts'))
  ? readdirSync(join(root, 'scripts'))
      .filter((f) => /^prepare-.*\.mjs$/.test(f))
      .sort()
  : [];
const groups = {
  unit: walk(join(root, 'dist', 'src')),
  integration: walk(join(root, 'dist', 'test')).filter((f) => !f.includes('/test/faults/')),
  faults: walk(join(root, 'dist', 'test', 'faults')),
};
const selected = only ? [only] : ['unit', 'integration', 'faults'];
let files = selected.flatMap((g) => groups[g] ?? []);
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files selected');
  process.exit(1);
}
if (selected.some((g) => g !== 'unit')) for (const p of prepares) run(process.execPath, [join('scripts', p)]);

console.log(`\nrunning ${files.length} test files (${selected.join(', ')})`);
run(process.execPath, [
  '--enable-source-maps',
  '--test',
  '--test-concurrency=2',
  '--test-timeout=600000',
  '--test-reporter=spec',
  ...files.map((f) => relative(root, f)),
]);
