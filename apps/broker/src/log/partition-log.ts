import {
  decodeRecordBatch,
  lastOffsetOf,
  MillraceError,
  type RecordBatchHeader,
  readRecordBatchHeader,
  setBaseOffset,
  setPartitionLeaderEpoch,
  type TimestampType,
  validateRecordBatch,
  verifyRecordBatchCrc,
} from '@millrace/protocol';
import { isIdempotent, ProducerStateTable } from '../producers/producer-state.js';
import { stampLogAppendTime } from './batch.js';
import {
  assignEpoch,
  diffEpochs,
  endOffsetForEpoch,
  type LeaderEpochCache,
  latestEpoch,
  truncateEpochsFromEnd,
  truncateEpochsFromStart,
} from './leader-epoch-cache.js';
import type { LogStore, PartitionWrite, RecoveredPartition, StoredBatch } from './log-store.js';
import { type BatchSummary, decideRetention } from './retention.js';
import type { PartitionTail } from './tail-cache.js';
import {
  checkEpoch,
  checkOffset,
  describePartition,
  type EpochEndOffset,
  invariant,
  maxOffset,
  minOffset,
  offsetText,
  type PartitionMeta,
  type TopicIdPartition,
} from './types.js';

/** At most this many batches in one read, however small they are and however many bytes were asked for. */
export const READ_BATCHES_MAX = 10_000;
/** Retention and timestamp lookups read the log in chunks of at most this many bytes. */
const SCAN_CHUNK_BYTES = 4 * 1024 * 1024;
const SCAN_CHUNK_BATCHES = 1000;
/** The largest batch the format allows (batchLength is an int32): a follower's default bound. */
const BATCH_BYTES_FORMAT_MAX = 0x7fff_ffff;

export interface LeaderAppendOptions {
  /** The leader's clock: the log-append time, when the topic uses it. */
  readonly nowMs: number;
  /** The topic's `max.message.bytes`: a larger batch is MESSAGE_TOO_LARGE. */
  readonly maxBatchBytes: number;
  /** The topic's `message.timestamp.type`. Default `create-time` (the producer's timestamps stand). */
  readonly timestampType?: TimestampType;
}

export interface LeaderAppendResult {
  readonly baseOffset: bigint;
  readonly lastOffset: bigint;
  /** The timestamp stamped on the batches for log-append-time topics; -1 for create-time, as Kafka. */
  readonly logAppendTimeMs: number;
  /** The batch was an idempotent producer's retry of one already written: nothing was appended. */
  readonly duplicate?: boolean;
}

/** How far back, in offsets, a restarted broker reads to rebuild its producers' state. */
export const PRODUCER_STATE_RECOVERY_OFFSETS = 100_000;

export interface FollowerAppendOptions {
  /** Default: the format's own limit. The follower's real bound is the fetch size it asked for. */
  readonly maxBatchBytes?: number;
}

export interface AppendedRange {
  readonly firstOffset: bigint;
  readonly lastOffset: bigint;
}

export interface ReadOptions {
  /** Stop before a batch that would take the total past this; the first batch comes whatever its size. */
  readonly maxBytes: number;
  /** Exclusive: the high watermark for consumers, the log end offset for followers. Clamped to the log end. */
  readonly maxOffset: bigint;
  /**
   * Default true: the first batch comes even if it alone exceeds maxBytes (Kafka gives this to the
   * first partition of a fetch response). False: nothing comes unless the first batch fits (later
   * partitions of a response, once its budget is partly spent).
   */
  readonly minOneBatch?: boolean;
}

export interface ReadResult {
  /** Whole batches, exactly as stored, ready to send. */
  readonly batches: Buffer[];
  readonly logStartOffset: bigint;
  readonly logEndOffset: bigint;
  readonly highWatermark: bigint;
}

export interface TruncateOptions {
  /** Unclean recovery: allow removing records at or below the high watermark (which then drops). */
  readonly allowBelowHighWatermark?: boolean;
}

export interface RetentionSettings {
  readonly nowMs: number;
  /** `retention.ms`, -1 for no limit. */
  readonly retentionMs: number;
  /** `retention.bytes`, -1 for no limit. */
  readonly retentionBytes: number;
}

