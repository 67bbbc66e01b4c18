/**
 * Every error code the code can produce is documented in README.md ("Error codes"), as fastify
 * checks for its FST_ERR_* codes: a code a user can see must be one they can look up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/vigil-process.js';

const CODE = /'((?:INGEST|RUNTIME|ALERTS|AUTH|DETECTION|CONFIG)_[A-Z0-9_]+)'/g;

function errorFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return errorFiles(p);
    return /errors?\.ts$/.test(n) && !n.endsWith('.test.ts') ? [p] : [];
  });
}

test('every error code in src/**/errors.ts is documented in README.md', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const codes = new Set<string>();
  for (const f of errorFiles(join(REPO_ROOT, 'src')))
    for (const m of readFileSync(f, 'utf8').matchAll(CODE)) codes.add(m[1] as string);
  assert.ok(codes.size > 20, `found ${codes.size} codes`);
  const missing = [...codes].filter((c) => !readme.includes(c)).sort();
  assert.deepEqual(missing, [], `undocumented error codes: ${missing.join(', ')}`);
});
