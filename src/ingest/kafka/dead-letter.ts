/**
 * Dead letters: a refused message (or one refused item of a batch message) re-produced to the
 * dead-letter topic with its original key, value and headers, plus headers saying why and where
 * from:
 *
 *     vigil-error-code        NOT_JSON | BAD_MESSAGE | MESSAGE_TOO_LARGE | EMPTY_MESSAGE |
 *                             INVALID_SAMPLE | INVALID_NAME | LIMIT_EXCEEDED | TIMESTAMP_OUT_OF_RANGE |
 *                             OUT_OF_ORDER | DUPLICATE_CONFLICT | MISROUTED
 *     vigil-error-reason      human-readable: what was found and what was expected
 *     vigil-source-topic      input topic
 *     vigil-source-partition  input partition (decimal)
 *     vigil-source-offset     input offset (decimal)
 *     vigil-item-index        the item's index in a json-batch message (item refusals only)
 *
 * An item refusal carries the item's JSON as its value, not the whole batch (the batch's other
 * items were processed). A message larger than the dead-letter topic accepts is sent with its
 * first 64 KiB and `vigil-truncated-from: <bytes>`.
 */
import type { DeadLetterCode } from './codec.js';
import type { KafkaRecord, OutRecord } from './client.js';

/** Header names (lower-case, `vigil-` prefixed). */
export const DLQ_HEADERS = {
  code: 'vigil-error-code',
  reason: 'vigil-error-reason',
  topic: 'vigil-source-topic',
  partition: 'vigil-source-partition',
  offset: 'vigil-source-offset',
  item: 'vigil-item-index',
  truncated: 'vigil-truncated-from',
} as const;

/** Where a dead letter came from. */
export interface DeadLetterSource {
  readonly topic: string;
  readonly partition: number;
  readonly record: KafkaRecord;
}

const TRUNCATE_BYTES = 64 * 1024;

/** Longest reason kept in a header (reasons quote input; keep headers small). */
const MAX_REASON = 1000;

/**
 * Builds the dead letter of a whole message (`item` undefined) or of one item of a batch.
 * @param partition the dead-letter topic partition to use
 */
export function deadLetterRecord(
  src: DeadLetterSource,
  code: DeadLetterCode,
  reason: string,
  partition: number,
  item?: { readonly index: number; readonly json: string },
  truncate = false,
): OutRecord {
  const headers: Record<string, string | Buffer> = {};
  for (const [k, v] of Object.entries(src.record.headers ?? {})) {
    if (v === undefined || k.startsWith('vigil-')) continue;
    headers[k] = Array.isArray(v) ? (v[0] ?? '') : v;
  }
  headers[DLQ_HEADERS.code] = code;
  headers[DLQ_HEADERS.reason] = reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason;
  headers[DLQ_HEADERS.topic] = src.topic;
  headers[DLQ_HEADERS.partition] = String(src.partition);
  headers[DLQ_HEADERS.offset] = src.record.offset;
  if (item) {
    headers[DLQ_HEADERS.item] = String(item.index);
    return { key: src.record.key, value: item.json, partition, headers };
  }
  const record: OutRecord = { key: src.record.key, value: src.record.value, partition, headers };
  return truncate ? truncateDeadLetter(record) : record;
}

/**
 * A dead letter whose value is above 64 KiB keeps its first 64 KiB, with the original size in
 * the `vigil-truncated-from` header (a dead-letter topic refuses what its source accepted when
 * its message size limit is smaller). Others are returned as they are.
 */
export function truncateDeadLetter(r: OutRecord): OutRecord {
  if (r.value === null) return r;
  const bytes = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
  if (bytes.length <= TRUNCATE_BYTES) return r;
  return {
    ...r,
    value: bytes.subarray(0, TRUNCATE_BYTES),
    headers: { ...r.headers, [DLQ_HEADERS.truncated]: String(bytes.length) },
  };
}
