/**
 * The durable outbox: `<stateDir>/alerts/outbox/outbox.log`, a {@link DurableMap} by idempotency
 * key. A notification is on disk (fsynced) before its first attempt and removed only once it was
 * delivered or failed for good (it then moves to the delivery log). Each failed attempt is
 * recorded, so attempts and backoff survive a restart. Keying by idempotency key makes
 * re-enqueueing the same notification a no-op. Notifications written concurrently share one
 * write and fsync.
 *
 * Earlier versions kept one file per notification (`outbox/<key>.json`): those are read on load,
 * moved into the log and removed.
 *
 * Entries hold the rendered content and a reference to the receiver integration, never its
 * secrets (URLs, passwords and signing keys are read from the config at send time).
 */
import { readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeliveryFailureReason } from './errors.js';
import type { NotifyReason } from './nflog.js';
import { DurableMap } from './durable-map.js';
import { ensureDir, readJsonFile, removeFileDurably } from './state-files.js';

export type IntegrationType = 'webhook' | 'email' | 'alertmanager' | 'log';

/** One delivery attempt. Times in epoch ms. */
export interface AttemptRecord {
  readonly at: number;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly retryable?: boolean;
  readonly reason?: DeliveryFailureReason;
  readonly statusCode?: number;
  readonly error?: string;
}

/** What an entry carries to its integration (rendered when it was enqueued). */
export type NotificationPayload =
  | { readonly kind: 'json'; readonly body: string }
  | {
      readonly kind: 'email';
      readonly subject: string;
      readonly text: string;
      readonly html: string;
      readonly headers: Readonly<Record<string, string>>;
      readonly attachments: readonly { cid: string; filename: string; contentType: string; base64: string }[];
    }
  | { readonly kind: 'log'; readonly message: string; readonly record: Readonly<Record<string, unknown>> };

/** The alerts of a notification, for the delivery log and tests. */
export interface NotifiedAlert {
  readonly fingerprint: string;
  readonly alertname: string;
  readonly status: 'firing' | 'resolved';
  readonly startsAt: number;
  readonly endsAt?: number;
}

export interface OutboxEntry {
  /** The idempotency key (also the file name). */
  readonly id: string;
  /** Global enqueue order. */
  readonly seq: number;
  readonly createdAt: number;
  readonly receiver: string;
  readonly integrationType: IntegrationType;
  /** `receiver/type/index[/target]`. */
  readonly integration: string;
  readonly groupKey: string;
  readonly reason: NotifyReason;
  readonly alerts: readonly NotifiedAlert[];
  readonly payload: NotificationPayload;
  /** The first and latest attempts (at most 50 kept). */
  attempts: AttemptRecord[];
  /** Attempts made so far (all of them; files from before this field get `attempts.length` on load). */
  attemptCount: number;
  /** Earliest time of the next attempt (epoch ms). */
  nextAttemptAt: number;
}

export class Outbox {
  readonly dir: string;
  private readonly log: DurableMap<OutboxEntry>;
  private maxSeq = 0;

  constructor(alertsDir: string) {
    this.dir = join(alertsDir, 'outbox');
    this.log = new DurableMap<OutboxEntry>(join(this.dir, 'outbox.log'));
  }

  /**
   * Loads every pending entry, oldest first. What cannot be read is returned in `corrupt` (the
   * caller logs it; it is never silently dropped): per-file entries of the old format are moved
   * to `outbox/corrupt/`; unreadable lines of the log are counted and the log copied aside.
   */
  async load(): Promise<{ entries: OutboxEntry[]; corrupt: string[] }> {
    await ensureDir(this.dir);
    const corrupt: string[] = [];
    const legacy: [string, OutboxEntry][] = [];
    const legacyFiles: string[] = [];
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const path = join(this.dir, name);
      try {
        const e = (await readJsonFile(path)) as OutboxEntry | undefined;
        if (!isEntry(e)) throw new Error('missing fields');
        legacy.push([e.id, e]);
        legacyFiles.push(path);
      } catch {
        await ensureDir(join(this.dir, 'corrupt'));
        await rename(path, join(this.dir, 'corrupt', name));
        corrupt.push(name);
      }
    }
    const opened = await this.log.open(legacy);
    if (opened.corruptLines > 0)
      corrupt.push(`${opened.corruptLines} unreadable line(s) of outbox.log (copied to ${opened.copiedTo})`);
    // Now in the log (rewritten and fsynced by open): the old files can go.
    for (const path of legacyFiles) await removeFileDurably(path);
    const entries: OutboxEntry[] = [];
    for (const [id, e] of this.log.entries()) {
      if (!isEntry(e)) {
        void this.log.delete(id);
        corrupt.push(`outbox.log entry ${JSON.stringify(id)}`);
        continue;
      }
      e.attemptCount ??= e.attempts.length;
      entries.push(e);
      this.maxSeq = Math.max(this.maxSeq, e.seq);
    }
    await this.log.flushed();
    entries.sort((a, b) => a.seq - b.seq);
    return { entries, corrupt };
  }

  /** The next sequence number (enqueue order survives restarts). */
  nextSeq(): number {
    return ++this.maxSeq;
  }

  has(id: string): boolean {
    return this.log.has(id);
  }

  get size(): number {
    return this.log.size;
  }

  /** Writes a new entry durably. Returns false (and writes nothing) when it is already pending. */
  async put(entry: OutboxEntry): Promise<boolean> {
    if (this.log.has(entry.id)) return false;
    try {
      await this.log.set(entry.id, entry);
    } catch (err) {
      this.log.discard(entry.id);
      throw err;
    }
    return true;
  }

  /** Records an entry's attempts after a failed attempt. */
  async update(entry: OutboxEntry): Promise<void> {
    await this.log.set(entry.id, entry);
  }

  async remove(id: string): Promise<void> {
    await this.log.delete(id);
  }

  /** Waits for pending writes and closes the log. */
  async close(): Promise<void> {
    await this.log.close();
  }
}

function isEntry(e: OutboxEntry | undefined): e is OutboxEntry {
  return (
    !!e && typeof e.id === 'string' && typeof e.seq === 'number' && !!e.payload && Array.isArray(e.attempts)
  );
}
