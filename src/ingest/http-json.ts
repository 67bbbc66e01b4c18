/**
 * `POST /api/v1/samples`: Vigil's own JSON ingest.
 *
 *     {"samples":[{"metric":"http_requests_total","labels":{"service":"api"},"ts":1732000000000,"value":12.5}]}
 *
 * `ts` is epoch milliseconds or an RFC 3339 string. Each item is checked on its own (see
 * validate.ts): the answer lists every refused item by index with a reason, and the others are
 * accepted. 200 when at least one item was accepted (or the list was empty), 400
 * `INGEST_ALL_REJECTED` when every item was refused; both bodies have the same shape:
 *
 *     {"accepted":2,"duplicates":0,"rejected":[{"index":1,"code":"INVALID_SAMPLE","reason":"value must be finite, got NaN"}]}
 *
 * Non-JSON → 400 `INGEST_BAD_JSON`, body over the limit → 413 `INGEST_BODY_TOO_LARGE`, more than
 * `max_samples_per_request` items → 413 `INGEST_TOO_MANY_SAMPLES`, overloaded → 503 with
 * Retry-After (these are mapped in the app's single error handler).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IngestError } from './errors.js';
import type { IngestSource, RejectCode, RejectedItem, Sample, SampleSink, SubmitResult } from './types.js';
import { decodeJsonSamplesFast, SeriesBytesCache, type FastDecoded } from './json-fast.js';
import { makeSample, typeOf, type SampleLimits } from './validate.js';

export interface IngestRouteDeps {
  readonly sink: SampleSink;
  readonly limits: SampleLimits;
  readonly maxSamplesPerRequest: number;
  /** Server clock (epoch ms), for the future-skew check. */
  readonly now: () => number;
  /**
   * Most series the JSON route remembers by their bytes (json-fast.ts; about 200 bytes each).
   * @defaultValue 1,048,576
   */
  readonly seriesCacheCapacity?: number;
  /**
   * Told about items refused while decoding (before the sink), for the rejected-samples metric.
   * The sink counts its own refusals.
   */
  readonly onDecodeRejected?: (
    source: IngestSource,
    rejected: readonly { readonly code: RejectCode }[],
  ) => void;
}

/** The JSON answer of every ingest endpoint. */
export interface IngestAnswer {
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: readonly RejectedItem[];
}

const ITEM_KEYS = new Set(['metric', 'labels', 'ts', 'value']);

/** Decodes a parsed JSON body into samples and per-item refusals (indices are request indices). */
export function decodeJsonSamples(
  body: unknown,
  nowMs: number,
  limits: SampleLimits,
  maxSamples: number,
): { samples: Sample[]; indices: number[]; rejected: RejectedItem[] } {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new IngestError(
      'INGEST_BAD_REQUEST',
      `body must be an object {"samples":[...]}, got ${typeOf(body)}`,
    );
  for (const k of Object.keys(body)) {
    if (k !== 'samples')
      throw new IngestError('INGEST_BAD_REQUEST', `unknown top-level field "${k}" (expected only "samples")`);
  }
  const items = (body as { samples?: unknown }).samples;
  if (!Array.isArray(items))
    throw new IngestError('INGEST_BAD_REQUEST', `"samples" must be an array, got ${typeOf(items)}`);
  if (items.length > maxSamples)
    throw new IngestError(
      'INGEST_TOO_MANY_SAMPLES',
      `${items.length} samples in one request, limit ${maxSamples}`,
      {
        limit: maxSamples,
      },
    );
  const samples: Sample[] = [];
  const indices: number[] = [];
  const rejected: RejectedItem[] = [];
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      rejected.push({
        index: i,
        code: 'INVALID_SAMPLE',
        reason: `sample must be an object, got ${typeOf(item)}`,
      });
      continue;
    }
    const o = item as Record<string, unknown>;
    let unknown: string | undefined;
    for (const k in o) {
      if (!ITEM_KEYS.has(k)) {
        unknown = k;
        break;
      }
    }
    if (unknown !== undefined) {
      rejected.push({ index: i, code: 'INVALID_SAMPLE', reason: `unknown field ${JSON.stringify(unknown)}` });
      continue;
    }
    for (const f of ['metric', 'ts', 'value'] as const) {
      if (!(f in o)) {
        rejected.push({ index: i, code: 'INVALID_SAMPLE', reason: `missing field "${f}"` });
        break;
      }
    }
    if (rejected.length > 0 && rejected[rejected.length - 1]?.index === i) continue;
    const c = makeSample(o['metric'] as string, o['labels'], o['ts'], o['value'], nowMs, limits);
    if (c.ok) {
      samples.push(c.sample);
      indices.push(i);
    } else rejected.push({ index: i, code: c.code, reason: c.reason });
  }
  return { samples, indices, rejected };
}

