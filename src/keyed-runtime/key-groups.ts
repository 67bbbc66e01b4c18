/**
 * Key → key group → worker, after Flink's KeyGroupRangeAssignment.
 *
 * A key's group is `toPositive(murmur2(key)) % keyGroups`: Kafka's default partitioner applied to
 * the series key, so when a topic has P partitions and P divides `keyGroups`, every key group
 * lies inside exactly one partition (`keyGroup % P` is the key's partition). The number of key
 * groups is fixed for the life of the state; changing the number of workers only moves whole key
 * groups.
 */
import { murmur2, toPositive } from '../common/index.js';

/** The key group of `key`, in [0, keyGroups). */
export function assignKeyGroup(key: string, keyGroups: number): number {
  return toPositive(murmur2(key)) % keyGroups;
}

/** The worker that owns `keyGroup` when `keyGroups` groups are spread over `workers` workers. */
export function workerForKeyGroup(keyGroup: number, keyGroups: number, workers: number): number {
  return Math.floor((keyGroup * workers) / keyGroups);
}

/** The contiguous range [first, last] of key groups worker `index` owns (Flink's formula). */
export function keyGroupRangeForWorker(
  index: number,
  keyGroups: number,
  workers: number,
): { first: number; last: number } {
  return {
    first: Math.ceil((index * keyGroups) / workers),
    last: Math.floor(((index + 1) * keyGroups - 1) / workers),
  };
}
