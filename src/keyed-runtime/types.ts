/**
 * The operator contract of the keyed runtime (after Flink's KeyedProcessFunction, without its
 * implicit "current key": each call gets its key's state explicitly).
 *
 * Operators run on worker threads and are synchronous on purpose: no `await` can interleave two
 * samples of one key. A key's samples reach its operator in timestamp order, each exactly once
 * per accepted sample (duplicates and out-of-order samples are refused before they reach it).
 */

/** What an operator sees for one key during one call. Valid only during that call: do not store it. */
export interface KeyedContext<S> {
  /** The series key (see src/common/series-key.ts). */
  readonly key: string;
  /** The key group the key belongs to, in [0, keyGroups). */
  readonly keyGroup: number;
  /** This key's state; undefined until first set (or after it was cleared). */
  readonly state: S | undefined;
  /** Replaces this key's state; undefined clears it (the key is forgotten). */
  setState(next: S | undefined): void;
  /**
   * Asks for `onTimer` to be called for this key at processing time `atMs` (epoch ms) or soon
   * after (timers are checked about once a second). One pending timer per key: a later call
   * replaces the earlier one.
   */
  setTimer(atMs: number): void;
}

/** Encodes a key's state for checkpoints; `decode(encode(s))` must behave exactly like `s`. */
export interface StateCodec<S> {
  encode(state: S): Uint8Array;
  decode(bytes: Uint8Array): S;
  /**
   * Optional, with `encodeInto`: the exact length of `encode(state)`, bytes. Snapshots then write
   * each state straight into the key group's buffer (no buffer per key: at a million keys that
   * allocation churn dominated the checkpoint, bench:memory).
   */
  byteLength?(state: S): number;
  /** Writes `encode(state)` at `out[offset…offset + byteLength(state))`. */
  encodeInto?(state: S, out: Uint8Array, offset: number): void;
}

/**
 * A keyed operator. `O` is what it emits (must survive structured clone: it crosses threads);
 * `S` is its per-key state, persisted through `codec`.
 */
export interface KeyedOperator<O, S, Q = unknown, R = unknown> {
  /** Stable name; names the state in checkpoints and logs. */
  readonly name: string;
  /** Version of the state encoding; a checkpoint written with another version is refused. */
  readonly stateVersion: number;
  readonly codec: StateCodec<S>;
  /** One sample of `ctx.key`: event time `tsMs` (epoch ms) and a finite `value`. */
  process(tsMs: number, value: number, ctx: KeyedContext<S>, emit: (out: O) => void): void;
  /** A timer set with `ctx.setTimer` fired; `nowMs` is the processing time. */
  onTimer?(nowMs: number, ctx: KeyedContext<S>, emit: (out: O) => void): void;
  /**
   * The store forgot a key (TTL expiry, its key group dropped) or its state was replaced: the
   * operator may reuse the state's memory. Called once per state; the state is not used after.
   */
  release?(state: S): void;
  /** Answers a read-only question about one key (console, API). Must not change state. */
  query?(query: Q, ctx: KeyedContext<S>): R;
  /**
   * A broadcast from the main thread (e.g. silences changed). Called once per worker; the
   * operator keeps what it needs in module state (it is not per key).
   */
  onBroadcast?(message: unknown): void;
  /**
   * Optional self-metrics: a snapshot of the operator's cumulative counters on this worker since
   * it was created (e.g. `{ refits: 12, refit_seconds_sum: 0.03 }`), numbers only. The worker
   * attaches it to an acknowledgement at most about once a second, and only when it changed;
   * the main thread shows the latest one per worker in `RuntimeStats` (for /metrics). Must be
   * cheap and must not change any key's state. Values restart from zero with a restarted worker.
   */
  stats?(): Readonly<Record<string, number>>;
}

/**
 * What a worker module exports: the runtime loads it by URL on each worker thread and calls
 * `createOperator` with the (structured-cloned) options given to `createKeyedRuntime`.
 */
export interface OperatorModule<O, S> {
  createOperator(options: unknown): KeyedOperator<O, S>;
}

/** An output of an operator, as the main thread receives it. */
export interface KeyedOutput<O> {
  readonly key: string;
  readonly keyGroup: number;
  readonly output: O;
}
