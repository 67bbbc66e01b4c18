/**
 * The data path behind every ingest protocol: the SampleSink that routes samples into the keyed
 * runtime and makes them durable in the write-ahead log before they are acknowledged, plus
 * checkpoints, recovery on start (checkpoint + WAL replay), worker-crash recovery, and TTL expiry.
 *
 *   submit(samples) ─▶ runtime.offer (route, order checks; 503 when a queue is full)
 *                   ─▶ wal.append (same tick, so a checkpoint barrier never splits them)
 *                   ─▶ await wal.sync() (group commit) ─▶ acknowledge
 *
 * A checkpoint reads `wal.appendLsn` and posts the snapshot barrier to every worker in the same
 * tick: the snapshot holds exactly the records before that LSN. After the checkpoint file is
 * durable, WAL segments before the oldest retained checkpoint are deleted.
 *
 * A worker that dies is restarted empty; its key groups are restored from the newest checkpoint
 * and the WAL after it is replayed into it while ingest pauses (503). A checkpoint waits for such
 * a recovery and is abandoned if a worker restarts during it (a half-restored worker's snapshot
 * would replace its series' history with what it has so far). A sample a worker died on twice is
 * quarantined (runtime `onQuarantined`): appended to `quarantine.jsonl` in the state directory,
 * refused from then on and skipped by replays, so one poison sample cannot crash-loop the node.
 */
