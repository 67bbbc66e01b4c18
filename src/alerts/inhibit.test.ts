import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileInhibitRules, Inhibitor } from './inhibit.js';
import { fingerprint } from './lifecycle.js';

const rules = compileInhibitRules([
  // a critical alert mutes warnings of the same service and cluster
  {
    source_matchers: ['severity="critical"'],
    target_matchers: ['severity="warning"'],
    equal: ['service', 'cluster'],
  },
  // a down host mutes everything on it, itself excepted
  {
    name: 'host-down',
    source_matchers: ['alertname="HostDown"'],
    target_matchers: ['alertname=~".+"'],
    equal: ['host'],
  },
]);

const alert = (labels: Record<string, string>) => ({ fp: fingerprint(labels), labels });

test('a firing source inhibits matching targets with equal labels', () => {
  const ih = new Inhibitor(rules);
  const crit = alert({ alertname: 'errors', severity: 'critical', service: 'api', cluster: 'eu' });
  const warnSame = alert({ alertname: 'latency', severity: 'warning', service: 'api', cluster: 'eu' });
  const warnOther = alert({ alertname: 'latency', severity: 'warning', service: 'api', cluster: 'us' });
  assert.equal(ih.inhibitedBy(warnSame.labels), undefined);
  ih.update(crit.fp, crit.labels, true);
  assert.equal(ih.inhibitedBy(warnSame.labels), crit.fp);
  assert.equal(ih.inhibitedBy(warnOther.labels), undefined, 'cluster differs');
  assert.equal(ih.inhibitedBy(crit.labels), undefined, 'not a target');
  ih.update(crit.fp, crit.labels, false); // resolved sources stop inhibiting
  assert.equal(ih.inhibitedBy(warnSame.labels), undefined);
});

test('missing and empty equal labels count as equal', () => {
  const ih = new Inhibitor(rules);
  const crit = alert({ alertname: 'errors', severity: 'critical', service: 'api' });
  ih.update(crit.fp, crit.labels, true);
  assert.equal(ih.inhibitedBy({ alertname: 'x', severity: 'warning', service: 'api', cluster: '' }), crit.fp);
});

test('an alert matching both sides does not inhibit itself', () => {
  const ih = new Inhibitor(rules);
  const down = alert({ alertname: 'HostDown', host: 'h1' });
  ih.update(down.fp, down.labels, true);
  assert.equal(ih.inhibitedBy(down.labels), undefined);
  assert.equal(ih.inhibitedBy({ alertname: 'DiskFull', host: 'h1' }), down.fp);
  assert.equal(ih.inhibitedBy({ alertname: 'DiskFull', host: 'h2' }), undefined);
  // a second HostDown on the same host is not muted by the first (both sides match)
  assert.equal(ih.inhibitedBy({ alertname: 'HostDown', host: 'h1', extra: 'y' }), undefined);
  ih.remove(down.fp);
  assert.equal(ih.inhibitedBy({ alertname: 'DiskFull', host: 'h1' }), undefined);
});
