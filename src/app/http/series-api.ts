/**
 * Series endpoints (fastify plugin): the series index with server-side search, state filter,
 * sort and paging; one series' page data (actual vs expected band, anomalies, alert events,
 * periods and model facts); and the running config with secrets redacted.
 *
 * - `GET /api/v1/series?search=&state=&sort=&order=&offset=0&limit=50` →
 *   `{ total, offset, limit, counts: { firing, silenced, pending, normal }, items: [{ key, metric,
 *   labels, state, alert, status }] }`
 * - `GET /api/v1/series/detail?key=<series key>&points=500` → `{ key, metric, labels, state,
 *   alert, status, threshold, points, anomalies, events, periodsMs, periods, model }`
 * - `GET /api/v1/config` → the running config, secrets as "<secret>"
 *
 * A series' `state` is what the console shows: `firing` (an open firing alert not silenced),
 * `silenced` (firing, but muted by a silence), `pending` (anomalous, waiting for `for`) or
 * `normal`. It comes from the alert dispatcher's open alerts (few), so filtering 100k series by
 * state never asks the workers about every series.
 *
 * Speed at 100k series: the index keeps the keys sorted with their lower-case forms, and each
 * request only reconciles it with the runtime's key map (one pass of Set lookups, ~2 ms at
 * 100k; new keys are sorted and merged in, expired ones filtered out). Search is a
 * case-insensitive substring scan over the cached lower-case keys; only the page's items are
 * asked for their status (one query per item, in parallel).
 */
import type { FastifyInstance } from 'fastify';
import { alertLabels, fingerprint, type AlertDispatcher, type AlertEvent } from '../../alerts/index.js';
import { formatDuration, parseSeriesKey } from '../../common/index.js';
import type { KeyedRuntime } from '../../keyed-runtime/index.js';
import type { AnomalyOutput, SeriesStatus } from '../../operators/anomaly-operator.js';
import { errorBody, labelMap } from './schemas.js';

/** What the console shows per series. */
export type SeriesState = 'firing' | 'silenced' | 'pending' | 'normal';
const STATES: readonly SeriesState[] = ['firing', 'silenced', 'pending', 'normal'];
/** Sort rank for `sort=state`: the most urgent first. */
const RANK: Readonly<Record<SeriesState, number>> = { firing: 0, silenced: 1, pending: 2, normal: 3 };

/** An open alert of a series, as the series endpoints show it. */
export interface SeriesAlert {
  readonly fingerprint: string;
  readonly lifecycle: 'pending' | 'firing';
  /** RFC 3339. */
  readonly startsAt: string;
  readonly silencedBy: readonly string[];
  readonly inhibitedBy: readonly string[];
  readonly flapping: boolean;
}

export interface SeriesApiDeps {
  readonly runtime: KeyedRuntime<AnomalyOutput>;
  /** The running config with secrets redacted. */
  readonly config: () => unknown;
  /**
   * The alert dispatcher: open alerts (series state) and alert history (chart events). Without
   * it, open alerts are asked from the workers (`open-alert` query over every series; no
   * silence information, so no series is ever `silenced`) and the series page has no events.
   */
  readonly alerts?: Pick<AlertDispatcher, 'listAlerts' | 'history'>;
  /** The anomaly threshold for a series' alert labels (route `detection:` overrides applied). @defaultValue 0.4 */
  readonly thresholdFor?: (labels: Readonly<Record<string, string>>) => number;
}

class NotFound extends Error {
  readonly statusCode = 404;
  readonly code = 'SERIES_NOT_FOUND';
}

/**
 * The sorted series index, reconciled with the runtime's keys on each use. Keys are compared
 * by UTF-16 code units (stable, locale-free), the order `sort=key` shows.
 */
export class SeriesIndex {
  private sorted: string[] = [];
  private lower: string[] = [];
  private readonly known = new Set<string>();

  constructor(
    private readonly source: {
      keys(): IterableIterator<string>;
      hasKey(key: string): boolean;
    },
  ) {}

