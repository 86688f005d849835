import { describe, expect, it } from 'vitest';
import type { StoredBatch } from '../../src/log/log-store.js';
import { type PartitionTail, TailCache } from '../../src/log/tail-cache.js';

/**
 * Batches for the cache: `sizes[i]` bytes each, offsets following each other from `firstOffset`
 * (each batch holds `recordsPer` offsets), each in memory of its own unless `shared` is given.
 */
function batches(
  firstOffset: bigint,
  sizes: readonly number[],
  options: { recordsPer?: number; position?: number; shared?: Buffer } = {},
): { stored: StoredBatch[]; baseOffsets: bigint[] } {
  const recordsPer = BigInt(options.recordsPer ?? 1);
  const stored: StoredBatch[] = [];
  const baseOffsets: bigint[] = [];
  let offset = firstOffset;
  let position = options.position ?? 0;
  let at = 0;
  for (const size of sizes) {
    const bytes = options.shared === undefined ? Buffer.alloc(size) : options.shared.subarray(at, at + size);
    at += size;
    baseOffsets.push(offset);
    stored.push({ lastOffset: offset + recordsPer - 1n, position, bytes });
    offset += recordsPer;
    position += size;
  }
  return { stored, baseOffsets };
}

function append(tail: PartitionTail, firstOffset: bigint, sizes: readonly number[], position = 0): StoredBatch[] {
  const { stored, baseOffsets } = batches(firstOffset, sizes, { position });
  tail.append(stored, baseOffsets);
  return stored;
}

const everything = { endOffset: 1n << 62n, maxBytes: Number.MAX_SAFE_INTEGER, maxBatches: 10_000 };

function lastOffsets(read: readonly StoredBatch[] | undefined): bigint[] | undefined {
  return read?.map((b) => b.lastOffset);
}

