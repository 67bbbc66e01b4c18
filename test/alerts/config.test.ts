// The `alerting:` section through the real config loader (src/app/config-loader.ts): schema
// defaults, `*_file` secrets and their redaction, and every problem reported as file:line:col.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { AlertingConfigSchema, checkAlertingConfig } from '../../src/alerts/index.js';
import { ConfigError, loadConfigText, redactSecrets } from '../../src/app/config-loader.js';
import { tempStateDir } from './helpers.js';

const Root = Type.Object({ alerting: AlertingConfigSchema }, { additionalProperties: false });
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

function load(text: string, baseDir = process.cwd()) {
  return loadConfigText(Root, {
    file: 'vigil.yaml',
    text,
    baseDir,
    env: { HOOK_TOKEN: 't0k3n' },
    check: (c) => checkAlertingConfig(c.alerting).map((i) => ({ ...i, path: ['alerting', ...i.path] })),
  });
}

function problems(text: string): string[] {
  try {
    load(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
  return [];
}

test('an empty section gets working defaults', () => {
  const a = load('alerting: {}\n').alerting;
  assert.deepEqual(a.route, { receiver: 'default' });
  assert.deepEqual(a.receivers, [{ name: 'default', log_configs: [{ level: 'warn', send_resolved: true }] }]);
  assert.deepEqual(a.lifecycle, { for: '0s', keep_firing_for: '5m' });
  assert.deepEqual(a.retry, {
    initial_backoff: '1s',
    max_backoff: '5m',
    give_up_after: '24h',
    max_in_flight: 16,
  });
  assert.deepEqual(a.retention, { history_entries: 10000, notifications: 10000, state: '120h' });
});

test('integration defaults follow Alertmanager; secrets come from files and env and are redacted', async () => {
  const s = await tempStateDir();
  cleanups.push(s.cleanup);
  await writeFile(join(s.dir, 'url'), 'https://hooks.example.com/T/secret\n');
  await writeFile(join(s.dir, 'pw'), 'hunter2\n');
  const cfg = load(
    `
alerting:
  route: { receiver: team }
  receivers:
    - name: team
      webhook_configs:
        - url_file: url
          http_config: { authorization: { credentials: '\${HOOK_TOKEN}' } }
      email_configs:
        - { to: a@example.com, from: v@example.com, smarthost: 'mail:587', auth_username: v, auth_password_file: pw }
`,
    s.dir,
  );
  const r = cfg.alerting.receivers![0]!;
  assert.equal(r.webhook_configs![0]!.url, 'https://hooks.example.com/T/secret');
  assert.equal(r.webhook_configs![0]!.send_resolved, true);
  assert.equal(r.webhook_configs![0]!.timeout, '10s');
  assert.equal(r.webhook_configs![0]!.http_config!.authorization!.credentials, 't0k3n');
  assert.equal(r.email_configs![0]!.send_resolved, false);
  assert.equal(r.email_configs![0]!.require_tls, true);
  assert.equal(r.email_configs![0]!.auth_password, 'hunter2');
  const shown = JSON.stringify(redactSecrets(Root, cfg));
  for (const secret of ['hunter2', 't0k3n', '/T/secret'])
    assert.ok(!shown.includes(secret), `${secret} is redacted`);
});

test('problems are reported as file:line:col with codes, schema and semantic alike', () => {
  assert.deepEqual(
    problems(`alerting:
  route:
    receiver: pager
    group_wait: soon
    routes:
      - matchers: ['team="db"']
        receiver: dba
        recieve_resolved: true
receivers: []
`),
    [
      'vigil.yaml:3:15 UNKNOWN_RECEIVER receiver "pager" is not defined; defined: default',
      'vigil.yaml:4:17 INVALID_VALUE alerting.route.group_wait must be a duration such as 30s, 5m, 1h30m',
      'vigil.yaml:7:19 UNKNOWN_RECEIVER receiver "dba" is not defined; defined: default',
      'vigil.yaml:8:9 UNKNOWN_KEY unknown key "recieve_resolved" in alerting.route.routes[0]',
      'vigil.yaml:9:1 UNKNOWN_KEY unknown key "receivers" in the config',
    ],
  );
  assert.deepEqual(
    problems(`alerting:
  route:
    receiver: pager
    routes:
      - matchers: ['team="db"', 'env=~"(prod"']
        receiver: dba
        mute_time_intervals: [weekend]
  receivers:
    - name: ops
`),
    [
      'vigil.yaml:3:15 UNKNOWN_RECEIVER receiver "pager" is not defined; defined: ops',
      'vigil.yaml:5:33 INVALID_VALUE invalid matcher: invalid regex "(prod": Invalid regular expression: /^(?:(prod)$/: Unterminated group',
      'vigil.yaml:6:19 UNKNOWN_RECEIVER receiver "dba" is not defined; defined: ops',
      'vigil.yaml:7:31 UNKNOWN_REFERENCE time interval "weekend" is not defined; defined: (none)',
    ],
  );
});
