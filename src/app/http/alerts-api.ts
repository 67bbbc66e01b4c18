/**
 * Alerting endpoints (fastify plugin), in Alertmanager's v2 shapes where Alertmanager has one:
 *
 * - `GET /api/v1/alerts?state=&silenced=&inhibited=&receiver=&filter=` → open alerts (pending
 *   and firing) with `status: { state, silencedBy, inhibitedBy, mutedBy }`, `flapping` and the
 *   `vigil` explanation. `filter` takes matchers (`filter=service="api"`, repeatable).
 * - `GET /api/v1/alerts/history?fingerprint=&alertname=&since=&limit=` → `{ entries }`, firing
 *   and resolved transitions, newest first.
 * - `GET /api/v1/silences?state=&filter=` → silences (`gettableSilence`, plus `source`).
 * - `POST /api/v1/silences` with Alertmanager's `postableSilence`
 *   `{ matchers: [{ name, value, isRegex, isEqual }], startsAt, endsAt, createdBy, comment, id? }`
 *   → `{ silenceID }` (with `id`: updates that silence).
 * - `GET /api/v1/silences/:id` → one silence; `DELETE /api/v1/silences/:id` expires it now and
 *   returns it.
 * - `GET /api/v1/notifications?receiver=&status=&group_key=&limit=` → `{ notifications }`, the
 *   delivery log (pending and retrying from the outbox, then finished), with every attempt.
 *
 * Aliases for Alertmanager clients (amtool silence add/query/expire): `GET|POST /api/v2/silences`,
 * `GET|DELETE /api/v2/silence/:id`.
 *
 * Errors are thrown typed (`statusCode` + `code`) and rendered by the app's error handler as
 * `{ error: { code, message } }`.
 */
import type { FastifyInstance } from 'fastify';
import {
  parseMatchers,
  type AlertDispatcher,
  type AlertQuery,
  type MatcherSpec,
  type NotificationQuery,
  type SilenceBody,
  type SilenceState,
} from '../../alerts/index.js';
import { errorBody, labelMap } from './schemas.js';

export interface AlertsApiDeps {
  readonly dispatcher: AlertDispatcher;
}

class BadFilter extends Error {
  readonly statusCode = 400;
  readonly code = 'ALERTS_BAD_FILTER';
}

function filterOf(raw: string | readonly string[] | undefined): MatcherSpec[] {
  if (raw === undefined) return [];
  try {
    return parseMatchers(typeof raw === 'string' ? [raw] : raw);
  } catch (err) {
    throw new BadFilter(`invalid filter: ${(err as Error).message}`);
  }
}

const isoTime = { type: 'string', format: 'date-time' } as const;
const filterParam = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 1000 },
  maxItems: 20,
  description: 'label matchers, e.g. service="api" (repeatable)',
} as const;
const apiMatcher = {
  type: 'object',
  required: ['name', 'value', 'isRegex'],
  properties: {
    name: { type: 'string', minLength: 1 },
    value: { type: 'string' },
    isRegex: { type: 'boolean' },
    isEqual: { type: 'boolean', default: true },
  },
} as const;

const alertSchema = {
  type: 'object',
  properties: {
    fingerprint: { type: 'string' },
    labels: labelMap,
    annotations: labelMap,
    startsAt: isoTime,
    updatedAt: isoTime,
    endsAt: { type: ['string', 'null'] },
    generatorURL: { type: 'string' },
    status: {
      type: 'object',
      properties: {
        state: { type: 'string', enum: ['pending', 'active', 'suppressed'] },
        silencedBy: { type: 'array', items: { type: 'string' } },
        inhibitedBy: { type: 'array', items: { type: 'string' } },
        mutedBy: { type: 'array', items: { type: 'string' } },
      },
    },
    lifecycle: { type: 'string', enum: ['pending', 'firing'] },
    flapping: { type: 'boolean' },
    receivers: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
    vigil: {
      type: 'object',
      description:
        'actual, expected, lower, upper, bandCoverage, score, stage, periodsMs, periods, seriesKey, observedAt',
      additionalProperties: true,
    },
  },
} as const;

const silenceSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    matchers: { type: 'array', items: apiMatcher },
    startsAt: isoTime,
    endsAt: isoTime,
    updatedAt: isoTime,
    createdBy: { type: 'string' },
    comment: { type: 'string' },
    status: {
      type: 'object',
      properties: { state: { type: 'string', enum: ['pending', 'active', 'expired'] } },
    },
    source: { type: 'string', enum: ['api', 'config'] },
    timeIntervals: { type: 'array', items: { type: 'string' } },
  },
} as const;

const historySchema = {
  type: 'object',
  properties: {
    fingerprint: { type: 'string' },
    alertname: { type: 'string' },
    labels: labelMap,
    status: { type: 'string', enum: ['firing', 'resolved'] },
    at: isoTime,
    startsAt: isoTime,
    endsAt: isoTime,
    flapping: { type: 'boolean' },
    seriesKey: { type: 'string' },
    actual: { type: ['number', 'null'] },
    expected: { type: ['number', 'null'] },
    lower: { type: ['number', 'null'] },
    upper: { type: ['number', 'null'] },
    score: { type: ['number', 'null'] },
    stage: { type: 'string' },
  },
} as const;

const notificationSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    idempotencyKey: { type: 'string' },
    receiver: { type: 'string' },
    integration: { type: 'string' },
    integrationType: { type: 'string', enum: ['webhook', 'email', 'alertmanager', 'log'] },
    target: { type: 'string' },
    groupKey: { type: 'string' },
    reason: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'retrying', 'delivered', 'failed'] },
    failureReason: { type: 'string' },
    createdAt: isoTime,
    finishedAt: isoTime,
    nextAttemptAt: isoTime,
    attemptCount: { type: 'integer' },
    alerts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          fingerprint: { type: 'string' },
          alertname: { type: 'string' },
          status: { type: 'string' },
          startsAt: isoTime,
          endsAt: isoTime,
        },
      },
    },
    attempts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          at: isoTime,
          durationMs: { type: 'number' },
          ok: { type: 'boolean' },
          retryable: { type: 'boolean' },
          reason: { type: 'string' },
          statusCode: { type: 'integer' },
          error: { type: 'string' },
        },
      },
    },
  },
} as const;

