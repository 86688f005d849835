import { encodeRecordBatch, NO_LEADER } from '@millrace/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryLogStore } from '../../src/log/memory-log-store.js';
import { PartitionLog } from '../../src/log/partition-log.js';
import {
  type FollowerFetchRequest,
  type LeaderAppendRequest,
  Partition,
  type PartitionAssignment,
} from '../../src/replication/partition.js';
import { batchOf, META, newPartition, readAll, recordsOf, refusal, values } from '../log/helpers.js';

const BROKER = 1;
const EPOCH = 5;
const MAX = 1 << 20;
const LAG_MS = 10_000;
const clock = () => 0;

function assignment(overrides: Partial<PartitionAssignment> = {}): PartitionAssignment {
  return { leader: BROKER, leaderEpoch: EPOCH, partitionEpoch: 10, replicas: [1, 2, 3], isr: [1, 2, 3], ...overrides };
}

/** Broker 1's replica of a fresh partition over an in-memory log, with `next` applied if given. */
async function replica(next?: Partial<PartitionAssignment>) {
  const log = await PartitionLog.create(new MemoryLogStore(), newPartition(), META);
  const partition = new Partition(META.topic, log, BROKER);
  if (next !== undefined) await partition.applyAssignment(assignment(next), clock);
  return { log, partition };
}

function produce(partition: Partition, records: string[], overrides: Partial<LeaderAppendRequest> = {}) {
  return partition.appendAsLeader({
    batches: [batchOf(records)],
    acks: 1,
    leaderEpoch: EPOCH,
    minInsyncReplicas: 2,
    maxBatchBytes: MAX,
    timestampType: 'create-time',
    nowMs: 5_000,
    timeoutMs: 30_000,
    ...overrides,
  });
}

function fetchAs(
  partition: Partition,
  replicaId: number,
  fetchOffset: bigint,
  overrides: Partial<FollowerFetchRequest> = {},
) {
  return partition.readForFollower({
    replicaId,
    fetchOffset,
    currentLeaderEpoch: EPOCH,
    lastFetchedEpoch: undefined,
    maxBytes: MAX,
    minOneBatch: true,
    nowMs: 1_000,
    ...overrides,
  });
}

/** A batch as a leader stored it: its offsets and leader epoch set. */
function leaderBatch(records: string[], baseOffset: bigint, epoch: number): Buffer {
  return encodeRecordBatch({
    records: records.map((value, i) => ({ value, timestamp: 1_000 + i })),
    now: 1_000,
    baseOffset,
    partitionLeaderEpoch: epoch,
  });
}

/** Watches a promise without awaiting it, so a test can ask whether it has settled yet. */
function track<T>(promise: Promise<T>) {
  const state = { promise, settled: false };
  promise.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

/** Lets every callback already due run (promise reactions, the in-memory store's work). */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Polls `condition` until it holds, failing after a deadline rather than waiting blindly. */
async function eventually(condition: () => boolean, deadlineMs = 5_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await flush();
  }
}

