/**
 * Errors of src/alerts. Every error carries a `code`; delivery failures also say whether a retry
 * may succeed (`retryable`) and why, from a fixed set (`reason`, a bounded metric label after
 * Alertmanager's failure reasons).
 */

export type AlertsErrorCode =
  /** A silence id that does not exist (HTTP 404). */
  | 'ALERTS_SILENCE_NOT_FOUND'
  /** A silence body that is not valid: no matchers, bad regex, endsAt before startsAt (HTTP 400). */
  | 'ALERTS_SILENCE_INVALID'
  /** Expiring a silence that already expired, or one defined in the YAML config (HTTP 409). */
  | 'ALERTS_SILENCE_CONFLICT'
  /** The dispatcher was used before `start()` or after `close()` (HTTP 503). */
  | 'ALERTS_NOT_RUNNING'
  /** Reading or writing the state directory failed. */
  | 'ALERTS_STATE_IO'
  /** One delivery attempt failed (see {@link DeliveryError}). */
  | 'ALERTS_DELIVERY_FAILED';

const STATUS: Record<AlertsErrorCode, number> = {
  ALERTS_SILENCE_NOT_FOUND: 404,
  ALERTS_SILENCE_INVALID: 400,
  ALERTS_SILENCE_CONFLICT: 409,
  ALERTS_NOT_RUNNING: 503,
  ALERTS_STATE_IO: 500,
  ALERTS_DELIVERY_FAILED: 502,
};

export class AlertsError extends Error {
  override readonly name: string = 'AlertsError';
  /** HTTP status the API answers with. */
  readonly statusCode: number;
  constructor(
    readonly code: AlertsErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.statusCode = STATUS[code];
  }
}

/**
 * Why a delivery attempt failed: a bounded set, used as a metric label and in the delivery log.
 * `serverError` (5xx), `rateLimited` (429), `network` (refused, reset, DNS), `timeout`,
 * `smtpTemporary` (4yz reply) are retried; the others are permanent.
 */
export type DeliveryFailureReason =
  | 'serverError'
  | 'rateLimited'
  | 'network'
  | 'timeout'
  | 'smtpTemporary'
  | 'clientError'
  | 'authError'
  | 'redirect'
  | 'smtpPermanent'
  | 'rejectedUrl'
  | 'config'
  | 'expired';

/** One failed delivery attempt. */
export class DeliveryError extends AlertsError {
  override readonly name = 'DeliveryError';
  constructor(
    message: string,
    readonly reason: DeliveryFailureReason,
    readonly retryable: boolean,
    readonly details: { readonly statusCode?: number; readonly retryAfterMs?: number } = {},
    options?: ErrorOptions,
  ) {
    super('ALERTS_DELIVERY_FAILED', message, options);
  }
}
