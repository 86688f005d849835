import type { StoredBatch } from './log-store.js';
import { checkPositive, invariant } from './types.js';

/**
 * The newest batches of every partition log of a broker, kept in memory so that followers and
 * consumers at the tail are served without a LevelDB iterator (which copies every value out of
 * the store and costs a few hops through libuv's thread pool). Kafka leans on the page cache
 * for the same thing.
 *
 * Contracts:
 * - Each partition's cached batches are a contiguous suffix of its stored log: they follow each
 *   other without gap, and the last one ends at the log end. PartitionLog keeps it so: it adds
 *   batches only after the store has them, and it cuts or clears the cache in the same
 *   synchronous step in which it moves its own log end (truncation, restart, deletion). A
 *   partition whose cache is empty is simply read from the store.
 * - The cache is bounded by the memory it keeps alive, not by the bytes of the batches: a batch
 *   is a view into the buffer it arrived in (a produce request's body, a replica fetch answer),
 *   and holding the view holds that whole buffer. Each distinct buffer is counted once, at its
 *   full size, for as long as any batch of the cache points into it. So a large request whose
 *   other sections were refused cannot hide behind a small cached batch.
 * - When the bound is passed, the oldest batches go first, across partitions (one queue in
 *   append order), always from the head of their partition's run, so the run stays a suffix.
 *
 * Batches served from here were validated (CRC and structure) before they were written and have
 * not crossed the store since, so readers need not check their CRC again.
 */
export class TailCache {
  readonly maxBytes: number;
  /** Every cached batch in the order it was added; entries already dropped are skipped when reached. */
  #queue: CachedBatch[] = [];
  #queueHead = 0;
  #dropped = 0;
  /** How many cached batches point into each backing buffer. */
  readonly #holders = new Map<ArrayBufferLike, number>();
  #bytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes === 0 ? 0 : checkPositive(maxBytes, 'tailCacheBytes');
  }

  /** The memory the cached batches keep alive (their backing buffers, each counted once). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Cached batches, over every partition. */
  get batches(): number {
    return this.#queue.length - this.#queueHead - this.#dropped;
  }

  /** A new, empty run for one partition log. */
  partition(): PartitionTail {
    return new PartitionTail(this);
  }

  /** @internal Called by PartitionTail.append. */
  add(entry: CachedBatch): void {
    this.#queue.push(entry);
    this.#hold(entry.bytes.buffer);
  }

  /** @internal Called by PartitionTail when it lets a batch go before its turn. */
  drop(entry: CachedBatch): void {
    invariant(entry.live, 'a cached batch is dropped twice');
    entry.live = false;
    this.#dropped++;
    this.#release(entry.bytes.buffer);
    if (this.#dropped > 1024 && this.#dropped * 2 > this.#queue.length - this.#queueHead) this.#compact();
  }

  /** @internal Evicts the oldest batches until the bound holds again. */
  evict(): void {
    while (this.#bytes > this.maxBytes && this.#queueHead < this.#queue.length) {
      const entry = this.#queue[this.#queueHead] as CachedBatch;
      this.#queue[this.#queueHead] = undefined as unknown as CachedBatch;
      this.#queueHead++;
      if (!entry.live) {
        this.#dropped--;
        continue;
      }
      entry.owner.evictHead(entry);
      entry.live = false;
      this.#release(entry.bytes.buffer);
    }
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) this.#compact();
  }

  #compact(): void {
    this.#queue = this.#queue.slice(this.#queueHead).filter((entry) => entry.live);
    this.#queueHead = 0;
    this.#dropped = 0;
  }

  #hold(buffer: ArrayBufferLike): void {
    const count = this.#holders.get(buffer) ?? 0;
    if (count === 0) this.#bytes += buffer.byteLength;
    this.#holders.set(buffer, count + 1);
  }

  #release(buffer: ArrayBufferLike): void {
    const count = this.#holders.get(buffer) ?? 0;
    invariant(count > 0, 'a cached batch releases a buffer it does not hold');
    if (count === 1) {
      this.#holders.delete(buffer);
      this.#bytes -= buffer.byteLength;
    } else {
      this.#holders.set(buffer, count - 1);
    }
  }
}

/** One cached batch: where it sits in its partition's log, and its bytes as stored. */
interface CachedBatch extends StoredBatch {
  readonly owner: PartitionTail;
  readonly baseOffset: bigint;
  live: boolean;
}

/** What a read from the cache returns: the batches, or undefined when the cache does not hold `fromOffset`. */
export interface TailReadLimits {
  /** Only batches whose last offset is below this. */
  readonly endOffset: bigint;
  /** Stop before a batch that would take the total past this; the first batch comes whatever its size. */
  readonly maxBytes: number;
  /** At most this many batches. */
  readonly maxBatches: number;
}

