import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isMillraceError, type MillraceError } from '@millrace/protocol';
import { Level } from 'level';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  batchKey,
  batchSeekKey,
  epochKey,
  META_KEY,
  partitionKeyOf,
  partitionUpperBound,
  sealedOffset,
  TAG_BATCH,
  TAG_HIGH_WATERMARK,
  TAG_LOG_START,
  TAG_TRUNCATION,
} from '../../src/log/keys.js';
import { LevelLogStore, type LevelLogStoreOptions } from '../../src/log/level-log-store.js';
import { LogManager } from '../../src/log/log-manager.js';
import type { TopicIdPartition } from '../../src/log/types.js';
import {
  batchesOf,
  batchOf,
  META,
  newPartition,
  readAll,
  refusal,
  removeTempFolders,
  tempFolder,
  values,
} from './helpers.js';

const MAX = 1 << 20;
const managers: LogManager[] = [];

afterEach(async () => {
  for (const m of managers.splice(0)) await m.close().catch(() => undefined);
  removeTempFolders();
});

async function openLogs(path: string, options: LevelLogStoreOptions = {}): Promise<LogManager> {
  const m = await LogManager.open(await LevelLogStore.open(path, options), { highWatermarkCheckpointIntervalMs: 0 });
  managers.push(m);
  return m;
}

/** Writes a partition with `batches` batches of 2 records (epoch 0, then epoch 1 for the last), closes it cleanly. */
async function seed(path: string, tp: TopicIdPartition, batches = 4, highWatermark = 2n): Promise<void> {
  const m = await openLogs(path);
  const log = await m.create(tp, META);
  await log.appendAsLeader(batchesOf('v', batches - 1, 2), 0, { nowMs: 1, maxBatchBytes: MAX });
  await log.appendAsLeader(batchesOf('w', 1, 2), 1, { nowMs: 1, maxBatchBytes: MAX });
  log.setHighWatermark(highWatermark);
  await m.close();
}

/** Opens the folder with `level` directly, as a failing disk or a bug would write it. */
async function tamper(path: string, change: (db: Level<Buffer, Buffer>) => Promise<void>): Promise<void> {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    await change(db);
  } finally {
    await db.close();
  }
}

/** The first entry of a range, which the test knows is there. */
async function firstEntry(
  db: Level<Buffer, Buffer>,
  range: { gte: Buffer; lt: Buffer; reverse?: boolean },
): Promise<[Buffer, Buffer]> {
  const [entry] = await db.iterator({ ...range, limit: 1 }).all();
  if (entry === undefined) throw new Error('the range is empty');
  return entry;
}

async function openRefusal(path: string): Promise<MillraceError> {
  const error = await refusal(() => openLogs(path));
  expect(error.code).toBe('KAFKA_STORAGE_ERROR');
  return error;
}

