// Alertmanager interoperability with the real thing (v0.28.1, built from the Go module proxy,
// see support/alertmanager.ts): the `alertmanager_configs` receiver pushes to a running
// Alertmanager's v2 API (same labels and fingerprint there, the vigil numbers as annotations, a
// resolve ends them), and amtool manages Vigil's silences through the v2 aliases.
// Skipped when no Go toolchain is available.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAlertDispatcher, type AlertDispatcher } from '../../src/alerts/index.js';
import { execFile } from 'node:child_process';
import Fastify from 'fastify';
import { registerAlertsApi } from '../../src/app/http/alerts-api.js';
import {
  alertmanagerBinary,
  amtoolBinary,
  startAlertmanager,
  type RunningAlertmanager,
} from './support/alertmanager.js';
import {
  alertEvent,
  alertId,
  checkDeliveries,
  loadAlerting,
  sleep,
  tempStateDir,
  testLogger,
} from './helpers.js';

let am: RunningAlertmanager | undefined;
let skip: string | undefined;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  const bin = await alertmanagerBinary();
  if (!bin) {
    skip = 'no Go toolchain to build Alertmanager';
    return;
  }
  am = await startAlertmanager(bin);
});
after(async () => {
  try {
    for (const c of cleanups.reverse()) await c();
  } finally {
    await am?.stop(); // even when a cleanup failed: a live Alertmanager would hold the test open
  }
});

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  fingerprint: string;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  status: { state: string };
}

async function amAlerts(url: string): Promise<AmAlert[]> {
  const res = await fetch(`${url}/api/v2/alerts`);
  assert.equal(res.status, 200);
  return (await res.json()) as AmAlert[];
}

test('alerts reach a real Alertmanager through its v2 API, and resolve there', async (t) => {
  if (skip || !am) return t.skip(skip);
  const state = await tempStateDir();
  const d: AlertDispatcher = createAlertDispatcher({
    config: loadAlerting(`
alerting:
  route: { receiver: am, group_by: [alertname], group_wait: 50ms, group_interval: 300ms }
  receivers:
    - name: am
      alertmanager_configs: [{ urls: ['${am.url}'] }]
`),
    stateDir: state.dir,
    logger: testLogger(),
    externalUrl: 'http://vigil.test',
  });
  await d.start();
  cleanups.push(() => d.close(), state.cleanup);
  const t0 = Date.now() - 1000;
  const firing = [
    alertEvent('cpu', { host: 'a', service: 'api' }, 'firing', t0),
    alertEvent('cpu', { host: 'b', service: 'api' }, 'firing', t0),
  ];
  d.receive(firing);
  const deadline = Date.now() + 10_000;
  let got: AmAlert[] = [];
  while (got.length < 2 && Date.now() < deadline) {
    await sleep(100);
    got = await amAlerts(am.url);
  }
  assert.equal(got.length, 2);
  for (const e of firing) {
    const a = got.find((x) => x.labels['host'] === e.labels['host'])!;
    assert.deepEqual(a.labels, e.labels);
    assert.equal(a.fingerprint, e.fingerprint, "our FNV-1a fingerprint is Alertmanager's");
    assert.equal(Date.parse(a.startsAt), t0);
    assert.equal(a.annotations['vigil_expected'], '41');
    assert.equal(a.annotations['vigil_upper'], '52');
    assert.equal(a.annotations['vigil_stage'], 'forecast');
    assert.equal(a.annotations['vigil_periods'], '1d');
    assert.equal(a.annotations['summary'], e.annotations['summary']);
    assert.equal(a.status.state, 'active');
    assert.ok(Date.parse(a.endsAt) >= Date.now() + 4 * 60_000, 'firing alerts are valid for ≥ 5 minutes');
    assert.match(a.generatorURL, /^http:\/\/vigil\.test\//);
  }
  // Firing alerts are re-sent every group_interval (an Alertmanager client must re-send).
  await sleep(800);
  const resends = d.notifications({ status: 'delivered' }).filter((n) => n.reason === 'resend');
  assert.ok(resends.length >= 1, 'firing alerts re-sent');

  const resolved = [alertEvent('cpu', { host: 'a', service: 'api' }, 'resolved', t0, { endsAt: Date.now() })];
  d.receive(resolved);
  const until = Date.now() + 10_000;
  while ((await amAlerts(am.url)).length > 1 && Date.now() < until) await sleep(100);
  const left = await amAlerts(am.url);
  assert.deepEqual(
    left.map((a) => a.labels['host']),
    ['b'],
  );
  const done = Date.now() + 5000;
  while (
    !d.notifications({ status: 'delivered' }).some((n) => n.alerts.some((a) => a.status === 'resolved')) &&
    Date.now() < done
  ) {
    await sleep(20);
  }
  const sent = d.notifications({ status: 'delivered' }).map((n) => ({
    key: n.id,
    alerts: n.alerts.map((a) => `${a.fingerprint}:${Date.parse(a.startsAt)}:${a.status}`),
  }));
  checkDeliveries('alertmanager', new Set([...firing, ...resolved].map(alertId)), sent, { resends: true });
});

test('amtool manages Vigil silences (silence add / query / expire via the v2 aliases)', async (t) => {
  const amtool = skip ? undefined : await amtoolBinary();
  if (!amtool) return t.skip(skip ?? 'no amtool');
  const state = await tempStateDir();
  const d = createAlertDispatcher({
    config: loadAlerting('alerting: {}\n'),
    stateDir: state.dir,
    logger: testLogger(),
    externalUrl: 'http://vigil.test',
  });
  await d.start();
  const app = Fastify();
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) =>
    reply.code(err.statusCode ?? 500).send({ error: { code: err.code, message: err.message } }),
  );
  registerAlertsApi(app, { dispatcher: d });
  await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(
    () => app.close(),
    () => d.close(),
    state.cleanup,
  );
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const run = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) =>
      execFile(amtool, [...args, `--alertmanager.url=${url}`], { timeout: 10_000 }, (err, out, errOut) =>
        err ? reject(new Error(`amtool ${args.join(' ')}: ${errOut}`)) : resolve(out),
      ),
    );
  const id = (
    await run([
      'silence',
      'add',
      'service=api',
      'env=~prod|stage',
      '--comment=deploy',
      '--author=alice',
      '--duration=1h',
    ])
  ).trim();
  const s = d.getSilence(id);
  assert.equal(s.createdBy, 'alice');
  assert.deepEqual(s.matchers, [
    { name: 'service', value: 'api', isRegex: false, isEqual: true },
    { name: 'env', value: 'prod|stage', isRegex: true, isEqual: true },
  ]);
  assert.match(await run(['silence', 'query']), new RegExp(`${id}\\s+service="api" env=~"prod\\|stage"`));
  await run(['silence', 'expire', id]);
  assert.equal(d.getSilence(id).status.state, 'expired');
  assert.match(await run(['silence', 'query', '--expired']), new RegExp(id));
});
