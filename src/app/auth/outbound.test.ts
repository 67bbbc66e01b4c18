import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { allowEntryProblem, createOutboundPolicy, internalRange, receiverUrls } from './outbound.js';

const check = (policy: ReturnType<typeof createOutboundPolicy>, url: string): string | undefined =>
  policy.checkUrl(new URL(url));

describe('outbound policy without an allowlist: public addresses only', () => {
  // A fixed DNS table (no network in unit tests): what the names resolve to.
  const dns: Record<string, string[]> = {
    'rebind.example.com': ['93.184.216.34', '10.1.2.3'],
    'hooks.example.com': ['93.184.216.34', '2606:2800:220:1::1'],
  };
  const p = createOutboundPolicy([], (host) =>
    dns[host] ? Promise.resolve(dns[host]) : Promise.reject(new Error(`ENOTFOUND ${host}`)),
  );

  test('cloud metadata, loopback, private, link-local and other internal IP literals are refused', () => {
    const refused: [string, RegExp][] = [
      ['http://169.254.169.254/latest/meta-data/', /link-local \(cloud metadata\)/],
      ['http://[fd00:ec2::254]/', /unique local/],
      ['http://100.100.100.200/', /CGNAT/],
      ['http://127.0.0.1:9464/api/v1/silences', /loopback/],
      ['http://127.1/', /loopback/], // URL normalises to 127.0.0.1
      ['http://2130706433/', /loopback/], // decimal form of 127.0.0.1
      ['http://0x7f000001/', /loopback/],
      ['http://[::1]/', /loopback/],
      ['http://[::ffff:127.0.0.1]/', /loopback/],
      ['http://[::ffff:169.254.169.254]/', /link-local/],
      ['http://[::ffff:93.184.216.34]/', /IPv4-mapped/],
      ['http://0.0.0.0/', /unspecified/],
      ['http://10.0.0.8/', /private/],
      ['http://172.20.1.1/', /private/],
      ['http://192.168.1.1/', /private/],
      ['http://[fe80::1]/', /link-local/],
      ['http://224.0.0.1/', /multicast/],
      ['http://[64:ff9b::a9fe:a9fe]/', /NAT64/],
    ];
    for (const [url, why] of refused) {
      const r = check(p, url);
      assert.ok(r, `${url} refused`);
      assert.match(r, why, url);
      assert.match(r, /security\.outbound_allowlist/);
    }
  });

  test('internal names are refused; public addresses and names allowed', () => {
    for (const url of [
      'http://localhost:8080/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://metadata/',
      'http://printer.local/',
      'http://a.localhost/',
    ])
      assert.match(check(p, url) ?? '', /internal name/, url);
    assert.equal(check(p, 'https://93.184.216.34/hook'), undefined);
    assert.equal(check(p, 'https://[2606:2800:220:1::1]/hook'), undefined);
    assert.equal(check(p, 'https://hooks.example.com/hook'), undefined);
  });

  test('a name that resolves to an internal address is refused after prime()', async () => {
    assert.equal(check(p, 'https://rebind.example.com/x'), undefined, 'not resolved yet');
    await p.prime([
      'https://rebind.example.com/x',
      'https://hooks.example.com/y',
      'https://nxdomain.example/z',
    ]);
    assert.match(
      check(p, 'https://rebind.example.com/x') ?? '',
      /resolves to 10\.1\.2\.3, a private address/,
    );
    assert.equal(check(p, 'https://hooks.example.com/y'), undefined);
    assert.equal(
      check(p, 'https://nxdomain.example/z'),
      undefined,
      'unresolvable: the attempt fails on its own',
    );
    p.close();
  });

  test('internalRange classifies addresses', () => {
    assert.equal(internalRange('8.8.8.8'), undefined);
    assert.equal(internalRange('169.254.169.254'), 'link-local (cloud metadata)');
    assert.equal(internalRange('::1'), 'loopback');
  });
});

describe('outbound policy with an allowlist: only the listed destinations', () => {
  const p = createOutboundPolicy([
    '127.0.0.1',
    'hooks.example.com',
    '*.corp.example.net',
    '10.20.0.0/16:8443',
    '[::1]:9000',
  ]);
  test('listed hosts, wildcard subdomains, CIDR ranges and ports', () => {
    assert.equal(check(p, 'http://127.0.0.1:5000/hook'), undefined, 'listed loopback address');
    assert.equal(check(p, 'https://hooks.example.com/x'), undefined);
    assert.equal(check(p, 'https://alerts.corp.example.net/x'), undefined);
    assert.equal(check(p, 'https://10.20.3.4:8443/x'), undefined);
    assert.equal(check(p, 'http://[::1]:9000/x'), undefined);
    for (const url of [
      'https://10.20.3.4/x', // wrong port
      'https://10.21.0.1:8443/x',
      'https://corp.example.net/x', // the wildcard needs a subdomain
      'https://evil.example.com/x',
      'http://169.254.169.254/',
      'http://[::1]:9001/x',
      'http://127.0.0.2/',
    ])
      assert.match(check(p, url) ?? '', /is not in security\.outbound_allowlist/, url);
  });

  test('entries are validated', () => {
    for (const ok of ['a.example.com', '*.example.com', '10.0.0.0/8', '10.0.0.0/8:443', '[fd00::]/8', 'x:80'])
      assert.equal(allowEntryProblem(ok), undefined, ok);
    for (const bad of ['10.0.0.0/33', 'http://x', '*.', 'host:0', 'host:70000', 'a b', '[::1]/200', 'x/8'])
      assert.ok(allowEntryProblem(bad), bad);
    assert.throws(() => createOutboundPolicy(['http://x']), /security\.outbound_allowlist/);
  });
});

test('receiverUrls lists webhook and Alertmanager URLs', () => {
  assert.deepEqual(
    receiverUrls({
      receivers: [
        { webhook_configs: [{ url: 'https://a/' }] },
        { alertmanager_configs: [{ urls: ['http://b/', 'http://c/'] }] },
        {},
      ],
    }),
    ['https://a/', 'http://b/', 'http://c/'],
  );
});
