/**
 * Errors of authentication, authorisation and per-token limits. Each carries the HTTP status
 * the app's error handler answers with; the body is `{"error":{"code","message"}}` and never
 * contains a token, a hash or the Authorization header.
 */

/**
 * - `AUTH_REQUIRED` (401): no credentials on a request that needs them.
 * - `AUTH_INVALID_TOKEN` (401): credentials present but unknown or malformed.
 * - `AUTH_FORBIDDEN` (403): the token lacks the scope the endpoint needs.
 * - `AUTH_TENANT_FORBIDDEN` (403): a tenant token on an endpoint that shows every tenant.
 * - `AUTH_RATE_LIMITED` (429): the token's request rate is over its limit (Retry-After set).
 */
export type AuthErrorCode =
  'AUTH_REQUIRED' | 'AUTH_INVALID_TOKEN' | 'AUTH_FORBIDDEN' | 'AUTH_TENANT_FORBIDDEN' | 'AUTH_RATE_LIMITED';

const STATUS: Readonly<Record<AuthErrorCode, number>> = {
  AUTH_REQUIRED: 401,
  AUTH_INVALID_TOKEN: 401,
  AUTH_FORBIDDEN: 403,
  AUTH_TENANT_FORBIDDEN: 403,
  AUTH_RATE_LIMITED: 429,
};

export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly statusCode: number;
  /** True only for AUTH_RATE_LIMITED: the same request succeeds later. */
  readonly retryable: boolean;
  constructor(
    readonly code: AuthErrorCode,
    message: string,
    /** Seconds until a retry can succeed (429). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.statusCode = STATUS[code];
    this.retryable = code === 'AUTH_RATE_LIMITED';
  }
}
