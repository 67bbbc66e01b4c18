import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IngestError } from '../errors.js';
import { makeSample, type SampleLimits } from '../validate.js';
import { decodeInflux, parseInfluxPrecision, type InfluxPrecision } from './influx.js';

const LIMITS: SampleLimits = {
  maxLabelsPerSeries: 8,
  maxNameLength: 100,
  maxLabelValueLength: 200,
  maxFutureSkewMs: 600_000,
};
const NOW = 1_750_000_000_000;
const NS = `${NOW - 1000}123456`;
const decode = (body: string, precision: InfluxPrecision = 'ns', max = 1000) =>
  decodeInflux(body, NOW, LIMITS, max, precision);
const rows = (body: string, precision: InfluxPrecision = 'ns') =>
  decode(body, precision).samples.map((s) => `${s.key} ${s.value} ${s.ts}`);

describe('Influx line protocol: syntax', () => {
  test('measurement, tags, typed fields, timestamp → one sample per field', () => {
    assert.deepEqual(
      rows(`cpu,host=a,region=eu usage_user=12.5,usage_system=3i,threads=7u,up=true,down=F ${NS}`),
      [
        `cpu_usage_user{host="a",region="eu"} 12.5 ${NOW - 1000}`,
        `cpu_usage_system{host="a",region="eu"} 3 ${NOW - 1000}`,
        `cpu_threads{host="a",region="eu"} 7 ${NOW - 1000}`,
        `cpu_up{host="a",region="eu"} 1 ${NOW - 1000}`,
        `cpu_down{host="a",region="eu"} 0 ${NOW - 1000}`,
      ],
    );
  });

  test('escapes: spaces, commas and equals in measurement, tag keys/values and field keys', () => {
    assert.deepEqual(rows(`my\\ meas\\,x,ta\\ g=va\\,l\\=ue\\ 1,path=C:\\\\dir fi\\=eld\\ 1=1 ${NS}`), [
      `my_meas_x_fi_eld_1{path="C:\\\\dir",ta_g="va,l=ue 1"} 1 ${NOW - 1000}`,
    ]);
  });

  test('a backslash before any other character is literal', () => {
    const s = decode(`m,t=a\\b v=1 ${NS}`).samples[0]!;
    assert.equal(s.labels['t'], 'a\\b');
  });

  test('comments, blank lines, leading blanks, CRLF and no trailing newline', () => {
    assert.deepEqual(rows(`# header\r\n\r\n  m v=1 ${NS}\r\n\t\n# x\nm2 v=2 ${NS}`), [
      `m_v 1 ${NOW - 1000}`,
      `m2_v 2 ${NOW - 1000}`,
    ]);
  });

  test('no timestamp → server time; precisions convert exactly', () => {
    assert.deepEqual(rows('m v=1'), [`m_v 1 ${NOW}`]);
    const ms = NOW - 1000;
    assert.deepEqual(rows(`m v=1 ${ms}123`, 'us'), [`m_v 1 ${ms}`]);
    assert.deepEqual(rows(`m v=1 ${ms}`, 'ms'), [`m_v 1 ${ms}`]);
    assert.deepEqual(rows(`m v=1 ${ms / 1000}`, 's'), [`m_v 1 ${ms}`]);
    assert.deepEqual(rows(`m v=1 ${Math.floor(NOW / 60000)}`, 'm'), [
      `m_v 1 ${Math.floor(NOW / 60000) * 60000}`,
    ]);
  });

  test('float syntax: exponents, leading dot, trailing dot, negatives', () => {
    assert.deepEqual(
      decode(`m a=1e3,b=-1.5E-2,c=.5,d=2.,e=-0 ${NS}`).samples.map((s) => s.value),
      [1000, -0.015, 0.5, 2, -0],
    );
  });

  test('the "prometheus" measurement keeps field names as metric names (Telegraf metric_version 2)', () => {
    assert.deepEqual(rows(`prometheus,job=x http_requests_total=5 ${NS}`), [
      `http_requests_total{job="x"} 5 ${NOW - 1000}`,
    ]);
  });

  test('parseInfluxPrecision: v2 and v1 values; anything else is 400', () => {
    assert.equal(parseInfluxPrecision(undefined, false), 'ns');
    assert.equal(parseInfluxPrecision('s', false), 's');
    assert.equal(parseInfluxPrecision('u', true), 'us');
    assert.equal(parseInfluxPrecision('h', true), 'h');
    assert.throws(
      () => parseInfluxPrecision('h', false),
      (e: unknown) => e instanceof IngestError && e.code === 'INGEST_BAD_REQUEST',
    );
    assert.throws(() => parseInfluxPrecision(['s'], false), IngestError);
  });
});

