import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRateLimiter } from './rate-limit.js';
import { accessFor } from './policy.js';
import { createTokenVerifier, generateToken, hashToken, parseAuthorization } from './tokens.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('tokens', () => {
  test('hashToken is sha256 hex (known answer)', () => {
    // sha256("test") from FIPS 180-2 tooling: echo -n test | sha256sum
    assert.equal(
      hashToken('test'),
      'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    );
  });

  test('generateToken: vgl_ + 43 base64url characters, different every time', () => {
    const a = generateToken();
    const b = generateToken();
    assert.match(a, /^vgl_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b);
  });

  test('parseAuthorization: Bearer, Token, Basic (password or user), and refusals', () => {
    assert.deepEqual(parseAuthorization(undefined), { kind: 'none' });
    assert.deepEqual(parseAuthorization('  '), { kind: 'none' });
    assert.deepEqual(parseAuthorization('Bearer abc'), { kind: 'token', token: 'abc', scheme: 'bearer' });
    assert.deepEqual(parseAuthorization('bearer   abc '), { kind: 'token', token: 'abc', scheme: 'bearer' });
    assert.deepEqual(parseAuthorization('Token abc'), { kind: 'token', token: 'abc', scheme: 'token' });
    assert.deepEqual(parseAuthorization(`Basic ${b64('prometheus:abc')}`), {
      kind: 'token',
      token: 'abc',
      scheme: 'basic',
    });
    assert.deepEqual(parseAuthorization(`Basic ${b64('abc:')}`), {
      kind: 'token',
      token: 'abc',
      scheme: 'basic',
    });
    assert.deepEqual(parseAuthorization(`Basic ${b64('a:b:c')}`), {
      kind: 'token',
      token: 'b:c',
      scheme: 'basic',
    });
    for (const bad of [
      'Bearer',
      'Digest abc',
      `Basic ${b64('nocolon')}`,
      'Basic !!!',
      'Bearer  ',
      `Basic ${b64(':')}`,
    ])
      assert.equal(parseAuthorization(bad).kind, 'malformed', bad);
    assert.equal(parseAuthorization(`Bearer ${'x'.repeat(1025)}`).kind, 'malformed');
  });

  test('parseAuthorization never throws on any header text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (h) => {
        const r = parseAuthorization(h);
        assert.ok(['none', 'token', 'malformed'].includes(r.kind));
      }),
      { numRuns: 2000 },
    );
  });

  test('verifier: finds the matching entry, admin implies read, unknown tokens are undefined', () => {
    const v = createTokenVerifier(
      [
        { name: 'a', hash: hashToken('tok-a'), scopes: ['ingest'], tenant: 'team-a' },
        { name: 'ops', hash: hashToken('tok-ops'), scopes: ['admin'], requests_per_second: 5 },
      ],
      { ratePerSecond: 100, burst: 200 },
    );
    assert.equal(v.enabled, true);
    assert.deepEqual(v.tenants, ['team-a']);
    const a = v.verify('tok-a');
    assert.equal(a?.name, 'a');
    assert.equal(a?.tenant, 'team-a');
    assert.deepEqual([...(a?.scopes ?? [])], ['ingest']);
    assert.equal(a?.ratePerSecond, 100);
    const ops = v.verify('tok-ops');
    assert.ok(ops?.scopes.has('read'), 'admin implies read');
    assert.equal(ops?.tenant, undefined);
    assert.equal(ops?.ratePerSecond, 5);
    assert.equal(v.verify('tok-b'), undefined);
    assert.equal(v.verify(''), undefined);
    assert.equal(createTokenVerifier([], { ratePerSecond: 1, burst: 1 }).enabled, false);
  });
});

describe('rate limit (token bucket)', () => {
  test('burst, then refused with the seconds until a request is available, then refilled', () => {
    let now = 1_000_000;
    const rl = createRateLimiter(() => now);
    for (let i = 0; i < 3; i++) assert.equal(rl.take('t', 0.5, 3), undefined, `burst request ${i}`);
    assert.equal(rl.take('t', 0.5, 3), 2, 'empty bucket: 1 request at 0.5/s needs 2 s');
    assert.equal(rl.take('other', 0.5, 3), undefined, 'buckets are per token');
    now += 2000;
    assert.equal(rl.take('t', 0.5, 3), undefined, 'refilled one request after 2 s');
    assert.equal(rl.take('t', 0.5, 3), 2);
    assert.equal(rl.take('t', 0, 1), undefined, 'rate 0 = unlimited');
  });
});

describe('endpoint policy', () => {
  const p = { publicMetrics: false };
  test('health is public, ingest needs ingest, silences need admin, config is cross-tenant admin', () => {
    assert.deepEqual(accessFor('GET', '/healthz', p), { kind: 'public' });
    assert.deepEqual(accessFor('GET', '/readyz', p), { kind: 'public' });
    assert.deepEqual(accessFor('OPTIONS', '/api/v1/samples', p), { kind: 'public' });
    for (const r of ['/api/v1/samples', '/api/v1/write', '/v1/metrics', '/api/v2/write', '/write'])
      assert.deepEqual(accessFor('POST', r, p), { kind: 'scoped', scope: 'ingest', global: false }, r);
    assert.deepEqual(accessFor('POST', '/api/v2/silences', p), {
      kind: 'scoped',
      scope: 'admin',
      global: false,
    });
    assert.deepEqual(accessFor('DELETE', '/api/v1/silences/:id', p), {
      kind: 'scoped',
      scope: 'admin',
      global: false,
    });
    assert.deepEqual(accessFor('GET', '/api/v1/silences', p), {
      kind: 'scoped',
      scope: 'read',
      global: false,
    });
    assert.deepEqual(accessFor('GET', '/api/v1/config', p), { kind: 'scoped', scope: 'admin', global: true });
    assert.deepEqual(accessFor('GET', '/metrics', p), { kind: 'scoped', scope: 'read', global: true });
    assert.deepEqual(accessFor('GET', '/metrics', { publicMetrics: true }), { kind: 'public' });
    assert.deepEqual(accessFor('GET', undefined, p), { kind: 'scoped', scope: 'read', global: false });
    assert.deepEqual(accessFor('PUT', '/anything/new', p), { kind: 'scoped', scope: 'admin', global: false });
  });
});
