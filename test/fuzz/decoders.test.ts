/**
 * Cross-decoder fuzzing (fast-check): every way samples get in — the JSON API, Prometheus remote
 * write (snappy + protobuf), OTLP (protobuf and JSON), Influx line protocol and Kafka message
 * values — under the same three properties:
 *
 * 1. no crash: any input (random bytes, random JSON, and mutations of valid requests: flipped,
 *    inserted and deleted bytes, truncation) either decodes or throws an IngestError whose HTTP
 *    status is 4xx (Kafka: a poison code). Nothing else escapes;
 * 2. no hang: each input is decoded within a bound (inputs are ≤ a few KiB; the bound is the
 *    slowest single decode, asserted below a generous limit, and printed);
 * 3. nothing invalid gets through, and nothing valid is lost: every decoded sample passes the
 *    shared rules (validate.ts `makeSample` gives the same sample and series key), and valid
 *    items mixed with invalid ones all come out, with their item index.
 *
 * Runs: a few thousand per protocol; the whole file takes seconds. Run alone:
 *   npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/fuzz/decoders.test.js
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import snappyjs from 'snappyjs';
import {
  decodeInflux,
  decodeJsonSamples,
  decodeKafkaValue,
  decodeOtlpJson,
  decodeOtlpProtobuf,
  decodeRemoteWrite,
  IngestError,
  makeSample,
  type Sample,
  type SampleLimits,
} from '../../src/ingest/index.js';
import { loadOtlpRoot, loadPrometheusRoot } from '../../src/ingest/protocols/proto/schemas.js';

const NOW = 1_750_000_000_000;
const LIMITS: SampleLimits = {
  maxLabelsPerSeries: 8,
  maxNameLength: 60,
  maxLabelValueLength: 80,
  maxFutureSkewMs: 600_000,
};
const MAX_SAMPLES = 10_000;
/** Slowest decode of one input allowed (ms). Inputs are small: decodes take microseconds once warm; the first calls of a decoder (JIT, lazy tables) and GC pauses take longer on a busy CI machine. */
const HANG_BOUND_MS = 1000;
const RUNS = Number(process.env['VIGIL_FUZZ_RUNS'] ?? 2000);

const WriteRequest = loadPrometheusRoot().lookupType('prometheus.WriteRequest');
const OtlpRequest = loadOtlpRoot().lookupType(
  'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest',
);

// ---- generators -------------------------------------------------------------------------------

interface Valid {
  readonly metric: string;
  readonly labels: Record<string, string>;
  readonly ts: number;
  readonly value: number;
}

/** Names every protocol keeps as they are (OTLP's translation collapses `__` and trims `_`). */
const plain = (n: string): boolean => !n.includes('__') && !n.endsWith('_');
const metricName = fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/).filter(plain);
const labelName = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/).filter(plain);
/** Values with the characters the text protocols must escape (space, comma, equals). */
const labelValue = fc.stringMatching(/^[A-Za-z0-9 ,=._-]{0,19}[A-Za-z0-9._-]$/);
const labels = fc.dictionary(labelName, labelValue, { maxKeys: 4 });
const value = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 });
const validSample: fc.Arbitrary<Valid> = fc.record({
  metric: metricName,
  labels,
  ts: fc.integer({ min: NOW - 86_400_000, max: NOW }),
  value,
});

// ---- checks -----------------------------------------------------------------------------------

let slowestMs = 0;
function timed<T>(f: () => T): T {
  const t0 = performance.now();
  try {
    return f();
  } finally {
    const ms = performance.now() - t0;
    if (ms > slowestMs) slowestMs = ms;
  }
}

/** Decodes; a thrown error must be an IngestError with a 4xx status (returned as undefined). */
function decodeOr4xx<T>(f: () => T): T | undefined {
  try {
    return timed(f);
  } catch (e) {
    assert.ok(e instanceof IngestError, `not an IngestError: ${String(e)}`);
    assert.ok(e.statusCode >= 400 && e.statusCode < 500, `${e.code} is ${e.statusCode}, not 4xx`);
    return undefined;
  }
}

/** Every decoded sample is exactly what the shared rules make of its parts. */
function assertAllValid(samples: readonly Sample[]): void {
  for (const s of samples) {
    const c = makeSample(s.metric, s.labels, s.ts, s.value, NOW, LIMITS);
    assert.ok(c.ok, `an invalid sample got through: ${JSON.stringify(s)} (${c.ok ? '' : c.reason})`);
    assert.equal(c.sample.key, s.key);
    assert.equal(c.sample.ts, s.ts);
  }
}

