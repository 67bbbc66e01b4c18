// The alerting HTTP API (src/app/http/alerts-api.ts) on a real fastify instance (inject), over a
// real dispatcher delivering to a real HTTP receiver.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { createAlertDispatcher, type AlertDispatcher } from '../../src/alerts/index.js';
import { registerAlertsApi } from '../../src/app/http/alerts-api.js';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.js';
import { alertEvent, loadAlerting, tempStateDir, testLogger } from './helpers.js';

let app: FastifyInstance;
let d: AlertDispatcher;
let hook: HttpReceiver;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  hook = await startHttpReceiver();
  const state = await tempStateDir();
  d = createAlertDispatcher({
    config: loadAlerting(`
alerting:
  route: { receiver: hook, group_by: [alertname], group_wait: 30ms, group_interval: 100ms }
  receivers:
    - name: hook
      webhook_configs: [{ url: '${hook.url}' }]
  silences:
    - id: yaml-staging
      matchers: '{env="staging"}'
`),
    stateDir: state.dir,
    logger: testLogger(),
    externalUrl: 'http://vigil.test',
  });
  await d.start();
  app = Fastify();
  // The same error rendering as the app's handler (src/app/http.ts) for typed 4xx errors.
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) =>
    reply.code(err.statusCode ?? 500).send({ error: { code: err.code ?? 'INTERNAL', message: err.message } }),
  );
  registerAlertsApi(app, { dispatcher: d });
  await app.ready();
  cleanups.push(
    () => app.close(),
    () => d.close(),
    () => hook.close(),
    state.cleanup,
  );
});
after(async () => {
  for (const c of cleanups) await c();
});

