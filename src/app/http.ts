/**
 * The HTTP server: fastify with every route Vigil serves, and the ONE place that turns errors
 * into responses (`setErrorHandler`): typed errors keep their code and status, fastify's body
 * errors become ingest codes, anything unknown becomes 500 INTERNAL without details.
 *
 * Error body: `{"error":{"code":"INGEST_BAD_JSON","message":"..."}}`; 503/429 carry Retry-After;
 * 401 carries WWW-Authenticate. No response or log line ever holds a token, a token hash or the
 * Authorization header (pino redaction in logger.ts; error messages name tokens by their name).
 *
 * Security (src/app/auth): HTTPS with `server.tls`; CORS closed unless `server.cors` lists
 * origins; with `server.auth.tokens` every endpoint checks the token's scope and tenant and the
 * token's request rate; ingest goes through the tenant sink (tenant label, series limit); the
 * alerts and series endpoints are registered once per tenant over narrowed views, and a tenant
 * token is routed to its own copy.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyHttpsOptions,
  type FastifyInstance,
  type FastifyServerOptions,
} from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import { Counter } from 'prom-client';
import type { AlertDispatcher, AlertEvent } from '../alerts/index.js';
import {
  IngestError,
  registerInflux,
  registerJsonIngest,
  registerOtlp,
  registerRemoteWrite,
  type IngestSource,
  type SampleLimits,
  type SampleSink,
} from '../ingest/index.js';
import { durationMs } from '../common/index.js';
import type { KeyedRuntime } from '../keyed-runtime/index.js';
import type { AnomalyOutput } from '../operators/anomaly-operator.js';
import { AuthError } from './auth/errors.js';
import { challengeFor, createHttpAuth, markTenantRoutes, type HttpAuth } from './auth/http-auth.js';
import { createTenantSink, type TenantSink } from './auth/tenant-sink.js';
import { KeyTenants, tenantDispatcher, tenantRuntime } from './auth/tenant-views.js';
import type { VigilConfig } from './config.js';
import { registerAlertsApi } from './http/alerts-api.js';
import { registerSeriesApi } from './http/series-api.js';
import type { Logger } from './logger.js';
import type { VigilMetrics } from './metrics.js';
import { registerOpenApi } from './openapi.js';

export interface HttpDeps {
  readonly config: VigilConfig;
  readonly logger: Logger;
  readonly metrics: VigilMetrics;
  readonly sink: SampleSink;
  /** Readiness: recovered, WAL writable. */
  readonly ready: () => { ready: boolean; reason?: string };
  /**
   * The alerts and series endpoints' dependencies. http.ts registers those endpoints itself:
   * once for cross-tenant callers and once per configured tenant over views narrowed to it.
   */
  readonly api?: {
    readonly dispatcher: AlertDispatcher;
    readonly runtime: KeyedRuntime<AnomalyOutput>;
    /** The running config with secrets redacted. */
    readonly config: () => unknown;
    readonly thresholdFor?: (labels: Readonly<Record<string, string>>) => number;
  };
  /** Where the series-limit alert goes (the dispatcher's `receive`). */
  readonly onAlertEvents?: (events: readonly AlertEvent[]) => void;
  /**
   * Extra route registrations (console, ...) run before listen. They must not expose
   * per-tenant data: tenant tokens may call only the routes listed in auth/http-auth.ts.
   */
  readonly plugins?: readonly ((app: FastifyInstance) => void | Promise<void>)[];
  readonly now?: () => number;
}

/** What {@link buildHttpApp} adds to the fastify instance's lifetime. */
export interface VigilHttpApp {
  readonly app: FastifyInstance;
  readonly auth: HttpAuth;
  readonly sink: TenantSink;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

/** fastify error codes for malformed requests → our codes. */
const FASTIFY_CODES: Readonly<Record<string, { status: number; code: string }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'INGEST_BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INGEST_BAD_JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INGEST_BAD_JSON' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'INGEST_UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INGEST_BAD_REQUEST' },
  FST_ERR_VALIDATION: { status: 400, code: 'BAD_REQUEST' },
};

/** Limits every ingest protocol shares. */
export function sampleLimits(config: VigilConfig): SampleLimits {
  const h = config.ingest.http;
  return {
    maxLabelsPerSeries: h.max_labels_per_series,
    maxNameLength: h.max_name_length,
    maxLabelValueLength: h.max_label_value_length,
    maxFutureSkewMs: durationMs(h.max_future_skew),
  };
}

export async function buildHttpApp(deps: HttpDeps): Promise<FastifyInstance> {
  return (await buildVigilHttp(deps)).app;
}

