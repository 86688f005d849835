import { decodeRecordBatch, readRecordBatchHeader, verifyRecordBatchCrc } from '@millrace/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { truncationAfterEpochAnswer } from '../../src/log/leader-epoch-cache.js';
import { LogManager } from '../../src/log/log-manager.js';
import type { LogStore } from '../../src/log/log-store.js';
import type { MemoryLogStore } from '../../src/log/memory-log-store.js';
import type { PartitionLog } from '../../src/log/partition-log.js';
import type { TopicIdPartition } from '../../src/log/types.js';
import {
  batchesOf,
  batchOf,
  META,
  newPartition,
  readAll,
  recordsOf,
  refusal,
  removeTempFolders,
  type StoreHarness,
  values,
} from './helpers.js';

const NOW = 10_000;
const MAX = 1 << 20;
const leader = (epoch: number) => ({ nowMs: NOW, maxBatchBytes: MAX, epoch });

/** Appends `batches` as leader in `epoch`. */
async function produce(log: PartitionLog, epoch: number, batches: Buffer[]) {
  return log.appendAsLeader(batches, epoch, leader(epoch));
}

/** What a restart must bring back exactly. */
async function stateOf(log: PartitionLog) {
  return {
    logStartOffset: log.logStartOffset,
    logEndOffset: log.logEndOffset,
    highWatermark: log.highWatermark,
    epochs: log.leaderEpochCache,
    lastBatchEpoch: log.lastBatchEpoch,
    sizeInBytes: log.sizeInBytes,
    records: await readAll(log),
  };
}

/**
 * A follower's truncation by leader epoch before it fetches (Kafka's fetcher with KIP-101 and
 * KIP-279): ask the leader about the latest local epoch, truncate, repeat until done.
 */
async function truncateByEpoch(follower: PartitionLog, leaderLog: PartitionLog): Promise<number> {
  for (let round = 1; round <= 10; round++) {
    const asked = follower.leaderEpochCache.at(-1)?.epoch ?? -1;
    const leaderAnswer = leaderLog.endOffsetForEpoch(asked);
    const step = truncationAfterEpochAnswer({
      leaderAnswer,
      followerAnswer: follower.endOffsetForEpoch(leaderAnswer.leaderEpoch),
      followerLogEndOffset: follower.logEndOffset,
      followerHighWatermark: follower.highWatermark,
    });
    await follower.truncateTo(step.offset);
    if (step.done) return round;
  }
  throw new Error('truncation by epoch did not converge in 10 rounds');
}

/** A follower fetches everything the leader has from its log end, as replication does. */
async function catchUp(follower: PartitionLog, leaderLog: PartitionLog): Promise<void> {
  while (follower.logEndOffset < leaderLog.logEndOffset) {
    const { batches } = await leaderLog.read(follower.logEndOffset, {
      maxBytes: 1024,
      maxOffset: leaderLog.logEndOffset,
    });
    await follower.appendAsFollower(batches);
  }
}

