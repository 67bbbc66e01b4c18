/**
 * The keyed runtime's main-thread side: routes each sample by key → key group → worker, batches
 * samples per worker into transferable typed arrays, bounds each worker's queue (backpressure),
 * and coordinates snapshots, restores, queries and broadcasts.
 *
 * Ordering: a key always maps to the same worker and a worker's port is FIFO, so one key's
 * samples are processed in the order they were offered. The router refuses a sample whose
 * timestamp is not after its key's newest accepted one (`OUT_OF_ORDER`), acknowledges an exact
 * repeat of it as a duplicate, and refuses a same-timestamp sample with another value
 * (`DUPLICATE_CONFLICT`).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RuntimeError } from './errors.js';
import { assignKeyGroup, workerForKeyGroup } from './key-groups.js';
import { decodeKeyGroup } from './keyed-store.js';
import { RecentSamples } from './recent-samples.js';
import type { FromWorker, NewKeys, ToWorker, WireError } from './protocol.js';
import type { KeyedOutput } from './types.js';
import type { WalSeriesRef } from './wal.js';

/** A sample as the runtime sees it. */
export interface KeyedSample {
  readonly key: string;
  readonly ts: number;
  readonly value: number;
}

/** Per-sample refusals the router decides. */
export type RouterRejectCode = 'OUT_OF_ORDER' | 'DUPLICATE_CONFLICT' | 'QUARANTINED' | 'LIMIT_EXCEEDED';

/**
 * Decides which new series may exist (a series limit), kept in step with the runtime's series
 * index: the runtime owns the set of live series, so a limit counted here never drifts from it.
 * `admit` is asked only when `offer` meets a key it has no route for (never per sample of a known
 * series); `added` and `removed` report every other change (restores, replays, expiry, key-group
 * drops, a dead worker's keys). All calls are synchronous, on the main thread.
 */
export interface SeriesLimiter {
  /**
   * A sample of a series the runtime does not have: undefined to create the series (the limiter
   * counts it now), or the reason to refuse that sample with LIMIT_EXCEEDED.
   */
  admit(key: string): string | undefined;
  /** A series came to exist without `admit` (restored from a checkpoint, replayed from the log). */
  added(key: string): void;
  /** A series was forgotten (expired, its key group dropped, its worker died). */
  removed(key: string): void;
}

/** A sample identified by its series key and timestamp (ms). */
export interface SampleId {
  readonly key: string;
  readonly ts: number;
}

/**
 * A worker that dies this many times while processing the same sample has found a poison
 * sample: it is quarantined instead of being replayed into the next worker.
 */
export const QUARANTINE_AFTER_CRASHES = 2;
/** Crashes of one worker within this window (ms) count towards its recovery delay. */
export const CRASH_WINDOW_MS = 60_000;

/**
 * How long the recovery of a restarted worker waits (ms) after its `recentCrashes`-th crash within
 * {@link CRASH_WINDOW_MS}: none after the first, then 500 ms doubling up to 30 s, so a crash loop
 * that is not one sample's fault (memory, a bug on a timer) costs little CPU while it lasts.
 */
export function recoveryDelayMs(recentCrashes: number): number {
  return recentCrashes <= 1 ? 0 : Math.min(30_000, 500 * 2 ** (recentCrashes - 2));
}

export interface OfferResult {
  /** Indices (into the offered array) of samples sent to workers. */
  readonly accepted: number[];
  /**
   * The series of each accepted sample (parallel to `accepted`): what `Wal.append` takes to skip
   * looking each sample's key up again (as a Prometheus appender hands back a series reference).
   */
  readonly refs: WalSeriesRef[];
  /** Exact repeats of a key's newest sample (acknowledged, not processed again). */
  readonly duplicates: number;
  readonly rejected: { readonly index: number; readonly code: RouterRejectCode; readonly reason: string }[];
}

export interface RuntimeEvents<O> {
  /** Operator outputs, in processing order per key. */
  onOutputs(outputs: readonly KeyedOutput<O>[]): void;
  /**
   * Something failed: an operator threw for a key (the sample was skipped; `key` set), or a worker
   * died (`code` RUNTIME_WORKER_FAILED). Never swallowed: the wiring logs and counts it.
   */
  onError(error: WireError & { readonly worker: number }): void;
  /**
   * A worker died and was restarted empty. Its key groups must be restored and the samples since
   * the last checkpoint re-offered (`reoffer`), or they are lost. Called after the new worker is up.
   */
  onWorkerRestarted?(worker: number, keyGroups: readonly number[]): void;
  /**
   * A sample was being processed each of the {@link QUARANTINE_AFTER_CRASHES} times a worker died:
   * from now on `offer` refuses it (QUARANTINED) and `reoffer` skips it. The wiring records it
   * durably (to pass it back as `quarantined` after a restart) and reports it.
   */
  onQuarantined?(sample: SampleId & { readonly worker: number; readonly crashes: number }): void;
}