/** An acks=all write is waiting once the leader's replication state has its records. */
function appended(partition: Partition, logEndOffset: bigint): Promise<void> {
  return eventually(() => partition.leaderState?.logEndOffset === logEndOffset);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('partition: roles from the metadata', () => {
  it('the first assignment makes the replica leader, follower or offline', async () => {
    const cases = [
      { leader: BROKER, change: 'became-leader', role: 'leader' },
      { leader: 2, change: 'became-follower', role: 'follower' },
      { leader: NO_LEADER, change: 'became-offline', role: 'offline' },
    ] as const;
    for (const c of cases) {
      const { partition } = await replica();
      expect(partition.role).toBe('offline');
      expect(partition.leaderEpoch).toBe(-1);
      expect(await partition.applyAssignment(assignment({ leader: c.leader }), clock)).toBe(c.change);
      expect(partition.role).toBe(c.role);
      expect(partition.leaderId).toBe(c.leader);
      expect(partition.leaderEpoch).toBe(EPOCH);
      expect(partition.generation).toBe(1);
      expect(partition.leaderState !== undefined).toBe(c.role === 'leader');
    }
  });

  it('a new leader takes its epoch, ISR and log end into its replication state', async () => {
    const { partition } = await replica({ replicas: [1, 2, 3], isr: [1, 3], partitionEpoch: 12 });
    const state = partition.leaderState!;
    expect(state.leaderEpoch).toBe(EPOCH);
    expect(state.isr).toEqual([1, 3]);
    expect(state.partitionEpoch).toBe(12);
    expect(state.leaderEpochStartOffset).toBe(0n);
    expect(partition.underReplicated).toBe(true);
  });

  it('the same epoch with a newer partition epoch is an ISR change; not newer, nothing', async () => {
    const { partition } = await replica({});
    const state = partition.leaderState!;
    const generation = partition.generation;
    expect(await partition.applyAssignment(assignment(), clock)).toBe('unchanged');
    expect(partition.underReplicated).toBe(false);
    expect(await partition.applyAssignment(assignment({ partitionEpoch: 11, isr: [1, 2] }), clock)).toBe('isr-changed');
    expect(partition.leaderState).toBe(state);
    expect(state.isr).toEqual([1, 2]);
    expect(state.partitionEpoch).toBe(11);
    expect(partition.assignment.isr).toEqual([1, 2]);
    expect(partition.generation).toBe(generation);
    expect(partition.underReplicated).toBe(true);
    expect(await partition.applyAssignment(assignment({ partitionEpoch: 11, isr: [1] }), clock)).toBe('unchanged');
    expect(await partition.applyAssignment(assignment({ partitionEpoch: 10, isr: [1] }), clock)).toBe('unchanged');
    expect(state.isr).toEqual([1, 2]);
  });

  it('an older leader epoch is ignored: metadata never goes back', async () => {
    const { partition } = await replica({});
    expect(
      await partition.applyAssignment(assignment({ leader: 2, leaderEpoch: EPOCH - 1, partitionEpoch: 99 }), clock),
    ).toBe('unchanged');
    expect(partition.role).toBe('leader');
    expect(partition.assignment).toEqual(assignment());
  });

  it('each new leader epoch changes the role and starts a new generation', async () => {
    const { partition } = await replica({});
    const first = partition.leaderState;
    expect(await partition.applyAssignment(assignment({ leaderEpoch: 6 }), clock)).toBe('became-leader');
    expect(partition.leaderState).not.toBe(first);
    expect(partition.leaderState!.leaderEpoch).toBe(6);
    expect(await partition.applyAssignment(assignment({ leader: 2, leaderEpoch: 7 }), clock)).toBe('became-follower');
    expect(partition.leaderState).toBeUndefined();
    expect(partition.underReplicated).toBe(false);
    expect(
      await partition.applyAssignment(
        assignment({ leader: 2, leaderEpoch: 7, partitionEpoch: 11, isr: [2, 3] }),
        clock,
      ),
    ).toBe('isr-changed');
    expect(partition.assignment.isr).toEqual([2, 3]);
    expect(await partition.applyAssignment(assignment({ leader: NO_LEADER, leaderEpoch: 8 }), clock)).toBe(
      'became-offline',
    );
    expect(await partition.applyAssignment(assignment({ leaderEpoch: 9 }), clock)).toBe('became-leader');
    expect(partition.generation).toBe(5);
  });

  it('becoming leader waits for queued writes, so the replication state starts at the true log end', async () => {
    const { partition, log } = await replica({ leader: 2 });
    const writing = partition.appendAsFollower([leaderBatch(['a', 'b', 'c'], 0n, EPOCH)], EPOCH, 0n, MAX);
    expect(await partition.applyAssignment(assignment({ leaderEpoch: 6 }), clock)).toBe('became-leader');
    expect(partition.leaderState!.leaderEpochStartOffset).toBe(3n);
    expect(partition.leaderState!.logEndOffset).toBe(3n);
    // The write began in the old role: it lands, but does not take a follower's high watermark.
    expect(await writing).toBe(true);
    expect(log.logEndOffset).toBe(3n);
  });

  it('a role change while becoming leader wins; an ISR change meanwhile is taken', async () => {
    const { partition } = await replica();
    const becoming = partition.applyAssignment(assignment(), clock);
    expect(await partition.applyAssignment(assignment({ partitionEpoch: 11, isr: [1, 2] }), clock)).toBe('isr-changed');
    expect(await becoming).toBe('became-leader');
    expect(partition.leaderState!.isr).toEqual([1, 2]);
    expect(partition.leaderState!.partitionEpoch).toBe(11);

    const superseded = partition.applyAssignment(assignment({ leaderEpoch: 6 }), clock);
    expect(await partition.applyAssignment(assignment({ leader: 2, leaderEpoch: 7 }), clock)).toBe('became-follower');
    expect(await superseded).toBe('unchanged');
    expect(partition.role).toBe('follower');
    expect(partition.leaderState).toBeUndefined();
  });

  it('a leader alone in its ISR commits what its log already holds when it takes over', async () => {
    // Broker 1 followed, got records the old leader had not committed, and now leads alone.
    const { partition, log } = await replica({ leader: 2 });
    await partition.appendAsFollower([leaderBatch(['a', 'b', 'c'], 0n, EPOCH)], EPOCH, 0n, MAX);
    expect(log.highWatermark).toBe(0n);
    await partition.applyAssignment(assignment({ leaderEpoch: 6, isr: [1] }), clock);
    expect(partition.leaderState!.highWatermark).toBe(3n);
    expect(log.highWatermark).toBe(3n);
    const read = await partition.readAsLeader(0n, MAX, true, 6);
    expect(values(recordsOf(read.batches))).toEqual(['a', 'b', 'c']);
  });
});

describe('partition: the leader appends', () => {
  it('acks=1 answers with the offsets at once, before the ISR has the records', async () => {
    const { partition, log } = await replica({});
    expect(await produce(partition, ['a', 'b', 'c'])).toEqual({
      baseOffset: 0n,
      lastOffset: 2n,
      logAppendTimeMs: -1,
      logStartOffset: 0n,
    });
    expect(await produce(partition, ['d'], { acks: 0, timestampType: 'log-append-time', nowMs: 7_000 })).toEqual({
      baseOffset: 3n,
      lastOffset: 3n,
      logAppendTimeMs: 7_000,
      logStartOffset: 0n,
    });
    expect(log.logEndOffset).toBe(4n);
    expect(log.highWatermark).toBe(0n);
    expect(partition.leaderState!.logEndOffset).toBe(4n);
    expect(values(await readAll(log))).toEqual(['a', 'b', 'c', 'd']);
    expect(log.leaderEpochCache).toEqual([{ epoch: EPOCH, startOffset: 0n }]);
  });

  it('a leader alone in its ISR commits at once, acks=all included', async () => {
    const { partition, log } = await replica({ isr: [1] });
    expect(await produce(partition, ['a', 'b'], { acks: 'all', minInsyncReplicas: 1 })).toMatchObject({
      lastOffset: 1n,
    });
    expect(log.highWatermark).toBe(2n);
  });

  it('acks=all resolves only when the followers fetch past the batch and move the high watermark', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { partition, log } = await replica({});
    const write = track(produce(partition, ['a', 'b', 'c'], { acks: 'all' }));
    await appended(partition, 3n);
    expect(log.highWatermark).toBe(0n);
    await fetchAs(partition, 2, 3n); // follower 2 has it all; follower 3 has not fetched
    await flush();
    expect(write.settled).toBe(false);
    expect(log.highWatermark).toBe(0n);
    await fetchAs(partition, 3, 2n);
    await flush();
    expect(write.settled).toBe(false);
    expect(log.highWatermark).toBe(2n);
    await fetchAs(partition, 3, 3n);
    expect(await write.promise).toEqual({ baseOffset: 0n, lastOffset: 2n, logAppendTimeMs: -1, logStartOffset: 0n });
    expect(log.highWatermark).toBe(3n);
    // A committed write leaves no timer behind.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('acks=all writes complete in offset order as the high watermark passes each', async () => {
    const { partition } = await replica({ isr: [1, 2] });
    const first = track(produce(partition, ['a'], { acks: 'all' }));
    await appended(partition, 1n);
    const second = track(produce(partition, ['b', 'c'], { acks: 'all' }));
    await appended(partition, 3n);
    await fetchAs(partition, 2, 1n);
    await flush();
    expect(first.settled).toBe(true);
    expect(second.settled).toBe(false);
    await fetchAs(partition, 2, 3n);
    expect(await first.promise).toMatchObject({ baseOffset: 0n });
    expect(await second.promise).toMatchObject({ baseOffset: 1n, lastOffset: 2n });
  });

  it('a follower outside the ISR does not hold acks=all back', async () => {
    const { partition } = await replica({ isr: [1, 2] });
    const write = produce(partition, ['a'], { acks: 'all' });
    await appended(partition, 1n);
    await fetchAs(partition, 2, 1n);
    expect(await write).toMatchObject({ baseOffset: 0n });
  });

  it('refuses a control batch from a producer, writing nothing', async () => {
    const { partition, log } = await replica({});
    const control = encodeRecordBatch({ records: [{ value: 'marker' }], isControl: true });
    const error = await refusal(() =>
      partition.appendAsLeader({
        batches: [batchOf(['ok']), control],
        acks: 1,
        leaderEpoch: EPOCH,
        minInsyncReplicas: 1,
        maxBatchBytes: MAX,
        timestampType: 'create-time',
        nowMs: 5_000,
        timeoutMs: 30_000,
      }),
    );
    expect(error.code).toBe('INVALID_RECORD');
    expect(error.details).toEqual({ batchIndex: 1 });
    expect(log.logEndOffset).toBe(0n);
  });

  it('acks=all is NOT_ENOUGH_REPLICAS before the append while the ISR is below min.insync.replicas', async () => {
    const { partition, log } = await replica({ isr: [1] });
    const error = await refusal(() => produce(partition, ['a'], { acks: 'all', minInsyncReplicas: 2 }));
    expect(error.code).toBe('NOT_ENOUGH_REPLICAS');
    expect(error.details).toEqual({ isr: [1], minInsyncReplicas: 2 });
    expect(log.logEndOffset).toBe(0n);
    // acks=1 does not ask for the ISR.
    expect(await produce(partition, ['a'], { minInsyncReplicas: 2 })).toMatchObject({ baseOffset: 0n });
  });

  it('NOT_ENOUGH_REPLICAS_AFTER_APPEND when the controller shrinks the ISR below the minimum first', async () => {
    const { partition, log } = await replica({});
    const write = track(produce(partition, ['a', 'b'], { acks: 'all', minInsyncReplicas: 2 }));
    await appended(partition, 2n);
    const state = partition.leaderState!;
    expect(partition.proposeIsrChange(LAG_MS + 1, LAG_MS, () => true)).toEqual([1]);
    // While the shrink is in flight the followers still count: nothing is committed (KIP-497).
    expect(log.highWatermark).toBe(0n);
    partition.onIsrChangeAnswered(state, { isr: [1], partitionEpoch: 11 });
    const error = await refusal(() => write.promise);
    expect(error.code).toBe('NOT_ENOUGH_REPLICAS_AFTER_APPEND');
    expect(error.details).toEqual({ baseOffset: '0', isr: [1], minInsyncReplicas: 2 });
    // The records were written, and with the ISR down to the leader they are committed.
    expect(log.logEndOffset).toBe(2n);
    expect(log.highWatermark).toBe(2n);
    expect(partition.assignment).toMatchObject({ isr: [1], partitionEpoch: 11 });
  });

  it('NOT_ENOUGH_REPLICAS_AFTER_APPEND when the metadata brings a smaller ISR before the records are replicated', async () => {
    const { partition } = await replica({});
    const write = track(produce(partition, ['a', 'b'], { acks: 'all', minInsyncReplicas: 3 }));
    await appended(partition, 2n);
    await fetchAs(partition, 2, 2n);
    await flush();
    expect(write.settled).toBe(false);
    expect(await partition.applyAssignment(assignment({ partitionEpoch: 11, isr: [1, 2] }), clock)).toBe('isr-changed');
    const error = await refusal(() => write.promise);
    expect(error.code).toBe('NOT_ENOUGH_REPLICAS_AFTER_APPEND');
  });

  it('a shrink that keeps min.insync.replicas commits the write', async () => {
    const { partition } = await replica({});
    const write = produce(partition, ['a'], { acks: 'all', minInsyncReplicas: 2 });
    await appended(partition, 1n);
    await fetchAs(partition, 2, 1n);
    await partition.applyAssignment(assignment({ partitionEpoch: 11, isr: [1, 2] }), clock);
    expect(await write).toMatchObject({ baseOffset: 0n });
  });

  it('the ISR-change answer from an older leader state, a failure, or a stale partition epoch changes nothing', async () => {
    const { partition } = await replica({});
    const old = partition.leaderState!;
    await partition.applyAssignment(assignment({ leaderEpoch: 6 }), clock);
    const state = partition.leaderState!;
    partition.onIsrChangeAnswered(old, { isr: [1], partitionEpoch: 20 });
    expect(partition.assignment.isr).toEqual([1, 2, 3]);

    expect(partition.proposeIsrChange(LAG_MS + 1, LAG_MS, () => true)).toEqual([1]);
    partition.onIsrChangeAnswered(state, undefined);
    expect(state.pendingIsr).toBeUndefined();
    expect(state.isr).toEqual([1, 2, 3]);

    expect(partition.proposeIsrChange(LAG_MS + 1, LAG_MS, () => true)).toEqual([1]);
    partition.onIsrChangeAnswered(state, { isr: [1], partitionEpoch: 9 });
    expect(state.isr).toEqual([1, 2, 3]);
    expect(partition.assignment.partitionEpoch).toBe(10);
    // The proposal is no longer open: a new one may be made.
    expect(state.pendingIsr).toBeUndefined();
  });

  it('acks=all is REQUEST_TIMED_OUT when the ISR does not catch up in time', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { partition, log } = await replica({});
    const write = track(produce(partition, ['a'], { acks: 'all', timeoutMs: 1_500 }));
    await appended(partition, 1n);
    vi.advanceTimersByTime(1_499);
    await flush();
    expect(write.settled).toBe(false);
    vi.advanceTimersByTime(1);
    const error = await refusal(() => write.promise);
    expect(error.code).toBe('REQUEST_TIMED_OUT');
    expect(error.details).toEqual({ baseOffset: '0', timeoutMs: 1_500 });
    // The record stays, and commits later like any other.
    await fetchAs(partition, 2, 1n);
    await fetchAs(partition, 3, 1n);
    expect(log.highWatermark).toBe(1n);
  });

  it('a pending acks=all write fails with NOT_LEADER_OR_FOLLOWER when the replica becomes follower', async () => {
    const { partition } = await replica({});
    const write = track(produce(partition, ['a'], { acks: 'all' }));
    await appended(partition, 1n);
    expect(await partition.applyAssignment(assignment({ leader: 2, leaderEpoch: 6 }), clock)).toBe('became-follower');
    const error = await refusal(() => write.promise);
    expect(error.code).toBe('NOT_LEADER_OR_FOLLOWER');
    expect(error.details).toEqual({ leaderId: 2, leaderEpoch: 6 });
  });

  it('an acks=all write whose append completes after leadership moved is NOT_LEADER_OR_FOLLOWER', async () => {
    const { partition, log } = await replica({});
    const write = produce(partition, ['a'], { acks: 'all' });
    const quick = produce(partition, ['b']);
    await partition.applyAssignment(assignment({ leader: 3, leaderEpoch: 6 }), clock);
    expect((await refusal(() => write)).code).toBe('NOT_LEADER_OR_FOLLOWER');
    // acks=1 asked only for the append, which happened (in the old epoch; truncation sorts it out).
    expect(await quick).toMatchObject({ baseOffset: 1n });
    expect(log.logEndOffset).toBe(2n);
  });

  it('close fails pending writes and refuses new ones', async () => {
    const { partition, log } = await replica({});
    const write = track(produce(partition, ['a'], { acks: 'all' }));
    await appended(partition, 1n);
    const generation = partition.generation;
    partition.close();
    expect(partition.role).toBe('offline');
    expect(partition.leaderState).toBeUndefined();
    expect(partition.generation).toBe(generation + 1);
    const error = await refusal(() => write.promise);
    expect(error.code).toBe('NOT_LEADER_OR_FOLLOWER');
    expect(error.message).toContain('no longer hosted');
    expect((await refusal(() => produce(partition, ['b']))).code).toBe('NOT_LEADER_OR_FOLLOWER');
    expect(log.logEndOffset).toBe(1n);
  });
});

