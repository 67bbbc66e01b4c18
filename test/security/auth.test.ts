/**
 * Tokens, scopes, tenants and per-token limits against a real in-process Vigil (fastify on
 * 127.0.0.1:0, worker threads, WAL, the alert dispatcher):
 * - every endpoint checks its scope: 401 AUTH_REQUIRED / AUTH_INVALID_TOKEN (with
 *   WWW-Authenticate), 403 AUTH_FORBIDDEN / AUTH_TENANT_FORBIDDEN; health is public;
 * - Bearer, Token (Influx) and Basic (Prometheus basic_auth) credentials, on every protocol;
 * - a tenant token's samples carry its tenant label, whatever the client sent;
 * - a tenant sees only its series, alerts and silences; its silences are pinned to it;
 * - the series limit refuses new series per item with LIMIT_EXCEEDED and raises ONE alert;
 * - the request rate per token answers 429 with Retry-After;
 * - no token and no token hash appears in any response or log line.
 *
 * Run alone: npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/security/auth.test.js
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import snappyjs from 'snappyjs';
import { generateToken, hashToken } from '../../src/app/auth/tokens.js';
import { loadVigilConfigText } from '../../src/app/config.js';
import { createLogger } from '../../src/app/logger.js';
import { startVigil, type VigilNode } from '../../src/app/main.js';
import { loadPrometheusRoot } from '../../src/ingest/protocols/proto/schemas.js';
import { alertEvent } from '../alerts/helpers.js';

const NAMES = ['ingest-a', 'read-a', 'admin-a', 'both-b', 'ops', 'reader', 'slow', 'ingest-c'] as const;
type Name = (typeof NAMES)[number];
const TOKENS = Object.fromEntries(NAMES.map((n) => [n, generateToken()])) as Record<Name, string>;
const SECRETS = [...Object.values(TOKENS), ...Object.values(TOKENS).map((t) => hashToken(t).slice(7))];

const logLines: string[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  },
});
/** Every response seen: status line, headers and body (checked for secrets at the end). */
const seen: string[] = [];
let node: VigilNode;
const NOW = Date.now();

