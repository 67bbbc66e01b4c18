/**
 * A keyed operator that only counts samples per key (state: one f64), for measuring the ingest
 * path without detection cost (bench/kafka.ts "vigil_ingest"). Loaded by the keyed runtime's
 * workers by URL.
 */
import type { KeyedOperator } from '../../../src/keyed-runtime/index.js';

export const NOOP_OPERATOR_NAME = 'count-only';

export function createOperator(): KeyedOperator<never, number> {
  return {
    name: NOOP_OPERATOR_NAME,
    stateVersion: 1,
    codec: {
      encode: (n) => new Uint8Array(new Float64Array([n]).buffer),
      decode: (b) => new Float64Array(b.slice().buffer)[0] ?? 0,
    },
    process(_ts, _value, ctx) {
      ctx.setState((ctx.state ?? 0) + 1);
    },
    query(q, ctx) {
      return (q as { kind?: string }).kind === 'status' ? { samples: ctx.state ?? 0 } : undefined;
    },
  };
}
