/**
 * The anomaly operator with fault injection, for worker-crash tests (loaded by the workers through
 * `startVigil(config, { operatorModule })`): same name, state and outputs, except that
 * - value -999 kills the worker thread every time (a poison sample), and
 * - value -998 kills it once: when the file named by VIGIL_TEST_CRASH_ONCE exists, it is deleted
 *   and the thread exits; replayed after the restart, the sample is processed normally;
 * - VIGIL_TEST_SLOW_START_MS holds a starting worker that long (as restoring many series does),
 *   which opens the window between a crash and the recovery of the restarted worker.
 */
import { existsSync, rmSync } from 'node:fs';
import type { KeyedOperator } from '../../../src/keyed-runtime/index.js';
import { createOperator as createAnomalyOperator } from '../../../src/operators/anomaly-operator.js';

export function createOperator(options: unknown): KeyedOperator<unknown, unknown> {
  const op = createAnomalyOperator(options) as unknown as KeyedOperator<unknown, unknown>;
  const once = process.env['VIGIL_TEST_CRASH_ONCE'];
  const slowMs = Number(process.env['VIGIL_TEST_SLOW_START_MS'] ?? 0);
  if (slowMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, slowMs);
  return {
    ...op,
    process(ts, value, ctx, emit) {
      if (value === -999) process.exit(3);
      if (value === -998 && once && existsSync(once)) {
        rmSync(once);
        process.exit(4);
      }
      op.process(ts, value, ctx, emit);
    },
  };
}
