/**
 * Fuzzing the config loader with Vigil's real schema (every module's section, the semantic
 * checks included): whatever the file holds, loading returns a config or throws a ConfigError
 * whose issues all have a code and a 1-based line:col, in bounded time. Never another exception.
 *
 * Inputs: (1) documents generated FROM the schema (right keys, values right or wrong: out of
 * range, wrong type, unknown keys, bad durations, `${ENV}` and `<key>_file` references), written
 * as YAML; (2) the shipped config/vigil.yaml with random character edits; (3) arbitrary text.
 *
 * Run alone: npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/fuzz/config.test.js
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError } from '../../src/app/config-loader.js';
import { loadVigilConfigText, VigilConfigSchema } from '../../src/app/config.js';
import { REPO_ROOT } from '../support/vigil-process.js';

const RUNS = Number(process.env['VIGIL_FUZZ_RUNS'] ?? 2000);
const HANG_BOUND_MS = 1000;
const CODES = new Set([
  'YAML_SYNTAX',
  'UNKNOWN_KEY',
  'MISSING_KEY',
  'INVALID_VALUE',
  'INVALID_TYPE',
  'ENV_MISSING',
  'SECRET_FILE',
  'UNKNOWN_RECEIVER',
  'UNKNOWN_REFERENCE',
  'DUPLICATE_NAME',
  'CONFLICT',
  'FILE_READ',
]);

type Schema = Record<string, unknown>;
const ids = new Map<string, Schema>();
(function collect(s: unknown): void {
  if (s === null || typeof s !== 'object') return;
  const o = s as Schema;
  if (typeof o['$id'] === 'string') ids.set(o['$id'], o);
  for (const v of Object.values(o)) collect(v);
})(VigilConfigSchema);

const junk = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    '${VIGIL_FUZZ_UNSET}',
    '${HOME}',
    '5m',
    '-1s',
    '0',
    '1h30m',
    '10x',
    '*',
    '127.0.0.1',
    'TLSv1.3',
  ),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }),
);

const STRINGS = [
  '5m',
  '30s',
  '0',
  '1h30m',
  '10ms',
  'x',
  `sha256:${'a'.repeat(64)}`,
  `sha256:${'b'.repeat(64)}`,
  'team-a',
  'ingest',
  'read',
  'admin',
  'log',
  'default',
  'http://127.0.0.1:1/hook',
  'https://grafana.example.com',
  '*.example.com',
  '10.0.0.0/8',
  'service="api"',
  'TLSv1.2',
];

/**
 * Values for `schema`. `wild`: mostly well-typed, sometimes wrong at any depth (wrong types,
 * unknown keys, `_file` references). `tame`: well-typed and in range (strings that match their
 * pattern), so that many documents pass the schema and the semantic checks run on them.
 */