/**
 * One partition's log: the in-memory state (log start and end, high watermark, leader-epoch
 * cache, the last batch's epoch, the byte positions) over a LogStore that holds the batches.
 *
 * Contracts:
 * - Offsets are dense: every offset in [logStartOffset, logEndOffset) is in exactly one stored
 *   batch, batches follow each other without gap or overlap, and the log ends at a batch
 *   boundary. logStartOffset may fall inside the first batch (a DeleteRecords-style deleteBefore);
 *   a fetch from there gets the whole batch, and the consumer skips the records before its
 *   offset, as Kafka clients do.
 * - logStartOffset ≤ highWatermark ≤ logEndOffset. The high watermark only moves forward, except
 *   when an unclean truncation (allowBelowHighWatermark) takes it down with the log.
 * - Memory changes only after the store has the change: a failed write leaves the log as it was.
 * - Writes are serialised per partition (one at a time, in call order); reads run beside them and
 *   see the state as of their start.
 * - Batches are checked on both sides of the store: validated (CRC and structure) before they
 *   are written, CRC-checked and matched against their key and neighbours when read.
 * - Every write is one atomic store write, ordered so that what a crash leaves is a state that
 *   recovery accepts.
 * - With a tail cache (`PartitionTail`), the newest batches are also kept in memory, always a
 *   contiguous suffix of the stored log: they enter after the store has them, and the cache is
 *   cut in the same synchronous step as the log end (truncation, restart, deletion). Reads that
 *   start inside it are served from it, without the store and without a second CRC check (the
 *   batches were validated before they were written and have not been through the store since).
 */
export class PartitionLog {
  readonly tp: TopicIdPartition;
  readonly meta: PartitionMeta;
  /** How messages name this partition: `orders-3 (topic id …)`. */
  readonly name: string;
  readonly #store: LogStore;
  #logStartOffset: bigint;
  #logEndOffset: bigint;
  #highWatermark: bigint;
  /** The high watermark as last written to the store, or undefined if never. */
  #checkpointedHighWatermark: bigint | undefined;
  #epochs: LeaderEpochCache;
  #lastBatchEpoch: number;
  /** Byte positions of the first batch and of the end of the log: their difference is the log's size. */
  #startPosition: number;
  #endPosition: number;
  /** The tail of the chain of writes: each write starts when the previous one has settled. */
  #tail: Promise<unknown> = Promise.resolve();
  /** The newest batches in memory, if the broker keeps a tail cache. */
  readonly #cached: PartitionTail | undefined;
  #deleted = false;
  /** Idempotent producers' epochs and last batches, so a leader refuses duplicates and gaps. */
  readonly #producers: ProducerStateTable;

  constructor(store: LogStore, state: RecoveredPartition, cached?: PartitionTail) {
    this.#store = store;
    this.#cached = cached;
    this.#producers = new ProducerStateTable(describePartition(state.tp, state.meta.topic));
    this.tp = state.tp;
    this.meta = state.meta;
    this.name = describePartition(state.tp, state.meta.topic);
    this.#logStartOffset = state.logStartOffset;
    this.#logEndOffset = state.logEndOffset;
    this.#highWatermark = state.highWatermark;
    this.#checkpointedHighWatermark = state.highWatermarkCheckpoint;
    this.#epochs = state.epochs;
    this.#lastBatchEpoch = state.lastBatchEpoch;
    this.#startPosition = state.startPosition;
    this.#endPosition = state.endPosition;
  }

  /** Creates an empty partition in the store whose log starts at `logStartOffset` (default 0). */
  static async create(
    store: LogStore,
    tp: TopicIdPartition,
    meta: PartitionMeta,
    logStartOffset = 0n,
    cached?: PartitionTail,
  ): Promise<PartitionLog> {
    checkOffset(logStartOffset, 'logStartOffset');
    await store.createPartition(tp, meta, logStartOffset);
    return new PartitionLog(
      store,
      {
        tp,
        meta,
        logStartOffset,
        logEndOffset: logStartOffset,
        highWatermark: logStartOffset,
        highWatermarkCheckpoint: undefined,
        epochs: [],
        lastBatchEpoch: -1,
        startPosition: 0,
        endPosition: 0,
      },
      cached,
    );
  }

  get logStartOffset(): bigint {
    return this.#logStartOffset;
  }

  get logEndOffset(): bigint {
    return this.#logEndOffset;
  }

  get highWatermark(): bigint {
    return this.#highWatermark;
  }

  get leaderEpochCache(): LeaderEpochCache {
    return this.#epochs;
  }

  /** The partition leader epoch of the last batch in the log, -1 when it holds none. */
  get lastBatchEpoch(): number {
    return this.#lastBatchEpoch;
  }

  /** Bytes of the batches in the log (the whole first batch, even when the log starts inside it). */
  get sizeInBytes(): number {
    return this.#endPosition - this.#startPosition;
  }

