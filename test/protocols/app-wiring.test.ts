/**
 * How the protocol routes sit in an app: they register encapsulated child contexts, so the app's
 * root-level hooks (authentication) and its error handler apply to them even when added after the
 * register calls, their content-type parsers do not leak to other routes, and the JSON API's
 * parser stays the app's. A real fastify on 127.0.0.1:0. Run alone:
 *   npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/protocols/app-wiring.test.js
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import snappyjs from 'snappyjs';
import { registerJsonIngest } from '../../src/ingest/index.js';
import { registerInflux, registerOtlp, registerRemoteWrite } from '../../src/ingest/protocols/index.js';
import { LIMITS, RecordingSink } from './harness.js';

let app: FastifyInstance;
let url: string;
const sink = new RecordingSink();

before(async () => {
  app = Fastify();
  const deps = { sink, limits: LIMITS, maxSamplesPerRequest: 1000, now: Date.now };
  registerJsonIngest(app, deps);
  registerRemoteWrite(app, deps);
  registerOtlp(app, deps);
  registerInflux(app, deps);
  // Added after the register calls, as an app might: they must still cover the protocol routes.
  app.addHook('onRequest', async (req, reply) => {
    const auth = req.headers.authorization;
    if (auth !== 'Bearer good' && auth !== 'Token good')
      await reply.code(401).send({ error: { code: 'INGEST_UNAUTHORIZED', message: 'no' } });
  });
  app.setErrorHandler((err: Error, _req, reply) =>
    reply.code(599).send({ handledBy: 'app', message: err.message }),
  );
  app.post('/other', (req) => ({ type: typeof req.body }));
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
after(() => app.close());

const post = (path: string, body: string | Uint8Array, headers: Record<string, string>) =>
  fetch(`${url}${path}`, { method: 'POST', headers, body });

test("the app's authentication hook covers every protocol route", async () => {
  const now = Date.now();
  const rw = snappyjs.compress(Uint8Array.from([]));
  const cases: [string, string | Uint8Array, Record<string, string>][] = [
    ['/api/v1/write', rw, { 'content-type': 'application/x-protobuf' }],
    ['/v1/metrics', '{}', { 'content-type': 'application/json' }],
    ['/api/v2/write', `m v=1 ${now}000000`, { 'content-type': 'text/plain' }],
    ['/write', `m v=1 ${now}000000`, { 'content-type': 'text/plain' }],
  ];
  for (const [path, body, headers] of cases) {
    assert.equal((await post(path, body, headers)).status, 401, `${path} without credentials`);
    const ok = await post(path, body, {
      ...headers,
      authorization: path.includes('write') && !path.includes('v1') ? 'Token good' : 'Bearer good',
    });
    assert.ok(ok.status === 200 || ok.status === 204, `${path} with credentials: ${ok.status}`);
  }
});

test("the app's error handler answers for errors raised in the protocol routes", async () => {
  const r = await post('/api/v1/write', Uint8Array.from([1, 2, 3]), {
    'content-type': 'application/x-protobuf',
    authorization: 'Bearer good',
  });
  assert.equal(r.status, 599);
  assert.equal(((await r.json()) as { handledBy: string }).handledBy, 'app');
});

test('protocol content-type parsers stay local; JSON still parses for the JSON API', async () => {
  const other = await post('/other', 'x', {
    'content-type': 'application/x-protobuf',
    authorization: 'Bearer good',
  });
  assert.equal(
    other.status,
    599,
    'no application/x-protobuf parser outside the protocol routes (415 from fastify, via the app handler)',
  );
  const json = await post(
    '/api/v1/samples',
    JSON.stringify({ samples: [{ metric: 'wired', ts: Date.now(), value: 1 }] }),
    {
      'content-type': 'application/json',
      authorization: 'Bearer good',
    },
  );
  assert.equal(json.status, 200);
  assert.ok(sink.all('json').some((s) => s.key === 'wired'));
});
