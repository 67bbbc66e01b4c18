/**
 * What the protocol routes share: the decoded-batch shape, handing a batch to the sink with the
 * same merge of refusals as the JSON API, the bounded gzip request decoding, and the text used to
 * report problems.
 */
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IngestError } from '../errors.js';
import type { IngestRouteDeps } from '../http-json.js';
import type { IngestSource, RejectCode, RejectedItem, Sample } from '../types.js';

/** A refused item, with where it is in the request in words (`timeseries[3] {...}`, `line 7 field "x"`). */
export interface LocatedRejection extends RejectedItem {
  readonly where: string;
}

/**
 * What a protocol decoder returns. `indices[i]` is the request item that produced `samples[i]`;
 * what an "item" is depends on the protocol (remote write: timeseries index; OTLP: data point
 * number in document order; Influx: 1-based line number).
 */
export interface DecodedBatch {
  readonly samples: Sample[];
  readonly indices: number[];
  readonly rejected: LocatedRejection[];
  /**
   * Items acknowledged but not stored: Prometheus staleness markers and OTLP points flagged
   * "no recorded value". They mean "this series stopped", which Vigil's detectors learn from the
   * absence of samples; counting them keeps the answer honest.
   */
  readonly skipped: number;
}

/** The outcome of one protocol request, before it is rendered in the protocol's own words. */
export interface ProtocolOutcome {
  readonly accepted: number;
  readonly duplicates: number;
  readonly skipped: number;
  /** Decode-time and sink refusals, by item index. */
  readonly rejected: readonly LocatedRejection[];
}

/**
 * Hands a decoded batch to the sink and merges its per-sample refusals with the decoder's, mapping
 * sample positions back to request items (as `mergeAnswer` does for the JSON API). A sink
 * {@link IngestError} (overloaded, unavailable) propagates to the app's error handler, which
 * answers 503/429 with Retry-After: every protocol gets the same backpressure.
 *
 * @param describe - where item `index` (which produced `sample`) is, for sink refusals
 */
export async function submitBatch(
  deps: IngestRouteDeps,
  source: IngestSource,
  batch: DecodedBatch,
  describe: (index: number, sample: Sample) => string,
): Promise<ProtocolOutcome> {
  if (batch.rejected.length > 0) deps.onDecodeRejected?.(source, batch.rejected);
  if (batch.samples.length === 0)
    return { accepted: 0, duplicates: 0, skipped: batch.skipped, rejected: sortByIndex([...batch.rejected]) };
  const result = await deps.sink.submit(batch.samples, source);
  const rejected: LocatedRejection[] = [...batch.rejected];
  for (const r of result.rejected) {
    const sample = batch.samples[r.index];
    const index = batch.indices[r.index] ?? r.index;
    rejected.push({
      index,
      code: r.code,
      reason: r.reason,
      where: sample ? describe(index, sample) : `item ${index}`,
    });
  }
  return {
    accepted: result.accepted,
    duplicates: result.duplicates,
    skipped: batch.skipped,
    rejected: sortByIndex(rejected),
  };
}

function sortByIndex(r: LocatedRejection[]): LocatedRejection[] {
  return r.sort((a, b) => a.index - b.index);
}

/** One problem as a line of text: `where: CODE reason`. */
export function formatRejection(r: LocatedRejection): string {
  return `${r.where}: ${r.code} ${r.reason}`;
}

/**
 * The problems of a request as text, at most `maxLines` of them then `... and N more` (answers
 * stay small however bad the batch was: Prometheus logs only the first kilobyte anyway).
 */
export function formatProblems(rejected: readonly LocatedRejection[], maxLines = 50): string {
  const lines: string[] = [];
  for (let i = 0; i < rejected.length && i < maxLines; i++)
    lines.push(formatRejection(rejected[i] as LocatedRejection));
  if (rejected.length > maxLines) lines.push(`... and ${rejected.length - maxLines} more`);
  return lines.join('\n');
}

/** Number of distinct items among refusals (one item may yield several refused samples). */
export function countRejectedItems(rejected: readonly LocatedRejection[]): number {
  let n = 0;
  let last = NaN;
  for (const r of rejected) {
    if (r.index !== last) n++;
    last = r.index;
  }
  return n;
}

/** Shorthand for a located refusal. */
export function reject(index: number, where: string, code: RejectCode, reason: string): LocatedRejection {
  return { index, code, reason, where };
}

/** Truncates a string for messages (label values can be long). */
export function clip(s: string, max = 120): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(${s.length} chars)`;
}

/**
 * Route-level `preParsing` hook: decodes `Content-Encoding: gzip` request bodies (OTLP and Influx
 * clients compress) before the content-type parser reads them. The parser's byte count runs on the
 * *decompressed* stream, so fastify's body limit applies to the decompressed size too (a zip bomb
 * stops at `bodyLimit` bytes with 413), while `receivedEncodedLength` lets fastify check the
 * Content-Length of what was actually sent. A corrupt gzip stream is a 400 `INGEST_BAD_REQUEST`;
 * any other encoding is a 415 `INGEST_UNSUPPORTED_MEDIA_TYPE`.
 */
export function gunzipRequestBody(
  req: FastifyRequest,
  _reply: FastifyReply,
  payload: Readable,
  done: (err?: Error | null, res?: Readable & { receivedEncodedLength?: number }) => void,
): void {
  const header = req.headers['content-encoding'];
  const enc = header === undefined ? '' : header.trim().toLowerCase();
  if (enc === '' || enc === 'identity') {
    done(null, payload);
    return;
  }
  if (enc !== 'gzip' && enc !== 'x-gzip') {
    done(
      new IngestError(
        'INGEST_UNSUPPORTED_MEDIA_TYPE',
        `Content-Encoding ${JSON.stringify(header)} is not supported (gzip or none)`,
      ),
    );
    return;
  }
  const gunzip = createGunzip();
  const out = new PassThrough() as PassThrough & { receivedEncodedLength: number };
  out.receivedEncodedLength = 0;
  payload.on('data', (chunk: Buffer) => {
    out.receivedEncodedLength += chunk.length;
  });
  gunzip.on('error', (err) => {
    // Ends the body read with a 400; the request stream itself is left to fastify.
    out.destroy(
      new IngestError(
        'INGEST_BAD_REQUEST',
        `gzip request body could not be decompressed: ${err.message}`,
        {},
        { cause: err },
      ),
    );
  });
  payload.pipe(gunzip).pipe(out);
  done(null, out);
}

/** The media type of a request (lower case, parameters dropped), or '' when absent. */
export function mediaType(req: FastifyRequest): string {
  const ct = req.headers['content-type'];
  if (ct === undefined) return '';
  const semi = ct.indexOf(';');
  return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
}

/** The value of parameter `name` of the request's Content-Type, or undefined. */
export function mediaTypeParam(req: FastifyRequest, name: string): string | undefined {
  const ct = req.headers['content-type'];
  if (ct === undefined) return undefined;
  for (const part of ct.split(';').slice(1)) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim().toLowerCase() === name)
      return part
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

/** A content-type parser that hands the raw body over as a Buffer. */
export function rawBufferParser(
  _req: FastifyRequest,
  body: Buffer,
  done: (err: Error | null, body?: unknown) => void,
): void {
  done(null, body);
}