describe('partition: epochs and roles fence requests', () => {
  it('an older request epoch is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH; nothing is written', async () => {
    const { partition, log } = await replica({});
    const fenced = await refusal(() => produce(partition, ['a'], { leaderEpoch: EPOCH - 1 }));
    expect(fenced.code).toBe('FENCED_LEADER_EPOCH');
    expect(fenced.details).toEqual({ leaderId: BROKER, leaderEpoch: EPOCH, requestEpoch: EPOCH - 1 });
    const unknown = await refusal(() => produce(partition, ['a'], { leaderEpoch: EPOCH + 1 }));
    expect(unknown.code).toBe('UNKNOWN_LEADER_EPOCH');
    expect(unknown.details).toEqual({ leaderEpoch: EPOCH, requestEpoch: EPOCH + 1 });
    expect(unknown.retriable).toBe(true);
    expect(log.logEndOffset).toBe(0n);
    // A request that names no epoch is not checked.
    expect(await produce(partition, ['a'], { leaderEpoch: undefined })).toMatchObject({ baseOffset: 0n });
  });

  it('reads are fenced the same way', async () => {
    const { partition } = await replica({});
    expect((await refusal(() => partition.readAsLeader(0n, MAX, true, EPOCH - 1))).code).toBe('FENCED_LEADER_EPOCH');
    expect((await refusal(() => partition.readAsLeader(0n, MAX, true, EPOCH + 1))).code).toBe('UNKNOWN_LEADER_EPOCH');
    expect((await refusal(() => fetchAs(partition, 2, 0n, { currentLeaderEpoch: EPOCH - 1 }))).code).toBe(
      'FENCED_LEADER_EPOCH',
    );
    expect((await refusal(() => fetchAs(partition, 2, 0n, { currentLeaderEpoch: EPOCH + 1 }))).code).toBe(
      'UNKNOWN_LEADER_EPOCH',
    );
    expect(partition.leaderState!.followers().find((f) => f.brokerId === 2)?.logEndOffset).toBe(-1n);
  });

  it('a replica that does not lead says who does, in details', async () => {
    const unassigned = (await replica()).partition;
    const none = await refusal(() => produce(unassigned, ['a']));
    expect(none.code).toBe('NOT_LEADER_OR_FOLLOWER');
    expect(none.details).toEqual({ leaderId: NO_LEADER, leaderEpoch: -1 });

    const { partition, log } = await replica({ leader: 2 });
    for (const run of [
      () => produce(partition, ['a']),
      () => partition.readAsLeader(0n, MAX, true, EPOCH),
      () => fetchAs(partition, 3, 0n),
    ]) {
      const error = await refusal(run);
      expect(error.code).toBe('NOT_LEADER_OR_FOLLOWER');
      expect(error.details).toEqual({ leaderId: 2, leaderEpoch: EPOCH });
      expect(error.message).toContain('broker 2 leads it');
    }
    expect(log.logEndOffset).toBe(0n);

    await partition.applyAssignment(assignment({ leader: NO_LEADER, leaderEpoch: 7 }), clock);
    const offline = await refusal(() => produce(partition, ['a']));
    expect(offline.details).toEqual({ leaderId: NO_LEADER, leaderEpoch: 7 });
    expect(offline.message).toContain('no broker leads it');
  });
});

