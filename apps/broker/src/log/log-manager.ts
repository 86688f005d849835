import { MillraceError } from '@millrace/protocol';
import type { LogStore, RecoveredPartition } from './log-store.js';
import { PartitionLog, type RetentionSettings } from './partition-log.js';
import { TailCache } from './tail-cache.js';
import { checkPositive, describePartition, type PartitionMeta, partitionKey, type TopicIdPartition } from './types.js';

export interface LogManagerOptions {
  /**
   * How often high watermarks are checkpointed (Kafka's
   * `replica.high.watermark.checkpoint.interval.ms`). Default 5000; 0 turns the timer off (the
   * caller then calls `checkpointHighWatermarks` itself).
   */
  readonly highWatermarkCheckpointIntervalMs?: number;
  /**
   * Memory for the newest batches of every partition (see TailCache), so followers and consumers
   * at the tail are served without reading the store. Default 64 MiB; 0 turns it off.
   */
  readonly tailCacheBytes?: number;
  /** Failures of background work (checkpoints). */
  readonly onError?: (error: unknown, what: string) => void;
}

export const DEFAULT_HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS = 5000;
export const DEFAULT_TAIL_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * Every partition log of one broker, over one LogStore, which it owns (and closes).
 *
 * Partitions per broker are bounded by memory only: a partition costs a PartitionLog object
 * (a few hundred bytes plus its epoch cache) and nothing per batch, since batches stay in the
 * store and are found by key; there is no file handle per partition. Recovery reads a few keys
 * per partition.
 */
export class LogManager {
  readonly store: LogStore;
  readonly tailCache: TailCache;
  readonly #logs = new Map<string, PartitionLog>();
  readonly #onError: (error: unknown, what: string) => void;
  #timer: NodeJS.Timeout | undefined;
  #checkpointing: Promise<number> | undefined;
  #closed = false;

  private constructor(
    store: LogStore,
    recovered: readonly RecoveredPartition[],
    tailCache: TailCache,
    options: LogManagerOptions,
  ) {
    this.store = store;
    this.tailCache = tailCache;
    this.#onError = options.onError ?? (() => undefined);
    for (const state of recovered) {
      this.#logs.set(partitionKey(state.tp), new PartitionLog(store, state, this.tailCache.partition()));
    }
    const intervalMs = options.highWatermarkCheckpointIntervalMs ?? DEFAULT_HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS;
    if (intervalMs !== 0) {
      checkPositive(intervalMs, 'highWatermarkCheckpointIntervalMs');
      this.#timer = setInterval(() => {
        this.checkpointHighWatermarks().catch((error: unknown) => this.#onError(error, 'high-watermark checkpoint'));
      }, intervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Recovers every partition in `store` (see `checkRecovered`: a damaged partition fails the
   * whole open with KAFKA_STORAGE_ERROR, and the store is closed). Takes ownership of the store.
   */
  static async open(store: LogStore, options: LogManagerOptions = {}): Promise<LogManager> {
    let recovered: RecoveredPartition[];
    let tailCache: TailCache;
    try {
      tailCache = new TailCache(options.tailCacheBytes ?? DEFAULT_TAIL_CACHE_BYTES);
      recovered = await store.recover();
    } catch (error) {
      await store.close();
      throw error;
    }
    const manager = new LogManager(store, recovered, tailCache, options);
    // One partition at a time: each reads a bounded tail of its log. A damaged batch there is
    // reported and leaves that partition's producers unknown; it does not stop the broker, whose
    // reads refuse that batch on their own.
    for (const log of manager.partitions()) {
      await log.loadProducerState().catch((error: unknown) => {
        options.onError?.(error, `rebuilding the producer state of ${log.name}`);
      });
    }
    return manager;
  }

  get(tp: TopicIdPartition): PartitionLog | undefined {
    return this.#logs.get(partitionKey(tp));
  }

  /** The log of `tp`, or UNKNOWN_TOPIC_OR_PARTITION. */
  require(tp: TopicIdPartition): PartitionLog {
    const log = this.get(tp);
    if (log === undefined) {
      throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `${describePartition(tp)} is not hosted by this broker`);
    }
    return log;
  }

  partitions(): PartitionLog[] {
    return [...this.#logs.values()];
  }

  /**
   * The log of `tp`, created empty (starting at `logStartOffset`) if this broker does not hold it
   * yet. Idempotent, so replaying the metadata log is harmless; a different topic name for the
   * same partition is a bug in the caller.
   */
  async create(tp: TopicIdPartition, meta: PartitionMeta, logStartOffset = 0n): Promise<PartitionLog> {
    this.#checkOpen();
    const key = partitionKey(tp);
    const existing = this.#logs.get(key);
    if (existing !== undefined) {
      if (existing.meta.topic !== meta.topic) {
        throw new Error(`invariant broken: ${existing.name} is asked to be created again for topic ${meta.topic}`);
      }
      return existing;
    }
    const log = await PartitionLog.create(this.store, tp, meta, logStartOffset, this.tailCache.partition());
    this.#logs.set(key, log);
    return log;
  }

  /** Deletes `tp` and everything stored for it (topic removed, replica moved away). */
  async delete(tp: TopicIdPartition): Promise<void> {
    this.#checkOpen();
    const key = partitionKey(tp);
    const log = this.#logs.get(key);
    if (log === undefined) return;
    this.#logs.delete(key);
    await log.delete();
  }

  /** Checkpoints every high watermark that moved, one partition at a time. Returns how many were written. */
  async checkpointHighWatermarks(): Promise<number> {
    if (this.#checkpointing !== undefined) return this.#checkpointing;
    this.#checkpointing = (async () => {
      let written = 0;
      for (const log of this.#logs.values()) {
        if (await log.checkpointHighWatermark()) written++;
      }
      return written;
    })().finally(() => {
      this.#checkpointing = undefined;
    });
    return this.#checkpointing;
  }

  /**
   * Applies retention to every partition for which `settingsFor` gives settings (the topic's
   * `retention.ms` and `retention.bytes`). The broker calls this every
   * `log.retention.check.interval.ms`. Returns the partitions whose log start moved.
   */
  async applyRetention(settingsFor: (log: PartitionLog) => RetentionSettings | undefined): Promise<PartitionLog[]> {
    this.#checkOpen();
    const moved: PartitionLog[] = [];
    for (const log of [...this.#logs.values()]) {
      const settings = settingsFor(log);
      if (settings === undefined) continue;
      const before = log.logStartOffset;
      if ((await log.applyRetention(settings)) !== before) moved.push(log);
    }
    return moved;
  }

  /** Waits for writes under way, checkpoints every high watermark, and closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#checkpointing?.catch(() => undefined);
    for (const log of this.#logs.values()) await log.settle();
    try {
      for (const log of this.#logs.values()) await log.checkpointHighWatermark();
    } finally {
      await this.store.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new MillraceError('KAFKA_STORAGE_ERROR', 'the partition logs are closed');
  }
}
