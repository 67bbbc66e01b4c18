/**
 * The retry stage: the one place notifications are attempted, retried and finished.
 *
 * - One queue per receiver integration, so a slow or down receiver never delays another (no
 *   head-of-line blocking across receivers). Inside a queue, one lane per group key keeps each
 *   group's notifications in order (a resolved never overtakes its firing); lanes run in
 *   parallel up to `max_in_flight`.
 * - A failed attempt is recorded in the outbox file; retryable failures (5xx, 429, network,
 *   timeout, SMTP 4yz) wait a jittered, capped exponential backoff (at least Retry-After);
 *   permanent ones (other 4xx, SMTP 5yz, auth, redirects) and notifications older than
 *   `give_up_after` finish as failed: removed from the outbox, kept in the delivery log, counted,
 *   logged at error.
 * - Failed attempts are logged at warn only when the error changes (Alertmanager's retry stage).
 */
import type { Logger } from 'pino';
import { DeliveryError, type DeliveryFailureReason } from './errors.js';
import type { Integration } from './integrations.js';
import type { AttemptRecord, IntegrationType, NotifiedAlert, Outbox, OutboxEntry } from './outbox.js';
import type { NotifyReason } from './nflog.js';
import { LaneHeap } from './lane-heap.js';
import { retryDelayMs, type BackoffPolicy } from './retry.js';

/** A finished notification, as the delivery log keeps it. Times in epoch ms. */
export interface DeliveryRecord {
  readonly id: string;
  readonly receiver: string;
  readonly integration: string;
  readonly integrationType: IntegrationType;
  readonly target: string;
  readonly groupKey: string;
  readonly reason: NotifyReason;
  readonly alerts: readonly NotifiedAlert[];
  readonly createdAt: number;
  readonly finishedAt: number;
  readonly status: 'delivered' | 'failed';
  readonly failureReason?: DeliveryFailureReason;
  readonly attemptCount: number;
  readonly attempts: readonly AttemptRecord[];
}

/** Attempts kept per notification (the first and the latest); `attemptCount` counts all. */
const MAX_ATTEMPTS_KEPT = 50;

interface Queue {
  readonly key: string;
  readonly lanes: Map<string, OutboxEntry[]>;
  /** Lanes with an attempt running. */
  readonly active: Set<string>;
  /** Lanes whose head is due, in the order they became due (FIFO across groups). */
  readonly ready: Set<string>;
  /** Lanes whose head waits for a backoff, earliest first (stale items are skipped on pop). */
  readonly delayed: LaneHeap;
  inFlight: number;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
}

export interface DelivererOptions {
  readonly outbox: Outbox;
  readonly integrations: ReadonlyMap<string, Integration>;
  readonly policy: BackoffPolicy;
  readonly maxInFlight: number;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random: () => number;
  readonly onFinished: (record: DeliveryRecord) => void;
  /** Called after every attempt (metrics). */
  readonly onAttempt?: (entry: OutboxEntry, attempt: AttemptRecord) => void;
}

export interface DeliveryCounters {
  delivered: number;
  failed: number;
  /** Failed attempts that will be retried. */
  retries: number;
}

export class Deliverer {
  private readonly queues = new Map<string, Queue>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private closed = false;
  readonly counters = new Map<IntegrationType, DeliveryCounters>();

  constructor(private readonly o: DelivererOptions) {}

  private counter(type: IntegrationType): DeliveryCounters {
    let c = this.counters.get(type);
    if (!c) this.counters.set(type, (c = { delivered: 0, failed: 0, retries: 0 }));
    return c;
  }

