/** Error codes of the Kafka ingest (src/ingest/kafka); each is documented in README "Error codes". */
export type KafkaIngestErrorCode =
  /** The topics do not fit the config: partition counts differ, key_groups is not a multiple of P, a topic is missing. */
  | 'INGEST_KAFKA_TOPOLOGY'
  /** A broker could not be reached or answered with an error (retryable). */
  | 'INGEST_KAFKA_UNAVAILABLE'
  /** A commit was refused: the member lost the partition (rebalance) or the consumer is not running. */
  | 'INGEST_KAFKA_COMMIT_REFUSED'
  /** A partition snapshot in the state topic is missing records or fails its checksums. */
  | 'INGEST_KAFKA_STATE_UNREADABLE'
  /** A partition snapshot was written with another key_groups, partition count or operator state version. */
  | 'INGEST_KAFKA_STATE_INCOMPATIBLE'
  /** A bounded wait ran out (reading the state topic, joining the group). */
  | 'INGEST_KAFKA_TIMEOUT';

/** Errors of the Kafka ingest. `retryable` says whether the same operation may succeed later. */
export class KafkaIngestError extends Error {
  override readonly name = 'KafkaIngestError';
  constructor(
    readonly code: KafkaIngestErrorCode,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
