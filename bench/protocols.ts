/**
 * Ingest throughput per protocol, against the JSON API, in one run: the same samples encoded as
 * Vigil JSON, Prometheus remote write (snappy protobuf), OTLP protobuf, OTLP JSON and Influx line
 * protocol, POSTed over loopback HTTP through the real fastify routes (decode + validation + sink).
 *
 *     npx tsc -p tsconfig.json; node --enable-source-maps dist/bench/protocols.js [options]
 *
 * Options:
 *   --url URL            target a running Vigil (e.g. http://127.0.0.1:8080) instead of the
 *                        default: an in-process fastify with the JSON and protocol routes and a
 *                        sink that only counts (so the figures are the HTTP + decode + validation
 *                        cost of each protocol)
 *   --header 'K: V'      extra request header, repeatable (e.g. an Authorization token)
 *   --batch N            samples per request (default 1000: Prometheus sends up to 2000)
 *   --connections N      concurrent keep-alive connections (default 4)
 *   --seconds S          measured seconds per protocol per round (default 2)
 *   --rounds R           rounds, protocol order rotated each round; the median is reported (default 3)
 *   --protocols a,b      subset of json,remote_write,otlp_protobuf,otlp_json,influx
 *   --no-micro           skip the in-process decode-only figures (decoder + validation without
 *                        HTTP, and snappy decompression: this decoder vs snappyjs.uncompress)
 *
 * The load generator runs in a worker thread (the server keeps the main thread), with a pool of
 * 32 pre-encoded payloads per protocol whose timestamps differ, cycled. Against a real server,
 * later cycles repeat timestamps and are acknowledged as duplicates (still decoded and checked).
 * Output: a table, then as the LAST line one JSON object with samples/s per protocol and the
 * ratio to JSON.
 */
import { Agent, request } from 'node:http';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import Fastify from 'fastify';
import snappyjs from 'snappyjs';
import { decodeJsonSamples, registerJsonIngest } from '../src/ingest/index.js';
import type { IngestSource, Sample, SampleSink, SubmitResult } from '../src/ingest/index.js';
import {
  decodeInflux,
  decodeOtlpJson,
  decodeOtlpProtobuf,
  decodeRemoteWrite,
  registerInflux,
  registerOtlp,
  registerRemoteWrite,
} from '../src/ingest/protocols/index.js';
import { snappyDecompress } from '../src/ingest/protocols/snappy.js';
import { loadOtlpRoot, loadPrometheusRoot } from '../src/ingest/protocols/proto/schemas.js';

const PROTOCOLS = ['json', 'remote_write', 'otlp_protobuf', 'otlp_json', 'influx'] as const;
type Protocol = (typeof PROTOCOLS)[number];

interface Options {
  url: string | undefined;
  headers: Record<string, string>;
  batch: number;
  connections: number;
  seconds: number;
  rounds: number;
  protocols: Protocol[];
  micro: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    url: undefined,
    headers: {},
    batch: 1000,
    connections: 4,
    seconds: 2,
    rounds: 3,
    protocols: [...PROTOCOLS],
    micro: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    const need = (): string => {
      if (v === undefined) throw new Error(`${a} needs a value`);
      i++;
      return v;
    };
    if (a === '--url') o.url = need().replace(/\/$/, '');
    else if (a === '--header') {
      const h = need();
      const c = h.indexOf(':');
      if (c < 0) throw new Error(`--header ${h}: expected "Name: value"`);
      o.headers[h.slice(0, c).trim().toLowerCase()] = h.slice(c + 1).trim();
    } else if (a === '--batch') o.batch = Number(need());
    else if (a === '--connections') o.connections = Number(need());
    else if (a === '--seconds') o.seconds = Number(need());
    else if (a === '--rounds') o.rounds = Number(need());
    else if (a === '--protocols') o.protocols = need().split(',') as Protocol[];
    else if (a === '--no-micro') o.micro = false;
    else throw new Error(`unknown option ${a}`);
  }
  for (const p of o.protocols) if (!PROTOCOLS.includes(p)) throw new Error(`unknown protocol ${p}`);
  return o;
}

// ------------------------------------------------------------------------------------------
// Payloads: one sample set, every encoding. Shape: HOSTS × FIELDS series per request, metric
// `bench_<field>` with labels host and region (Influx: one line per host with FIELDS fields).

const FIELDS = ['f0', 'f1', 'f2', 'f3', 'f4'];
const POOL = 32;

interface Payload {
  readonly path: string;
  readonly contentType: string;
  readonly encoding?: string;
  readonly body: Buffer;
}

