/**
 * Request rate per token: one token bucket per token name. A bucket holds up to `burst`
 * requests and refills at `ratePerSecond`; a request takes one. When the bucket is empty the
 * request is refused with the seconds until one request's worth has refilled (the Retry-After).
 * Buckets live in memory: a restart gives every token a full bucket.
 */
export interface RateLimiter {
  /**
   * Takes one request from `key`'s bucket. Returns undefined when allowed, or the seconds to wait
   * (≥ 1, rounded up) when not. `ratePerSecond` 0 means unlimited.
   */
  take(key: string, ratePerSecond: number, burst: number): number | undefined;
}

/** @param now - clock in ms (tests pass their own). */
export function createRateLimiter(now: () => number = Date.now): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(key, ratePerSecond, burst) {
      if (ratePerSecond <= 0) return undefined;
      const t = now();
      let b = buckets.get(key);
      if (!b) {
        b = { tokens: burst, at: t };
        buckets.set(key, b);
      }
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * ratePerSecond);
      b.at = t;
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return undefined;
      }
      return Math.max(1, Math.ceil((1 - b.tokens) / ratePerSecond));
    },
  };
}