/** One partition's run of cached batches: a contiguous suffix of its log (see TailCache). */
export class PartitionTail {
  readonly #cache: TailCache;
  #entries: CachedBatch[] = [];
  #head = 0;

  constructor(cache: TailCache) {
    this.#cache = cache;
  }

  /** Batches held. */
  get size(): number {
    return this.#entries.length - this.#head;
  }

  /** The first offset of the oldest cached batch, or undefined when nothing is cached. */
  get firstOffset(): bigint | undefined {
    return this.#entries[this.#head]?.baseOffset;
  }

  /**
   * Adds batches the store has just written at the end of the log. `baseOffsets[i]` is the first
   * offset of `batches[i]`. They must continue the cached run exactly (or start a new one when it
   * is empty): anything else is a bug in the caller.
   */
  append(batches: readonly StoredBatch[], baseOffsets: readonly bigint[]): void {
    if (this.#cache.maxBytes === 0) return;
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i] as StoredBatch;
      const baseOffset = baseOffsets[i] as bigint;
      const last = this.#entries[this.#entries.length - 1];
      invariant(
        this.size === 0 ||
          (last !== undefined &&
            baseOffset === last.lastOffset + 1n &&
            batch.position === last.position + last.bytes.length),
        `a batch from offset ${baseOffset} does not continue the cached tail`,
      );
      const entry: CachedBatch = {
        owner: this,
        baseOffset,
        lastOffset: batch.lastOffset,
        position: batch.position,
        bytes: batch.bytes,
        live: true,
      };
      this.#entries.push(entry);
      this.#cache.add(entry);
    }
    this.#cache.evict();
  }

  /**
   * The cached batches from the one holding `fromOffset`, as `LogStore.readBatches` would return
   * them, or undefined when the run does not reach back to `fromOffset` (read the store then).
   */
  read(fromOffset: bigint, limits: TailReadLimits): StoredBatch[] | undefined {
    const first = this.#entries[this.#head];
    if (first === undefined || fromOffset < first.baseOffset) return undefined;
    const out: StoredBatch[] = [];
    if (fromOffset >= limits.endOffset || limits.maxBatches < 1) return out;
    // The batch holding fromOffset: the first whose last offset is ≥ it (binary search).
    let low = this.#head;
    let high = this.#entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#entries[middle] as CachedBatch).lastOffset < fromOffset) low = middle + 1;
      else high = middle;
    }
    let bytes = 0;
    for (let i = low; i < this.#entries.length && out.length < limits.maxBatches; i++) {
      const entry = this.#entries[i] as CachedBatch;
      if (entry.lastOffset >= limits.endOffset) break;
      if (out.length > 0 && bytes + entry.bytes.length > limits.maxBytes) break;
      bytes += entry.bytes.length;
      out.push(entry);
    }
    return out;
  }

  /** Drops the batches whose last offset is ≥ `offset` (a truncation of the log's suffix). */
  truncateFrom(offset: bigint): void {
    while (this.size > 0) {
      const last = this.#entries[this.#entries.length - 1] as CachedBatch;
      if (last.lastOffset < offset) break;
      this.#entries.pop();
      this.#cache.drop(last);
    }
    this.#compactIfEmpty();
  }

  /** Drops the batches whose last offset is < `offset` (the log start moved past them). */
  dropBelow(offset: bigint): void {
    while (this.size > 0) {
      const first = this.#entries[this.#head] as CachedBatch;
      if (first.lastOffset >= offset) break;
      this.#entries[this.#head] = undefined as unknown as CachedBatch;
      this.#head++;
      this.#cache.drop(first);
    }
    this.#compactHead();
  }

  /** Drops everything (the log restarted, or the partition is deleted). */
  clear(): void {
    for (let i = this.#head; i < this.#entries.length; i++) this.#cache.drop(this.#entries[i] as CachedBatch);
    this.#entries = [];
    this.#head = 0;
  }

  /** @internal The cache evicts `entry`, which must be this run's oldest. */
  evictHead(entry: CachedBatch): void {
    invariant(this.#entries[this.#head] === entry, 'the cache evicts a batch that is not the oldest of its partition');
    this.#entries[this.#head] = undefined as unknown as CachedBatch;
    this.#head++;
    this.#compactHead();
  }

  #compactHead(): void {
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  #compactIfEmpty(): void {
    if (this.size === 0) {
      this.#entries = [];
      this.#head = 0;
    }
  }
}
