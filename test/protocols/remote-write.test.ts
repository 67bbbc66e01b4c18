/**
 * Prometheus remote write 1.0 over real HTTP: a fastify server on 127.0.0.1 with the JSON API and
 * the protocol routes (test/protocols/harness.ts), bodies built from the official .proto files
 * with protobufjs and compressed with snappyjs, and — when installed — a real Prometheus server in
 * agent mode scraping a target and remote-writing to Vigil.
 *
 * The real client: Debian's `prometheus` package (2.42, `apt-get install -y prometheus`, ~10 s;
 * the binary is /usr/bin/prometheus, or set PROMETHEUS_BIN). That test is skipped, saying so,
 * when no binary is found. Run alone:
 *   npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/protocols/remote-write.test.js
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import snappyjs from 'snappyjs';
import { loadPrometheusRoot } from '../../src/ingest/protocols/proto/schemas.js';
import { startServer, type TestServer } from './harness.js';

const WriteRequest = loadPrometheusRoot().lookupType('prometheus.WriteRequest');
const L = (o: Record<string, string>) => Object.entries(o).map(([name, value]) => ({ name, value }));
const encode = (timeseries: unknown[]): Uint8Array =>
  snappyjs.compress(WriteRequest.encode(WriteRequest.fromObject({ timeseries })).finish());

let server: TestServer;
before(async () => {
  server = await startServer({ bodyLimit: 64 * 1024, maxSamples: 1000 });
});
after(() => server.close());

/** The error body of the app's error handler. */
const errorOf = (text: string) => (JSON.parse(text) as { error: { code: string; message: string } }).error;