function fromSchema(schema: Schema, depth: number, tame: boolean): fc.Arbitrary<unknown> {
  if (depth > 6) return tame ? fc.constant(undefined) : junk;
  const ref = schema['$ref'];
  if (typeof ref === 'string') {
    const target = ids.get(ref);
    return target && depth < 5 ? fromSchema(target, depth + 1, tame) : fc.constant({});
  }
  const alternatives = (schema['anyOf'] ?? schema['oneOf']) as Schema[] | undefined;
  let typed: fc.Arbitrary<unknown>;
  if (alternatives) typed = fc.oneof(...alternatives.map((a) => fromSchema(a, depth + 1, tame)));
  else if ('const' in schema) typed = fc.constant(schema['const']);
  else if (Array.isArray(schema['enum'])) typed = fc.constantFrom(...(schema['enum'] as unknown[]));
  else
    switch (schema['type']) {
      case 'object': {
        const props = (schema['properties'] ?? {}) as Record<string, Schema>;
        const entries = Object.entries(props).map(
          ([k, v]) => [k, fc.option(fromSchema(v, depth + 1, tame), { nil: undefined, freq: 2 })] as const,
        );
        if (tame) {
          typed = fc
            .record(Object.fromEntries(entries) as Record<string, fc.Arbitrary<unknown>>)
            .map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
          break;
        }
        typed = fc
          .tuple(
            fc.record(Object.fromEntries(entries) as Record<string, fc.Arbitrary<unknown>>),
            fc.option(fc.tuple(fc.stringMatching(/^[a-z_]{1,8}$/), junk), { nil: undefined, freq: 8 }),
            Object.keys(props).length === 0
              ? fc.constant(undefined)
              : fc.option(
                  fc.constantFrom(...Object.keys(props)).map((k) => `${k}_file`),
                  { nil: undefined, freq: 12 },
                ),
          )
          .map(([o, extra, fileKey]) => {
            const out: Record<string, unknown> = {};
            for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
            if (extra) out[extra[0]] = extra[1];
            if (fileKey) out[fileKey] = '/nonexistent/vigil-fuzz-secret';
            return out;
          });
        break;
      }
      case 'array':
        typed = fc.array(fromSchema((schema['items'] ?? {}) as Schema, depth + 1, tame), {
          minLength: tame ? Number(schema['minItems'] ?? 0) : 0,
          maxLength: Math.max(3, Number(schema['minItems'] ?? 0)),
        });
        break;
      case 'string': {
        const pattern = typeof schema['pattern'] === 'string' ? new RegExp(schema['pattern']) : undefined;
        const fits = STRINGS.filter((c) => !pattern || pattern.test(c));
        if (tame) {
          typed =
            fits.length > 0
              ? fc.constantFrom(...fits)
              : pattern
                ? fc.constant(undefined)
                : fc.string({ minLength: 1, maxLength: 10 });
          break;
        }
        typed = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(...STRINGS));
        break;
      }
      case 'integer': {
        const min = Number(schema['minimum'] ?? -5);
        const max = Number(schema['maximum'] ?? 70_000);
        typed = tame
          ? fc.integer({ min, max: Math.min(max, min + 100_000) })
          : fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.integer());
        break;
      }
      case 'number': {
        const min = Number(schema['minimum'] ?? -2);
        const max = Number(schema['maximum'] ?? 1000);
        typed = tame
          ? fc.double({ min, max, noNaN: true })
          : fc.oneof(fc.double({ min: -2, max: 2, noNaN: true }), fc.integer({ min: 0, max: 1000 }));
        break;
      }
      case 'boolean':
        typed = fc.boolean();
        break;
      default:
        typed = junk;
    }
  return tame ? typed : fc.oneof({ arbitrary: typed, weight: 8 }, { arbitrary: junk, weight: 1 });
}

let slowestMs = 0;
let loaded = 0;
let refused = 0;
function loadChecked(text: string): void {
  const t0 = performance.now();
  try {
    loadVigilConfigText(text, { file: 'fuzz.yaml', baseDir: '/', env: { HOME: '/root' } });
    loaded++;
  } catch (e) {
    refused++;
    assert.ok(
      e instanceof ConfigError,
      `not a ConfigError: ${(e as Error).stack ?? String(e)}\n--- input:\n${text}`,
    );
    assert.ok(e.issues.length > 0);
    for (const i of e.issues) {
      assert.ok(CODES.has(i.code), `unknown issue code ${i.code}`);
      assert.ok(i.line >= 1 && i.col >= 1, `position ${i.line}:${i.col}`);
    }
  } finally {
    slowestMs = Math.max(slowestMs, performance.now() - t0);
  }
}

test(
  'fuzz: configs generated from the schema load or fail with a positioned ConfigError',
  { timeout: 120_000 },
  () => {
    for (const tame of [false, true]) {
      const doc = fromSchema(VigilConfigSchema, 0, tame);
      fc.assert(
        fc.property(doc, (d) => {
          loadChecked(stringify(d ?? {}, { aliasDuplicateObjects: false }));
        }),
        { numRuns: RUNS },
      );
    }
    console.log(`schema-generated configs: ${loaded} loaded, ${refused} refused with a ConfigError`);
  },
);

test('fuzz: the shipped config with random edits, and arbitrary text', { timeout: 120_000 }, () => {
  const shipped = readFileSync(join(REPO_ROOT, 'config', 'vigil.yaml'), 'utf8');
  loadChecked(shipped);
  const edit = fc.array(
    fc.tuple(
      fc.nat(),
      fc.constantFrom('del', 'ins', 'set'),
      fc.constantFrom(...': -[]{}#&*!|>\'"%@`\n\t ab1$_.'),
    ),
    {
      minLength: 1,
      maxLength: 5,
    },
  );
  fc.assert(
    fc.property(edit, (edits) => {
      const a = [...shipped];
      for (const [pos, op, ch] of edits) {
        const p = pos % (a.length + 1);
        if (op === 'del') a.splice(p, 1);
        else if (op === 'ins') a.splice(p, 0, ch);
        else a[p] = ch;
      }
      loadChecked(a.join(''));
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (text) => loadChecked(text)),
    { numRuns: RUNS },
  );
  console.log(
    `slowest config load: ${slowestMs.toFixed(1)} ms (bound ${HANG_BOUND_MS} ms, ${RUNS} runs per property)`,
  );
  assert.ok(slowestMs < HANG_BOUND_MS);
});
