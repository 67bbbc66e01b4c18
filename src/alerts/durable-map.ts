/**
 * A string-keyed map kept in memory and persisted as an append-only JSON-lines log: each `set` or
 * `delete` appends one line, and `set`/`delete` resolve once that line is on disk. Appends made
 * while a write is in flight go out together in the next write, with one fdatasync (group
 * commit), through one file handle that stays open. So a change costs one line, not a file
 * (create, write, fsync, rename, directory fsync per notification was what the outbox did).
 *
 * The log is rewritten from memory (atomically: temp file, fsync, rename, directory fsync) when
 * it holds more than twice as many lines as live keys plus {@link COMPACT_SLACK}, when it is
 * opened, and after a failed write (which may have left a partial line). A torn last line (a
 * crash mid-append: never acknowledged) is skipped on open; an unreadable line elsewhere is
 * counted, and the file is copied aside (`<name>.corrupt-<time>`) before the rewrite drops it.
 *
 * Lines: `{"k":"<key>","v":<value>}` or `{"k":"<key>","d":1}`.
 */
import { copyFile, open, readFile, type FileHandle } from 'node:fs/promises';
import { AlertsError } from './errors.js';
import { writeFileAtomic } from './state-files.js';

/** Lines beyond twice the live keys before the log is rewritten. */
const COMPACT_SLACK = 1000;

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

export class DurableMap<T> {
  private readonly map = new Map<string, T>();
  private fh: FileHandle | undefined;
  private lines = 0;
  private queue: string[] = [];
  private waiters: Waiter[] = [];
  private writing: Promise<void> | undefined;
  /** A write failed: the file may end in a partial line, so the next write rewrites it. */
  private broken = false;
  private closed = false;

  constructor(readonly path: string) {}

  /**
   * Replays the log (a missing file is an empty map), rewrites it clean and opens it for
   * appending. `seed` entries (e.g. from an older file format) are added before the rewrite.
   */
  async open(
    seed: Iterable<readonly [string, T]> = [],
  ): Promise<{ corruptLines: number; copiedTo?: string }> {
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new AlertsError('ALERTS_STATE_IO', `cannot read ${this.path}: ${(err as Error).message}`, {
          cause: err,
        });
    }
    const lines = text.split('\n');
    const torn = text.length > 0 && !text.endsWith('\n') ? lines.length - 1 : -1;
    let corruptLines = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      if (line === '') continue;
      let rec: { k?: unknown; v?: unknown; d?: unknown };
      try {
        rec = JSON.parse(line) as typeof rec;
        if (typeof rec.k !== 'string' || (rec.d === undefined && rec.v === undefined))
          throw new Error('shape');
      } catch {
        if (i !== torn) corruptLines++;
        continue;
      }
      if (rec.d !== undefined) this.map.delete(rec.k);
      else this.map.set(rec.k, rec.v as T);
    }
    for (const [k, v] of seed) if (!this.map.has(k)) this.map.set(k, v);
    let copiedTo: string | undefined;
    if (corruptLines > 0) {
      copiedTo = `${this.path}.corrupt-${Date.now()}`;
      await copyFile(this.path, copiedTo);
    }
    await this.rewrite();
    return copiedTo ? { corruptLines, copiedTo } : { corruptLines };
  }

  get size(): number {
    return this.map.size;
  }
  get(key: string): T | undefined {
    return this.map.get(key);
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
  entries(): IterableIterator<[string, T]> {
    return this.map.entries();
  }

  /** Sets `key` now; resolves when the change is on disk (rejects with ALERTS_STATE_IO). */
  set(key: string, value: T): Promise<void> {
    this.map.set(key, value);
    return this.append(JSON.stringify({ k: key, v: value }) + '\n');
  }

  /** Deletes `key` now; resolves when the change is on disk. */
  delete(key: string): Promise<void> {
    if (!this.map.delete(key)) return Promise.resolve();
    return this.append(JSON.stringify({ k: key, d: 1 }) + '\n');
  }

  /**
   * Forgets `key` in memory only (after a `set` that failed: the next write rewrites the file
   * from memory, so the line that may have reached it is dropped).
   */
  discard(key: string): void {
    this.map.delete(key);
    this.broken = true;
  }

  /** Resolves when every change made so far is on disk (or has failed). */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Waits for pending writes and closes the file. */
  async close(): Promise<void> {
    await this.flushed();
    this.closed = true;
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private append(line: string): Promise<void> {
    if (this.closed) return Promise.reject(new AlertsError('ALERTS_STATE_IO', `${this.path} is closed`, {}));
    this.queue.push(line);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.writing ??= this.drain();
    return done;
  }

  /**
   * Writes until the queue is empty. `writing` is cleared in the same step as the last check of
   * the queue: a change made by a waiter's continuation then starts the next drain.
   */
  private async drain(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        this.writing = undefined;
        return;
      }
      const batch = this.queue;
      const waiters = this.waiters;
      this.queue = [];
      this.waiters = [];
      try {
        if (this.broken || !this.fh || this.lines + batch.length > 2 * this.map.size + COMPACT_SLACK)
          await this.rewrite(); // memory already holds every queued change
        else {
          await this.fh.write(batch.length === 1 ? (batch[0] as string) : batch.join(''));
          await this.fh.datasync();
          this.lines += batch.length;
        }
        for (const w of waiters) w.resolve();
      } catch (err) {
        this.broken = true;
        const e = new AlertsError('ALERTS_STATE_IO', `cannot write ${this.path}: ${(err as Error).message}`, {
          cause: err,
        });
        for (const w of waiters) w.reject(e);
      }
    }
  }

  /** Writes the whole map as a fresh log and reopens it for appending. */
  private async rewrite(): Promise<void> {
    const parts: string[] = [];
    for (const [k, v] of this.map) parts.push(JSON.stringify({ k, v }) + '\n');
    const old = this.fh;
    this.fh = undefined;
    await old?.close();
    await writeFileAtomic(this.path, parts.join(''));
    this.fh = await open(this.path, 'a');
    this.lines = parts.length;
    this.broken = false;
  }
}
