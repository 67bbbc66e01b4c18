import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseSeriesKey, seriesKey } from './series-key.js';
import { durationMs, formatDuration, parseDurationMs } from './duration.js';

test('series key sorts labels and escapes values', () => {
  assert.equal(seriesKey('up', {}), 'up');
  assert.equal(
    seriesKey('http_requests_total', { service: 'api', method: 'GET' }),
    'http_requests_total{method="GET",service="api"}',
  );
  assert.equal(seriesKey('m', { a: 'x"y\\z\nw' }), 'm{a="x\\"y\\\\z\\nw"}');
});

test('parseSeriesKey inverts seriesKey (property)', () => {
  const name = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,10}$/);
  fc.assert(
    fc.property(name, fc.dictionary(name, fc.string({ maxLength: 12 }), { maxKeys: 6 }), (metric, labels) => {
      const parsed = parseSeriesKey(seriesKey(metric, labels));
      assert.deepEqual(parsed, { metric, labels: { ...labels } });
    }),
  );
});

test('durations parse as Prometheus writes them', () => {
  assert.equal(parseDurationMs('30s'), 30_000);
  assert.equal(parseDurationMs('1h30m'), 5_400_000);
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('0'), 0);
  assert.equal(parseDurationMs('2w'), 1_209_600_000);
  assert.equal(parseDurationMs('5'), undefined);
  assert.equal(parseDurationMs('1.5h'), undefined);
  assert.equal(parseDurationMs('-1s'), undefined);
  assert.throws(() => durationMs('x'), RangeError);
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(250), '250ms');
});
