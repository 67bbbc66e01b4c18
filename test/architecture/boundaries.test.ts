/**
 * Module boundaries (../shared/design/style.md part b), checked on the source text:
 * - each src/ folder is imported from outside only through its index.ts;
 * - the allowed arrows between modules (only the wiring layers src/app and src/operators
 *   combine modules; prophet may use detectors; everyone may use the leaf src/common);
 * - pure modules import no node: built-ins or I/O libraries;
 * - no import cycles between modules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SRC = join(ROOT, 'src');

/** module → modules it may import */
const ALLOWED: Record<string, readonly string[]> = {
  common: [],
  detectors: ['common'],
  prophet: ['common', 'detectors'],
  ingest: ['common'],
  'keyed-runtime': ['common'],
  alerts: ['common'],
  'operators/anomaly': ['common', 'detectors', 'prophet'],
  operators: ['common', 'detectors', 'prophet', 'alerts', 'keyed-runtime', 'operators/anomaly'],
  app: [
    'common',
    'detectors',
    'prophet',
    'ingest',
    'keyed-runtime',
    'alerts',
    'operators',
    'operators/anomaly',
  ],
};
const PURE = new Set(['common', 'detectors', 'prophet', 'operators/anomaly']);
const IO_PACKAGES =
  /^(node:|fs$|path$|http$|net$|worker_threads$|child_process$|kafkajs|fastify|pino|nodemailer|prom-client)/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

function moduleOf(file: string): string {
  const rel = relative(SRC, file).split('/');
  if (rel[0] === 'operators' && rel[1] === 'anomaly') return 'operators/anomaly';
  return rel.length === 1 ? 'app' : (rel[0] as string);
}

const IMPORT =
  /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

test('module boundaries, purity and no cycles', () => {
  const problems: string[] = [];
  const edges = new Map<string, Set<string>>();
  for (const file of files(SRC)) {
    const from = moduleOf(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2] ?? m[3]) as string;
      const where = relative(ROOT, file);
      if (!spec.startsWith('.')) {
        if (PURE.has(from) && IO_PACKAGES.test(spec))
          problems.push(`${where}: pure module ${from} imports ${spec}`);
        continue;
      }
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(SRC)) continue;
      const to = moduleOf(target.replace(/\.js$/, '.ts'));
      if (to === from) continue;
      if (!(ALLOWED[from] ?? []).includes(to))
        problems.push(`${where}: ${from} must not import ${to} (${spec})`);
      const isIndex = /\/index\.js$/.test(spec);
      const wiring = from === 'app' || from === 'operators';
      // The wiring layer may import a worker-side file by URL-free path only through index.ts too,
      // except operators/anomaly-operator.ts which is itself a wiring file.
      if (!isIndex && !(wiring && to === 'operators'))
        problems.push(`${where}: imports ${to} internals (${spec}); use its index.ts`);
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(to);
    }
  }
  // Cycle check over the module graph.
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string, path: string[]): void => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'visiting') {
      problems.push(`import cycle: ${[...path, n].join(' → ')}`);
      return;
    }
    state.set(n, 'visiting');
    for (const m of edges.get(n) ?? []) visit(m, [...path, n]);
    state.set(n, 'done');
  };
  for (const n of edges.keys()) visit(n, []);
  assert.deepEqual(problems, []);
});
