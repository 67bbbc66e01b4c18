import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { hashTokenCommand, type CliIo } from './hash-token-cli.js';
import { hashToken } from './tokens.js';

function io(stdin: string): CliIo & { stdout: string; stderr: string } {
  const o = {
    stdout: '',
    stderr: '',
    readStdin: () => Promise.resolve(stdin),
    out: (t: string) => void (o.stdout += t),
    err: (t: string) => void (o.stderr += t),
  };
  return o;
}

test('hash-token: a token from stdin becomes a config entry holding only its hash', async () => {
  const token = 'vgl_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';
  const x = io(`${token}\n`);
  assert.equal(
    await hashTokenCommand({ generate: false, name: 'prom', scopes: 'ingest,read', tenant: 'team-a' }, x),
    0,
  );
  assert.ok(!x.stdout.includes(token), 'the token itself is not printed back');
  const yaml = parse(x.stdout.replace(/^#.*\n/, '').replace(/^ {4}/gm, '')) as unknown[];
  assert.deepEqual(yaml, [
    { name: 'prom', hash: hashToken(token), scopes: ['ingest', 'read'], tenant: 'team-a' },
  ]);
});

test('hash-token --generate prints a new token once, and its entry', async () => {
  const x = io('');
  assert.equal(await hashTokenCommand({ generate: true, scopes: 'admin' }, x), 0);
  const token = /^token: (vgl_[A-Za-z0-9_-]{43})$/m.exec(x.stdout)?.[1];
  assert.ok(token);
  assert.ok(x.stdout.includes(hashToken(token)));
});

test('hash-token refuses bad scopes, tenants, names and an empty stdin', async () => {
  assert.equal(await hashTokenCommand({ generate: true, scopes: 'write' }, io('')), 2);
  assert.equal(await hashTokenCommand({ generate: true, tenant: 'bad tenant' }, io('')), 2);
  assert.equal(await hashTokenCommand({ generate: true, name: 'a b' }, io('')), 2);
  const x = io('');
  assert.equal(await hashTokenCommand({ generate: false }, x), 2);
  assert.match(x.stderr, /standard input/);
  const short = io('short\n');
  assert.equal(await hashTokenCommand({ generate: false }, short), 0);
  assert.match(short.stderr, /can be guessed/);
});
