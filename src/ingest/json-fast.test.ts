import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import Fastify from 'fastify';
import { decodeJsonSamples } from './http-json.js';
import { decodeJsonSamplesFast, SeriesBytesCache } from './json-fast.js';
import type { SampleLimits } from './validate.js';

const limits: SampleLimits = {
  maxLabelsPerSeries: 4,
  maxNameLength: 50,
  maxLabelValueLength: 20,
  maxFutureSkewMs: 600_000,
};
const NOW = Date.UTC(2026, 10, 21);
const MAX = 50;

const fast = (text: string, cache = new SeriesBytesCache()) =>
  decodeJsonSamplesFast(Buffer.from(text, 'utf8'), NOW, limits, MAX, cache);

/** fastify's own JSON parser, as the route's slow path runs it. */
const jsonParser = Fastify().getDefaultJsonParser('error', 'error');

/** The slow path: fastify's JSON parser, then decodeJsonSamples; errors as values. */
function slow(text: string): unknown {
  let body: unknown;
  let parseError: Error | null = null;
  // The parser calls back synchronously.
  void jsonParser({} as never, text, (err, b) => {
    parseError = err;
    body = b;
  });
  if (parseError) return { error: (parseError as Error).message };
  try {
    return decodeJsonSamples(body, NOW, limits, MAX);
  } catch (err) {
    return { error: (err as Error).message };
  }
}

