/**
 * src/ingest/kafka: Kafka as an ingest source. The message formats and producer convention
 * (codec.ts), the `ingest.kafka` config, the kafkajs adapter (client.ts: the only kafkajs import),
 * the sticky co-partitioning assignment, partition snapshots in the compacted state topic
 * (state-store.ts) and dead letters. It knows nothing of the keyed runtime: the wiring layer
 * (src/app/kafka-pipeline.ts) combines them. Re-exported by src/ingest/index.ts.
 */
export {
  KafkaIngestConfigSchema,
  KafkaTlsConfigSchema,
  KafkaSaslConfigSchema,
  checkKafkaIngestConfig,
  deadLetterTopicOf,
  stateTopicOf,
  TOPIC_PATTERN,
  type KafkaIngestConfig,
  type KafkaTlsConfig,
  type KafkaSaslConfig,
  type KafkaConfigIssue,
} from './config.js';
export {
  decodeKafkaValue,
  createKafkaDecoder,
  type KafkaValueDecoder,
  encodeSampleJson,
  encodeBatchJson,
  partitionForKey,
  keyGroupsOfPartition,
  type KafkaMessageFormat,
  type KafkaPoisonCode,
  type DeadLetterCode,
  type DecodedMessage,
  type PoisonMessage,
} from './codec.js';
export {
  createKafkaClient,
  isRebalanceError,
  type KafkaClient,
  type KafkaAdmin,
  type KafkaRecord,
  type RecordBatch,
  type BatchHandler,
  type GroupConsumer,
  type GroupConsumerOptions,
  type GroupAssignment,
  type CommitEntry,
  type CommittedOffset,
  type OutRecord,
  type RecordProducer,
  type PartitionReader,
} from './client.js';
export { assignSticky, encodeClaim, decodeClaim, type MemberClaim } from './sticky-assignor.js';
export {
  writeSnapshot,
  readSnapshot,
  deleteSnapshotRecords,
  encodePointer,
  decodePointer,
  snapshotKeys,
  STATE_TOPIC_CONFIGS,
  type SnapshotPointer,
  type PartitionManifest,
  type SnapshotMeta,
} from './state-store.js';
export { deadLetterRecord, truncateDeadLetter, DLQ_HEADERS, type DeadLetterSource } from './dead-letter.js';
export { KafkaIngestError, type KafkaIngestErrorCode } from './errors.js';
