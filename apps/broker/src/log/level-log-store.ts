import { mkdirSync } from 'node:fs';
import { MillraceError } from '@millrace/protocol';
import { Level } from 'level';
import {
  BATCH_KEY_BYTES,
  batchKey,
  batchSeekKey,
  epochKey,
  META_KEY,
  parseBatchKey,
  parseEpochKey,
  partitionKeyOf,
  partitionOfKey,
  partitionUpperBound,
  sealedJson,
  sealedOffset,
  TAG_BATCH,
  TAG_EPOCH,
  TAG_HIGH_WATERMARK,
  TAG_LOG_START,
  TAG_PARTITION,
  TAG_TRUNCATION,
  tagRange,
  unseal,
  unsealOffset,
} from './keys.js';
import {
  checkRecovered,
  type LogStore,
  type PartitionWrite,
  type RawPartition,
  type ReadLimits,
  type RecoveredPartition,
  type StoredBatch,
} from './log-store.js';
import {
  checkPositive,
  describePartition,
  type EpochEntry,
  FLUSH_POLICIES,
  type FlushPolicy,
  invariant,
  type PartitionMeta,
  partitionKey,
  type TopicIdPartition,
} from './types.js';

const FORMAT_VERSION = 1;
const FORMAT = { format: FORMAT_VERSION, kind: 'millrace-broker-log' } as const;

export interface LevelLogStoreOptions {
  /** `log.flush.policy`. Default `os`. */
  readonly flushPolicy?: FlushPolicy;
  /** `log.flush.interval.ms`, for the `interval` policy. Default 1000. */
  readonly flushIntervalMs?: number;
  /**
   * A truncation that removes at most this many batches is one atomic LevelDB batch; a larger one
   * goes through a marker and LevelDB's native range clear (see `write`). Default 1000.
   */
  readonly truncateInBatchMax?: number;
  /** Failures of background work (interval flushes, garbage clears): nothing is lost, but a disk may be failing. */
  readonly onError?: (error: unknown, what: string) => void;
}

export const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const DEFAULT_TRUNCATE_IN_BATCH_MAX = 1000;
/** Bounds the bytes an iterator reads ahead of what a fetch asked for. */
const READ_AHEAD_BYTES_MIN = 16 * 1024;
const READ_AHEAD_BYTES_MAX = 16 * 1024 * 1024;
const NEXTV_ENTRIES_MAX = 1000;

/**
 * LevelDB settings for a log of record batches, chosen by benchmark (BENCHMARKS.md, "apps/broker —
 * cluster" and "LevelDB write amplification").
 * - No Snappy: batch values are either random-looking record data or already compressed by the
 *   producer (RecordBatch has its own compression), so Snappy spends CPU in every flush and
 *   compaction for nothing. Kafka does not recompress batches on the broker either.
 * - A 64 MiB write buffer (LevelDB's default is 4 MiB): the keys of every partition interleave,
 *   so each level-0 file overlaps all the others and each flush costs a compaction; with 4 MiB
 *   LevelDB wrote 12 bytes to disk per byte of batch, with 64 MiB 8. It costs up to two memtables
 *   in memory (the one filling and the one being flushed), and recovery replays at most that much
 *   log.
 * - 2 MiB table files (LevelDB's default; 32 MiB before 2026-12): with small files only the file
 *   at each partition's edge overlaps the next level, so compactions move the rest down without
 *   rewriting them. Steady-state write amplification fell from 8.0 to 3.9 bytes per byte, and
 *   acks=all produce over 20 s rose from 27-28 to 29-31 MB/s. The cost is more files (about 500
 *   per GB), so reads far behind the tail open tables more often.
 * What is left of the amplification is the interleaving itself: a layout whose keys grow across
 * the whole database writes each byte twice (log and flush) and never compacts it (the note on
 * the study in BENCHMARKS.md); that is a change of the stored format, not of a setting.
 */
export const LEVEL_TUNING = {
  compression: false,
  writeBufferSize: 64 * 1024 * 1024,
  maxFileSize: 2 * 1024 * 1024,
} as const;

type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/** Writes of several partitions that go to LevelDB as one batch. */
interface WriteGroup {
  readonly ops: BatchOp[];
  sync: boolean;
  readonly done: Promise<void>;
}

