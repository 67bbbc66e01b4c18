/**
 * An in-process harness for operators, after Flink's KeyedOneInputStreamOperatorTestHarness: push
 * samples, advance processing time, and assert on outputs and state, without threads. It runs the
 * same KeyedStore the workers run. Backtests use it too (same operator code as production).
 */
import { KeyedStore, decodeKeyGroup } from './keyed-store.js';
import { assignKeyGroup } from './key-groups.js';
import type { KeyedOperator, KeyedOutput } from './types.js';
import type { WireError } from './protocol.js';

export interface OperatorHarness<O, S> {
  /** Processes one sample; returns what it emitted. Dropped (not after the key's last ts) → []. */
  push(key: string, tsMs: number, value: number): KeyedOutput<O>[];
  /** Sets the processing-time clock and fires due timers; returns what they emitted. */
  advanceTo(nowMs: number): KeyedOutput<O>[];
  /** The state of `key`, if any. */
  state(key: string): S | undefined;
  query<R>(key: string, query: unknown): R | undefined;
  broadcast(message: unknown): void;
  /** Encodes every key group and restores them into a fresh harness (checkpoint round trip). */
  roundTrip(): OperatorHarness<O, S>;
  /** Errors raised by the operator so far (it is never allowed to crash the harness). */
  readonly errors: WireError[];
  readonly now: number;
  /** Adds a key with restored state (used by roundTrip). */
  restoreEntry(key: string, lastTs: number, lastValue: number, state: S | undefined): void;
}

export function createOperatorHarness<O, S>(
  operator: KeyedOperator<O, S>,
  opts: { keyGroups?: number; startMs?: number } = {},
): OperatorHarness<O, S> {
  const keyGroups = opts.keyGroups ?? 128;
  let now = opts.startMs ?? 0;
  const store = new KeyedStore<O, S>(operator, () => now);
  const ids = new Map<string, number>();
  const errors: WireError[] = [];
  const idOf = (key: string): number => {
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size;
      ids.set(key, id);
      store.addKey(id, key, assignKeyGroup(key, keyGroups));
    }
    return id;
  };
  const take = (): KeyedOutput<O>[] => {
    const d = store.drain();
    errors.push(...d.errors);
    return d.outputs as KeyedOutput<O>[];
  };
  const h: OperatorHarness<O, S> = {
    restoreEntry(key, lastTs, lastValue, state) {
      const id = ids.size;
      ids.set(key, id);
      store.addKey(id, key, assignKeyGroup(key, keyGroups), lastTs, lastValue, state);
    },
    errors,
    get now() {
      return now;
    },
    push(key, tsMs, value) {
      store.process(idOf(key), tsMs, value);
      return take();
    },
    advanceTo(nowMs) {
      now = nowMs;
      store.fireTimers(nowMs);
      return take();
    },
    state: (key) => {
      const id = ids.get(key);
      return id === undefined ? undefined : store.stateOf(id);
    },
    query<R>(key: string, q: unknown) {
      const id = ids.get(key);
      return id === undefined ? undefined : (store.query(id, q) as R | undefined);
    },
    broadcast: (m) => operator.onBroadcast?.(m),
    roundTrip() {
      const fresh = createOperatorHarness(operator, { keyGroups, startMs: now });
      for (const g of store.keyGroups()) {
        for (const e of decodeKeyGroup(store.encodeKeyGroup(g).bytes)) {
          fresh.restoreEntry(
            e.key,
            e.lastTs,
            e.lastValue,
            e.state ? operator.codec.decode(e.state) : undefined,
          );
        }
      }
      return fresh;
    },
  };
  return h;
}