describe('Influx line protocol: refusals', () => {
  test("string fields are refused per field, the line's other fields kept; strings may hold newlines, commas and quotes", () => {
    const r = decode(`svc,host=a status="ok, \\"fine\\"\nreally",latency=12 ${NS}\nnext v=1 ${NS}`);
    assert.deepEqual(
      r.samples.map((s) => s.key),
      ['svc_latency{host="a"}', 'next_v'],
    );
    assert.deepEqual(r.indices, [1, 3]);
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.where, x.code]),
      [[1, 'line 1 field "status"', 'INVALID_SAMPLE']],
    );
    assert.match(r.rejected[0]!.reason, /string values are not supported/);
  });

  test('syntax errors refuse their line with line and column; the lines around are kept', () => {
    const body = [
      `ok1 v=1 ${NS}`,
      `nofields`,
      `m,tag v=1 ${NS}`,
      `m,t= v=1 ${NS}`,
      `m v= ${NS}`,
      `m v=1 12x`,
      `m v=1 ${NS} extra`,
      `m v=1,=2 ${NS}`,
      `m ${NS}`,
      `,t=1 v=1`,
      `ok2 v=2 ${NS}`,
    ].join('\n');
    const r = decode(body);
    assert.deepEqual(r.indices, [1, 11]);
    assert.deepEqual(
      r.rejected.map((x) => `${x.where}: ${x.reason}`),
      [
        'line 2: col 9: missing fields (expected a space then field=value)',
        'line 3: col 6: tag key "tag" is not followed by "="',
        'line 4: col 5: tag "t" has an empty value',
        'line 5: col 5: missing field value',
        'line 6: col 7: timestamp "12x" is not an integer',
        'line 7: col 27: unexpected text after the timestamp',
        'line 8: col 7: empty field key',
        `line 9: col ${3 + NS.length}: field key "${NS}" is not followed by "="`,
        'line 10: col 1: missing measurement',
      ],
    );
  });

  test('bad field values are refused per field: NaN, Inf, overflow, garbage', () => {
    const r = decode(
      `m a=NaN,b=1e999,c=9223372036854775808i,d=18446744073709551616u,e=12abc,f=-9223372036854775808i,g=1 ${NS}`,
    );
    assert.deepEqual(
      r.samples.map((s) => s.key),
      ['m_f', 'm_g'],
    );
    assert.deepEqual(
      r.rejected.map((x) => x.where),
      ['line 1 field "a"', 'line 1 field "b"', 'line 1 field "c"', 'line 1 field "d"', 'line 1 field "e"'],
    );
  });

  test('line-level rules: tags mapping to one label, duplicate tags, too many labels, timestamps out of range', () => {
    const tags = Array.from({ length: 9 }, (_, i) => `t${i}=v`).join(',');
    const r = decode(
      [`m,a.b=1,a_b=2 v=1`, `m,x=1,x=2 v=1`, `m,${tags} v=1`, `m v=1 ${NOW - 1000}`, `m v=1,v=2 ${NS}`].join(
        '\n',
      ),
    );
    assert.deepEqual(
      r.rejected.map((x) => `${x.where} ${x.code}: ${x.reason}`),
      [
        'line 1 INVALID_NAME: tags "a.b" and "a_b" both map to label "a_b" (1 field refused)',
        'line 2 INVALID_NAME: duplicate tag "x" (1 field refused)',
        'line 3 LIMIT_EXCEEDED: more than 8 labels (1 field refused)',
        'line 4 TIMESTAMP_OUT_OF_RANGE: ts 1749999 is before 2000-01-01 (epoch milliseconds expected; seconds?) (1 field refused)',
        'line 5 field "v" INVALID_SAMPLE: duplicate field in the line',
      ],
    );
    assert.deepEqual(
      r.samples.map((s) => `${s.key} ${s.value}`),
      ['m_v 1'],
    );
  });

  test('an unterminated string refuses its line only', () => {
    const r = decode(`m s="open,v=1 ${NS}\nok v=1 ${NS}`);
    assert.deepEqual(
      r.samples.map((s) => s.key),
      ['ok_v'],
    );
    assert.match(r.rejected[0]!.reason, /unterminated string/);
  });

  test('too many fields is 413 INGEST_TOO_MANY_SAMPLES', () => {
    assert.throws(
      () => decode('m a=1,b=2,c=3', 'ns', 2),
      (e: unknown) => e instanceof IngestError && e.code === 'INGEST_TOO_MANY_SAMPLES',
    );
  });
});