test('silences: create (Alertmanager body), list, get, expire, errors', async () => {
  const now = Date.now();
  const body = {
    matchers: [
      { name: 'service', value: 'api', isRegex: false, isEqual: true },
      { name: 'host', value: 'web-.*', isRegex: true },
    ],
    startsAt: new Date(now).toISOString(),
    endsAt: new Date(now + 3_600_000).toISOString(),
    createdBy: 'alice',
    comment: 'deploy',
  };
  const created = await app.inject({ method: 'POST', url: '/api/v1/silences', payload: body });
  assert.equal(created.statusCode, 200, created.body);
  const { silenceID } = created.json<{ silenceID: string }>();
  assert.match(silenceID, /^[0-9a-f-]{36}$/);

  const one = await app.inject({ method: 'GET', url: `/api/v1/silences/${silenceID}` });
  assert.equal(one.statusCode, 200);
  const s = one.json<Record<string, unknown>>();
  assert.deepEqual(s['matchers'], [
    { name: 'service', value: 'api', isRegex: false, isEqual: true },
    { name: 'host', value: 'web-.*', isRegex: true, isEqual: true },
  ]);
  assert.deepEqual(s['status'], { state: 'active' });
  assert.equal(s['createdBy'], 'alice');
  assert.equal(s['source'], 'api');

  const list = (await app.inject({ method: 'GET', url: '/api/v1/silences?state=active' })).json<
    { id: string }[]
  >();
  assert.deepEqual(list.map((x) => x.id).sort(), [silenceID, 'yaml-staging'].sort());
  const filtered = await app.inject({
    method: 'GET',
    url: `/api/v1/silences?filter=${encodeURIComponent('service="api"')}`,
  });
  assert.deepEqual(
    filtered.json<{ id: string }[]>().map((x) => x.id),
    [silenceID],
  );
  const v2 = await app.inject({ method: 'GET', url: `/api/v2/silence/${silenceID}` });
  assert.equal(v2.json<{ id: string }>().id, silenceID);

  // Update through id (Alertmanager semantics).
  const updated = await app.inject({
    method: 'POST',
    url: '/api/v2/silences',
    payload: { ...body, id: silenceID, comment: 'longer deploy' },
  });
  assert.equal(updated.json<{ silenceID: string }>().silenceID, silenceID);
  assert.equal(
    (await app.inject({ method: 'GET', url: `/api/v1/silences/${silenceID}` })).json<{ comment: string }>()
      .comment,
    'longer deploy',
  );

  const expired = await app.inject({ method: 'DELETE', url: `/api/v1/silences/${silenceID}` });
  assert.equal(expired.statusCode, 200);
  assert.deepEqual(expired.json<{ status: unknown }>().status, { state: 'expired' });
  const again = await app.inject({ method: 'DELETE', url: `/api/v1/silences/${silenceID}` });
  assert.equal(again.statusCode, 409);
  assert.equal(again.json<{ error: { code: string } }>().error.code, 'ALERTS_SILENCE_CONFLICT');
  const yaml = await app.inject({ method: 'DELETE', url: '/api/v1/silences/yaml-staging' });
  assert.equal(yaml.statusCode, 409);
  const missing = await app.inject({ method: 'GET', url: '/api/v1/silences/nope' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json<{ error: { code: string } }>().error.code, 'ALERTS_SILENCE_NOT_FOUND');

  const noMatchers = await app.inject({
    method: 'POST',
    url: '/api/v1/silences',
    payload: { ...body, matchers: [] },
  });
  assert.equal(noMatchers.statusCode, 400);
  const past = await app.inject({
    method: 'POST',
    url: '/api/v1/silences',
    payload: {
      ...body,
      startsAt: new Date(now - 7200_000).toISOString(),
      endsAt: new Date(now - 3600_000).toISOString(),
    },
  });
  assert.equal(past.statusCode, 400);
  assert.match(past.json<{ error: { message: string } }>().error.message, /endsAt must be in the future/);
  const badRegex = await app.inject({
    method: 'POST',
    url: '/api/v1/silences',
    payload: { ...body, matchers: [{ name: 'a', value: '(', isRegex: true }] },
  });
  assert.equal(badRegex.statusCode, 400);
  assert.equal(badRegex.json<{ error: { code: string } }>().error.code, 'ALERTS_SILENCE_INVALID');
});

test('alerts, history and notifications', async () => {
  const t = Date.now();
  d.receive([
    alertEvent('cpu', { service: 'api', env: 'prod' }, 'firing', t),
    alertEvent('cpu', { service: 'db', env: 'staging' }, 'firing', t),
    alertEvent('mem', { service: 'api', env: 'prod' }, 'pending', t),
  ]);
  await hook.waitFor(() => hook.delivered().length === 1, 3000, 'a notification');
  const all = (await app.inject({ method: 'GET', url: '/api/v1/alerts' })).json<Record<string, unknown>[]>();
  assert.equal(all.length, 3);
  const staging = all.find((a) => (a['labels'] as Record<string, string>)['env'] === 'staging')!;
  assert.deepEqual(staging['status'], {
    state: 'suppressed',
    silencedBy: ['yaml-staging'],
    inhibitedBy: [],
    mutedBy: [],
  });
  assert.deepEqual(staging['receivers'], [{ name: 'hook' }]);
  assert.equal((staging['vigil'] as Record<string, unknown>)['expected'], 41);
  assert.equal(staging['endsAt'], null);
  const pending = await app.inject({ method: 'GET', url: '/api/v1/alerts?state=pending' });
  assert.deepEqual(
    pending.json<{ lifecycle: string }[]>().map((a) => a.lifecycle),
    ['pending'],
  );
  const f = await app.inject({
    method: 'GET',
    url: `/api/v1/alerts?filter=${encodeURIComponent('service="api"')}&filter=${encodeURIComponent('alertname="cpu"')}`,
  });
  assert.equal(f.json<unknown[]>().length, 1);
  const silenced = await app.inject({ method: 'GET', url: '/api/v1/alerts?silenced=true' });
  assert.equal(silenced.json<unknown[]>().length, 1);
  const bad = await app.inject({ method: 'GET', url: '/api/v1/alerts?filter=nonsense' });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json<{ error: { code: string } }>().error.code, 'ALERTS_BAD_FILTER');

  const h = (await app.inject({ method: 'GET', url: '/api/v1/alerts/history?alertname=cpu&limit=10' })).json<{
    entries: Record<string, unknown>[];
  }>();
  assert.equal(h.entries.length, 2);
  assert.equal(h.entries[0]!['status'], 'firing');
  assert.equal(h.entries[0]!['expected'], 41);
  const since = await app.inject({
    method: 'GET',
    url: `/api/v1/alerts/history?since=${new Date(Date.now() + 60_000).toISOString()}`,
  });
  assert.equal(since.json<{ entries: unknown[] }>().entries.length, 0);

  await hook.waitFor(() => d.notifications({ status: 'delivered' }).length === 1, 3000, 'delivery log entry');
  const n = (await app.inject({ method: 'GET', url: '/api/v1/notifications?status=delivered' })).json<{
    notifications: Record<string, unknown>[];
  }>();
  assert.equal(n.notifications.length, 1);
  const rec = n.notifications[0]!;
  assert.equal(rec['receiver'], 'hook');
  assert.equal(rec['integrationType'], 'webhook');
  assert.equal(rec['target'], hook.url);
  assert.equal(rec['reason'], 'first notification');
  assert.equal(rec['attemptCount'], 1);
  assert.equal((rec['attempts'] as Record<string, unknown>[])[0]!['statusCode'], 200);
  assert.equal(rec['idempotencyKey'], hook.delivered()[0]!.headers['idempotency-key']);
  const badStatus = await app.inject({ method: 'GET', url: '/api/v1/notifications?status=lost' });
  assert.equal(badStatus.statusCode, 400);
});