function samplesFor(batch: number, ts: number): { field: string; host: string; value: number }[] {
  const hosts = Math.ceil(batch / FIELDS.length);
  const out: { field: string; host: string; value: number }[] = [];
  for (let h = 0; h < hosts && out.length < batch; h++)
    for (const field of FIELDS)
      if (out.length < batch)
        out.push({ field, host: `host-${h}.example.internal`, value: ((h * 7919 + ts / 1000) % 1000) / 10 });
  return out;
}

function encodeAll(protocol: Protocol, batch: number): Payload[] {
  const WriteRequest = loadPrometheusRoot().lookupType('prometheus.WriteRequest');
  const Otlp = loadOtlpRoot().lookupType(
    'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest',
  );
  const base = Date.now() - POOL * 1000;
  const out: Payload[] = [];
  for (let k = 0; k < POOL; k++) {
    const ts = base + k * 1000;
    const set = samplesFor(batch, ts);
    const otlpRequest = () => ({
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: FIELDS.map((field) => ({
                name: `bench.${field}`,
                gauge: {
                  dataPoints: set
                    .filter((s) => s.field === field)
                    .map((s) => ({
                      attributes: [
                        { key: 'host', value: { stringValue: s.host } },
                        { key: 'region', value: { stringValue: 'eu-west-1' } },
                      ],
                      timeUnixNano: `${ts}000000`,
                      asDouble: s.value,
                    })),
                },
              })),
            },
          ],
        },
      ],
    });
    switch (protocol) {
      case 'json':
        out.push({
          path: '/api/v1/samples',
          contentType: 'application/json',
          body: Buffer.from(
            JSON.stringify({
              samples: set.map((s) => ({
                metric: `bench_${s.field}`,
                labels: { host: s.host, region: 'eu-west-1' },
                ts,
                value: s.value,
              })),
            }),
          ),
        });
        break;
      case 'remote_write':
        out.push({
          path: '/api/v1/write',
          contentType: 'application/x-protobuf',
          encoding: 'snappy',
          body: Buffer.from(
            snappyjs.compress(
              WriteRequest.encode(
                WriteRequest.fromObject({
                  timeseries: set.map((s) => ({
                    labels: [
                      { name: '__name__', value: `bench_${s.field}` },
                      { name: 'host', value: s.host },
                      { name: 'region', value: 'eu-west-1' },
                    ],
                    samples: [{ value: s.value, timestamp: ts }],
                  })),
                }),
              ).finish(),
            ),
          ),
        });
        break;
      case 'otlp_protobuf':
        out.push({
          path: '/v1/metrics',
          contentType: 'application/x-protobuf',
          body: Buffer.from(Otlp.encode(Otlp.fromObject(otlpRequest())).finish()),
        });
        break;
      case 'otlp_json':
        out.push({
          path: '/v1/metrics',
          contentType: 'application/json',
          body: Buffer.from(JSON.stringify(otlpRequest())),
        });
        break;
      case 'influx': {
        const lines = new Map<string, string[]>();
        for (const s of set) lines.set(s.host, [...(lines.get(s.host) ?? []), `${s.field}=${s.value}`]);
        const text = [...lines.entries()]
          .map(([host, fields]) => `bench,host=${host},region=eu-west-1 ${fields.join(',')} ${ts}`)
          .join('\n');
        out.push({
          path: '/api/v2/write?precision=ms&org=bench&bucket=bench',
          contentType: 'text/plain; charset=utf-8',
          body: Buffer.from(text),
        });
        break;
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Client (worker thread): N keep-alive connections, each sending the next payload as soon as
// the previous answer arrived, for a fixed time.

interface PhaseResult {
  protocol: Protocol;
  requests: number;
  errors: number;
  firstError: string | undefined;
  seconds: number;
  bodyBytes: number;
  latenciesMs: number[];
}

async function runPhase(
  url: string,
  headers: Record<string, string>,
  protocol: Protocol,
  payloads: Payload[],
  connections: number,
  seconds: number,
  agent: Agent,
): Promise<PhaseResult> {
  const target = new URL(url);
  const result: PhaseResult = {
    protocol,
    requests: 0,
    errors: 0,
    firstError: undefined,
    seconds,
    bodyBytes: 0,
    latenciesMs: [],
  };
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let next = 0;
  const one = (p: Payload): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: 'POST',
          path: p.path,
          headers: {
            'content-type': p.contentType,
            'content-length': p.body.length,
            ...(p.encoding ? { 'content-encoding': p.encoding } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status === 200 || status === 204) {
              result.requests++;
              result.bodyBytes += p.body.length;
              result.latenciesMs.push(performance.now() - t0);
            } else {
              result.errors++;
              result.firstError ??= `HTTP ${status}: ${Buffer.concat(chunks).toString().slice(0, 300)}`;
            }
            resolve();
          });
        },
      );
      req.on('error', (err) => {
        result.errors++;
        result.firstError ??= err.message;
        resolve();
      });
      req.end(p.body);
    });
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) await one(payloads[next++ % payloads.length] as Payload);
  };
  await Promise.all(Array.from({ length: connections }, loop));
  result.seconds = (performance.now() - start) / 1000;
  return result;
}

