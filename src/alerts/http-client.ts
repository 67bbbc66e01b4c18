/**
 * The one outbound HTTP path of src/alerts (webhooks and Alertmanager receivers): a per-attempt
 * timeout, `redirect: 'error'` (a receiver that redirects is misconfigured, and following it
 * could leak the body elsewhere), a `checkUrl` hook where an allowlist or SSRF filter plugs in,
 * and error classification into {@link DeliveryError}s. Error messages show the URL's origin
 * only: paths and queries often carry tokens (Alertmanager's RedactURL).
 */
import { DeliveryError, type DeliveryFailureReason } from './errors.js';

export interface OutboundRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
  /** Aborts the attempt early (dispatcher shutdown). */
  readonly signal?: AbortSignal;
}

export interface OutboundResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The first 4 KiB of the response body (for error messages). */
  readonly bodySnippet: string;
}

/**
 * Decides whether a URL may be called. Returns a reason to refuse it, or undefined to allow.
 * The default allows every http(s) URL.
 */
export type UrlCheck = (url: URL) => string | undefined;

export interface HttpClient {
  /** POSTs once. Resolves with any HTTP status; rejects with a DeliveryError when no response came. */
  post(req: OutboundRequest): Promise<OutboundResponse>;
}

/** `https://host:port` of a URL, for messages (never the path or query). */
export function redactUrl(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '<invalid url>';
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

export function createHttpClient(
  opts: { readonly checkUrl?: UrlCheck; readonly userAgent?: string } = {},
): HttpClient {
  const userAgent = opts.userAgent ?? 'Vigil-Alerts/0.1';
  return {
    async post(req) {
      const where = redactUrl(req.url);
      let url: URL;
      try {
        url = new URL(req.url);
      } catch {
        throw new DeliveryError('receiver URL is not valid', 'config', false);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new DeliveryError(`receiver URL scheme ${url.protocol} is not http(s)`, 'config', false);
      }
      const refused = opts.checkUrl?.(url);
      if (refused !== undefined)
        throw new DeliveryError(`${where} refused: ${refused}`, 'rejectedUrl', false);
      const signals = [AbortSignal.timeout(req.timeoutMs), ...(req.signal ? [req.signal] : [])];
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'user-agent': userAgent, ...req.headers },
          body: req.body,
          redirect: 'error',
          signal: AbortSignal.any(signals),
        });
      } catch (err) {
        throw classifyFetchError(err, where, req.timeoutMs);
      }
      let bodySnippet = '';
      try {
        bodySnippet = (await res.text()).slice(0, 4096);
      } catch (err) {
        // The status line arrived; a body cut short by the timeout does not change the verdict.
        bodySnippet = `<body unreadable: ${(err as Error).name}>`;
      }
      return { status: res.status, headers: res.headers, bodySnippet };
    },
  };
}

function classifyFetchError(err: unknown, where: string, timeoutMs: number): DeliveryError {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') {
    return new DeliveryError(
      `${where} did not answer within ${timeoutMs} ms`,
      'timeout',
      true,
      {},
      { cause: err },
    );
  }
  if (e.name === 'AbortError') {
    return new DeliveryError(
      `${where}: attempt aborted (shutting down)`,
      'network',
      true,
      {},
      { cause: err },
    );
  }
  const cause = e.cause;
  const code = cause?.code;
  if (cause?.message?.includes('redirect')) {
    return new DeliveryError(
      `${where} answered with a redirect (not followed)`,
      'redirect',
      false,
      {},
      { cause: err },
    );
  }
  if (code === undefined || NETWORK_CODES.has(code) || code.startsWith('UND_ERR')) {
    const what = code ?? cause?.message ?? e.message;
    return new DeliveryError(`${where} unreachable: ${what}`, 'network', true, {}, { cause: err });
  }
  return new DeliveryError(`${where}: ${code}`, 'network', true, {}, { cause: err });
}

/** Parses `Retry-After` (seconds or an HTTP date) into ms from `nowMs`; undefined when absent or invalid. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

/**
 * Turns an HTTP status into the attempt's outcome (Alertmanager's retrier and failure reasons):
 * 2xx ok; 5xx and 429 retried (429 honours Retry-After); 401/403 `authError`; other 4xx (and
 * 1xx/3xx) are permanent.
 */
export function checkHttpStatus(
  res: OutboundResponse,
  where: string,
  nowMs: number,
): DeliveryError | undefined {
  const s = res.status;
  if (s >= 200 && s < 300) return undefined;
  const detail = res.bodySnippet ? `: ${res.bodySnippet.replace(/\s+/g, ' ').slice(0, 300)}` : '';
  const msg = `${where} answered ${s}${detail}`;
  if (s === 429) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), nowMs);
    return new DeliveryError(msg, 'rateLimited', true, {
      statusCode: s,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (s >= 500) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), nowMs);
    return new DeliveryError(msg, 'serverError', true, {
      statusCode: s,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  const reason: DeliveryFailureReason = s === 401 || s === 403 ? 'authError' : 'clientError';
  return new DeliveryError(msg, reason, false, { statusCode: s });
}
