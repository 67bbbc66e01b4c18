/**
 * A test operator (after Flink's SemanticsCheckMapper): per key it counts samples and checks
 * that timestamps only grow; it emits one output per sample. Value -1 makes it throw (operator
 * error); value -999 kills its worker thread (crash).
 */
import type { KeyedOperator } from '../../../src/keyed-runtime/index.js';

export interface SeqState {
  count: number;
  lastTs: number;
  sum: number;
  orderViolations: number;
}
export interface SeqOutput {
  readonly ts: number;
  readonly count: number;
  readonly worker: number;
}

let lastBroadcast: unknown;

export function createOperator(options: unknown): KeyedOperator<SeqOutput, SeqState> {
  const worker = (options as { worker?: number } | undefined)?.worker ?? 0;
  return {
    name: 'sequence',
    stateVersion: 1,
    codec: {
      encode: (s) => new Uint8Array(new Float64Array([s.count, s.lastTs, s.sum, s.orderViolations]).buffer),
      decode: (b) => {
        const f = new Float64Array(b.slice().buffer);
        return { count: f[0]!, lastTs: f[1]!, sum: f[2]!, orderViolations: f[3]! };
      },
    },
    process(ts, value, ctx, emit) {
      if (value === -1) throw new Error('poison value');
      if (value === -999) process.exit(3);
      const s = ctx.state ?? { count: 0, lastTs: -Infinity, sum: 0, orderViolations: 0 };
      if (ts <= s.lastTs) s.orderViolations++;
      s.count++;
      s.lastTs = ts;
      s.sum += value;
      ctx.setState(s);
      if (value === 42) ctx.setTimer(0);
      emit({ ts, count: s.count, worker });
    },
    onTimer(now, ctx, emit) {
      emit({ ts: -1, count: ctx.state?.count ?? 0, worker });
    },
    query(q, ctx) {
      if (q === 'broadcast') return lastBroadcast;
      return ctx.state;
    },
    onBroadcast(m) {
      lastBroadcast = m;
    },
  };
}