export interface KeyedRuntimeOptions<O> extends RuntimeEvents<O> {
  /** URL (href) of a module exporting `createOperator` (see OperatorModule). */
  readonly operatorModule: string;
  /** Passed to `createOperator` on each worker (structured-cloned). */
  readonly operatorOptions: unknown;
  /** Worker threads, or 'auto' (cores − 1, at least 1). */
  readonly workers: number | 'auto';
  readonly keyGroups: number;
  /** Samples queued per worker (batched but not yet acknowledged) before `offer` refuses. */
  readonly queueCapacity: number;
  /** Samples per batch message. */
  readonly batchSize: number;
  /**
   * Recent samples remembered per series to acknowledge exact repeats (retries) as duplicates.
   * @defaultValue 8
   */
  readonly dedupWindow?: number;
  /** Samples quarantined earlier (see `onQuarantined`): refused and skipped from the start. */
  readonly quarantined?: Iterable<SampleId>;
}

/** Counters for /metrics and the console. */
export interface RuntimeStats {
  readonly workers: readonly {
    readonly index: number;
    readonly queued: number;
    readonly processed: number;
    readonly stale: number;
    readonly restarts: number;
    /** Age of the oldest unacknowledged batch, ms (0 when idle). */
    readonly lagMs: number;
    /**
     * The latest `KeyedOperator.stats()` snapshot from this worker (cumulative since the worker
     * started; refreshed about once a second while it changes), or undefined when the operator
     * has none or has not reported yet. A restarted worker starts again from zero.
     */
    readonly operatorStats: Readonly<Record<string, number>> | undefined;
  }[];
  readonly keys: number;
  /** Samples quarantined (see `onQuarantined`), and replayed copies of them skipped since start. */
  readonly quarantined: number;
  readonly quarantineSkipped: number;
  /** The workers' `operatorStats` summed key by key (empty when no worker reported). */
  readonly operatorStats: Readonly<Record<string, number>>;
}

interface RouteEntry extends WalSeriesRef {
  readonly id: number;
  readonly worker: number;
  readonly keyGroup: number;
  lastTs: number;
  lastValue: number;
  /** Slot in the recent-samples pool. */
  readonly slot: number;
}

interface Batch {
  ids: Int32Array;
  ts: Float64Array;
  values: Float64Array;
  n: number;
  newIds: number[];
  newKeys: string[];
  newGroups: number[];
}

