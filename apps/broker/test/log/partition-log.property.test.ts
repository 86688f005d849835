import { encodeRecordBatch, isMillraceError } from '@millrace/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latestEpoch } from '../../src/log/leader-epoch-cache.js';
import { LogManager } from '../../src/log/log-manager.js';
import type { PartitionLog } from '../../src/log/partition-log.js';
import { type EpochEntry, maxOffset } from '../../src/log/types.js';
import {
  cachedMemoryHarness,
  levelHarness,
  META,
  memoryHarness,
  newPartition,
  ownBuffer,
  readAll,
  recordsOf,
  removeTempFolders,
  type StoreHarness,
} from './helpers.js';

/**
 * Clever code against a dumb oracle: random sequences of leader appends, follower appends (some
 * with a gap or an overlap), high-watermark moves, truncations (some below the high watermark),
 * deleteBefore, reads and restarts, applied to a PartitionLog and to an array of batches. After
 * every step the log must read exactly as the array, and its offsets and epoch cache must be
 * what the array implies.
 */

interface ModelBatch {
  readonly base: bigint;
  readonly values: readonly string[];
  readonly epoch: number;
  readonly size: number;
}

class Model {
  batches: ModelBatch[] = [];
  logStart = 0n;
  hw = 0n;

  get leo(): bigint {
    const last = this.batches[this.batches.length - 1];
    return last === undefined ? this.logStart : last.base + BigInt(last.values.length);
  }

  /** Records from the log start on. */
  records(): { offset: bigint; value: string }[] {
    return this.batches
      .flatMap((b) => b.values.map((value, i) => ({ offset: b.base + BigInt(i), value })))
      .filter((r) => r.offset >= this.logStart);
  }

  /** The epoch cache the batches imply: each epoch from its first offset still in the log. */
  epochs(): EpochEntry[] {
    const out: EpochEntry[] = [];
    for (const b of this.batches) {
      if (out[out.length - 1]?.epoch !== b.epoch) {
        out.push({ epoch: b.epoch, startOffset: maxOffset(b.base, this.logStart) });
      }
    }
    return out;
  }

  /** Kafka's read: from the batch holding `from`, batches below maxOffset, the first whatever its size. */
  read(from: bigint, maxOffset: bigint, maxBytes: number): { offset: bigint; value: string }[] {
    const out: ModelBatch[] = [];
    let bytes = 0;
    for (const b of this.batches) {
      const last = b.base + BigInt(b.values.length) - 1n;
      if (last < from) continue;
      if (last >= maxOffset) break;
      if (out.length > 0 && bytes + b.size > maxBytes) break;
      bytes += b.size;
      out.push(b);
    }
    return out.flatMap((b) => b.values.map((value, i) => ({ offset: b.base + BigInt(i), value })));
  }
}

type Op =
  | { kind: 'leader'; epochStep: number; sizes: number[] }
  | { kind: 'follower'; epochStep: number; sizes: number[]; skew: number }
  | { kind: 'hw'; at: number }
  | { kind: 'truncate'; at: number; unclean: boolean }
  | { kind: 'delete'; at: number }
  | { kind: 'read'; at: number; maxBytes: number; toLogEnd: boolean }
  | { kind: 'restart' };

const sizes = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 });
/** Where in a range an offset falls; the ends (the log start, the log end) are where the edge cases live. */
const fraction = fc.oneof(fc.constantFrom(0, 1), fc.double({ min: 0, max: 1, noNaN: true }));
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('leader'), epochStep: fc.integer({ min: 0, max: 2 }), sizes }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('follower'),
      epochStep: fc.integer({ min: 0, max: 2 }),
      sizes,
      skew: fc.constantFrom(0, 0, 0, -1, 1),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('hw'), at: fraction }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('truncate'), at: fraction, unclean: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete'), at: fraction }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('read'),
      at: fraction,
      maxBytes: fc.integer({ min: 0, max: 400 }),
      toLogEnd: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart') }) },
) as fc.Arbitrary<Op>;

/** An offset in [from, to], `at` of the way. */
function between(from: bigint, to: bigint, at: number): bigint {
  return from + BigInt(Math.floor(at * Number(to - from + 1n))) - (at === 1 ? 1n : 0n);
}

let counter = 0;
function encode(count: number, baseOffset = 0n, partitionLeaderEpoch = -1): { bytes: Buffer; values: string[] } {
  const values = Array.from({ length: count }, () => `r${counter++}`);
  const bytes = encodeRecordBatch({
    records: values.map((value) => ({ value, timestamp: 1 })),
    baseOffset,
    partitionLeaderEpoch,
    now: 1,
  });
  // A buffer of its own, not a slice of Node's shared pool: the tail cache counts the memory a
  // batch keeps alive, and a small cache must see each batch's own size to evict in these runs.
  return { bytes: ownBuffer(bytes), values };
}