  /**
   * Appends a producer's batches as the leader in `leaderEpoch`. Each is validated first (CRC,
   * structure, size): one bad batch refuses them all and nothing is written. Then offsets are
   * assigned from the log end (setBaseOffset) and the leader epoch stamped
   * (setPartitionLeaderEpoch), both in place and outside the CRC; for log-append-time topics the
   * broker's clock is stamped too (inside the CRC, so it is recomputed after the check). One
   * atomic write holds the batches and, for a new epoch, its epoch-cache entry.
   *
   * The log takes the batches over: it rewrites them in place and, with a tail cache, keeps them;
   * the caller must not change or reuse them afterwards.
   *
   * Errors: CORRUPT_MESSAGE and the other codes of validateRecordBatch, MESSAGE_TOO_LARGE,
   * INVALID_RECORD for no batches or a control batch, FENCED_LEADER_EPOCH when the log already holds a later epoch,
   * KAFKA_STORAGE_ERROR when the store fails.
   */
  async appendAsLeader(
    batches: readonly Buffer[],
    leaderEpoch: number,
    options: LeaderAppendOptions,
  ): Promise<LeaderAppendResult> {
    checkEpoch(leaderEpoch, 'leaderEpoch');
    const { nowMs, maxBatchBytes } = options;
    const timestampType = options.timestampType ?? 'create-time';
    invariant(Number.isSafeInteger(nowMs) && nowMs >= 0, `nowMs ${nowMs} is not a timestamp`);
    invariant(
      Number.isSafeInteger(maxBatchBytes) && maxBatchBytes >= 0,
      `maxBatchBytes ${maxBatchBytes} is not a size`,
    );
    const headers = this.#validate(batches, maxBatchBytes);
    headers.forEach((header, i) => {
      // Control batches (transaction markers) are written by brokers, never accepted from producers, as in Kafka.
      if (header.isControl) {
        throw new MillraceError(
          'INVALID_RECORD',
          `${this.name}: batch ${i} is a control batch, which producers may not send.`,
          { details: { batchIndex: i } },
        );
      }
      // An idempotent producer's batch is checked and deduplicated alone, as Kafka requires of
      // produce requests since record batch v2: one batch per partition.
      if (isIdempotent(header) && headers.length > 1) {
        throw new MillraceError(
          'INVALID_RECORD',
          `${this.name}: an idempotent producer's batch must come alone, one per partition per request; this one came with ${headers.length - 1} more.`,
          { details: { batchIndex: i } },
        );
      }
    });
    return this.#exclusive(async () => {
      const latest = latestEpoch(this.#epochs);
      if (leaderEpoch < latest) {
        throw new MillraceError(
          'FENCED_LEADER_EPOCH',
          `${this.name}: cannot append as leader in epoch ${leaderEpoch}, the log already holds epoch ${latest}`,
          { details: { leaderEpoch, latestEpoch: latest } },
        );
      }
      const [single] = headers;
      if (single !== undefined && headers.length === 1) {
        const check = this.#producers.check(single);
        if (check.kind === 'duplicate') {
          const { batch } = check;
          return {
            baseOffset: batch.baseOffset,
            lastOffset: batch.lastOffset,
            logAppendTimeMs: timestampType === 'log-append-time' ? batch.maxTimestamp : -1,
            duplicate: true,
          };
        }
      }
      const stamp = timestampType === 'log-append-time';
      const baseOffset = this.#logEndOffset;
      let next = baseOffset;
      let position = this.#endPosition;
      const stored: StoredBatch[] = [];
      const baseOffsets: bigint[] = [];
      for (let i = 0; i < batches.length; i++) {
        const batch = batches[i]!;
        baseOffsets.push(next);
        setBaseOffset(batch, next);
        setPartitionLeaderEpoch(batch, leaderEpoch);
        if (stamp) stampLogAppendTime(batch, nowMs);
        const lastOffset = next + BigInt(headers[i]!.lastOffsetDelta);
        stored.push({ lastOffset, position, bytes: batch });
        position += batch.length;
        next = lastOffset + 1n;
      }
      const epochs = assignEpoch(this.#epochs, leaderEpoch, baseOffset);
      await this.#write({ batches: stored, ...epochChange(this.#epochs, epochs) });
      this.#logEndOffset = next;
      this.#endPosition = position;
      this.#epochs = epochs;
      this.#lastBatchEpoch = leaderEpoch;
      this.#cached?.append(stored, baseOffsets);
      // Read again: a log-append-time stamp changed the max timestamp a duplicate is answered with.
      // Only idempotent producers' batches have state to record: the header is read again for
      // those alone, keeping the plain producers' hot path as it was.
      for (let i = 0; i < batches.length; i++) {
        if (isIdempotent(headers[i]!)) this.#producers.record(readRecordBatchHeader(batches[i]!), baseOffsets[i]!);
      }
      return { baseOffset, lastOffset: next - 1n, logAppendTimeMs: stamp ? nowMs : -1 };
    });
  }