async function client(opts: Options & { url: string }): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('client must run in a worker');
  const payloads = new Map<Protocol, Payload[]>();
  for (const p of opts.protocols) payloads.set(p, encodeAll(p, opts.batch));
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections });
  // Warm-up: JIT and connections, every protocol.
  for (const p of opts.protocols)
    await runPhase(opts.url, opts.headers, p, payloads.get(p)!, opts.connections, 0.5, agent);
  const results: PhaseResult[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const order = opts.protocols.map((_, i) => opts.protocols[(i + r) % opts.protocols.length] as Protocol);
    for (const p of order)
      results.push(
        await runPhase(opts.url, opts.headers, p, payloads.get(p)!, opts.connections, opts.seconds, agent),
      );
  }
  agent.destroy();
  port.postMessage({
    results,
    bytesPerSample: Object.fromEntries(
      [...payloads].map(([p, list]) => [p, (list[0] as Payload).body.length / opts.batch]),
    ),
  });
}

// ------------------------------------------------------------------------------------------
// Micro: decode + validation without HTTP, in this thread (median of 5 runs of ~0.3 s each).

const MICRO_LIMITS = {
  maxLabelsPerSeries: 32,
  maxNameLength: 200,
  maxLabelValueLength: 1024,
  maxFutureSkewMs: 600_000,
};

function rate(fn: (i: number) => void, unitsPerCall: number): number {
  for (let i = 0; i < 20; i++) fn(i);
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    let calls = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 300) fn(calls++);
    runs.push((calls * unitsPerCall) / ((performance.now() - t0) / 1000));
  }
  return median(runs);
}

function micro(opts: Options): {
  decodeSamplesPerSec: Record<string, number>;
  snappyMBps: Record<string, number>;
} {
  const decodeSamplesPerSec: Record<string, number> = {};
  for (const p of opts.protocols) {
    const pool = encodeAll(p, opts.batch).map((x) => x.body);
    const now = Date.now();
    const body = (i: number) => pool[i % pool.length] as Buffer;
    const decode: Record<Protocol, (i: number) => unknown> = {
      json: (i) => decodeJsonSamples(JSON.parse(body(i).toString()), now, MICRO_LIMITS, 1e6),
      remote_write: (i) => decodeRemoteWrite(body(i), now, MICRO_LIMITS, 1e6),
      otlp_protobuf: (i) => decodeOtlpProtobuf(body(i), now, MICRO_LIMITS, 1e6),
      otlp_json: (i) => decodeOtlpJson(JSON.parse(body(i).toString()), now, MICRO_LIMITS, 1e6),
      influx: (i) => decodeInflux(body(i), now, MICRO_LIMITS, 1e6, 'ms'),
    };
    decodeSamplesPerSec[p] = Math.round(rate(decode[p], opts.batch));
  }
  const rw = encodeAll('remote_write', opts.batch).map((x) => x.body);
  const raw = snappyjs.uncompress(rw[0] as Buffer).length;
  const mb = raw / 1e6;
  const snappyMBps = {
    vigil: Number(rate((i) => snappyDecompress(rw[i % rw.length] as Buffer, 1 << 30), mb).toFixed(0)),
    snappyjs: Number(rate((i) => snappyjs.uncompress(rw[i % rw.length] as Buffer), mb).toFixed(0)),
  };
  return { decodeSamplesPerSec, snappyMBps };
}

// ------------------------------------------------------------------------------------------
// Main: optional in-process server, the client worker, the report.

