/**
 * Fuzzing the ingest endpoints over real HTTP (an in-process Vigil on 127.0.0.1: fastify's
 * body parsing, gzip and snappy decoding, the decoders, the sink, the error handler): random
 * bodies with random content types and encodings, and mutations of valid requests, sent to
 * every ingest route. The answer is always a success or a typed 4xx (400, 413, 415), never a
 * 5xx, a hang or a dropped connection, and every refusal explains itself (Vigil's routes with
 * an error code, the protocol routes in their protocol's error format).
 *
 * Run alone: npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/fuzz/http.test.js
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import snappyjs from 'snappyjs';
import { loadVigilConfigText } from '../../src/app/config.js';
import { createLogger } from '../../src/app/logger.js';
import { startVigil, type VigilNode } from '../../src/app/main.js';

const RUNS = Math.max(50, Math.floor(Number(process.env['VIGIL_FUZZ_RUNS'] ?? 2000) / 2));
let node: VigilNode;
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-fuzz-http-'));
  node = await startVigil(
    loadVigilConfigText(
      `state_dir: ${dir}\nserver:\n  port: 0\n  body_limit_bytes: 65536\ningest:\n  http:\n    max_samples_per_request: 200\nruntime:\n  workers: 1\n  checkpoint_interval: 1h\n`,
    ),
    { logger: createLogger('silent') },
  );
});
after(() => node.close());

const ROUTES = ['/api/v1/samples', '/api/v1/write', '/v1/metrics', '/api/v2/write?precision=ms', '/write'];
const TYPES = [
  'application/json',
  'application/x-protobuf',
  'text/plain',
  'text/plain; charset=utf-8',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  '',
];
const ENCODINGS = ['', 'gzip', 'snappy', 'deflate', 'identity'];
/** What each route expects, so most requests get past content negotiation into the decoders. */
const RIGHT: Readonly<Record<string, readonly [string, string]>> = {
  '/api/v1/samples': ['application/json', ''],
  '/api/v1/write': ['application/x-protobuf', 'snappy'],
  '/v1/metrics': ['application/x-protobuf', ''],
  '/api/v2/write?precision=ms': ['text/plain', ''],
  '/write': ['text/plain', 'gzip'],
};

const now = Date.now();
const validBodies = [
  JSON.stringify({ samples: [{ metric: 'fz', labels: { a: 'b' }, ts: now - 1000, value: 1 }] }),
  `fz,a=b value=1 ${now - 1000}`,
  JSON.stringify({
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              { name: 'fz', gauge: { dataPoints: [{ asDouble: 1, timeUnixNano: `${now - 1000}000000` }] } },
            ],
          },
        ],
      },
    ],
  }),
];

const body = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }),
  // Over body_limit_bytes (64 KiB), raw or (by the encoding) as a small gzip bomb.
  fc.integer({ min: 65_537, max: 200_000 }).map((n) => Buffer.alloc(n, 0x61)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc
    .tuple(
      fc.constantFrom(...validBodies),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    )
    .map(([b, edits]) => {
      const a = Buffer.from(b);
      for (const [p, v] of edits) a[p % a.length] = v;
      return a;
    }),
);

const SEEN = new Map<number, number>();

test('fuzz: every ingest route answers 2xx or a typed 4xx to any body', { timeout: 180_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ROUTES),
      fc.option(fc.tuple(fc.constantFrom(...TYPES), fc.constantFrom(...ENCODINGS)), {
        nil: undefined,
        freq: 3,
      }),
      body,
      async (route, wrong, raw) => {
        const [type, enc] = wrong ?? (RIGHT[route] as readonly [string, string]);
        let payload: Uint8Array = raw;
        if (enc === 'gzip') payload = gzipSync(raw);
        else if (enc === 'snappy') payload = snappyjs.compress(raw);
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        if (enc) headers['content-encoding'] = enc;
        const res = await fetch(`${node.url}${route}`, {
          method: 'POST',
          headers,
          body: payload,
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        SEEN.set(res.status, (SEEN.get(res.status) ?? 0) + 1);
        assert.ok(
          [200, 204, 400, 413, 415].includes(res.status),
          `${route} ${type} ${enc}: ${res.status} ${text.slice(0, 300)}`,
        );
        if (res.status >= 400) {
          assert.ok(text.length > 0, 'a refusal explains itself');
          // Vigil's own routes answer {"error":{"code","message"}}; the protocol routes answer in
          // their protocol's words (Influx v1 {"error"}, v2 {"code","message"}, remote write text).
          if (route === '/api/v1/samples' || res.status === 413 || res.status === 415) {
            const j = JSON.parse(text) as { error?: { code?: string }; code?: string };
            assert.match(j.error?.code ?? j.code ?? '', /^[a-zA-Z][a-zA-Z_]+$/, text.slice(0, 300));
          }
        }
      },
    ),
    { numRuns: RUNS },
  );
  console.log(`answers by status over ${RUNS} requests: ${JSON.stringify(Object.fromEntries(SEEN))}`);
  const health = await fetch(`${node.url}/readyz`);
  assert.equal(health.status, 200, 'still ready after the fuzzing');
});
