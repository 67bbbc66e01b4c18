/**
 * `vigil hash-token`: makes the config entry of an API token.
 *
 *   vigil hash-token --generate [--name N] [--scopes ingest,read] [--tenant T]
 *       prints a new random token (once: store it in the client's secret store) and its entry
 *   printf '%s' "$TOKEN" | vigil hash-token [--name N] [--scopes ...] [--tenant T]
 *       hashes a token read from standard input (one line; never from the command line, where
 *       it would land in shell history and `ps`)
 *
 * The entry goes under `server.auth.tokens` in the config; only the hash is stored there.
 */
import { SCOPES, TENANT_PATTERN, TOKEN_NAME_PATTERN, type Scope } from './config.js';
import { generateToken, hashToken } from './tokens.js';

export interface HashTokenArgs {
  readonly generate: boolean;
  readonly name?: string;
  /** Comma-separated scopes. @defaultValue "read" */
  readonly scopes?: string;
  readonly tenant?: string;
}

export interface CliIo {
  readStdin(): Promise<string>;
  out(text: string): void;
  err(text: string): void;
}

/** Runs the command; returns the exit code (0 ok, 2 usage). */
export async function hashTokenCommand(args: HashTokenArgs, io: CliIo): Promise<number> {
  const scopes = (args.scopes ?? 'read')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (scopes.length === 0 || unknown.length > 0) {
    io.err(`vigil hash-token: --scopes must list ${SCOPES.join(', ')} (got "${args.scopes ?? ''}")\n`);
    return 2;
  }
  if (args.tenant !== undefined && !new RegExp(TENANT_PATTERN).test(args.tenant)) {
    io.err(`vigil hash-token: --tenant must match ${TENANT_PATTERN}\n`);
    return 2;
  }
  const name = args.name ?? 'my-token';
  if (!new RegExp(TOKEN_NAME_PATTERN).test(name)) {
    io.err('vigil hash-token: --name may hold letters, digits and _.:-\n');
    return 2;
  }
  let token: string;
  if (args.generate) {
    token = generateToken();
  } else {
    token = (await io.readStdin()).replace(/\r?\n$/, '');
    if (token === '' || token.includes('\n')) {
      io.err(
        'vigil hash-token: give the token on standard input (one line), e.g.\n' +
          '  printf \'%s\' "$TOKEN" | vigil hash-token --name prometheus --scopes ingest\n' +
          'or make a new one with --generate\n',
      );
      return 2;
    }
    if (token.length < 20)
      io.err(
        'vigil hash-token: warning: tokens shorter than 20 characters can be guessed; prefer --generate\n',
      );
  }
  const entry =
    `    - name: ${name}\n` +
    `      hash: ${hashToken(token)}\n` +
    `      scopes: [${(scopes as Scope[]).join(', ')}]\n` +
    (args.tenant !== undefined ? `      tenant: ${args.tenant}\n` : '');
  if (args.generate)
    io.out(
      `token: ${token}\n` +
        '(shown once: give it to the client, e.g. as its bearer token; Vigil stores only the hash)\n\n',
    );
  io.out(`# under server.auth.tokens in the config:\n${entry}`);
  return 0;
}
