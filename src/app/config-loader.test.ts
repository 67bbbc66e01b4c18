import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Type } from '@sinclair/typebox';
import { ConfigError, loadConfigText, redactSecrets, SECRET_KEYWORD } from './config-loader.js';

const Schema = Type.Object(
  {
    server: Type.Object(
      { port: Type.Integer({ default: 9464 }), host: Type.String({ default: '127.0.0.1' }) },
      { additionalProperties: false, default: {} },
    ),
    receivers: Type.Array(
      Type.Object(
        {
          name: Type.String(),
          url: Type.Optional(Type.String({ [SECRET_KEYWORD]: true })),
          window: Type.Optional(Type.String({ pattern: '^(0|([0-9]+(ms|s|m|h|d|w|y))+)$' })),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
  },
  { additionalProperties: false },
);

const load = (text: string, env: Record<string, string> = {}, baseDir = '/') =>
  loadConfigText(Schema, { file: 'vigil.yaml', text, baseDir, env });

function issues(text: string, env: Record<string, string> = {}): string[] {
  try {
    load(text, env);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.message.split('\n');
  }
  return [];
}

describe('config loader', () => {
  test('fills defaults and deep-freezes', () => {
    const c = load('receivers:\n  - name: a\n');
    assert.equal(c.server.port, 9464);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.receivers[0]));
  });

  test('an unknown key points at the key itself (line:col)', () => {
    assert.deepEqual(issues('server:\n  port: 1\n  prot: 2\n'), [
      'vigil.yaml:3:3 UNKNOWN_KEY unknown key "prot" in server',
    ]);
  });

  test('a wrong type points at the value', () => {
    assert.deepEqual(issues('server:\n    port: "9464"\n'), [
      'vigil.yaml:2:11 INVALID_TYPE server.port must be an integer',
    ]);
  });

  test('every problem is reported at once, in file order', () => {
    const out = issues(
      'server:\n  port: x\nreceivers:\n  - url: u\n  - name: b\n    window: 5 minutes\nextra: 1\n',
    );
    assert.deepEqual(out, [
      'vigil.yaml:2:9 INVALID_TYPE server.port must be an integer',
      'vigil.yaml:4:5 MISSING_KEY receivers[0] is missing the required key "name"',
      'vigil.yaml:6:13 INVALID_VALUE receivers[1].window must be a duration such as 30s, 5m, 1h30m',
      'vigil.yaml:7:1 UNKNOWN_KEY unknown key "extra" in the config',
    ]);
  });

  test('duplicate keys and bad indentation are YAML errors with line:col', () => {
    const dup = issues('server:\n  port: 1\n  port: 2\n');
    assert.equal(dup.length, 1);
    assert.match(dup[0]!, /^vigil\.yaml:3:3 YAML_SYNTAX Map keys must be unique/);
    const indent = issues('server:\n  port: 1\n host: x\n');
    assert.match(indent[0]!, /^vigil\.yaml:3:\d+ YAML_SYNTAX /);
    const tab = issues('server:\n\tport: 1\n');
    assert.match(tab[0]!, /^vigil\.yaml:2:1 YAML_SYNTAX /);
  });

  test('${ENV} is substituted, a missing variable is an error at its place', () => {
    const c = load('receivers:\n  - name: a\n    url: "https://h/${TOKEN}"\n', { TOKEN: 's3cret' });
    assert.equal(c.receivers[0]!.url, 'https://h/s3cret');
    assert.deepEqual(issues('receivers:\n  - name: a\n    url: ${NOPE}\n'), [
      'vigil.yaml:3:10 ENV_MISSING environment variable NOPE is not set (referenced as ${NOPE})',
    ]);
  });

  test('<key>_file reads the value from a file; both set is a conflict', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cfg-'));
    writeFileSync(join(dir, 'url.txt'), 'https://secret.example/hook\n');
    const c = load('receivers:\n  - name: a\n    url_file: url.txt\n', {}, dir);
    assert.equal(c.receivers[0]!.url, 'https://secret.example/hook');
    const bad = issues('receivers:\n  - name: a\n    url_file: /nonexistent/x\n');
    assert.match(bad[0]!, /^vigil\.yaml:3:15 SECRET_FILE cannot read url_file \/nonexistent\/x \(ENOENT\)/);
    assert.match(
      issues('receivers:\n  - name: a\n    url: x\n    url_file: y\n')[0]!,
      /CONFLICT set either "url" or "url_file"/,
    );
  });

  test('secrets are redacted for display', () => {
    const c = load('receivers:\n  - name: a\n    url: https://token@h\n');
    assert.deepEqual(redactSecrets(Schema, c), {
      server: { port: 9464, host: '127.0.0.1' },
      receivers: [{ name: 'a', url: '<secret>' }],
    });
  });

  test('fuzz: any text yields a config or a ConfigError, nothing else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          load(text);
        } catch (e) {
          assert.ok(e instanceof ConfigError, String(e));
          for (const i of e.issues) assert.ok(i.line >= 1 && i.col >= 1);
        }
      }),
      { numRuns: 500 },
    );
  });
});
