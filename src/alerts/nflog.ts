/**
 * The notification log (Alertmanager's nflog): per group key and receiver integration, which
 * alerts were last notified as firing and as resolved, and when. The dedup stage consults it so
 * that a flush only notifies when something changed or the repeat interval elapsed, including
 * after a restart (it is persisted) and for alerts re-emitted by a resync.
 *
 * An entry is written once the notification is durably in the outbox (the outbox, not the
 * receiver, owns delivery from then on), so a retrying notification is not duplicated by the
 * next flush.
 */
import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from './state-files.js';

/** Why a notification is sent (Alertmanager's dedup reasons), or `none`. */
export type NotifyReason =
  | 'none'
  | 'first notification'
  | 'new alerts added'
  | 'some alerts resolved'
  | 'all alerts resolved'
  | 'repeat interval elapsed'
  | 'resend';

export interface NflogEntry {
  readonly groupKey: string;
  /** Integration key: `receiver/type/index[/target]`. */
  readonly integration: string;
  /** Fingerprints notified as firing / resolved. */
  readonly firing: readonly string[];
  readonly resolved: readonly string[];
  /** When the entry was written (epoch ms). */
  readonly timestamp: number;
  /** Hash of the alerts sent; equal content repeats count up `repeat` (idempotency keys). */
  readonly contentHash: string;
  readonly repeat: number;
}

/**
 * Alertmanager's `DedupStage.needsUpdate` (notify/notify.go): notify on the first notification,
 * on new firing alerts, when all alerts resolved (always: it clears the log), on new resolved
 * alerts when the integration sends resolved, and when the repeat interval elapsed.
 */
export function needsUpdate(
  entry: NflogEntry | undefined,
  firing: ReadonlySet<string>,
  resolved: ReadonlySet<string>,
  repeatIntervalMs: number,
  sendResolved: boolean,
  nowMs: number,
): NotifyReason {
  if (!entry) return firing.size > 0 ? 'first notification' : 'none';
  const notifiedFiring = new Set(entry.firing);
  for (const fp of firing) {
    if (!notifiedFiring.has(fp)) return entry.firing.length === 0 ? 'first notification' : 'new alerts added';
  }
  if (firing.size === 0) return entry.firing.length > 0 ? 'all alerts resolved' : 'none';
  if (sendResolved) {
    const notifiedResolved = new Set(entry.resolved);
    for (const fp of resolved) if (!notifiedResolved.has(fp)) return 'some alerts resolved';
  }
  return entry.timestamp <= nowMs - repeatIntervalMs ? 'repeat interval elapsed' : 'none';
}

/**
 * The persisted log: one JSON file, rewritten atomically (debounced) after changes. The debounce
 * grows with the cost of a rewrite (at least 20× the last serialisation time), so a log of 10⁵
 * groups during an alert storm costs the event loop at most ~5%, not a rewrite every 100 ms.
 * Losing the last unsaved changes in a crash only re-sends (same idempotency key), never loses.
 */
export class NotificationLog {
  private readonly entries = new Map<string, NflogEntry>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private dirty = false;
  /** Time the last save spent serialising (ms). */
  private lastCostMs = 0;
  readonly path: string;

  constructor(
    dir: string,
    private readonly onError: (err: unknown) => void,
    private readonly saveDelayMs = 100,
  ) {
    this.path = join(dir, 'nflog.json');
  }

  private static key(groupKey: string, integration: string): string {
    return `${integration}\n${groupKey}`;
  }

  async load(): Promise<void> {
    const data = (await readJsonFile(this.path)) as { entries?: NflogEntry[] } | undefined;
    for (const e of data?.entries ?? []) this.entries.set(NotificationLog.key(e.groupKey, e.integration), e);
  }

  get(groupKey: string, integration: string): NflogEntry | undefined {
    return this.entries.get(NotificationLog.key(groupKey, integration));
  }

  set(entry: NflogEntry): void {
    this.entries.set(NotificationLog.key(entry.groupKey, entry.integration), entry);
    this.markDirty();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops entries older than `retentionMs` (Alertmanager's --data.retention). */
  gc(nowMs: number, retentionMs: number): void {
    let removed = false;
    for (const [k, e] of this.entries) {
      if (e.timestamp < nowMs - retentionMs) {
        this.entries.delete(k);
        removed = true;
      }
    }
    if (removed) this.markDirty();
  }

  private markDirty(): void {
    this.dirty = true;
    this.timer ??= setTimeout(
      () => {
        this.timer = undefined;
        void this.save();
      },
      Math.max(this.saveDelayMs, 20 * this.lastCostMs),
    );
    this.timer.unref?.();
  }

  /** Writes the log if it changed. Never rejects (errors go to onError). */
  save(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.chain = this.chain.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        const t0 = performance.now();
        const text = JSON.stringify({ entries: [...this.entries.values()] });
        this.lastCostMs = performance.now() - t0;
        await writeFileAtomic(this.path, text);
      } catch (err) {
        this.dirty = true;
        this.onError(err);
      }
    });
    return this.chain;
  }
}