describe('JSON ingest fast path', () => {
  test('a canonical body is decoded without the slow path, exactly as the slow path decodes it', () => {
    const text =
      `{"samples":[{"metric":"http_requests_total","labels":{"service":"api","method":"GET"},"ts":${NOW - 1000},"value":12.5},` +
      `{"metric":"up","ts":${NOW},"value":-0},` +
      `{"metric":"cpu","labels":{"host":"a","empty":"","city":"Zürich"},"ts":"2026-11-20T10:00:00.250Z","value":1e-7}]}`;
    const r = fast(text);
    assert.ok(r, 'the fast path gave up on a canonical body');
    assert.deepEqual(r, slow(text));
    assert.equal(r.samples[0]!.key, 'http_requests_total{method="GET",service="api"}');
    assert.ok(Object.is(r.samples[1]!.value, -0));
    assert.deepEqual(r.samples[2]!.labels, { host: 'a', city: 'Zürich' }); // empty values dropped
  });

  test('a series seen before is recognised by its bytes: same key object, not rebuilt', () => {
    const cache = new SeriesBytesCache();
    const body = (v: number) =>
      `{"samples":[{"metric":"m","labels":{"a":"1","b":"2"},"ts":${NOW},"value":${v}}]}`;
    const a = fast(body(1), cache);
    const b = fast(body(2), cache);
    assert.equal(cache.size, 1);
    assert.equal(a!.samples[0]!.key, 'm{a="1",b="2"}');
    assert.ok(a!.samples[0]!.labels === b!.samples[0]!.labels);
    // The same series written differently is another entry with the same key.
    const c = fast(`{"samples":[{"labels":{"b":"2","a":"1"},"value":3,"metric":"m","ts":${NOW}}]}`, cache);
    assert.equal(c!.samples[0]!.key, 'm{a="1",b="2"}');
    assert.equal(cache.size, 2);
  });

  test('gives up (undefined) on what the slow path must judge', () => {
    const item = (s: string) => `{"samples":[${s}]}`;
    const cases = [
      '',
      'null',
      '{"samples":[]} x',
      '{"samples":[],"other":1}',
      item(`{"metric":"m","ts":${NOW},"value":1,"extra":2}`), // unknown field
      item(`{"metric":"m","ts":${NOW}}`), // missing value
      item(`{"metric":"m","ts":${NOW},"value":"1"}`), // wrong type
      item(`{"metric":"m","ts":${NOW},"value":1,"value":2}`), // duplicate field
      item(`{"metric":"m\\u0041","ts":${NOW},"value":1}`), // escape
      item(`{"metric":"9bad","ts":${NOW},"value":1}`), // invalid name
      item(`{"metric":"m","labels":{"__proto__":"x"},"ts":${NOW},"value":1}`),
      item(`{"metric":"m","labels":{"a":"1","a":"2"},"ts":${NOW},"value":1}`),
      item(`{"metric":"m","labels":{"a":1},"ts":${NOW},"value":1}`),
      item(`{"metric":"m","ts":${NOW + 3_600_000},"value":1}`), // future
      item(`{"metric":"m","ts":1000,"value":1}`), // seconds as ms
      item(`{"metric":"m","ts":${NOW},"value":1e999}`), // not finite
      item(`{"metric":"m","ts":${NOW},"value":01}`),
      item(`{"metric":"m","ts":${NOW},"value":1.}`),
      item(`{"metric":"m","ts":${NOW},"value":1},`),
      `{"samples":[${Array.from({ length: MAX + 1 }, () => `{"metric":"m","ts":${NOW},"value":1}`).join(',')}]}`,
    ];
    for (const c of cases) assert.equal(fast(c), undefined, c.slice(0, 120));
    // Invalid UTF-8 inside a label value.
    const bad = Buffer.concat([
      Buffer.from(`{"samples":[{"metric":"m","labels":{"a":"`),
      Buffer.from([0xc3, 0x28]),
      Buffer.from(`"},"ts":${NOW},"value":1}]}`),
    ]);
    assert.equal(decodeJsonSamplesFast(bad, NOW, limits, MAX, new SeriesBytesCache()), undefined);
  });

  test('numbers: the same double as JSON.parse, for shortest, fixed and exponent forms', () => {
    fc.assert(
      fc.property(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer({ min: 0, max: 20 }),
        (v, digits) => {
          for (const lit of [JSON.stringify(v), v.toFixed(digits), v.toExponential(Math.min(digits, 16))]) {
            if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(lit)) continue; // not a JSON number
            const r = fast(`{"samples":[{"metric":"m","ts":${NOW},"value":${lit}}]}`);
            const want = JSON.parse(lit) as number;
            if (!Number.isFinite(want)) assert.equal(r, undefined);
            else assert.ok(r && Object.is(r.samples[0]!.value, want), `${lit}: ${r?.samples[0]?.value}`);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('property: on generated bodies the fast path equals the slow path whenever it answers', () => {
    const name = fc.constantFrom('m', 'up', 'cpu_seconds', 'a:b', '9x', 'é', '', '__x');
    const str = fc.oneof(
      fc.constantFrom('a', 'b', '', 'x y', 'é', '日本', 'q"q', 'back\\slash', 'nl\n', 'a'.repeat(25)),
      fc.string({ maxLength: 6 }),
    );
    const labelName = fc.constantFrom('a', 'b', 'host', '__proto__', 'constructor', '0', 'bad-name', '__r');
    const ws = fc.constantFrom('', ' ', '\n', '\t ', '\r\n');
    const num = fc.oneof(
      fc.double({ noNaN: true }).map((v) => (Number.isFinite(v) ? JSON.stringify(v) : '1e400')),
      fc.integer({ min: NOW - 10 ** 9, max: NOW + 10 ** 7 }).map(String),
      fc.constantFrom('-0', '0.5', '1E3', '12.50', '-1.5e-3', '007', '.5', '"1"', 'null', 'true', '1.'),
    );
    const ts = fc.oneof(
      fc.integer({ min: NOW - 10 ** 9, max: NOW + 10 ** 7 }).map(String),
      fc.constantFrom('"2026-11-20T10:00:00Z"', '"2026-11-20"', '1000', `${NOW}.4`, `${NOW}.5`, 'null'),
    );
    const field = fc.oneof(
      name.map((n) => `"metric":${JSON.stringify(n)}`),
      fc
        .array(fc.tuple(labelName, str, ws), { maxLength: 5 })
        .map(
          (ls) =>
            `"labels":{${ls.map(([k, v, w]) => `${w}${JSON.stringify(k)}${w}:${w}${JSON.stringify(v)}`).join(',')}}`,
        ),
      ts.map((t) => `"ts":${t}`),
      num.map((v) => `"value":${v}`),
      fc.constantFrom('"extra":1', '"labels":null', '"labels":[]', '"metric":1'),
    );
    const canonical = fc
      .tuple(name, fc.array(fc.tuple(labelName, str), { maxLength: 4 }), ts, num)
      .map(
        ([n, ls, t, v]) =>
          `{"metric":${JSON.stringify(n)},"labels":{${ls.map(([k, x]) => `${JSON.stringify(k)}:${JSON.stringify(x)}`).join(',')}},"ts":${t},"value":${v}}`,
      );
    const shuffled = fc
      .tuple(fc.array(field, { minLength: 1, maxLength: 6 }), ws)
      .map(([fs, w]) => `{${w}${fs.join(`${w},${w}`)}${w}}`);
    const item = fc.oneof(canonical, shuffled, fc.constantFrom('1', 'null', '[]', '{}'));
    const cache = new SeriesBytesCache(8); // small: exercises starting over
    fc.assert(
      fc.property(fc.array(item, { maxLength: 8 }), ws, (items, w) => {
        const text = `${w}{${w}"samples"${w}:${w}[${w}${items.join(`${w},${w}`)}${w}]${w}}${w}`;
        const r = fast(text, cache);
        if (r !== undefined) assert.deepEqual(r, slow(text));
      }),
      { numRuns: 4000 },
    );
  });

  test('property: items of a few series, sent the same way again and again (prefix hits), and every near miss', () => {
    // Item prefixes (bytes up to `,"ts":`) are remembered only when they name the whole series;
    // these shapes share prefixes with the canonical one but must not be taken for it.
    const series = fc.constantFrom(
      '"metric":"m","labels":{"a":"1"}',
      '"metric":"m"',
      '"metric":"m","labels":{"a":"1","b":"2"}',
      '"labels":{"a":"1"},"metric":"m"',
      '"metric":"m","labels":{"ts":"1"}',
      '"metric":"m","labels":{"a":"1"},"ts":5',
      '"metric":"up","labels":{}',
      '"metric":"9x"',
      '"metric":"m","labels":{"a":"x y"}',
    );
    // Mostly items the fast path answers (so prefixes are remembered and hit), with near misses.
    const tail = fc.oneof(
      { arbitrary: fc.constant(''), weight: 30 },
      {
        arbitrary: fc.constantFrom(
          ',"labels":{"a":"1"}',
          ',"metric":"m"',
          ',"metric":"up"',
          ',"labels":{"b":"2"}',
          ',"extra":1',
        ),
        weight: 1,
      },
    );
    const value = fc.oneof(
      { arbitrary: fc.integer({ min: -1000, max: 1000 }).map(String), weight: 30 },
      { arbitrary: fc.constantFrom('1.5', '"1"', 'null'), weight: 1 },
    );
    const ws = fc.constantFrom('', '', '', ' ');
    const item = fc
      .tuple(series, fc.integer({ min: 0, max: 1000 }), value, tail, ws)
      .map(([s, dt, v, tl, w]) => `{${s}${w},"ts":${NOW - dt},"value":${v}${tl}}`);
    for (const capacity of [1 << 20, 3]) {
      const cache = new SeriesBytesCache(capacity);
      let answered = 0;
      fc.assert(
        fc.property(fc.array(item, { minLength: 1, maxLength: 4 }), (items) => {
          const text = `{"samples":[${items.join(',')}]}`;
          const r = fast(text, cache);
          if (r === undefined) return;
          answered++;
          assert.deepEqual(r, slow(text));
        }),
        { numRuns: 3000 },
      );
      assert.ok(answered > 100, `the fast path answered only ${answered} of 3000 bodies`);
    }
  });

  test('a remembered prefix is used: the canonical shape is decoded fast on every later request', () => {
    const cache = new SeriesBytesCache();
    const body = (v: number) =>
      `{"samples":[{"metric":"m","labels":{"a":"1"},"ts":${NOW - 10 + v},"value":${v}},{"metric":"m","labels":{"a":"2"},"ts":${NOW},"value":${v}}]}`;
    for (let v = 0; v < 5; v++) {
      const r = fast(body(v), cache);
      assert.ok(r, `request ${v} fell back to the slow path`);
      assert.deepEqual(r, slow(body(v)));
    }
    assert.equal(cache.prefixes.size, 2);
  });

  test('the cache grows, starts over at capacity, and keeps answering right', () => {
    const cache = new SeriesBytesCache(3000);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5000; i++) {
        const text = `{"samples":[{"metric":"m","labels":{"series":"s${i}","pad":"${'x'.repeat(1 + (i % 20))}"},"ts":${NOW},"value":${i}}]}`;
        const r = fast(text, cache);
        assert.equal(r?.samples[0]?.key, `m{pad="${'x'.repeat(1 + (i % 20))}",series="s${i}"}`);
        assert.ok(cache.size <= 3000);
      }
    }
  });
});