/** Merges decode-time refusals with the sink's (whose indices refer to `samples`) into one answer. */
export function mergeAnswer(
  decodeRejected: readonly RejectedItem[],
  result: SubmitResult,
  indices: readonly number[],
): IngestAnswer {
  const rejected = [...decodeRejected];
  for (const r of result.rejected) rejected.push({ ...r, index: indices[r.index] ?? r.index });
  rejected.sort((a, b) => a.index - b.index);
  return { accepted: result.accepted, duplicates: result.duplicates, rejected };
}

/**
 * A route's `onRequest` hook that asks the sink whether it would take a batch now
 * ({@link SampleSink.admit}) and otherwise fails the request with the sink's error (503/429 with
 * Retry-After) before the body is received or decoded. Runs after authentication (an app-level
 * `onRequest` hook), so an unauthenticated caller learns nothing about load.
 */
export function admitHook(
  deps: IngestRouteDeps,
  source: IngestSource,
): (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void {
  return (_req, _reply, done) => {
    try {
      deps.sink.admit?.(source);
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  };
}

/** What the route's JSON parser hands the handler when the fast path decoded the body. */
class FastBody {
  constructor(readonly decoded: FastDecoded) {}
}

/**
 * Registers `POST /api/v1/samples` in an encapsulated child context whose `application/json`
 * parser tries the byte-level fast path (json-fast.ts) first and otherwise runs fastify's own JSON
 * parser (same errors: bad JSON, `__proto__`/`constructor` keys, empty body). Call before
 * `app.ready()`/`listen()`.
 */
export function registerJsonIngest(app: FastifyInstance, deps: IngestRouteDeps): void {
  const cache = new SeriesBytesCache(deps.seriesCacheCapacity ?? 1 << 20);
  void app.register((child, _o, done) => {
    const slowParser = child.getDefaultJsonParser('error', 'error');
    child.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: app.initialConfig.bodyLimit ?? 1024 * 1024 },
      (req, body, parsed) => {
        const buf = body as Buffer;
        const fast = decodeJsonSamplesFast(buf, deps.now(), deps.limits, deps.maxSamplesPerRequest, cache);
        if (fast) parsed(null, new FastBody(fast));
        else void slowParser(req, buf.toString('utf8'), parsed);
      },
    );
    child.post('/api/v1/samples', { onRequest: admitHook(deps, 'json') }, async (req, reply) => {
      const { samples, indices, rejected } =
        req.body instanceof FastBody
          ? req.body.decoded
          : decodeJsonSamples(req.body, deps.now(), deps.limits, deps.maxSamplesPerRequest);
      if (rejected.length > 0) deps.onDecodeRejected?.('json', rejected);
      const result =
        samples.length > 0
          ? await deps.sink.submit(samples, 'json')
          : { accepted: 0, duplicates: 0, rejected: [] };
      const answer = mergeAnswer(rejected, result, indices);
      const total = samples.length + rejected.length;
      if (total > 0 && answer.accepted + answer.duplicates === 0) {
        return reply.code(400).send({
          error: { code: 'INGEST_ALL_REJECTED', message: `all ${total} samples were refused` },
          ...answer,
        });
      }
      return answer;
    });
    done();
  });
}
