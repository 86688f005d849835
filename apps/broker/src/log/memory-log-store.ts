import { MillraceError } from '@millrace/protocol';
import {
  checkRecovered,
  type LogStore,
  type PartitionWrite,
  type ReadLimits,
  type RecoveredPartition,
  type StoredBatch,
} from './log-store.js';
import { describePartition, invariant, type PartitionMeta, partitionKey, type TopicIdPartition } from './types.js';

interface MemoryPartition {
  readonly tp: TopicIdPartition;
  meta: unknown;
  logStartOffset: bigint | undefined;
  highWatermark: bigint | undefined;
  /** By epoch. */
  readonly epochs: Map<number, bigint>;
  /** In last-offset order, including garbage below the log start until it is cleared. */
  batches: StoredBatch[];
}

/**
 * The in-memory twin of LevelLogStore: the same contract, kept in maps and arrays. Values are
 * copied in and out, as a database would, so a caller that mutates a buffer it handed over or got
 * back cannot change what is stored. "Durable" here means "until the object is dropped": a new
 * PartitionLog over `recover()` of the same store plays a restart.
 */
export class MemoryLogStore implements LogStore {
  readonly #partitions: Map<string, MemoryPartition>;
  #closed = false;

  constructor() {
    this.#partitions = new Map();
  }

  /** A restart: a new store over the same data, as a LevelLogStore reopened on the same folder. */
  reopen(): MemoryLogStore {
    const store = new MemoryLogStore();
    for (const [key, p] of this.#partitions) store.#partitions.set(key, p);
    return store;
  }

  async recover(): Promise<RecoveredPartition[]> {
    this.#checkOpen();
    const keys = [...this.#partitions.keys()].sort();
    return keys.map((key) => {
      const p = this.#partitions.get(key)!;
      const start = p.logStartOffset ?? 0n;
      const live = p.batches.filter((batch) => batch.lastOffset >= start);
      return checkRecovered({
        tp: p.tp,
        meta: p.meta,
        logStartOffset: p.logStartOffset,
        highWatermark: p.highWatermark,
        epochs: [...p.epochs.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([epoch, startOffset]) => ({ epoch, startOffset })),
        firstBatch: live[0] === undefined ? undefined : copyBatch(live[0]),
        lastBatch: live.length === 0 ? undefined : copyBatch(live[live.length - 1]!),
      });
    });
  }

  async createPartition(tp: TopicIdPartition, meta: PartitionMeta, logStartOffset: bigint): Promise<void> {
    this.#checkOpen();
    this.#partitions.set(partitionKey(tp), {
      tp,
      meta: structuredClone(meta),
      logStartOffset,
      highWatermark: undefined,
      epochs: new Map(),
      batches: [],
    });
  }

  async deletePartition(tp: TopicIdPartition): Promise<void> {
    this.#checkOpen();
    this.#partitions.delete(partitionKey(tp));
  }

  async write(tp: TopicIdPartition, change: PartitionWrite): Promise<void> {
    this.#checkOpen();
    const p = this.#partition(tp);
    // Compute everything first, so that a failed assertion changes nothing (all or none).
    let batches = p.batches;
    if (change.truncateFrom !== undefined) {
      const from = change.truncateFrom;
      batches = batches.filter((batch) => batch.lastOffset < from);
    }
    if (change.batches !== undefined && change.batches.length > 0) {
      const lastStored = batches[batches.length - 1];
      invariant(
        lastStored === undefined || change.batches[0]!.lastOffset > lastStored.lastOffset,
        `${describePartition(tp)}: appended batches must follow the stored ones`,
      );
      batches = [...batches, ...change.batches.map(copyBatch)];
    }
    p.batches = batches;
    for (const epoch of change.epochsRemoved ?? []) p.epochs.delete(epoch);
    for (const entry of change.epochsAdded ?? []) p.epochs.set(entry.epoch, entry.startOffset);
    if (change.logStartOffset !== undefined) p.logStartOffset = change.logStartOffset;
    if (change.highWatermark !== undefined) p.highWatermark = change.highWatermark;
  }

  async readBatches(tp: TopicIdPartition, fromOffset: bigint, limits: ReadLimits): Promise<StoredBatch[]> {
    this.#checkOpen();
    const batches = this.#partition(tp).batches;
    let lo = 0;
    let hi = batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (batches[mid]!.lastOffset < fromOffset) lo = mid + 1;
      else hi = mid;
    }
    const out: StoredBatch[] = [];
    let bytes = 0;
    for (let i = lo; i < batches.length && out.length < limits.maxBatches; i++) {
      const batch = batches[i]!;
      if (batch.lastOffset >= limits.endOffset) break;
      if (out.length > 0 && bytes + batch.bytes.length > limits.maxBytes) break;
      bytes += batch.bytes.length;
      out.push(copyBatch(batch));
    }
    return out;
  }

  async clearBatchesBelow(tp: TopicIdPartition, offset: bigint): Promise<void> {
    this.#checkOpen();
    const p = this.#partitions.get(partitionKey(tp));
    if (p !== undefined) p.batches = p.batches.filter((batch) => batch.lastOffset >= offset);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** For tests: replaces the stored bytes of the batch whose last offset is `lastOffset`, as a failing disk would. */
  damageBatch(tp: TopicIdPartition, lastOffset: bigint, damage: (bytes: Buffer) => void): void {
    const batch = this.#partition(tp).batches.find((b) => b.lastOffset === lastOffset);
    invariant(batch !== undefined, `no batch with last offset ${lastOffset}`);
    damage(batch.bytes);
  }

  #partition(tp: TopicIdPartition): MemoryPartition {
    const p = this.#partitions.get(partitionKey(tp));
    if (p === undefined) {
      throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `${describePartition(tp)} is not in this store`);
    }
    return p;
  }

  #checkOpen(): void {
    if (this.#closed) throw new MillraceError('KAFKA_STORAGE_ERROR', 'the log store is closed');
  }
}

function copyBatch(batch: StoredBatch): StoredBatch {
  return { lastOffset: batch.lastOffset, position: batch.position, bytes: Buffer.from(batch.bytes) };
}
