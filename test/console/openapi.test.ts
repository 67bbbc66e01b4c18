/**
 * The API reference: the OpenAPI document a real in-process Vigil serves at
 * /api/openapi.json is generated from the route schemas, validates as OpenAPI 3 (swagger-parser,
 * against the official schema, with every $ref resolved), and lists every route the app
 * registered, each with tags, summary and description.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { loadVigilConfigText } from '../../src/app/config.js';
import { createLogger } from '../../src/app/logger.js';
import { startVigil, type VigilNode } from '../../src/app/main.js';
import { registeredRoutes } from '../../src/app/openapi.js';

let node: VigilNode;
before(async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'vigil-openapi-'));
  node = await startVigil(
    loadVigilConfigText(`state_dir: ${stateDir}\nserver:\n  port: 0\nruntime:\n  workers: 1\n`),
    { logger: createLogger('silent') },
  );
});
after(() => node.close());

interface Operation {
  tags?: string[];
  summary?: string;
  description?: string;
  parameters?: { name: string; in: string }[];
  responses?: Record<string, unknown>;
}

test('GET /api/openapi.json is a valid OpenAPI 3 document listing every route', async () => {
  const res = await fetch(`${node.url}/api/openapi.json`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const doc = (await res.json()) as {
    openapi: string;
    info: { version: string };
    paths: Record<string, Record<string, Operation>>;
  };
  assert.match(doc.openapi, /^3\.\d+\.\d+$/);
  // Throws with the first problem when the document does not match the OpenAPI schema.
  await SwaggerParser.validate(
    structuredClone(doc) as unknown as Parameters<typeof SwaggerParser.validate>[0],
  );

  const routes = registeredRoutes(node.app).filter((r) => r.method !== 'HEAD');
  assert.ok(routes.length >= 25, `routes recorded: ${routes.length}`);
  const missing: string[] = [];
  const undocumented: string[] = [];
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\*$/, '{*}');
    const op = doc.paths[path]?.[r.method.toLowerCase()];
    if (!op) {
      missing.push(`${r.method} ${r.url}`);
      continue;
    }
    if (!op.tags?.length || !op.summary || !op.description) undocumented.push(`${r.method} ${r.url}`);
  }
  assert.deepEqual(missing, [], 'every route is in the document');
  assert.deepEqual(undocumented, [], 'every route has tags, summary and description');

  // Spot checks that the document comes from the schemas.
  const list = doc.paths['/api/v1/series']?.['get'];
  assert.deepEqual(list?.parameters?.map((p) => `${p.in}:${p.name}`).sort(), [
    'query:limit',
    'query:offset',
    'query:order',
    'query:search',
    'query:sort',
    'query:state',
  ]);
  assert.ok(doc.paths['/api/v1/silences']?.['post'], 'silences can be created');
  assert.ok(doc.paths['/api/v1/silences/{id}']?.['delete'], 'and expired');
  assert.ok(doc.paths['/api/v1/write']?.['post']?.tags?.includes('ingest'));
  const docsPage = await fetch(`${node.url}/api/docs`, { redirect: 'manual' });
  assert.equal(docsPage.status, 302);
  assert.equal(docsPage.headers.get('location'), '/console/#/api');
});

test('console files: content types, caching headers, 304, 404', async () => {
  const index = await fetch(`${node.url}/`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const html = await index.text();
  const vendor = /src="(\/console\/vendor\/uplot-[\d.]+\/uPlot\.iife\.min\.js)"/.exec(html)?.[1];
  assert.ok(vendor, 'index.html points at the versioned uPlot');
  const js = await fetch(`${node.url}${vendor}`);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  const app = await fetch(`${node.url}/console/app.js`);
  assert.equal(app.status, 200);
  const etag = app.headers.get('etag');
  assert.ok(etag);
  assert.equal(
    (await fetch(`${node.url}/console/app.js`, { headers: { 'if-none-match': etag } })).status,
    304,
  );
  assert.equal(
    (await fetch(`${node.url}/console/style.css`)).headers.get('content-type'),
    'text/css; charset=utf-8',
  );
  const missing = await fetch(`${node.url}/console/../package.json`);
  assert.equal(missing.status, 404);
  assert.equal((await fetch(`${node.url}/console/nope.js`)).status, 404);
});
