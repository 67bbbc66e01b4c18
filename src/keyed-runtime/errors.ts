/** Error codes of src/keyed-runtime. */
export type RuntimeErrorCode =
  | 'RUNTIME_OVERLOADED'
  | 'RUNTIME_CLOSED'
  | 'RUNTIME_WORKER_FAILED'
  | 'RUNTIME_OPERATOR_FAILED'
  | 'RUNTIME_CHECKPOINT_UNREADABLE'
  | 'RUNTIME_CHECKPOINT_INCOMPATIBLE'
  | 'RUNTIME_CHECKPOINT_WRITE_FAILED'
  | 'RUNTIME_WAL_CORRUPT'
  | 'RUNTIME_WAL_WRITE_FAILED';

/** Errors of the keyed runtime. Across threads they travel as `{ code, message, retryable }`. */
export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
