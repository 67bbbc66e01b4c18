/**
 * Authentication, authorisation, tenant routing, per-token rate limits and CORS for the fastify
 * app (src/app/http.ts installs them; the route modules know nothing of them).
 *
 * Order per request:
 * 1. routing: a tenant token's request is routed to the copy of the alerts/series endpoints
 *    registered for its tenant (a fastify route constraint `tenant`, derived from the
 *    Authorization header; requests without a valid tenant token get the cross-tenant copy);
 * 2. `onRequest`: CORS headers; then, when tokens are configured, the scope the route needs
 *    (policy.ts) is checked: 401 AUTH_REQUIRED / AUTH_INVALID_TOKEN, 403 AUTH_FORBIDDEN /
 *    AUTH_TENANT_FORBIDDEN, 429 AUTH_RATE_LIMITED with Retry-After. This runs before the body is
 *    read, so an unauthenticated client cannot make Vigil read or decompress its body;
 * 3. `preHandler`: the request's tenant is put in an AsyncLocalStorage the ingest sink reads
 *    (tenant-sink.ts), so every protocol stamps it without knowing about tenants.
 *
 * Tenant tokens may call: ingest, their tenant's alerts/series/silences endpoints, the console's
 * static files and the API reference. Everything else (notifications, config, metrics, and any
 * route added later without a tenant copy) answers 403 AUTH_TENANT_FORBIDDEN: default deny.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { durationMs } from '../../common/index.js';
import type { AuthConfig, LimitsConfig } from './config.js';
import { AuthError } from './errors.js';
import { accessFor, isConsolePath } from './policy.js';
import { createRateLimiter, type RateLimiter } from './rate-limit.js';
import { createTokenVerifier, parseAuthorization, type Principal, type TokenVerifier } from './tokens.js';

/** Route config keys set on the tenant copies of routes (see {@link markTenantRoutes}). */
export interface TenantRouteConfig {
  /** The tenant this copy serves; undefined on the cross-tenant copy. */
  readonly vigilTenant?: string;
  /** True on every copy of a tenant-aware route. */
  readonly vigilTenantAware?: boolean;
}

/** fastify's (find-my-way's) constraint strategy type. */
export type ConstraintStrategy = NonNullable<
  NonNullable<FastifyServerOptions['routerOptions']>['constraints']
>[string];
type ConstraintStore = ReturnType<ConstraintStrategy['storage']>;
type RouteHandlerRef = ReturnType<ConstraintStore['get']>;

type AuthResult =
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'ok'; readonly principal: Principal };

/** Routes a tenant token may call besides ingest and its tenant's copies (read-only, tenant-neutral). */
const TENANT_NEUTRAL = new Set(['/', '/console/', '/console/*', '/api/openapi.json', '/api/docs']);

export interface HttpAuthOptions {
  readonly auth: AuthConfig;
  readonly limits: LimitsConfig;
  readonly cors: { readonly allow_origins: readonly string[]; readonly max_age: string };
  /** Told about each refusal (metrics). */
  readonly onRefused?: (code: AuthError['code']) => void;
  readonly now?: () => number;
}

export interface HttpAuth {
  readonly enabled: boolean;
  readonly verifier: TokenVerifier;
  /** Every tenant named by a configured token. */
  readonly tenants: readonly string[];
  /** The fastify constraint strategy for `tenant` (pass in `routerOptions.constraints`). */
  readonly constraint: ConstraintStrategy;
  /** Adds the hooks (call before any route is registered). */
  install(app: FastifyInstance): void;
  /** The tenant of the request being served (ingest stamping); undefined outside one or for cross-tenant tokens. */
  currentTenant(): string | undefined;
  /** The principal of a request (undefined: auth off or public route). */
  principalOf(req: FastifyRequest): Principal | undefined;
}

