/**
 * Which scope each endpoint needs (README "Security: endpoints and scopes"). Default deny: a
 * route not named here needs `read` for GET/HEAD and `admin` for anything else.
 *
 * | endpoint | needs |
 * | --- | --- |
 * | `GET /healthz`, `GET /readyz`, CORS preflights (`OPTIONS`) | nothing (public) |
 * | `POST /api/v1/samples`, `/api/v1/write`, `/v1/metrics`, `/api/v2/write`, `/write` | `ingest` |
 * | `GET /api/v1/alerts*`, `/api/v1/series*`, `/api/v1|v2/silence(s)*`, console, API docs | `read` |
 * | `POST /api/v1|v2/silences`, `DELETE /api/v1/silences/:id`, `DELETE /api/v2/silence/:id` | `admin` |
 * | `GET /metrics` | `read`, cross-tenant token (public with `server.auth.public_metrics`) |
 * | `GET /api/v1/notifications` | `read`, cross-tenant token (notifications mix tenants' alerts) |
 * | `GET /api/v1/config` | `admin`, cross-tenant token |
 *
 * A tenant token on a cross-tenant endpoint gets 403 AUTH_TENANT_FORBIDDEN.
 */
import type { Scope } from './config.js';

export type Access =
  | { readonly kind: 'public' }
  | {
      readonly kind: 'scoped';
      readonly scope: Scope;
      /** Only cross-tenant tokens (no tenant) may call it. */
      readonly global: boolean;
    };

const PUBLIC: Access = { kind: 'public' };
const scoped = (scope: Scope, global = false): Access => ({ kind: 'scoped', scope, global });

const INGEST_ROUTES = new Set(['/api/v1/samples', '/api/v1/write', '/v1/metrics', '/api/v2/write', '/write']);
const SILENCE_WRITE_ROUTES = new Set([
  'POST /api/v1/silences',
  'POST /api/v2/silences',
  'DELETE /api/v1/silences/:id',
  'DELETE /api/v2/silence/:id',
]);

/**
 * The access `method` on the route pattern `routeUrl` needs (undefined `routeUrl`: no route
 * matched, which needs `read` so unauthenticated callers cannot tell routes apart).
 */
export function accessFor(
  method: string,
  routeUrl: string | undefined,
  opts: { readonly publicMetrics: boolean },
): Access {
  const m = method.toUpperCase();
  if (m === 'OPTIONS') return PUBLIC;
  const read = m === 'GET' || m === 'HEAD';
  if (routeUrl === undefined) return scoped('read');
  if (read && (routeUrl === '/healthz' || routeUrl === '/readyz')) return PUBLIC;
  if (read && routeUrl === '/metrics') return opts.publicMetrics ? PUBLIC : scoped('read', true);
  if (m === 'POST' && INGEST_ROUTES.has(routeUrl)) return scoped('ingest');
  if (SILENCE_WRITE_ROUTES.has(`${m} ${routeUrl}`)) return scoped('admin');
  if (read && routeUrl === '/api/v1/config') return scoped('admin', true);
  if (read && routeUrl === '/api/v1/notifications') return scoped('read', true);
  return read ? scoped('read') : scoped('admin');
}

/** Console pages: a 401 there challenges with Basic so a browser asks for the token. */
export function isConsolePath(url: string): boolean {
  return url === '/' || url.startsWith('/?') || url.startsWith('/console/') || url.startsWith('/api/docs');
}