  /** Brings the index up to date with the runtime; returns the sorted keys and their lower-case forms. */
  sync(): { readonly keys: readonly string[]; readonly lower: readonly string[] } {
    const added: string[] = [];
    let count = 0; // counted here: `size` of a tenant's view walks every key again
    for (const k of this.source.keys()) {
      count++;
      if (!this.known.has(k)) added.push(k);
    }
    if (this.known.size + added.length !== count) {
      // Some keys were forgotten (TTL expiry, partitions revoked): drop them.
      const keep: string[] = [];
      const keepLower: string[] = [];
      for (let i = 0; i < this.sorted.length; i++) {
        const k = this.sorted[i] as string;
        if (this.source.hasKey(k)) {
          keep.push(k);
          keepLower.push(this.lower[i] as string);
        } else this.known.delete(k);
      }
      this.sorted = keep;
      this.lower = keepLower;
    }
    if (added.length > 0) {
      added.sort(compare);
      const keys: string[] = new Array<string>(this.sorted.length + added.length);
      const lower: string[] = new Array<string>(keys.length);
      let i = 0;
      let j = 0;
      let o = 0;
      while (i < this.sorted.length || j < added.length) {
        const a = this.sorted[i];
        const b = added[j];
        if (b === undefined || (a !== undefined && a < b)) {
          keys[o] = a as string;
          lower[o++] = this.lower[i++] as string;
        } else {
          keys[o] = b;
          lower[o++] = b.toLowerCase();
          this.known.add(b);
          j++;
        }
      }
      this.sorted = keys;
      this.lower = lower;
    }
    return { keys: this.sorted, lower: this.lower };
  }
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const iso = (ms: number): string => new Date(ms).toISOString();
const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

function stateOf(a: SeriesAlert | undefined): SeriesState {
  if (!a) return 'normal';
  if (a.lifecycle === 'pending') return 'pending';
  return a.silencedBy.length > 0 ? 'silenced' : 'firing';
}

const nullableNumber = { type: ['number', 'null'] } as const;
const alertSchema = {
  type: ['object', 'null'],
  description: 'The open alert of the series, or null',
  properties: {
    fingerprint: { type: 'string' },
    lifecycle: { type: 'string', enum: ['pending', 'firing'] },
    startsAt: { type: 'string', format: 'date-time' },
    silencedBy: { type: 'array', items: { type: 'string' } },
    inhibitedBy: { type: 'array', items: { type: 'string' } },
    flapping: { type: 'boolean' },
  },
} as const;
const statusSchema = {
  type: ['object', 'null'],
  description:
    "The operator's view: lastTs (epoch ms), samples, lastScore, alertState, alertStatus, flapping, silenced",
  additionalProperties: true,
} as const;
const stateSchema = { type: 'string', enum: [...STATES] } as const;

const listSchema = {
  tags: ['series'],
  summary: 'List series',
  description:
    'The series index with server-side search (case-insensitive substring of the series key), ' +
    'state filter, sort and paging. `counts` are per state for the current search.',
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      search: { type: 'string', maxLength: 1000, description: 'substring of the series key' },
      state: { ...stateSchema, description: 'only series in this state' },
      sort: { type: 'string', enum: ['key', 'state'], default: 'key' },
      order: { type: 'string', enum: ['asc', 'desc'], default: 'asc' },
      offset: { type: 'integer', minimum: 0, default: 0 },
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        total: { type: 'integer', description: 'series matching search and state' },
        offset: { type: 'integer' },
        limit: { type: 'integer' },
        counts: {
          type: 'object',
          properties: Object.fromEntries(STATES.map((s) => [s, { type: 'integer' }])),
        },
        items: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              key: { type: 'string' },
              metric: { type: 'string' },
              labels: labelMap,
              state: stateSchema,
              alert: alertSchema,
              status: statusSchema,
            },
          },
        },
      },
    },
    400: errorBody,
  },
};