interface WorkerSlot {
  readonly index: number;
  worker: Worker;
  ready: Promise<void>;
  batch: Batch;
  /** Samples sent and not yet acknowledged, per batch seq, with the send time. */
  readonly inflight: Map<number, { n: number; sentAt: number }>;
  inflightSamples: number;
  processed: number;
  stale: number;
  restarts: number;
  nextId: number;
  readonly replies: Map<number, (msg: FromWorker) => void>;
  exiting: boolean;
  /** Latest operator stats snapshot (see RuntimeStats). */
  operatorStats: Readonly<Record<string, number>> | undefined;
  /**
   * The buffer the worker writes snapshots into (shared, reused across the chunks of a
   * checkpoint; see `snapshotEach`); undefined while a snapshot uses it or after it idled.
   */
  exchange: SharedArrayBuffer | undefined;
  /**
   * Written by the worker before each sample it processes: [worker-local key id, ts]; id −1
   * between batches. Read after the worker died, it names the sample that was being processed.
   */
  probe: Float64Array;
  /** Times (ms) of this worker's crashes within {@link CRASH_WINDOW_MS}. */
  crashTimes: number[];
}

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- O is the output type delivered to onOutputs
export interface KeyedRuntime<O> {
  /** Resolves when every worker has loaded its operator. */
  readonly ready: Promise<void>;
  readonly workerCount: number;
  readonly keyGroups: number;
  /**
   * Routes samples to their workers (synchronously). Throws RuntimeError RUNTIME_OVERLOADED when
   * a target worker's queue is full (nothing of the batch is taken) and RUNTIME_CLOSED after close.
   */
  offer(samples: readonly KeyedSample[]): OfferResult;
  /**
   * Throws what `offer` would throw for any batch now (RUNTIME_OVERLOADED when a worker's queue is
   * full or ingest is paused, RUNTIME_CLOSED after close), so a request can be refused before its
   * body is read or decoded; returns when `offer` would take samples.
   */
  checkCapacity(): void;
  /**
   * Re-sends samples to their workers without the router's order checks (recovery replays); each
   * worker drops samples not after the key's last processed timestamp. Ignores queue bounds.
   */
  reoffer(samples: readonly KeyedSample[], keyGroups?: ReadonlySet<number>): void;
  /** Sends the partly filled batches now. */
  flush(): void;
  /** Resolves when everything offered so far has been processed. */
  drain(): Promise<void>;
  /**
   * A consistent snapshot of every key group's state: all samples offered before the call are in
   * it, none offered after. `keyGroups` limits it to those groups.
   */
  snapshot(keyGroups?: readonly number[]): Promise<Map<number, { bytes: Uint8Array; keys: number }>>;
  /**
   * The same snapshot, handed to `each` one key group at a time (in worker order) as a view of a
   * buffer the workers reuse: `bytes` is valid only until the promise `each` returns settles.
   * Checkpoints use it, so a snapshot allocates no buffer per key or per group (at a million
   * series, allocating 15 GB per checkpoint cost one full GC per 64 MB, bench:memory).
   */
  snapshotEach(
    keyGroups: readonly number[] | undefined,
    each: (keyGroup: number, bytes: Uint8Array, keys: number) => Promise<void>,
  ): Promise<void>;
  /**
   * Loads key-group blobs (from a checkpoint) into the workers that own them, a few groups at a
   * time. Returns the number of series restored.
   */
  restore(groups: Iterable<readonly [number, Uint8Array]>): Promise<number>;
  /** Forgets the given key groups everywhere (their Kafka partitions were revoked). */
  dropKeyGroups(keyGroups: readonly number[]): Promise<void>;
  /** Asks one key's operator a read-only question; undefined when the key is unknown. */
  query<R>(key: string, query: unknown): Promise<R | undefined>;
  /** Asks every key; returns up to `limit` answers per worker. */
  queryAll<R>(query: unknown, limit?: number): Promise<{ key: string; result: R }[]>;
  /** Sends a message to every worker's operator (`onBroadcast`); replayed to restarted workers. */
  broadcast(message: { readonly topic: string }): void;
  /** Forgets keys whose last sample was processed before `olderThanMs` (processing time). */
  expire(olderThanMs: number): Promise<number>;
  /** Known keys (the series index), in insertion order. */
  keys(): IterableIterator<string>;
  hasKey(key: string): boolean;
  readonly size: number;
  stats(): RuntimeStats;
  /**
   * Installs (or with undefined removes) the limiter asked before `offer` creates a series; it is
   * told `added` for every series that exists now, then kept in step (see {@link SeriesLimiter}).
   */
  setSeriesLimiter(limiter: SeriesLimiter | undefined): void;
  /** While paused (a worker is being recovered), `offer` refuses with RUNTIME_OVERLOADED. */
  pause(reason: string): void;
  resume(): void;
  /** Stops accepting, drains in-flight work, and terminates the workers. */
  close(): Promise<void>;
}

const WORKER_URL = new URL('./worker-main.js', import.meta.url);
/** A snapshot exchange buffer idle this long is let go (ms). */
const EXCHANGE_IDLE_MS = 10_000;

function newBatch(size: number): Batch {
  return {
    ids: new Int32Array(size),
    ts: new Float64Array(size),
    values: new Float64Array(size),
    n: 0,
    newIds: [],
    newKeys: [],
    newGroups: [],
  };
}

/**
 * Resolves the `workers` setting: 'auto' = available cores − 1, but 2 on a 2-core machine (the
 * ingest thread uses well under a core, and one worker left the second core partly idle:
 * bench:throughput) and 1 on one core.
 */
export function resolveWorkerCount(workers: number | 'auto', cores = availableParallelism()): number {
  if (workers !== 'auto') return workers;
  return cores <= 1 ? 1 : Math.max(2, cores - 1);
}

