/**
 * Influx line protocol over real HTTP, with the official InfluxDB 2 JavaScript client
 * (`@influxdata/influxdb-client`: Point API, escaping, precisions, gzip above its threshold,
 * its handling of a 400 partial write), plus the v1 `/write` endpoint and the limits. Server:
 * fastify on 127.0.0.1:0 from ./harness.ts. Run alone:
 *   npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/protocols/influx.test.js
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { HttpError, InfluxDB, Point, setLogger, type WritePrecisionType } from '@influxdata/influxdb-client';
import { startServer, type TestServer } from './harness.js';

// The client logs failed writes to the console; keep them for assertions instead.
const clientLog: string[] = [];
setLogger({ error: (m: string) => clientLog.push(m), warn: (m: string) => clientLog.push(m) });

let server: TestServer;
const seen: { url: string; encoding: string | undefined; auth: string | undefined }[] = [];
before(async () => {
  server = await startServer({ bodyLimit: 64 * 1024 });
  server.app.server.on('request', (req) => {
    const encoding = req.headers['content-encoding'];
    seen.push({
      url: req.url ?? '',
      encoding: typeof encoding === 'string' ? encoding : undefined,
      auth: req.headers.authorization,
    });
  });
});
after(() => server.close());

const client = () => new InfluxDB({ url: server.url, token: 'secret-token' });
const writer = (precision: WritePrecisionType = 'ns', gzipThreshold = 1_000_000) =>
  client().getWriteApi('org', 'bucket', precision, {
    batchSize: 10_000,
    flushInterval: 0,
    maxRetries: 0,
    gzipThreshold,
  });

describe('@influxdata/influxdb-client → /api/v2/write', () => {
  test('Point API with escaped tags and every numeric field type → 204, one sample per field', async () => {
    const at = new Date(Date.now() - 2000);
    const w = writer('ms');
    w.writePoint(
      new Point('sys load')
        .tag('host', 'web 01,eu')
        .tag('role', 'a=b')
        .floatField('load1', 0.75)
        .intField('procs', 123)
        .uintField('uptime', 4200)
        .booleanField('healthy', true)
        .timestamp(at),
    );
    await w.close();
    const rows = server.sink.all('influx').filter((s) => s.metric.startsWith('sys_load'));
    assert.deepEqual(
      rows.map((s) => `${s.key} ${s.value} ${s.ts}`).sort(),
      [
        `sys_load_healthy{host="web 01,eu",role="a=b"} 1 ${at.getTime()}`,
        `sys_load_load1{host="web 01,eu",role="a=b"} 0.75 ${at.getTime()}`,
        `sys_load_procs{host="web 01,eu",role="a=b"} 123 ${at.getTime()}`,
        `sys_load_uptime{host="web 01,eu",role="a=b"} 4200 ${at.getTime()}`,
      ].sort(),
    );
    assert.ok(seen.some((r) => r.url.startsWith('/api/v2/write?') && r.auth === 'Token secret-token'));
  });

  test('precisions s and ns round to the same millisecond series', async () => {
    const t = Date.now() - 5000;
    for (const p of ['s', 'ns'] as const) {
      const w = writer(p);
      w.writePoint(new Point('prec').tag('p', p).floatField('v', 1).timestamp(new Date(t)));
      await w.close();
    }
    const ts = (p: string) => server.sink.all('influx').find((s) => s.key === `prec_v{p="${p}"}`)?.ts;
    assert.equal(ts('s'), Math.floor(t / 1000) * 1000);
    assert.equal(ts('ns'), t);
  });

  test('gzip above the client threshold is decoded', async () => {
    const w = writer('ms', 100);
    const now = Date.now();
    for (let i = 0; i < 200; i++)
      w.writePoint(new Point('gz').tag('i', String(i)).floatField('v', i).timestamp(new Date(now)));
    await w.close();
    assert.equal(server.sink.all('influx').filter((s) => s.metric === 'gz_v').length, 200);
    assert.ok(
      seen.some((r) => r.encoding === 'gzip'),
      'the client sent gzip',
    );
  });

  test('a partial write: the client gets 400 {code:"invalid", message, line}; the good fields are stored', async () => {
    const w = writer('ms');
    const now = Date.now();
    w.writePoint(new Point('pw').tag('k', 'a').floatField('num', 1).timestamp(new Date(now)));
    w.writePoint(
      new Point('pw').tag('k', 'b').stringField('status', 'ok').floatField('num', 2).timestamp(new Date(now)),
    );
    await assert.rejects(
      () => w.close(),
      (e: unknown) => {
        assert.ok(e instanceof HttpError, String(e));
        assert.equal(e.statusCode, 400);
        const json = e.json as {
          code: string;
          message: string;
          line: number;
          accepted: number;
          rejected: { index: number; where: string }[];
        };
        assert.equal(json.code, 'invalid');
        assert.equal(json.line, 2);
        assert.equal(json.accepted, 2);
        assert.match(
          json.message,
          /^partial write: 1 problem\(s\), 2 samples accepted and stored \(do not resend\):\nline 2 field "status": INVALID_SAMPLE string values are not supported/,
        );
        assert.deepEqual(
          json.rejected.map((r) => r.where),
          ['line 2 field "status"'],
        );
        return true;
      },
    );
    assert.ok(
      clientLog.some((m) => m.includes('Write to InfluxDB failed')),
      'the client reported the failed write',
    );
    assert.deepEqual(
      server.sink
        .all('influx')
        .filter((s) => s.metric === 'pw_num')
        .map((s) => s.key),
      ['pw_num{k="a"}', 'pw_num{k="b"}'],
    );
  });
});

async function post(
  path: string,
  body: string | Uint8Array,
  headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' },
) {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

describe('Influx endpoints', () => {
  test('v1 /write: precision=s, db ignored, any content type; errors as {"error": ...}', async () => {
    const t = Math.floor(Date.now() / 1000) - 10;
    const ok = await post(`/write?db=telegraf&precision=s`, `v1m,host=x value=3 ${t}\n`, {
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(ok.status, 204);
    assert.ok(server.sink.all('influx').some((s) => s.key === 'v1m_value{host="x"}' && s.ts === t * 1000));
    const bad = await post(`/write?precision=s`, `v1m value="str" ${t}\nv1m,host=y value=4 ${t}`);
    assert.equal(bad.status, 400);
    const json = JSON.parse(bad.text) as { error: string; line: number };
    assert.match(json.error, /^partial write/);
    assert.equal(json.line, 1);
  });

  test('bad precision → 400; body over the limit → 413; gzip bomb → 413', async () => {
    assert.equal((await post('/api/v2/write?precision=h', 'm v=1')).status, 400);
    assert.equal((await post('/api/v2/write', 'm v=1\n'.repeat(20_000))).status, 413);
    const bomb = gzipSync(Buffer.from('m v=1\n'.repeat(200_000)));
    const r = await post('/api/v2/write', bomb, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
    assert.equal(r.status, 413);
    assert.match(r.text, /INGEST_BODY_TOO_LARGE/);
  });

  test('backpressure: overloaded → 503 with Retry-After (clients retry), then 204', async () => {
    server.sink.overloadFor(1);
    const r = await post('/api/v2/write', 'bp v=1');
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '2');
    assert.equal((await post('/api/v2/write', `bp v=1 ${Date.now()}000000`)).status, 204);
  });
});