/**
 * Partition logs in one LevelDB per broker (key layout in `keys.ts`).
 *
 * Opening creates a missing folder: a broker that lost its disk recovers its partitions from
 * their replicas, unlike a Raft voter, which must never forget its vote. A folder that holds
 * something other than a Millrace broker log, or a newer format, is refused.
 *
 * Flush policy (`log.flush.policy`): every write is handed to the operating system before it
 * resolves (LevelDB writes its log with write(2), unbuffered per write), so an acknowledged write
 * survives a kill -9 of the broker. `every-batch` also fsyncs each write (`sync: true`), so it
 * survives a power loss; `interval` fsyncs once per `log.flush.interval.ms` when anything was
 * written, by rewriting the format record with `sync: true`, which makes LevelDB sync its log
 * file and with it every write before. What survives a crash of the process is a prefix of the
 * writes, because LevelDB's log is one sequential file written in order; PartitionLog orders its
 * writes so that every prefix is a state recovery accepts. (After a power loss, unsynced pages
 * may come back in any order: recovery and reads check what they find and refuse damage.)
 * High-watermark checkpoints are never synced on their own.
 */
export class LevelLogStore implements LogStore {
  readonly path: string;
  readonly flushPolicy: FlushPolicy;
  readonly #db: Level<Buffer, Buffer>;
  readonly #truncateInBatchMax: number;
  readonly #onError: (error: unknown, what: string) => void;
  readonly #flushTimer: NodeJS.Timeout | undefined;
  /** Background clears, awaited before closing. */
  readonly #pending = new Set<Promise<unknown>>();
  /** Something was written since the last fsync (the `interval` policy). */
  #dirty = false;
  #flushing: Promise<void> | undefined;
  /** The batch the writes of this turn of the event loop join (see #joinGroup). */
  #group: WriteGroup | undefined;
  #closed = false;