const detailSchema = {
  tags: ['series'],
  summary: 'One series: chart data, anomalies, alert events, model',
  description:
    "The series' recent points with the model's expected value and band (lower, upper) and " +
    "score; `anomalies` are the points scoring at or above the series' threshold; `events` " +
    'are its alert transitions (firing, resolved) from the alert history, in event time; ' +
    "`periodsMs` are the periods the FFT detected; `model` are the fitted model's facts.",
  querystring: {
    type: 'object',
    additionalProperties: false,
    required: ['key'],
    properties: {
      key: { type: 'string', minLength: 1, description: 'series key, e.g. cpu{host="a"}' },
      points: { type: 'integer', minimum: 1, maximum: 20000, default: 500 },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        key: { type: 'string' },
        metric: { type: 'string' },
        labels: labelMap,
        state: stateSchema,
        alert: alertSchema,
        status: statusSchema,
        threshold: { type: 'number' },
        points: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              ts: { type: 'number', description: 'epoch ms' },
              value: nullableNumber,
              expected: nullableNumber,
              lower: nullableNumber,
              upper: nullableNumber,
              score: nullableNumber,
            },
          },
        },
        anomalies: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              ts: { type: 'number' },
              value: nullableNumber,
              expected: nullableNumber,
              score: nullableNumber,
            },
          },
        },
        events: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['firing', 'resolved'] },
              ts: { type: 'number', description: 'event time, epoch ms' },
              at: { type: 'string', format: 'date-time', description: 'when Vigil recorded it' },
              startsAt: { type: 'string', format: 'date-time' },
              endsAt: { type: 'string', format: 'date-time' },
              score: nullableNumber,
              stage: { type: 'string' },
              flapping: { type: 'boolean' },
            },
          },
        },
        periodsMs: { type: 'array', items: { type: 'number' } },
        periods: { type: 'array', items: { type: 'string' } },
        model: { type: 'object', additionalProperties: true },
      },
    },
    400: errorBody,
    404: errorBody,
  },
};

const configSchema = {
  tags: ['config'],
  summary: 'The running configuration',
  description:
    'The validated configuration Vigil runs with (defaults filled in); every secret ' +
    '(passwords, tokens, webhook secrets, URLs with credentials) is replaced by "<secret>".',
  response: { 200: { type: 'object', additionalProperties: true } },
};

