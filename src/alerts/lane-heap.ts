/** The deliverer's timer queue. */
/**
 * A binary min-heap of (time, lane). Scheduling is O(log n) per event, so a storm of 10⁴–10⁵
 * pending groups costs what a few do (a scan over every lane per finished attempt did not).
 */
export class LaneHeap {
  private readonly at: number[] = [];
  private readonly lane: string[] = [];

  get size(): number {
    return this.at.length;
  }

  peekAt(): number {
    return this.at[0] ?? Infinity;
  }

  push(at: number, lane: string): void {
    let i = this.at.length;
    this.at.push(at);
    this.lane.push(lane);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.at[parent] as number) <= at) break;
      this.at[i] = this.at[parent] as number;
      this.lane[i] = this.lane[parent] as string;
      i = parent;
    }
    this.at[i] = at;
    this.lane[i] = lane;
  }

  /** Removes the earliest item; returns its lane and time. */
  pop(): { at: number; lane: string } | undefined {
    const n = this.at.length;
    if (n === 0) return undefined;
    const top = { at: this.at[0] as number, lane: this.lane[0] as string };
    const lastAt = this.at.pop() as number;
    const lastLane = this.lane.pop() as string;
    if (n > 1) {
      let i = 0;
      const m = n - 1;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= m) break;
        const r = l + 1;
        const c = r < m && (this.at[r] as number) < (this.at[l] as number) ? r : l;
        if ((this.at[c] as number) >= lastAt) break;
        this.at[i] = this.at[c] as number;
        this.lane[i] = this.lane[c] as string;
        i = c;
      }
      this.at[i] = lastAt;
      this.lane[i] = lastLane;
    }
    return top;
  }
}