const sig = (s: { metric: string; labels: Record<string, string>; ts: number; value: number }): string =>
  `${s.metric}${JSON.stringify(Object.entries(s.labels).sort())}@${s.ts}=${s.value === 0 ? 0 : s.value}`;

/** Every valid item came out, at its item index. */
function assertContains(
  out: { samples: readonly Sample[]; indices: readonly number[] },
  expected: readonly { index: number; sample: Valid }[],
): void {
  const got = new Map<number, Set<string>>();
  out.samples.forEach((s, i) => {
    const idx = out.indices[i] as number;
    if (!got.has(idx)) got.set(idx, new Set());
    got.get(idx)!.add(sig(s));
  });
  for (const e of expected)
    assert.ok(got.get(e.index)?.has(sig(e.sample)), `valid item ${e.index} missing: ${sig(e.sample)}`);
}

/** Byte mutations of a valid encoding: flips, insertions, deletions, then a cut. */
const mutations = fc.record({
  edits: fc.array(
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'ins', 'del')),
    {
      maxLength: 6,
    },
  ),
  cut: fc.option(fc.nat(), { nil: undefined }),
});
function mutate(
  bytes: Uint8Array,
  m: { edits: [number, number, string][]; cut: number | undefined },
): Uint8Array {
  const a = Array.from(bytes);
  for (const [pos, byte, op] of m.edits) {
    const p = a.length === 0 ? 0 : pos % (a.length + (op === 'ins' ? 1 : 0));
    if (op === 'set' && a.length > 0) a[p] = byte;
    else if (op === 'ins') a.splice(p, 0, byte);
    else if (op === 'del' && a.length > 0) a.splice(p, 1);
  }
  const out = Uint8Array.from(a);
  return m.cut === undefined || out.length === 0 ? out : out.subarray(0, m.cut % (out.length + 1));
}

// ---- encoders ---------------------------------------------------------------------------------

const jsonItem = (s: Valid) => ({ metric: s.metric, labels: s.labels, ts: s.ts, value: s.value });

function remoteWrite(timeseries: unknown[]): Uint8Array {
  return WriteRequest.encode(WriteRequest.fromObject({ timeseries })).finish();
}
const rwSeries = (s: Valid) => ({
  labels: [
    { name: '__name__', value: s.metric },
    ...Object.entries(s.labels).map(([name, v]) => ({ name, value: v })),
  ].sort((a, b) => (a.name < b.name ? -1 : 1)),
  samples: [{ value: s.value, timestamp: s.ts }],
});

const otlpPoint = (s: Valid) => ({
  asDouble: s.value,
  timeUnixNano: `${s.ts}000000`,
  attributes: Object.entries(s.labels).map(([key, v]) => ({ key, value: { stringValue: v } })),
});
const otlpRequest = (metrics: unknown[]) => ({ resourceMetrics: [{ scopeMetrics: [{ metrics }] }] });

const influxEscapeTag = (s: string) => s.replace(/[ ,=\\]/g, (c) => `\\${c}`);
/** A `prometheus` measurement keeps the field name as the metric name (Telegraf metric_version 2). */
function influxLine(s: Valid): string {
  const tags = Object.entries(s.labels)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `,${k}=${influxEscapeTag(v)}`)
    .join('');
  return `prometheus${tags} ${s.metric}=${String(s.value)} ${s.ts}`;
}

// ---- properties -------------------------------------------------------------------------------

