/**
 * Series endpoints: the series index with server-side search and paging, one series' recent
 * history with the model's expected band, and the running config with secrets redacted.
 *
 * - `GET /api/v1/series?search=&offset=0&limit=50` → `{ total, offset, items: [{ key, status }] }`
 * - `GET /api/v1/series/detail?key=<series key>&points=500` → `{ key, points, periodsMs, model, status }`
 * - `GET /api/v1/config` → the running config, secrets as "<secret>"
 */
import type { FastifyInstance } from 'fastify';
import type { KeyedRuntime } from '../../keyed-runtime/index.js';
import type { AnomalyOutput, SeriesStatus } from '../../operators/anomaly-operator.js';

export interface SeriesApiDeps {
  readonly runtime: KeyedRuntime<AnomalyOutput>;
  readonly config: () => unknown;
}

class NotFound extends Error {
  readonly statusCode = 404;
  readonly code = 'SERIES_NOT_FOUND';
}

export function registerSeriesApi(app: FastifyInstance, deps: SeriesApiDeps): void {
  app.get<{ Querystring: { search?: string; offset?: number; limit?: number } }>(
    '/api/v1/series',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            search: { type: 'string', maxLength: 1000 },
            offset: { type: 'integer', minimum: 0, default: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
          },
        },
      },
    },
    async (req) => {
      const { search = '', offset = 0, limit = 50 } = req.query;
      const needle = search.toLowerCase();
      const page: string[] = [];
      let total = 0;
      for (const key of deps.runtime.keys()) {
        if (needle && !key.toLowerCase().includes(needle)) continue;
        if (total >= offset && page.length < limit) page.push(key);
        total++;
      }
      const items = await Promise.all(
        page.map(async (key) => ({
          key,
          status: (await deps.runtime.query<SeriesStatus>(key, { kind: 'status' })) ?? null,
        })),
      );
      return { total, offset, items };
    },
  );

  app.get<{ Querystring: { key: string; points?: number } }>(
    '/api/v1/series/detail',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['key'],
          properties: {
            key: { type: 'string', minLength: 1 },
            points: { type: 'integer', minimum: 1, maximum: 20000, default: 500 },
          },
        },
      },
    },
    async (req) => {
      const d = await deps.runtime.query(req.query.key, {
        kind: 'describe',
        maxPoints: req.query.points ?? 500,
      });
      if (d === undefined) throw new NotFound(`no series ${JSON.stringify(req.query.key)}`);
      return { key: req.query.key, ...(d as object) };
    },
  );

  app.get('/api/v1/config', () => deps.config());
}