class CountingSink implements SampleSink {
  count = 0;
  submit(samples: readonly Sample[], _source: IngestSource): Promise<SubmitResult> {
    this.count += samples.length;
    return Promise.resolve({ accepted: samples.length, duplicates: 0, rejected: [] });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const m = opts.micro ? micro(opts) : undefined;
  let url = opts.url;
  let close: (() => Promise<void>) | undefined;
  const sink = new CountingSink();
  if (url === undefined) {
    const app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
    const deps = {
      sink,
      limits: {
        maxLabelsPerSeries: 32,
        maxNameLength: 200,
        maxLabelValueLength: 1024,
        maxFutureSkewMs: 600_000,
      },
      maxSamplesPerRequest: 100_000,
      now: Date.now,
    };
    registerJsonIngest(app, deps);
    registerRemoteWrite(app, deps);
    registerOtlp(app, deps);
    registerInflux(app, deps);
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    close = () => app.close();
  }
  const worker = new Worker(new URL(import.meta.url), { workerData: { ...opts, url } });
  const report = await new Promise<{ results: PhaseResult[]; bytesPerSample: Record<Protocol, number> }>(
    (resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => code !== 0 && reject(new Error(`client worker exited with ${code}`)));
    },
  );
  await worker.terminate();
  if (close) await close();

  const perSec: Partial<Record<Protocol, number>> = {};
  const p50: Partial<Record<Protocol, number>> = {};
  const errors: Partial<Record<Protocol, string>> = {};
  for (const p of opts.protocols) {
    const runs = report.results.filter((r) => r.protocol === p);
    perSec[p] = Math.round(median(runs.map((r) => (r.requests * opts.batch) / r.seconds)));
    p50[p] = median(runs.flatMap((r) => r.latenciesMs));
    const failed = runs.find((r) => r.errors > 0);
    if (failed)
      errors[p] =
        `${runs.reduce((a, r) => a + r.errors, 0)} failed requests, first: ${failed.firstError ?? '?'}`;
  }
  const json = perSec.json;
  const ratio = Object.fromEntries(
    opts.protocols.map((p) => [p, json ? Number(((perSec[p] ?? 0) / json).toFixed(2)) : null]),
  );
  const pad = (s: string, n: number) => s.padEnd(n);
  const lpad = (s: string, n: number) => s.padStart(n);
  console.log(
    `target ${opts.url ?? `in-process fastify, counting sink (${url})`}; batch ${opts.batch} samples, ${opts.connections} connections, ` +
      `${opts.rounds} rounds × ${opts.seconds} s per protocol (median); node ${process.version}`,
  );
  const decodeCol = (p?: Protocol): string =>
    m ? lpad(p === undefined ? 'decode-only samples/s' : String(m.decodeSamplesPerSec[p]), 23) : '';
  console.log(
    `${pad('protocol', 15)}${lpad('samples/s', 12)}${lpad('× JSON', 8)}${lpad('bytes/sample', 14)}` +
      `${lpad('p50 ms/req', 12)}${decodeCol()}`,
  );
  for (const p of opts.protocols) {
    console.log(
      `${pad(p, 15)}${lpad(String(perSec[p]), 12)}${lpad(String(ratio[p] ?? '-'), 8)}` +
        `${lpad((report.bytesPerSample[p] ?? 0).toFixed(1), 14)}${lpad((p50[p] ?? 0).toFixed(2), 12)}${decodeCol(p)}`,
    );
  }
  if (m)
    console.log(
      `snappy decompression of a ${opts.batch}-sample WriteRequest: this decoder ${m.snappyMBps['vigil']} MB/s, ` +
        `snappyjs.uncompress ${m.snappyMBps['snappyjs']} MB/s (uncompressed MB)`,
    );
  for (const [p, e] of Object.entries(errors)) console.log(`! ${p}: ${e}`);
  if (!opts.url) console.log(`sink counted ${sink.count} samples`);
  console.log(
    JSON.stringify({
      bench: 'protocols',
      target: opts.url ?? 'in-process',
      batch: opts.batch,
      connections: opts.connections,
      secondsPerPhase: opts.seconds,
      rounds: opts.rounds,
      samplesPerSec: perSec,
      ratioVsJson: ratio,
      bytesPerSample: Object.fromEntries(
        opts.protocols.map((p) => [p, Number((report.bytesPerSample[p] ?? 0).toFixed(1))]),
      ),
      p50MsPerRequest: Object.fromEntries(opts.protocols.map((p) => [p, Number((p50[p] ?? 0).toFixed(2))])),
      ...(m ? { decodeOnlySamplesPerSec: m.decodeSamplesPerSec, snappyDecompressMBps: m.snappyMBps } : {}),
      errors,
    }),
  );
  if (Object.keys(errors).length > 0) process.exitCode = 1;
}

if (isMainThread) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  client(workerData as Options & { url: string }).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