export function createHttpAuth(opts: HttpAuthOptions): HttpAuth {
  const verifier = createTokenVerifier(opts.auth.tokens, {
    ratePerSecond: opts.limits.requests_per_second_per_token,
    burst: opts.limits.request_burst_per_token,
  });
  const limiter: RateLimiter = createRateLimiter(opts.now);
  const cache = new WeakMap<IncomingMessage, AuthResult>();
  const principals = new WeakMap<FastifyRequest, Principal>();
  const tenantStore = new AsyncLocalStorage<string>();
  const tenantSet = new Set(verifier.tenants);

  function authenticate(raw: IncomingMessage): AuthResult {
    let r = cache.get(raw);
    if (r) return r;
    const header = raw.headers.authorization;
    const c = parseAuthorization(header);
    if (c.kind === 'none') r = { kind: 'none' };
    else if (c.kind === 'malformed') r = { kind: 'invalid', reason: c.reason };
    else {
      const p = verifier.verify(c.token);
      r = p ? { kind: 'ok', principal: p } : { kind: 'invalid', reason: 'unknown token' };
    }
    cache.set(raw, r);
    return r;
  }

  const origins = new Set(opts.cors.allow_origins);
  const anyOrigin = origins.has('*');
  const corsEnabled = origins.size > 0;
  const maxAgeSeconds = String(Math.floor(durationMs(opts.cors.max_age) / 1000));

  function corsHeaders(req: FastifyRequest, reply: FastifyReply): boolean {
    const origin = req.headers.origin;
    if (!corsEnabled || origin === undefined) return false;
    if (!anyOrigin && !origins.has(origin)) return false;
    void reply
      .header('access-control-allow-origin', anyOrigin ? '*' : origin)
      .header('vary', 'Origin')
      .header('access-control-expose-headers', 'Retry-After, WWW-Authenticate');
    return true;
  }

  function refuse(code: AuthError['code'], message: string, retryAfter?: number): AuthError {
    opts.onRefused?.(code);
    return new AuthError(code, message, retryAfter);
  }

  return {
    enabled: verifier.enabled,
    verifier,
    tenants: verifier.tenants,
    constraint: {
      name: 'tenant',
      storage(): ConstraintStore {
        const m = new Map<string, RouteHandlerRef>();
        return {
          get: (v: string) => m.get(v) ?? null,
          set: (v: string, s: RouteHandlerRef) => void m.set(v, s),
        };
      },
      deriveConstraint(req: IncomingMessage): string {
        if (!verifier.enabled || tenantSet.size === 0) return undefined as unknown as string;
        const r = authenticate(req);
        // undefined (no tenant) selects the unconstrained, cross-tenant copy.
        return (r.kind === 'ok' ? r.principal.tenant : undefined) as string;
      },
      validate(v: unknown) {
        if (typeof v !== 'string') throw new TypeError('tenant constraint must be a string');
      },
      mustMatchWhenDerived: false,
    },
    install(app) {
      if (corsEnabled) {
        // Preflights carry no credentials: answered here, public (policy.ts).
        app.options('*', { schema: { hide: true } }, (req, reply) => {
          if (!corsHeaders(req, reply)) return reply.code(204).send();
          return reply
            .code(204)
            .header('access-control-allow-methods', 'GET, HEAD, POST, DELETE, OPTIONS')
            .header(
              'access-control-allow-headers',
              'Authorization, Content-Type, Content-Encoding, X-Prometheus-Remote-Write-Version, X-Requested-With',
            )
            .header('access-control-max-age', maxAgeSeconds)
            .send();
        });
      }
      app.addHook('onRequest', async (req, reply) => {
        if (req.method !== 'OPTIONS') corsHeaders(req, reply);
        if (!verifier.enabled) return;
        const route = req.routeOptions.url;
        const access = accessFor(req.method, route, { publicMetrics: opts.auth.public_metrics });
        if (access.kind === 'public') return;
        const a = authenticate(req.raw);
        if (a.kind === 'none')
          throw refuse('AUTH_REQUIRED', `${req.method} ${route ?? req.url.split('?')[0]} needs a token`);
        if (a.kind === 'invalid') throw refuse('AUTH_INVALID_TOKEN', `invalid credentials: ${a.reason}`);
        const p = a.principal;
        if (!p.scopes.has(access.scope))
          throw refuse(
            'AUTH_FORBIDDEN',
            `token "${p.name}" lacks the "${access.scope}" scope that ${req.method} ${route ?? ''} needs`,
          );
        if (p.tenant !== undefined) {
          const cfg = req.routeOptions.config as TenantRouteConfig;
          const ingest = access.scope === 'ingest';
          const ownCopy = cfg.vigilTenantAware === true && cfg.vigilTenant === p.tenant;
          const neutral = route !== undefined && TENANT_NEUTRAL.has(route);
          if (access.global || !(ingest || ownCopy || neutral))
            throw refuse(
              'AUTH_TENANT_FORBIDDEN',
              `token "${p.name}" is scoped to tenant "${p.tenant}"; ${req.method} ${route ?? ''} shows every tenant`,
            );
        }
        const wait = limiter.take(p.name, p.ratePerSecond, p.burst);
        if (wait !== undefined)
          throw refuse(
            'AUTH_RATE_LIMITED',
            `token "${p.name}" is over its rate limit (${p.ratePerSecond} requests/s, burst ${p.burst}); retry in ${wait}s`,
            wait,
          );
        principals.set(req, p);
      });
      // Callback style on purpose: `done` runs the rest of the request (the handler) inside
      // the store's context, so the sink called from any protocol handler sees the tenant.
      app.addHook('preHandler', (req, _reply, done) => {
        const tenant = principals.get(req)?.tenant;
        if (tenant === undefined) done();
        else tenantStore.run(tenant, done);
      });
    },
    currentTenant: () => tenantStore.getStore(),
    principalOf: (req) => principals.get(req),
  };
}

/** The WWW-Authenticate challenge for a 401 on `url`: Basic for console pages (browsers prompt), Bearer otherwise. */
export function challengeFor(url: string): string {
  return isConsolePath(url) ? 'Basic realm="vigil", charset="UTF-8"' : 'Bearer realm="vigil"';
}

/**
 * Marks every route registered on `child` (a fastify child context) as a copy of a tenant-aware
 * route for `tenant` (undefined: the cross-tenant copy), adds the routing constraint for tenant
 * copies, and hides those copies from the OpenAPI document (one entry per endpoint).
 */
export function markTenantRoutes(child: FastifyInstance, tenant: string | undefined): void {
  child.addHook('onRoute', (r) => {
    const config: TenantRouteConfig = { ...(r.config ?? {}), vigilTenantAware: true, vigilTenant: tenant };
    r.config = config as typeof r.config;
    if (tenant !== undefined) {
      r.constraints = { ...(r.constraints ?? {}), tenant };
      r.schema = { ...(r.schema ?? {}), hide: true };
    }
  });
}