describe('partition: reads', () => {
  it('a consumer never reads above the high watermark', async () => {
    const { partition } = await replica({ isr: [1, 2] });
    await produce(partition, ['a', 'b']);
    const nothing = await partition.readAsLeader(0n, MAX, true, EPOCH);
    expect(nothing.batches).toEqual([]);
    expect(nothing).toMatchObject({ highWatermark: 0n, logEndOffset: 2n });
    await produce(partition, ['c']);
    await fetchAs(partition, 2, 2n);
    const some = await partition.readAsLeader(0n, MAX, true, undefined);
    expect(values(recordsOf(some.batches))).toEqual(['a', 'b']);
    expect(some.highWatermark).toBe(2n);
    expect((await partition.readAsLeader(2n, MAX, true, EPOCH)).batches).toEqual([]);
    await fetchAs(partition, 2, 3n);
    expect(values(recordsOf((await partition.readAsLeader(0n, MAX, true, EPOCH)).batches))).toEqual(['a', 'b', 'c']);
  });

  it('a follower reads up to the log end and learns the high watermark its own fetch moved', async () => {
    const { partition } = await replica({ isr: [1, 2] });
    await produce(partition, ['a', 'b', 'c']);
    const first = await fetchAs(partition, 2, 0n);
    expect(first.kind).toBe('records');
    expect(values(recordsOf(first.read.batches))).toEqual(['a', 'b', 'c']);
    expect(first.read.highWatermark).toBe(0n);
    const second = await fetchAs(partition, 2, 3n);
    expect(second.read.batches).toEqual([]);
    expect(second.read.highWatermark).toBe(3n);
    expect(second.read.logEndOffset).toBe(3n);
  });

  it('a fetch from past the log end is OFFSET_OUT_OF_RANGE and does not count', async () => {
    const { partition, log } = await replica({ isr: [1, 2] });
    await produce(partition, ['a']);
    expect((await refusal(() => fetchAs(partition, 2, 5n))).code).toBe('OFFSET_OUT_OF_RANGE');
    expect(log.highWatermark).toBe(0n);
  });

  it('a broker that is not a replica may not fetch', async () => {
    const { partition } = await replica({ replicas: [1, 2, 3] });
    const error = await refusal(() => fetchAs(partition, 9, 0n));
    expect(error.code).toBe('NOT_LEADER_OR_FOLLOWER');
    expect(error.message).toContain('not a replica');
  });

  it('an idle session follower counts at the position it last gave, never past the log end', async () => {
    const { partition, log } = await replica({ isr: [1, 2] });
    await produce(partition, ['a', 'b']);
    partition.recordFollowerPosition(2, 7n, 1_000);
    expect(log.highWatermark).toBe(0n);
    partition.recordFollowerPosition(2, 2n, 1_000);
    expect(log.highWatermark).toBe(2n);
  });
});

