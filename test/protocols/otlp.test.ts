/**
 * OTLP/HTTP metrics over real HTTP, with the official OpenTelemetry JS SDK as the client
 * (`@opentelemetry/sdk-metrics` + `@opentelemetry/exporter-metrics-otlp-http` (JSON) and
 * `-otlp-proto` (protobuf), with and without gzip), plus hand-made requests for the answers the
 * SDK does not show (partial success, undecodable bodies, gzip limits). Server: fastify on
 * 127.0.0.1:0 from ./harness.ts. Run alone:
 *   npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/protocols/otlp.test.js
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { loadOtlpRoot } from '../../src/ingest/protocols/proto/schemas.js';
import { startServer, type TestServer } from './harness.js';

const root = loadOtlpRoot();
const Request = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
const Response = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse');

let server: TestServer;
before(async () => {
  server = await startServer({ bodyLimit: 64 * 1024 });
});
after(() => server.close());

/** Records a few instruments through the SDK and flushes them with `exporter`. */
async function recordWith(exporter: PushMetricExporter, service: string): Promise<void> {
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      'service.name': service,
      'service.instance.id': 'i-1',
      'host.name': 'ignored',
    }),
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })],
  });
  const meter = provider.getMeter('vigil-test', '1.0.0');
  meter.createCounter('vigil.otel.requests', { unit: '{request}' }).add(3, { 'http.route': '/a' });
  const h = meter.createHistogram('vigil.otel.duration', { unit: 's' });
  h.record(0.25, { 'http.route': '/a' });
  h.record(0.5, { 'http.route': '/a' });
  meter.createUpDownCounter('vigil.otel.queue').add(-2);
  meter
    .createObservableGauge('vigil.otel.temperature', { unit: 'Cel' })
    .addCallback((r) => r.observe(21.5, { room: 'lab' }));
  await provider.forceFlush(); // rejects if the export failed
  await provider.shutdown();
}

function samplesOf(job: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of server.sink.all('otlp')) if (s.labels['job'] === job) out.set(s.key, s.value);
  return out;
}

describe('OpenTelemetry JS SDK → /v1/metrics', () => {
  const clients: [string, () => PushMetricExporter][] = [
    ['http/json', () => new JsonExporter({ url: `${server.url}/v1/metrics` })],
    [
      'http/json + gzip',
      () => new JsonExporter({ url: `${server.url}/v1/metrics`, compression: CompressionAlgorithm.GZIP }),
    ],
    ['http/protobuf', () => new ProtoExporter({ url: `${server.url}/v1/metrics` })],
    [
      'http/protobuf + gzip',
      () => new ProtoExporter({ url: `${server.url}/v1/metrics`, compression: CompressionAlgorithm.GZIP }),
    ],
  ];
  for (const [name, make] of clients) {
    test(name, async () => {
      const job = `svc-${name.replace(/[^a-z]+/g, '-')}`;
      const t0 = Date.now();
      await recordWith(make(), job);
      const got = samplesOf(job);
      const l = `instance="i-1",job="${job}"`;
      assert.deepEqual(
        [...got.entries()].sort(),
        [
          [`vigil_otel_duration_seconds_count{http_route="/a",${l}}`, 2],
          [`vigil_otel_duration_seconds_sum{http_route="/a",${l}}`, 0.75],
          [`vigil_otel_queue{${l}}`, -2],
          [`vigil_otel_requests_total{http_route="/a",${l}}`, 3],
          [`vigil_otel_temperature_celsius{${l},room="lab"}`, 21.5],
        ].sort(),
      );
      for (const s of server.sink.all('otlp').filter((x) => x.labels['job'] === job)) {
        assert.ok(Math.abs(s.ts - t0) < 10_000, 'timestamps in epoch ms');
      }
    });
  }
});

const ns = () => `${Date.now()}000000`;
const gaugeRequest = (points: object[]) => ({
  resourceMetrics: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'hand' } }] },
      scopeMetrics: [{ metrics: [{ name: 'hand.g', gauge: { dataPoints: points } }] }],
    },
  ],
});

