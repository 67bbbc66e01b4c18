/**
 * The retry policy of the single retry stage (deliverer.ts): capped exponential backoff with
 * "equal jitter" (half the delay fixed, half random), so that many notifications failing
 * together do not retry in lockstep; a server's Retry-After is honoured as a lower bound.
 */
import type { DeliveryError } from './errors.js';

export interface BackoffPolicy {
  /** Delay after the first failure, ms. */
  readonly initialMs: number;
  /** Largest computed delay, ms (Retry-After may ask for more). */
  readonly maxMs: number;
  /** Give up after this long since the notification was enqueued, ms; 0 = never. */
  readonly giveUpAfterMs: number;
}

/**
 * Delay before attempt `failures + 1`, given `failures` ≥ 1 failed attempts:
 * `d = min(max, initial · 2^(failures−1))`, then `d/2 + random·d/2`, then at least Retry-After.
 */
export function retryDelayMs(
  policy: BackoffPolicy,
  failures: number,
  err: DeliveryError | undefined,
  random: () => number,
): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  const jittered = exp / 2 + random() * (exp / 2);
  const retryAfter = err?.details.retryAfterMs ?? 0;
  return Math.max(jittered, retryAfter);
}