describe('partition: divergence (KIP-320)', () => {
  /** A leader whose log holds epoch 1 at [0, 3) and epoch 3 at [3, 5). */
  async function twoEpochLeader(isr: number[] = [1, 2, 3]) {
    const { partition, log } = await replica({ leaderEpoch: 1, isr });
    await produce(partition, ['a', 'b', 'c'], { leaderEpoch: 1 });
    await partition.applyAssignment(assignment({ leaderEpoch: 3, isr }), clock);
    await produce(partition, ['d', 'e'], { leaderEpoch: 3 });
    expect(log.leaderEpochCache).toEqual([
      { epoch: 1, startOffset: 0n },
      { epoch: 3, startOffset: 3n },
    ]);
    return { partition, log };
  }

  const fetchIn3 = (
    partition: Partition,
    replicaId: number,
    fetchOffset: bigint,
    lastFetchedEpoch: number | undefined,
  ) => fetchAs(partition, replicaId, fetchOffset, { currentLeaderEpoch: 3, lastFetchedEpoch });

  it('a follower whose last epoch ends earlier here is told where it ends', async () => {
    const { partition } = await twoEpochLeader();
    // Follower 2 wrote offset 3 in epoch 1 under the old leader; here epoch 1 ends at 3.
    const answer = await fetchIn3(partition, 2, 4n, 1);
    expect(answer).toMatchObject({ kind: 'diverging', epoch: 1, endOffset: 3n });
    expect(answer.read.batches).toEqual([]);
    expect(answer.read.logEndOffset).toBe(5n);
  });

  it('a follower whose last epoch this leader never wrote is told the epoch before it', async () => {
    const { partition } = await twoEpochLeader();
    expect(await fetchIn3(partition, 2, 3n, 2)).toMatchObject({ kind: 'diverging', epoch: 1, endOffset: 3n });
    // Older than every epoch here: it ends where the leader's first epoch starts.
    expect(await fetchIn3(partition, 2, 2n, 0)).toMatchObject({ kind: 'diverging', epoch: 0, endOffset: 0n });
  });

  it('a follower whose log agrees gets records from its offset', async () => {
    const { partition } = await twoEpochLeader();
    const atBoundary = await fetchIn3(partition, 2, 3n, 1);
    expect(atBoundary.kind).toBe('records');
    expect(values(recordsOf(atBoundary.read.batches))).toEqual(['d', 'e']);
    expect((await fetchIn3(partition, 3, 5n, 3)).kind).toBe('records');
    // No epoch named (an empty follower log): nothing to check.
    expect((await fetchIn3(partition, 3, 0n, undefined)).kind).toBe('records');
    expect((await fetchIn3(partition, 3, 0n, -1)).kind).toBe('records');
  });

  it('a diverging follower is not counted until it fetches from a position both logs agree on', async () => {
    const { partition, log } = await twoEpochLeader([1, 2]);
    expect((await fetchIn3(partition, 2, 5n, 2)).kind).toBe('diverging');
    expect(partition.leaderState!.followers().find((f) => f.brokerId === 2)?.logEndOffset).toBe(-1n);
    expect(log.highWatermark).toBe(0n);
    expect((await fetchIn3(partition, 2, 3n, 1)).kind).toBe('records');
    expect(log.highWatermark).toBe(3n);
  });
});

