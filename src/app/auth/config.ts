/**
 * The security sections of Vigil's config: `server.tls`, `server.cors`, `server.auth`, `limits`
 * and `security`. Schema only (plus the semantic checks in {@link checkSecurityConfig});
 * src/app/config.ts puts them into the root schema. Every key is described in
 * docs/guarantees.md's neighbour, the README "Config reference: security".
 */
import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../../common/index.js';
import type { SemanticIssue } from '../config-loader.js';

/** Schema keyword the config loader uses to redact secrets (src/app/config-loader.ts). */
const SECRET = 'x-secret';

/** The scopes a token can carry. `admin` implies `read`. */
export const SCOPES = ['ingest', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** `sha256:` and 64 lower-case hex digits: what `vigil hash-token` prints. */
export const TOKEN_HASH_PATTERN = '^sha256:[0-9a-f]{64}$';
/** Token names (logs, metrics): letters, digits and `_.:-`. */
export const TOKEN_NAME_PATTERN = '^[a-zA-Z0-9_.:-]+$';
/** Tenant names: they become a label value and appear in URLs of the docs. */
export const TENANT_PATTERN = '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$';

/** `server.tls`: serve HTTPS instead of HTTP. */
export const TlsConfigSchema = Type.Object(
  {
    /** PEM certificate chain (leaf first). Read once at startup; restart to rotate. */
    cert_file: Type.String({ minLength: 1 }),
    /** PEM private key of the certificate. */
    key_file: Type.String({ minLength: 1 }),
    /** Oldest TLS version accepted. @defaultValue "TLSv1.2" */
    min_version: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2' }),
  },
  { additionalProperties: false },
);

/** `server.cors`: cross-origin browser access. Closed by default: no CORS headers at all. */
export const CorsConfigSchema = Type.Object(
  {
    /**
     * Origins (`https://grafana.example.com`, scheme + host + port as the browser sends it)
     * allowed to call the API from a browser; `"*"` allows any origin (never with credentials).
     * @defaultValue [] (no CORS headers: browsers block cross-origin calls)
     */
    allow_origins: Type.Array(Type.String({ minLength: 1, pattern: '^(\\*|https?://[^/\\s]+)$' }), {
      default: [],
    }),
    /** How long a browser may cache a preflight answer. @defaultValue 10m */
    max_age: Type.String({ pattern: DURATION_PATTERN, default: '10m' }),
  },
  { additionalProperties: false, default: {} },
);

/** One API token: its hash (never the token), scopes and tenant. */
export const TokenConfigSchema = Type.Object(
  {
    /** Unique name, shown in logs instead of the token (e.g. `prometheus-team-a`). */
    name: Type.String({ minLength: 1, maxLength: 100, pattern: TOKEN_NAME_PATTERN }),
    /** `sha256:<64 hex>` of the token, as `vigil hash-token` prints it. Secret: redacted in the config view. */
    hash: Type.String({ pattern: TOKEN_HASH_PATTERN, [SECRET]: true }),
    /** What the token may do: `ingest` (write samples), `read` (APIs, console, metrics), `admin` (silences, config; implies read). */
    scopes: Type.Array(Type.Union(SCOPES.map((s) => Type.Literal(s))), { minItems: 1, uniqueItems: true }),
    /**
     * The tenant the token acts for: its samples get the tenant label, and it sees only that
     * tenant's series, alerts and silences. Absent: a cross-tenant (operator) token.
     */
    tenant: Type.Optional(Type.String({ pattern: TENANT_PATTERN })),
    /** Overrides `limits.requests_per_second_per_token` for this token. */
    requests_per_second: Type.Optional(Type.Number({ minimum: 0 })),
    /** Overrides `limits.request_burst_per_token` for this token. */
    request_burst: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type TokenConfig = Static<typeof TokenConfigSchema>;

/** `server.auth`: API tokens. No tokens: authentication is off (the shipped loopback default). */
export const AuthConfigSchema = Type.Object(
  {
    /** @defaultValue [] (auth off: every request is allowed; keep the server on loopback) */
    tokens: Type.Array(TokenConfigSchema, { default: [] }),
    /** The label a tenant token's samples are stamped with. @defaultValue "tenant" */
    tenant_label: Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$', default: 'tenant' }),
    /** Serve GET /metrics without a token (for a scraper on a trusted network). @defaultValue false */
    public_metrics: Type.Boolean({ default: false }),
  },
  { additionalProperties: false, default: {} },
);
export type AuthConfig = Static<typeof AuthConfigSchema>;

/** `limits`: what one tenant or one token may use. */
export const LimitsConfigSchema = Type.Object(
  {
    /**
     * Series one tenant may have (samples without a tenant label count as tenant ""). Samples of
     * new series past the limit are refused per item with LIMIT_EXCEEDED, and one alert
     * `VigilSeriesLimit{tenant=...}` fires. 0 = no limit. The default is a cardinality guardrail at
     * one node's design capacity (1M series, ~20 KB each); with auth off it caps the whole node.
     * @defaultValue 1000000
     */
    max_series_per_tenant: Type.Integer({ minimum: 0, default: 1_000_000 }),
    /** The `VigilSeriesLimit` alert resolves after this long without a refused series. @defaultValue 10m */
    series_limit_resolve_after: Type.String({ pattern: DURATION_PATTERN, default: '10m' }),
    /**
     * Requests per second one token may make (token bucket; over it → 429 with Retry-After).
     * Applies only when auth is on. 0 = no limit. @defaultValue 100
     */
    requests_per_second_per_token: Type.Number({ minimum: 0, default: 100 }),
    /** Requests a token may make at once above the steady rate (bucket size). @defaultValue 200 */
    request_burst_per_token: Type.Integer({ minimum: 1, default: 200 }),
  },
  { additionalProperties: false, default: {} },
);
export type LimitsConfig = Static<typeof LimitsConfigSchema>;

/** `security`: outbound requests (webhook and Alertmanager receivers). */
export const SecurityConfigSchema = Type.Object(
  {
    /**
     * Destinations receivers may call: host names (`hooks.example.com`), wildcard domains
     * (`*.example.com`), IP addresses and CIDR ranges (`10.20.0.0/16`), each optionally with
     * `:port`. Empty: any public address, and nothing on loopback, private, link-local (cloud
     * metadata) or other internal ranges. Non-empty: only these (internal ones included when
     * listed). @defaultValue []
     */
    outbound_allowlist: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  },
  { additionalProperties: false, default: {} },
);
export type SecurityConfig = Static<typeof SecurityConfigSchema>;

/** The parts of the config the checks read. */
export interface SecuritySections {
  readonly server: { readonly auth: AuthConfig };
  readonly security: SecurityConfig;
}

/**
 * Checks the schema cannot express: token names and hashes unique, allowlist entries parse.
 * Paths are relative to the config root.
 */
export function checkSecurityConfig(
  config: SecuritySections,
  parseAllowEntry: (entry: string) => string | undefined,
): SemanticIssue[] {
  const issues: SemanticIssue[] = [];
  const names = new Map<string, number>();
  const hashes = new Map<string, number>();
  config.server.auth.tokens.forEach((t, i) => {
    const n = names.get(t.name);
    if (n !== undefined)
      issues.push({
        path: ['server', 'auth', 'tokens', i, 'name'],
        code: 'DUPLICATE_NAME',
        message: `token name "${t.name}" is also used by tokens[${n}]`,
      });
    else names.set(t.name, i);
    const h = hashes.get(t.hash);
    if (h !== undefined)
      issues.push({
        path: ['server', 'auth', 'tokens', i, 'hash'],
        code: 'CONFLICT',
        message: `tokens[${i}] has the same hash as tokens[${h}] (one token, two entries)`,
      });
    else hashes.set(t.hash, i);
  });
  config.security.outbound_allowlist.forEach((entry, i) => {
    const problem = parseAllowEntry(entry);
    if (problem)
      issues.push({ path: ['security', 'outbound_allowlist', i], code: 'INVALID_VALUE', message: problem });
  });
  return issues;
}
