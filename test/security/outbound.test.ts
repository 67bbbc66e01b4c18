/**
 * Receivers may reach only what `security.outbound_allowlist` permits, end to end: a real
 * in-process Vigil, its real dispatcher and HTTP client, and a real webhook receiver on
 * 127.0.0.1 (test/support/http-receiver.ts). Without an allowlist, loopback (like cloud metadata
 * at 169.254.169.254) is refused: the notification is dead-lettered with `rejectedUrl` and the
 * reason, and the receiver sees nothing. Listing 127.0.0.1 lets the same webhook through.
 *
 * Run alone: npx tsc -p tsconfig.json && node --enable-source-maps --test dist/test/security/outbound.test.js
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadVigilConfigText } from '../../src/app/config.js';
import { createLogger } from '../../src/app/logger.js';
import { startVigil, type VigilNode } from '../../src/app/main.js';
import { alertEvent } from '../alerts/helpers.js';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.js';
import { waitFor } from '../support/vigil-process.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function nodeWith(hook: HttpReceiver, allowlist: string): Promise<VigilNode> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-outbound-'));
  const node = await startVigil(
    loadVigilConfigText(`
state_dir: ${dir}
server: { port: 0 }
runtime: { workers: 1 }
${allowlist}
alerting:
  route: { receiver: hook, group_by: [alertname], group_wait: 10ms, group_interval: 100ms }
  receivers:
    - name: hook
      webhook_configs: [{ url: '${hook.url}/hook' }, { url: 'http://169.254.169.254/latest/meta-data/' }]
  retry: { initial_backoff: 10ms, max_backoff: 50ms }
`),
    { logger: createLogger('silent') },
  );
  cleanups.push(() => node.close());
  return node;
}

interface Notification {
  target: string;
  status: string;
  failureReason?: string;
  attempts: { error?: string }[];
}

async function finished(node: VigilNode, n: number): Promise<Notification[]> {
  return waitFor(
    async () => {
      const r = await fetch(`${node.url}/api/v1/notifications`);
      const list = ((await r.json()) as { notifications: Notification[] }).notifications;
      return list.filter((x) => x.status === 'delivered' || x.status === 'failed').length >= n
        ? list
        : undefined;
    },
    10_000,
    `${n} finished notifications`,
  );
}

test('without an allowlist, loopback and metadata webhooks are refused and dead-lettered', async () => {
  const hook = await startHttpReceiver();
  cleanups.push(() => hook.close());
  const node = await nodeWith(hook, '');
  node.dispatcher.receive([alertEvent('ssrf_probe', { host: 'a' }, 'firing', Date.now() - 1000)]);
  const list = await finished(node, 2);
  assert.equal(list.length, 2);
  for (const n of list) {
    assert.equal(n.status, 'failed', n.target);
    assert.equal(n.failureReason, 'rejectedUrl', n.target);
  }
  const errors = list.map((n) => n.attempts[0]?.error ?? '').sort();
  assert.match(
    errors.join('\n'),
    /127\.0\.0\.1 is a loopback address \(allow it in security\.outbound_allowlist\)/,
  );
  assert.match(errors.join('\n'), /169\.254\.169\.254 is a link-local \(cloud metadata\) address/);
  assert.equal(hook.requests.length, 0, 'nothing reached the receiver');
});

test('an allowlist entry lets the listed receiver through, and only it', async () => {
  const hook = await startHttpReceiver();
  cleanups.push(() => hook.close());
  const node = await nodeWith(hook, `security:\n  outbound_allowlist: ['127.0.0.1:${hook.port}']`);
  node.dispatcher.receive([alertEvent('allowed', { host: 'a' }, 'firing', Date.now() - 1000)]);
  const list = await finished(node, 2);
  const byTarget = Object.fromEntries(list.map((n) => [n.target, n]));
  assert.equal(byTarget[`http://127.0.0.1:${hook.port}`]?.status, 'delivered', JSON.stringify(list));
  assert.equal(byTarget['http://169.254.169.254']?.failureReason, 'rejectedUrl');
  assert.equal(hook.delivered().length, 1);
});