before(async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'vigil-auth-'));
  const token = (name: Name, scopes: string, extra = '') =>
    `      - { name: ${name}, hash: "${hashToken(TOKENS[name])}", scopes: [${scopes}]${extra} }\n`;
  const yaml =
    `state_dir: ${stateDir}\n` +
    'server:\n  port: 0\n  auth:\n    tokens:\n' +
    token('ingest-a', 'ingest', ', tenant: team-a') +
    token('read-a', 'read', ', tenant: team-a') +
    token('admin-a', 'admin', ', tenant: team-a') +
    token('both-b', 'ingest, read', ', tenant: team-b') +
    token('ops', 'ingest, admin') +
    token('reader', 'read') +
    token('slow', 'read', ', requests_per_second: 0.5, request_burst: 3') +
    token('ingest-c', 'ingest', ', tenant: team-c') +
    'limits:\n  max_series_per_tenant: 20\n  series_limit_resolve_after: 1h\n' +
    'runtime:\n  workers: 1\n  checkpoint_interval: 1h\n' +
    'alerting:\n  route:\n    receiver: log\n    group_wait: 10ms\n  receivers:\n    - name: log\n      log_configs: [{}]\n';
  const config = loadVigilConfigText(yaml);
  node = await startVigil(config, { logger: createLogger('trace', logSink) });
});
after(async () => {
  await node.close();
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown> & { error?: { code: string; message: string } };
}

async function call(
  method: string,
  path: string,
  opts: {
    auth?: string;
    token?: Name;
    body?: unknown;
    raw?: Uint8Array | string;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers['authorization'] = `Bearer ${TOKENS[opts.token]}`;
  if (opts.auth) headers['authorization'] = opts.auth;
  let body: string | Uint8Array | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(opts.body);
  } else if (opts.raw !== undefined) body = opts.raw;
  const res = await fetch(`${node.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  seen.push(`${res.status} ${JSON.stringify([...res.headers])} ${text}`);
  let json: Answer['json'] = {};
  try {
    json = JSON.parse(text) as Answer['json'];
  } catch {
    // not JSON (console HTML, metrics text)
  }
  return { status: res.status, headers: res.headers, text, json };
}

const sample = (metric: string, labels: Record<string, string>, i = 0) => ({
  metric,
  labels,
  ts: NOW - 60_000 + i,
  value: i,
});

async function seriesKeys(token: Name, search = ''): Promise<string[]> {
  const r = await call('GET', `/api/v1/series?limit=1000&search=${encodeURIComponent(search)}`, { token });
  assert.equal(r.status, 200, r.text);
  return (r.json['items'] as { key: string }[]).map((i) => i.key);
}

describe('authentication and scopes', () => {
  test('health and readiness are public; everything else needs a token', async () => {
    assert.equal((await call('GET', '/healthz')).status, 200);
    assert.equal((await call('GET', '/readyz')).status, 200);
    for (const [m, p] of [
      ['GET', '/metrics'],
      ['GET', '/api/v1/series'],
      ['GET', '/api/v1/alerts'],
      ['GET', '/api/v1/silences'],
      ['GET', '/api/v1/config'],
      ['GET', '/api/openapi.json'],
      ['GET', '/no/such/route'],
      ['POST', '/api/v1/samples'],
      ['POST', '/api/v1/write'],
      ['POST', '/v1/metrics'],
      ['POST', '/api/v2/write'],
      ['POST', '/write'],
    ] as const) {
      const r = await call(m, p, m === 'POST' ? { raw: 'x', headers: { 'content-type': 'text/plain' } } : {});
      assert.equal(r.status, 401, `${m} ${p}: ${r.text}`);
      assert.equal(r.json.error?.code, 'AUTH_REQUIRED', `${m} ${p}`);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="vigil"', `${m} ${p}`);
    }
    const consolePage = await call('GET', '/');
    assert.equal(consolePage.status, 401);
    assert.match(
      consolePage.headers.get('www-authenticate') ?? '',
      /^Basic realm="vigil"/,
      'browsers prompt',
    );
  });

  test('an unknown or malformed token is 401 AUTH_INVALID_TOKEN', async () => {
    for (const auth of ['Bearer nope', 'Digest abc', 'Basic !!!', `Bearer ${TOKENS.ops}x`]) {
      const r = await call('GET', '/api/v1/series', { auth });
      assert.equal(r.status, 401, auth);
      assert.equal(r.json.error?.code, 'AUTH_INVALID_TOKEN');
    }
  });

  test('a token without the scope is 403 AUTH_FORBIDDEN, naming the token and the scope', async () => {
    const r = await call('POST', '/api/v1/samples', { token: 'read-a', body: { samples: [] } });
    assert.equal(r.status, 403);
    assert.equal(r.json.error?.code, 'AUTH_FORBIDDEN');
    assert.match(r.json.error?.message ?? '', /token "read-a" lacks the "ingest" scope/);
    const g = await call('GET', '/api/v1/series', { token: 'ingest-a' });
    assert.equal(g.status, 403);
    assert.equal((await call('POST', '/api/v1/silences', { token: 'reader', body: {} })).status, 403);
    assert.equal(
      (await call('GET', '/api/v1/config', { token: 'reader' })).status,
      403,
      'config needs admin',
    );
    assert.equal((await call('GET', '/api/v1/config', { token: 'ops' })).status, 200);
  });

  test('Bearer, Token and Basic (token as password, or as user) are accepted', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const schemes = [
      `Bearer ${TOKENS.ops}`,
      `Token ${TOKENS.ops}`,
      `Basic ${b64(`prometheus:${TOKENS.ops}`)}`,
      `Basic ${b64(`${TOKENS.ops}:`)}`,
    ];
    for (const [i, auth] of schemes.entries()) {
      const r = await call('POST', '/api/v1/samples', {
        auth,
        body: { samples: [sample('scheme_check', { case: String(i) })] },
      });
      assert.equal(r.status, 200, `${auth.split(' ')[0]}: ${r.text}`);
      assert.equal(r.json['accepted'], 1);
    }
  });

  test('cross-tenant endpoints refuse tenant tokens with 403 AUTH_TENANT_FORBIDDEN', async () => {
    for (const p of ['/metrics', '/api/v1/notifications', '/api/v1/config']) {
      const r = await call('GET', p, { token: p === '/api/v1/config' ? 'admin-a' : 'read-a' });
      assert.equal(r.status, 403, p);
      assert.equal(r.json.error?.code, 'AUTH_TENANT_FORBIDDEN', p);
    }
    assert.equal((await call('GET', '/metrics', { token: 'reader' })).status, 200);
    assert.equal((await call('GET', '/api/v1/notifications', { token: 'reader' })).status, 200);
    // Tenant-neutral pages are fine.
    assert.equal((await call('GET', '/', { token: 'read-a' })).status, 200);
    assert.equal((await call('GET', '/api/openapi.json', { token: 'read-a' })).status, 200);
  });
});

describe('tenants', () => {
  test('every protocol stamps the token tenant on its samples, overriding the client', async () => {
    const rw = loadPrometheusRoot().lookupType('prometheus.WriteRequest');
    const rwBody = snappyjs.compress(
      rw
        .encode(
          rw.fromObject({
            timeseries: [
              {
                labels: [
                  { name: '__name__', value: 'rw_metric' },
                  { name: 'tenant', value: 'team-b' },
                ],
                samples: [{ value: 1, timestamp: NOW - 30_000 }],
              },
            ],
          }),
        )
        .finish(),
    );
    const basic = `Basic ${Buffer.from(`prometheus:${TOKENS['ingest-a']}`).toString('base64')}`;
    const rwRes = await call('POST', '/api/v1/write', {
      auth: basic,
      raw: rwBody,
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' },
    });
    assert.equal(rwRes.status, 204, rwRes.text);

    const influx = await call('POST', '/api/v2/write?precision=ms', {
      auth: `Token ${TOKENS['ingest-a']}`,
      raw: `influx_m,tenant=team-b,host=h1 value=2 ${NOW - 29_000}`,
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(influx.status, 204, influx.text);

    const otlp = await call('POST', '/v1/metrics', {
      token: 'ingest-a',
      body: {
        resourceMetrics: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
            scopeMetrics: [
              {
                metrics: [
                  {
                    name: 'otlp_m',
                    gauge: {
                      dataPoints: [
                        {
                          asDouble: 3,
                          timeUnixNano: String((NOW - 28_000) * 1e6),
                          attributes: [{ key: 'tenant', value: { stringValue: 'team-b' } }],
                        },
                      ],
                    },
                  },
                ],
              },
            ],
          },
        ],
      },
    });
    assert.equal(otlp.status, 200, otlp.text);

    const json = await call('POST', '/api/v1/samples', {
      token: 'ingest-a',
      body: {
        samples: [sample('json_m', { tenant: 'team-b', host: 'h1' }), sample('json_m', { host: 'h2' })],
      },
    });
    assert.equal(json.status, 200, json.text);
    assert.equal(json.json['accepted'], 2);

    const keys = await seriesKeys('reader');
    for (const m of ['rw_metric', 'influx_m_value', 'otlp_m', 'json_m']) {
      const mine = keys.filter((k) => k.startsWith(`${m}{`));
      assert.ok(mine.length > 0, `${m} stored: ${keys.join(' ')}`);
      for (const k of mine) assert.match(k, /tenant="team-a"/, `${k} carries the token's tenant`);
      assert.ok(!mine.some((k) => k.includes('team-b')), `${m}: no team-b series written by team-a`);
    }
  });

  test('a tenant sees only its own series; another tenant’s series is not found', async () => {
    const b = await call('POST', '/api/v1/samples', {
      token: 'both-b',
      body: { samples: [sample('iso_m', { host: 'b1' }), sample('iso_m', { host: 'b2' })] },
    });
    assert.equal(b.status, 200, b.text);
    const a = await call('POST', '/api/v1/samples', {
      token: 'ingest-a',
      body: { samples: [sample('iso_m', { host: 'a1' })] },
    });
    assert.equal(a.status, 200);

    const aKeys = await seriesKeys('read-a', 'iso_m');
    const bKeys = await seriesKeys('both-b', 'iso_m');
    const all = await seriesKeys('reader', 'iso_m');
    assert.deepEqual(aKeys, ['iso_m{host="a1",tenant="team-a"}']);
    assert.deepEqual(bKeys, ['iso_m{host="b1",tenant="team-b"}', 'iso_m{host="b2",tenant="team-b"}']);
    assert.equal(all.length, 3, 'a cross-tenant token sees every tenant');
    const list = await call('GET', '/api/v1/series?search=iso_m', { token: 'read-a' });
    assert.equal(list.json['total'], 1, 'totals count only the tenant’s series');

    const other = encodeURIComponent('iso_m{host="b1",tenant="team-b"}');
    assert.equal((await call('GET', `/api/v1/series/detail?key=${other}`, { token: 'read-a' })).status, 404);
    assert.equal((await call('GET', `/api/v1/series/detail?key=${other}`, { token: 'both-b' })).status, 200);
  });

  test('alerts and history: a tenant sees only alerts carrying its tenant label', async () => {
    node.dispatcher.receive([
      alertEvent('cpu_high', { tenant: 'team-a', host: 'a1' }, 'firing', NOW - 10_000),
      alertEvent('cpu_high', { tenant: 'team-b', host: 'b1' }, 'firing', NOW - 10_000),
      alertEvent('cpu_high', { host: 'shared' }, 'firing', NOW - 10_000),
    ]);
    const names = async (token: Name) =>
      (
        (await call('GET', '/api/v1/alerts?filter=alertname%3D%22cpu_high%22', { token }))
          .json as unknown as {
          labels: Record<string, string>;
        }[]
      )
        .map((a) => a.labels['host'])
        .sort();
    assert.deepEqual(await names('read-a'), ['a1']);
    assert.deepEqual(await names('both-b'), ['b1']);
    assert.deepEqual(await names('reader'), ['a1', 'b1', 'shared']);
    const hist = await call('GET', '/api/v1/alerts/history?alertname=cpu_high', { token: 'read-a' });
    const entries = hist.json['entries'] as { labels: Record<string, string> }[];
    assert.deepEqual(
      entries.map((e) => e.labels['host']),
      ['a1'],
    );
  });

  test('silences: a tenant’s silence is pinned to its tenant; other silences are invisible to it', async () => {
    const body = (matchers: { name: string; value: string }[], id?: string) => ({
      ...(id ? { id } : {}),
      matchers: matchers.map((m) => ({ ...m, isRegex: false, isEqual: true })),
      startsAt: new Date(NOW).toISOString(),
      endsAt: new Date(NOW + 3_600_000).toISOString(),
      createdBy: 'test',
      comment: 'maintenance',
    });
    // A tenant admin tries to silence team-b: the tenant matcher is replaced by its own.
    const created = await call('POST', '/api/v1/silences', {
      token: 'admin-a',
      body: body([
        { name: 'alertname', value: 'cpu_high' },
        { name: 'tenant', value: 'team-b' },
      ]),
    });
    assert.equal(created.status, 200, created.text);
    const id = created.json['silenceID'] as string;
    const mine = await call('GET', `/api/v1/silences/${id}`, { token: 'admin-a' });
    const matchers = (mine.json['matchers'] as { name: string; value: string }[]).map(
      (m) => `${m.name}=${m.value}`,
    );
    assert.deepEqual(matchers.sort(), ['alertname=cpu_high', 'tenant=team-a']);

    const alerts = (
      await call('GET', '/api/v1/alerts?filter=alertname%3D%22cpu_high%22', { token: 'reader' })
    ).json as unknown as { labels: Record<string, string>; status: { silencedBy: string[] } }[];
    const silenced = alerts.filter((a) => a.status.silencedBy.includes(id)).map((a) => a.labels['host']);
    assert.deepEqual(silenced, ['a1'], 'only team-a’s alert is silenced');

    // A cross-tenant silence: invisible to tenants, not expirable or updatable by them.
    const global = await call('POST', '/api/v2/silences', {
      token: 'ops',
      body: body([{ name: 'alertname', value: 'disk_full' }]),
    });
    assert.equal(global.status, 200, global.text);
    const gid = global.json['silenceID'] as string;
    assert.equal((await call('GET', `/api/v1/silences/${gid}`, { token: 'admin-a' })).status, 404);
    assert.equal((await call('DELETE', `/api/v1/silences/${gid}`, { token: 'admin-a' })).status, 404);
    const hijack = await call('POST', '/api/v1/silences', {
      token: 'admin-a',
      body: body([{ name: 'alertname', value: 'x' }], gid),
    });
    assert.equal(hijack.status, 404, 'cannot update another tenant’s silence');
    assert.equal(
      (await call('GET', `/api/v1/silences/${gid}`, { token: 'ops' })).json['comment'],
      'maintenance',
    );
    const listed = (await call('GET', '/api/v1/silences', { token: 'read-a' })).json as unknown as {
      id: string;
    }[];
    assert.deepEqual(
      listed.map((s) => s.id),
      [id],
    );
    assert.equal(
      ((await call('GET', '/api/v1/silences', { token: 'reader' })).json as unknown as []).length,
      2,
    );
    assert.equal((await call('POST', '/api/v1/silences', { token: 'read-a', body: body([]) })).status, 403);
    const expired = await call('DELETE', `/api/v1/silences/${id}`, { token: 'admin-a' });
    assert.equal(expired.status, 200, expired.text);
  });
});