  private constructor(path: string, db: Level<Buffer, Buffer>, options: Required<LevelLogStoreOptions>) {
    this.path = path;
    this.#db = db;
    this.flushPolicy = options.flushPolicy;
    this.#truncateInBatchMax = options.truncateInBatchMax;
    this.#onError = options.onError;
    if (options.flushPolicy === 'interval') {
      this.#flushTimer = setInterval(() => {
        this.flush().catch((error: unknown) => this.#onError(error, 'interval flush'));
      }, options.flushIntervalMs);
      this.#flushTimer.unref();
    }
  }

  static async open(path: string, options: LevelLogStoreOptions = {}): Promise<LevelLogStore> {
    const settings = checkOptions(options);
    const fail = (problem: string, cause?: unknown): never => {
      throw new MillraceError('KAFKA_STORAGE_ERROR', `partition log store at ${path}: ${problem}`, {
        ...(cause === undefined ? {} : { cause }),
      });
    };
    try {
      mkdirSync(path, { recursive: true });
    } catch (error) {
      fail('the folder cannot be created', error);
    }
    const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer', ...LEVEL_TUNING });
    try {
      await db.open();
    } catch (error) {
      fail('LevelDB would not open', error);
    }
    try {
      const stored = await db.get(META_KEY);
      if (stored === undefined) {
        const empty = (await db.keys({ limit: 1 }).all()).length === 0;
        if (!empty) fail('it holds data but no format record: it is not a Millrace broker log, or it is damaged');
        await db.put(META_KEY, sealedJson(FORMAT), { sync: true });
      } else {
        const payload = unseal(stored);
        if (typeof payload === 'string') fail(`the format record ${payload}`);
        let format: unknown;
        try {
          format = JSON.parse((payload as Buffer).toString('utf8'));
        } catch {
          fail('the format record is not JSON');
        }
        const { kind, format: version } = (format ?? {}) as { kind?: unknown; format?: unknown };
        if (kind !== FORMAT.kind || version !== FORMAT_VERSION) {
          fail(`the format record says ${JSON.stringify(format)}, expected ${JSON.stringify(FORMAT)}`);
        }
      }
    } catch (error) {
      await db.close();
      throw error;
    }
    return new LevelLogStore(path, db, settings);
  }

  /**
   * Reads every partition back: first finishes what a crash interrupted (large truncations,
   * batches of deleted partitions), then loads each partition's metadata, log start, checkpoint
   * and epoch cache in one scan per tag, and its first and last batch with two seeks; nothing
   * else of the log is read, so a restart costs a few seeks per partition whatever the logs hold.
   */
  async recover(): Promise<RecoveredPartition[]> {
    this.#checkOpen();
    const db = this.#db;
    const fail = (problem: string, tp?: TopicIdPartition): never => {
      const where = tp === undefined ? '' : `${describePartition(tp)}: `;
      throw new MillraceError('KAFKA_STORAGE_ERROR', `partition log store at ${this.path}: ${where}${problem}`, {
        ...(tp === undefined ? {} : { details: { topicId: tp.topicId, partition: tp.partition } }),
      });
    };
    const keyTp = (key: Buffer, what: string): TopicIdPartition =>
      partitionOfKey(key) ?? fail(`a ${what} key is too short (${key.length} bytes)`);

    for (const [key, value] of await db.iterator(tagRange(TAG_TRUNCATION)).all()) {
      const tp = keyTp(key, 'truncation');
      const from = unsealOffset(value);
      if (typeof from === 'string') fail(`the truncation marker ${from}`, tp);
      await db.clear({ gte: batchSeekKey(tp, from as bigint), lt: partitionUpperBound(TAG_BATCH, tp) });
      await db.del(key);
    }

    const found = new Map<
      string,
      { tp: TopicIdPartition; meta: unknown; start?: bigint; hw?: bigint; epochs: EpochEntry[] }
    >();
    for (const [key, value] of await db.iterator(tagRange(TAG_PARTITION)).all()) {
      const tp = keyTp(key, 'partition');
      const payload = unseal(value);
      if (typeof payload === 'string') fail(`the partition metadata ${payload}`, tp);
      let meta: unknown;
      try {
        meta = JSON.parse((payload as Buffer).toString('utf8'));
      } catch {
        fail('the partition metadata is not JSON', tp);
      }
      found.set(partitionKey(tp), { tp, meta, epochs: [] });
    }
    const owner = (key: Buffer, what: string) => {
      const tp = keyTp(key, what);
      return found.get(partitionKey(tp)) ?? fail(`a ${what} is stored for a partition without metadata`, tp);
    };
    for (const [key, value] of await db.iterator(tagRange(TAG_LOG_START)).all()) {
      const p = owner(key, 'log start offset');
      const offset = unsealOffset(value);
      if (typeof offset === 'string') fail(`the log start offset ${offset}`, p.tp);
      p.start = offset as bigint;
    }
    for (const [key, value] of await db.iterator(tagRange(TAG_HIGH_WATERMARK)).all()) {
      const p = owner(key, 'high-watermark checkpoint');
      const offset = unsealOffset(value);
      if (typeof offset === 'string') fail(`the high-watermark checkpoint ${offset}`, p.tp);
      p.hw = offset as bigint;
    }
    for (const [key, value] of await db.iterator(tagRange(TAG_EPOCH)).all()) {
      const p = owner(key, 'leader-epoch cache entry');
      const epoch = parseEpochKey(key) ?? fail('a leader-epoch cache key is malformed', p.tp);
      const offset = unsealOffset(value);
      if (typeof offset === 'string') fail(`the leader-epoch cache entry for epoch ${epoch} ${offset}`, p.tp);
      p.epochs.push({ epoch, startOffset: offset as bigint });
    }

    await this.#clearOrphanBatches(found, fail);

    const recovered: RecoveredPartition[] = [];
    for (const p of found.values()) {
      const { tp } = p;
      let firstBatch: StoredBatch | undefined;
      let lastBatch: StoredBatch | undefined;
      if (p.start !== undefined) {
        const live = { gte: batchSeekKey(tp, p.start), lt: partitionUpperBound(TAG_BATCH, tp), limit: 1 };
        const [first] = await db.iterator(live).all();
        const [last] = await db.iterator({ ...live, reverse: true }).all();
        firstBatch = first === undefined ? undefined : this.#storedBatch(tp, first[0], first[1]);
        lastBatch = last === undefined ? undefined : this.#storedBatch(tp, last[0], last[1]);
        const below = { gte: partitionKeyOf(TAG_BATCH, tp), lt: batchSeekKey(tp, p.start), limit: 1 };
        if ((await db.keys(below).all()).length > 0) this.#background(this.clearBatchesBelow(tp, p.start), 'clear');
      }
      const raw: RawPartition = {
        tp,
        meta: p.meta,
        logStartOffset: p.start,
        highWatermark: p.hw,
        epochs: p.epochs,
        firstBatch,
        lastBatch,
      };
      recovered.push(checkRecovered(raw));
    }
    return recovered;
  }

  async createPartition(tp: TopicIdPartition, meta: PartitionMeta, logStartOffset: bigint): Promise<void> {
    this.#checkOpen();
    await this.#guard(tp, 'creating the partition', async () => {
      const existing = await this.#db.get(partitionKeyOf(TAG_PARTITION, tp));
      invariant(existing === undefined, `${describePartition(tp, meta.topic)} is created twice`);
      // Batches left by a deletion that a crash interrupted must not join the new log.
      await this.#db.clear({ gte: partitionKeyOf(TAG_BATCH, tp), lt: partitionUpperBound(TAG_BATCH, tp) });
      const ops: BatchOp[] = (await this.#epochKeys(tp)).map((key) => ({ type: 'del', key }));
      ops.push(
        { type: 'put', key: partitionKeyOf(TAG_PARTITION, tp), value: sealedJson(meta) },
        { type: 'put', key: partitionKeyOf(TAG_LOG_START, tp), value: sealedOffset(logStartOffset) },
        { type: 'del', key: partitionKeyOf(TAG_HIGH_WATERMARK, tp) },
      );
      await this.#db.batch(ops, { sync: this.flushPolicy === 'every-batch' });
    });
    this.#dirty = true;
  }

  /**
   * Deletes the metadata, offsets and epoch cache in one batch, then the batches with a native
   * range clear. A crash between the two leaves batches without metadata, which the next
   * recovery clears.
   */
  async deletePartition(tp: TopicIdPartition): Promise<void> {
    this.#checkOpen();
    await this.#guard(tp, 'deleting the partition', async () => {
      const ops: BatchOp[] = (await this.#epochKeys(tp)).map((key) => ({ type: 'del', key }));
      for (const tag of [TAG_PARTITION, TAG_LOG_START, TAG_HIGH_WATERMARK, TAG_TRUNCATION]) {
        ops.push({ type: 'del', key: partitionKeyOf(tag, tp) });
      }
      await this.#db.batch(ops, { sync: this.flushPolicy === 'every-batch' });
      await this.#db.clear({ gte: partitionKeyOf(TAG_BATCH, tp), lt: partitionUpperBound(TAG_BATCH, tp) });
    });
    this.#dirty = true;
  }

  /**
   * One atomic LevelDB batch. A truncation whose suffix is larger than `truncateInBatchMax`
   * batches would need a batch of that many deletes built in JavaScript, which stalls the event
   * loop (100k deletes once stalled a Raft node for 600 ms); it goes in three steps instead:
   * (1) a `T` marker with the truncation offset, together with the rest of the change, (2)
   * LevelDB's native range clear of the suffix, off the event loop, (3) the marker's removal. A
   * crash between (1) and (3) leaves the marker, and recovery finishes the clear before it reads
   * the partition.
   */
  async write(tp: TopicIdPartition, change: PartitionWrite): Promise<void> {
    this.#checkOpen();
    const db = this.#db;
    const ops: BatchOp[] = [];
    let largeTruncation: bigint | undefined;
    const sync = this.flushPolicy === 'every-batch' && !isCheckpointOnly(change);
    await this.#guard(tp, 'a write failed', async () => {
      if (change.truncateFrom !== undefined) {
        const suffix = { gte: batchSeekKey(tp, change.truncateFrom), lt: partitionUpperBound(TAG_BATCH, tp) };
        const keys = await db.keys({ ...suffix, limit: this.#truncateInBatchMax + 1 }).all();
        if (keys.length <= this.#truncateInBatchMax) {
          for (const key of keys) ops.push({ type: 'del', key });
        } else {
          largeTruncation = change.truncateFrom;
          ops.push({ type: 'put', key: partitionKeyOf(TAG_TRUNCATION, tp), value: sealedOffset(largeTruncation) });
        }
      }
      for (const epoch of change.epochsRemoved ?? []) ops.push({ type: 'del', key: epochKey(tp, epoch) });
      for (const entry of change.epochsAdded ?? []) {
        ops.push({ type: 'put', key: epochKey(tp, entry.epoch), value: sealedOffset(entry.startOffset) });
      }
      if (change.logStartOffset !== undefined) {
        ops.push({ type: 'put', key: partitionKeyOf(TAG_LOG_START, tp), value: sealedOffset(change.logStartOffset) });
      }
      if (change.highWatermark !== undefined) {
        ops.push({
          type: 'put',
          key: partitionKeyOf(TAG_HIGH_WATERMARK, tp),
          value: sealedOffset(change.highWatermark),
        });
      }
      for (const batch of change.batches ?? []) {
        ops.push({ type: 'put', key: batchKey(tp, batch.lastOffset, batch.position), value: batch.bytes });
      }
      invariant(
        largeTruncation === undefined || (change.batches ?? []).length === 0,
        'a large truncation cannot carry appended batches',
      );
      // A change without truncation is built without waiting, and joins the writes of other
      // partitions made in the same turn of the event loop (see #joinGroup).
      if (change.truncateFrom === undefined) {
        await this.#joinGroup(ops, sync);
        return;
      }
      await db.batch(ops, { sync });
      if (largeTruncation !== undefined) {
        await db.clear({ gte: batchSeekKey(tp, largeTruncation), lt: partitionUpperBound(TAG_BATCH, tp) });
        await db.del(partitionKeyOf(TAG_TRUNCATION, tp), { sync });
      }
    });
    this.#dirty = true;
  }

  /**
   * Adds `ops` to the LevelDB batch of this turn, written once the current microtasks have run.
   * A produce request's partitions and a replica fetch answer's partitions are appended in the
   * same turn, so they reach LevelDB as one call (each call costs a thread-pool round trip and a
   * fixed overhead on the event loop) instead of one each. Each partition's change stays whole,
   * and the group is one atomic LevelDB batch, so a crash still leaves a prefix of the changes
   * every partition made; a partition never has two changes in one group, because PartitionLog
   * waits for each write before it makes the next. The group is synced if any change in it must be.
   */
  #joinGroup(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    let group = this.#group;
    if (group === undefined) {
      let settle!: { resolve: () => void; reject: (error: unknown) => void };
      const done = new Promise<void>((resolve, reject) => {
        settle = { resolve, reject };
      });
      const created: WriteGroup = { ops: [], sync: false, done };
      group = created;
      this.#group = created;
      this.#track(done);
      queueMicrotask(() => {
        this.#group = undefined;
        this.#db.batch(created.ops, { sync: created.sync }).then(settle.resolve, settle.reject);
      });
    }
    for (const op of ops) group.ops.push(op);
    if (sync) group.sync = true;
    return group.done;
  }

  async readBatches(tp: TopicIdPartition, fromOffset: bigint, limits: ReadLimits): Promise<StoredBatch[]> {
    this.#checkOpen();
    if (fromOffset >= limits.endOffset || limits.maxBatches < 1) return [];
    const out: StoredBatch[] = [];
    await this.#guard(tp, 'a read failed', async () => {
      const iterator = this.#db.iterator({
        gte: batchSeekKey(tp, fromOffset),
        lt: batchSeekKey(tp, limits.endOffset),
        highWaterMarkBytes: Math.min(Math.max(limits.maxBytes, READ_AHEAD_BYTES_MIN), READ_AHEAD_BYTES_MAX),
      });
      try {
        let bytes = 0;
        reading: while (out.length < limits.maxBatches) {
          const entries = await iterator.nextv(Math.min(limits.maxBatches - out.length, NEXTV_ENTRIES_MAX));
          if (entries.length === 0) break;
          for (const [key, value] of entries) {
            if (out.length > 0 && bytes + value.length > limits.maxBytes) break reading;
            bytes += value.length;
            out.push(this.#storedBatch(tp, key, value));
            if (out.length >= limits.maxBatches) break reading;
          }
        }
      } finally {
        await iterator.close();
      }
    });
    return out;
  }

  async clearBatchesBelow(tp: TopicIdPartition, offset: bigint): Promise<void> {
    this.#checkOpen();
    const cleared = this.#guard(tp, 'clearing deleted batches failed', () =>
      this.#db.clear({ gte: partitionKeyOf(TAG_BATCH, tp), lt: batchSeekKey(tp, offset) }),
    );
    this.#track(cleared);
    await cleared;
  }

  /** An fsync of everything written so far (the `interval` policy's tick; also at close). */
  async flush(): Promise<void> {
    if (this.#flushing !== undefined) return this.#flushing;
    if (!this.#dirty || this.#closed) return;
    this.#dirty = false;
    this.#flushing = this.#db
      .put(META_KEY, sealedJson(FORMAT), { sync: true })
      .catch((error: unknown) => {
        this.#dirty = true;
        throw new MillraceError('KAFKA_STORAGE_ERROR', `partition log store at ${this.path}: an fsync failed`, {
          cause: error,
        });
      })
      .finally(() => {
        this.#flushing = undefined;
      });
    return this.#flushing;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#flushTimer !== undefined) clearInterval(this.#flushTimer);
    await Promise.allSettled([...this.#pending]);
    if (this.flushPolicy !== 'os') await this.flush();
    this.#closed = true;
    await this.#db.close();
  }

  #storedBatch(tp: TopicIdPartition, key: Buffer, value: Buffer): StoredBatch {
    const parsed = parseBatchKey(key);
    if (parsed === undefined) {
      throw new MillraceError(
        'KAFKA_STORAGE_ERROR',
        `${describePartition(tp)}: a batch key of ${key.length} bytes is malformed (expected ${BATCH_KEY_BYTES})`,
        { details: { topicId: tp.topicId, partition: tp.partition } },
      );
    }
    return { lastOffset: parsed.lastOffset, position: parsed.position, bytes: value };
  }

  async #epochKeys(tp: TopicIdPartition): Promise<Buffer[]> {
    return this.#db.keys({ gte: partitionKeyOf(TAG_EPOCH, tp), lt: partitionUpperBound(TAG_EPOCH, tp) }).all();
  }

  /**
   * Batches of partitions without metadata (a deletion that a crash interrupted): one seek per
   * partition present, skipping from each partition's batches to the next partition's.
   */
  async #clearOrphanBatches(
    found: ReadonlyMap<string, unknown>,
    fail: (problem: string, tp?: TopicIdPartition) => never,
  ): Promise<void> {
    let cursor = tagRange(TAG_BATCH).gte;
    const end = tagRange(TAG_BATCH).lt;
    for (;;) {
      const [key] = await this.#db.keys({ gte: cursor, lt: end, limit: 1 }).all();
      if (key === undefined) return;
      const tp = partitionOfKey(key) ?? fail(`a batch key is too short (${key.length} bytes)`);
      if (!found.has(partitionKey(tp))) {
        await this.#db.clear({ gte: partitionKeyOf(TAG_BATCH, tp), lt: partitionUpperBound(TAG_BATCH, tp) });
      }
      cursor = partitionUpperBound(TAG_BATCH, tp);
    }
  }

  /** Runs a LevelDB operation; its failures become KAFKA_STORAGE_ERROR naming the partition. */
  async #guard<T>(tp: TopicIdPartition, what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof MillraceError || !isLevelError(error)) throw error;
      throw new MillraceError('KAFKA_STORAGE_ERROR', `${describePartition(tp)}: ${what}`, {
        cause: error,
        details: { topicId: tp.topicId, partition: tp.partition },
      });
    }
  }

  #background(work: Promise<unknown>, what: string): void {
    this.#track(work.catch((error: unknown) => this.#onError(error, what)));
  }

  #track(work: Promise<unknown>): void {
    const tracked = work.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.add(tracked);
    void tracked.then(() => this.#pending.delete(tracked));
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new MillraceError('KAFKA_STORAGE_ERROR', `partition log store at ${this.path} is closed`);
    }
  }
}

