/**
 * HTTPS (`server.tls`), CORS (closed by default, an allowlist option) and the startup warning
 * for an exposed listener, against real in-process Vigil nodes on 127.0.0.1. The certificate is
 * self-signed, made by `openssl` for IP 127.0.0.1 in a temporary directory (the TLS test is
 * skipped, saying so, when openssl is not installed).
 *
 * Run alone: npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/security/tls-cors.test.js
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { generateToken, hashToken } from '../../src/app/auth/tokens.js';
import { loadVigilConfigText } from '../../src/app/config.js';
import { buildVigilHttp } from '../../src/app/http.js';
import { createLogger } from '../../src/app/logger.js';
import { startVigil, type VigilNode } from '../../src/app/main.js';
import { createMetrics } from '../../src/app/metrics.js';

const nodes: VigilNode[] = [];
after(async () => {
  for (const n of nodes) await n.close();
});

const TOKEN = generateToken();
const dir = mkdtempSync(join(tmpdir(), 'vigil-tls-'));

function portOf(n: VigilNode): number {
  return (n.app.server.address() as AddressInfo).port;
}

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function https(
  port: number,
  method: string,
  path: string,
  opts: { ca?: Buffer; headers?: Record<string, string>; body?: string; maxVersion?: 'TLSv1.2' } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: opts.headers ?? {},
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(opts.body);
  });
}

function http(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe('TLS', () => {
  test(
    'server.tls serves HTTPS with the configured certificate; plain HTTP and old TLS are refused',
    { skip: hasOpenssl ? false : 'openssl is not installed: cannot make a test certificate' },
    async () => {
      const key = join(dir, 'key.pem');
      const cert = join(dir, 'cert.pem');
      const made = spawnSync('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ]);
      assert.equal(made.status, 0, made.stderr.toString());
      const node = await startVigil(
        loadVigilConfigText(
          `state_dir: ${join(dir, 'state')}\nserver:\n  port: 0\n  tls:\n    cert_file: ${cert}\n    key_file: ${key}\n    min_version: TLSv1.3\n` +
            `  auth:\n    tokens:\n      - { name: ops, hash: "${hashToken(TOKEN)}", scopes: [ingest, read] }\n` +
            'runtime:\n  workers: 1\n',
        ),
        { logger: createLogger('silent') },
      );
      nodes.push(node);
      const port = portOf(node);
      const ca = readFileSync(cert);
      const auth = { authorization: `Bearer ${TOKEN}` };
      const ingest = await https(port, 'POST', '/api/v1/samples', {
        ca,
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ samples: [{ metric: 'tls_m', ts: Date.now() - 1000, value: 1 }] }),
      });
      assert.equal(ingest.status, 200, ingest.body);
      const series = await https(port, 'GET', '/api/v1/series', { ca, headers: auth });
      assert.equal(series.status, 200);
      assert.match(series.body, /tls_m/);
      assert.equal((await https(port, 'GET', '/api/v1/series', { ca })).status, 401, 'auth still applies');
      await assert.rejects(https(port, 'GET', '/healthz'), /self-signed|unable to verify/i, 'unknown CA');
      await assert.rejects(http(port, 'GET', '/healthz'), 'plain HTTP to the TLS port');
      await assert.rejects(
        https(port, 'GET', '/healthz', { ca, maxVersion: 'TLSv1.2' }),
        /version|alert/i,
        'min_version TLSv1.3 refuses a TLS 1.2 client',
      );
    },
  );
});

describe('CORS', () => {
  const preflight = {
    origin: 'https://grafana.example.com',
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'authorization, content-type',
  };

  test('closed by default: no CORS headers, no preflight route', async () => {
    const node = await startVigil(
      loadVigilConfigText(`state_dir: ${join(dir, 'closed')}\nserver:\n  port: 0\nruntime:\n  workers: 1\n`),
      { logger: createLogger('silent') },
    );
    nodes.push(node);
    const port = portOf(node);
    const get = await http(port, 'GET', '/api/v1/series', { origin: 'https://grafana.example.com' });
    assert.equal(get.status, 200);
    for (const h of Object.keys(get.headers)) assert.ok(!h.startsWith('access-control-'), h);
    const pre = await http(port, 'OPTIONS', '/api/v1/samples', preflight);
    assert.equal(pre.status, 404);
    for (const h of Object.keys(pre.headers)) assert.ok(!h.startsWith('access-control-'), h);
  });

  test('allow_origins: listed origins get CORS headers, preflights need no token, others get none', async () => {
    const node = await startVigil(
      loadVigilConfigText(
        `state_dir: ${join(dir, 'cors')}\nserver:\n  port: 0\n  cors:\n    allow_origins: ['https://grafana.example.com']\n    max_age: 1h\n` +
          `  auth:\n    tokens:\n      - { name: ops, hash: "${hashToken(TOKEN)}", scopes: [ingest, read] }\n` +
          'runtime:\n  workers: 1\n',
      ),
      { logger: createLogger('silent') },
    );
    nodes.push(node);
    const port = portOf(node);
    const pre = await http(port, 'OPTIONS', '/api/v1/samples', preflight);
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://grafana.example.com');
    assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
    assert.match(String(pre.headers['access-control-allow-headers']), /Authorization/);
    assert.equal(pre.headers['access-control-max-age'], '3600');
    assert.equal(pre.headers['vary'], 'Origin');

    const get = await http(port, 'GET', '/api/v1/series', {
      origin: 'https://grafana.example.com',
      authorization: `Bearer ${TOKEN}`,
    });
    assert.equal(get.status, 200);
    assert.equal(get.headers['access-control-allow-origin'], 'https://grafana.example.com');
    const refused = await http(port, 'GET', '/api/v1/series', { origin: 'https://grafana.example.com' });
    assert.equal(refused.status, 401);
    assert.equal(
      refused.headers['access-control-allow-origin'],
      'https://grafana.example.com',
      'the browser can read the 401',
    );

    const evil = await http(port, 'GET', '/api/v1/series', {
      origin: 'https://evil.example',
      authorization: `Bearer ${TOKEN}`,
    });
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    const evilPre = await http(port, 'OPTIONS', '/api/v1/samples', {
      ...preflight,
      origin: 'https://evil.example',
    });
    assert.equal(evilPre.headers['access-control-allow-origin'], undefined, 'the browser blocks the call');
  });
});

describe('exposure warnings', () => {
  async function warningsFor(yaml: string): Promise<string[]> {
    const lines: string[] = [];
    const logger = createLogger(
      'warn',
      new Writable({
        write(c: Buffer, _e, cb) {
          lines.push(c.toString());
          cb();
        },
      }),
    );
    const config = loadVigilConfigText(`state_dir: ${join(dir, 'warn')}\n${yaml}`);
    const built = await buildVigilHttp({
      config,
      logger,
      metrics: createMetrics({ queueDepth: () => [], series: () => 0 }),
      sink: {
        submit: () => Promise.reject(new Error('not used: the app is never listened on')),
      },
      ready: () => ({ ready: true }),
    });
    await built.app.close(); // built only, never listening
    logger.flush();
    await new Promise((r) => setTimeout(r, 50));
    return lines;
  }

  test('a non-loopback listener without tokens warns that auth is off; with tokens but no TLS, about clear text', async () => {
    const off = await warningsFor('server:\n  host: 0.0.0.0\n');
    assert.equal(off.length, 1);
    assert.match(off[0]!, /authentication is OFF/);
    const clear = await warningsFor(
      `server:\n  host: 0.0.0.0\n  auth:\n    tokens:\n      - { name: ops, hash: "${hashToken(TOKEN)}", scopes: [read] }\n`,
    );
    assert.equal(clear.length, 1);
    assert.match(clear[0]!, /without TLS/);
    assert.deepEqual(
      await warningsFor('server:\n  host: 127.0.0.1\n'),
      [],
      'loopback: nothing to warn about',
    );
  });
});
