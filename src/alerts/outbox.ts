/**
 * The durable outbox: `<stateDir>/alerts/outbox/<idempotency key>.json`, one file per
 * notification, written atomically (temp + fsync + rename + dir fsync) before the first attempt
 * and removed only once the notification was delivered or failed for good (it then moves to the
 * delivery log). Each failed attempt is recorded in the file, so attempts and backoff survive a
 * restart. Naming files by idempotency key makes re-enqueueing the same notification a no-op.
 *
 * Entries hold the rendered content and a reference to the receiver integration, never its
 * secrets (URLs, passwords and signing keys are read from the config at send time).
 */
import { readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeliveryFailureReason } from './errors.js';
import type { NotifyReason } from './nflog.js';
import { ensureDir, readJsonFile, removeFileDurably, writeFileAtomic } from './state-files.js';

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
  private readonly ids = new Set<string>();
  private maxSeq = 0;

  constructor(alertsDir: string) {
    this.dir = join(alertsDir, 'outbox');
  }

  /**
   * Loads every pending entry, oldest first. Unreadable files are moved to `outbox/corrupt/`
   * and returned in `corrupt` (the caller logs them; they are never silently dropped).
   */
  async load(): Promise<{ entries: OutboxEntry[]; corrupt: string[] }> {
    await ensureDir(this.dir);
    const entries: OutboxEntry[] = [];
    const corrupt: string[] = [];
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const path = join(this.dir, name);
      try {
        const e = (await readJsonFile(path)) as OutboxEntry | undefined;
        if (!e || typeof e.id !== 'string' || typeof e.seq !== 'number' || !e.payload)
          throw new Error('missing fields');
        e.attemptCount ??= e.attempts.length;
        entries.push(e);
        this.ids.add(e.id);
        this.maxSeq = Math.max(this.maxSeq, e.seq);
      } catch {
        await ensureDir(join(this.dir, 'corrupt'));
        await rename(path, join(this.dir, 'corrupt', name));
        corrupt.push(name);
      }
    }
    entries.sort((a, b) => a.seq - b.seq);
    return { entries, corrupt };
  }

  /** The next sequence number (enqueue order survives restarts). */
  nextSeq(): number {
    return ++this.maxSeq;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }

  private path(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  /** Writes a new entry durably. Returns false (and writes nothing) when it is already pending. */
  async put(entry: OutboxEntry): Promise<boolean> {
    if (this.ids.has(entry.id)) return false;
    this.ids.add(entry.id);
    try {
      await writeFileAtomic(this.path(entry.id), JSON.stringify(entry));
    } catch (err) {
      this.ids.delete(entry.id);
      throw err;
    }
    return true;
  }

  /** Rewrites an entry after a failed attempt. */
  async update(entry: OutboxEntry): Promise<void> {
    await writeFileAtomic(this.path(entry.id), JSON.stringify(entry));
  }

  async remove(id: string): Promise<void> {
    await removeFileDurably(this.path(id));
    this.ids.delete(id);
  }
}
