/**
 * The sink every HTTP ingest protocol writes through when it runs in the app: it stamps the
 * request's tenant on each sample, then hands the batch to the pipeline's sink (WAL + runtime).
 * With it comes the series limit per tenant, as a {@link SeriesLimiter} the wiring installs on the
 * keyed runtime that owns the series.
 *
 * Stamping: a tenant token's samples get `tenant="<its tenant>"` (server.auth.tenant_label),
 * replacing any value the client sent, so one tenant cannot write into another's series.
 *
 * Series limit (`limits.max_series_per_tenant`): the series of a tenant are the runtime's series
 * with its tenant label (no label: tenant ""). The runtime asks the limiter only when a sample
 * would create a series, and reports every series restored, replayed, expired
 * (`runtime.series_ttl`) or dropped, so the count is the runtime's own and costs nothing per
 * sample of a known series (it was a map lookup per sample here, 9% of the ingest thread at
 * saturation, bench:throughput). A sample of a series the tenant already has always passes; a
 * sample of a NEW series past the limit is refused on its own with LIMIT_EXCEEDED and a reason
 * naming the limit; the rest of the request goes on. On the first refusal, one alert
 * `VigilSeriesLimit{tenant="<t>"}` fires through the dispatcher (routes, receivers, silences
 * apply as to any alert); it resolves after `limits.series_limit_resolve_after` without a
 * refusal. It is one alert per tenant, not one per refused series. In Kafka mode the limiter is
 * the consuming runtime's, so a refused sample is dead-lettered (LIMIT_EXCEEDED) on the node that
 * owns its partition: only the owner knows a series is new.
 */
import type { AlertEvent } from '../../alerts/index.js';
import { fingerprint } from '../../alerts/index.js';
import { parseSeriesKey, seriesKey } from '../../common/index.js';
import type { Sample, SampleSink, SubmitResult } from '../../ingest/index.js';
import type { SeriesLimiter } from '../../keyed-runtime/index.js';

export interface TenantSinkOptions {
  readonly inner: SampleSink;
  readonly tenantLabel: string;
  /** The tenant of the request being served (undefined: do not stamp). */
  readonly currentTenant: () => string | undefined;
  /** 0 = no limit. */
  readonly maxSeriesPerTenant: number;
  /** The limit alert resolves after this long without a refusal, ms. */
  readonly resolveAfterMs: number;
  /** Where the limit alert goes (the dispatcher). */
  readonly onAlertEvents?: (events: readonly AlertEvent[]) => void;
  /** Told about each refusal (metrics, logs). */
  readonly onLimited?: (tenant: string, refused: number) => void;
  /** Wall clock, ms. @defaultValue Date.now */
  readonly now?: () => number;
}

export interface TenantSink extends SampleSink {
  /**
   * The series limit, to install on the runtime that owns the series
   * (`runtime.setSeriesLimiter`); undefined when there is no limit.
   */
  readonly limiter: SeriesLimiter | undefined;
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

interface TenantState {
  /** Series of the tenant in the runtime. */
  series: number;
  firing: { startsAt: number; lastRefusal: number; refused: number } | undefined;
}

export function createTenantSink(opts: TenantSinkOptions): TenantSink {
  const now = opts.now ?? Date.now;
  const limit = opts.maxSeriesPerTenant;
  const label = opts.tenantLabel;
  const tenants = new Map<string, TenantState>();

  const stateOf = (tenant: string): TenantState => {
    let s = tenants.get(tenant);
    if (!s) {
      s = { series: 0, firing: undefined };
      tenants.set(tenant, s);
    }
    return s;
  };
  /** Runs only when a series is created or forgotten, so parsing the key is affordable. */
  const tenantOf = (key: string): string => parseSeriesKey(key)?.labels[label] ?? '';

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
            }
            if (resolved.length > 0) opts.onAlertEvents?.(resolved);
          },
          Math.max(100, Math.min(60_000, Math.floor(opts.resolveAfterMs / 4))),
        )
      : undefined;
  timer?.unref();

  /** Refusals since the last report, per tenant: reported once per turn (metrics, alert, log). */
  const refusedNow = new Map<string, number>();
  function report(): void {
    const t = now();
    const firing: AlertEvent[] = [];
    for (const [who, n] of refusedNow) {
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
    refusedNow.clear();
    if (firing.length > 0) opts.onAlertEvents?.(firing);
  }

  const limiter: SeriesLimiter | undefined =
    limit > 0
      ? {
          admit(key) {
            const who = tenantOf(key);
            const s = stateOf(who);
            if (s.series < limit) {
              s.series++;
              return undefined;
            }
            if (refusedNow.size === 0) queueMicrotask(report);
            refusedNow.set(who, (refusedNow.get(who) ?? 0) + 1);
            return (
              `series limit reached: ${who === '' ? 'samples without a tenant have' : `tenant "${who}" has`} ` +
              `${s.series} series (limits.max_series_per_tenant ${limit}); new series refused`
            );
          },
          added(key) {
            stateOf(tenantOf(key)).series++;
          },
          removed(key) {
            const s = tenants.get(tenantOf(key));
            if (s && s.series > 0) s.series--;
          },
        }
      : undefined;

  return {
    limiter,
    admit(source) {
      opts.inner.admit?.(source);
    },
    submit(samples, source): Promise<SubmitResult> {
      const tenant = opts.currentTenant();
      return opts.inner.submit(tenant === undefined ? samples : stamp(samples, tenant), source);
    },
    seriesOf: (tenant) => tenants.get(tenant)?.series ?? 0,
    limitFiring: (tenant) => tenants.get(tenant)?.firing !== undefined,
    close() {
      if (timer) clearInterval(timer);
    },
  };
}
