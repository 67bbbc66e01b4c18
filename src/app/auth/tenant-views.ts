/**
 * What a tenant token sees: the alert dispatcher and the keyed runtime narrowed to one tenant,
 * handed to the alerts and series endpoints registered for that tenant (src/app/http.ts routes
 * a tenant token's requests to them). The modules themselves know nothing of tenants.
 *
 * The tenant model (README "Security: tenants"):
 * - a series belongs to tenant T when its `tenant` label (server.auth.tenant_label) is T; ingest
 *   with a tenant token stamps that label on every sample, overriding one the client sent;
 * - an alert belongs to T when its labels carry tenant="T" (alert labels are series labels);
 * - a silence belongs to T when it has the matcher tenant="T" (equal, not regex). Silences a
 *   tenant token creates get that matcher added (any other matcher on the tenant label is
 *   replaced), so they can only ever mute that tenant's alerts;
 * - another tenant's series, alert or silence is "not found" (404), never "forbidden", so a
 *   tenant cannot learn what exists elsewhere;
 * - the notification log mixes tenants (one notification may group several tenants' alerts)
 *   and is for cross-tenant tokens only (policy.ts).
 */
import { AlertsError, type AlertDispatcher, type ApiMatcher, type SilenceBody } from '../../alerts/index.js';
import { parseSeriesKey } from '../../common/index.js';
import type { KeyedRuntime } from '../../keyed-runtime/index.js';
import { AuthError } from './errors.js';

/** True when a silence's matchers pin it to `tenant`. */
export function silenceBelongsTo(
  matchers: readonly ApiMatcher[],
  tenantLabel: string,
  tenant: string,
): boolean {
  return matchers.some(
    (m) => m.name === tenantLabel && m.value === tenant && !m.isRegex && (m.isEqual ?? true),
  );
}

/** The body with its tenant-label matchers replaced by `tenant="<tenant>"`. */
export function pinSilenceToTenant(body: SilenceBody, tenantLabel: string, tenant: string): SilenceBody {
  return {
    ...body,
    matchers: [
      ...body.matchers.filter((m) => m.name !== tenantLabel),
      { name: tenantLabel, value: tenant, isRegex: false, isEqual: true },
    ],
  };
}

/** The dispatcher as tenant `tenant` sees it (the methods the HTTP API calls are narrowed). */
export function tenantDispatcher(d: AlertDispatcher, tenantLabel: string, tenant: string): AlertDispatcher {
  const mine = (labels: Readonly<Record<string, string>>): boolean => labels[tenantLabel] === tenant;
  const notFound = (id: string): AlertsError =>
    new AlertsError('ALERTS_SILENCE_NOT_FOUND', `silence ${id} not found`);
  const ownSilence = (id: string): void => {
    let s;
    try {
      s = d.getSilence(id);
    } catch (err) {
      if (err instanceof AlertsError && err.code === 'ALERTS_SILENCE_NOT_FOUND') throw notFound(id);
      throw err;
    }
    if (!silenceBelongsTo(s.matchers, tenantLabel, tenant)) throw notFound(id);
  };
  const overrides: Partial<AlertDispatcher> = {
    listAlerts: (q) => d.listAlerts(q).filter((a) => mine(a.labels)),
    history: (q = {}) => {
      // Filter first, then apply the limit: the tenant gets its newest `limit` entries.
      const { limit = 100, ...rest } = q;
      return d
        .history({ ...rest, limit: Number.MAX_SAFE_INTEGER })
        .filter((h) => mine(h.labels))
        .slice(0, limit);
    },
    listSilences: (q) => d.listSilences(q).filter((s) => silenceBelongsTo(s.matchers, tenantLabel, tenant)),
    getSilence: (id) => {
      ownSilence(id);
      return d.getSilence(id);
    },
    createSilence: async (body) => {
      if (body.id !== undefined) ownSilence(body.id);
      return d.createSilence(pinSilenceToTenant(body, tenantLabel, tenant));
    },
    expireSilence: async (id) => {
      ownSilence(id);
      return d.expireSilence(id);
    },
    notifications: () => {
      // policy.ts refuses tenant tokens here first; this is the second line.
      throw new AuthError('AUTH_TENANT_FORBIDDEN', 'the notification log is for cross-tenant tokens');
    },
  };
  return new Proxy(d, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && prop in overrides) return overrides[prop as keyof AlertDispatcher];
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

/**
 * The tenant of each series key, cached (a key is parsed once). The cache is cleared when it
 * outgrows the runtime (expired series) so it stays bounded.
 */
export class KeyTenants {
  private readonly cache = new Map<string, string | null>();
  constructor(
    private readonly tenantLabel: string,
    private readonly bound: () => number,
  ) {}
  of(key: string): string | undefined {
    let t = this.cache.get(key);
    if (t === undefined) {
      if (this.cache.size > 2 * this.bound() + 10_000) this.cache.clear();
      t = parseSeriesKey(key)?.labels[this.tenantLabel] ?? null;
      this.cache.set(key, t);
    }
    return t ?? undefined;
  }
}

/** The runtime's read side as tenant `tenant` sees it: its series only. */
export function tenantRuntime<O>(
  runtime: KeyedRuntime<O>,
  tenants: KeyTenants,
  tenant: string,
): KeyedRuntime<O> {
  const mine = (key: string): boolean => tenants.of(key) === tenant;
  function* keys(): IterableIterator<string> {
    for (const k of runtime.keys()) if (mine(k)) yield k;
  }
  const overrides = {
    keys,
    hasKey: (key: string) => runtime.hasKey(key) && mine(key),
    query: async <R>(key: string, query: unknown): Promise<R | undefined> =>
      mine(key) ? runtime.query<R>(key, query) : undefined,
    queryAll: async <R>(query: unknown, limit?: number): Promise<{ key: string; result: R }[]> =>
      (await runtime.queryAll<R>(query))
        .filter((r) => mine(r.key))
        .slice(0, limit ?? Number.MAX_SAFE_INTEGER),
  };
  return new Proxy(runtime, {
    get(target, prop, receiver) {
      if (prop === 'size') {
        let n = 0;
        for (const k of runtime.keys()) if (mine(k)) n++;
        return n;
      }
      if (typeof prop === 'string' && prop in overrides) return overrides[prop as keyof typeof overrides];
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}
