/**
 * The HTTP API reference: an OpenAPI 3 document GENERATED from the fastify route schemas by
 * `@fastify/swagger` (dynamic mode: it records every route through an `onRoute` hook, so
 * {@link registerOpenApi} must run before any route is added), served as
 * `GET /api/openapi.json`, with a readable page at `GET /api/docs` (the console renders the
 * document; no external assets).
 *
 * Every route must carry `tags`, `summary` and `description` in its schema. Routes registered
 * by modules whose schemas carry no such metadata (ingest protocols, health, metrics) get it here,
 * from {@link ROUTE_DOCS}, in an `onRoute` hook that runs before swagger records the route. The
 * test in test/console/openapi.test.ts fails for any route without it.
 */
import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import type { FastifyInstance, RouteOptions } from 'fastify';

/** Tags, in the order the reference shows them. */
export const API_TAGS: readonly { name: string; description: string }[] = [
  {
    name: 'ingest',
    description: 'Send samples: JSON, Prometheus remote write, OTLP/HTTP, Influx line protocol',
  },
  {
    name: 'series',
    description: 'The series index and one series: actual vs expected band, anomalies, model',
  },
  { name: 'alerts', description: 'Open alerts and alert history' },
  { name: 'silences', description: 'Silences (Alertmanager v2 shapes; /api/v2 aliases for amtool)' },
  { name: 'notifications', description: 'The delivery log: every notification and its attempts' },
  { name: 'config', description: 'The running configuration, secrets redacted' },
  { name: 'operations', description: 'Health, readiness, self-metrics and this reference' },
];

/** Metadata for routes whose schema has none: `METHOD url` → tags, summary, description, consumes. */
export const ROUTE_DOCS: Readonly<
  Record<string, { tags: string[]; summary: string; description: string; consumes?: string[] }>
> = {
  'POST /api/v1/samples': {
    tags: ['ingest'],
    summary: 'Ingest samples (JSON)',
    description:
      'Body `{"samples":[{"metric","labels","ts","value"}]}` (ts in epoch ms). Answers ' +
      '`{accepted, duplicates, rejected:[{index, code, reason}]}`; 400 when every sample is refused, ' +
      '503 with Retry-After when a worker queue is full or the write-ahead log is not writable.',
    consumes: ['application/json'],
  },
  'POST /api/v1/write': {
    tags: ['ingest'],
    summary: 'Prometheus remote write 1.0',
    description:
      'Snappy-compressed protobuf `WriteRequest` (Content-Type application/x-protobuf, ' +
      'Content-Encoding snappy), as Prometheus `remote_write` sends it.',
    consumes: ['application/x-protobuf'],
  },
  'POST /v1/metrics': {
    tags: ['ingest'],
    summary: 'OTLP/HTTP metrics',
    description:
      'OpenTelemetry `ExportMetricsServiceRequest`, protobuf (application/x-protobuf) or JSON ' +
      '(application/json), optionally gzip-compressed. Gauges and sums become series.',
    consumes: ['application/x-protobuf', 'application/json'],
  },
  'POST /api/v2/write': {
    tags: ['ingest'],
    summary: 'Influx line protocol (v2 API)',
    description:
      'Line protocol body; `precision` query parameter (ns, us, ms, s). Each field becomes a series.',
    consumes: ['text/plain'],
  },
  'POST /write': {
    tags: ['ingest'],
    summary: 'Influx line protocol (v1 API)',
    description:
      'Line protocol body; `precision` query parameter (n, u, ms, s). Each field becomes a series.',
    consumes: ['text/plain'],
  },
  'GET /api/v1/alerts': {
    tags: ['alerts'],
    summary: 'Open alerts',
    description:
      'Pending and firing alerts (Alertmanager v2 `gettableAlert` plus `lifecycle`, `flapping` and the ' +
      '`vigil` explanation: actual, expected, band, score, stage, periods). `filter` takes label matchers.',
  },
  'GET /api/v1/alerts/history': {
    tags: ['alerts'],
    summary: 'Alert history',
    description: 'Firing and resolved transitions, newest first.',
  },
  'GET /api/v1/silences': {
    tags: ['silences'],
    summary: 'List silences',
    description: 'Silences (`gettableSilence` plus `source`: api or config), active first.',
  },
  'GET /api/v2/silences': {
    tags: ['silences'],
    summary: 'List silences (Alertmanager v2 alias)',
    description: 'Same as GET /api/v1/silences, for Alertmanager clients such as amtool.',
  },
  'POST /api/v1/silences': {
    tags: ['silences'],
    summary: 'Create or update a silence',
    description:
      'Alertmanager `postableSilence`; with `id`, updates that silence (an expired one is replaced by a ' +
      'new one). Answers `{silenceID}`.',
  },
  'POST /api/v2/silences': {
    tags: ['silences'],
    summary: 'Create or update a silence (Alertmanager v2 alias)',
    description: 'Same as POST /api/v1/silences.',
  },
  'GET /api/v1/silences/:id': {
    tags: ['silences'],
    summary: 'One silence',
    description: 'The silence with this id.',
  },
  'GET /api/v2/silence/:id': {
    tags: ['silences'],
    summary: 'One silence (Alertmanager v2 alias)',
    description: 'Same as GET /api/v1/silences/{id}.',
  },
  'DELETE /api/v1/silences/:id': {
    tags: ['silences'],
    summary: 'Expire a silence',
    description:
      'Ends the silence now and returns it. Silences from the config file cannot be expired (409).',
  },
  'DELETE /api/v2/silence/:id': {
    tags: ['silences'],
    summary: 'Expire a silence (Alertmanager v2 alias)',
    description: 'Same as DELETE /api/v1/silences/{id}.',
  },
  'GET /api/v1/notifications': {
    tags: ['notifications'],
    summary: 'Delivery log',
    description:
      'Notifications, newest first: pending and retrying ones from the outbox, then finished ones ' +
      '(delivered, failed), each with every attempt.',
  },
  'GET /healthz': {
    tags: ['operations'],
    summary: 'Liveness',
    description: 'Always 200 `{"status":"ok"}` while the process serves HTTP.',
  },
  'GET /readyz': {
    tags: ['operations'],
    summary: 'Readiness',
    description:
      '200 once state is recovered and the write-ahead log is writable; 503 with a reason otherwise.',
  },
  'GET /metrics': {
    tags: ['operations'],
    summary: 'Prometheus self-metrics',
    description:
      'Prometheus text exposition: samples accepted/rejected, worker queues and lag, series, ' +
      'refits, alerts by state, notifications, Kafka consumer lag. See README "Self-monitoring".',
  },
};

