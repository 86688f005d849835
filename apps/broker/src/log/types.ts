import { INT64_MAX, MillraceError } from '@millrace/protocol';

/**
 * The vocabulary of partition log storage.
 *
 * Offsets are `bigint` everywhere: a distinct JavaScript type, so the compiler already refuses to
 * mix an offset with an epoch, a partition number, a byte count or a timestamp (all `number`).
 * That is why offsets carry no brand here; they are checked as int64 where they enter. Epochs and
 * partition numbers are checked as non-negative int32 where they enter.
 */

/** A partition as storage knows it: the topic's id (a UUID, new for every topic) and the partition number. */
export interface TopicIdPartition {
  readonly topicId: string;
  readonly partition: number;
}

/** What a restarted broker needs to know about a partition it holds, beside its offsets. */
export interface PartitionMeta {
  readonly topic: string;
  readonly createdAtMs: number;
}

/** One entry of the leader-epoch cache: the first offset written in `epoch`. */
export interface EpochEntry {
  readonly epoch: number;
  readonly startOffset: bigint;
}

/** Kafka's OffsetsForLeaderEpoch answer: `{ leaderEpoch: -1, endOffset: -1n }` when nothing is known. */
export interface EpochEndOffset {
  readonly leaderEpoch: number;
  readonly endOffset: bigint;
}

export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1n;

/**
 * `log.flush.policy`: when an acknowledged write reaches the disk.
 * - `os`: every write is handed to the operating system before the append returns (Kafka's choice).
 * - `every-batch`: every append is fsynced (LevelDB `sync: true`) before it returns.
 * - `interval`: writes go to the operating system, and one fsync every `log.flush.interval.ms`.
 */
export type FlushPolicy = 'os' | 'every-batch' | 'interval';
export const FLUSH_POLICIES: readonly FlushPolicy[] = ['os', 'every-batch', 'interval'];

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const INT32_MAX = 0x7fff_ffff;

/** A partition checked and normalised (lower-case topic id), as every map and key is built from. */
export function topicIdPartition(topicId: string, partition: number): TopicIdPartition {
  if (typeof topicId !== 'string' || !UUID.test(topicId)) {
    throw new MillraceError('UNKNOWN_TOPIC_ID', `topic id ${String(topicId)} is not a UUID`);
  }
  if (!Number.isInteger(partition) || partition < 0 || partition > INT32_MAX) {
    throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `partition ${partition} is not a non-negative int32`);
  }
  return { topicId: topicId.toLowerCase(), partition };
}

/** A string that identifies a partition in maps. */
export function partitionKey(tp: TopicIdPartition): string {
  return `${tp.topicId}:${tp.partition}`;
}

/** How a partition is named in messages: `orders-3 (topic id …)` when the topic name is known. */
export function describePartition(tp: TopicIdPartition, topic?: string): string {
  return topic === undefined
    ? `partition ${tp.partition} of topic id ${tp.topicId}`
    : `${topic}-${tp.partition} (topic id ${tp.topicId})`;
}

/** Throws unless `value` is an offset: a bigint from 0 to int64 max. A bad offset here is a bug in the caller. */
export function checkOffset(value: bigint, name: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > INT64_MAX) {
    throw new RangeError(`${name} ${String(value)} is not an offset (a bigint from 0 to 2^63-1)`);
  }
  return value;
}

/** Throws unless `value` is a leader epoch: a non-negative int32. */
export function checkEpoch(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > INT32_MAX) {
    throw new RangeError(`${name} ${value} is not a leader epoch (an integer from 0 to 2^31-1)`);
  }
  return value;
}

/** Throws unless `value` is a positive safe integer (a byte limit, an interval). */
export function checkPositive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} ${value} is not a positive integer`);
  return value;
}

/** Offsets in error details travel as decimal strings, as everywhere in JSON (bigint does not serialise). */
export function offsetText(offset: bigint): string {
  return offset.toString(10);
}

export function minOffset(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

export function maxOffset(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/**
 * A broken invariant is a bug, not an operating condition: it throws a plain Error that no caller
 * handles, so the node crashes loudly rather than store or serve wrong data.
 */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant broken: ${message}`);
}