/** Builds the app and returns it with its auth and ingest sink (tests look at both). */
export async function buildVigilHttp(deps: HttpDeps): Promise<VigilHttpApp> {
  const cfg = deps.config;
  const server = cfg.server;
  // Typed as fastify's logger so the instance is a plain FastifyInstance (pino's own type
  // would make fastify infer a different instance type than the route plugins take).
  const httpLogger: FastifyBaseLogger = deps.logger.child({ module: 'http' });
  const refused = counter(deps.metrics, {
    name: 'vigil_http_auth_refused_total',
    help: 'Requests refused by authentication, authorisation or the per-token rate limit, by code.',
    labelNames: ['code'],
  });
  const auth = createHttpAuth({
    auth: server.auth,
    limits: cfg.limits,
    cors: server.cors,
    onRefused: (code) => refused.inc({ code }),
    ...(deps.now ? { now: deps.now } : {}),
  });
  const base: FastifyServerOptions = {
    loggerInstance: httpLogger,
    // No per-request log lines (they would be per sample batch at info); refusals are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: server.body_limit_bytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    forceCloseConnections: 'idle',
    ...(auth.tenants.length > 0 ? { routerOptions: { constraints: { tenant: auth.constraint } } } : {}),
  };
  const tls = server.tls;
  // With TLS fastify's instance is typed over an https server; the routes do not care.
  const app = (tls
    ? Fastify({
        ...(base as FastifyHttpsOptions<HttpsServer, FastifyBaseLogger>),
        https: {
          cert: readTlsFile('cert_file', tls.cert_file),
          key: readTlsFile('key_file', tls.key_file),
          minVersion: tls.min_version,
        },
      })
    : Fastify(base)) as unknown as FastifyInstance;
  warnAboutExposure(cfg, auth, httpLogger);

  // First: the OpenAPI document is generated from the schemas of the routes added after this.
  await registerOpenApi(app, server.external_url ? { serverUrl: server.external_url } : {});
  // Before any route: hooks and the CORS preflight route.
  auth.install(app);

  // Bodies are validated strictly (no type coercion, nothing removed); querystrings, params and
  // headers are text on the wire, so their numbers and booleans are coerced.
  const strictAjv = new Ajv({
    coerceTypes: false,
    removeAdditional: false,
    allErrors: true,
    useDefaults: true,
    strict: false,
  });
  const textAjv = new Ajv({
    coerceTypes: 'array',
    removeAdditional: false,
    allErrors: true,
    useDefaults: true,
    strict: false,
  });
  // `date-time` is documentation here (the handlers parse times themselves): known, not checked.
  for (const a of [strictAjv, textAjv]) {
    a.addKeyword({ keyword: 'example' });
    a.addFormat('date-time', true);
  }
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strictAjv : textAjv).compile(schema),
  );

  app.setErrorHandler((err: FastifyError | IngestError | AuthError | Error, req, reply) => {
    if (err instanceof AuthError) {
      if (err.statusCode === 401) void reply.header('www-authenticate', challengeFor(req.url));
      if (err.retryAfterSeconds !== undefined)
        void reply.header('retry-after', String(err.retryAfterSeconds));
      req.log.debug({ err: { code: err.code, message: err.message } }, 'request refused');
      return reply.code(err.statusCode).send({ error: { code: err.code, message: err.message } });
    }
    if (err instanceof IngestError) {
      if (err.details.retryAfterSeconds !== undefined)
        void reply.header('retry-after', String(err.details.retryAfterSeconds));
      if (err.statusCode >= 500) logUnavailable(req.log, err);
      return reply.code(err.statusCode).send({ error: { code: err.code, message: err.message } });
    }
    const fe = err as FastifyError;
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped) {
      let message = fe.message;
      if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
        message = `request body is larger than ${server.body_limit_bytes} bytes`;
      if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
        message = `body is not valid JSON: ${fe.message}`;
      return reply.code(mapped.status).send({ error: { code: mapped.code, message } });
    }
    const coded = err as Error & { statusCode?: number; code?: string };
    if (
      typeof coded.statusCode === 'number' &&
      coded.statusCode >= 400 &&
      (coded.statusCode < 500 || coded.statusCode === 503)
    ) {
      // A typed 4xx (or 503 "not now") from another module (alerts API, console): its code and message.
      return reply
        .code(coded.statusCode)
        .send({ error: { code: coded.code ?? 'BAD_REQUEST', message: coded.message } });
    }
    if (coded.name === 'SyntaxError') {
      return reply
        .code(400)
        .send({ error: { code: 'INGEST_BAD_JSON', message: `body is not valid JSON: ${coded.message}` } });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
  });
  /**
   * 503s come in floods (every client retries while the disk is full or a queue is full): one
   * warning per code per 10 s, with the number of refusals not logged in between; the rest at debug.
   */
  const warned = new Map<string, { at: number; suppressed: number }>();
  function logUnavailable(log: FastifyBaseLogger, err: IngestError): void {
    const now = Date.now();
    const w = warned.get(err.code);
    if (w && now - w.at < 10_000) {
      w.suppressed++;
      log.debug({ err }, 'request refused');
      return;
    }
    warned.set(err.code, { at: now, suppressed: 0 });
    log.warn({ err, suppressedSinceLast: w?.suppressed ?? 0 }, 'request refused');
  }

  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } }),
  );

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', (_req, reply) => {
    const r = deps.ready();
    return reply
      .code(r.ready ? 200 : 503)
      .send(r.ready ? { status: 'ready' } : { status: 'not ready', reason: r.reason });
  });
  app.get('/metrics', async (_req, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  const limitRefused = counter(deps.metrics, {
    name: 'vigil_series_limit_refused_samples_total',
    help: 'Samples of new series refused because their tenant reached limits.max_series_per_tenant.',
    labelNames: ['tenant'],
  });
  const sink = createTenantSink({
    inner: deps.sink,
    tenantLabel: server.auth.tenant_label,
    currentTenant: () => auth.currentTenant(),
    maxSeriesPerTenant: cfg.limits.max_series_per_tenant,
    resolveAfterMs: durationMs(cfg.limits.series_limit_resolve_after),
    ...(deps.onAlertEvents ? { onAlertEvents: deps.onAlertEvents } : {}),
    onLimited: (tenant, n) => {
      limitRefused.inc({ tenant }, n);
      httpLogger.debug({ tenant, refused: n }, 'series limit: samples of new series refused');
    },
    ...(deps.now ? { now: deps.now } : {}),
  });
  // The limit is counted where series are created: in the runtime that owns them.
  if (sink.limiter && deps.api) deps.api.runtime.setSeriesLimiter(sink.limiter);
  app.addHook('onClose', () => {
    if (sink.limiter && deps.api) deps.api.runtime.setSeriesLimiter(undefined);
    sink.close();
  });

  if (cfg.ingest.http.enabled) {
    const ingestDeps = {
      sink,
      limits: sampleLimits(deps.config),
      maxSamplesPerRequest: deps.config.ingest.http.max_samples_per_request,
      now: deps.now ?? Date.now,
      onDecodeRejected: (source: IngestSource, rejected: readonly { readonly code: string }[]) => {
        for (const r of rejected) deps.metrics.samplesRejected.inc({ source, reason: r.code });
      },
    };
    registerJsonIngest(app, ingestDeps); // POST /api/v1/samples
    registerRemoteWrite(app, ingestDeps); // POST /api/v1/write (Prometheus remote write 1.0)
    registerOtlp(app, ingestDeps); // POST /v1/metrics (OTLP/HTTP, protobuf and JSON)
    registerInflux(app, ingestDeps); // POST /api/v2/write and /write (Influx line protocol)
  }
  if (deps.api) await registerTenantApis(app, deps.api, auth, server.auth.tenant_label);
  for (const p of deps.plugins ?? []) await p(app);
  return { app, auth, sink };
}

/**
 * The alerts and series endpoints: the cross-tenant copy, then one copy per tenant over views
 * narrowed to it (routed by the `tenant` constraint; hidden from the OpenAPI document).
 */
async function registerTenantApis(
  app: FastifyInstance,
  api: NonNullable<HttpDeps['api']>,
  auth: HttpAuth,
  tenantLabel: string,
): Promise<void> {
  const keyTenants = new KeyTenants(tenantLabel, () => api.runtime.size);
  const copies: (string | undefined)[] = [undefined, ...auth.tenants];
  for (const tenant of copies) {
    await app.register((child, _opts, done) => {
      markTenantRoutes(child, tenant);
      const dispatcher =
        tenant === undefined ? api.dispatcher : tenantDispatcher(api.dispatcher, tenantLabel, tenant);
      const runtime = tenant === undefined ? api.runtime : tenantRuntime(api.runtime, keyTenants, tenant);
      registerAlertsApi(child, { dispatcher });
      registerSeriesApi(child, {
        runtime,
        config: api.config,
        alerts: dispatcher,
        ...(api.thresholdFor ? { thresholdFor: api.thresholdFor } : {}),
      });
      done();
    });
  }
}

/** A counter on the app's registry (the one already there when the app is built again). */
function counter<L extends string>(
  metrics: VigilMetrics,
  opts: { name: string; help: string; labelNames: readonly L[] },
): Counter<L> {
  const existing = metrics.registry.getSingleMetric(opts.name);
  if (existing) return existing as Counter<L>;
  return new Counter({ ...opts, registers: [metrics.registry] });
}

/** Reads a PEM file of `server.tls`, naming the key and the path when it cannot. */
function readTlsFile(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(
      `server.tls.${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      { cause: err },
    );
  }
}

/** Logs, once at startup, what a listener on a non-loopback address exposes. */
function warnAboutExposure(config: VigilConfig, auth: HttpAuth, log: FastifyBaseLogger): void {
  const host = config.server.host;
  if (LOOPBACK.test(host)) return;
  if (!auth.enabled)
    log.warn(
      { host },
      'authentication is OFF (no server.auth.tokens) and the server listens on a non-loopback ' +
        'address: anyone who can reach it can write samples, read alerts and create silences',
    );
  else if (!config.server.tls)
    log.warn(
      { host },
      'the server listens on a non-loopback address without TLS (server.tls): tokens travel in clear text',
    );
}