describe('partition: the follower appends', () => {
  it("writes the leader's batches and takes min(leader's high watermark, own log end), never going back", async () => {
    const { partition, log } = await replica({ leader: 2 });
    const batches = [leaderBatch(['a', 'b'], 0n, EPOCH), leaderBatch(['c'], 2n, EPOCH)];
    expect(await partition.appendAsFollower(batches, EPOCH, 2n, MAX)).toBe(true);
    expect(log.logEndOffset).toBe(3n);
    expect(log.highWatermark).toBe(2n);
    expect((await readAll(log)).map((r) => [r.offset, r.value])).toEqual([
      [0n, 'a'],
      [1n, 'b'],
      [2n, 'c'],
    ]);
    expect(log.leaderEpochCache).toEqual([{ epoch: EPOCH, startOffset: 0n }]);
    expect(await partition.appendAsFollower([], EPOCH, 10n, MAX)).toBe(true);
    expect(log.highWatermark).toBe(3n);
    expect(await partition.appendAsFollower([], EPOCH, 1n, MAX)).toBe(true);
    expect(log.highWatermark).toBe(3n);
  });

  it('refuses, writing nothing, in a stale or unknown epoch or outside the follower role', async () => {
    const { partition, log } = await replica({ leader: 2 });
    const next = () => [leaderBatch(['x'], 0n, EPOCH)];
    expect(await partition.appendAsFollower(next(), EPOCH - 1, 1n, MAX)).toBe(false);
    expect(await partition.appendAsFollower(next(), EPOCH + 1, 1n, MAX)).toBe(false);
    expect(log.logEndOffset).toBe(0n);

    await partition.applyAssignment(assignment({ leader: NO_LEADER, leaderEpoch: 6 }), clock);
    expect(await partition.appendAsFollower(next(), 6, 1n, MAX)).toBe(false);
    await partition.applyAssignment(assignment({ leaderEpoch: 7 }), clock);
    expect(await partition.appendAsFollower(next(), 7, 1n, MAX)).toBe(false);
    expect(log.logEndOffset).toBe(0n);
  });

  it('a role change during the write leaves the high watermark to the new role', async () => {
    const { partition, log } = await replica({ leader: 2 });
    const writing = partition.appendAsFollower([leaderBatch(['a'], 0n, EPOCH)], EPOCH, 1n, MAX);
    await partition.applyAssignment(assignment({ leader: 3, leaderEpoch: 6 }), clock);
    expect(await writing).toBe(true);
    expect(log.logEndOffset).toBe(1n);
    expect(log.highWatermark).toBe(0n);
  });
});

