/**
 * The sink every HTTP ingest protocol writes through when it runs in the app: it stamps the
 * request's tenant on each sample and enforces the series limit per tenant, then hands the rest
 * to the pipeline's sink (WAL + runtime).
 *
 * Stamping: a tenant token's samples get `tenant="<its tenant>"` (server.auth.tenant_label),
 * replacing any value the client sent, so one tenant cannot write into another's series.
 *
 * Series limit (`limits.max_series_per_tenant`): the series of a tenant are the distinct keys
 * with its tenant label (no label: tenant ""), counted here from the runtime's keys at startup
 * plus every new key admitted since; a key not seen for `runtime.series_ttl` is forgotten, as
 * the runtime forgets it. A sample of a series the tenant already has always passes; a sample
 * of a NEW series past the limit is refused on its own with LIMIT_EXCEEDED and a reason naming
 * the limit; the rest of the request goes on. On the first refusal, one alert
 * `VigilSeriesLimit{tenant="<t>"}` fires through the dispatcher (routes, receivers, silences
 * apply as to any alert); it resolves after `limits.series_limit_resolve_after` without a
 * refusal. It is one alert per tenant, not one per refused series.
 */
import type { AlertEvent } from '../../alerts/index.js';
import { fingerprint } from '../../alerts/index.js';
import { seriesKey } from '../../common/index.js';
import type { RejectedItem, Sample, SampleSink, SubmitResult } from '../../ingest/index.js';
import { KeyTenants } from './tenant-views.js';

export interface TenantSinkOptions {
  readonly inner: SampleSink;
  readonly tenantLabel: string;
  /** The tenant of the request being served (undefined: do not stamp). */
  readonly currentTenant: () => string | undefined;
  /** 0 = no limit. */
  readonly maxSeriesPerTenant: number;
  /** A series not seen for this long is forgotten, ms (0 = never). */
  readonly seriesTtlMs: number;
  /** The limit alert resolves after this long without a refusal, ms. */
  readonly resolveAfterMs: number;
  /** Series that exist already (the runtime's keys after recovery). */
  readonly existingKeys?: () => Iterable<string>;
  /** Where the limit alert goes (the dispatcher). */
  readonly onAlertEvents?: (events: readonly AlertEvent[]) => void;
  /** Told about each refusal (metrics, logs). */
  readonly onLimited?: (tenant: string, refused: number) => void;
  /** Wall clock, ms. @defaultValue Date.now */
  readonly now?: () => number;
}

export interface TenantSink extends SampleSink {
  /** Series counted for `tenant` now. */
  seriesOf(tenant: string): number;
  /** Whether tenant's limit alert is firing. */
  limitFiring(tenant: string): boolean;
  /** Stops the timers. */
  close(): void;
}

/** The alert name of the series-limit alert. */
export const SERIES_LIMIT_ALERT = 'VigilSeriesLimit';
/** Series whose stamped form is cached (see `stamp`). */
const STAMP_CACHE = 200_000;
/** At most one scan for forgotten series per tenant per this many ms while it is at its limit. */
const PRUNE_EVERY_MS = 10_000;

interface TenantState {
  readonly seen: Map<string, number>;
  lastPrune: number;
  firing: { startsAt: number; lastRefusal: number; refused: number } | undefined;
}