/** Registers the series endpoints on `app`. */
export function registerSeriesApi(app: FastifyInstance, deps: SeriesApiDeps): void {
  const index = new SeriesIndex(deps.runtime);
  const thresholdFor = deps.thresholdFor ?? (() => 0.4);

  /** Open alerts by series key (a handful, even with many series). */
  async function openAlerts(): Promise<Map<string, SeriesAlert>> {
    const out = new Map<string, SeriesAlert>();
    if (deps.alerts) {
      for (const a of deps.alerts.listAlerts()) {
        const key = a.vigil['seriesKey'];
        if (typeof key !== 'string') continue;
        out.set(key, {
          fingerprint: a.fingerprint,
          lifecycle: a.lifecycle,
          startsAt: a.startsAt,
          silencedBy: a.status.silencedBy,
          inhibitedBy: a.status.inhibitedBy,
          flapping: a.flapping,
        });
      }
      return out;
    }
    for (const { result: e } of await deps.runtime.queryAll<AlertEvent>({ kind: 'open-alert' })) {
      if (e.status === 'resolved') continue;
      out.set(e.seriesKey, {
        fingerprint: e.fingerprint,
        lifecycle: e.status,
        startsAt: iso(e.startsAt),
        silencedBy: [],
        inhibitedBy: [],
        flapping: e.flapping,
      });
    }
    return out;
  }

  function describeKey(key: string): { metric: string; labels: Record<string, string> } {
    return parseSeriesKey(key) ?? { metric: key, labels: {} };
  }

  app.get<{
    Querystring: {
      search?: string;
      state?: SeriesState;
      sort?: 'key' | 'state';
      order?: 'asc' | 'desc';
      offset?: number;
      limit?: number;
    };
  }>('/api/v1/series', { schema: listSchema }, async (req) => {
    const { search = '', state, sort = 'key', order = 'asc', offset = 0, limit = 50 } = req.query;
    const needle = search.toLowerCase();
    const { keys, lower } = index.sync();
    const open = await openAlerts();
    const counts: Record<SeriesState, number> = { firing: 0, silenced: 0, pending: 0, normal: 0 };
    const matches = (i: number): boolean => needle === '' || (lower[i] as string).includes(needle);

    // Series with an open alert (few): their states, filtered by the search.
    const openMatched: { key: string; state: SeriesState }[] = [];
    for (const [key, a] of open) {
      if (!deps.runtime.hasKey(key)) continue;
      if (needle !== '' && !key.toLowerCase().includes(needle)) continue;
      const st = stateOf(a);
      counts[st]++;
      openMatched.push({ key, state: st });
    }
    // Every series (one scan): the page in key order, and the count of normal ones.
    const desc = order === 'desc';
    const page: string[] = [];
    let total = 0;
    const wantAll = state === undefined;
    let matchedAll = 0;
    const byKey = sort === 'key';
    for (let n = 0; n < keys.length; n++) {
      const i = desc ? keys.length - 1 - n : n;
      if (!matches(i)) continue;
      matchedAll++;
      if (!byKey) continue;
      const k = keys[i] as string;
      if (!wantAll) {
        const st = stateOf(open.get(k));
        if (st !== state) continue;
      }
      if (total >= offset && page.length < limit) page.push(k);
      total++;
    }
    counts.normal = matchedAll - openMatched.length;
    if (!byKey) {
      // State order: the open alerts by rank then key (few), then the normal series in key
      // order (one more scan, stopped at the page's end); `desc` reverses the whole sequence.
      const ranked = openMatched
        .filter((o) => wantAll || o.state === state)
        .sort((x, y) => RANK[x.state] - RANK[y.state] || compare(x.key, y.key))
        .map((o) => o.key);
      const withNormal = wantAll || state === 'normal';
      total = ranked.length + (withNormal ? counts.normal : 0);
      const normals = function* (): Generator<string> {
        if (!withNormal) return;
        for (let n = 0; n < keys.length; n++) {
          const i = desc ? keys.length - 1 - n : n;
          const k = keys[i] as string;
          if (matches(i) && !open.has(k)) yield k;
        }
      };
      const sequence = desc ? [normals(), ranked.reverse()] : [ranked, normals()];
      let skip = offset;
      outer: for (const part of sequence) {
        for (const k of part) {
          if (page.length >= limit) break outer;
          if (skip > 0) skip--;
          else page.push(k);
        }
      }
    }
    const items = await Promise.all(
      page.map(async (key) => {
        const a = open.get(key);
        return {
          key,
          ...describeKey(key),
          state: stateOf(a),
          alert: a ?? null,
          status: (await deps.runtime.query<SeriesStatus>(key, { kind: 'status' })) ?? null,
        };
      }),
    );
    return { total, offset, limit, counts, items };
  });

  app.get<{ Querystring: { key: string; points?: number } }>(
    '/api/v1/series/detail',
    { schema: detailSchema },
    async (req) => {
      const key = req.query.key;
      const d = await deps.runtime.query<{
        points: readonly {
          ts: number;
          value: number;
          expected: number;
          lower: number;
          upper: number;
          score: number;
        }[];
        periodsMs: readonly number[];
        model: Record<string, unknown>;
        status: SeriesStatus;
      }>(key, { kind: 'describe', maxPoints: req.query.points ?? 500 });
      if (d === undefined) throw new NotFound(`no series ${JSON.stringify(key)}`);
      const { metric, labels } = describeKey(key);
      const alertLabelSet = alertLabels(metric, labels);
      const threshold = thresholdFor(alertLabelSet);
      const open = deps.alerts ? (await openAlerts()).get(key) : undefined;
      const points = d.points.map((p) => ({
        ts: p.ts,
        value: finite(p.value),
        expected: finite(p.expected),
        lower: finite(p.lower),
        upper: finite(p.upper),
        score: finite(p.score),
      }));
      const anomalies = d.points
        .filter((p) => p.score >= threshold)
        .map((p) => ({ ts: p.ts, value: finite(p.value), expected: finite(p.expected), score: p.score }));
      const fp = fingerprint(alertLabelSet);
      const events = (deps.alerts?.history({ fingerprint: fp, limit: 1000 }) ?? [])
        .map((h) => ({
          status: h.status,
          ts: Date.parse(h.status === 'resolved' && h.endsAt ? h.endsAt : h.startsAt),
          at: h.at,
          startsAt: h.startsAt,
          ...(h.endsAt ? { endsAt: h.endsAt } : {}),
          score: h.score,
          stage: h.stage,
          flapping: h.flapping,
        }))
        .reverse(); // oldest first
      return {
        key,
        metric,
        labels,
        state: stateOf(open),
        alert: open ?? null,
        status: d.status,
        threshold,
        points,
        anomalies,
        events,
        periodsMs: d.periodsMs,
        periods: d.periodsMs.map(formatDuration),
        model: d.model,
      };
    },
  );

  app.get('/api/v1/config', { schema: configSchema }, () => deps.config());
}
