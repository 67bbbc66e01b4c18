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
import { DurableMap } from './durable-map.js';
import { readJsonFile, removeFileDurably } from './state-files.js';

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
 * The persisted log: `nflog.log`, a {@link DurableMap} (one appended line per change, rewritten
 * when mostly stale), so a notification costs one line however many groups the log holds. Writes
 * are not awaited: losing the last changes in a crash only re-sends (same idempotency key), never
 * loses. The older format (`nflog.json`, rewritten whole) is read once and removed.
 */
export class NotificationLog {
  private readonly log: DurableMap<NflogEntry>;
  private readonly legacyPath: string;

  constructor(
    dir: string,
    private readonly onError: (err: unknown) => void,
  ) {
    this.log = new DurableMap<NflogEntry>(join(dir, 'nflog.log'));
    this.legacyPath = join(dir, 'nflog.json');
  }

  private static key(groupKey: string, integration: string): string {
    return `${integration}\n${groupKey}`;
  }

  async load(): Promise<void> {
    const legacy = (await readJsonFile(this.legacyPath)) as { entries?: NflogEntry[] } | undefined;
    const opened = await this.log.open(
      (legacy?.entries ?? []).map((e) => [NotificationLog.key(e.groupKey, e.integration), e] as const),
    );
    if (opened.corruptLines > 0)
      this.onError(
        new Error(
          `${opened.corruptLines} unreadable line(s) in ${this.log.path} (copied to ${opened.copiedTo})`,
        ),
      );
    if (legacy) await removeFileDurably(this.legacyPath);
  }

  get(groupKey: string, integration: string): NflogEntry | undefined {
    return this.log.get(NotificationLog.key(groupKey, integration));
  }

  set(entry: NflogEntry): void {
    this.log.set(NotificationLog.key(entry.groupKey, entry.integration), entry).catch(this.onError);
  }

  get size(): number {
    return this.log.size;
  }

  /** Drops entries older than `retentionMs` (Alertmanager's --data.retention). */
  gc(nowMs: number, retentionMs: number): void {
    for (const [k, e] of this.log.entries())
      if (e.timestamp < nowMs - retentionMs) this.log.delete(k).catch(this.onError);
  }

  /** Resolves when every change so far is on disk. Never rejects (errors go to onError). */
  save(): Promise<void> {
    return this.log.flushed();
  }

  /** Writes what is pending and closes the file. */
  close(): Promise<void> {
    return this.log.close().catch(this.onError);
  }
}