export function partitionLogSuite(harness: StoreHarness): void {
  describe(`PartitionLog over ${harness.name}`, () => {
    const open: LogManager[] = [];

    afterEach(async () => {
      for (const manager of open.splice(0)) await manager.close().catch(() => undefined);
      removeTempFolders();
    });

    async function manager(store?: LogStore, tailCacheBytes = harness.tailCacheBytes): Promise<LogManager> {
      const m = await LogManager.open(store ?? (await harness.open()), {
        highWatermarkCheckpointIntervalMs: 0,
        tailCacheBytes,
      });
      open.push(m);
      return m;
    }

    async function freshLog(tp: TopicIdPartition = newPartition()): Promise<PartitionLog> {
      return (await manager()).create(tp, META);
    }

    /** Closes `m` cleanly and opens its data again. */
    async function restart(m: LogManager): Promise<LogManager> {
      await m.close();
      return manager(await harness.restart(m.store));
    }

    it('a leader assigns dense offsets from the log end and stamps its epoch; reads return the stored bytes', async () => {
      const log = await freshLog();
      const first = await produce(log, 0, [batchOf(['a', 'b']), batchOf(['c', 'd', 'e'])]);
      expect(first).toEqual({ baseOffset: 0n, lastOffset: 4n, logAppendTimeMs: -1 });
      const second = await produce(log, 3, [batchOf(['f'])]);
      expect(second).toEqual({ baseOffset: 5n, lastOffset: 5n, logAppendTimeMs: -1 });
      expect(log.logEndOffset).toBe(6n);
      expect(log.leaderEpochCache).toEqual([
        { epoch: 0, startOffset: 0n },
        { epoch: 3, startOffset: 5n },
      ]);
      expect(log.lastBatchEpoch).toBe(3);

      const { batches, logEndOffset, highWatermark, logStartOffset } = await log.read(0n, {
        maxBytes: MAX,
        maxOffset: log.logEndOffset,
      });
      expect({ logStartOffset, logEndOffset, highWatermark }).toEqual({
        logStartOffset: 0n,
        logEndOffset: 6n,
        highWatermark: 0n,
      });
      expect(
        batches.map((b) => [readRecordBatchHeader(b).baseOffset, readRecordBatchHeader(b).partitionLeaderEpoch]),
      ).toEqual([
        [0n, 0],
        [2n, 0],
        [5n, 3],
      ]);
      for (const b of batches) verifyRecordBatchCrc(b);
      expect(values(recordsOf(batches))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
      expect(recordsOf(batches).map((r) => r.offset)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    });

    it('a fetch from an offset inside a batch gets the whole batch that holds it', async () => {
      const log = await freshLog();
      await produce(log, 0, [batchOf(['a', 'b', 'c']), batchOf(['d', 'e', 'f']), batchOf(['g', 'h', 'i'])]);
      const { batches } = await log.read(4n, { maxBytes: 1, maxOffset: log.logEndOffset });
      expect(batches).toHaveLength(1);
      expect(readRecordBatchHeader(batches[0]!).baseOffset).toBe(3n);
      expect(values(recordsOf(batches))).toEqual(['d', 'e', 'f']);
      // The first record of a batch and the last one find the same batch.
      const atLast = await log.read(5n, { maxBytes: 1, maxOffset: log.logEndOffset });
      expect(atLast.batches[0]).toEqual(batches[0]);
    });

    it('reads stop before maxOffset (a batch crossing it waits) and return nothing at the log end', async () => {
      const log = await freshLog();
      await produce(log, 0, [batchOf(['a', 'b']), batchOf(['c', 'd']), batchOf(['e', 'f'])]);
      const upTo4 = await log.read(0n, { maxBytes: MAX, maxOffset: 4n });
      expect(values(recordsOf(upTo4.batches))).toEqual(['a', 'b', 'c', 'd']);
      // maxOffset 3 falls inside the batch [2, 3]: that batch is not served yet.
      const upTo3 = await log.read(0n, { maxBytes: MAX, maxOffset: 3n });
      expect(values(recordsOf(upTo3.batches))).toEqual(['a', 'b']);
      expect((await log.read(2n, { maxBytes: MAX, maxOffset: 3n })).batches).toEqual([]);
      expect((await log.read(6n, { maxBytes: MAX, maxOffset: 6n })).batches).toEqual([]);
      // A maxOffset beyond the log end is clamped to it.
      expect((await log.read(0n, { maxBytes: MAX, maxOffset: 1000n })).batches).toHaveLength(3);
    });

    it('maxBytes is respected, but at least one batch comes back even when it alone is larger', async () => {
      const log = await freshLog();
      const batches = batchesOf('v', 4, 3);
      const size = batches[0]!.length;
      await produce(log, 0, batches);
      const read = async (maxBytes: number) =>
        (await log.read(0n, { maxBytes, maxOffset: log.logEndOffset })).batches.length;
      expect(await read(0)).toBe(1);
      expect(await read(1)).toBe(1);
      expect(await read(size)).toBe(1);
      expect(await read(2 * size - 1)).toBe(1);
      expect(await read(2 * size)).toBe(2);
      expect(await read(100 * size)).toBe(4);
      const strict = async (maxBytes: number) =>
        (await log.read(0n, { maxBytes, maxOffset: log.logEndOffset, minOneBatch: false })).batches.length;
      expect(await strict(size - 1)).toBe(0);
      expect(await strict(size)).toBe(1);
      const total = (await log.read(0n, { maxBytes: 3 * size + 5, maxOffset: log.logEndOffset })).batches.reduce(
        (sum, b) => sum + b.length,
        0,
      );
      expect(total).toBeLessThanOrEqual(3 * size + 5);
    });

    it('offsets outside [logStartOffset, logEndOffset] are OFFSET_OUT_OF_RANGE with the valid range in details', async () => {
      const log = await freshLog();
      await produce(log, 0, batchesOf('v', 3, 2));
      const above = await refusal(() => log.read(7n, { maxBytes: MAX, maxOffset: 7n }));
      expect(above.code).toBe('OFFSET_OUT_OF_RANGE');
      expect(above.details).toEqual({ offset: '7', logStartOffset: '0', logEndOffset: '6' });
      log.setHighWatermark(6n);
      await log.deleteBefore(4n);
      const below = await refusal(() => log.read(3n, { maxBytes: MAX, maxOffset: 6n }));
      expect(below.code).toBe('OFFSET_OUT_OF_RANGE');
      expect(below.details).toEqual({ offset: '3', logStartOffset: '4', logEndOffset: '6' });
      expect(JSON.parse(JSON.stringify(below.details))).toEqual(below.details);
    });

    it('a leader refuses the whole append when one batch is corrupt or too large, and writes nothing', async () => {
      const m = await manager();
      const tp = newPartition();
      const log = await m.create(tp, META);
      await produce(log, 0, [batchOf(['a'])]);
      const corrupt = batchOf(['x', 'y']);
      corrupt[corrupt.length - 2]! ^= 0xff;
      const bad = await refusal(() => produce(log, 0, [batchOf(['b']), corrupt]));
      expect(bad.code).toBe('CORRUPT_MESSAGE');
      expect(bad.details).toEqual({ batchIndex: 1 });
      expect(bad.message).toContain('orders-0');

      const big = batchOf(['z'.repeat(2000)]);
      const tooLarge = await refusal(() =>
        log.appendAsLeader([batchOf(['b']), big], 0, { nowMs: NOW, maxBatchBytes: 1000 }),
      );
      expect(tooLarge.code).toBe('MESSAGE_TOO_LARGE');
      expect(tooLarge.details).toMatchObject({ batchIndex: 1, sizeInBytes: big.length, maxBatchBytes: 1000 });

      expect((await refusal(() => produce(log, 0, []))).code).toBe('INVALID_RECORD');
      expect(log.logEndOffset).toBe(1n);
      const reopened = (await restart(m)).require(tp);
      expect(values(await readAll(reopened))).toEqual(['a']);
    });

    it('an append in an epoch older than the log holds is FENCED_LEADER_EPOCH and changes nothing', async () => {
      const log = await freshLog();
      await produce(log, 2, [batchOf(['a'])]);
      const fenced = await refusal(() => produce(log, 1, [batchOf(['b'])]));
      expect(fenced.code).toBe('FENCED_LEADER_EPOCH');
      expect(fenced.details).toEqual({ leaderEpoch: 1, latestEpoch: 2 });
      expect(log.logEndOffset).toBe(1n);
    });

    it("log-append-time topics get the leader's clock on every record, under a valid CRC", async () => {
      const log = await freshLog();
      const result = await log.appendAsLeader([batchOf(['a', 'b'], { timestampMs: 5 })], 0, {
        nowMs: 77_777,
        maxBatchBytes: MAX,
        timestampType: 'log-append-time',
      });
      expect(result.logAppendTimeMs).toBe(77_777);
      const [stored] = (await log.read(0n, { maxBytes: MAX, maxOffset: 2n })).batches;
      const decoded = decodeRecordBatch(stored!);
      expect(decoded.header.timestampType).toBe('log-append-time');
      expect(decoded.records.map((r) => r.timestamp)).toEqual([77_777, 77_777]);
    });

    it("a follower stores the leader's batches byte for byte, and its epoch cache follows theirs", async () => {
      const leaderLog = await freshLog();
      const follower = await freshLog();
      await produce(leaderLog, 0, batchesOf('a', 2, 2));
      await produce(leaderLog, 4, batchesOf('b', 2, 3));
      const fetched = await leaderLog.read(0n, { maxBytes: MAX, maxOffset: leaderLog.logEndOffset });
      expect(await follower.appendAsFollower(fetched.batches)).toEqual({ firstOffset: 0n, lastOffset: 9n });
      const copied = await follower.read(0n, { maxBytes: MAX, maxOffset: follower.logEndOffset });
      expect(copied.batches).toEqual(fetched.batches);
      expect(follower.leaderEpochCache).toEqual(leaderLog.leaderEpochCache);
      expect(follower.lastBatchEpoch).toBe(4);
      expect(await follower.appendAsFollower([])).toBeUndefined();
    });

    it('a follower refuses a gap or an overlap with INVALID_RECORD, and writes nothing', async () => {
      const leaderLog = await freshLog();
      const follower = await freshLog();
      await produce(leaderLog, 0, batchesOf('a', 4, 2));
      const all = (await leaderLog.read(0n, { maxBytes: MAX, maxOffset: 8n })).batches;
      await follower.appendAsFollower([all[0]!]);

      const gap = await refusal(() => follower.appendAsFollower([all[2]!]));
      expect(gap.code).toBe('INVALID_RECORD');
      expect(gap.message).toContain('leaves a gap');
      expect(gap.details).toEqual({ batchIndex: 0, baseOffset: '4', expectedOffset: '2' });

      const overlap = await refusal(() => follower.appendAsFollower([all[1]!, all[1]!]));
      expect(overlap.code).toBe('INVALID_RECORD');
      expect(overlap.message).toContain('overlaps');
      expect(overlap.details).toEqual({ batchIndex: 1, baseOffset: '2', expectedOffset: '4' });

      expect(follower.logEndOffset).toBe(2n);
      expect(values(await readAll(follower))).toEqual(['a0', 'a1']);
      await follower.appendAsFollower(all.slice(1));
      expect(values(await readAll(follower))).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7']);
    });

    it('a follower refuses batches from an epoch older than its log holds: it must truncate by epoch first', async () => {
      const oldLeader = await freshLog();
      const follower = await freshLog();
      await produce(oldLeader, 0, [batchOf(['a'])]);
      await follower.appendAsFollower((await oldLeader.read(0n, { maxBytes: MAX, maxOffset: 1n })).batches);
      await produce(follower, 5, [batchOf(['mine'])]); // it led epoch 5 for a while
      await produce(oldLeader, 3, [batchOf(['theirs']), batchOf(['theirs too'])]);
      const [stale] = (await oldLeader.read(2n, { maxBytes: MAX, maxOffset: 3n })).batches;
      const fenced = await refusal(() => follower.appendAsFollower([stale!]));
      expect(fenced.code).toBe('FENCED_LEADER_EPOCH');
      expect(fenced.details).toMatchObject({ leaderEpoch: 3, latestEpoch: 5 });
    });

    it('an empty follower log accepts a first batch that starts before its end and holds it', async () => {
      const leaderLog = await freshLog();
      await produce(leaderLog, 1, [batchOf(['a', 'b']), batchOf(['c', 'd', 'e'])]);
      leaderLog.setHighWatermark(5n);
      await leaderLog.deleteBefore(3n); // inside the batch [2, 4]
      const follower = await freshLog();
      await follower.truncateFullyAndStartAt(leaderLog.logStartOffset);
      const { batches } = await leaderLog.read(3n, { maxBytes: MAX, maxOffset: 5n });
      expect(readRecordBatchHeader(batches[0]!).baseOffset).toBe(2n);
      expect(await follower.appendAsFollower(batches)).toEqual({ firstOffset: 3n, lastOffset: 4n });
      expect(follower.logStartOffset).toBe(3n);
      expect(follower.leaderEpochCache).toEqual([{ epoch: 1, startOffset: 3n }]);
      expect(values(await readAll(follower))).toEqual(['d', 'e']);
      // A non-empty log wants exact continuity again.
      expect((await refusal(() => follower.appendAsFollower(batches))).code).toBe('INVALID_RECORD');
    });

    it('truncation removes whole batches from the one holding the offset, and the epoch-cache entries past the new end', async () => {
      const log = await freshLog();
      await produce(log, 0, [batchOf(['a', 'b']), batchOf(['c', 'd'])]);
      await produce(log, 1, [batchOf(['e', 'f']), batchOf(['g', 'h'])]);
      log.setHighWatermark(2n);
      await log.truncateTo(9n); // at or past the end: nothing to do
      expect(log.logEndOffset).toBe(8n);
      await log.truncateTo(5n); // inside [4, 5]: that batch goes whole
      expect(log.logEndOffset).toBe(4n);
      expect(log.leaderEpochCache).toEqual([{ epoch: 0, startOffset: 0n }]);
      expect(log.lastBatchEpoch).toBe(0);
      expect(values(await readAll(log))).toEqual(['a', 'b', 'c', 'd']);
      expect((await refusal(() => log.read(5n, { maxBytes: MAX, maxOffset: 8n }))).code).toBe('OFFSET_OUT_OF_RANGE');
      expect(await produce(log, 2, [batchOf(['x'])])).toMatchObject({ baseOffset: 4n });
      expect(log.leaderEpochCache).toEqual([
        { epoch: 0, startOffset: 0n },
        { epoch: 2, startOffset: 4n },
      ]);
      expect(values(await readAll(log))).toEqual(['a', 'b', 'c', 'd', 'x']);
    });

    it('a former leader that truncates its divergent suffix and follows the new leader serves only the new records', async () => {
      const m = await manager();
      const oldLeader = await m.create(newPartition(), META);
      const newLeader = await m.create(newPartition(), META);
      // Both hold a, b (committed); the old leader also wrote c, d in epoch 0 that never replicated.
      await produce(newLeader, 0, [batchOf(['a', 'b'])]);
      await catchUp(oldLeader, newLeader);
      await produce(oldLeader, 0, [batchOf(['c']), batchOf(['d'])]);
      expect(values(await readAll(oldLeader))).toEqual(['a', 'b', 'c', 'd']);
      // The new leader writes in epoch 1; the old one truncates by epoch and fetches.
      await produce(newLeader, 1, [batchOf(['x']), batchOf(['y', 'z'])]);
      await truncateByEpoch(oldLeader, newLeader);
      expect(oldLeader.logEndOffset).toBe(2n);
      await catchUp(oldLeader, newLeader);
      expect(values(await readAll(oldLeader))).toEqual(['a', 'b', 'x', 'y', 'z']);
      const { batches } = await oldLeader.read(2n, { maxBytes: MAX, maxOffset: oldLeader.logEndOffset });
      expect(values(recordsOf(batches))).toEqual(['x', 'y', 'z']);
    });

    it('truncating into the batch that holds a log start inside it leaves an empty log at the log start', async () => {
      const m = await manager();
      const tp = newPartition();
      const log = await m.create(tp, META);
      await produce(log, 0, [batchOf(['a', 'b', 'c']), batchOf(['d', 'e'])]);
      log.setHighWatermark(1n);
      await log.deleteBefore(1n); // inside [0, 2]
      await log.truncateTo(2n);
      expect(await stateOf(log)).toEqual({
        logStartOffset: 1n,
        logEndOffset: 1n,
        highWatermark: 1n,
        epochs: [],
        lastBatchEpoch: -1,
        sizeInBytes: 0,
        records: [],
      });
      await produce(log, 1, [batchOf(['x'])]);
      const again = (await restart(m)).require(tp);
      expect(await readAll(again)).toEqual([{ offset: 1n, value: 'x' }]);
      expect(again.leaderEpochCache).toEqual([{ epoch: 1, startOffset: 1n }]);
    });

    it('truncation below the high watermark is a bug, unless unclean recovery allows it and the high watermark drops', async () => {
      const m = await manager();
      const tp = newPartition();
      const log = await m.create(tp, META);
      await produce(log, 0, batchesOf('v', 4, 2));
      log.setHighWatermark(6n);
      await expect(log.truncateTo(5n)).rejects.toThrow(/invariant broken: .*below the high watermark 6/);
      expect(log.logEndOffset).toBe(8n);
      await log.truncateTo(5n, { allowBelowHighWatermark: true });
      expect(log.logEndOffset).toBe(4n);
      expect(log.highWatermark).toBe(4n);
      // The lowered high watermark was written with the truncation: a restart accepts the state.
      const reopened = (await restart(m)).require(tp);
      expect(reopened.highWatermark).toBe(4n);
      expect(reopened.logEndOffset).toBe(4n);
    });

    it("endOffsetForEpoch answers Kafka's OffsetsForLeaderEpoch in every case", async () => {
      const log = await freshLog();
      expect(log.endOffsetForEpoch(0)).toEqual({ leaderEpoch: -1, endOffset: -1n });
      await produce(log, 2, batchesOf('a', 2, 2)); // epoch 2: [0, 4)
      await produce(log, 3, batchesOf('b', 1, 4)); // epoch 3: [4, 8)
      await produce(log, 6, batchesOf('c', 1, 2)); // epoch 6: [8, 10)
      expect(log.endOffsetForEpoch(-1)).toEqual({ leaderEpoch: -1, endOffset: -1n });
      expect(log.endOffsetForEpoch(0)).toEqual({ leaderEpoch: 0, endOffset: 0n }); // older than all known
      expect(log.endOffsetForEpoch(2)).toEqual({ leaderEpoch: 2, endOffset: 4n });
      expect(log.endOffsetForEpoch(3)).toEqual({ leaderEpoch: 3, endOffset: 8n });
      expect(log.endOffsetForEpoch(4)).toEqual({ leaderEpoch: 3, endOffset: 8n }); // unknown: the floor's end
      expect(log.endOffsetForEpoch(6)).toEqual({ leaderEpoch: 6, endOffset: 10n }); // latest: the log end
      expect(log.endOffsetForEpoch(9)).toEqual({ leaderEpoch: 6, endOffset: 10n });
      log.setHighWatermark(10n);
      await log.deleteBefore(5n);
      expect(log.leaderEpochCache).toEqual([
        { epoch: 3, startOffset: 5n },
        { epoch: 6, startOffset: 8n },
      ]);
      expect(log.endOffsetForEpoch(2)).toEqual({ leaderEpoch: 2, endOffset: 5n });
    });

    describe('KIP-101: truncation by leader epoch instead of by high watermark', () => {
      it('scenario 1, high-watermark truncation then immediate leader election: the committed m2 survives', async () => {
        const mA = await manager();
        const mB = await manager();
        const tp = newPartition();
        let a = await mA.create(tp, META);
        let b = await mB.create(tp, META);
        // A leads epoch 0 and writes m1, m2; B fetches both; A's high watermark moves to 2 (m2 is
        // committed), but B only learns that with its next fetch, so B's stays at 1.
        await produce(a, 0, [batchOf(['m1'])]);
        await catchUp(b, a);
        b.setHighWatermark(1n);
        await produce(a, 0, [batchOf(['m2'])]);
        await catchUp(b, a);
        a.setHighWatermark(2n);
        await mB.checkpointHighWatermarks();
        // Failure 1: B restarts. Before KIP-101 it truncated to its high watermark (1) here and
        // lost m2; with the epoch cache it keeps its log as it is.
        b = (await restart(mB)).require(tp);
        expect(b.highWatermark).toBe(1n);
        expect(values(await readAll(b))).toEqual(['m1', 'm2']);
        // Failure 2: A dies at once; B is elected leader in epoch 1. A comes back as a follower
        // and truncates by epoch, not to its high watermark.
        await mA.checkpointHighWatermarks();
        a = (await restart(mA)).require(tp);
        await truncateByEpoch(a, b);
        await produce(b, 1, [batchOf(['m3'])]);
        await catchUp(a, b);
        expect(values(await readAll(a))).toEqual(['m1', 'm2', 'm3']);
        expect(await readAll(a)).toEqual(await readAll(b));
      });

      it('scenario 2, divergence after two successive hard failures: the follower truncates the divergent m2', async () => {
        const mA = await manager();
        const mB = await manager();
        const tp = newPartition();
        let a = await mA.create(tp, META);
        let b = await mB.create(tp, META);
        // A leads epoch 0: m1 reaches B and is committed; m2 (acks=1) reaches only A.
        await produce(a, 0, [batchOf(['m1'])]);
        await catchUp(b, a);
        a.setHighWatermark(1n);
        b.setHighWatermark(1n);
        await produce(a, 0, [batchOf(['m2'])]);
        // Failure 1 and 2: both brokers go down. B comes back first, is elected in epoch 1 and
        // writes m3, at offset 1: the two logs now differ at offset 1.
        b = (await restart(mB)).require(tp);
        a = (await restart(mA)).require(tp);
        await produce(b, 1, [batchOf(['m3'])]);
        expect(values(await readAll(a))).toEqual(['m1', 'm2']);
        expect(values(await readAll(b))).toEqual(['m1', 'm3']);
        // A comes back as follower. Truncating to its high watermark (1) happens to be right here,
        // but with a high watermark of 2 it would keep m2 forever; by epoch: B says epoch 0 ends at 1.
        expect(b.endOffsetForEpoch(0)).toEqual({ leaderEpoch: 0, endOffset: 1n });
        expect(await truncateByEpoch(a, b)).toBe(1);
        expect(a.logEndOffset).toBe(1n);
        await catchUp(a, b);
        expect(values(await readAll(a))).toEqual(['m1', 'm3']);
        expect(await readAll(a)).toEqual(await readAll(b));
        expect(a.leaderEpochCache).toEqual(b.leaderEpochCache);
      });

      it('scenario 2 when m2 was committed on A alone (unclean election of B): truncation by epoch still leaves no divergent record', async () => {
        const a = await freshLog();
        const b = await freshLog();
        await produce(a, 0, [batchOf(['m1'])]);
        await catchUp(b, a);
        await produce(a, 0, [batchOf(['m2'])]);
        a.setHighWatermark(2n); // the ISR had shrunk to A
        await produce(b, 1, [batchOf(['m3'])]); // B, out of sync, elected uncleanly
        const step = truncationAfterEpochAnswer({
          leaderAnswer: b.endOffsetForEpoch(0),
          followerAnswer: a.endOffsetForEpoch(0),
          followerLogEndOffset: a.logEndOffset,
          followerHighWatermark: a.highWatermark,
        });
        expect(step).toEqual({ offset: 1n, done: true });
        await expect(a.truncateTo(step.offset)).rejects.toThrow(/below the high watermark/);
        await a.truncateTo(step.offset, { allowBelowHighWatermark: true });
        await catchUp(a, b);
        expect(values(await readAll(a))).toEqual(['m1', 'm3']);
      });

      it('KIP-279: a follower with an epoch the leader never saw converges in several rounds', async () => {
        const l = await freshLog();
        const f = await freshLog();
        await produce(l, 0, batchesOf('x', 1, 2)); // [0, 2) epoch 0
        await catchUp(f, l);
        await produce(f, 2, batchesOf('f', 1, 3)); // F led epoch 2 alone: [2, 5)
        await produce(l, 1, batchesOf('l', 1, 2)); // L led epoch 1: [2, 4)
        await produce(l, 3, batchesOf('m', 1, 2)); // and epoch 3: [4, 6)
        // F asks about epoch 2; L knows 1 as its floor, ending at 4. F has no epoch 1: it
        // truncates to the end of its own floor (epoch 0 ends at 2) and asks again.
        expect(l.endOffsetForEpoch(2)).toEqual({ leaderEpoch: 1, endOffset: 4n });
        expect(await truncateByEpoch(f, l)).toBe(2);
        expect(f.logEndOffset).toBe(2n);
        await catchUp(f, l);
        expect(await readAll(f)).toEqual(await readAll(l));
        expect(f.leaderEpochCache).toEqual(l.leaderEpochCache);
      });
    });

    it('the high watermark never goes above the log end nor backwards, and comes back from its checkpoint', async () => {
      const m = await manager();
      const tp = newPartition();
      const log = await m.create(tp, META);
      await produce(log, 0, batchesOf('v', 3, 2));
      expect(() => log.setHighWatermark(7n)).toThrow(/invariant broken: .*above the log end offset 6/);
      log.setHighWatermark(4n);
      expect(() => log.setHighWatermark(3n)).toThrow(/invariant broken: .*would go back from 4/);
      expect(await log.checkpointHighWatermark()).toBe(true);
      expect(await log.checkpointHighWatermark()).toBe(false);
      log.setHighWatermark(6n); // not checkpointed: after a crash it would come back as 4
      const again = (await restart(m)).require(tp);
      expect(again.highWatermark).toBe(6n); // a clean close checkpoints
    });

    it('offsetForTimestamp finds the first record at or after a timestamp, below the high watermark', async () => {
      const log = await freshLog();
      await produce(log, 0, [
        batchOf(['a', 'b'], { timestamps: [1000, 1001] }),
        batchOf(['c', 'd'], { timestamps: [2005, 2000] }),
        batchOf(['e'], { timestamps: [3000] }),
      ]);
      log.setHighWatermark(5n);
      expect(await log.offsetForTimestamp(0)).toEqual({ offset: 0n, timestampMs: 1000 });
      expect(await log.offsetForTimestamp(1001)).toEqual({ offset: 1n, timestampMs: 1001 });
      expect(await log.offsetForTimestamp(1500)).toEqual({ offset: 2n, timestampMs: 2005 });
      expect(await log.offsetForTimestamp(2001)).toEqual({ offset: 2n, timestampMs: 2005 });
      expect(await log.offsetForTimestamp(2006)).toEqual({ offset: 4n, timestampMs: 3000 });
      expect(await log.offsetForTimestamp(3001)).toBeUndefined();
      expect(await log.offsetForTimestamp(2006, { maxOffset: 4n })).toBeUndefined();
      expect((await refusal(() => log.offsetForTimestamp(-5))).code).toBe('INVALID_TIMESTAMP');
    });

    it('deleteBefore advances the log start, drops whole batches below it, and never passes the high watermark', async () => {
      const m = await manager();
      const tp = newPartition();
      const log = await m.create(tp, META);
      await produce(log, 0, [batchOf(['a', 'b']), batchOf(['c', 'd'])]);
      await produce(log, 1, [batchOf(['e', 'f'])]);
      const size = log.sizeInBytes;
      log.setHighWatermark(4n);
      const beyond = await refusal(() => log.deleteBefore(5n));
      expect(beyond.code).toBe('OFFSET_OUT_OF_RANGE');
      expect(beyond.details).toEqual({ offset: '5', logStartOffset: '0', highWatermark: '4' });
      await log.deleteBefore(3n); // inside [2, 3]
      expect(log.logStartOffset).toBe(3n);
      expect(log.sizeInBytes).toBeLessThan(size);
      expect(log.leaderEpochCache).toEqual([
        { epoch: 0, startOffset: 3n },
        { epoch: 1, startOffset: 4n },
      ]);
      const { batches } = await log.read(3n, { maxBytes: 1, maxOffset: 6n });
      expect(values(recordsOf(batches))).toEqual(['c', 'd']); // the whole batch; the consumer skips c
      await log.deleteBefore(2n); // behind the log start: nothing
      expect(log.logStartOffset).toBe(3n);
      const before = await stateOf(log);
      const again = (await restart(m)).require(tp);
      expect(await stateOf(again)).toEqual(before);
    });

    it('deleting everything up to the log end leaves an empty log that later appends continue', async () => {
      const m = await manager();
      const tp = newPartition();
      const log = await m.create(tp, META);
      await produce(log, 0, batchesOf('a', 2, 2));
      log.setHighWatermark(4n);
      await log.deleteBefore(4n);
      expect(log.sizeInBytes).toBe(0);
      expect(log.lastBatchEpoch).toBe(-1);
      expect((await log.read(4n, { maxBytes: MAX, maxOffset: 4n })).batches).toEqual([]);
      await produce(log, 2, [batchOf(['b'])]);
      expect(log.leaderEpochCache).toEqual([{ epoch: 2, startOffset: 4n }]);
      const again = (await restart(m)).require(tp);
      expect(values(await readAll(again))).toEqual(['b']);
      expect(again.leaderEpochCache).toEqual([{ epoch: 2, startOffset: 4n }]);
    });

    it('retention drops expired and oversize batches, whole, below the high watermark only', async () => {
      const log = await freshLog();
      await produce(log, 0, [
        batchOf(['a'], { timestampMs: 1_000 }),
        batchOf(['b'], { timestampMs: 2_000 }),
        batchOf(['c'], { timestampMs: 3_000 }),
        batchOf(['d'], { timestampMs: 4_000 }),
      ]);
      const size = log.sizeInBytes / 4;
      log.setHighWatermark(2n);
      // Everything is expired, but only the batches below the high watermark may go.
      expect(await log.applyRetention({ nowMs: 100_000, retentionMs: 10, retentionBytes: -1 })).toBe(2n);
      log.setHighWatermark(4n);
      expect(await log.applyRetention({ nowMs: 3_500, retentionMs: 1_000, retentionBytes: -1 })).toBe(2n);
      expect(await log.applyRetention({ nowMs: 4_500, retentionMs: 1_000, retentionBytes: -1 })).toBe(3n);
      expect(await log.applyRetention({ nowMs: 4_500, retentionMs: -1, retentionBytes: size })).toBe(3n);
      await produce(log, 0, [batchOf(['e'], { timestampMs: 5_000 }), batchOf(['f'], { timestampMs: 6_000 })]);
      log.setHighWatermark(6n);
      expect(await log.applyRetention({ nowMs: 0, retentionMs: -1, retentionBytes: 2 * size })).toBe(4n);
      expect(values(await readAll(log))).toEqual(['e', 'f']);
      expect(await log.applyRetention({ nowMs: 0, retentionMs: -1, retentionBytes: -1 })).toBe(4n);
    });

    it('truncateFullyAndStartAt empties the log and restarts it at the offset', async () => {
      const m = await manager();
      const tp = newPartition();
      const log = await m.create(tp, META);
      await produce(log, 0, batchesOf('a', 3, 1));
      log.setHighWatermark(2n);
      await expect(log.truncateFullyAndStartAt(1n)).rejects.toThrow(/below the high watermark/);
      await log.truncateFullyAndStartAt(100n);
      expect(await stateOf(log)).toMatchObject({
        logStartOffset: 100n,
        logEndOffset: 100n,
        highWatermark: 100n,
        epochs: [],
        sizeInBytes: 0,
        records: [],
      });
      expect((await refusal(() => log.read(0n, { maxBytes: MAX, maxOffset: 100n }))).code).toBe('OFFSET_OUT_OF_RANGE');
      await produce(log, 1, [batchOf(['z'])]);
      const again = (await restart(m)).require(tp);
      expect(await readAll(again)).toEqual([{ offset: 100n, value: 'z' }]);
    });

    it('an unclean truncation below the log start restarts the log there', async () => {
      const m = await manager();
      const tp = newPartition();
      const log = await m.create(tp, META);
      await produce(log, 0, batchesOf('a', 6, 1));
      log.setHighWatermark(5n);
      await log.deleteBefore(4n);
      await expect(log.truncateTo(2n)).rejects.toThrow(/below the log start 4/);
      await log.truncateTo(2n, { allowBelowHighWatermark: true });
      expect([log.logStartOffset, log.logEndOffset, log.highWatermark, log.sizeInBytes]).toEqual([2n, 2n, 2n, 0]);
      await produce(log, 1, [batchOf(['b'])]);
      const again = (await restart(m)).require(tp);
      expect(await readAll(again)).toEqual([{ offset: 2n, value: 'b' }]);
    });

    it('concurrent appends are serialised: offsets never collide and stay dense', async () => {
      const log = await freshLog();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => produce(log, 0, [batchOf([`v${i}`, `w${i}`])])),
      );
      const ranges = results.map((r) => [r.baseOffset, r.lastOffset]).sort((x, y) => Number(x[0]! - y[0]!));
      expect(ranges).toEqual(Array.from({ length: 20 }, (_, i) => [BigInt(2 * i), BigInt(2 * i + 1)]));
      expect((await readAll(log)).map((r) => r.offset)).toEqual(Array.from({ length: 40 }, (_, i) => BigInt(i)));
    });

    it('a clean restart brings back exactly the same state of every partition', async () => {
      const m = await manager();
      const tps = [newPartition(0), newPartition(1), newPartition(7)];
      const [p0, p1, p7] = await Promise.all(tps.map((tp) => m.create(tp, META)));
      await produce(p0!, 0, batchesOf('a', 5, 3));
      await produce(p0!, 2, batchesOf('b', 2, 2));
      p0!.setHighWatermark(12n);
      await p0!.deleteBefore(4n);
      await p0!.truncateTo(17n);
      await produce(p1!, 1, batchesOf('c', 1, 1));
      const before = await Promise.all([p0!, p1!, p7!].map(stateOf));
      const again = await restart(m);
      expect(again.partitions()).toHaveLength(3);
      const after = await Promise.all(tps.map((tp) => stateOf(again.require(tp))));
      expect(after).toEqual(before);
      expect(again.require(tps[0]!).meta).toEqual(META);
    });

    it('a partition deleted from the broker is gone, and its batches do not come back with a new one of the same id', async () => {
      const m = await manager();
      const tp = newPartition();
      const log = await m.create(tp, META);
      await produce(log, 0, batchesOf('a', 3, 1));
      await m.delete(tp);
      expect(m.get(tp)).toBeUndefined();
      expect((await refusal(() => log.read(0n, { maxBytes: MAX, maxOffset: 3n }))).code).toBe(
        'UNKNOWN_TOPIC_OR_PARTITION',
      );
      const recreated = await m.create(tp, META);
      expect(recreated.logEndOffset).toBe(0n);
      expect(await readAll(recreated, 0n, 3n)).toEqual([]);
      const again = await restart(m);
      expect(again.partitions().map((p) => p.logEndOffset)).toEqual([0n]);
    });

    if (harness.name === 'MemoryLogStore') {
      it('a batch damaged in the store is KAFKA_STORAGE_ERROR naming the partition and offset when read', async () => {
        const store = (await harness.open()) as MemoryLogStore;
        // Damage in the store shows on reads from the store, not on the tail cache's copies.
        const m = await manager(store, 0);
        const tp = newPartition();
        const log = await m.create(tp, META);
        await produce(log, 0, batchesOf('a', 3, 2));
        store.damageBatch(tp, 3n, (bytes) => {
          bytes[bytes.length - 1]! ^= 1;
        });
        const damaged = await refusal(() => log.read(0n, { maxBytes: MAX, maxOffset: 6n }));
        expect(damaged.code).toBe('KAFKA_STORAGE_ERROR');
        expect(damaged.message).toMatch(/orders-0 .* at offset 3: the batch ending at offset 3 is damaged/);
        expect(damaged.details).toMatchObject({ topicId: tp.topicId, partition: 0, offset: '3' });
        // The batch before it is still served.
        expect((await log.read(0n, { maxBytes: 1, maxOffset: 6n })).batches).toHaveLength(1);
      });
    }
  });
}