  /**
   * Appends the leader's batches, unchanged, as a follower. Each is validated; their offsets must
   * continue the log exactly (a gap or an overlap is INVALID_RECORD and nothing is written); their
   * partition leader epochs must not go back (FENCED_LEADER_EPOCH: the follower should have
   * truncated by epoch first), and each new epoch enters the epoch cache.
   *
   * The log takes the batches over (a tail cache keeps them): the caller must not change them.
   *
   * One exception to exact continuity, as Kafka: an empty log accepts a first batch that starts
   * before its end, if the batch holds the end offset. That is how a follower that restarted its
   * log at the leader's log start (which DeleteRecords may have put inside a batch) gets going.
   */
  async appendAsFollower(
    batches: readonly Buffer[],
    options: FollowerAppendOptions = {},
  ): Promise<AppendedRange | undefined> {
    if (batches.length === 0) return undefined;
    const headers = this.#validate(batches, options.maxBatchBytes ?? BATCH_BYTES_FORMAT_MAX);
    return this.#exclusive(async () => {
      let expected = this.#logEndOffset;
      let epochs = this.#epochs;
      let position = this.#endPosition;
      const empty = this.#logEndOffset === this.#logStartOffset;
      const stored: StoredBatch[] = [];
      const baseOffsets: bigint[] = [];
      for (let i = 0; i < headers.length; i++) {
        const header = headers[i]!;
        const lastOffset = lastOffsetOf(header);
        const continues =
          header.baseOffset === expected ||
          (i === 0 && empty && header.baseOffset < expected && lastOffset >= expected);
        if (!continues) {
          const problem = header.baseOffset > expected ? 'leaves a gap' : 'overlaps the log';
          throw new MillraceError(
            'INVALID_RECORD',
            `${this.name}: batch ${i} starts at offset ${header.baseOffset} and ${problem}: the log continues at ${expected}`,
            {
              details: {
                batchIndex: i,
                baseOffset: offsetText(header.baseOffset),
                expectedOffset: offsetText(expected),
              },
            },
          );
        }
        const epoch = header.partitionLeaderEpoch;
        if (epoch < 0) {
          throw new MillraceError('INVALID_RECORD', `${this.name}: batch ${i} carries no partition leader epoch`, {
            details: { batchIndex: i },
          });
        }
        const latest = latestEpoch(epochs);
        if (epoch < latest) {
          throw new MillraceError(
            'FENCED_LEADER_EPOCH',
            `${this.name}: batch ${i} was written in leader epoch ${epoch}, but the log already holds epoch ${latest}; truncate by epoch first`,
            { details: { batchIndex: i, leaderEpoch: epoch, latestEpoch: latest } },
          );
        }
        epochs = assignEpoch(epochs, epoch, maxOffset(header.baseOffset, expected));
        stored.push({ lastOffset, position, bytes: batches[i]! });
        baseOffsets.push(header.baseOffset);
        position += header.sizeInBytes;
        expected = lastOffset + 1n;
      }
      await this.#write({ batches: stored, ...epochChange(this.#epochs, epochs) });
      const firstOffset = this.#logEndOffset;
      this.#logEndOffset = expected;
      this.#endPosition = position;
      this.#epochs = epochs;
      this.#lastBatchEpoch = latestEpoch(epochs);
      this.#cached?.append(stored, baseOffsets);
      for (let i = 0; i < headers.length; i++) this.#producers.record(headers[i]!, baseOffsets[i]!);
      return { firstOffset, lastOffset: expected - 1n };
    });
  }

  /**
   * Whole batches from the one that holds `fromOffset`, each entirely below `maxOffset`, within
   * `maxBytes` except that the first batch comes whatever its size (Kafka's rule: a consumer must
   * be able to make progress past a batch larger than its fetch size) unless `minOneBatch` is false. Reading at the log end
   * returns nothing; reading outside [logStartOffset, logEndOffset] is OFFSET_OUT_OF_RANGE with the
   * valid range in `details`. Every batch's CRC, key and continuity are checked as it is read;
   * damage is KAFKA_STORAGE_ERROR naming the partition and the offset.
   */
  async read(fromOffset: bigint, options: ReadOptions): Promise<ReadResult> {
    this.#checkLive();
    const logStartOffset = this.#logStartOffset;
    const logEndOffset = this.#logEndOffset;
    const highWatermark = this.#highWatermark;
    if (typeof fromOffset !== 'bigint' || fromOffset < logStartOffset || fromOffset > logEndOffset) {
      throw new MillraceError(
        'OFFSET_OUT_OF_RANGE',
        `${this.name}: offset ${String(fromOffset)} is outside the log, which holds offsets ${logStartOffset} to ${logEndOffset} (exclusive)`,
        {
          details: {
            offset: String(fromOffset),
            logStartOffset: offsetText(logStartOffset),
            logEndOffset: offsetText(logEndOffset),
          },
        },
      );
    }
    const { maxBytes } = options;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new MillraceError('INVALID_FETCH_SIZE', `${this.name}: maxBytes ${maxBytes} is not a byte count`);
    }
    checkOffset(options.maxOffset, 'maxOffset');
    const endOffset = minOffset(options.maxOffset, logEndOffset);
    const result = { batches: [] as Buffer[], logStartOffset, logEndOffset, highWatermark };
    if (fromOffset >= endOffset) return result;
    const limits = { endOffset, maxBytes, maxBatches: READ_BATCHES_MAX };
    let stored = this.#cached?.read(fromOffset, limits);
    if (stored === undefined) {
      stored = await this.#store.readBatches(this.tp, fromOffset, limits);
      this.#checkRead(stored, fromOffset, endOffset === logEndOffset);
    }
    if (options.minOneBatch === false && stored[0] !== undefined && stored[0].bytes.length > maxBytes) return result;
    for (const batch of stored) result.batches.push(batch.bytes);
    return result;
  }

  /**
   * Rebuilds the idempotent producers' state from the log's newest batches, after a restart: the
   * batches of the last `PRODUCER_STATE_RECOVERY_OFFSETS` offsets are read. A producer whose last
   * batch is older is unknown afterwards and may start at any sequence (as in Kafka once a
   * producer's state has expired); a retry from it of a batch written before the restart could
   * then be written again.
   */
  async loadProducerState(): Promise<void> {
    await this.#exclusive(async () => {
      this.#producers.clear();
      const span = BigInt(PRODUCER_STATE_RECOVERY_OFFSETS);
      let from = this.#logEndOffset - span > this.#logStartOffset ? this.#logEndOffset - span : this.#logStartOffset;
      while (from < this.#logEndOffset) {
        const stored = await this.#store.readBatches(this.tp, from, {
          endOffset: this.#logEndOffset,
          maxBytes: 4 * 1024 * 1024,
          maxBatches: 1000,
        });
        if (stored.length === 0) break;
        for (const header of this.#checkRead(stored, from, true)) {
          this.#producers.record(header, header.baseOffset);
        }
        from = (stored.at(-1) as StoredBatch).lastOffset + 1n;
      }
    });
  }

  /**
   * Removes the divergent suffix of a follower's log: every batch whose last offset is ≥ `offset`
   * (whole batches, as Kafka truncates at batch boundaries, so the log may end below `offset`),
   * and the epoch-cache entries that start at or after the new end. Never below the high
   * watermark (a bug: the records there are committed, and consumers may have read them) unless
   * `allowBelowHighWatermark` for unclean recovery, which takes the high watermark down too.
   * One atomic write: the suffix is small (a few batches after a leader change), and a large one
   * goes through the store's marker path.
   */
  async truncateTo(offset: bigint, options: TruncateOptions = {}): Promise<void> {
    checkOffset(offset, 'offset');
    const restarted = await this.#exclusive(async () => {
      if (offset >= this.#logEndOffset) return false;
      if (offset < this.#logStartOffset) {
        invariant(
          options.allowBelowHighWatermark === true,
          `${this.name}: truncation to ${offset} is below the log start ${this.#logStartOffset} and the high watermark`,
        );
        await this.#restartAt(offset);
        return true;
      }
      const [first] = await this.#store.readBatches(this.tp, offset, {
        endOffset: this.#logEndOffset,
        maxBytes: 0,
        maxBatches: 1,
      });
      const [header] = this.#checkRead(first === undefined ? [] : [first], offset, true);
      invariant(first !== undefined && header !== undefined, 'checkRead returns the batch it was given');
      // The whole batch holding `offset` goes; if the log started inside it, the log is left empty.
      const newEnd = maxOffset(header.baseOffset, this.#logStartOffset);
      let highWatermark: bigint | undefined;
      if (newEnd < this.#highWatermark) {
        invariant(
          options.allowBelowHighWatermark === true,
          `${this.name}: truncation to ${offset} would end the log at ${newEnd}, below the high watermark ${this.#highWatermark}`,
        );
        highWatermark = newEnd;
      }
      const epochs = truncateEpochsFromEnd(this.#epochs, newEnd);
      // A lowered high watermark goes in the same write: a checkpoint above the log end would
      // make the next start refuse the partition.
      await this.#write({
        truncateFrom: offset,
        ...epochChange(this.#epochs, epochs),
        ...(highWatermark === undefined ? {} : { highWatermark }),
      });
      this.#logEndOffset = newEnd;
      this.#cached?.truncateFrom(offset);
      this.#producers.truncateFrom(newEnd);
      this.#endPosition = first.position;
      if (newEnd === this.#logStartOffset) this.#startPosition = first.position;
      this.#epochs = epochs;
      this.#lastBatchEpoch = newEnd === this.#logStartOffset ? -1 : latestEpoch(epochs);
      if (highWatermark !== undefined) {
        this.#highWatermark = highWatermark;
        this.#checkpointedHighWatermark = highWatermark;
      }
      return false;
    });
    if (restarted) await this.#clearBelow(offset);
  }

  /**
   * Empties the log and restarts it at `offset` (log start = log end = high watermark = offset):
   * a follower whose log ends before the leader's log start (Kafka's `truncateFullyAndStartAt`).
   * Removing records at or below the high watermark needs `allowBelowHighWatermark`.
   */
  async truncateFullyAndStartAt(offset: bigint, options: TruncateOptions = {}): Promise<void> {
    checkOffset(offset, 'offset');
    await this.#exclusive(async () => {
      invariant(
        offset >= this.#highWatermark || options.allowBelowHighWatermark === true,
        `${this.name}: restarting the log at ${offset} would remove records below the high watermark ${this.#highWatermark}`,
      );
      await this.#restartAt(offset);
    });
    await this.#clearBelow(offset);
  }

  /**
   * Kafka's OffsetsForLeaderEpoch answer from this log's epoch cache: the largest epoch ≤
   * `leaderEpoch` it knows and that epoch's end offset; `(-1, -1)` when nothing is known. See
   * `endOffsetForEpoch` in leader-epoch-cache.ts for every case.
   */
  endOffsetForEpoch(leaderEpoch: number): EpochEndOffset {
    return endOffsetForEpoch(this.#epochs, leaderEpoch, this.#logEndOffset);
  }

  /**
   * Moves the high watermark. It never goes above the log end nor backwards: either is a bug in
   * the replication code (a follower takes min(leader's high watermark, its own log end), and
   * ignores a leader's value below its own). In memory only; `checkpointHighWatermark` writes it.
   */
  setHighWatermark(offset: bigint): void {
    this.#checkLive();
    checkOffset(offset, 'highWatermark');
    invariant(
      offset <= this.#logEndOffset,
      `${this.name}: high watermark ${offset} is above the log end offset ${this.#logEndOffset}`,
    );
    invariant(
      offset >= this.#highWatermark,
      `${this.name}: high watermark ${offset} would go back from ${this.#highWatermark}`,
    );
    this.#highWatermark = offset;
  }

  /**
   * Writes the high watermark if it moved since the last checkpoint: lazily (the broker calls this
   * every few seconds and at clean close), never synced. After a crash the high watermark comes
   * back from the checkpoint, behind the truth but never ahead of the log; followers and the
   * leader's ISR bring it forward again. Returns whether anything was written.
   */
  async checkpointHighWatermark(): Promise<boolean> {
    if (this.#deleted) return false;
    return this.#exclusive(async () => {
      const highWatermark = this.#highWatermark;
      if (highWatermark === this.#checkpointedHighWatermark) return false;
      await this.#write({ highWatermark });
      this.#checkpointedHighWatermark = highWatermark;
      return true;
    });
  }

  /**
   * Kafka's ListOffsets by timestamp: the first record at or after `timestampMs` below `maxOffset`
   * (default: the high watermark, what consumers may see), or undefined if none. Finds the first
   * batch whose maxTimestamp ≥ `timestampMs` by reading batches from the log start (there is no
   * time index: the cost grows with the log), then decodes that one batch.
   */
  async offsetForTimestamp(
    timestampMs: number,
    options: { readonly maxOffset?: bigint } = {},
  ): Promise<{ offset: bigint; timestampMs: number } | undefined> {
    this.#checkLive();
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) {
      throw new MillraceError('INVALID_TIMESTAMP', `${this.name}: timestamp ${timestampMs} is not a timestamp`);
    }
    const logStartOffset = this.#logStartOffset;
    const endOffset = minOffset(options.maxOffset ?? this.#highWatermark, this.#logEndOffset);
    let from = logStartOffset;
    while (from < endOffset) {
      const stored = await this.#store.readBatches(this.tp, from, {
        endOffset,
        maxBytes: SCAN_CHUNK_BYTES,
        maxBatches: SCAN_CHUNK_BATCHES,
      });
      if (stored.length === 0) return undefined;
      const headers = this.#checkRead(stored, from, false);
      for (let i = 0; i < stored.length; i++) {
        if (headers[i]!.maxTimestamp < timestampMs) continue;
        const { records } = decodeRecordBatch(stored[i]!.bytes);
        for (const record of records) {
          if (record.offset >= logStartOffset && record.offset < endOffset && record.timestamp >= timestampMs) {
            return { offset: record.offset, timestampMs: record.timestamp };
          }
        }
      }
      from = lastOffsetOf(headers[headers.length - 1]!) + 1n;
    }
    return undefined;
  }

  /**
   * Advances the log start to `offset` (DeleteRecords, retention): the records below it are gone
   * for readers at once; the batches entirely below it are then dropped with the store's range
   * clear. The log start, the epoch cache trimmed from the start and the current high watermark
   * (so the checkpoint never lags behind the log start) are one atomic write, made before the
   * clear, so a crash in between leaves only garbage that the next start clears. An offset
   * beyond the high watermark is OFFSET_OUT_OF_RANGE (committed records only may go); one at or
   * below the log start changes nothing.
   */
  async deleteBefore(offset: bigint): Promise<void> {
    checkOffset(offset, 'offset');
    const moved = await this.#exclusive(async () => {
      if (offset <= this.#logStartOffset) return false;
      if (offset > this.#highWatermark) {
        throw new MillraceError(
          'OFFSET_OUT_OF_RANGE',
          `${this.name}: cannot delete records before ${offset}, beyond the high watermark ${this.#highWatermark}`,
          {
            details: {
              offset: offsetText(offset),
              logStartOffset: offsetText(this.#logStartOffset),
              highWatermark: offsetText(this.#highWatermark),
            },
          },
        );
      }
      let startPosition = this.#endPosition;
      if (offset < this.#logEndOffset) {
        const [first] = await this.#store.readBatches(this.tp, offset, {
          endOffset: this.#logEndOffset,
          maxBytes: 0,
          maxBatches: 1,
        });
        this.#checkRead(first === undefined ? [] : [first], offset, true);
        startPosition = first!.position;
      }
      const epochs = truncateEpochsFromStart(this.#epochs, offset);
      await this.#write({
        logStartOffset: offset,
        highWatermark: this.#highWatermark,
        ...epochChange(this.#epochs, epochs),
      });
      this.#logStartOffset = offset;
      this.#cached?.dropBelow(offset);
      this.#startPosition = startPosition;
      this.#checkpointedHighWatermark = this.#highWatermark;
      this.#epochs = epochs;
      if (offset === this.#logEndOffset) this.#lastBatchEpoch = -1;
      return true;
    });
    if (moved) await this.#clearBelow(offset);
  }

  /**
   * Applies `retention.ms` and `retention.bytes` (decided by `decideRetention`) by reading batch
   * headers from the log start, a chunk at a time, and moving the log start past the batches that
   * go. Returns the log start offset afterwards.
   */
  async applyRetention(settings: RetentionSettings): Promise<bigint> {
    this.#checkLive();
    const { nowMs, retentionMs, retentionBytes } = settings;
    if (retentionMs < 0 && retentionBytes < 0) return this.#logStartOffset;
    const highWatermark = this.#highWatermark;
    let from = this.#logStartOffset;
    let logSizeBytes = this.sizeInBytes;
    let newStart: bigint | undefined;
    for (;;) {
      const stored = await this.#store.readBatches(this.tp, from, {
        endOffset: highWatermark,
        maxBytes: SCAN_CHUNK_BYTES,
        maxBatches: SCAN_CHUNK_BATCHES,
      });
      if (stored.length === 0) break;
      const headers = this.#checkRead(stored, from, false);
      const batches: BatchSummary[] = headers.map((header) => ({
        baseOffset: header.baseOffset,
        lastOffset: lastOffsetOf(header),
        maxTimestampMs: header.maxTimestamp,
        sizeInBytes: header.sizeInBytes,
      }));
      const decision = decideRetention({ batches, logSizeBytes, nowMs, retentionMs, retentionBytes, highWatermark });
      if (decision.logStartOffset !== undefined) newStart = decision.logStartOffset;
      if (!decision.exhausted) break;
      logSizeBytes -= decision.bytes;
      from = decision.logStartOffset!;
    }
    if (newStart !== undefined) await this.deleteBefore(newStart);
    return this.#logStartOffset;
  }

  /**
   * Removes this partition from the store. Waits for writes under way; every later call fails
   * with UNKNOWN_TOPIC_OR_PARTITION. Use LogManager.delete, which also forgets the object.
   */
  async delete(): Promise<void> {
    await this.#exclusive(async () => {
      this.#deleted = true;
      this.#cached?.clear();
      await this.#store.deletePartition(this.tp);
    });
  }

  /** Waits for every write under way (a clean close). */
  async settle(): Promise<void> {
    await this.#tail.catch(() => undefined);
  }

  /** Empties the log at `offset`: log start = end = high watermark = offset, epoch cache cleared. */
  async #restartAt(offset: bigint): Promise<void> {
    await this.#write({
      truncateFrom: offset,
      logStartOffset: offset,
      highWatermark: offset,
      ...epochChange(this.#epochs, []),
    });
    this.#logStartOffset = offset;
    this.#logEndOffset = offset;
    this.#cached?.clear();
    this.#producers.clear();
    this.#highWatermark = offset;
    this.#checkpointedHighWatermark = offset;
    this.#epochs = [];
    this.#lastBatchEpoch = -1;
    this.#startPosition = 0;
    this.#endPosition = 0;
  }

  /** Drops batches the log start already declares gone. A failure leaves garbage that the next start clears. */
  async #clearBelow(offset: bigint): Promise<void> {
    await this.#store.clearBatchesBelow(this.tp, offset).catch(() => undefined);
  }

  /** Validates every batch before any is touched: refused whole, with the index of the bad one. */
  #validate(batches: readonly Buffer[], maxBatchBytes: number): RecordBatchHeader[] {
    this.#checkLive();
    if (batches.length === 0) throw new MillraceError('INVALID_RECORD', `${this.name}: no batches to append`);
    return batches.map((batch, i) => {
      if (!Buffer.isBuffer(batch)) throw new MillraceError('INVALID_RECORD', `${this.name}: batch ${i} is not bytes`);
      if (batch.length > maxBatchBytes) {
        throw new MillraceError(
          'MESSAGE_TOO_LARGE',
          `${this.name}: batch ${i} is ${batch.length} bytes, more than the ${maxBatchBytes} this topic accepts (max.message.bytes)`,
          { details: { batchIndex: i, sizeInBytes: batch.length, maxBatchBytes } },
        );
      }
      try {
        return validateRecordBatch(batch);
      } catch (error) {
        if (error instanceof MillraceError) {
          throw new MillraceError(error.code, `${this.name}: batch ${i}: ${error.message}`, {
            cause: error,
            details: { batchIndex: i },
          });
        }
        throw error;
      }
    });
  }

  /**
   * Checks batches read from the store: each one's CRC and key, the first holding `fromOffset`,
   * each following the one before it without gap (offsets and byte positions). `mustFind`: the
   * read ended at the log end, so an empty answer means missing data.
   */
  #checkRead(stored: readonly StoredBatch[], fromOffset: bigint, mustFind: boolean): RecordBatchHeader[] {
    if (stored.length === 0 && mustFind) throw this.#damaged(fromOffset, `no batch holds offset ${fromOffset}`);
    const headers: RecordBatchHeader[] = [];
    for (let i = 0; i < stored.length; i++) {
      const batch = stored[i]!;
      const header = this.#checkBatch(batch);
      const previous = stored[i - 1];
      if (previous === undefined) {
        // Offsets are dense from the log start: the first batch ending at or after fromOffset holds it.
        if (header.baseOffset > fromOffset) {
          throw this.#damaged(
            fromOffset,
            `no batch holds offset ${fromOffset}: the next one starts at ${header.baseOffset}`,
          );
        }
      } else {
        const expected = previous.lastOffset + 1n;
        if (header.baseOffset !== expected || batch.position !== previous.position + previous.bytes.length) {
          throw this.#damaged(
            expected,
            `the batch after offset ${previous.lastOffset} starts at ${header.baseOffset} (byte ${batch.position}), not ${expected} (byte ${previous.position + previous.bytes.length})`,
          );
        }
      }
      headers.push(header);
    }
    return headers;
  }

  /** CRC, framing, key: a stored batch must be what its key says. */
  #checkBatch(batch: StoredBatch): RecordBatchHeader {
    let header: RecordBatchHeader;
    try {
      verifyRecordBatchCrc(batch.bytes);
      header = readRecordBatchHeader(batch.bytes);
    } catch (error) {
      throw this.#damaged(batch.lastOffset, `the batch ending at offset ${batch.lastOffset} is damaged`, error);
    }
    if (lastOffsetOf(header) !== batch.lastOffset) {
      throw this.#damaged(
        batch.lastOffset,
        `the batch stored as ending at offset ${batch.lastOffset} holds offsets ${header.baseOffset} to ${lastOffsetOf(header)}`,
      );
    }
    return header;
  }

  #damaged(offset: bigint, problem: string, cause?: unknown): MillraceError {
    return new MillraceError('KAFKA_STORAGE_ERROR', `${this.name}: at offset ${offset}: ${problem}`, {
      ...(cause === undefined ? {} : { cause }),
      details: { topicId: this.tp.topicId, partition: this.tp.partition, offset: offsetText(offset) },
    });
  }

  async #write(change: PartitionWrite): Promise<void> {
    await this.#store.write(this.tp, change);
  }

  /** Runs `work` after every write before it has settled, so writes never interleave. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    this.#checkLive();
    // The tail never rejects (failures are swallowed here and reach the caller through `run`).
    const run = this.#tail.then(() => {
      this.#checkLive();
      return work();
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #checkLive(): void {
    if (this.#deleted) {
      throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `${this.name} has been deleted from this broker`);
    }
  }
}

function epochChange(
  before: LeaderEpochCache,
  after: LeaderEpochCache,
): Pick<PartitionWrite, 'epochsAdded' | 'epochsRemoved'> {
  if (before === after) return {};
  const { removed, added } = diffEpochs(before, after);
  return {
    ...(removed.length > 0 ? { epochsRemoved: removed } : {}),
    ...(added.length > 0 ? { epochsAdded: added } : {}),
  };
}
