/**
 * A tiny progress bar on stderr for long local jobs (backtests, checkpoint restores). It draws
 * only when the stream is a terminal, redraws at most `minIntervalMs` apart, and erases itself on
 * `finish()`. Dependency-free.
 */

/** The slice of a tty stream the bar needs (process.stderr satisfies it). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(chunk: string): boolean;
}

export interface ProgressBar {
  /** Reports `done` of `total` units, with an optional label (e.g. the current file). */
  update(done: number, total: number, label?: string): void;
  /** Erases the bar (call once at the end). */
  finish(): void;
  /** True when the bar draws (the stream is a TTY). */
  readonly active: boolean;
}

export interface ProgressOptions {
  /** @defaultValue process.stderr */
  readonly stream?: ProgressStream;
  /** Least time between redraws, ms. @defaultValue 100 */
  readonly minIntervalMs?: number;
  /** Text before the bar. @defaultValue "" */
  readonly title?: string;
}

export function createProgressBar(opts: ProgressOptions = {}): ProgressBar {
  const stream = opts.stream ?? process.stderr;
  const active = stream.isTTY === true;
  const minInterval = opts.minIntervalMs ?? 100;
  const title = opts.title ? `${opts.title} ` : '';
  let last = -Infinity;
  let drawn = false;
  return {
    active,
    update(done, total, label = '') {
      if (!active) return;
      const now = performance.now();
      if (now - last < minInterval && done < total) return;
      last = now;
      const cols = Math.max(40, stream.columns ?? 80);
      const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
      const pct = `${(frac * 100).toFixed(0).padStart(3)}%`;
      const barWidth = Math.max(10, Math.min(30, cols - title.length - pct.length - 20));
      const full = Math.round(frac * barWidth);
      const bar = `[${'#'.repeat(full)}${'.'.repeat(barWidth - full)}]`;
      let line = `${title}${bar} ${pct} ${label}`;
      if (line.length > cols - 1) line = line.slice(0, cols - 1);
      stream.write(`\r${line}\x1b[K`);
      drawn = true;
    },
    finish() {
      if (active && drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
