/**
 * src/keyed-runtime: keyBy for Vigil. Routes each series key to a key group and its worker
 * thread, keeps per-key state and per-key order, batches samples across threads, bounds queues,
 * and snapshots/restores state per key group (checkpoints, rescaling, Kafka partition moves).
 * It knows operators (types.ts), never detectors, prophet or alerts.
 */
export type { KeyedContext, KeyedOperator, OperatorModule, StateCodec, KeyedOutput } from './types.js';
export { assignKeyGroup, workerForKeyGroup, keyGroupRangeForWorker } from './key-groups.js';
export {
  createKeyedRuntime,
  resolveWorkerCount,
  recoveryDelayMs,
  QUARANTINE_AFTER_CRASHES,
  type KeyedRuntime,
  type KeyedRuntimeOptions,
  type KeyedSample,
  type OfferResult,
  type RuntimeStats,
  type RouterRejectCode,
  type SampleId,
  type SeriesLimiter,
} from './runtime.js';
export { createOperatorHarness, type OperatorHarness } from './harness.js';
export {
  decodeKeyGroup,
  encodeKeyGroupEntries,
  type DecodedEntry,
  type KeyGroupEntry,
} from './keyed-store.js';
export { RuntimeError, type RuntimeErrorCode } from './errors.js';
export {
  openWal,
  readWal,
  encodeWalRecord,
  syncDir,
  type Wal,
  type WalOptions,
  type WalRecord,
  type WalReadStats,
  type WalSeriesRef,
} from './wal.js';
export {
  openCheckpointWriter,
  openCheckpoint,
  writeCheckpoint,
  readCheckpoint,
  listCheckpoints,
  pruneCheckpoints,
  CHECKPOINT_FORMAT,
  type CheckpointMeta,
  type CheckpointReader,
  type CheckpointWriter,
  type CheckpointGroup,
  type CheckpointGroupInfo,
  type LoadedCheckpoint,
} from './checkpoint-store.js';
export { RuntimeConfigSchema, type RuntimeConfig } from './config.js';