import {
  appendFileSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { durationMs } from '../common/index.js';
import { IngestError, type IngestSource, type SampleSink, type SubmitResult } from '../ingest/index.js';
import {
  createKeyedRuntime,
  openCheckpointWriter,
  type CheckpointWriter,
  listCheckpoints,
  openCheckpoint,
  openWal,
  pruneCheckpoints,
  readWal,
  RuntimeError,
  type CheckpointMeta,
  type CheckpointReader,
  type KeyedOutput,
  type KeyedRuntime,
  type KeyedSample,
  type SampleId,
  type Wal,
  type WalReadStats,
} from '../keyed-runtime/index.js';
import type { AlertEvent } from '../alerts/index.js';
import {
  ANOMALY_OPERATOR,
  type AnomalyOperatorOptions,
  type AnomalyOutput,
} from '../operators/anomaly-operator.js';
import type { VigilConfig } from './config.js';
import type { Logger } from './logger.js';
import type { VigilMetrics } from './metrics.js';

const OPERATOR_MODULE = new URL('../operators/anomaly-operator.js', import.meta.url).href;
const OPERATOR_NAME = ANOMALY_OPERATOR.name;
const OPERATOR_STATE_VERSION = ANOMALY_OPERATOR.stateVersion;
/**
 * Key groups snapshotted per step of a checkpoint: bounds the memory a checkpoint needs (each
 * worker's snapshot buffer holds one step; at 1M series and 128 key groups, ~120 MB per group).
 */
const SNAPSHOT_CHUNK_GROUPS = 1;

export interface PipelineOptions {
  readonly config: VigilConfig;
  readonly operatorOptions: AnomalyOperatorOptions;
  readonly logger: Logger;
  readonly metrics: VigilMetrics;
  /** Alert events from the operators; `resync` marks open alerts re-announced after a restore. */
  readonly onAlertEvents: (events: readonly AlertEvent[], opts: { resync: boolean }) => void;
  /** Progress of long startup work (checkpoint restore, WAL replay). */
  readonly onProgress?: (phase: string, done: number, total: number) => void;
  /**
   * The module (href) the workers load instead of the anomaly operator: one that wraps it (same
   * name, state and outputs). Fault tests inject worker crashes through it.
   * @defaultValue the anomaly operator
   */
  readonly operatorModule?: string;
}

export interface RecoveryReport {
  readonly checkpointId: number | undefined;
  readonly restoredKeys: number;
  readonly replayedRecords: number;
  readonly replayedSamples: number;
  readonly tornBytes: number;
  readonly skippedCheckpoints: readonly string[];
  readonly seconds: number;
}

export interface Pipeline {
  readonly sink: SampleSink;
  readonly runtime: KeyedRuntime<AnomalyOutput>;
  readonly recovery: RecoveryReport;
  /** Writes a checkpoint now (also runs on a timer and at shutdown). */
  checkpoint(): Promise<{ id: number; keys: number; bytes: number; seconds: number }>;
  /** True once recovery finished and the WAL accepts writes. */
  ready(): boolean;
  close(): Promise<void>;
}

/** Recovers state and starts the runtime, WAL and checkpoint timer. */
export async function startPipeline(opts: PipelineOptions): Promise<Pipeline> {
  const { config, logger, metrics } = opts;
  const log = logger.child({ module: 'pipeline' });
  const stateDir = config.state_dir;
  const walDir = join(stateDir, 'wal');
  const ckptDir = join(stateDir, 'checkpoints');
  mkdirSync(stateDir, { recursive: true });
  const releaseLock = acquireLock(stateDir);
  const t0 = Date.now();

  let recovering = true;
  /**
   * Workers being rebuilt after a crash (set when the crash is reported, cleared when the last
   * restart's recovery finished): checkpoints wait for them, ingest stays paused.
   */
  const workerRecoveries = new Map<number, { readonly done: Promise<void>; readonly resolve: () => void }>();
  function markRecovering(worker: number): void {
    if (workerRecoveries.has(worker)) return;
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    workerRecoveries.set(worker, { done, resolve });
  }
  const quarantineFile = join(stateDir, 'quarantine.jsonl');
  const quarantined = loadQuarantine(quarantineFile, log);
  const runtime: KeyedRuntime<AnomalyOutput> = createKeyedRuntime<AnomalyOutput>({
    operatorModule: opts.operatorModule ?? OPERATOR_MODULE,
    operatorOptions: opts.operatorOptions,
    workers: config.runtime.workers,
    keyGroups: config.runtime.key_groups,
    queueCapacity: config.runtime.queue_capacity,
    batchSize: config.runtime.batch_size,
    dedupWindow: config.runtime.dedup_window,
    quarantined,
    onOutputs: (outputs) => deliver(outputs, false),
    onQuarantined: (q) => {
      metrics.samplesQuarantined.inc();
      try {
        appendDurably(
          quarantineFile,
          JSON.stringify({
            key: q.key,
            ts: q.ts,
            worker: q.worker,
            crashes: q.crashes,
            at: new Date().toISOString(),
          }) + '\n',
        );
      } catch (err) {
        log.error(
          { err, file: quarantineFile },
          'cannot record the quarantined sample; it is quarantined until restart',
        );
      }
      log.error(
        { metricKey: q.key, ts: q.ts, worker: q.worker, crashes: q.crashes, file: quarantineFile },
        'a sample crashed its worker thread repeatedly: quarantined (refused and skipped from now on)',
      );
    },
    onError: (e) => {
      if (e.code === 'RUNTIME_WORKER_FAILED') {
        markRecovering(e.worker);
        metrics.workerRestarts.inc();
        log.error({ err: e, worker: e.worker }, 'worker failed; restarting it and replaying its key groups');
      } else {
        metrics.operatorErrors.inc({ code: e.code });
        log.warn({ err: e, metricKey: e.key }, 'operator failed on a sample; the sample was skipped');
      }
    },
    onWorkerRestarted: (worker, keyGroups) => {
      void recoverWorker(worker, keyGroups);
    },
  });

  function deliver(outputs: readonly KeyedOutput<AnomalyOutput>[], resync: boolean): void {
    const events: AlertEvent[] = [];
    for (const o of outputs) {
      if (o.output.kind === 'alert') {
        events.push(o.output.event);
        metrics.alertEvents.inc({ status: o.output.event.status });
      }
    }
    if (events.length > 0) opts.onAlertEvents(events, { resync });
  }

  await runtime.ready;

  // 1. Restore the newest usable checkpoint, streamed one key group at a time.
  const skipped: string[] = [];
  const ids = listCheckpoints(ckptDir);
  let loaded: CheckpointMeta | undefined;
  let loadedFile = '';
  let restoredKeys = 0;
  for (const id of ids) {
    let reader: CheckpointReader | undefined;
    try {
      reader = openCheckpoint(ckptDir, id);
      checkCompatible(reader.file, reader.meta);
      const meta = reader.meta;
      let done = 0;
      opts.onProgress?.('restore', 0, meta.keys);
      const groups = function* (r: CheckpointReader): Generator<[number, Uint8Array]> {
        for (const g of r.read(undefined, true)) {
          yield [g.kg, g.bytes];
          done += Math.max(0, g.keys);
          opts.onProgress?.('restore', done, meta.keys);
        }
      };
      restoredKeys = await runtime.restore(groups(reader));
      loaded = meta;
      loadedFile = reader.file;
      break;
    } catch (err) {
      // Report loudly; an older checkpoint is safe to use because the WAL is kept back to the
      // oldest retained checkpoint. Never start from empty state when checkpoints exist. A
      // failure halfway through a restore drops what was restored before trying the older one.
      skipped.push((err as Error).message);
      log.error({ err }, 'checkpoint unusable; trying the previous one');
      if (runtime.size > 0)
        await runtime.dropKeyGroups(Array.from({ length: config.runtime.key_groups }, (_, g) => g));
    } finally {
      reader?.close();
    }
  }
  if (ids.length > 0 && !loaded) {
    await runtime.close();
    releaseLock();
    throw new RuntimeError(
      'RUNTIME_CHECKPOINT_UNREADABLE',
      `no usable checkpoint in ${ckptDir} (${ids.length} found):\n  ${skipped.join('\n  ')}\n` +
        'Refusing to start with empty state. Move the directory aside to start from scratch deliberately.',
    );
  }
  function checkCompatible(file: string, meta: CheckpointMeta): void {
    if (meta.operator !== OPERATOR_NAME || meta.stateVersion !== OPERATOR_STATE_VERSION)
      throw new RuntimeError(
        'RUNTIME_CHECKPOINT_INCOMPATIBLE',
        `${file} holds ${meta.operator} state v${meta.stateVersion}; this Vigil needs ${OPERATOR_NAME} v${OPERATOR_STATE_VERSION}`,
      );
    if (meta.keyGroups !== config.runtime.key_groups)
      throw new RuntimeError(
        'RUNTIME_CHECKPOINT_INCOMPATIBLE',
        `${file} was written with runtime.key_groups=${meta.keyGroups}, the config says ${config.runtime.key_groups} (key groups are fixed for the life of the state)`,
      );
  }
  if (loaded) log.info({ checkpoint: loadedFile, keys: restoredKeys }, 'checkpoint restored');

  // 2. Replay the WAL after it.
  const fromLsn = loaded?.walLsn ?? 0;
  const walRead: WalReadStats = { records: 0, samples: 0, tornBytes: 0 };
  for (const r of readWal(walDir, fromLsn, walRead)) {
    await offerWhenRoom(r.samples);
    if (walRead.records % 256 === 0)
      opts.onProgress?.('replay', walRead.bytesRead ?? 0, walRead.bytesTotal ?? 0);
  }
  await runtime.drain();
  if (walRead.tornBytes > 0)
    log.warn({ bytes: walRead.tornBytes }, 'cut a torn record off the end of the WAL (never acknowledged)');

  const wal: Wal = await openWal({
    dir: walDir,
    groupCommitMs: durationMs(config.runtime.wal_group_commit),
    onCommit: (bytes, seconds) => {
      metrics.walBytes.inc(bytes);
      metrics.walSyncSeconds.observe(seconds);
    },
    onError: (err) =>
      log.error({ err }, 'write-ahead log write failed; ingest answers 503 until it recovers'),
  });

  // 3. Re-announce open alerts to the dispatcher (it dedups against its notification log).
  await resyncOpenAlerts();
  recovering = false;
  const recovery: RecoveryReport = {
    checkpointId: loaded?.id,
    restoredKeys,
    replayedRecords: walRead.records,
    replayedSamples: walRead.samples,
    tornBytes: walRead.tornBytes,
    skippedCheckpoints: skipped,
    seconds: (Date.now() - t0) / 1000,
  };
  log.info(recovery, 'recovered');

  async function offerWhenRoom(samples: KeyedSample[]): Promise<void> {
    for (;;) {
      try {
        runtime.offer(samples);
        return;
      } catch (err) {
        if (!(err instanceof RuntimeError && err.code === 'RUNTIME_OVERLOADED')) throw err;
        // Full queues, or paused while a crashed worker is rebuilt: the drain resolves at once
        // when nothing is in flight, so yield to the event loop (worker messages, the recovery)
        // or this loop would spin on microtasks and the recovery could never run.
        await runtime.drain();
        await new Promise((r) => setImmediate(r));
      }
    }
  }

  async function resyncOpenAlerts(): Promise<void> {
    const open = await runtime.queryAll<AlertEvent>({ kind: 'open-alert' });
    if (open.length > 0)
      opts.onAlertEvents(
        open.map((o) => o.result),
        { resync: true },
      );
  }

  async function recoverWorker(worker: number, keyGroups: readonly number[]): Promise<void> {
    const wanted = new Set(keyGroups);
    const generation = restartsOf(worker);
    try {
      const ids = listCheckpoints(ckptDir);
      let lsn = 0;
      for (const id of ids) {
        let reader: CheckpointReader | undefined;
        try {
          reader = openCheckpoint(ckptDir, id);
          const r = reader;
          await runtime.restore(
            (function* () {
              for (const g of r.read((kg) => wanted.has(kg), true))
                yield [g.kg, g.bytes] as [number, Uint8Array];
            })(),
          );
          lsn = reader.meta.walLsn;
          break;
        } catch (err) {
          log.error({ err }, 'checkpoint unusable while recovering a worker; trying the previous one');
          await runtime.dropKeyGroups(keyGroups);
        } finally {
          reader?.close();
        }
      }
      const stats: WalReadStats = { records: 0, samples: 0, tornBytes: 0 };
      for (const r of readWal(walDir, lsn, stats)) {
        runtime.reoffer(r.samples, wanted);
        if (stats.records % 64 === 0) await runtime.drain();
      }
      await runtime.drain();
      if (restartsOf(worker) !== generation) return; // it died again: the next recovery takes over
      log.info({ worker, keyGroups: keyGroups.length, records: stats.records }, 'worker recovered');
    } catch (err) {
      if (restartsOf(worker) !== generation) return;
      log.fatal({ err, worker }, 'worker recovery failed; its series lost state since the last checkpoint');
    }
    workerRecoveries.get(worker)?.resolve();
    workerRecoveries.delete(worker);
    if (workerRecoveries.size === 0) runtime.resume();
  }
  function restartsOf(worker: number): number {
    return runtime.stats().workers[worker]?.restarts ?? 0;
  }

  // 4. Checkpoints on a timer, and TTL expiry.
  let nextId = (ids[0] ?? 0) + 1;
  let checkpointing: Promise<{ id: number; keys: number; bytes: number; seconds: number }> | undefined;
  async function checkpoint(): Promise<{ id: number; keys: number; bytes: number; seconds: number }> {
    if (checkpointing) return checkpointing;
    checkpointing = (async () => {
      // A worker being rebuilt holds only part of its series' state: wait until it is whole.
      while (workerRecoveries.size > 0) await Promise.all([...workerRecoveries.values()].map((r) => r.done));
      const restartsBefore = runtime.stats().workers.map((w) => w.restarts);
      const started = process.hrtime.bigint();
      const id = nextId++;
      // Created inside the try: a writer that cannot even be created (disk full) fails this
      // checkpoint like any other write error.
      let writer: CheckpointWriter | undefined;
      try {
        writer = await openCheckpointWriter(ckptDir, id);
        // A few key groups at a time (bounded memory). Each chunk's LSN is read in the same tick
        // as its snapshot barrier is posted, so every group is exact at its own LSN.
        const K = config.runtime.key_groups;
        for (let first = 0; first < K; first += SNAPSHOT_CHUNK_GROUPS) {
          const chunk = Array.from(
            { length: Math.min(SNAPSHOT_CHUNK_GROUPS, K - first) },
            (_, i) => first + i,
          );
          const walLsn = wal.appendLsn;
          const w = writer;
          await runtime.snapshotEach(chunk, (kg, bytes, keys) => w.addGroup(kg, bytes, keys, walLsn));
        }
        if (runtime.stats().workers.some((w, i) => w.restarts !== restartsBefore[i]))
          throw new RuntimeError(
            'RUNTIME_WORKER_FAILED',
            'a worker restarted during the checkpoint, so its key groups were snapshotted half-restored; abandoned',
          );
        const bytes = await writer.finish({
          id,
          createdAt: new Date().toISOString(),
          operator: OPERATOR_NAME,
          stateVersion: OPERATOR_STATE_VERSION,
          keyGroups: K,
          walLsn: wal.appendLsn,
          sources: {},
        });
        pruneCheckpoints(ckptDir, config.runtime.checkpoints_retained);
        const oldest = listCheckpoints(ckptDir).at(-1);
        if (oldest !== undefined) wal.truncateBefore(checkpointLsn(oldest));
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        metrics.checkpointSeconds.observe(seconds);
        metrics.checkpointsTotal.inc({ result: 'ok' });
        const keys = runtime.size;
        log.info({ checkpoint: id, keys, bytes, seconds }, 'checkpoint written');
        return { id, keys, bytes, seconds };
      } catch (err) {
        await writer?.abort();
        metrics.checkpointsTotal.inc({ result: 'failed' });
        log.error({ err }, 'checkpoint failed; the previous one and the WAL still cover the state');
        throw err;
      }
    })().finally(() => {
      // Cleared once settled, outside the body: a body that fails before its first await settles
      // before `checkpointing` is assigned, and a `finally` inside it would clear nothing, leaving
      // this rejected promise in place so that no checkpoint is ever written again.
      checkpointing = undefined;
    });
    return checkpointing;
  }
  function checkpointLsn(id: number): number {
    const r = openCheckpoint(ckptDir, id);
    r.close();
    return r.meta.walLsn;
  }
  const ckptTimer = setInterval(() => {
    checkpoint().catch(() => undefined); // logged inside
  }, durationMs(config.runtime.checkpoint_interval));
  ckptTimer.unref();
  const ttlMs = durationMs(config.runtime.series_ttl);
  const ttlTimer =
    ttlMs > 0
      ? setInterval(
          () => {
            runtime
              .expire(Date.now() - ttlMs)
              .then((n) => n > 0 && log.info({ series: n }, 'expired idle series'))
              .catch((err: unknown) => log.error({ err }, 'series expiry failed'));
          },
          Math.min(ttlMs, 3_600_000),
        )
      : undefined;
  ttlTimer?.unref();

  /** Throws the ingest error for a runtime refusal (overloaded, closed); rethrows anything else. */
  function overloaded(err: unknown, source: IngestSource): never {
    if (err instanceof RuntimeError && (err.code === 'RUNTIME_OVERLOADED' || err.code === 'RUNTIME_CLOSED')) {
      metrics.requestsOverloaded.inc({ source });
      throw new IngestError('INGEST_OVERLOADED', err.message, { retryAfterSeconds: 1 }, { cause: err });
    }
    throw err;
  }
  const sink: SampleSink = {
    admit(source) {
      if (recovering)
        throw new IngestError('INGEST_UNAVAILABLE', 'recovering state; retry shortly', {
          retryAfterSeconds: 1,
        });
      if (!wal.writable)
        throw new IngestError(
          'INGEST_UNAVAILABLE',
          'the write-ahead log cannot be written (disk full?); retry later',
          {
            retryAfterSeconds: 5,
          },
        );
      try {
        runtime.checkCapacity();
      } catch (err) {
        overloaded(err, source);
      }
    },

    async submit(samples, source): Promise<SubmitResult> {
      sink.admit!(source);
      let res;
      try {
        res = runtime.offer(samples);
      } catch (err) {
        overloaded(err, source);
      }
      if (res.accepted.length > 0) {
        wal.append(
          res.accepted.length === samples.length
            ? samples
            : res.accepted.map((i) => samples[i] as KeyedSample),
          res.refs,
        );
      }
      try {
        // Also for duplicates only: their originals may still be in the group being written.
        await wal.sync();
      } catch (err) {
        throw new IngestError(
          'INGEST_UNAVAILABLE',
          (err as Error).message,
          { retryAfterSeconds: 5 },
          { cause: err },
        );
      }
      metrics.samplesAccepted.inc({ source }, res.accepted.length);
      if (res.duplicates > 0) metrics.samplesDuplicate.inc({ source }, res.duplicates);
      for (const r of res.rejected) metrics.samplesRejected.inc({ source, reason: r.code });
      return { accepted: res.accepted.length, duplicates: res.duplicates, rejected: res.rejected };
    },
  };

  return {
    sink,
    runtime,
    recovery,
    checkpoint,
    ready: () => !recovering && wal.writable && workerRecoveries.size === 0,
    async close() {
      clearInterval(ckptTimer);
      if (ttlTimer) clearInterval(ttlTimer);
      await runtime.drain();
      try {
        await checkpoint();
      } catch {
        // Logged in checkpoint(); the WAL still holds everything since the previous one.
      }
      await runtime.close();
      await wal.close();
      releaseLock();
    },
  };
}

/**
 * The quarantined samples recorded in `file` (one JSON object per line; a torn or unreadable line
 * is reported and skipped, never fatal: the worst case is that sample crashing a worker twice more).
 */
function loadQuarantine(file: string, log: Logger): SampleId[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: SampleId[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const o = JSON.parse(line) as { key?: unknown; ts?: unknown };
      if (typeof o.key === 'string' && typeof o.ts === 'number') {
        out.push({ key: o.key, ts: o.ts });
        return;
      }
    } catch {
      // reported below
    }
    log.warn({ file, line: i + 1 }, 'unreadable quarantine entry skipped');
  });
  if (out.length > 0)
    log.warn({ file, samples: out.length }, 'quarantined samples will be refused and skipped');
  return out;
}

/** Appends `text` to `file` and fsyncs it (rare, small writes). */
function appendDurably(file: string, text: string): void {
  appendFileSync(file, text);
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * One process per state directory: a LOCK file holding the pid. A lock left by a dead process
 * (kill -9) is taken over; a live one is refused.
 */
function acquireLock(stateDir: string): () => void {
  const lock = join(stateDir, 'LOCK');
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (pid && pid !== process.pid && isAlive(pid))
      throw new RuntimeError(
        'RUNTIME_CLOSED',
        `state directory ${stateDir} is in use by process ${pid} (${lock})`,
      );
  } catch (err) {
    if (err instanceof RuntimeError) throw err;
  }
  writeFileSync(lock, String(process.pid));
  return () => rmSync(lock, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