describe('limits', () => {
  test('series per tenant: excess refused per item with LIMIT_EXCEEDED, one aggregate alert', async () => {
    const samples = Array.from({ length: 25 }, (_, i) => sample('card_m', { id: String(i) }, i));
    const r = await call('POST', '/api/v1/samples', { token: 'ingest-c', body: { samples } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json['accepted'], 20);
    const rejected = r.json['rejected'] as { index: number; code: string; reason: string }[];
    assert.deepEqual(
      rejected.map((x) => x.index),
      [20, 21, 22, 23, 24],
    );
    for (const x of rejected) {
      assert.equal(x.code, 'LIMIT_EXCEEDED');
      assert.match(x.reason, /tenant "team-c" has 20 series \(limits\.max_series_per_tenant 20\)/);
    }
    // Existing series still accepted; more new ones still refused; another tenant unaffected.
    const again = await call('POST', '/api/v1/samples', {
      token: 'ingest-c',
      body: { samples: [sample('card_m', { id: '3' }, 100), sample('card_m', { id: 'new' }, 100)] },
    });
    assert.equal(again.json['accepted'], 1);
    assert.equal((again.json['rejected'] as { code: string }[])[0]?.code, 'LIMIT_EXCEEDED');
    const allNew = await call('POST', '/api/v1/samples', {
      token: 'ingest-c',
      body: { samples: [sample('card_m', { id: 'x1' })] },
    });
    assert.equal(allNew.status, 400, 'every item refused → 400 INGEST_ALL_REJECTED');
    assert.equal(allNew.json.error?.code, 'INGEST_ALL_REJECTED');
    const other = await call('POST', '/api/v1/samples', {
      token: 'both-b',
      body: { samples: Array.from({ length: 15 }, (_, i) => sample('card_m', { id: String(i) })) },
    });
    assert.equal(other.json['accepted'], 15);

    const alerts = (
      await call('GET', '/api/v1/alerts?filter=alertname%3D%22VigilSeriesLimit%22', { token: 'reader' })
    ).json as unknown as { labels: Record<string, string>; annotations: Record<string, string> }[];
    assert.equal(alerts.length, 1, 'one alert, however many samples were refused');
    assert.deepEqual(alerts[0]!.labels, {
      alertname: 'VigilSeriesLimit',
      severity: 'warning',
      tenant: 'team-c',
    });
    assert.match(alerts[0]!.annotations['summary'] ?? '', /tenant "team-c" reached the series limit \(20\)/);
    const metrics = await call('GET', '/metrics', { token: 'reader' });
    assert.match(metrics.text, /vigil_series_limit_refused_samples_total\{tenant="team-c"\} 7/);
  });

  test('request rate per token: 429 AUTH_RATE_LIMITED with Retry-After', async () => {
    const statuses: number[] = [];
    let limited: Answer | undefined;
    for (let i = 0; i < 4; i++) {
      const r = await call('GET', '/api/v1/alerts', { token: 'slow' });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.equal(limited?.json.error?.code, 'AUTH_RATE_LIMITED');
    assert.equal(limited?.headers.get('retry-after'), '2');
    assert.equal(
      (await call('GET', '/api/v1/alerts', { token: 'reader' })).status,
      200,
      'other tokens unaffected',
    );
    const metrics = await call('GET', '/metrics', { token: 'reader' });
    assert.match(metrics.text, /vigil_http_auth_refused_total\{code="AUTH_RATE_LIMITED"\} 1/);
  });
});

describe('secrets', () => {
  test('the config view shows token hashes as <secret>', async () => {
    const r = await call('GET', '/api/v1/config', { token: 'ops' });
    const tokens = (
      (r.json['server'] as Record<string, unknown>)['auth'] as { tokens: { name: string; hash: string }[] }
    ).tokens;
    assert.equal(tokens.length, NAMES.length);
    for (const t of tokens) assert.equal(t.hash, '<secret>', t.name);
  });

  test('no token and no token hash appears in any response or log line', async () => {
    // Something logged per request at trace/debug, and an error path, for good measure.
    await call('GET', '/api/v1/series', { auth: `Bearer ${TOKENS.ops}-wrong` });
    node.logger.flush();
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(logLines.length > 20, `logs were captured (${logLines.length} lines)`);
    assert.ok(seen.length > 50, `responses were captured (${seen.length})`);
    for (const s of SECRETS) {
      for (const line of logLines)
        assert.ok(!line.includes(s), `a secret leaked into the log: ${line.slice(0, 200)}`);
      for (const resp of seen)
        assert.ok(!resp.includes(s), `a secret leaked into a response: ${resp.slice(0, 200)}`);
    }
    assert.ok(
      logLines.some((l) => l.includes('AUTH_INVALID_TOKEN')),
      'refusals are logged (at debug) by code, without the token',
    );
  });
});
