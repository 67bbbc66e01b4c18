/**
 * One set of samples sent through every protocol — the JSON API, remote write, OTLP protobuf,
 * OTLP JSON and Influx line protocol — each to its own fresh fastify server on 127.0.0.1
 * (./harness.ts): the sink must receive exactly the same (series key, value, timestamp) triples.
 * Run alone:
 *   npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/protocols/parity.test.js
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import snappyjs from 'snappyjs';
import { loadOtlpRoot, loadPrometheusRoot } from '../../src/ingest/protocols/proto/schemas.js';
import { startServer } from './harness.js';

const NOW = Date.now();
const HOSTS = ['web-1', 'web 2', 'db"3'];
const FIELDS = ['load1', 'mem_used', 'requests'];

interface S {
  field: string;
  host: string;
  ts: number;
  value: number;
}
const samples: S[] = [];
for (let t = 0; t < 3; t++)
  for (const host of HOSTS)
    for (const [i, field] of FIELDS.entries())
      samples.push({ field, host, ts: NOW - 60_000 + t * 15_000, value: i * 100 + t + 0.25 });

const WriteRequest = loadPrometheusRoot().lookupType('prometheus.WriteRequest');
const otlp = loadOtlpRoot().lookupType(
  'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest',
);

function otlpRequest(): object {
  return {
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: FIELDS.map((field) => ({
              name: `parity.${field}`,
              gauge: {
                dataPoints: samples
                  .filter((s) => s.field === field)
                  .map((s) => ({
                    attributes: [
                      { key: 'host', value: { stringValue: s.host } },
                      { key: 'region', value: { stringValue: 'eu' } },
                    ],
                    timeUnixNano: `${s.ts}000000`,
                    asDouble: s.value,
                  })),
              },
            })),
          },
        ],
      },
    ],
  };
}

const escapeTag = (v: string) => v.replace(/[ ,=]/g, (c) => `\\${c}`);

const senders: Record<string, (url: string) => Promise<Response>> = {
  json: (url) =>
    fetch(`${url}/api/v1/samples`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        samples: samples.map((s) => ({
          metric: `parity_${s.field}`,
          labels: { host: s.host, region: 'eu' },
          ts: s.ts,
          value: s.value,
        })),
      }),
    }),
  remote_write: (url) =>
    fetch(`${url}/api/v1/write`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' },
      body: snappyjs.compress(
        WriteRequest.encode(
          WriteRequest.fromObject({
            timeseries: samples.map((s) => ({
              labels: [
                { name: '__name__', value: `parity_${s.field}` },
                { name: 'host', value: s.host },
                { name: 'region', value: 'eu' },
              ],
              samples: [{ value: s.value, timestamp: s.ts }],
            })),
          }),
        ).finish(),
      ),
    }),
  otlp_protobuf: (url) =>
    fetch(`${url}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: otlp.encode(otlp.fromObject(otlpRequest())).finish(),
    }),
  otlp_json: (url) =>
    fetch(`${url}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(otlpRequest()),
    }),
  influx: (url) => {
    const lines = new Map<string, string[]>();
    for (const s of samples) {
      const k = `${s.host}|${s.ts}`;
      lines.set(k, [...(lines.get(k) ?? []), `${s.field}=${s.value}`]);
    }
    const body = [...lines.entries()].map(([k, fields]) => {
      const [host, ts] = k.split('|') as [string, string];
      return `parity,host=${escapeTag(host)},region=eu ${fields.join(',')} ${ts}`;
    });
    return fetch(`${url}/api/v2/write?precision=ms&org=o&bucket=b`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: body.join('\n'),
    });
  },
};

test('every protocol stores the same series keys, values and timestamps as the JSON API', async () => {
  const results: Record<string, string[]> = {};
  for (const [name, send] of Object.entries(senders)) {
    const server = await startServer();
    try {
      const res = await send(server.url);
      assert.ok(res.status === 200 || res.status === 204, `${name}: HTTP ${res.status} ${await res.text()}`);
      results[name] = server.sink.lines();
    } finally {
      await server.close();
    }
  }
  const reference = results['json']!;
  assert.equal(reference.length, samples.length);
  assert.ok(reference.includes(`parity_load1{host="db\\"3",region="eu"} 0.25 ${NOW - 60_000}`));
  for (const [name, lines] of Object.entries(results))
    assert.deepEqual(lines, reference, `${name} differs from the JSON API`);
});
