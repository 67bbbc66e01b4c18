import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatFloat,
  influxLabelName,
  influxMetricName,
  otlpLabelName,
  otlpMetricName,
  type OtlpNameKind,
} from './names.js';

describe('OTLP metric names (Prometheus otlptranslator, UnderscoreEscapingWithSuffixes)', () => {
  // Cases from prometheus/otlptranslator metric_namer_test.go and the Prometheus docs.
  const cases: [string, string, OtlpNameKind, string][] = [
    ['http.server.request.duration', 's', 'histogram', 'http_server_request_duration_seconds'],
    ['system.filesystem.usage', 'By', 'gauge', 'system_filesystem_usage_bytes'],
    ['system.io', 'By', 'counter', 'system_io_bytes_total'],
    ['requests', '1', 'counter', 'requests_total'],
    ['requests_total', '1', 'counter', 'requests_total'],
    ['cpu.utilization', '1', 'gauge', 'cpu_utilization_ratio'],
    ['cpu.utilization', '1', 'updown', 'cpu_utilization'],
    ['network.throughput', 'By/s', 'gauge', 'network_throughput_bytes_per_second'],
    ['queue.length', '{message}', 'gauge', 'queue_length'],
    ['db.latency', 'ms', 'summary', 'db_latency_milliseconds'],
    ['foo__bar...baz', '', 'gauge', 'foo_bar_baz'],
    ['2xx.count', '', 'counter', '_2xx_count_total'],
    ['temperature', 'Cel', 'gauge', 'temperature_celsius'],
    ['bytes.seconds', 's', 'gauge', 'bytes_seconds'],
    ['mem', 'MiBy', 'gauge', 'mem_mebibytes'],
    ['custom', 'widgets', 'gauge', 'custom_widgets'],
    ['ratio.thing', 'm/s', 'gauge', 'ratio_thing_meters_per_second'],
  ];
  for (const [name, unit, kind, want] of cases) {
    test(`${name} [${unit}] ${kind} → ${want}`, () => assert.equal(otlpMetricName(name, unit, kind), want));
  }
  test('a name with no valid character has no translation', () => {
    assert.equal(otlpMetricName('...', '', 'gauge'), undefined);
    assert.equal(otlpMetricName('', '', 'gauge'), undefined);
  });
  test('results are always valid Prometheus metric names', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.constantFrom('', 's', 'By', '1', 'By/s', '{x}', 'ms'),
        fc.constantFrom<OtlpNameKind>('gauge', 'counter', 'histogram'),
        (name, unit, kind) => {
          const out = otlpMetricName(name, unit, kind);
          if (out !== undefined) assert.match(out, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
        },
      ),
    );
  });
});

describe('OTLP label names (otlptranslator LabelNamer)', () => {
  const cases: [string, string | undefined][] = [
    ['http.method', 'http_method'],
    ['service.instance.id', 'service_instance_id'],
    ['2xx', 'key_2xx'],
    ['_private', 'key_private'],
    ['__reserved', '__reserved'],
    ['ünïcode', 'key_n_code'],
    ['plain', 'plain'],
    ['', undefined],
    ['...', undefined],
  ];
  for (const [key, want] of cases)
    test(`${JSON.stringify(key)} → ${String(want)}`, () => assert.equal(otlpLabelName(key), want));
});

describe('Influx names (Telegraf Prometheus serializer)', () => {
  test('measurement_field, sanitised', () => {
    assert.equal(influxMetricName('cpu', 'usage_user'), 'cpu_usage_user');
    assert.equal(influxMetricName('net.if', 'bytes-in'), 'net_if_bytes_in');
    assert.equal(influxMetricName('9lives', 'x'), '_9lives_x');
    assert.equal(influxMetricName('prometheus', 'http_requests_total'), 'http_requests_total');
  });
  test('tag keys as label names', () => {
    assert.equal(influxLabelName('host'), 'host');
    assert.equal(influxLabelName('host.name'), 'host_name');
    assert.equal(influxLabelName('1st'), '_1st');
  });
});

describe('formatFloat (Go strconv.FormatFloat(v, f, -1, 64))', () => {
  const cases: [number, string][] = [
    [0.005, '0.005'],
    [1, '1'],
    [2.5, '2.5'],
    [1e-7, '0.0000001'],
    [1.5e-10, '0.00000000015'],
    [1e21, '1000000000000000000000'],
    [1.25e22, '12500000000000000000000'],
    [-3e-8, '-0.00000003'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
  ];
  for (const [v, want] of cases) test(`${v} → ${want}`, () => assert.equal(formatFloat(v), want));
  test('round-trips every finite double', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (v) => {
        const s = formatFloat(v);
        assert.doesNotMatch(s, /e/);
        assert.equal(Number(s), v === 0 ? 0 : v);
      }),
    );
  });
});