describe('fuzz: every decoder', { timeout: 120_000 }, () => {
  test('JSON API: random JSON, and valid items beside invalid ones', () => {
    const invalidItem = fc.oneof(
      fc.jsonValue(),
      validSample.map((s) => ({ ...jsonItem(s), metric: `9${s.metric}` })),
      validSample.map((s) => ({ ...jsonItem(s), ts: 'yesterday' })),
      validSample.map((s) => ({ ...jsonItem(s), ts: 5 })),
      validSample.map((s) => ({ ...jsonItem(s), value: 'NaN' })),
      validSample.map((s) => ({ ...jsonItem(s), labels: { __reserved: 'x' } })),
      validSample.map((s) => ({ ...jsonItem(s), extra: 1 })),
    );
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const r = decodeOr4xx(() => decodeJsonSamples(body, NOW, LIMITS, MAX_SAMPLES));
        if (r) assertAllValid(r.samples);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            validSample.map((s) => ({ ok: s })),
            invalidItem.map((x) => ({ bad: x })),
          ),
        ),
        (mix) => {
          const items = mix.map((m) => ('ok' in m ? jsonItem(m.ok) : m.bad));
          const r = decodeOr4xx(() => decodeJsonSamples({ samples: items }, NOW, LIMITS, MAX_SAMPLES));
          assert.ok(r, 'a well-formed body is never refused as a whole');
          assertAllValid(r.samples);
          assert.equal(
            r.samples.length + r.rejected.length,
            items.length,
            'every item accepted or refused once',
          );
          assertContains(
            r,
            mix.flatMap((m, index) => ('ok' in m ? [{ index, sample: m.ok }] : [])),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('Prometheus remote write: random and mutated bytes, and valid series beside invalid ones', () => {
    const invalidSeries = fc.oneof(
      validSample.map((s) => ({
        ...rwSeries(s),
        labels: rwSeries(s).labels.filter((l) => l.name !== '__name__'),
      })),
      validSample.map((s) => ({
        ...rwSeries(s),
        labels: [...rwSeries(s).labels, { name: '1bad', value: 'x' }],
      })),
      validSample.map((s) => ({ ...rwSeries(s), samples: [{ value: s.value, timestamp: 5 }] })),
      validSample.map((s) => ({ ...rwSeries(s), samples: [{ value: Infinity, timestamp: s.ts }] })),
      validSample.map((s) => ({ ...rwSeries(s), samples: [{ value: s.value, timestamp: NOW + 3_600_000 }] })),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (data, wrap) => {
        const r = decodeOr4xx(() =>
          decodeRemoteWrite(wrap ? snappyjs.compress(data) : data, NOW, LIMITS, MAX_SAMPLES),
        );
        if (r) assertAllValid(r.samples);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.array(validSample, { minLength: 1, maxLength: 8 }),
        mutations,
        fc.boolean(),
        (ss, m, before) => {
          const raw = remoteWrite(ss.map(rwSeries));
          // Mutate the protobuf (then compress), or the compressed bytes themselves.
          const body = before ? snappyjs.compress(mutate(raw, m)) : mutate(snappyjs.compress(raw), m);
          const r = decodeOr4xx(() => decodeRemoteWrite(body, NOW, LIMITS, MAX_SAMPLES));
          if (r) assertAllValid(r.samples);
        },
      ),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            validSample.map((s) => ({ ok: s })),
            invalidSeries.map((x) => ({ bad: x })),
          ),
        ),
        (mix) => {
          const body = snappyjs.compress(remoteWrite(mix.map((m) => ('ok' in m ? rwSeries(m.ok) : m.bad))));
          const r = decodeOr4xx(() => decodeRemoteWrite(body, NOW, LIMITS, MAX_SAMPLES));
          assert.ok(r, 'a well-formed request is never refused as a whole');
          assertAllValid(r.samples);
          assertContains(
            r,
            mix.flatMap((m, index) => ('ok' in m ? [{ index, sample: m.ok }] : [])),
          );
          const bad = new Set(r.rejected.map((x) => x.index));
          mix.forEach((m, i) => 'bad' in m && assert.ok(bad.has(i), `invalid series ${i} refused`));
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('OTLP (protobuf and JSON): random and mutated input, and valid points beside invalid ones', () => {
    const gauge = (name: string, points: unknown[]) => ({ name, gauge: { dataPoints: points } });
    const invalidPoint = fc.oneof(
      validSample.map((s) => ({ ...otlpPoint(s), timeUnixNano: '0' })),
      validSample.map((s) => ({ ...otlpPoint(s), timeUnixNano: `${NOW + 3_600_000}000000` })),
      validSample.map((s) => ({ ...otlpPoint(s), attributes: [{ key: '', value: { stringValue: 'x' } }] })),
      validSample.map((s) => {
        const { asDouble: _v, ...rest } = otlpPoint(s);
        return rest;
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
        const r = decodeOr4xx(() => decodeOtlpProtobuf(data, NOW, LIMITS, MAX_SAMPLES));
        if (r) assertAllValid(r.samples);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const r = decodeOr4xx(() => decodeOtlpJson(body, NOW, LIMITS, MAX_SAMPLES));
        if (r) assertAllValid(r.samples);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.array(validSample, { minLength: 1, maxLength: 6 }), mutations, (ss, m) => {
        const req = otlpRequest(ss.map((s) => gauge(s.metric, [otlpPoint(s)])));
        const bytes = OtlpRequest.encode(OtlpRequest.fromObject(req)).finish();
        const r = decodeOr4xx(() => decodeOtlpProtobuf(mutate(bytes, m), NOW, LIMITS, MAX_SAMPLES));
        if (r) assertAllValid(r.samples);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            validSample.map((s) => ({ ok: s })),
            invalidPoint.map((x) => ({ bad: x })),
          ),
        ),
        (mix) => {
          // One metric per item, so the item index is the point's document-order number.
          const metrics = mix.map((m, i) =>
            'ok' in m ? gauge(m.ok.metric, [otlpPoint(m.ok)]) : gauge(`bad_${i}`, [m.bad]),
          );
          const req = otlpRequest(metrics);
          const expected = mix.flatMap((m, index) => ('ok' in m ? [{ index, sample: m.ok }] : []));
          const viaJson = decodeOr4xx(() =>
            decodeOtlpJson(JSON.parse(JSON.stringify(req)), NOW, LIMITS, MAX_SAMPLES),
          );
          const viaProto = decodeOr4xx(() =>
            decodeOtlpProtobuf(
              OtlpRequest.encode(OtlpRequest.fromObject(req)).finish(),
              NOW,
              LIMITS,
              MAX_SAMPLES,
            ),
          );
          for (const r of [viaJson, viaProto]) {
            assert.ok(r, 'a well-formed request is never refused as a whole');
            assertAllValid(r.samples);
            assertContains(r, expected);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('Influx line protocol: random and mutated text, and valid lines beside garbage lines', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.uint8Array({ maxLength: 400 })), (body) => {
        const r = decodeOr4xx(() => decodeInflux(body, NOW, LIMITS, MAX_SAMPLES, 'ms'));
        if (r) assertAllValid(r.samples);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.array(validSample, { minLength: 1, maxLength: 8 }), mutations, (ss, m) => {
        const text = Buffer.from(ss.map(influxLine).join('\n'));
        const r = decodeOr4xx(() => decodeInflux(mutate(text, m), NOW, LIMITS, MAX_SAMPLES, 'ms'));
        if (r) assertAllValid(r.samples);
      }),
      { numRuns: RUNS },
    );
    const garbageLine = fc.string({ maxLength: 60 }).filter((s) => !/[\r\n]/.test(s));
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            validSample.map((s) => ({ ok: s })),
            garbageLine.map((x) => ({ bad: x })),
          ),
        ),
        (mix) => {
          const text = mix.map((m) => ('ok' in m ? influxLine(m.ok) : m.bad)).join('\n');
          const r = decodeOr4xx(() => decodeInflux(text, NOW, LIMITS, MAX_SAMPLES, 'ms'));
          assert.ok(r, 'line-level problems never refuse the whole body');
          assertAllValid(r.samples);
          // Items are 1-based line numbers.
          assertContains(
            r,
            mix.flatMap((m, i) => ('ok' in m ? [{ index: i + 1, sample: m.ok }] : [])),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('Kafka message values: never an exception, poison has a code, batches keep valid items', () => {
    const POISON = new Set(['EMPTY_MESSAGE', 'MESSAGE_TOO_LARGE', 'NOT_JSON', 'BAD_MESSAGE']);
    const formats = ['json', 'json-batch', 'auto'] as const;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
          fc
            .array(validSample, { maxLength: 5 })
            .chain((ss) =>
              mutations.map((m) => mutate(Buffer.from(JSON.stringify({ samples: ss.map(jsonItem) })), m)),
            ),
        ),
        (bytes) => {
          for (const f of formats) {
            const r = timed(() => decodeKafkaValue(bytes, f, NOW, LIMITS, 4096));
            if (!r.ok) assert.ok(POISON.has(r.code), `poison code ${r.code}`);
            else {
              assertAllValid(r.samples);
              assert.equal(r.samples.length + r.rejected.length, r.items.length);
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            validSample.map((s) => ({ ok: s })),
            fc.jsonValue().map((x) => ({ bad: x })),
          ),
        ),
        (mix) => {
          const value = Buffer.from(
            JSON.stringify({ samples: mix.map((m) => ('ok' in m ? jsonItem(m.ok) : m.bad)) }),
          );
          const r = decodeKafkaValue(value, 'json-batch', NOW, LIMITS, 1 << 20);
          assert.ok(r.ok, 'a well-formed batch is not poison');
          assertAllValid(r.samples);
          assertContains(
            { samples: r.samples, indices: r.itemIndex },
            mix.flatMap((m, index) => ('ok' in m ? [{ index, sample: m.ok }] : [])),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('no decode took longer than the hang bound', () => {
    console.log(
      `slowest single decode: ${slowestMs.toFixed(2)} ms (bound ${HANG_BOUND_MS} ms, ${RUNS} runs per property)`,
    );
    assert.ok(slowestMs < HANG_BOUND_MS, `slowest decode ${slowestMs} ms`);
  });
});