export function createTenantSink(opts: TenantSinkOptions): TenantSink {
  const now = opts.now ?? Date.now;
  const limit = opts.maxSeriesPerTenant;
  const label = opts.tenantLabel;
  const tenants = new Map<string, TenantState>();
  const keyTenants = new KeyTenants(label, () => 0);

  const stateOf = (tenant: string): TenantState => {
    let s = tenants.get(tenant);
    if (!s) {
      s = { seen: new Map(), lastPrune: 0, firing: undefined };
      tenants.set(tenant, s);
    }
    return s;
  };
  if (limit > 0 && opts.existingKeys) {
    const t = now();
    for (const key of opts.existingKeys()) stateOf(keyTenants.of(key) ?? '').seen.set(key, t);
  }

  function prune(s: TenantState, t: number): void {
    s.lastPrune = t;
    if (opts.seriesTtlMs <= 0) return;
    const cutoff = t - opts.seriesTtlMs;
    for (const [k, at] of s.seen) if (at < cutoff) s.seen.delete(k);
  }

  /**
   * Stamped labels and key per (tenant, original key): building a series key costs ~1 µs, a
   * lookup ~50 ns. Bounded: cleared when it holds {@link STAMP_CACHE} series.
   */
  const stamped = new Map<string, Map<string, { labels: Sample['labels']; key: string }>>();
  let stampedSize = 0;
  function stamp(samples: readonly Sample[], tenant: string): Sample[] {
    let cache = stamped.get(tenant);
    if (!cache) {
      cache = new Map<string, { labels: Sample['labels']; key: string }>();
      stamped.set(tenant, cache);
    }
    return samples.map((s) => {
      if (s.labels[label] === tenant) return s;
      let e = cache.get(s.key);
      if (!e) {
        if (stampedSize >= STAMP_CACHE) {
          for (const m of stamped.values()) m.clear();
          stampedSize = 0;
        }
        const labels = { ...s.labels, [label]: tenant };
        e = { labels, key: seriesKey(s.metric, labels) };
        cache.set(s.key, e);
        stampedSize++;
      }
      return { metric: s.metric, labels: e.labels, key: e.key, ts: s.ts, value: s.value };
    });
  }

  function alertFor(tenant: string, status: 'firing' | 'resolved', f: NonNullable<TenantState['firing']>) {
    const labels: Record<string, string> = { alertname: SERIES_LIMIT_ALERT, severity: 'warning' };
    if (tenant !== '') labels[label] = tenant;
    const who = tenant === '' ? 'samples without a tenant' : `tenant "${tenant}"`;
    const event: AlertEvent = {
      fingerprint: fingerprint(labels),
      labels,
      annotations: {
        summary: `${who} reached the series limit (${limit}); samples of new series are refused`,
        description:
          `limits.max_series_per_tenant is ${limit}. ${f.refused} samples of new series were refused ` +
          `(code LIMIT_EXCEEDED) so far; samples of existing series are still accepted. Raise the ` +
          `limit or stop the label that creates new series.`,
      },
      status,
      startsAt: f.startsAt,
      ...(status === 'resolved' ? { endsAt: now() } : {}),
      seriesKey: seriesKey('vigil_series_limit', tenant === '' ? {} : { [label]: tenant }),
      flapping: false,
      explanation: {
        ts: f.lastRefusal,
        actual: limit,
        expected: limit,
        lower: 0,
        upper: limit,
        score: 1,
        stage: 'series_limit',
        periodsMs: [],
        bandCoverage: 1,
      },
    };
    return event;
  }

  const timer =
    limit > 0
      ? setInterval(
          () => {
            const t = now();
            const resolved: AlertEvent[] = [];
            for (const [tenant, s] of tenants) {
              if (s.firing && t - s.firing.lastRefusal >= opts.resolveAfterMs) {
                resolved.push(alertFor(tenant, 'resolved', s.firing));
                s.firing = undefined;
              }
              if (opts.seriesTtlMs > 0 && t - s.lastPrune >= Math.min(opts.seriesTtlMs, 3_600_000))
                prune(s, t);
            }
            if (resolved.length > 0) opts.onAlertEvents?.(resolved);
          },
          Math.max(100, Math.min(60_000, Math.floor(opts.resolveAfterMs / 4))),
        )
      : undefined;
  timer?.unref();

  return {
    admit(source) {
      opts.inner.admit?.(source);
    },

    async submit(samples, source): Promise<SubmitResult> {
      const tenant = opts.currentTenant();
      const stamped = tenant === undefined ? samples : stamp(samples, tenant);
      if (limit <= 0) return opts.inner.submit(stamped, source);

      const t = now();
      const refused: RejectedItem[] = [];
      // What passes, and the request index of each: built only once something is refused
      // (until then, everything before passed).
      let pass: Sample[] | undefined;
      let passIndex: number[] | undefined;
      const added: [TenantState, string][] = [];
      const refusedBy = new Map<string, number>();
      let who = '';
      let s = stateOf(who);
      for (let i = 0; i < stamped.length; i++) {
        const smp = stamped[i] as Sample;
        const w = smp.labels[label] ?? '';
        if (w !== who) {
          who = w;
          s = stateOf(who);
        }
        const seenAt = s.seen.get(smp.key);
        if (seenAt !== undefined) {
          // Last-seen times only serve the TTL (hours): refreshing them once a second is enough.
          if (t - seenAt >= 1000) s.seen.set(smp.key, t);
        } else {
          if (s.seen.size >= limit && t - s.lastPrune >= PRUNE_EVERY_MS) prune(s, t);
          if (s.seen.size >= limit) {
            if (!pass) {
              pass = stamped.slice(0, i);
              passIndex = Array.from({ length: i }, (_, k) => k);
            }
            refused.push({
              index: i,
              code: 'LIMIT_EXCEEDED',
              reason:
                `series limit reached: ${who === '' ? 'samples without a tenant have' : `tenant "${who}" has`} ` +
                `${s.seen.size} series (limits.max_series_per_tenant ${limit}); new series refused`,
            });
            refusedBy.set(who, (refusedBy.get(who) ?? 0) + 1);
            continue;
          }
          s.seen.set(smp.key, t);
          added.push([s, smp.key]);
        }
        if (pass) {
          pass.push(smp);
          passIndex!.push(i);
        }
      }

      if (refusedBy.size > 0) {
        const firing: AlertEvent[] = [];
        for (const [who, n] of refusedBy) {
          const s = stateOf(who);
          if (s.firing) {
            s.firing.lastRefusal = t;
            s.firing.refused += n;
          } else {
            s.firing = { startsAt: t, lastRefusal: t, refused: n };
            firing.push(alertFor(who, 'firing', s.firing));
          }
          opts.onLimited?.(who, n);
        }
        if (firing.length > 0) opts.onAlertEvents?.(firing);
      }

      if ((pass ?? stamped).length === 0) return { accepted: 0, duplicates: 0, rejected: refused };
      let result: SubmitResult;
      try {
        result = await opts.inner.submit(pass ?? stamped, source);
      } catch (err) {
        // Nothing of the batch was taken (503): the new series do not exist.
        for (const [s, key] of added) s.seen.delete(key);
        throw err;
      }
      if (refused.length === 0) return result;
      const rejected: RejectedItem[] = [...refused];
      for (const r of result.rejected) rejected.push({ ...r, index: passIndex![r.index] ?? r.index });
      rejected.sort((a, b) => a.index - b.index);
      return { accepted: result.accepted, duplicates: result.duplicates, rejected };
    },
    seriesOf: (tenant) => tenants.get(tenant)?.seen.size ?? 0,
    limitFiring: (tenant) => tenants.get(tenant)?.firing !== undefined,
    close() {
      if (timer) clearInterval(timer);
    },
  };
}