describe('LevelLogStore', () => {
  it('appends to several partitions in one turn reach LevelDB as one batch, and each survives a restart', async () => {
    const path = join(tempFolder(), 'log');
    const m = await openLogs(path);
    const logs = await Promise.all([newPartition(), newPartition(), newPartition()].map((tp) => m.create(tp, META)));
    const batch = vi.spyOn(Level.prototype, 'batch');
    try {
      // As a produce request with three partitions does: every append starts in the same turn.
      await Promise.all(
        logs.map((log, i) =>
          log.appendAsLeader([batchOf([`a${i}`]), batchOf([`b${i}`])], 0, { nowMs: 1, maxBatchBytes: MAX }),
        ),
      );
      expect(batch).toHaveBeenCalledTimes(1);
      // Appends one after another are written one after another.
      await logs[0]!.appendAsLeader([batchOf(['c0'])], 0, { nowMs: 1, maxBatchBytes: MAX });
      expect(batch).toHaveBeenCalledTimes(2);
    } finally {
      batch.mockRestore();
    }
    const tps = logs.map((log) => log.tp);
    await m.close();
    const again = await openLogs(path);
    const reopened = tps.map((tp) => again.require(tp));
    expect(await Promise.all(reopened.map(async (log) => values(await readAll(log))))).toEqual([
      ['a0', 'b0', 'c0'],
      ['a1', 'b1'],
      ['a2', 'b2'],
    ]);
  });

  it('creates a missing data folder on first start (a broker recovers lost data from its replicas)', async () => {
    const path = join(tempFolder(), 'a', 'b', 'log');
    expect(existsSync(path)).toBe(false);
    const m = await openLogs(path);
    expect(m.partitions()).toEqual([]);
    expect(existsSync(path)).toBe(true);
  });

  it('refuses a folder that holds something other than a broker log', async () => {
    const path = join(tempFolder(), 'log');
    await tamper(path, (db) => db.put(Buffer.from('x'), Buffer.from('y')));
    expect((await refusal(() => LevelLogStore.open(path))).message).toMatch(/no format record/);
    await tamper(path, (db) => db.put(META_KEY, Buffer.from([0, 0, 0, 0, 1])));
    expect((await refusal(() => LevelLogStore.open(path))).message).toMatch(/format record fails its checksum/);
  });

  it('refuses a flush policy or interval it does not know, naming the setting', async () => {
    const path = join(tempFolder(), 'log');
    const policy = await refusal(() => LevelLogStore.open(path, { flushPolicy: 'never' as 'os' }));
    expect(policy.code).toBe('INVALID_CONFIG');
    expect(policy.message).toMatch(/^log\.flush\.policy: never/);
    const interval = await refusal(() => LevelLogStore.open(path, { flushIntervalMs: 0 }));
    expect(interval.message).toMatch(/^log\.flush\.interval\.ms/);
  });

  for (const flushPolicy of ['os', 'every-batch', 'interval'] as const) {
    it(`flush policy ${flushPolicy}: appends come back after a restart`, async () => {
      const path = join(tempFolder(), 'log');
      const tp = newPartition();
      const m = await openLogs(path, { flushPolicy, flushIntervalMs: 5 });
      const log = await m.create(tp, META);
      await log.appendAsLeader(batchesOf('v', 3, 2), 0, { nowMs: 1, maxBatchBytes: MAX });
      if (flushPolicy === 'interval') await new Promise((resolve) => setTimeout(resolve, 20));
      await m.close();
      const again = (await openLogs(path, { flushPolicy })).require(tp);
      expect(values(await readAll(again))).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5']);
    });
  }

  describe('recovery refuses a damaged store, naming the partition and the problem', () => {
    it('a corrupted last batch', async () => {
      const path = join(tempFolder(), 'log');
      const tp = newPartition(3);
      await seed(path, tp);
      await tamper(path, async (db) => {
        const [key, value] = await firstEntry(db, {
          gte: partitionKeyOf(TAG_BATCH, tp),
          lt: partitionUpperBound(TAG_BATCH, tp),
          reverse: true,
        });
        value[value.length - 1]! ^= 0x01;
        await db.put(key, value);
      });
      const error = await openRefusal(path);
      expect(error.message).toMatch(
        /orders-3 \(topic id .*\): the last batch \(stored as last offset 7\) is damaged: CRC-32C mismatch/,
      );
      expect(error.details).toEqual({ topicId: tp.topicId, partition: 3 });
    });

    it('a corrupted high-watermark checkpoint', async () => {
      const path = join(tempFolder(), 'log');
      const tp = newPartition();
      await seed(path, tp);
      await tamper(path, async (db) => {
        const value = (await db.get(partitionKeyOf(TAG_HIGH_WATERMARK, tp)))!;
        value[value.length - 1]! ^= 0x01;
        await db.put(partitionKeyOf(TAG_HIGH_WATERMARK, tp), value);
      });
      expect((await openRefusal(path)).message).toMatch(/the high-watermark checkpoint fails its checksum/);
    });

    it('a high-watermark checkpoint above the log end', async () => {
      const path = join(tempFolder(), 'log');
      const tp = newPartition();
      await seed(path, tp);
      await tamper(path, (db) => db.put(partitionKeyOf(TAG_HIGH_WATERMARK, tp), sealedOffset(9n)));
      expect((await openRefusal(path)).message).toMatch(
        /orders-0 .*: the high-watermark checkpoint 9 is above the log end offset 8/,
      );
    });

    it('a leader-epoch cache that does not increase', async () => {
      const path = join(tempFolder(), 'log');
      const tp = newPartition();
      await seed(path, tp);
      await tamper(path, (db) => db.put(epochKey(tp, 1), sealedOffset(0n)));
      expect((await openRefusal(path)).message).toMatch(
        /the leader-epoch cache does not increase: epoch 0 at 0, then epoch 1 at 0/,
      );
    });

    it('a leader-epoch cache that does not end with the last batch’s epoch', async () => {
      const path = join(tempFolder(), 'log');
      const tp = newPartition();
      await seed(path, tp);
      await tamper(path, (db) => db.del(epochKey(tp, 1)));
      expect((await openRefusal(path)).message).toMatch(
        /written in leader epoch 1, but the leader-epoch cache ends with epoch 0/,
      );
    });

    it('a batch stored under a key that is not its own last offset', async () => {
      const path = join(tempFolder(), 'log');
      const tp = newPartition();
      await seed(path, tp);
      await tamper(path, async (db) => {
        const [key, value] = await firstEntry(db, {
          gte: batchSeekKey(tp, 7n),
          lt: partitionUpperBound(TAG_BATCH, tp),
        });
        await db.del(key);
        await db.put(batchKey(tp, 9n, key.readUInt32BE(key.length - 4)), value);
      });
      expect((await openRefusal(path)).message).toMatch(
        /the last batch is stored as last offset 9 but holds offsets 6 to 7/,
      );
    });

    it('a partition without its log start offset', async () => {
      const path = join(tempFolder(), 'log');
      const tp = newPartition();
      await seed(path, tp);
      await tamper(path, (db) => db.del(partitionKeyOf(TAG_LOG_START, tp)));
      expect((await openRefusal(path)).message).toMatch(/it has metadata but no log start offset/);
    });

    it('a hole before the first batch', async () => {
      const path = join(tempFolder(), 'log');
      const tp = newPartition();
      await seed(path, tp);
      await tamper(path, async (db) => {
        const [key] = await firstEntry(db, {
          gte: partitionKeyOf(TAG_BATCH, tp),
          lt: partitionUpperBound(TAG_BATCH, tp),
        });
        await db.del(key);
      });
      expect((await openRefusal(path)).message).toMatch(/the log starts at 0 but its first batch starts at 2: a hole/);
    });
  });

  it('a batch damaged in the middle of the log is KAFKA_STORAGE_ERROR when it is read, not served', async () => {
    const path = join(tempFolder(), 'log');
    const tp = newPartition();
    await seed(path, tp);
    await tamper(path, async (db) => {
      const [key, value] = await firstEntry(db, { gte: batchSeekKey(tp, 3n), lt: partitionUpperBound(TAG_BATCH, tp) });
      value[70]! ^= 0x40;
      await db.put(key, value);
    });
    const log = (await openLogs(path)).require(tp);
    const error = await refusal(() => log.read(0n, { maxBytes: MAX, maxOffset: 8n }));
    expect(error.code).toBe('KAFKA_STORAGE_ERROR');
    expect(error.message).toMatch(/at offset 3: the batch ending at offset 3 is damaged/);
    expect(error.details).toMatchObject({ offset: '3' });
    expect(error.cause).toSatisfy((cause: unknown) => isMillraceError(cause, 'CORRUPT_MESSAGE'));
  });

  it('a large truncation goes through a marker and a native clear, and a crash in between is finished at the next start', async () => {
    const path = join(tempFolder(), 'log');
    const tp = newPartition();
    const m = await openLogs(path, { truncateInBatchMax: 2 });
    const log = await m.create(tp, META);
    await log.appendAsLeader(batchesOf('v', 10, 1), 0, { nowMs: 1, maxBatchBytes: MAX });
    await log.truncateTo(4n); // six batches: more than two
    expect(values(await readAll(log))).toEqual(['v0', 'v1', 'v2', 'v3']);
    await log.appendAsLeader(batchesOf('x', 1, 1), 1, { nowMs: 1, maxBatchBytes: MAX });
    await m.close();
    await tamper(path, async (db) => {
      expect(await db.get(partitionKeyOf(TAG_TRUNCATION, tp))).toBeUndefined();
      // Play a crash after step 1 of a truncation to 2: the marker is written, the suffix not yet cleared.
      await db.put(partitionKeyOf(TAG_TRUNCATION, tp), sealedOffset(2n));
      await db.del(epochKey(tp, 1));
    });
    const again = (await openLogs(path)).require(tp);
    expect(values(await readAll(again))).toEqual(['v0', 'v1']);
    expect(again.leaderEpochCache).toEqual([{ epoch: 0, startOffset: 0n }]);
  });

  it('clears batches left by a deletion or a log-start move that a crash interrupted', async () => {
    const path = join(tempFolder(), 'log');
    const kept = newPartition();
    const gone = newPartition();
    await seed(path, kept, 4, 8n);
    const batch = batchOf(['orphan']);
    await tamper(path, async (db) => {
      await db.put(batchKey(gone, 0n, 0), batch); // no metadata: a deleted partition's leftover
      await db.put(partitionKeyOf(TAG_LOG_START, kept), sealedOffset(4n)); // the log start moved...
      await db.put(partitionKeyOf(TAG_HIGH_WATERMARK, kept), sealedOffset(8n));
      await db.put(epochKey(kept, 0), sealedOffset(4n)); // ...with the epoch cache, but nothing was cleared
    });
    const m = await openLogs(path);
    expect(m.partitions().map((p) => p.tp)).toEqual([kept]);
    const log = m.require(kept);
    expect(values(await readAll(log))).toEqual(['v4', 'v5', 'w0', 'w1']);
    await m.close();
    await tamper(path, async (db) => {
      const left = await db.keys({ gte: Buffer.from([TAG_BATCH]), lt: Buffer.from([TAG_BATCH + 1]) }).all();
      expect(left).toHaveLength(2);
    });
  });

  it('a store that is closed refuses work with KAFKA_STORAGE_ERROR', async () => {
    const path = join(tempFolder(), 'log');
    const store = await LevelLogStore.open(path);
    await store.close();
    expect((await refusal(() => store.recover())).code).toBe('KAFKA_STORAGE_ERROR');
  });
});
