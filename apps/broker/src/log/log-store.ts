import {
  lastOffsetOf,
  MillraceError,
  type RecordBatchHeader,
  readRecordBatchHeader,
  TopicNameSchema,
  verifyRecordBatchCrc,
} from '@millrace/protocol';
import { z } from 'zod';
import { epochCacheProblem, type LeaderEpochCache } from './leader-epoch-cache.js';
import { describePartition, type EpochEntry, type PartitionMeta, type TopicIdPartition } from './types.js';

/**
 * Where partition logs are kept: every partition a broker hosts, in one store. Narrow and dumb:
 * it stores what it is told, atomically per call, and reads ranges back. The rules (offsets,
 * epochs, the high watermark) live in PartitionLog, which is the only writer of a partition and
 * serialises its own writes. `LevelLogStore` keeps it in LevelDB; `MemoryLogStore` is its twin
 * for tests, and the same test suite runs against both.
 *
 * Contract:
 * - `write` applies all of a change or none of it; once it resolves, the change survives a crash
 *   of the process (how it survives a crash of the machine is the flush policy's business).
 * - `readBatches` returns batches as they were written, in offset order, from a consistent view.
 * - Batches below the log start offset are garbage: reads never reach them (the log start is
 *   written before they are cleared) and recovery ignores them.
 */
export interface LogStore {
  /** Every partition the store holds, read back from the store and checked: see `checkRecovered`. */
  recover(): Promise<RecoveredPartition[]>;
  /** Makes an empty partition whose log starts (and ends) at `logStartOffset`. */
  createPartition(tp: TopicIdPartition, meta: PartitionMeta, logStartOffset: bigint): Promise<void>;
  /** Forgets a partition and everything stored for it. */
  deletePartition(tp: TopicIdPartition): Promise<void>;
  write(tp: TopicIdPartition, change: PartitionWrite): Promise<void>;
  /** Batches whose last offset is ≥ `fromOffset`, in offset order, within `limits`. */
  readBatches(tp: TopicIdPartition, fromOffset: bigint, limits: ReadLimits): Promise<StoredBatch[]>;
  /**
   * Drops the batches whose last offset is < `offset`, which the log start offset already
   * declares gone. Not atomic with anything, and need not be: an interrupted clear leaves only
   * garbage, cleared again at the next start.
   */
  clearBatchesBelow(tp: TopicIdPartition, offset: bigint): Promise<void>;
  close(): Promise<void>;
}

export interface StoredBatch {
  /** The offset of the batch's last record: with the position, its key. */
  readonly lastOffset: bigint;
  /** The bytes of this replica's log before this batch, as if the log were one file. */
  readonly position: number;
  /** The whole RecordBatch v2, as stored: covered by its own CRC-32C. */
  readonly bytes: Buffer;
}

/** One atomic change to a partition. Everything is optional; PartitionLog decides what goes together. */
export interface PartitionWrite {
  /** Batches to add, in offset order, after every batch already stored. */
  readonly batches?: readonly StoredBatch[];
  /** Remove every batch whose last offset is ≥ this: a divergent suffix. */
  readonly truncateFrom?: bigint;
  readonly epochsRemoved?: readonly number[];
  readonly epochsAdded?: readonly EpochEntry[];
  readonly logStartOffset?: bigint;
  readonly highWatermark?: bigint;
}

export interface ReadLimits {
  /** Only batches whose last offset is below this. */
  readonly endOffset: bigint;
  /** Stop before a batch that would take the total past this; the first batch comes whatever its size. */
  readonly maxBytes: number;
  /** At most this many batches. */
  readonly maxBatches: number;
}

/** A partition's state as recovered from a store, checked. */
export interface RecoveredPartition {
  readonly tp: TopicIdPartition;
  readonly meta: PartitionMeta;
  readonly logStartOffset: bigint;
  readonly logEndOffset: bigint;
  readonly highWatermark: bigint;
  /** The checkpoint as stored, or undefined if none was ever written. */
  readonly highWatermarkCheckpoint: bigint | undefined;
  readonly epochs: LeaderEpochCache;
  /** The partition leader epoch of the last batch, -1 when the log holds none. */
  readonly lastBatchEpoch: number;
  /** The positions of the first batch in the log and of the end of the last one (equal when empty). */
  readonly startPosition: number;
  readonly endPosition: number;
}

/** What a store read for one partition, before any rule is applied to it. */
export interface RawPartition {
  readonly tp: TopicIdPartition;
  readonly meta: unknown;
  readonly logStartOffset: bigint | undefined;
  readonly highWatermark: bigint | undefined;
  readonly epochs: readonly EpochEntry[];
  /** The first batch whose last offset is ≥ the log start, if any. */
  readonly firstBatch: StoredBatch | undefined;
  /** The batch with the largest last offset ≥ the log start, if any. */
  readonly lastBatch: StoredBatch | undefined;
}