function propertySuite(harness: StoreHarness, numRuns: number): void {
  describe(`PartitionLog over ${harness.name} reads as a dumb array of batches`, () => {
    let manager: LogManager;

    beforeAll(async () => {
      manager = await LogManager.open(await harness.open(), {
        highWatermarkCheckpointIntervalMs: 0,
        tailCacheBytes: harness.tailCacheBytes,
      });
    });

    afterAll(async () => {
      await manager.close();
      removeTempFolders();
    });

    async function step(log: PartitionLog, model: Model, o: Op): Promise<PartitionLog> {
      switch (o.kind) {
        case 'leader': {
          const epoch = Math.max(0, latestEpoch(log.leaderEpochCache)) + o.epochStep;
          const encoded = o.sizes.map((n) => encode(n));
          const base = model.leo;
          await log.appendAsLeader(
            encoded.map((e) => e.bytes),
            epoch,
            { nowMs: 1, maxBatchBytes: 1 << 20 },
          );
          let next = base;
          for (const e of encoded) {
            model.batches.push({ base: next, values: e.values, epoch, size: e.bytes.length });
            next += BigInt(e.values.length);
          }
          return log;
        }
        case 'follower': {
          const epoch = Math.max(0, latestEpoch(log.leaderEpochCache)) + o.epochStep;
          const firstBase = model.leo + BigInt(o.skew) < 0n ? 0n : model.leo + BigInt(o.skew);
          let next = firstBase;
          const encoded = o.sizes.map((n) => {
            const e = encode(n, next, epoch);
            next += BigInt(n);
            return e;
          });
          // Exact continuity, or Kafka's exception: an empty log takes a first batch that holds its end.
          const continues =
            firstBase === model.leo ||
            (model.batches.length === 0 && firstBase < model.leo && firstBase + BigInt(o.sizes[0]!) > model.leo);
          try {
            await log.appendAsFollower(encoded.map((e) => e.bytes));
          } catch (error) {
            expect(continues).toBe(false);
            expect(isMillraceError(error, 'INVALID_RECORD')).toBe(true);
            return log;
          }
          expect(continues).toBe(true);
          let base = firstBase;
          for (const e of encoded) {
            model.batches.push({ base, values: e.values, epoch, size: e.bytes.length });
            base += BigInt(e.values.length);
          }
          return log;
        }
        case 'hw': {
          const hw = between(model.hw, model.leo, o.at);
          log.setHighWatermark(hw);
          model.hw = hw;
          return log;
        }
        case 'truncate': {
          if (model.leo === model.logStart) return log;
          const offset = between(model.logStart, model.leo - 1n, o.at);
          const holder = model.batches.findIndex((b) => b.base + BigInt(b.values.length) - 1n >= offset);
          const newEnd = maxOffset(model.batches[holder]!.base, model.logStart);
          if (newEnd < model.hw && !o.unclean) {
            await expect(log.truncateTo(offset)).rejects.toThrow(/invariant broken/);
            return log;
          }
          await log.truncateTo(offset, { allowBelowHighWatermark: o.unclean });
          model.batches = model.batches.slice(0, holder);
          if (model.hw > newEnd) model.hw = newEnd;
          return log;
        }
        case 'delete': {
          const offset = between(model.logStart, model.hw, o.at);
          await log.deleteBefore(offset);
          if (offset > model.logStart) {
            model.logStart = offset;
            model.batches = model.batches.filter((b) => b.base + BigInt(b.values.length) - 1n >= offset);
          }
          return log;
        }
        case 'read': {
          const from = between(model.logStart, model.leo, o.at);
          const maxOffset = o.toLogEnd ? model.leo : model.hw;
          const { batches } = await log.read(from, { maxBytes: o.maxBytes, maxOffset });
          expect(recordsOf(batches)).toEqual(model.read(from, maxOffset, o.maxBytes));
          return log;
        }
        case 'restart': {
          const tp = log.tp;
          await manager.close();
          manager = await LogManager.open(await harness.restart(manager.store), {
            highWatermarkCheckpointIntervalMs: 0,
            tailCacheBytes: harness.tailCacheBytes,
          });
          return manager.require(tp);
        }
      }
    }

    it('for random sequences of appends, truncations, deletions, reads and restarts', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40, size: 'max' }), async (ops) => {
          let log = await manager.create(newPartition(), META);
          const model = new Model();
          for (const o of ops) {
            log = await step(log, model, o);
            expect(log.logStartOffset).toBe(model.logStart);
            expect(log.logEndOffset).toBe(model.leo);
            expect(log.highWatermark).toBe(model.hw);
            expect(log.sizeInBytes).toBe(model.batches.reduce((sum, b) => sum + b.size, 0));
            if (model.batches.length > 0) expect(log.leaderEpochCache).toEqual(model.epochs());
            expect(await readAll(log)).toEqual(model.records());
          }
          await manager.delete(log.tp);
        }),
        { numRuns },
      );
    });
  });
}

propertySuite(memoryHarness, 200);
propertySuite(levelHarness(), 60);
// A tail cache far smaller than the logs: reads start in it, before it and at its edge, and
// truncations, deletions and restarts cut it while eviction keeps taking its oldest batches.
propertySuite(cachedMemoryHarness(600), 200);
propertySuite(levelHarness({}, 600), 60);
