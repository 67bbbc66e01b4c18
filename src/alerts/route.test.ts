// Table-driven like Alertmanager's dispatch/route_test.go: one inline YAML tree, label sets in,
// matched routes (receiver, group_by, timings) out.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import type { RouteConfig } from './config.js';
import { buildRouteTree, groupKeyFor, groupLabelsFor, matchRoutes, type RouteNode } from './route.js';

const TREE = `
receiver: notify-def
group_by: [alertname]
routes:
  - matchers: ['owner="team-A"']
    receiver: notify-A
    routes:
      - matchers: ['env="testing"']
        receiver: notify-testing
        group_by: ['...']
      - matchers: ['env="production"']
        receiver: notify-productionA
        group_wait: 1m
        continue: true
      - matchers: ['env=~"produ.*"', 'job=~".+"']
        receiver: notify-productionB
        group_wait: 30s
        group_interval: 5m
        repeat_interval: 1h
        group_by: [job]
  - matchers: ['owner=~"team-(B|C)"']
    group_by: [foo, bar]
    group_wait: 2m
    receiver: notify-BC
  - match: { group_by: to_be_empty }
    group_by: []
  - match: { group_by: to_be_all }
    group_by: ['...']
  - matchers: '{owner="team-D"}'
    receiver: notify-D
    detection: { threshold: 0.9, for: 5m }
    routes:
      - matchers: ['env="dev"']
        detection: { threshold: 0.99 }
`;

interface Want {
  readonly receiver: string;
  readonly groupBy?: readonly string[];
  readonly groupByAll?: boolean;
  readonly groupWaitMs?: number;
  readonly groupIntervalMs?: number;
  readonly repeatIntervalMs?: number;
}

const tree: RouteNode = buildRouteTree(parse(TREE) as RouteConfig);

const cases: { labels: Record<string, string>; want: Want[] }[] = [
  { labels: { owner: 'team-A' }, want: [{ receiver: 'notify-A', groupBy: ['alertname'] }] },
  { labels: { owner: 'team-A', env: 'unset' }, want: [{ receiver: 'notify-A' }] },
  {
    labels: { owner: 'team-C' },
    want: [{ receiver: 'notify-BC', groupBy: ['bar', 'foo'], groupWaitMs: 120_000 }],
  },
  { labels: { owner: 'team-A', env: 'testing' }, want: [{ receiver: 'notify-testing', groupByAll: true }] },
  {
    labels: { owner: 'team-A', env: 'production' },
    want: [
      {
        receiver: 'notify-productionA',
        groupWaitMs: 60_000,
        groupIntervalMs: 300_000,
        repeatIntervalMs: 14_400_000,
      },
    ],
  },
  {
    // continue: true on the first production route lets the second one match too
    labels: { owner: 'team-A', env: 'production', job: 'node' },
    want: [
      { receiver: 'notify-productionA', groupWaitMs: 60_000 },
      { receiver: 'notify-productionB', groupBy: ['job'], groupWaitMs: 30_000, repeatIntervalMs: 3_600_000 },
    ],
  },
  { labels: { group_by: 'to_be_empty' }, want: [{ receiver: 'notify-def', groupBy: [] }] },
  { labels: { group_by: 'to_be_all' }, want: [{ receiver: 'notify-def', groupByAll: true }] },
  { labels: { owner: 'nobody' }, want: [{ receiver: 'notify-def', groupWaitMs: 30_000 }] },
  { labels: { owner: 'team-D', env: 'dev' }, want: [{ receiver: 'notify-D' }] },
];

describe('route tree matching (Alertmanager route_test.go style)', () => {
  for (const c of cases) {
    test(JSON.stringify(c.labels), () => {
      const got = matchRoutes(tree, c.labels);
      assert.equal(got.length, c.want.length, got.map((r) => r.receiver).join(','));
      c.want.forEach((w, i) => {
        const r = got[i] as RouteNode;
        assert.equal(r.receiver, w.receiver);
        if (w.groupBy) assert.deepEqual(r.groupBy, w.groupBy);
        if (w.groupByAll !== undefined) assert.equal(r.groupByAll, w.groupByAll);
        if (w.groupWaitMs !== undefined) assert.equal(r.groupWaitMs, w.groupWaitMs);
        if (w.groupIntervalMs !== undefined) assert.equal(r.groupIntervalMs, w.groupIntervalMs);
        if (w.repeatIntervalMs !== undefined) assert.equal(r.repeatIntervalMs, w.repeatIntervalMs);
      });
    });
  }
});

test('route keys, ids and group keys follow Alertmanager', () => {
  const [a, b] = matchRoutes(tree, { owner: 'team-A', env: 'production', job: 'node', alertname: 'cpu' });
  assert.equal(a?.key, '{}/{owner="team-A"}/{env="production"}');
  assert.equal(a?.id, '{}/{owner="team-A"}/{env="production"}/1');
  assert.equal(b?.key, '{}/{owner="team-A"}/{env=~"produ.*",job=~".+"}');
  assert.equal(tree.key, '{}');
  const labels = { owner: 'team-A', env: 'production', job: 'node', alertname: 'cpu' };
  assert.equal(
    groupKeyFor(b, groupLabelsFor(b, labels)),
    '{}/{owner="team-A"}/{env=~"produ.*",job=~".+"}:{job="node"}',
  );
  const all = matchRoutes(tree, { owner: 'team-A', env: 'testing', x: 'y' })[0] as RouteNode;
  assert.deepEqual(groupLabelsFor(all, { owner: 'team-A', env: 'testing', x: 'y' }), {
    owner: 'team-A',
    env: 'testing',
    x: 'y',
  });
});

test('detection overrides are inherited field by field', () => {
  const d = matchRoutes(tree, { owner: 'team-D', env: 'dev' })[0] as RouteNode;
  assert.deepEqual(d.detection, { threshold: 0.99, for: '5m' });
  const top = matchRoutes(tree, { owner: 'team-D' })[0] as RouteNode;
  assert.deepEqual(top.detection, { threshold: 0.9, for: '5m' });
  assert.deepEqual((matchRoutes(tree, { owner: 'x' })[0] as RouteNode).detection, {});
});
