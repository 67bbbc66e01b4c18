/**
 * Test server for the protocol integration tests: a real fastify on 127.0.0.1 (port chosen by
 * the OS) with the JSON API and the three protocol routes, feeding a {@link RecordingSink}.
 *
 * The error handler below mirrors src/app/http.ts (the app's single error handler) for the codes
 * these routes produce, so status codes, bodies and Retry-After are the ones Vigil answers with;
 * src/app wires the same register calls into the real server.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { IngestError, registerJsonIngest } from '../../src/ingest/index.js';
import type {
  IngestSource,
  RejectedItem,
  Sample,
  SampleLimits,
  SampleSink,
  SubmitResult,
} from '../../src/ingest/index.js';
import {
  registerInflux,
  registerOtlp,
  registerRemoteWrite,
  type OtlpOptions,
} from '../../src/ingest/protocols/index.js';

export const LIMITS: SampleLimits = {
  maxLabelsPerSeries: 32,
  maxNameLength: 200,
  maxLabelValueLength: 1024,
  maxFutureSkewMs: 10 * 60_000,
};

/**
 * A real in-memory sink with the SampleSink contract: per series it keeps the newest timestamp
 * and value; an older sample is OUT_OF_ORDER, the same timestamp with the same value a duplicate,
 * with another value DUPLICATE_CONFLICT. `overloadFor(n)` makes the next n submits fail with
 * `INGEST_OVERLOADED` (Retry-After 2 s), as a full queue does.
 */
export class RecordingSink implements SampleSink {
  readonly batches: { source: IngestSource; samples: readonly Sample[] }[] = [];
  private readonly last = new Map<string, { ts: number; value: number }>();
  private overloaded = 0;

  overloadFor(n: number): void {
    this.overloaded = n;
  }

  submit(samples: readonly Sample[], source: IngestSource): Promise<SubmitResult> {
    if (this.overloaded > 0) {
      this.overloaded--;
      return Promise.reject(
        new IngestError('INGEST_OVERLOADED', 'ingest queue is full', { retryAfterSeconds: 2 }),
      );
    }
    const accepted: Sample[] = [];
    const rejected: RejectedItem[] = [];
    let duplicates = 0;
    samples.forEach((s, index) => {
      const prev = this.last.get(s.key);
      if (prev && s.ts < prev.ts)
        rejected.push({
          index,
          code: 'OUT_OF_ORDER',
          reason: `older than ${new Date(prev.ts).toISOString()}`,
        });
      else if (prev && s.ts === prev.ts && Object.is(s.value, prev.value)) duplicates++;
      else if (prev && s.ts === prev.ts)
        rejected.push({
          index,
          code: 'DUPLICATE_CONFLICT',
          reason: `already has ${prev.value} at this time`,
        });
      else {
        this.last.set(s.key, { ts: s.ts, value: s.value });
        accepted.push(s);
      }
    });
    this.batches.push({ source, samples: accepted });
    return Promise.resolve({ accepted: accepted.length, duplicates, rejected });
  }

  /** Every accepted sample, in arrival order. */
  all(source?: IngestSource): Sample[] {
    return this.batches.filter((b) => source === undefined || b.source === source).flatMap((b) => b.samples);
  }

  /** Accepted samples as `key value ts` lines, sorted (for comparisons across protocols). */
  lines(source?: IngestSource): string[] {
    return this.all(source)
      .map((s) => `${s.key} ${s.value} ${s.ts}`)
      .sort();
  }
}

export interface TestServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly sink: RecordingSink;
  close(): Promise<void>;
}

/** Starts fastify on 127.0.0.1:0 with the JSON API and the protocol routes. */
export async function startServer(
  opts: { bodyLimit?: number; maxSamples?: number; otlp?: OtlpOptions; now?: () => number } = {},
): Promise<TestServer> {
  const bodyLimit = opts.bodyLimit ?? 1024 * 1024;
  const app = Fastify({
    bodyLimit,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    forceCloseConnections: true,
  });
  installErrorHandler(app, bodyLimit);
  const sink = new RecordingSink();
  const deps = {
    sink,
    limits: LIMITS,
    maxSamplesPerRequest: opts.maxSamples ?? 100_000,
    now: opts.now ?? Date.now,
  };
  registerJsonIngest(app, deps);
  registerRemoteWrite(app, deps);
  registerOtlp(app, deps, opts.otlp);
  registerInflux(app, deps);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url: address, app, sink, close: () => app.close() };
}

/** Fastify error codes → ingest codes, as src/app/http.ts maps them. */
const FASTIFY_CODES: Readonly<Record<string, { status: number; code: string }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'INGEST_BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INGEST_BAD_JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INGEST_BAD_JSON' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'INGEST_UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INGEST_BAD_REQUEST' },
};

function installErrorHandler(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err: FastifyError | IngestError | Error, _req, reply) => {
    if (err instanceof IngestError) {
      if (err.details.retryAfterSeconds !== undefined)
        void reply.header('retry-after', String(err.details.retryAfterSeconds));
      return reply.code(err.statusCode).send({ error: { code: err.code, message: err.message } });
    }
    const fe = err as FastifyError;
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped) {
      const message =
        fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? `request body is larger than ${bodyLimit} bytes`
          : fe.message;
      return reply.code(mapped.status).send({ error: { code: mapped.code, message } });
    }
    if (err.name === 'SyntaxError')
      return reply
        .code(400)
        .send({ error: { code: 'INGEST_BAD_JSON', message: `body is not valid JSON: ${err.message}` } });
    return reply.code(500).send({ error: { code: 'INTERNAL', message: `internal error: ${err.message}` } });
  });
}
