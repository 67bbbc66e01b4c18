/**
 * Serves the web console: plain ES modules, one classic script (the chart) and CSS from
 * src/app/console/, plus uPlot's dist files from node_modules (no build step, no CDN).
 *
 * - `GET /` and `GET /console/` → the console's index.html (alert links point at
 *   `/?series=<key>`, which the console opens as that series' page);
 * - `GET /console/<file>` → a console file (html, js, css, svg);
 * - `GET /console/vendor/uplot-<version>/<file>` → uPlot (`uPlot.iife.min.js`, `uPlot.min.css`).
 *
 * Files are read once at startup into memory (they are small). Caching: the console's own
 * files are `no-cache` with a strong ETag (revalidated on every load, so an upgrade shows at
 * once; a 304 costs no body); uPlot's files carry their version in the path and are
 * `immutable` for a year. Every response has `X-Content-Type-Options: nosniff`; HTML has a
 * Content-Security-Policy that allows only same-origin scripts, styles and requests.
 *
 * Why uPlot is served from node_modules instead of a copy in src/app/console/vendor/: the
 * version is pinned once (package.json / package-lock) and upgraded with npm, the repository
 * holds no 50 kB minified copy, and the backtest report inlines the very same file.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './schemas.js';

/** The console's source folder (served as is). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../../src/app/console/', import.meta.url));

const require = createRequire(import.meta.url);
/** uPlot's dist folder and version. */
export const UPLOT = (() => {
  const js = require.resolve('uplot/dist/uPlot.iife.min.js');
  const pkg = JSON.parse(readFileSync(join(dirname(js), '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return { dir: dirname(js), version: pkg.version };
})();

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
};

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
  readonly cacheControl: string;
}

function asset(file: string, cacheControl: string): Asset {
  const body = readFileSync(file);
  const type = TYPES[extname(file)] ?? 'application/octet-stream';
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, type, etag, cacheControl };
}

/** The console's files by URL path (read now). */
export function loadConsoleAssets(): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const name of readdirSync(CONSOLE_DIR, { withFileTypes: true })) {
    if (!name.isFile() || !(extname(name.name) in TYPES)) continue;
    out.set(`/console/${name.name}`, asset(join(CONSOLE_DIR, name.name), 'no-cache'));
  }
  const vendor = `/console/vendor/uplot-${UPLOT.version}`;
  for (const f of ['uPlot.iife.min.js', 'uPlot.min.css'])
    out.set(`${vendor}/${f}`, asset(join(UPLOT.dir, f), 'public, max-age=31536000, immutable'));
  return out;
}

/**
 * index.html with the uPlot version filled in (`{{UPLOT}}` → the vendor folder's URL path).
 */
function indexAsset(assets: Map<string, Asset>): Asset {
  const raw = assets.get('/console/index.html');
  if (!raw) throw new Error(`console: ${CONSOLE_DIR}index.html is missing`);
  const body = Buffer.from(
    raw.body.toString('utf8').replaceAll('{{UPLOT}}', `/console/vendor/uplot-${UPLOT.version}`),
  );
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, type: raw.type, etag, cacheControl: 'no-cache' };
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset): FastifyReply {
  void reply
    .header('content-type', a.type)
    .header('cache-control', a.cacheControl)
    .header('etag', a.etag)
    .header('x-content-type-options', 'nosniff');
  if (a.type.startsWith('text/html'))
    void reply.header('content-security-policy', CSP).header('referrer-policy', 'same-origin');
  const inm = req.headers['if-none-match'];
  if (inm !== undefined && inm.split(',').some((t) => t.trim() === a.etag)) return reply.code(304).send();
  return reply.send(a.body);
}

class NotFound extends Error {
  readonly statusCode = 404;
  readonly code = 'NOT_FOUND';
}

const htmlResponse = {
  200: { type: 'string', description: 'the console (text/html)' },
  304: { type: 'null', description: 'not modified (If-None-Match)' },
} as const;
const indexSchema = {
  tags: ['operations'],
  summary: 'Web console',
  description:
    'The console: series with search and state, a chart per series (actual vs expected band, ' +
    'anomalies, alert events), alerts, silences, config and this API reference. `?series=KEY` ' +
    'opens that series.',
  querystring: {
    type: 'object',
    properties: { series: { type: 'string', description: 'series key to open' } },
  },
  response: htmlResponse,
};
const consoleIndexSchema = { ...indexSchema, summary: 'Web console (same as /)' };
const fileSchema = {
  tags: ['operations'],
  summary: 'Web console files',
  description:
    'Console scripts, styles and uPlot (`vendor/uplot-<version>/`). Own files: no-cache + ETag; ' +
    'vendor files: immutable for a year.',
  params: { type: 'object', properties: { '*': { type: 'string' } } },
  response: {
    200: { type: 'string', description: 'the file' },
    304: { type: 'null', description: 'not modified (If-None-Match)' },
    404: errorBody,
  },
};

/** Registers the console routes (files are read once, now). */
export function registerConsole(app: FastifyInstance): void {
  const assets = loadConsoleAssets();
  const index = indexAsset(assets);
  app.get('/', { schema: indexSchema }, (req, reply) => send(req, reply, index));
  app.get('/console/', { schema: consoleIndexSchema }, (req, reply) => send(req, reply, index));
  app.get<{ Params: { '*': string } }>('/console/*', { schema: fileSchema }, (req, reply) => {
    const path = `/console/${req.params['*']}`;
    if (path === '/console/index.html') return send(req, reply, index);
    const a = assets.get(path);
    if (!a) throw new NotFound(`no console file ${path}`);
    return send(req, reply, a);
  });
}
