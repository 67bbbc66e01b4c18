/**
 * The last W accepted (timestamp, value) pairs of every series, so the router can tell an exact
 * repeat of a recent sample (a client retrying a request whose answer it lost) from a sample that
 * really is out of order. Pooled in two typed arrays indexed by a per-series slot: 16·W bytes
 * per series, no object per series.
 */
export class RecentSamples {
  private ts: Float64Array;
  private values: Float64Array;
  private heads: Uint16Array;
  private slots = 0;
  private readonly free: number[] = [];

  constructor(
    /** Pairs kept per series (0 disables: only the newest sample is remembered by the router). */
    readonly window: number,
    initialSeries = 1024,
  ) {
    this.ts = new Float64Array(initialSeries * window).fill(NaN);
    this.values = new Float64Array(initialSeries * window);
    this.heads = new Uint16Array(initialSeries);
  }

  /** A slot for a new series. */
  allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const slot = this.slots++;
    if (slot >= this.heads.length) this.grow();
    return slot;
  }

  /** Returns a slot whose series was forgotten. */
  release(slot: number): void {
    if (this.window > 0) this.ts.fill(NaN, slot * this.window, (slot + 1) * this.window);
    this.heads[slot] = 0;
    this.free.push(slot);
  }

  record(slot: number, ts: number, value: number): void {
    if (this.window === 0) return;
    const h = this.heads[slot] as number;
    const i = slot * this.window + h;
    this.ts[i] = ts;
    this.values[i] = value;
    this.heads[slot] = (h + 1) % this.window;
  }

  /** Whether `ts` is among the series' recent samples: its value, or undefined. */
  valueAt(slot: number, ts: number): number | undefined {
    const base = slot * this.window;
    for (let i = 0; i < this.window; i++) if (this.ts[base + i] === ts) return this.values[base + i];
    return undefined;
  }

  private grow(): void {
    const n = this.heads.length * 2;
    const ts = new Float64Array(n * this.window).fill(NaN);
    ts.set(this.ts);
    const values = new Float64Array(n * this.window);
    values.set(this.values);
    const heads = new Uint16Array(n);
    heads.set(this.heads);
    this.ts = ts;
    this.values = values;
    this.heads = heads;
  }
}
