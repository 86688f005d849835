import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelLogStore } from '../../src/log/level-log-store.js';
import { LogManager } from '../../src/log/log-manager.js';
import { MemoryLogStore } from '../../src/log/memory-log-store.js';
import { batchesOf, META, newPartition, refusal, removeTempFolders, tempFolder } from './helpers.js';

afterEach(removeTempFolders);

describe('LogManager', () => {
  it('creates a partition once: creating it again returns the same log', async () => {
    const logs = await LogManager.open(new MemoryLogStore(), { highWatermarkCheckpointIntervalMs: 0 });
    const tp = newPartition();
    const log = await logs.create(tp, META);
    expect(await logs.create(tp, META)).toBe(log);
    await expect(logs.create(tp, { ...META, topic: 'other' })).rejects.toThrow(/invariant broken/);
    expect((await refusal(async () => logs.require(newPartition()))).code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    await logs.close();
    expect((await refusal(() => logs.create(newPartition(), META))).code).toBe('KAFKA_STORAGE_ERROR');
  });

  it('checkpoints high watermarks on its timer, so a crash loses at most one interval of progress', async () => {
    const path = join(tempFolder(), 'log');
    const logs = await LogManager.open(await LevelLogStore.open(path), { highWatermarkCheckpointIntervalMs: 20 });
    const tp = newPartition();
    const log = await logs.create(tp, META);
    await log.appendAsLeader(batchesOf('v', 4, 1), 0, { nowMs: 1, maxBatchBytes: 1 << 20 });
    log.setHighWatermark(3n);
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline && (await logs.store.recover())[0]!.highWatermarkCheckpoint !== 3n) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect((await logs.store.recover())[0]!.highWatermarkCheckpoint).toBe(3n);
    await logs.close();
  });

  it('applies each topic’s retention and reports the partitions whose log start moved', async () => {
    const logs = await LogManager.open(new MemoryLogStore(), { highWatermarkCheckpointIntervalMs: 0 });
    const kept = await logs.create(newPartition(), META);
    const trimmed = await logs.create(newPartition(), { ...META, topic: 'short' });
    for (const log of [kept, trimmed]) {
      await log.appendAsLeader(batchesOf('v', 3, 1), 0, { nowMs: 1, maxBatchBytes: 1 << 20 });
      log.setHighWatermark(3n);
    }
    const moved = await logs.applyRetention((log) =>
      log.meta.topic === 'short' ? { nowMs: 1_000_000, retentionMs: 1, retentionBytes: -1 } : undefined,
    );
    expect(moved).toEqual([trimmed]);
    expect(trimmed.logStartOffset).toBe(3n);
    expect(kept.logStartOffset).toBe(0n);
    await logs.close();
  });
});
