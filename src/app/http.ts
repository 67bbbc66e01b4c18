/**
 * The HTTP server: fastify with every route Vigil serves, and the ONE place that turns errors
 * into responses (`setErrorHandler`): typed errors keep their code and status, fastify's body
 * errors become ingest codes, anything unknown becomes 500 INTERNAL without details.
 *
 * Error body: `{"error":{"code":"INGEST_BAD_JSON","message":"..."}}`; 503/429 carry Retry-After.
 */
import { Ajv } from 'ajv';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
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
import type { VigilConfig } from './config.js';
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
  /** Extra route registrations (API, console, protocols) run before listen. */
  readonly plugins?: readonly ((app: FastifyInstance) => void | Promise<void>)[];
  readonly now?: () => number;
}

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
  // Typed as fastify's logger so the instance is a plain FastifyInstance (pino's own type
  // would make fastify infer a different instance type than the route plugins take).
  const httpLogger: FastifyBaseLogger = deps.logger.child({ module: 'http' });
  const app = Fastify({
    loggerInstance: httpLogger,
    disableRequestLogging: true,
    bodyLimit: deps.config.server.body_limit_bytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    forceCloseConnections: 'idle',
  });
  // First: the OpenAPI document is generated from the schemas of the routes added after this.
  await registerOpenApi(
    app,
    deps.config.server.external_url ? { serverUrl: deps.config.server.external_url } : {},
  );

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
  for (const a of [strictAjv, textAjv]) a.addKeyword({ keyword: 'example' });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strictAjv : textAjv).compile(schema),
  );

  app.setErrorHandler((err: FastifyError | IngestError | Error, req, reply) => {
    if (err instanceof IngestError) {
      if (err.details.retryAfterSeconds !== undefined)
        void reply.header('retry-after', String(err.details.retryAfterSeconds));
      if (err.statusCode >= 500) req.log.warn({ err }, 'request refused');
      return reply.code(err.statusCode).send({ error: { code: err.code, message: err.message } });
    }
    const fe = err as FastifyError;
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped) {
      let message = fe.message;
      if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
        message = `request body is larger than ${deps.config.server.body_limit_bytes} bytes`;
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

  if (deps.config.ingest.http.enabled) {
    const ingestDeps = {
      sink: deps.sink,
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
  for (const p of deps.plugins ?? []) await p(app);
  return app;
}
