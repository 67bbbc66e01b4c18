/**
 * Bad input at the HTTP ingest endpoint, against a real in-process Vigil (real fastify on
 * 127.0.0.1, real worker threads, real WAL): every case gets a clear error naming what was wrong,
 * and good samples beside bad ones are still accepted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadVigilConfigText } from '../../src/app/config.js';
import { startVigil, type VigilNode } from '../../src/app/main.js';
import { createLogger } from '../../src/app/logger.js';

let node: VigilNode;
const NOW = Date.now();
const good = (i: number, labels: Record<string, string> = { service: 'api' }) => ({
  metric: 'req_total',
  labels,
  ts: NOW - 100_000 + i * 1000,
  value: i,
});

async function post(
  body: string | object,
  headers: Record<string, string> = { 'content-type': 'application/json' },
) {
  const res = await fetch(`${node.url}/api/v1/samples`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    headers: res.headers,
    json: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } },
  };
}

before(async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'vigil-ingest-'));
  const config = loadVigilConfigText(
    `state_dir: ${stateDir}\nserver:\n  port: 0\n  body_limit_bytes: 4096\ningest:\n  http:\n    max_samples_per_request: 20\nruntime:\n  workers: 1\n`,
  );
  node = await startVigil(config, { logger: createLogger('silent') });
});
after(() => node.close());

describe('HTTP ingest: bad input', () => {
  test('health and readiness', async () => {
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${node.url}/readyz`)).status, 200);
  });

  test('malformed JSON → 400 INGEST_BAD_JSON', async () => {
    const r = await post('{"samples": [');
    assert.equal(r.status, 400);
    assert.equal(r.json.error?.code, 'INGEST_BAD_JSON');
    assert.match(r.json.error.message, /not valid JSON/);
  });

  test('wrong content type → 415', async () => {
    const r = await post('metric 1', { 'content-type': 'application/xml' });
    assert.equal(r.status, 415);
    assert.equal(r.json.error?.code, 'INGEST_UNSUPPORTED_MEDIA_TYPE');
  });

  test('body over the limit → 413 INGEST_BODY_TOO_LARGE', async () => {
    const r = await post({ samples: [], pad: 'x'.repeat(5000) });
    assert.equal(r.status, 413);
    assert.equal(r.json.error?.code, 'INGEST_BODY_TOO_LARGE');
  });

  test('too many samples → 413 INGEST_TOO_MANY_SAMPLES', async () => {
    const r = await post({
      samples: Array.from({ length: 21 }, (_, i) => ({ metric: 'm', ts: NOW, value: i })),
    });
    assert.equal(r.status, 413);
    assert.equal(r.json.error?.code, 'INGEST_TOO_MANY_SAMPLES');
  });

  test('prototype poisoning → 400', async () => {
    const r = await post('{"samples":[],"__proto__":{"x":1}}');
    assert.equal(r.status, 400);
  });

  test('unknown top-level key → 400 naming it', async () => {
    const r = await post({ samples: [], extra: true });
    assert.equal(r.status, 400);
    assert.match(r.json.error!.message, /unknown top-level field "extra"/);
  });

  test('one bad item never drops the good ones beside it', async () => {
    const labels = { service: 'mixed' };
    const r = await post({
      samples: [
        good(1, labels),
        { ...good(2, labels), value: 'high' },
        good(3, labels),
        { ...good(4, labels), ts: null },
      ],
    });
    assert.equal(r.status, 200);
    assert.equal(r.json['accepted'], 2);
    assert.deepEqual(
      (r.json['rejected'] as { index: number; code: string }[]).map((x) => [x.index, x.code]),
      [
        [1, 'INVALID_SAMPLE'],
        [3, 'INVALID_SAMPLE'],
      ],
    );
    const list = (await (await fetch(`${node.url}/api/v1/series?search=mixed`)).json()) as {
      total: number;
      items: { status: { lastTs: number } }[];
    };
    assert.equal(list.total, 1);
    assert.equal(list.items[0]!.status.lastTs, good(3).ts, 'the good samples were processed');
  });

  test('every item refused → 400 INGEST_ALL_REJECTED with the list', async () => {
    const r = await post({ samples: [{ metric: 'm' }, { metric: 'm', ts: NOW, value: 'x' }] });
    assert.equal(r.status, 400);
    assert.equal(r.json.error?.code, 'INGEST_ALL_REJECTED');
    assert.equal((r.json['rejected'] as unknown[]).length, 2);
  });

  test('out-of-order and conflicting duplicates across requests; exact duplicates are acknowledged', async () => {
    const labels = { service: 'order' };
    assert.equal((await post({ samples: [good(10, labels)] })).json['accepted'], 1);
    const r = await post({
      samples: [good(5, labels), good(10, labels), { ...good(10, labels), value: 99 }, good(11, labels)],
    });
    assert.equal(r.status, 200);
    assert.equal(r.json['accepted'], 1);
    assert.equal(r.json['duplicates'], 1);
    assert.deepEqual(
      (r.json['rejected'] as { index: number; code: string }[]).map((x) => [x.index, x.code]),
      [
        [0, 'OUT_OF_ORDER'],
        [2, 'DUPLICATE_CONFLICT'],
      ],
    );
  });

  test('a full queue answers 503 with Retry-After instead of accepting', async () => {
    node.pipeline.runtime.pause('test: simulated full queue');
    try {
      const r = await post({ samples: [good(50, { service: 'busy' })] });
      assert.equal(r.status, 503);
      assert.equal(r.json.error?.code, 'INGEST_OVERLOADED');
      assert.equal(r.headers.get('retry-after'), '1');
    } finally {
      node.pipeline.runtime.resume();
    }
    assert.equal((await post({ samples: [good(50, { service: 'busy' })] })).status, 200);
  });

  test('an overloaded node refuses before reading the body; the connection stays usable', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (body: string) =>
      new Promise<{ status: number; text: string; reused: boolean }>((resolve, reject) => {
        const req = request(
          `${node.url}/api/v1/samples`,
          { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text, reused: req.reusedSocket }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    try {
      node.pipeline.runtime.pause('test: simulated full queue');
      // Not JSON: a 503 (not 400) shows the body was never decoded.
      const refused = await send(`{"samples": [${'x'.repeat(3000)}`);
      assert.equal(refused.status, 503);
      assert.equal((JSON.parse(refused.text) as { error: { code: string } }).error.code, 'INGEST_OVERLOADED');
      node.pipeline.runtime.resume();
      const ok = await send(JSON.stringify({ samples: [good(60, { service: 'shed' })] }));
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.reused, true, 'the refused request left its keep-alive connection usable');
    } finally {
      node.pipeline.runtime.resume();
      agent.destroy();
    }
  });
});
