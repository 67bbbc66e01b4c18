/**
 * API tokens: generating one, hashing it for the config, reading it from a request's
 * Authorization header, and finding the configured token it belongs to.
 *
 * The config holds only `sha256:<hex>` of each token. Tokens are 256-bit random strings
 * (`vgl_` + 43 base64url characters, from `vigil hash-token --generate`), so a fast hash is
 * preimage-safe; a slow password hash (scrypt, bcrypt) would cost tens of milliseconds of CPU per
 * request and protects only low-entropy secrets, which tokens are not.
 *
 * Accepted credentials (RFC 6750, RFC 7617, and what the ingest clients send):
 * - `Authorization: Bearer <token>` (Prometheus `authorization`, OTLP exporters' headers, curl);
 * - `Authorization: Token <token>` (InfluxDB v2 clients and Telegraf `outputs.influxdb_v2`);
 * - `Authorization: Basic base64(user:token)` (Prometheus `basic_auth` with the token as
 *   password, Telegraf `outputs.influxdb` v1, browsers); the user name is ignored, except that a
 *   token given as the user with an empty password is accepted too.
 *
 * Lookup compares the SHA-256 of the presented token with every configured hash using
 * `timingSafeEqual`, without stopping at a match, so the time taken does not depend on which
 * entry (if any) matched.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Scope, TokenConfig } from './config.js';

/** Who a request acts as. */
export interface Principal {
  /** The token's configured name (logs show this, never the token). */
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
  /** Undefined for cross-tenant (operator) tokens. */
  readonly tenant: string | undefined;
  /** Token-bucket rate (requests/s; 0 = unlimited) and burst, after defaults. */
  readonly ratePerSecond: number;
  readonly burst: number;
}

/** A new random token: `vgl_` + 32 random bytes in base64url (43 characters). */
export function generateToken(): string {
  return `vgl_${randomBytes(32).toString('base64url')}`;
}

/** The config form of a token: `sha256:` + lower-case hex of SHA-256 over its UTF-8 bytes. */
export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** What the Authorization header held. */
export type PresentedCredentials =
  | { readonly kind: 'none' }
  | { readonly kind: 'token'; readonly token: string; readonly scheme: 'bearer' | 'token' | 'basic' }
  | { readonly kind: 'malformed'; readonly reason: string };

/** Longest token accepted (longer ones are refused without hashing). */
const MAX_TOKEN_LENGTH = 1024;

/** Reads the credentials of an Authorization header value (undefined when absent). */
export function parseAuthorization(header: string | undefined): PresentedCredentials {
  if (header === undefined || header.trim() === '') return { kind: 'none' };
  const h = header.trim();
  const sp = h.indexOf(' ');
  if (sp < 0) return { kind: 'malformed', reason: 'Authorization header has no scheme' };
  const scheme = h.slice(0, sp).toLowerCase();
  const rest = h.slice(sp + 1).trim();
  let token: string;
  let kind: 'bearer' | 'token' | 'basic';
  if (scheme === 'bearer' || scheme === 'token') {
    token = rest;
    kind = scheme;
  } else if (scheme === 'basic') {
    if (!/^[A-Za-z0-9+/]+=*$/.test(rest))
      return { kind: 'malformed', reason: 'Basic credentials are not base64' };
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { kind: 'malformed', reason: 'Basic credentials have no "user:password" form' };
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    token = password !== '' ? password : user;
    kind = 'basic';
  } else {
    return {
      kind: 'malformed',
      reason: `unsupported Authorization scheme (use Bearer, Token or Basic)`,
    };
  }
  if (token === '') return { kind: 'malformed', reason: 'empty token' };
  if (token.length > MAX_TOKEN_LENGTH)
    return { kind: 'malformed', reason: `token longer than ${MAX_TOKEN_LENGTH} characters` };
  return { kind: 'token', token, scheme: kind };
}

export interface TokenVerifier {
  /** False when no tokens are configured: authentication is off. */
  readonly enabled: boolean;
  /** Every tenant named by a configured token (sorted). */
  readonly tenants: readonly string[];
  /** The principal a token belongs to, or undefined. Constant time in the matching entry. */
  verify(token: string): Principal | undefined;
}

/** Builds the lookup over the configured tokens. `defaults` fill in per-token rate limits. */
export function createTokenVerifier(
  tokens: readonly TokenConfig[],
  defaults: { readonly ratePerSecond: number; readonly burst: number },
): TokenVerifier {
  const entries = tokens.map((t) => ({
    digest: Buffer.from(t.hash.slice('sha256:'.length), 'hex'),
    principal: {
      name: t.name,
      scopes: new Set<Scope>(t.scopes.includes('admin') ? [...t.scopes, 'read'] : t.scopes),
      tenant: t.tenant,
      ratePerSecond: t.requests_per_second ?? defaults.ratePerSecond,
      burst: t.request_burst ?? defaults.burst,
    } satisfies Principal,
  }));
  const tenants = [...new Set(tokens.flatMap((t) => (t.tenant === undefined ? [] : [t.tenant])))].sort();
  return {
    enabled: entries.length > 0,
    tenants,
    verify(token) {
      const digest = createHash('sha256').update(token, 'utf8').digest();
      let found: Principal | undefined;
      for (const e of entries) {
        // No early exit: every entry is compared.
        if (timingSafeEqual(digest, e.digest) && found === undefined) found = e.principal;
      }
      return found;
    },
  };
}