const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Every route each app registered after {@link registerOpenApi} (method, fastify URL). */
const SEEN = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

/** The routes `app` registered after {@link registerOpenApi} ran, HEAD included (for tests). */
export function registeredRoutes(app: FastifyInstance): readonly { method: string; url: string }[] {
  return SEEN.get(app) ?? [];
}

export interface OpenApiOptions {
  /** Base URL written into `servers` (e.g. the configured external URL). @defaultValue none (relative) */
  readonly serverUrl?: string;
}

/**
 * Installs the route recorder. Call it on a fresh app, before any route is added (routes added
 * earlier are missing from the document). Adds `GET /api/openapi.json` and `GET /api/docs`.
 */
export async function registerOpenApi(app: FastifyInstance, opts: OpenApiOptions = {}): Promise<void> {
  // Runs before swagger's own onRoute hook (registered just below), so swagger records the
  // completed schema.
  const seen: { method: string; url: string }[] = [];
  SEEN.set(app, seen);
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const m of methods) seen.push({ method: m, url: route.url });
    const docs = ROUTE_DOCS[`${methods[0] ?? ''} ${route.url}`];
    if (!docs) return;
    const schema = (route.schema ?? {}) as Record<string, unknown>;
    route.schema = {
      ...schema,
      tags: (schema['tags'] as string[] | undefined) ?? docs.tags,
      summary: (schema['summary'] as string | undefined) ?? docs.summary,
      description: (schema['description'] as string | undefined) ?? docs.description,
      ...(docs.consumes && !schema['consumes'] ? { consumes: docs.consumes } : {}),
    };
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Vigil HTTP API',
        version: PACKAGE_VERSION,
        description:
          'Time-series anomaly alerting. Errors are `{"error":{"code","message"}}`; 503 and 429 carry ' +
          'Retry-After. Generated from the route schemas of this Vigil.',
      },
      ...(opts.serverUrl ? { servers: [{ url: opts.serverUrl }] } : {}),
      tags: API_TAGS.map((t) => ({ ...t })),
    },
  });
  app.get(
    '/api/openapi.json',
    {
      schema: {
        tags: ['operations'],
        summary: 'This API reference (OpenAPI 3)',
        description: 'The OpenAPI 3.0 document generated from the route schemas.',
        response: { 200: { type: 'object', additionalProperties: true } },
      },
    },
    () => app.swagger(),
  );
  app.get(
    '/api/docs',
    {
      schema: {
        tags: ['operations'],
        summary: 'API reference page',
        description: 'Redirects to the console page that renders /api/openapi.json.',
        response: { 302: { type: 'null', description: 'redirect to /console/#/api' } },
      },
    },
    (_req, reply) => reply.redirect('/console/#/api', 302),
  );
}