async function post(body: Uint8Array | string, headers: Record<string, string>) {
  const res = await fetch(`${server.url}/v1/metrics`, { method: 'POST', headers, body });
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

describe('OTLP answers', () => {
  test('JSON partial success: 200, partialSuccess with the count and each problem; good points stored', async () => {
    const r = await post(
      JSON.stringify(
        gaugeRequest([
          { timeUnixNano: ns(), asDouble: 1 },
          { timeUnixNano: ns(), asDouble: 'NaN' },
          { asDouble: 3 },
        ]),
      ),
      {
        'content-type': 'application/json',
      },
    );
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    const body = JSON.parse(Buffer.from(r.bytes).toString()) as {
      partialSuccess: { rejectedDataPoints: string; errorMessage: string };
    };
    assert.equal(body.partialSuccess.rejectedDataPoints, '2');
    assert.match(
      body.partialSuccess.errorMessage,
      /resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\] "hand\.g" dataPoints\[1\]: INVALID_SAMPLE hand_g: value must be finite, got NaN/,
    );
    assert.match(
      body.partialSuccess.errorMessage,
      /dataPoints\[2\]: INVALID_SAMPLE time_unix_nano is missing/,
    );
    assert.ok(server.sink.all('otlp').some((s) => s.key === 'hand_g{job="hand"}' && s.value === 1));
  });

  test('protobuf success: 200 with an empty ExportMetricsServiceResponse; partial success decodes with protobufjs', async () => {
    const ok = await post(
      Request.encode(Request.fromObject(gaugeRequest([{ timeUnixNano: ns(), asDouble: 5 }]))).finish(),
      { 'content-type': 'application/x-protobuf' },
    );
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'application/x-protobuf');
    assert.equal(ok.bytes.length, 0);
    const partial = await post(
      Request.encode(Request.fromObject(gaugeRequest([{ timeUnixNano: ns(), asDouble: Infinity }]))).finish(),
      { 'content-type': 'application/x-protobuf' },
    );
    const decoded = Response.toObject(Response.decode(partial.bytes), { longs: Number }) as {
      partialSuccess: { rejectedDataPoints: number; errorMessage: string };
    };
    assert.equal(decoded.partialSuccess.rejectedDataPoints, 1);
    assert.match(decoded.partialSuccess.errorMessage, /got Infinity/);
  });

  test('undecodable bodies → 400; unknown content type → 415', async () => {
    const bad = await post(Uint8Array.from([0x0a, 0x7f, 0x01]), { 'content-type': 'application/x-protobuf' });
    assert.equal(bad.status, 400);
    assert.match(
      Buffer.from(bad.bytes).toString(),
      /INGEST_BAD_REQUEST.*not a valid OTLP ExportMetricsServiceRequest/,
    );
    const badJson = await post('{"resourceMetrics": [', { 'content-type': 'application/json' });
    assert.equal(badJson.status, 400);
    assert.match(Buffer.from(badJson.bytes).toString(), /INGEST_BAD_JSON/);
    assert.equal((await post('{"resourceMetrics":{}}', { 'content-type': 'application/json' })).status, 400);
    assert.equal((await post('x', { 'content-type': 'text/csv' })).status, 415);
  });

  test('gzip: a zip bomb stops at the body limit (413); a corrupt stream is 400; other encodings 415', async () => {
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20)); // 10 MiB of spaces in ~10 KiB
    assert.ok(bomb.length < 64 * 1024);
    const r = await post(bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(r.status, 413);
    assert.match(Buffer.from(r.bytes).toString(), /INGEST_BODY_TOO_LARGE/);
    const corrupt = gzipSync(Buffer.from(JSON.stringify(gaugeRequest([])))).subarray(0, 20);
    const c = await post(corrupt, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(c.status, 400);
    assert.match(Buffer.from(c.bytes).toString(), /gzip request body could not be decompressed/);
    assert.equal(
      (await post('{}', { 'content-type': 'application/json', 'content-encoding': 'br' })).status,
      415,
    );
  });

  test('backpressure: overloaded → 503 with Retry-After', async () => {
    server.sink.overloadFor(1);
    const r = await post(JSON.stringify(gaugeRequest([{ timeUnixNano: ns(), asDouble: 1 }])), {
      'content-type': 'application/json',
    });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '2');
  });
});