export const PartitionMetaSchema = z.strictObject({
  topic: TopicNameSchema,
  createdAtMs: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
});

/**
 * The state of one partition as found in a store, or KAFKA_STORAGE_ERROR naming the partition and
 * the problem. Never a silent reset: a broker that quietly forgets data could serve a consumer
 * different records at an offset it already read, or rejoin the ISR with a hole in its log.
 *
 * Checked: the metadata's shape; that a log start offset exists; the first and the last batch
 * (framing, CRC, a key that matches the batch's own last offset, a first batch that holds the
 * log start); log start ≤ high watermark ≤ log end; a leader-epoch cache that increases, lies
 * within the log and ends with the last batch's epoch.
 */
export function checkRecovered(raw: RawPartition): RecoveredPartition {
  const parsedMeta = PartitionMetaSchema.safeParse(raw.meta);
  const topic = parsedMeta.success ? parsedMeta.data.topic : undefined;
  const fail = (problem: string, cause?: unknown): never => {
    throw new MillraceError('KAFKA_STORAGE_ERROR', `${describePartition(raw.tp, topic)}: ${problem}`, {
      ...(cause === undefined ? {} : { cause }),
      details: { topicId: raw.tp.topicId, partition: raw.tp.partition },
    });
  };
  if (!parsedMeta.success) fail(`the partition metadata is not valid: ${parsedMeta.error.issues[0]?.message}`);
  const meta = parsedMeta.data!;
  const logStartOffset = raw.logStartOffset ?? fail('it has metadata but no log start offset');

  let logEndOffset = logStartOffset;
  let lastBatchEpoch = -1;
  let startPosition = 0;
  let endPosition = 0;
  if (raw.lastBatch !== undefined) {
    const first = checkedHeader(raw.firstBatch ?? raw.lastBatch, 'first', fail);
    const last = checkedHeader(raw.lastBatch, 'last', fail);
    if (first.baseOffset > logStartOffset) {
      fail(`the log starts at ${logStartOffset} but its first batch starts at ${first.baseOffset}: a hole`);
    }
    const firstBatch = raw.firstBatch ?? raw.lastBatch;
    if (firstBatch.position > raw.lastBatch.position) {
      fail(`the first batch is at byte ${firstBatch.position}, after the last one at ${raw.lastBatch.position}`);
    }
    logEndOffset = lastOffsetOf(last) + 1n;
    lastBatchEpoch = last.partitionLeaderEpoch;
    startPosition = firstBatch.position;
    endPosition = raw.lastBatch.position + raw.lastBatch.bytes.length;
  }

  const highWatermark = raw.highWatermark ?? logStartOffset;
  if (highWatermark > logEndOffset) {
    fail(`the high-watermark checkpoint ${highWatermark} is above the log end offset ${logEndOffset}`);
  }
  if (highWatermark < logStartOffset) {
    fail(`the high-watermark checkpoint ${highWatermark} is below the log start offset ${logStartOffset}`);
  }
  const epochs = raw.epochs;
  const problem = epochCacheProblem(epochs, logStartOffset, logEndOffset);
  if (problem !== undefined) fail(problem);
  if (raw.lastBatch !== undefined) {
    const latest = epochs[epochs.length - 1];
    if (latest === undefined || latest.epoch !== lastBatchEpoch) {
      fail(
        `the last batch was written in leader epoch ${lastBatchEpoch}, but the leader-epoch cache ends with ${latest === undefined ? 'nothing' : `epoch ${latest.epoch}`}`,
      );
    }
  }
  return {
    tp: raw.tp,
    meta,
    logStartOffset,
    logEndOffset,
    highWatermark,
    highWatermarkCheckpoint: raw.highWatermark,
    epochs,
    lastBatchEpoch,
    startPosition,
    endPosition,
  };
}

function checkedHeader(
  batch: StoredBatch,
  which: string,
  fail: (problem: string, cause?: unknown) => never,
): RecordBatchHeader {
  let header: RecordBatchHeader;
  try {
    verifyRecordBatchCrc(batch.bytes);
    header = readRecordBatchHeader(batch.bytes);
  } catch (error) {
    return fail(
      `the ${which} batch (stored as last offset ${batch.lastOffset}) is damaged: ${(error as Error).message}`,
      error,
    );
  }
  if (lastOffsetOf(header) !== batch.lastOffset) {
    fail(
      `the ${which} batch is stored as last offset ${batch.lastOffset} but holds offsets ${header.baseOffset} to ${lastOffsetOf(header)}`,
    );
  }
  return header;
}