async function write(body: Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}/api/v1/write`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'snappy',
      'x-prometheus-remote-write-version': '0.1.0',
      ...headers,
    },
    body,
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('remote write over HTTP', () => {
  test('all good → 204, samples stored with the JSON API series keys', async () => {
    const now = Date.now();
    const r = await write(
      encode([
        {
          labels: L({ __name__: 'rw_ok', job: 'a' }),
          samples: [
            { value: 1, timestamp: now - 1000 },
            { value: 2, timestamp: now },
          ],
        },
      ]),
    );
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal(r.headers.get('x-prometheus-remote-write-samples-written'), '2');
    assert.deepEqual(
      server.sink.lines('remote_write').filter((l) => l.startsWith('rw_ok')),
      [`rw_ok{job="a"} 1 ${now - 1000}`, `rw_ok{job="a"} 2 ${now}`],
    );
  });

  test('partial refusal → 400 text naming each series; the good samples ARE stored', async () => {
    const now = Date.now();
    const r = await write(
      encode([
        { labels: L({ __name__: 'rw_mixed', i: '0' }), samples: [{ value: 1, timestamp: now }] },
        { labels: L({ __name__: 'rw_mixed', i: '1' }), samples: [{ value: NaN, timestamp: now }] },
        { labels: L({ job: 'no-name' }), samples: [{ value: 3, timestamp: now }] },
        { labels: L({ __name__: 'rw_mixed', i: '3' }), samples: [{ value: 4, timestamp: now }] },
      ]),
    );
    assert.equal(r.status, 400);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    const lines = r.text.trim().split('\n');
    assert.match(
      lines[0]!,
      /^2 problems; 2 samples accepted and stored, 0 duplicates, 0 stale markers skipped\. Do not resend/,
    );
    assert.equal(
      lines[1],
      'timeseries[1] rw_mixed{i="1"} sample[0]: INVALID_SAMPLE value must be finite, got NaN',
    );
    assert.equal(
      lines[2],
      'timeseries[2] {job="no-name"}: INVALID_NAME timeseries has no __name__ label (1 sample refused)',
    );
    assert.deepEqual(
      server.sink.lines('remote_write').filter((l) => l.startsWith('rw_mixed')),
      [`rw_mixed{i="0"} 1 ${now}`, `rw_mixed{i="3"} 4 ${now}`],
    );
  });

  test('sink refusals (out of order) are reported with the series and are 400 too', async () => {
    const now = Date.now();
    assert.equal(
      (await write(encode([{ labels: L({ __name__: 'rw_ooo' }), samples: [{ value: 1, timestamp: now }] }])))
        .status,
      204,
    );
    const r = await write(
      encode([{ labels: L({ __name__: 'rw_ooo' }), samples: [{ value: 0, timestamp: now - 60_000 }] }]),
    );
    assert.equal(r.status, 400);
    assert.match(r.text, /^timeseries\[0\] rw_ooo: OUT_OF_ORDER older than /m);
  });

  test('a resend of the same batch is acknowledged as duplicates (204)', async () => {
    const now = Date.now();
    const body = encode([{ labels: L({ __name__: 'rw_dup' }), samples: [{ value: 5, timestamp: now }] }]);
    assert.equal((await write(body)).status, 204);
    const again = await write(body);
    assert.equal(again.status, 204);
    assert.equal(again.headers.get('x-prometheus-remote-write-samples-written'), '1');
  });

  test('malformed snappy → 400; truncated protobuf → 400; nothing stored', async () => {
    const before = server.sink.all().length;
    const bad = await write(Uint8Array.from([0x10, 0x00, 0x61]));
    assert.equal(bad.status, 400);
    assert.match(errorOf(bad.text).message, /not valid snappy/);
    const full = WriteRequest.encode(
      WriteRequest.fromObject({
        timeseries: [{ labels: L({ __name__: 'x' }), samples: [{ value: 1, timestamp: Date.now() }] }],
      }),
    ).finish();
    const cut = await write(snappyjs.compress(full.subarray(0, full.length - 3)));
    assert.equal(cut.status, 400);
    assert.equal(errorOf(cut.text).code, 'INGEST_BAD_REQUEST');
    assert.equal(server.sink.all().length, before);
  });

  test('limits: body over the limit, declared uncompressed size over the limit, too many samples → 413', async () => {
    const big = await write(new Uint8Array(70 * 1024));
    assert.equal(big.status, 413);
    assert.equal(errorOf(big.text).code, 'INGEST_BODY_TOO_LARGE');
    // A 10-byte body declaring 4 GiB uncompressed (a snappy bomb) is refused before allocating.
    const bomb = await write(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0]));
    assert.equal(bomb.status, 413);
    const many = encode(
      Array.from({ length: 1001 }, (_, i) => ({
        labels: L({ __name__: 'm', i: String(i) }),
        samples: [{ value: 1, timestamp: Date.now() }],
      })),
    );
    const tooMany = await write(many);
    assert.equal(tooMany.status, 413);
    assert.equal(errorOf(tooMany.text).code, 'INGEST_TOO_MANY_SAMPLES');
  });

  test('remote write 2.0, other encodings and content types → 415', async () => {
    const body = encode([]);
    assert.equal(
      (await write(body, { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' }))
        .status,
      415,
    );
    assert.equal(
      (await write(body, { 'content-type': 'application/x-protobuf;proto=prometheus.WriteRequest' })).status,
      204,
    );
    assert.equal((await write(body, { 'content-encoding': 'zstd' })).status, 415);
    assert.equal((await write(body, { 'content-type': 'text/plain' })).status, 415);
  });

  test('backpressure: an overloaded sink → 503 with Retry-After (Prometheus retries), then 204', async () => {
    server.sink.overloadFor(1);
    const body = encode([
      { labels: L({ __name__: 'rw_bp' }), samples: [{ value: 1, timestamp: Date.now() }] },
    ]);
    const r = await write(body);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '2');
    assert.equal(errorOf(r.text).code, 'INGEST_OVERLOADED');
    assert.equal((await write(body)).status, 204);
  });

  test('the JSON API keeps working beside the protobuf parser', async () => {
    const res = await fetch(`${server.url}/api/v1/samples`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ samples: [{ metric: 'json_beside', ts: Date.now(), value: 1 }] }),
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { accepted: number }).accepted, 1);
  });
});

const PROMETHEUS = process.env['PROMETHEUS_BIN'] ?? '/usr/bin/prometheus';
const havePrometheus = existsSync(PROMETHEUS);

describe('a real Prometheus (agent mode) remote-writing to Vigil', () => {
  let target: Server;
  let prom: ChildProcess | undefined;
  let dir: string;
  let promLog = '';
  let requests = 0;

  before(async () => {
    if (!havePrometheus) return;
    dir = mkdtempSync(join(tmpdir(), 'vigil-prom-'));
    // The scrape target: two good series and one whose label value breaks Vigil's limit (1024 chars).
    target = createServer((_req, res) => {
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(
        '# TYPE vigil_rw_gauge gauge\nvigil_rw_gauge{color="blue"} 42\n' +
          '# TYPE vigil_rw_requests_total counter\nvigil_rw_requests_total 7\n' +
          `# TYPE vigil_rw_long gauge\nvigil_rw_long{v="${'x'.repeat(2000)}"} 1\n`,
      );
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const targetPort = (target.address() as AddressInfo).port;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: vigil-rw-test',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${targetPort}']`,
        'remote_write:',
        `  - url: ${server.url}/api/v1/write`,
        '    queue_config:',
        '      batch_send_deadline: 500ms',
        '      min_backoff: 100ms',
        '      max_backoff: 500ms',
        '',
      ].join('\n'),
    );
    prom = spawn(
      PROMETHEUS,
      [
        '--enable-feature=agent',
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.agent.path=${join(dir, 'data')}`,
        '--web.listen-address=127.0.0.1:0',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prom.stdout?.on('data', (b: Buffer) => (promLog += b.toString()));
    prom.stderr?.on('data', (b: Buffer) => (promLog += b.toString()));
    server.app.server.on('request', (req) => {
      if (req.url === '/api/v1/write') requests++;
    });
  });

  after(async () => {
    if (prom && prom.exitCode === null && prom.pid !== undefined) {
      const exited = new Promise<void>((resolve) => prom!.once('exit', () => resolve()));
      process.kill(prom.pid, 'SIGTERM');
      const timer = setTimeout(
        () => prom!.pid !== undefined && prom!.exitCode === null && process.kill(prom!.pid, 'SIGKILL'),
        5000,
      );
      await exited;
      clearTimeout(timer);
    }
    if (target) await new Promise<void>((resolve) => target.close(() => resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(
    'scraped series arrive with job/instance; the 400 for the bad series is not retried and the good ones keep flowing',
    {
      skip: havePrometheus
        ? false
        : `no Prometheus binary at ${PROMETHEUS} (apt-get install -y prometheus, or set PROMETHEUS_BIN)`,
      timeout: 60_000,
    },
    async () => {
      const deadline = Date.now() + 45_000;
      const gaugeTimes = () =>
        new Set(
          server.sink
            .all('remote_write')
            .filter((s) => s.metric === 'vigil_rw_gauge')
            .map((s) => s.ts),
        ).size;
      while (gaugeTimes() < 4) {
        if (Date.now() > deadline)
          assert.fail(`no remote-write samples after 45 s; prometheus said:\n${promLog}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const samples = server.sink.all('remote_write');
      const gauge = samples.find((s) => s.metric === 'vigil_rw_gauge')!;
      assert.equal(gauge.value, 42);
      assert.equal(gauge.labels['color'], 'blue');
      assert.equal(gauge.labels['job'], 'vigil-rw-test');
      assert.match(gauge.labels['instance'] ?? '', /^127\.0\.0\.1:\d+$/);
      assert.equal(
        gauge.key,
        `vigil_rw_gauge{color="blue",instance="${gauge.labels['instance']}",job="vigil-rw-test"}`,
      );
      assert.ok(samples.some((s) => s.metric === 'vigil_rw_requests_total' && s.value === 7));
      assert.ok(
        samples.some((s) => s.metric === 'up' && s.value === 1),
        "Prometheus's own up series",
      );
      assert.ok(!samples.some((s) => s.metric === 'vigil_rw_long'), 'the over-long label value was refused');
      // Every scrape carries the bad series, so every batch was answered 400: had Prometheus
      // retried 4xx, its shard would be stuck on the first batch and no later scrape would arrive.
      assert.ok(requests >= 4, `${requests} write requests`);
    },
  );
});
