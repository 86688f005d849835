import { encodeRecordBatch } from '@millrace/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { LogManager } from '../../src/log/log-manager.js';
import type { PartitionLog } from '../../src/log/partition-log.js';
import {
  batchOf,
  levelHarness,
  META,
  memoryHarness,
  newPartition,
  readAll,
  refusal,
  removeTempFolders,
  type StoreHarness,
  values,
} from './helpers.js';

// The partition log's idempotent-producer rules (producer-state.ts applied under the log's write
// lock): a retried batch is answered with its first offsets and not written again; gaps and old
// epochs are refused; followers record what they append, so a new leader refuses the same; a
// truncation forgets; a restart rebuilds from the log's tail.

const MAX = 1 << 20;
const opts = { nowMs: 10_000, maxBatchBytes: MAX };

/** A batch from producer `id` (epoch `epoch`) holding `texts`, numbered from `sequence`. */
function idempotent(id: bigint, epoch: number, sequence: number, texts: string[]): Buffer {
  return encodeRecordBatch({
    records: texts.map((value) => ({ value })),
    producerId: id,
    producerEpoch: epoch,
    baseSequence: sequence,
    now: 1_000,
  });
}

for (const harness of [memoryHarness, levelHarness()] as StoreHarness[]) {
  describe(`idempotent producers over ${harness.name}`, () => {
    const open: LogManager[] = [];
    afterEach(async () => {
      for (const manager of open.splice(0)) await manager.close().catch(() => undefined);
      removeTempFolders();
    });
    async function manager(store?: Awaited<ReturnType<StoreHarness['open']>>): Promise<LogManager> {
      const m = await LogManager.open(store ?? (await harness.open()), { highWatermarkCheckpointIntervalMs: 0 });
      open.push(m);
      return m;
    }
    async function freshLog(partition = 0): Promise<PartitionLog> {
      return (await manager()).create(newPartition(partition), META);
    }

    it('a retried batch is answered with the offsets it got first, and written once', async () => {
      const log = await freshLog();
      await log.appendAsLeader([batchOf(['plain'])], 0, opts);
      const first = await log.appendAsLeader([idempotent(7n, 0, 0, ['a', 'b'])], 0, opts);
      const second = await log.appendAsLeader([idempotent(7n, 0, 2, ['c'])], 0, opts);
      expect(first).toEqual({ baseOffset: 1n, lastOffset: 2n, logAppendTimeMs: -1 });
      const retried = await log.appendAsLeader([idempotent(7n, 0, 0, ['a', 'b'])], 0, opts);
      expect(retried).toEqual({ ...first, duplicate: true });
      expect(await log.appendAsLeader([idempotent(7n, 0, 2, ['c'])], 0, opts)).toEqual({ ...second, duplicate: true });
      expect(values(await readAll(log))).toEqual(['plain', 'a', 'b', 'c']);
    });

    it('a gap and an old epoch are refused and change nothing; a new epoch starts at 0', async () => {
      const log = await freshLog();
      await log.appendAsLeader([idempotent(7n, 2, 0, ['a'])], 0, opts);
      expect((await refusal(() => log.appendAsLeader([idempotent(7n, 2, 5, ['x'])], 0, opts))).code).toBe(
        'OUT_OF_ORDER_SEQUENCE_NUMBER',
      );
      expect((await refusal(() => log.appendAsLeader([idempotent(7n, 1, 1, ['x'])], 0, opts))).code).toBe(
        'INVALID_PRODUCER_EPOCH',
      );
      expect((await refusal(() => log.appendAsLeader([idempotent(7n, 3, 1, ['x'])], 0, opts))).code).toBe(
        'OUT_OF_ORDER_SEQUENCE_NUMBER',
      );
      await log.appendAsLeader([idempotent(7n, 3, 0, ['b'])], 0, opts);
      expect(values(await readAll(log))).toEqual(['a', 'b']);
    });

    it('an idempotent batch must come alone for its partition', async () => {
      const log = await freshLog();
      const error = await refusal(() =>
        log.appendAsLeader([idempotent(7n, 0, 0, ['a']), idempotent(7n, 0, 1, ['b'])], 0, opts),
      );
      expect(error.code).toBe('INVALID_RECORD');
      expect(log.logEndOffset).toBe(0n);
    });

    it('a follower records what it appends: as the new leader it refuses the same retry', async () => {
      const leader = await freshLog(0);
      const follower = await freshLog(1);
      const written = await leader.appendAsLeader([idempotent(9n, 0, 0, ['a', 'b'])], 0, opts);
      const { batches } = await leader.read(0n, { maxBytes: MAX, maxOffset: leader.logEndOffset });
      await follower.appendAsFollower(batches);
      // The leader dies before its answer reaches the producer, which retries on the new leader.
      expect(await follower.appendAsLeader([idempotent(9n, 0, 0, ['a', 'b'])], 1, opts)).toEqual({
        ...written,
        duplicate: true,
      });
      expect(values(await readAll(follower))).toEqual(['a', 'b']);
    });

    it('a truncation forgets what it removed: the batch is taken again', async () => {
      const log = await freshLog();
      await log.appendAsLeader([idempotent(7n, 0, 0, ['a'])], 0, opts);
      await log.appendAsLeader([idempotent(7n, 0, 1, ['b'])], 0, opts);
      await log.truncateTo(1n, { allowBelowHighWatermark: true });
      expect(await log.appendAsLeader([idempotent(7n, 0, 1, ['b'])], 1, opts)).toEqual({
        baseOffset: 1n,
        lastOffset: 1n,
        logAppendTimeMs: -1,
      });
    });

    it('after a restart the state is rebuilt from the log: a retry is still a duplicate', async () => {
      const m = await manager();
      const tp = newPartition();
      const log = await m.create(tp, META);
      const written = await log.appendAsLeader([idempotent(7n, 0, 0, ['a'])], 0, opts);
      await m.close();
      const reopened = await manager(await harness.restart(m.store));
      const again = reopened.get(tp) as PartitionLog;
      expect(await again.appendAsLeader([idempotent(7n, 0, 0, ['a'])], 0, opts)).toEqual({
        ...written,
        duplicate: true,
      });
      expect((await refusal(() => again.appendAsLeader([idempotent(7n, 0, 3, ['x'])], 0, opts))).code).toBe(
        'OUT_OF_ORDER_SEQUENCE_NUMBER',
      );
    });
  });
}