/** A high-watermark checkpoint alone is never synced: a stale one is safe, it only lags. */
function isCheckpointOnly(change: PartitionWrite): boolean {
  return (
    change.highWatermark !== undefined &&
    change.batches === undefined &&
    change.truncateFrom === undefined &&
    change.epochsAdded === undefined &&
    change.epochsRemoved === undefined &&
    change.logStartOffset === undefined
  );
}

/** Errors LevelDB and abstract-level raise carry a `LEVEL_*` code; anything else is a bug and passes through. */
function isLevelError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('LEVEL_');
}

function checkOptions(options: LevelLogStoreOptions): Required<LevelLogStoreOptions> {
  const flushPolicy = options.flushPolicy ?? 'os';
  if (!FLUSH_POLICIES.includes(flushPolicy)) {
    throw new MillraceError(
      'INVALID_CONFIG',
      `log.flush.policy: ${String(flushPolicy)} is not one of ${FLUSH_POLICIES.join(', ')}`,
    );
  }
  const flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
  if (!Number.isSafeInteger(flushIntervalMs) || flushIntervalMs < 1 || flushIntervalMs > 0x7fffffff) {
    throw new MillraceError(
      'INVALID_CONFIG',
      `log.flush.interval.ms: ${flushIntervalMs} is not an integer from 1 to 2147483647`,
    );
  }
  return {
    flushPolicy,
    flushIntervalMs,
    truncateInBatchMax: checkPositive(
      options.truncateInBatchMax ?? DEFAULT_TRUNCATE_IN_BATCH_MAX,
      'truncateInBatchMax',
    ),
    onError: options.onError ?? (() => undefined),
  };
}
