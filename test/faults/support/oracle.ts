/**
 * What every fault test measures and checks (docs/guarantees.md; kafka-and-state.md §5.4): one
 * printed line per test with accepted, rejected by reason, processed, dead-lettered, alerts
 * expected, delivered and duplicates, and the invariants
 *   I1  accepted = processed + dead-lettered   (nothing acknowledged is lost, nothing counted twice)
 *   I3  alerts delivered (unique) = alerts expected   (no alert lost, none spurious)
 * plus a sender that retries until acknowledged (as a conforming client does), and readers of
 * what Vigil processed and delivered.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../support/vigil-process.js';

export interface FaultReport {
  readonly test: string;
  /** Samples acknowledged (2xx), each distinct sample counted once (accepted or acknowledged as a duplicate). */
  readonly accepted: number;
  /** Samples refused with a 4xx reason, by reason (503s are retried, not counted here). */
  readonly rejected: Readonly<Record<string, number>>;
  /** Distinct samples the operators processed. */
  readonly processed: number;
  /** Samples dead-lettered with a reason (Kafka DLQ). */
  readonly deadLettered: number;
  readonly alertsExpected: number;
  /** Distinct expected alerts delivered (per channel: an alert on two channels counts twice). */
  readonly alertsDelivered: number;
  /** Deliveries beyond the first of the same alert on the same channel (at-least-once). */
  readonly duplicates: number;
  /** Seconds from the end of the fault to full recovery (everything processed / delivered). */
  readonly recoverySeconds?: number;
  /** Other figures worth printing (503 answers, retries, replayed samples...). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** Prints the report line (and appends it to test-artifacts/faults.jsonl), then checks I1 and I3. */
export function reportAndCheck(r: FaultReport): void {
  const line =
    `FAULT ${r.test}: accepted=${r.accepted} rejected=${JSON.stringify(r.rejected)} processed=${r.processed} ` +
    `dead_lettered=${r.deadLettered} alerts_expected=${r.alertsExpected} alerts_delivered=${r.alertsDelivered} ` +
    `duplicates=${r.duplicates}` +
    (r.recoverySeconds !== undefined ? ` recovery_s=${r.recoverySeconds.toFixed(2)}` : '') +
    (r.extra
      ? ` ${Object.entries(r.extra)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ')}`
      : '');
  console.log(line);
  try {
    const dir = join(REPO_ROOT, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    appendFileSync(join(dir, 'faults.jsonl'), `${JSON.stringify({ at: new Date().toISOString(), ...r })}\n`);
  } catch {
    // The printed line is the record; the file is a convenience.
  }
  assert.equal(r.accepted, r.processed + r.deadLettered, 'I1: accepted = processed + dead-lettered');
  assert.equal(r.alertsDelivered, r.alertsExpected, 'I3: alerts delivered = alerts expected');
}

export interface SendCounters {
  /** Samples acknowledged as accepted. */
  accepted: number;
  /** Samples acknowledged as duplicates of accepted ones (a retry of a request whose answer was lost). */
  duplicates: number;
  /** Refused samples (4xx per item), by code. */
  rejected: Record<string, number>;
  /** 503 answers (retried). */
  unavailable: number;
  /** Connection errors (retried). */
  connectionErrors: number;
}

export const newCounters = (): SendCounters => ({
  accepted: 0,
  duplicates: 0,
  rejected: {},
  unavailable: 0,
  connectionErrors: 0,
});

export interface IngestAnswer {
  readonly accepted?: number;
  readonly duplicates?: number;
  readonly rejected?: readonly { index: number; code: string; reason: string }[];
  readonly error?: { code: string; message: string };
}

/**
 * POSTs a JSON batch until it is answered 2xx or a 4xx, retrying 503 and connection errors
 * every `retryMs` (bounded by `maxAttempts`), as a conforming client does. `url()` is read on
 * every attempt (a restarted Vigil has a new port). Counts into `c`; returns the final answer.
 */
export async function sendUntilAnswered(
  url: () => string,
  samples: readonly unknown[],
  c: SendCounters,
  opts: {
    readonly headers?: Record<string, string>;
    readonly retryMs?: number;
    readonly maxAttempts?: number;
    readonly paused?: () => Promise<void> | undefined;
  } = {},
): Promise<{ status: number; body: IngestAnswer }> {
  const body = JSON.stringify({ samples });
  for (let attempt = 0; attempt < (opts.maxAttempts ?? 3000); attempt++) {
    await opts.paused?.();
    try {
      const res = await fetch(`${url()}/api/v1/samples`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...opts.headers },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      const json = (await res.json()) as IngestAnswer;
      if (res.status === 503) {
        c.unavailable++;
        assert.ok(res.headers.get('retry-after'), '503 carries Retry-After');
      } else {
        assert.ok(
          res.status === 200 || res.status === 400,
          `unexpected status ${res.status}: ${JSON.stringify(json)}`,
        );
        c.accepted += json.accepted ?? 0;
        c.duplicates += json.duplicates ?? 0;
        for (const r of json.rejected ?? []) c.rejected[r.code] = (c.rejected[r.code] ?? 0) + 1;
        return { status: res.status, body: json };
      }
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      c.connectionErrors++; // refused or reset: Vigil is down or restarting
    }
    await new Promise((r) => setTimeout(r, opts.retryMs ?? 20));
  }
  throw new Error('request never answered 2xx/4xx');
}

/** Samples processed per series key (the operator's own count), read from the series API. */
export async function processedByKey(
  url: string,
  keys: readonly string[],
  headers: Record<string, string> = {},
): Promise<Map<string, { samples: number; lastTs: number }>> {
  const out = new Map<string, { samples: number; lastTs: number }>();
  for (const key of keys) {
    const res = await fetch(`${url}/api/v1/series?search=${encodeURIComponent(key)}&limit=1000`, { headers });
    assert.equal(res.status, 200);
    const page = (await res.json()) as {
      items: { key: string; status: { samples: number; lastTs: number } | null }[];
    };
    const item = page.items.find((i) => i.key === key);
    if (item?.status) out.set(key, { samples: item.status.samples, lastTs: item.status.lastTs });
  }
  return out;
}

/** Sum of {@link processedByKey}. */
export async function processedTotal(
  url: string,
  keys: readonly string[],
  headers: Record<string, string> = {},
): Promise<number> {
  let n = 0;
  for (const v of (await processedByKey(url, keys, headers)).values()) n += v.samples;
  return n;
}