/** Starts the workers. */
export function createKeyedRuntime<O>(opts: KeyedRuntimeOptions<O>): KeyedRuntime<O> {
  const workerCount = resolveWorkerCount(opts.workers);
  const K = opts.keyGroups;
  const routes = new Map<string, RouteEntry>();
  const recent = new RecentSamples(opts.dedupWindow ?? 8);
  let limiter: SeriesLimiter | undefined;
  const forget = (key: string, e: RouteEntry): void => {
    routes.delete(key);
    recent.release(e.slot);
    limiter?.removed(key);
  };
  const broadcasts = new Map<string, unknown>();
  let seq = 0;
  let exchangeTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let pausedFor: string | undefined;
  let flushScheduled = false;
  const drainWaiters: (() => void)[] = [];

  /** Quarantined samples: key → timestamps. */
  const quarantine = new Map<string, Set<number>>();
  let quarantinedCount = 0;
  let quarantineSkipped = 0;
  const isQuarantined = (key: string, ts: number): boolean =>
    quarantinedCount > 0 && quarantine.get(key)?.has(ts) === true;
  function addQuarantined(key: string, ts: number): boolean {
    let set = quarantine.get(key);
    if (!set) quarantine.set(key, (set = new Set()));
    if (set.has(ts)) return false;
    set.add(ts);
    quarantinedCount++;
    return true;
  }
  for (const q of opts.quarantined ?? []) addQuarantined(q.key, q.ts);
  /** Crashes per suspect sample (`ts NUL key`); entries only for samples a worker died on. */
  const suspects = new Map<string, number>();

  const slots: WorkerSlot[] = [];
  for (let i = 0; i < workerCount; i++) slots.push(spawn(i));

  function spawn(index: number, previous?: WorkerSlot): WorkerSlot {
    const worker = new Worker(WORKER_URL, { name: `vigil-worker-${index}` });
    const probe = new Float64Array(new SharedArrayBuffer(16));
    probe[0] = -1;
    const slot: WorkerSlot = previous ?? {
      index,
      worker,
      ready: Promise.resolve(),
      batch: newBatch(opts.batchSize),
      inflight: new Map(),
      inflightSamples: 0,
      processed: 0,
      stale: 0,
      restarts: 0,
      nextId: 0,
      replies: new Map(),
      exiting: false,
      operatorStats: undefined,
      exchange: undefined,
      probe,
      crashTimes: [],
    };
    slot.worker = worker;
    slot.probe = probe;
    slot.ready = new Promise<void>((resolve, reject) => {
      const onMsg = (msg: FromWorker): void => {
        if (msg.t === 'ready') {
          worker.off('message', onMsg);
          resolve();
        } else if (msg.t === 'fatal') {
          worker.off('message', onMsg);
          reject(new RuntimeError('RUNTIME_WORKER_FAILED', `worker ${index}: ${msg.error.message}`));
        }
      };
      worker.on('message', onMsg);
    });
    worker.on('message', (msg: FromWorker) => onMessage(slot, msg));
    worker.on('error', (err) => {
      opts.onError({
        code: 'RUNTIME_WORKER_FAILED',
        message: `worker ${index} crashed: ${err.message}`,
        worker: index,
      });
    });
    worker.on('exit', (code) => onExit(slot, worker, code));
    const init: ToWorker = {
      t: 'init',
      workerIndex: index,
      operatorModule: opts.operatorModule,
      operatorOptions: opts.operatorOptions,
      broadcasts: [...broadcasts.values()],
      probe: probe.buffer,
    };
    worker.postMessage(init);
    return slot;
  }

  function onExit(slot: WorkerSlot, worker: Worker, code: number): void {
    if (slot.exiting || slot.worker !== worker) return;
    // An unexpected exit: everything in flight on it is lost from memory (not from the WAL or
    // Kafka). Restart empty and tell the wiring, which restores and replays.
    // Keys routed to it must be re-announced to the new worker: forget them in the router's
    // "sent" sense by re-registering on next use. The same pass finds the key of the sample the
    // worker was processing (the probe holds its worker-local id; −1 between batches).
    const probeId = slot.probe[0] as number;
    const probeTs = slot.probe[1] as number;
    let suspect: string | undefined;
    for (const [key, e] of routes)
      if (e.worker === slot.index) {
        if (e.id === probeId) suspect = key;
        forget(key, e);
      }
    opts.onError({
      code: 'RUNTIME_WORKER_FAILED',
      message:
        `worker ${slot.index} exited with code ${code}` +
        (suspect === undefined ? '' : ` while processing ${JSON.stringify(suspect)} at ts ${probeTs}`),
      worker: slot.index,
      ...(suspect === undefined ? {} : { key: suspect }),
    });
    if (suspect !== undefined) noteSuspect(slot.index, suspect, probeTs);
    slot.inflight.clear();
    slot.inflightSamples = 0;
    slot.batch = newBatch(opts.batchSize);
    for (const reply of slot.replies.values())
      reply({
        t: 'reply',
        seq: -1,
        result: new RuntimeError('RUNTIME_WORKER_FAILED', `worker ${slot.index} died`),
      });
    slot.replies.clear();
    slot.restarts++;
    slot.operatorStats = undefined; // the new worker's operator counts from zero
    // Ingest pauses until the wiring has restored and replayed the worker's key groups
    // (resume()), so no new sample can overtake a replay.
    pausedFor = `recovering worker ${slot.index}`;
    const groups: number[] = [];
    for (let g = 0; g < K; g++) if (workerForKeyGroup(g, K, workerCount) === slot.index) groups.push(g);
    const now = Date.now();
    slot.crashTimes = slot.crashTimes.filter((t) => now - t < CRASH_WINDOW_MS);
    slot.crashTimes.push(now);
    const delay = recoveryDelayMs(slot.crashTimes.length);
    const generation = slot.restarts;
    spawn(slot.index, slot);
    const recover = (): void => {
      // A later crash (or close) superseded this recovery.
      if (!closed && slot.restarts === generation) opts.onWorkerRestarted?.(slot.index, groups);
    };
    slot.ready.then(
      () => (delay === 0 ? recover() : setTimeout(recover, delay).unref()),
      (err: unknown) =>
        opts.onError({
          code: 'RUNTIME_WORKER_FAILED',
          message: `worker ${slot.index} restart failed: ${String(err)}`,
          worker: slot.index,
        }),
    );
    checkDrained();
  }

  /** Counts a crash against the sample being processed; quarantines it at the threshold. */
  function noteSuspect(worker: number, key: string, ts: number): void {
    const id = `${ts}\u0000${key}`;
    const crashes = (suspects.get(id) ?? 0) + 1;
    if (crashes < QUARANTINE_AFTER_CRASHES) {
      suspects.set(id, crashes);
      return;
    }
    suspects.delete(id);
    if (addQuarantined(key, ts)) opts.onQuarantined?.({ key, ts, worker, crashes });
  }

  function onMessage(slot: WorkerSlot, msg: FromWorker): void {
    switch (msg.t) {
      case 'ack': {
        if (msg.seq >= 0) {
          const f = slot.inflight.get(msg.seq);
          if (f) {
            slot.inflight.delete(msg.seq);
            slot.inflightSamples -= f.n;
          }
        }
        slot.processed += msg.processed;
        slot.stale += msg.stale;
        if (msg.stats) slot.operatorStats = msg.stats;
        if (msg.outputs.length > 0) opts.onOutputs(msg.outputs as readonly KeyedOutput<O>[]);
        for (const e of msg.errors) opts.onError({ ...e, worker: slot.index });
        checkDrained();
        return;
      }
      case 'snapshot':
      case 'reply':
      case 'expired': {
        const r = slot.replies.get(msg.seq);
        if (r) {
          slot.replies.delete(msg.seq);
          r(msg);
        }
        return;
      }
      case 'ready':
      case 'fatal':
        return;
    }
  }

  function checkDrained(): void {
    if (drainWaiters.length === 0) return;
    if (slots.some((s) => s.inflightSamples > 0 || s.batch.n > 0)) return;
    for (const w of drainWaiters.splice(0)) w();
  }

  function sendBatch(slot: WorkerSlot): void {
    const b = slot.batch;
    if (b.n === 0 && b.newIds.length === 0) return;
    const s = seq++;
    const newKeys: NewKeys | undefined =
      b.newIds.length > 0
        ? { ids: Int32Array.from(b.newIds), keys: b.newKeys, keyGroups: Int32Array.from(b.newGroups) }
        : undefined;
    const msg: ToWorker = { t: 'batch', seq: s, n: b.n, newKeys, ids: b.ids, ts: b.ts, values: b.values };
    slot.inflight.set(s, { n: b.n, sentAt: Date.now() });
    slot.inflightSamples += b.n;
    slot.worker.postMessage(msg, [
      b.ids.buffer as ArrayBuffer,
      b.ts.buffer as ArrayBuffer,
      b.values.buffer as ArrayBuffer,
    ]);
    slot.batch = newBatch(opts.batchSize);
  }

  function scheduleFlush(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      for (const s of slots) sendBatch(s);
    });
  }

  /** Creates the route of a key the router does not know (the caller checked). */
  function newRoute(key: string): RouteEntry {
    const keyGroup = assignKeyGroup(key, K);
    const worker = workerForKeyGroup(keyGroup, K, workerCount);
    const slot = slots[worker] as WorkerSlot;
    const e: RouteEntry = {
      id: slot.nextId++,
      worker,
      keyGroup,
      lastTs: -Infinity,
      lastValue: NaN,
      slot: recent.allocate(),
      walSegment: -1,
      walId: 0,
    };
    routes.set(key, e);
    slot.batch.newIds.push(e.id);
    slot.batch.newKeys.push(key);
    slot.batch.newGroups.push(keyGroup);
    return e;
  }

  function append(e: RouteEntry, ts: number, value: number): void {
    const slot = slots[e.worker] as WorkerSlot;
    const b = slot.batch;
    b.ids[b.n] = e.id;
    b.ts[b.n] = ts;
    b.values[b.n] = value;
    if (++b.n === opts.batchSize) sendBatch(slot);
  }

  const runtime: KeyedRuntime<O> = {
    ready: Promise.all(slots.map((s) => s.ready)).then(() => undefined),
    workerCount,
    keyGroups: K,
    get size() {
      return routes.size;
    },

    checkCapacity() {
      if (closed) throw new RuntimeError('RUNTIME_CLOSED', 'the runtime is shutting down', true);
      if (pausedFor !== undefined)
        throw new RuntimeError('RUNTIME_OVERLOADED', `ingest paused: ${pausedFor}`, true);
      for (const s of slots) {
        if (s.inflightSamples + s.batch.n >= opts.queueCapacity) {
          throw new RuntimeError(
            'RUNTIME_OVERLOADED',
            `worker ${s.index} has ${s.inflightSamples + s.batch.n} samples queued (capacity ${opts.queueCapacity})`,
            true,
          );
        }
      }
    },

    offer(samples) {
      runtime.checkCapacity();
      const accepted: number[] = [];
      const refs: RouteEntry[] = [];
      const rejected: OfferResult['rejected'] = [];
      let duplicates = 0;
      for (let i = 0; i < samples.length; i++) {
        const smp = samples[i] as KeyedSample;
        if (isQuarantined(smp.key, smp.ts)) {
          rejected.push({
            index: i,
            code: 'QUARANTINED',
            reason: `this sample crashed a worker thread ${QUARANTINE_AFTER_CRASHES} times and is quarantined`,
          });
          continue;
        }
        let e = routes.get(smp.key);
        if (!e) {
          const refusal = limiter?.admit(smp.key);
          if (refusal !== undefined) {
            rejected.push({ index: i, code: 'LIMIT_EXCEEDED', reason: refusal });
            continue;
          }
          e = newRoute(smp.key);
        }
        if (smp.ts > e.lastTs) {
          e.lastTs = smp.ts;
          e.lastValue = smp.value;
          recent.record(e.slot, smp.ts, smp.value);
          append(e, smp.ts, smp.value);
          accepted.push(i);
          refs.push(e);
          continue;
        }
        const seen = smp.ts === e.lastTs ? e.lastValue : recent.valueAt(e.slot, smp.ts);
        if (seen !== undefined) {
          if (Object.is(smp.value, seen)) duplicates++;
          else
            rejected.push({
              index: i,
              code: 'DUPLICATE_CONFLICT',
              reason: `series already has value ${seen} at ts ${smp.ts}; got ${smp.value}`,
            });
        } else {
          rejected.push({
            index: i,
            code: 'OUT_OF_ORDER',
            reason: `ts ${smp.ts} is older than the series' newest accepted sample (${e.lastTs}); samples of a series must arrive in time order`,
          });
        }
      }
      scheduleFlush();
      return { accepted, refs, duplicates, rejected };
    },

    reoffer(samples, keyGroups) {
      for (const smp of samples) {
        if (isQuarantined(smp.key, smp.ts)) {
          quarantineSkipped++;
          continue;
        }
        let e = routes.get(smp.key);
        if (keyGroups && !keyGroups.has(e ? e.keyGroup : assignKeyGroup(smp.key, K))) continue;
        if (!e) {
          e = newRoute(smp.key);
          limiter?.added(smp.key);
        }
        if (smp.ts > e.lastTs) {
          e.lastTs = smp.ts;
          e.lastValue = smp.value;
          recent.record(e.slot, smp.ts, smp.value);
        }
        append(e, smp.ts, smp.value);
      }
      scheduleFlush();
    },

    flush() {
      for (const s of slots) sendBatch(s);
    },

    drain() {
      runtime.flush();
      return new Promise<void>((resolve) => {
        drainWaiters.push(resolve);
        checkDrained();
      });
    },

    async snapshot(keyGroups) {
      const out = new Map<number, { bytes: Uint8Array; keys: number }>();
      await runtime.snapshotEach(keyGroups, (kg, bytes, keys) => {
        out.set(kg, { bytes: bytes.slice(), keys });
        return Promise.resolve();
      });
      return out;
    },

    async snapshotEach(keyGroups, each) {
      runtime.flush();
      // The barrier is posted to every worker in this tick; each worker writes the groups into
      // its exchange buffer (or a bigger one it allocates, which becomes the exchange buffer).
      const taken = slots.map((slot) => {
        const into = slot.exchange;
        slot.exchange = undefined;
        return into;
      });
      const replies = await Promise.all(
        slots.map(
          (slot, i) =>
            new Promise<FromWorker>((resolve) => {
              const s = seq++;
              slot.replies.set(s, resolve);
              const mine = keyGroups?.filter((g) => workerForKeyGroup(g, K, workerCount) === slot.index);
              slot.worker.postMessage({
                t: 'snapshot',
                seq: s,
                keyGroups: mine,
                into: taken[i],
              } satisfies ToWorker);
            }),
        ),
      );
      try {
        for (const r of replies) {
          if (r.t === 'reply' && r.result instanceof Error) throw r.result;
          if (r.t !== 'snapshot')
            throw new RuntimeError('RUNTIME_WORKER_FAILED', 'unexpected snapshot reply');
        }
        for (const r of replies) {
          if (r.t !== 'snapshot') continue;
          for (const g of r.groups)
            await each(g.keyGroup, new Uint8Array(r.buffer, g.offset, g.length), g.keys);
        }
      } finally {
        replies.forEach((r, i) => {
          const slot = slots[i] as WorkerSlot;
          const buf = r.t === 'snapshot' ? r.buffer : taken[i];
          if (buf && (!slot.exchange || slot.exchange.byteLength < buf.byteLength)) slot.exchange = buf;
        });
        // Kept while snapshots follow each other (the chunks of one checkpoint), then let go.
        clearTimeout(exchangeTimer);
        exchangeTimer = setTimeout(() => {
          for (const slot of slots) slot.exchange = undefined;
        }, EXCHANGE_IDLE_MS);
        exchangeTimer.unref();
      }
    },

    async restore(groups) {
      // One key group at a time (at most a few in flight), so restoring millions of series
      // never holds the whole checkpoint in memory. The states cross to the worker in a few
      // shared buffers reused from group to group (a fresh buffer per group made V8 run a full
      // GC per 64 MB on both threads: superlinear restore at a million series, bench:memory).
      const spare: SharedArrayBuffer[] = [];
      const take = (size: number): SharedArrayBuffer => {
        const i = spare.findIndex((b) => b.byteLength >= size);
        if (i >= 0) return spare.splice(i, 1)[0] as SharedArrayBuffer;
        return new SharedArrayBuffer(Math.max(size, 2 * Math.max(0, ...spare.map((b) => b.byteLength))));
      };
      const inflight: Promise<void>[] = [];
      let total = 0;
      for (const [kg, blob] of groups) {
        if (kg < 0 || kg >= K)
          throw new RuntimeError(
            'RUNTIME_CHECKPOINT_INCOMPATIBLE',
            `key group ${kg} is outside [0, ${K}): was key_groups changed?`,
          );
        const w = workerForKeyGroup(kg, K, workerCount);
        const slot = slots[w] as WorkerSlot;
        const entries = decodeKeyGroup(blob);
        const ids = new Int32Array(entries.length);
        const keys: string[] = [];
        const lastTs = new Float64Array(entries.length);
        const lastValues = new Float64Array(entries.length);
        const offsets = new Uint32Array(entries.length + 1);
        let size = 0;
        entries.forEach((entry, i) => {
          if (assignKeyGroup(entry.key, K) !== kg)
            throw new RuntimeError(
              'RUNTIME_CHECKPOINT_INCOMPATIBLE',
              `key ${entry.key} is not in key group ${kg}`,
            );
          let route = routes.get(entry.key);
          if (!route) {
            route = {
              id: slot.nextId++,
              worker: w,
              keyGroup: kg,
              lastTs: entry.lastTs,
              lastValue: entry.lastValue,
              slot: recent.allocate(),
              walSegment: -1,
              walId: 0,
            };
            routes.set(entry.key, route);
            limiter?.added(entry.key);
            if (Number.isFinite(entry.lastTs)) recent.record(route.slot, entry.lastTs, entry.lastValue);
          } else if (entry.lastTs > route.lastTs) {
            route.lastTs = entry.lastTs;
            route.lastValue = entry.lastValue;
          }
          ids[i] = route.id;
          keys.push(entry.key);
          lastTs[i] = entry.lastTs;
          lastValues[i] = entry.lastValue;
          offsets[i] = size;
          size += entry.state?.length ?? 0;
        });
        offsets[entries.length] = size;
        const shared = take(size);
        const states = new Uint8Array(shared, 0, size);
        entries.forEach((entry, i) => entry.state && states.set(entry.state, offsets[i]));
        total += entries.length;
        inflight.push(
          request(slot, (s) => ({
            t: 'restore',
            seq: s,
            ids,
            keys,
            keyGroups: new Int32Array(entries.length).fill(kg),
            lastTs,
            lastValues,
            offsets,
            states,
          })).then(() => void spare.push(shared)),
        );
        if (inflight.length >= 4) await inflight.shift();
      }
      await Promise.all(inflight);
      return total;
    },

    async dropKeyGroups(keyGroups) {
      runtime.flush();
      const set = new Set(keyGroups);
      for (const [key, e] of routes) if (set.has(e.keyGroup)) forget(key, e);
      await Promise.all(
        slots.map((slot) => {
          const mine = keyGroups.filter((g) => workerForKeyGroup(g, K, workerCount) === slot.index);
          if (mine.length === 0) return Promise.resolve();
          return request(slot, (s) => ({ t: 'drop', seq: s, keyGroups: mine }));
        }),
      );
    },

    async query<R>(key: string, query: unknown) {
      const e = routes.get(key);
      if (!e) return undefined;
      runtime.flush();
      const m = await request(slots[e.worker] as WorkerSlot, (s) => ({
        t: 'query',
        seq: s,
        id: e.id,
        query,
      }));
      return (m.t === 'reply' ? m.result : undefined) as R | undefined;
    },

    async queryAll<R>(query: unknown, limit = Number.MAX_SAFE_INTEGER) {
      runtime.flush();
      const replies = await Promise.all(
        slots.map((slot) => request(slot, (s) => ({ t: 'queryAll', seq: s, query, limit }))),
      );
      return replies.flatMap((m) =>
        m.t === 'reply' && Array.isArray(m.result) ? (m.result as { key: string; result: R }[]) : [],
      );
    },

    broadcast(message) {
      broadcasts.set(message.topic, message);
      for (const s of slots) s.worker.postMessage({ t: 'broadcast', message } satisfies ToWorker);
    },

    async expire(olderThanMs) {
      runtime.flush();
      const replies = await Promise.all(
        slots.map((slot) => request(slot, (s) => ({ t: 'expire', seq: s, olderThanMs }))),
      );
      let n = 0;
      for (const m of replies) {
        if (m.t !== 'expired') continue;
        for (const key of m.keys) {
          const e = routes.get(key);
          if (e) forget(key, e);
        }
        n += m.keys.length;
      }
      return n;
    },

    keys: () => routes.keys(),
    hasKey: (key) => routes.has(key),

    stats() {
      const now = Date.now();
      const operatorStats: Record<string, number> = {};
      for (const s of slots)
        for (const [k, v] of Object.entries(s.operatorStats ?? {}))
          operatorStats[k] = (operatorStats[k] ?? 0) + v;
      return {
        keys: routes.size,
        quarantined: quarantinedCount,
        quarantineSkipped,
        operatorStats,
        workers: slots.map((s) => {
          let oldest = now;
          for (const f of s.inflight.values()) if (f.sentAt < oldest) oldest = f.sentAt;
          return {
            index: s.index,
            queued: s.inflightSamples + s.batch.n,
            processed: s.processed,
            stale: s.stale,
            restarts: s.restarts,
            lagMs: now - oldest,
            operatorStats: s.operatorStats,
          };
        }),
      };
    },

    setSeriesLimiter(l) {
      limiter = l;
      if (l) for (const key of routes.keys()) l.added(key);
    },

    pause(reason) {
      pausedFor = reason;
    },
    resume() {
      pausedFor = undefined;
    },

    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(exchangeTimer);
      await runtime.drain();
      for (const s of slots) s.exiting = true;
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };

  function request(
    slot: WorkerSlot,
    make: (seq: number) => ToWorker,
    transfer: ArrayBuffer[] = [],
  ): Promise<FromWorker> {
    return new Promise<FromWorker>((resolve, reject) => {
      const s = seq++;
      slot.replies.set(s, (m) =>
        m.t === 'reply' && m.result instanceof Error ? reject(m.result) : resolve(m),
      );
      slot.worker.postMessage(make(s), transfer);
    });
  }

  return runtime;
}
