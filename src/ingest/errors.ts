/** Error codes of src/ingest; each is documented in README.md ("Error codes"). */
export type IngestErrorCode =
  | 'INGEST_BAD_REQUEST'
  | 'INGEST_BAD_JSON'
  | 'INGEST_UNSUPPORTED_MEDIA_TYPE'
  | 'INGEST_BODY_TOO_LARGE'
  | 'INGEST_TOO_MANY_SAMPLES'
  | 'INGEST_ALL_REJECTED'
  | 'INGEST_OVERLOADED'
  | 'INGEST_UNAVAILABLE';

const STATUS: Record<IngestErrorCode, number> = {
  INGEST_BAD_REQUEST: 400,
  INGEST_BAD_JSON: 400,
  INGEST_UNSUPPORTED_MEDIA_TYPE: 415,
  INGEST_BODY_TOO_LARGE: 413,
  INGEST_TOO_MANY_SAMPLES: 413,
  INGEST_ALL_REJECTED: 400,
  INGEST_OVERLOADED: 503,
  INGEST_UNAVAILABLE: 503,
};

/** A refusal of a whole request (per-item problems are {@link RejectedItem}s instead). */
export class IngestError extends Error {
  override readonly name = 'IngestError';
  /** HTTP status the HTTP layer answers with. */
  readonly statusCode: number;
  /** True when the same request may succeed later (503, 429). */
  readonly retryable: boolean;
  constructor(
    readonly code: IngestErrorCode,
    message: string,
    readonly details: { readonly retryAfterSeconds?: number; readonly [k: string]: unknown } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.statusCode = STATUS[code];
    this.retryable = this.statusCode === 503 || this.statusCode === 429;
  }
}