describe('Influx line protocol: properties', () => {
  const ident = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{0,8}$/);
  const text = fc
    .string({ minLength: 1, maxLength: 10 })
    .filter((s) => !/[\n\r\\]/.test(s) && s.trim() === s && s !== '');
  const escapeTag = (s: string) => s.replace(/[ ,=]/g, (c) => `\\${c}`);
  const line = fc.record({
    measurement: ident,
    tags: fc.dictionary(ident, text, { maxKeys: 3 }),
    fields: fc.dictionary(
      ident,
      fc.oneof(
        fc
          .double({ noNaN: true, noDefaultInfinity: true, min: -1e300, max: 1e300 })
          .map((v) => (Object.is(v, -0) ? 0 : v)),
        fc.integer().map((i) => `${i}i`),
        fc.boolean(),
      ),
      { minKeys: 1, maxKeys: 3 },
    ),
    dtMs: fc.integer({ min: -100_000, max: 0 }),
  });
  interface Line {
    measurement: string;
    tags: Record<string, string>;
    fields: Record<string, number | string | boolean>;
    dtMs: number;
  }
  const render = (l: Line) => {
    const tags = Object.entries(l.tags)
      .map(([k, v]) => `,${escapeTag(k)}=${escapeTag(v)}`)
      .join('');
    const fields = Object.entries(l.fields)
      .map(([k, v]) => `${escapeTag(k)}=${String(v)}`)
      .join(',');
    return `${l.measurement}${tags} ${fields} ${NOW + l.dtMs}000000`;
  };

  test('rendered lines parse back to the same samples as the JSON API would make', () => {
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 10 }), (lines) => {
        const r = decode(lines.map(render).join('\n'));
        assert.deepEqual(r.rejected, []);
        let i = 0;
        lines.forEach((l, n) => {
          for (const [k, v] of Object.entries(l.fields)) {
            const value =
              typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'string' ? Number(v.slice(0, -1)) : v;
            const c = makeSample(`${l.measurement}_${k}`, l.tags, NOW + l.dtMs, value, NOW, LIMITS);
            assert.ok(c.ok);
            assert.deepEqual(r.samples[i], c.sample);
            assert.equal(r.indices[i], n + 1);
            i++;
          }
        });
        assert.equal(r.samples.length, i);
      }),
      { numRuns: 300 },
    );
  });

  test('garbage lines never drop the valid lines beside them', () => {
    const garbage = fc.string({ maxLength: 30 }).map((s) => s.replace(/[\n"]/g, ' '));
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            line.map((l) => ({ good: render(l), l })),
            garbage.map((g) => ({ bad: g })),
          ),
          { maxLength: 15 },
        ),
        (items) => {
          const r = decode(items.map((x) => ('good' in x ? x.good : x.bad)).join('\n'));
          items.forEach((x, n) => {
            if (!('good' in x)) return;
            const got = r.samples.filter((_, k) => r.indices[k] === n + 1);
            assert.equal(got.length, Object.keys(x.l.fields).length, `line ${n + 1} kept`);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test('fuzz: arbitrary text only ever raises IngestError, and every line is accounted for', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200, unit: 'binary' }),
        fc.constantFrom<InfluxPrecision>('ns', 'us', 'ms', 's', 'm', 'h'),
        (s, p) => {
          try {
            const r = decode(s, p);
            for (const x of r.rejected) assert.ok(x.index >= 1);
          } catch (e) {
            assert.ok(e instanceof IngestError, String(e));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