describe('partition: long-poll notifications', () => {
  it('onceChanged fires once, at an append, a high-watermark move or a role change', async () => {
    const { partition } = await replica({ isr: [1, 2] });
    let calls = 0;
    const count = () => {
      calls++;
    };
    partition.onceChanged(count);
    await produce(partition, ['a']);
    expect(calls).toBe(1);
    await produce(partition, ['b']); // once: not again
    expect(calls).toBe(1);

    partition.onceChanged(count);
    await fetchAs(partition, 2, 0n); // no high-watermark move
    expect(calls).toBe(1);
    await fetchAs(partition, 2, 2n);
    expect(calls).toBe(2);

    partition.onceChanged(count);
    await partition.applyAssignment(assignment({ leader: 2, leaderEpoch: 6 }), clock);
    expect(calls).toBe(3);

    partition.onceChanged(count);
    await partition.appendAsFollower([leaderBatch(['c'], 2n, 6)], 6, 2n, MAX); // the high watermark stays
    expect(calls).toBe(3);
    await partition.appendAsFollower([], 6, 3n, MAX);
    expect(calls).toBe(4);

    partition.onceChanged(count);
    partition.close();
    expect(calls).toBe(5);
  });

  it('a cancelled listener is not called', async () => {
    const { partition } = await replica({ isr: [1] });
    let called = false;
    const cancel = partition.onceChanged(() => {
      called = true;
    });
    cancel();
    await produce(partition, ['a']);
    await partition.applyAssignment(assignment({ leader: 2, leaderEpoch: 6 }), clock);
    expect(called).toBe(false);
    cancel(); // Cancelling twice is harmless.
  });

  it('a listener may register the next one while it is called, which then waits for the next change', async () => {
    const { partition } = await replica({ isr: [1, 2] });
    const seen: string[] = [];
    partition.onceChanged(() => {
      seen.push('first');
      partition.onceChanged(() => seen.push('second'));
    });
    await produce(partition, ['a']);
    expect(seen).toEqual(['first']);
    await produce(partition, ['b']);
    expect(seen).toEqual(['first', 'second']);
  });
});