describe('TailCache', () => {
  it('serves reads that start inside the cached run, and sends earlier ones to the store', () => {
    const cache = new TailCache(1 << 20);
    const tail = cache.partition();
    expect(tail.read(0n, everything)).toBeUndefined();
    // Batches of 10 offsets: 100..109, 110..119, 120..129.
    const { stored, baseOffsets } = batches(100n, [10, 20, 30], { recordsPer: 10 });
    tail.append(stored, baseOffsets);
    expect(tail.firstOffset).toBe(100n);
    expect(tail.read(99n, everything)).toBeUndefined();
    expect(lastOffsets(tail.read(100n, everything))).toEqual([109n, 119n, 129n]);
    // From inside a batch: that whole batch first.
    expect(lastOffsets(tail.read(115n, everything))).toEqual([119n, 129n]);
    // The same bytes, not copies.
    expect(tail.read(120n, everything)?.[0]?.bytes).toBe(stored[2]?.bytes);
    // At the end of the log: nothing (but not a miss).
    expect(tail.read(130n, { ...everything, endOffset: 130n })).toEqual([]);
  });

  it('applies the store read rules: endOffset, maxBytes (the first batch whatever its size) and maxBatches', () => {
    const cache = new TailCache(1 << 20);
    const tail = cache.partition();
    append(tail, 0n, [100, 100, 100, 100]);
    expect(lastOffsets(tail.read(0n, { ...everything, endOffset: 2n }))).toEqual([0n, 1n]);
    expect(lastOffsets(tail.read(0n, { ...everything, maxBytes: 250 }))).toEqual([0n, 1n]);
    expect(lastOffsets(tail.read(1n, { ...everything, maxBytes: 1 }))).toEqual([1n]);
    expect(lastOffsets(tail.read(0n, { ...everything, maxBatches: 3 }))).toEqual([0n, 1n, 2n]);
  });

  it('truncation drops the batches whose last offset is at or past the offset, as the store does', () => {
    const cache = new TailCache(1 << 20);
    const tail = cache.partition();
    const { stored, baseOffsets } = batches(0n, [10, 10, 10, 10], { recordsPer: 5 });
    tail.append(stored, baseOffsets);
    // Offset 12 is inside the batch 10..14, which goes whole.
    tail.truncateFrom(12n);
    expect(lastOffsets(tail.read(0n, everything))).toEqual([4n, 9n]);
    expect(cache.bytes).toBe(20);
    expect(cache.batches).toBe(2);
    // The log continues from the new end.
    append(tail, 10n, [7], 20);
    expect(lastOffsets(tail.read(0n, everything))).toEqual([4n, 9n, 10n]);
    tail.truncateFrom(0n);
    expect(tail.size).toBe(0);
    expect(tail.read(0n, everything)).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });

  it('a moved log start drops the batches wholly below it; clear drops everything', () => {
    const cache = new TailCache(1 << 20);
    const tail = cache.partition();
    append(tail, 0n, [10, 10, 10]);
    tail.dropBelow(1n);
    expect(tail.firstOffset).toBe(1n);
    expect(tail.read(0n, everything)).toBeUndefined();
    expect(cache.bytes).toBe(20);
    tail.clear();
    expect(tail.size).toBe(0);
    expect(cache.bytes).toBe(0);
    expect(cache.batches).toBe(0);
    // A restarted log starts a new run anywhere.
    append(tail, 500n, [10]);
    expect(lastOffsets(tail.read(500n, everything))).toEqual([500n]);
  });

  it('evicts the oldest batches across partitions once the bytes pass the bound, keeping each run a suffix', () => {
    const cache = new TailCache(100);
    const a = cache.partition();
    const b = cache.partition();
    append(a, 0n, [30]);
    append(b, 0n, [30]);
    append(a, 1n, [30], 30);
    expect(cache.bytes).toBe(90);
    // 120 bytes: a's first batch, the oldest, goes.
    append(b, 1n, [30], 30);
    expect(cache.bytes).toBe(90);
    expect(a.firstOffset).toBe(1n);
    expect(a.read(0n, everything)).toBeUndefined();
    expect(lastOffsets(b.read(0n, everything))).toEqual([0n, 1n]);
    // A batch larger than the bound empties the cache, itself included.
    append(a, 2n, [200], 60);
    expect(cache.bytes).toBe(0);
    expect(a.size).toBe(0);
    expect(b.size).toBe(0);
  });

  it('counts a buffer that several batches point into once, at its full size, until the last of them goes', () => {
    const cache = new TailCache(10_000);
    const tail = cache.partition();
    // One request body of 1,000 bytes whose first 300 bytes are two batches of this partition.
    const body = Buffer.alloc(1000);
    const { stored, baseOffsets } = batches(0n, [100, 200], { shared: body });
    tail.append(stored, baseOffsets);
    expect(cache.bytes).toBe(1000);
    tail.truncateFrom(1n);
    expect(cache.bytes).toBe(1000);
    tail.truncateFrom(0n);
    expect(cache.bytes).toBe(0);
  });

  it('a small batch in a large buffer cannot keep more than the bound alive', () => {
    const cache = new TailCache(1000);
    const tail = cache.partition();
    const huge = Buffer.alloc(5000);
    const { stored, baseOffsets } = batches(0n, [10], { shared: huge });
    tail.append(stored, baseOffsets);
    expect(cache.bytes).toBe(0);
    expect(tail.size).toBe(0);
  });

  it('a batch that does not continue the run is a bug, and 0 bytes turns the cache off', () => {
    const cache = new TailCache(1 << 20);
    const tail = cache.partition();
    append(tail, 0n, [10, 10]);
    expect(() => append(tail, 5n, [10], 20)).toThrow(/does not continue the cached tail/);
    expect(() => append(tail, 2n, [10], 25)).toThrow(/does not continue the cached tail/);
    const off = new TailCache(0).partition();
    append(off, 0n, [10]);
    expect(off.size).toBe(0);
    expect(off.read(0n, everything)).toBeUndefined();
    expect(() => new TailCache(-1)).toThrow(RangeError);
  });

  it('stays bounded over many appends, truncations and evictions (the queue of dropped entries is compacted)', () => {
    const cache = new TailCache(5_000);
    const tails = [cache.partition(), cache.partition(), cache.partition()];
    const ends = [0n, 0n, 0n];
    const positions = [0, 0, 0];
    for (let i = 0; i < 20_000; i++) {
      const p = i % 3;
      const tail = tails[p]!;
      if (i % 7 === 0 && tail.size > 0) {
        const first = tail.firstOffset!;
        const cut = ends[p]! - 1n > first ? ends[p]! - 1n : first;
        tail.truncateFrom(cut);
        // Keep this test's own idea of the end in step with what is cached.
        const left = tail.read(first, everything)!;
        const last = left[left.length - 1];
        ends[p] = last === undefined ? cut : last.lastOffset + 1n;
        positions[p] = last === undefined ? positions[p]! : last.position + last.bytes.length;
        if (last === undefined) tail.clear();
        continue;
      }
      append(tail, ends[p]!, [100], positions[p]!);
      ends[p]! += 1n;
      positions[p]! += 100;
      expect(cache.bytes).toBeLessThanOrEqual(5_000);
    }
    const cached = tails.reduce((sum, tail) => sum + tail.size, 0);
    expect(cache.batches).toBe(cached);
    expect(cache.bytes).toBe(cached * 100);
  });
});