  /** Queues an entry that is already durable in the outbox. */
  enqueue(entry: OutboxEntry): void {
    if (this.closed) return; // stays on disk; the next start delivers it
    let q = this.queues.get(entry.integration);
    if (!q) {
      q = {
        key: entry.integration,
        lanes: new Map(),
        active: new Set(),
        ready: new Set(),
        delayed: new LaneHeap(),
        inFlight: 0,
        timer: undefined,
        timerAt: Infinity,
      };
      this.queues.set(entry.integration, q);
    }
    let lane = q.lanes.get(entry.groupKey);
    if (!lane) q.lanes.set(entry.groupKey, (lane = []));
    lane.push(entry);
    // A lane that already had a head is already ready, delayed or active.
    if (lane.length === 1 && !q.active.has(entry.groupKey)) this.place(q, entry.groupKey, entry);
    this.schedule(q);
  }

  /** Pending entries (queued or retrying), oldest first. */
  pending(): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const q of this.queues.values()) for (const lane of q.lanes.values()) out.push(...lane);
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Pending entries per integration type. */
  pendingByType(): Map<IntegrationType, number> {
    const m = new Map<IntegrationType, number>();
    for (const q of this.queues.values())
      for (const lane of q.lanes.values())
        for (const e of lane) m.set(e.integrationType, (m.get(e.integrationType) ?? 0) + 1);
    return m;
  }

  /** Files an idle lane with a head under ready or delayed. */
  private place(q: Queue, laneKey: string, head: OutboxEntry): void {
    if (head.nextAttemptAt <= this.o.now()) q.ready.add(laneKey);
    else q.delayed.push(head.nextAttemptAt, laneKey);
  }

  /** Starts due lanes up to `max_in_flight` and arms the timer for the next delayed one. */
  private schedule(q: Queue): void {
    if (this.closed) return;
    const now = this.o.now();
    while (q.delayed.peekAt() <= now) {
      const item = q.delayed.pop() as { at: number; lane: string };
      const head = q.lanes.get(item.lane)?.[0];
      // Stale items (lane finished, restarted or re-filed since) are dropped.
      if (head && head.nextAttemptAt === item.at && !q.active.has(item.lane)) q.ready.add(item.lane);
    }
    for (const laneKey of q.ready) {
      if (q.inFlight >= this.o.maxInFlight) break; // a finishing attempt reschedules this queue
      q.ready.delete(laneKey);
      const lane = q.lanes.get(laneKey);
      const head = lane?.[0];
      if (lane && head) this.start(q, laneKey, lane, head);
    }
    const earliest = q.delayed.peekAt();
    if (earliest < Infinity && earliest < q.timerAt) {
      if (q.timer) clearTimeout(q.timer);
      q.timerAt = earliest;
      q.timer = setTimeout(
        () => {
          q.timer = undefined;
          q.timerAt = Infinity;
          this.schedule(q);
        },
        Math.max(0, earliest - now),
      );
      q.timer.unref?.();
    }
  }

  private start(q: Queue, laneKey: string, lane: OutboxEntry[], entry: OutboxEntry): void {
    q.active.add(laneKey);
    q.inFlight++;
    const p = this.attempt(lane, entry)
      .catch((err: unknown) => {
        // attempt() handles delivery errors itself; this is a bug or a state-dir failure.
        this.o.logger.error(
          { err, receiver: entry.receiver, integration: entry.integration },
          'delivery bookkeeping failed',
        );
      })
      .finally(() => {
        q.active.delete(laneKey);
        q.inFlight--;
        this.inflight.delete(p);
        const next = lane[0];
        if (next) this.place(q, laneKey, next);
        else if (q.lanes.get(laneKey) === lane) q.lanes.delete(laneKey);
        this.schedule(q);
      });
    this.inflight.add(p);
  }

  private async attempt(lane: OutboxEntry[], entry: OutboxEntry): Promise<void> {
    const integ = this.o.integrations.get(entry.integration);
    const t0 = this.o.now();
    let error: DeliveryError | undefined;
    let statusCode: number | undefined;
    if (!integ) {
      error = new DeliveryError(`integration ${entry.integration} is no longer configured`, 'config', false);
    } else {
      try {
        statusCode = (await integ.send(entry, this.abort.signal)).statusCode;
      } catch (err) {
        error =
          err instanceof DeliveryError
            ? err
            : new DeliveryError(
                `unexpected error: ${(err as Error).message}`,
                'config',
                false,
                {},
                { cause: err },
              );
      }
    }
    if (this.abort.signal.aborted && error) return; // shutting down: the entry stays as it was
    const t1 = this.o.now();
    const type = entry.integrationType;
    const log = this.o.logger.child({ receiver: entry.receiver, integration: entry.integration });
    const attemptCount = entry.attemptCount;
    const record: AttemptRecord = error
      ? {
          at: t0,
          durationMs: t1 - t0,
          ok: false,
          retryable: error.retryable,
          reason: error.reason,
          ...(error.details.statusCode !== undefined ? { statusCode: error.details.statusCode } : {}),
          error: error.message,
        }
      : { at: t0, durationMs: t1 - t0, ok: true, ...(statusCode !== undefined ? { statusCode } : {}) };
    const previous = entry.attempts[entry.attempts.length - 1];
    this.o.onAttempt?.(entry, record);
    entry.attempts.push(record);
    if (entry.attempts.length > MAX_ATTEMPTS_KEPT) entry.attempts.splice(1, 1);
    entry.attemptCount = attemptCount + 1;

    if (!error) {
      this.counter(type).delivered++;
      lane.shift();
      // Recorded as finished before the removal is awaited, so that a notification is always
      // either pending or finished to a reader (a crash in between re-sends it: at least once).
      this.finish(entry, 'delivered', t1);
      if (attemptCount > 0) log.info({ attempt: attemptCount + 1 }, 'notification delivered after retries');
      await this.o.outbox.remove(entry.id);
      return;
    }
    const giveUp = this.o.policy.giveUpAfterMs;
    const expired = error.retryable && giveUp > 0 && t1 - entry.createdAt >= giveUp;
    if (error.retryable && !expired) {
      this.counter(type).retries++;
      const delay = retryDelayMs(this.o.policy, attemptCount + 1, error, this.o.random);
      entry.nextAttemptAt = t1 + delay;
      if (previous?.error !== error.message) {
        log.warn(
          {
            attempt: attemptCount + 1,
            reason: error.reason,
            retryInMs: Math.round(delay),
            err: error.message,
          },
          'notification attempt failed; retrying',
        );
      }
      await this.o.outbox.update(entry);
      return;
    }
    this.counter(type).failed++;
    lane.shift();
    const failureReason: DeliveryFailureReason = expired ? 'expired' : error.reason;
    log.error(
      { attempt: attemptCount + 1, reason: failureReason, err: error.message, groupKey: entry.groupKey },
      expired ? 'notification given up after give_up_after' : 'notification failed permanently',
    );
    this.finish(entry, 'failed', t1, failureReason);
    await this.o.outbox.remove(entry.id);
  }

  private finish(
    entry: OutboxEntry,
    status: 'delivered' | 'failed',
    at: number,
    failureReason?: DeliveryFailureReason,
  ): void {
    const integ = this.o.integrations.get(entry.integration);
    this.o.onFinished({
      id: entry.id,
      receiver: entry.receiver,
      integration: entry.integration,
      integrationType: entry.integrationType,
      target: integ?.target ?? '',
      groupKey: entry.groupKey,
      reason: entry.reason,
      alerts: entry.alerts,
      createdAt: entry.createdAt,
      finishedAt: at,
      status,
      ...(failureReason ? { failureReason } : {}),
      attemptCount: entry.attemptCount,
      attempts: entry.attempts,
    });
  }

  /**
   * Stops scheduling, lets in-flight attempts finish for up to `boundMs`, then aborts the rest.
   * Pending entries stay in the outbox.
   */
  async close(boundMs: number): Promise<void> {
    this.closed = true;
    for (const q of this.queues.values()) if (q.timer) clearTimeout(q.timer);
    const all = Promise.allSettled([...this.inflight]);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)));
    await Promise.race([all, bound]);
    clearTimeout(timer);
    this.abort.abort();
    await Promise.race([all, new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}