const postableSilence = {
  type: 'object',
  additionalProperties: false,
  required: ['matchers', 'startsAt', 'endsAt', 'createdBy', 'comment'],
  properties: {
    id: { type: 'string', maxLength: 100 },
    matchers: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: { ...apiMatcher, additionalProperties: false },
    },
    startsAt: isoTime,
    endsAt: isoTime,
    createdBy: { type: 'string', minLength: 1, maxLength: 200 },
    comment: { type: 'string', maxLength: 10_000 },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

/** Registers the alerting endpoints on `app`. */
export function registerAlertsApi(app: FastifyInstance, deps: AlertsApiDeps): void {
  const d = deps.dispatcher;

  app.get<{
    Querystring: {
      state?: AlertQuery['state'];
      silenced?: boolean;
      inhibited?: boolean;
      receiver?: string;
      filter?: string[];
    };
  }>(
    '/api/v1/alerts',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            state: { type: 'string', enum: ['pending', 'firing', 'active', 'suppressed'] },
            silenced: { type: 'boolean' },
            inhibited: { type: 'boolean' },
            receiver: { type: 'string', minLength: 1 },
            filter: filterParam,
          },
        },
        response: { 200: { type: 'array', items: alertSchema }, 400: errorBody },
      },
    },
    (req) => {
      const q = req.query;
      return d.listAlerts({
        ...(q.state ? { state: q.state } : {}),
        ...(q.silenced !== undefined ? { silenced: q.silenced } : {}),
        ...(q.inhibited !== undefined ? { inhibited: q.inhibited } : {}),
        ...(q.receiver ? { receiver: q.receiver } : {}),
        filter: filterOf(q.filter),
      });
    },
  );

  app.get<{ Querystring: { fingerprint?: string; alertname?: string; since?: string; limit?: number } }>(
    '/api/v1/alerts/history',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            fingerprint: { type: 'string', pattern: '^[0-9a-f]{16}$' },
            alertname: { type: 'string', minLength: 1 },
            since: isoTime,
            limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 },
          },
        },
        response: {
          200: { type: 'object', properties: { entries: { type: 'array', items: historySchema } } },
          400: errorBody,
        },
      },
    },
    (req) => {
      const q = req.query;
      return {
        entries: d.history({
          ...(q.fingerprint ? { fingerprint: q.fingerprint } : {}),
          ...(q.alertname ? { alertname: q.alertname } : {}),
          ...(q.since ? { sinceMs: Date.parse(q.since) } : {}),
          limit: q.limit ?? 100,
        }),
      };
    },
  );

  const listSilences = {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          state: { type: 'string', enum: ['pending', 'active', 'expired'] },
          filter: filterParam,
        },
      },
      response: { 200: { type: 'array', items: silenceSchema }, 400: errorBody },
    },
  };
  const listHandler = (req: { query: { state?: SilenceState; filter?: string[] } }) =>
    d.listSilences({
      ...(req.query.state ? { state: req.query.state } : {}),
      filter: filterOf(req.query.filter),
    });
  app.get<{ Querystring: { state?: SilenceState; filter?: string[] } }>(
    '/api/v1/silences',
    listSilences,
    listHandler,
  );
  app.get<{ Querystring: { state?: SilenceState; filter?: string[] } }>(
    '/api/v2/silences',
    listSilences,
    listHandler,
  );

  const postSilence = {
    schema: {
      body: postableSilence,
      response: {
        200: { type: 'object', properties: { silenceID: { type: 'string' } } },
        400: errorBody,
        404: errorBody,
        409: errorBody,
      },
    },
  };
  const postHandler = (req: { body: SilenceBody }) => d.createSilence(req.body);
  app.post<{ Body: SilenceBody }>('/api/v1/silences', postSilence, postHandler);
  app.post<{ Body: SilenceBody }>('/api/v2/silences', postSilence, postHandler);

  const getSilence = {
    schema: { params: idParams, response: { 200: silenceSchema, 404: errorBody } },
  };
  const getHandler = (req: { params: { id: string } }) => d.getSilence(req.params.id);
  app.get<{ Params: { id: string } }>('/api/v1/silences/:id', getSilence, getHandler);
  app.get<{ Params: { id: string } }>('/api/v2/silence/:id', getSilence, getHandler);

  const deleteSilence = {
    schema: {
      params: idParams,
      response: { 200: silenceSchema, 404: errorBody, 409: errorBody },
    },
  };
  const deleteHandler = async (req: { params: { id: string } }) => {
    await d.expireSilence(req.params.id);
    return d.getSilence(req.params.id);
  };
  app.delete<{ Params: { id: string } }>('/api/v1/silences/:id', deleteSilence, deleteHandler);
  app.delete<{ Params: { id: string } }>('/api/v2/silence/:id', deleteSilence, deleteHandler);

  app.get<{
    Querystring: {
      receiver?: string;
      status?: NotificationQuery['status'];
      group_key?: string;
      limit?: number;
    };
  }>(
    '/api/v1/notifications',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            receiver: { type: 'string', minLength: 1 },
            status: { type: 'string', enum: ['pending', 'retrying', 'delivered', 'failed'] },
            group_key: { type: 'string', minLength: 1 },
            limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { notifications: { type: 'array', items: notificationSchema } },
          },
          400: errorBody,
        },
      },
    },
    (req) => {
      const q = req.query;
      return {
        notifications: d.notifications({
          ...(q.receiver ? { receiver: q.receiver } : {}),
          ...(q.status ? { status: q.status } : {}),
          ...(q.group_key ? { groupKey: q.group_key } : {}),
          limit: q.limit ?? 100,
        }),
      };
    },
  );
}
