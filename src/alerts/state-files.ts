/**
 * Durable files under `<stateDir>/alerts/`: atomic replacement (write a temp file, fsync it,
 * rename over the target, fsync the directory) and bounded append-only JSON-lines logs.
 * A crash leaves either the old or the new content of a file, never a torn one; a torn last
 * line of a JSON-lines log is skipped on load.
 */
import { mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AlertsError } from './errors.js';

let tmpCounter = 0;

/** fsyncs a directory so that a rename or unlink in it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `path` atomically with `data` (temp file + fsync + rename + directory fsync). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${++tmpCounter}`);
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined); // best effort: the temp name is unique
    throw new AlertsError('ALERTS_STATE_IO', `cannot write ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Removes `path` durably (unlink + directory fsync). A missing file is not an error. */
export async function removeFileDurably(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new AlertsError('ALERTS_STATE_IO', `cannot remove ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  await fsyncDir(dirname(path));
}

/** Reads and parses a JSON file; undefined when it does not exist. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AlertsError('ALERTS_STATE_IO', `cannot read ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new AlertsError('ALERTS_STATE_IO', `${path} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

/**
 * A bounded append-only JSON-lines log kept in memory (newest last) and on disk. Appends are
 * batched and serialized; the file is rewritten (atomically) with the newest `max` entries when
 * it holds more than twice that many lines.
 */
export class JsonlLog<T> {
  private entries: T[] = [];
  private pending: T[] = [];
  private linesOnDisk = 0;
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly path: string,
    readonly max: number,
    private readonly onError: (err: unknown) => void,
    private readonly flushDelayMs = 50,
  ) {}

  /** Loads the file (skipping unparsable lines, e.g. a torn last line). */
  async load(): Promise<void> {
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const out: T[] = [];
    let lines = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      lines++;
      try {
        out.push(JSON.parse(line) as T);
      } catch {
        // A torn line from a crash mid-append: the entry was never acknowledged anywhere.
      }
    }
    this.entries = out.slice(-this.max);
    this.linesOnDisk = lines;
  }

  /** The newest `max` entries, oldest first. */
  list(): readonly T[] {
    return this.entries.length > this.max ? this.entries.slice(-this.max) : this.entries;
  }

  append(entry: T): void {
    this.entries.push(entry);
    // Trim in batches: splicing the front of a large array on every append is O(max).
    if (this.entries.length > this.max + Math.max(16, this.max >> 4))
      this.entries.splice(0, this.entries.length - this.max);
    this.pending.push(entry);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushDelayMs);
    this.timer.unref?.();
  }

  /** Writes what is pending; resolves when it is on disk. Never rejects (errors go to onError). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.chain = this.chain.then(async () => {
      const batch = this.pending;
      if (batch.length === 0) return;
      this.pending = [];
      try {
        if (this.linesOnDisk + batch.length > 2 * this.max) {
          await writeFileAtomic(this.path, this.entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
          this.linesOnDisk = this.entries.length;
        } else {
          const fh = await open(this.path, 'a');
          try {
            await fh.writeFile(batch.map((e) => JSON.stringify(e)).join('\n') + '\n');
            await fh.sync();
          } finally {
            await fh.close();
          }
          this.linesOnDisk += batch.length;
        }
      } catch (err) {
        this.onError(err);
      }
    });
    return this.chain;
  }
}
