/**
 * The anomaly operator wrapped with a per-key sample counter (the oracle of the Kafka tests, after
 * Flink's SemanticsCheckMapper): its state is the anomaly state plus `samples` (samples of the key
 * processed into this state) and `orderViolations`; `{kind:'status'}` answers the anomaly status
 * plus both counts. Alerts, resync and checkpoints are the real anomaly operator's. `delayMs`
 * busy-waits per sample (a slow detector). Loaded by the keyed runtime's workers by URL.
 */
import {
  createAnomalyOperator,
  type AnomalyOperatorOptions,
} from '../../../src/operators/anomaly-operator.js';
import type { KeyedContext, KeyedOperator } from '../../../src/keyed-runtime/index.js';

export interface CountingOptions {
  readonly anomaly: AnomalyOperatorOptions;
  /** Busy-wait per sample, ms (0 = none). */
  readonly delayMs?: number;
}

interface CountingState {
  inner: unknown;
  samples: number;
  lastTs: number;
  orderViolations: number;
}

export const COUNTING_OPERATOR_NAME = 'anomaly-counting';
export const COUNTING_STATE_VERSION = 1;

export function createOperator(options: unknown): KeyedOperator<unknown, CountingState> {
  const opts = options as CountingOptions;
  const inner = createAnomalyOperator(opts.anomaly) as unknown as KeyedOperator<unknown, unknown>;
  const delayMs = opts.delayMs ?? 0;
  /** A context for the inner operator that reads and writes `outer.state.inner`. */
  const wrap = (ctx: KeyedContext<CountingState>, s: CountingState): KeyedContext<unknown> => ({
    key: ctx.key,
    keyGroup: ctx.keyGroup,
    get state() {
      return s.inner;
    },
    setState(next) {
      s.inner = next;
    },
    setTimer: (at) => ctx.setTimer(at),
  });
  return {
    name: COUNTING_OPERATOR_NAME,
    stateVersion: COUNTING_STATE_VERSION,
    codec: {
      encode(s) {
        const innerBytes = s.inner === undefined ? new Uint8Array(0) : inner.codec.encode(s.inner);
        const out = new Uint8Array(25 + innerBytes.length);
        const dv = new DataView(out.buffer);
        dv.setFloat64(0, s.samples, true);
        dv.setFloat64(8, s.lastTs, true);
        dv.setFloat64(16, s.orderViolations, true);
        dv.setUint8(24, s.inner === undefined ? 0 : 1);
        out.set(innerBytes, 25);
        return out;
      },
      decode(bytes) {
        const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        return {
          samples: dv.getFloat64(0, true),
          lastTs: dv.getFloat64(8, true),
          orderViolations: dv.getFloat64(16, true),
          inner: dv.getUint8(24) === 1 ? inner.codec.decode(bytes.subarray(25)) : undefined,
        };
      },
    },
    process(ts, value, ctx, emit) {
      if (delayMs > 0) {
        const until = performance.now() + delayMs;
        while (performance.now() < until) {
          // busy: a detector that needs delayMs of CPU per sample
        }
      }
      const s = ctx.state ?? { inner: undefined, samples: 0, lastTs: -Infinity, orderViolations: 0 };
      if (ts <= s.lastTs) s.orderViolations++;
      s.samples++;
      s.lastTs = ts;
      ctx.setState(s);
      inner.process(ts, value, wrap(ctx, s), emit);
    },
    onTimer(now, ctx, emit) {
      const s = ctx.state;
      if (s && inner.onTimer) inner.onTimer(now, wrap(ctx, s), emit);
    },
    query(q, ctx) {
      const s = ctx.state;
      if (!s || !inner.query) return undefined;
      const r = inner.query(q, wrap(ctx, s));
      if ((q as { kind?: string }).kind === 'status')
        return { ...(r as object), samples: s.samples, orderViolations: s.orderViolations };
      return r;
    },
    onBroadcast(m) {
      inner.onBroadcast?.(m);
    },
  };
}
