import { test } from 'node:test';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { checkAlertingConfig } from './check.js';
import type { AlertingConfig } from './config.js';

const issues = (yaml: string): string[] =>
  checkAlertingConfig(parse(yaml) as AlertingConfig).map((i) => `${i.path.join('.')} ${i.code} ${i.message}`);

test('a valid config has no issues', () => {
  assert.deepEqual(
    issues(`
route:
  receiver: ops
  group_by: [alertname]
  routes:
    - matchers: ['service="api"']
      receiver: api
      mute_time_intervals: [nights]
      detection: { threshold: 0.9, recovery_threshold: 0.7 }
receivers:
  - name: ops
    email_configs: [{ to: ops@example.com, from: vigil@example.com, smarthost: 'localhost:25' }]
  - name: api
    webhook_configs: [{ url: 'https://hooks.example.com/x' }]
time_intervals:
  - name: nights
    time_intervals: [{ times: [{ start_time: '22:00', end_time: '24:00' }] }]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [service]
silences:
  - matchers: ['env="staging"']
    ends_at: '2030-01-01T00:00:00Z'
`),
    [],
  );
});

test('every problem is reported with its path', () => {
  assert.deepEqual(
    issues(`
route:
  matchers: ['a="b"']
  continue: true
  group_interval: '0'
  routes:
    - receiver: pager
      matchers: ['service=~"("']
      active_time_intervals: [weekdays]
      group_by: ['...', service]
    - receiver: ops
      repeat_interval: '0'
      detection: { threshold: 0.5, recovery_threshold: 0.8 }
      routes:
        - matchers: ['x="y"']
          detection: { threshold: 0.6 }
receivers:
  - name: ops
    webhook_configs: [{ url: 'ftp://example.com' }]
  - name: ops
time_intervals:
  - name: nights
    time_intervals: [{ weekdays: ['funday'] }]
inhibit_rules:
  - source_matchers: 'severity=critical, bad'
    equal: ['not-a-label']
silences:
  - id: s1
    matchers: ['team=~".*"']
    starts_at: '2030-01-02T00:00:00Z'
    ends_at: '2030-01-01T00:00:00Z'
    time_intervals: [holidays]
  - id: s1
    matchers: ['team="x"']
retry: { initial_backoff: 10m, max_backoff: 1m }
`),
    [
      'receivers.1.name DUPLICATE_NAME receiver "ops" is defined more than once',
      'receivers.0.webhook_configs.0.url INVALID_VALUE webhook url must be http or https, not ftp',
      'time_intervals.0.time_intervals.0.weekdays.0 INVALID_VALUE invalid weekday "funday"',
      'route INVALID_VALUE the root route must have a receiver',
      'route.matchers INVALID_VALUE the root route must not have matchers (it receives every alert)',
      'route.continue INVALID_VALUE the root route cannot have continue',
      'route.group_interval INVALID_VALUE group_interval cannot be 0',
      'route.routes.0.receiver UNKNOWN_RECEIVER receiver "pager" is not defined; defined: ops, ops',
      'route.routes.0.matchers.0 INVALID_VALUE invalid matcher: invalid regex "(": Invalid regular expression: /^(?:()$/: Unterminated group',
      "route.routes.0.group_by INVALID_VALUE group_by '...' (all labels) cannot be combined with other labels",
      'route.routes.0.active_time_intervals.0 UNKNOWN_REFERENCE time interval "weekdays" is not defined; defined: nights',
      'route.routes.1.repeat_interval INVALID_VALUE repeat_interval cannot be 0',
      'route.routes.1.detection.recovery_threshold CONFLICT recovery_threshold 0.8 must not exceed threshold 0.5',
      'route.routes.1.routes.0.detection.threshold CONFLICT recovery_threshold 0.8 must not exceed threshold 0.6',
      'inhibit_rules.0.source_matchers INVALID_VALUE invalid matcher: "severity=critical, bad": expected one of =, !=, =~, !~ after "bad"',
      'inhibit_rules.0.equal.0 INVALID_VALUE invalid label name "not-a-label"',
      'silences.1.id DUPLICATE_NAME silence id "s1" is used more than once',
      'silences.0.matchers INVALID_VALUE at least one matcher must not match the empty string',
      'silences.0.ends_at CONFLICT ends_at must be after starts_at',
      'silences.0.time_intervals.0 UNKNOWN_REFERENCE time interval "holidays" is not defined; defined: nights',
      'retry.initial_backoff CONFLICT initial_backoff 10m exceeds max_backoff 1m',
    ],
  );
});

test('never throws, whatever shape the data has (the loader runs checks on schema-rejected data too)', () => {
  const anyValue = fc.jsonValue({ maxDepth: 3 });
  const section = fc.record(
    {
      route: fc.oneof(
        anyValue,
        fc.record({
          receiver: fc.string(),
          routes: fc.array(anyValue),
          matchers: anyValue,
          group_interval: anyValue,
        }),
      ),
      receivers: fc.oneof(
        anyValue,
        fc.array(fc.record({ name: anyValue, webhook_configs: anyValue, email_configs: anyValue })),
      ),
      time_intervals: fc.oneof(anyValue, fc.array(fc.record({ name: anyValue, time_intervals: anyValue }))),
      inhibit_rules: anyValue,
      silences: fc.oneof(anyValue, fc.array(fc.record({ matchers: anyValue, starts_at: anyValue }))),
      retry: anyValue,
      lifecycle: anyValue,
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(section, (cfg) => {
      checkAlertingConfig(cfg as unknown as AlertingConfig);
    }),
    { numRuns: 500 },
  );
});
