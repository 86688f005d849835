import { encodeRecordBatch, MillraceError, setBaseOffset } from '@millrace/protocol';
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../src/byte-budget.js';
import { decodeRecords } from '../src/consumer/consumer.js';
import { ClusterMetadata } from '../src/metadata.js';
import { withOverride } from '../src/options.js';
import { PartitionQueue } from '../src/producer/partition-queue.js';
import { backoffMs, retryDefaults, withRetry } from '../src/retry.js';

describe('retry', () => {
  it('backs off exponentially within the jitter band, capped at maxRetryTimeMs', () => {
    const options = { ...retryDefaults, initialRetryTimeMs: 100, multiplier: 2, factor: 0.2, maxRetryTimeMs: 1000 };
    expect(backoffMs(options, 0, 0.5)).toBe(100);
    expect(backoffMs(options, 0, 0)).toBe(80);
    expect(backoffMs(options, 0, 0.999999)).toBe(120);
    expect(backoffMs(options, 3, 0.5)).toBe(800);
    expect(backoffMs(options, 10, 0.999)).toBe(1000);
  });

  it('retries retriable errors, surfaces others at once, and gives up at the retry count or the deadline', async () => {
    const fast = { ...retryDefaults, initialRetryTimeMs: 1, maxRetryTimeMs: 2, retries: 3 };
    let calls = 0;
    await expect(
      withRetry('x', fast, async () => {
        calls++;
        if (calls < 3) throw new MillraceError('NOT_LEADER_OR_FOLLOWER');
        return 'done';
      }),
    ).resolves.toBe('done');
    calls = 0;
    await expect(
      withRetry('x', fast, async () => {
        calls++;
        throw new MillraceError('MESSAGE_TOO_LARGE');
      }),
    ).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    expect(calls).toBe(1);
    calls = 0;
    const gaveUp = await withRetry('Sending', fast, async () => {
      calls++;
      throw new MillraceError('LEADER_NOT_AVAILABLE');
    }).catch((e: unknown) => e as MillraceError);
    expect(calls).toBe(4);
    expect(gaveUp).toMatchObject({ code: 'LEADER_NOT_AVAILABLE', details: { attempts: 4 } });
    expect(gaveUp.message).toMatch(/^Sending failed after 4 attempts/);
    let clock = 0;
    calls = 0;
    await withRetry(
      'x',
      { ...fast, retries: 100, deadlineMs: 10, initialRetryTimeMs: 4, maxRetryTimeMs: 4, factor: 0 },
      async () => {
        calls++;
        clock += 1;
        throw new MillraceError('REQUEST_TIMED_OUT');
      },
      { now: () => clock },
    ).catch(() => undefined);
    expect(calls).toBeLessThan(10);
  });
});

describe('PartitionQueue: the idempotent producer’s ordering rules', () => {
  function queueWith(batches: number): PartitionQueue {
    const queue = new PartitionQueue('t', 0);
    for (let i = 0; i < batches; i++) {
      queue.open = queue.newBatch(0, 1000);
      queue.open.records.push({ value: `r${i}` }, { value: `s${i}` });
      queue.close();
    }
    return queue;
  }

  it('numbers batches on first send, up to maxInFlight at once', () => {
    const queue = queueWith(7);
    const sent = [];
    for (let batch = queue.sendable(0, 5); batch !== undefined; batch = queue.sendable(0, 5)) {
      queue.sent(batch, true);
      sent.push(batch.baseSequence);
    }
    expect(sent).toEqual([0, 2, 4, 6, 8]);
    expect(queue.inFlight).toHaveLength(5);
  });

  it('a failed batch goes back before later ones and is sent alone; the others follow it in order', () => {
    const queue = queueWith(3);
    const [a, b, c] = [0, 1, 2].map(() => {
      const batch = queue.sendable(0, 5);
      if (batch === undefined) throw new Error('expected a batch');
      queue.sent(batch, true);
      return batch;
    }) as [
      NonNullable<ReturnType<PartitionQueue['sendable']>>,
      ...NonNullable<ReturnType<PartitionQueue['sendable']>>[],
    ];
    // a fails (say, NOT_LEADER); b and c then meet OUT_OF_ORDER at the broker.
    queue.answered(a);
    queue.requeue(a, 10);
    expect(queue.sendable(5, 5)).toBeUndefined(); // backoff
    expect(queue.sendable(10, 5)).toBeUndefined(); // b and c still in flight: a retry goes alone
    queue.answered(c as typeof a);
    expect(queue.hasEarlierUnacknowledged(c as typeof a)).toBe(true);
    queue.requeue(c as typeof a, 10);
    queue.answered(b as typeof a);
    queue.requeue(b as typeof a, 10);
    expect(queue.ready.map((x) => x.baseSequence)).toEqual([0, 2, 4]);
    const next = queue.sendable(10, 5);
    expect(next?.baseSequence).toBe(0);
    queue.sent(next as typeof a, true);
    expect(queue.sendable(10, 5)).toBeUndefined();
    expect(queue.inFlight.map((x) => x.baseSequence)).toEqual([0]);
    expect(queue.nextSequence).toBe(6);
  });
});

describe('ClusterMetadata', () => {
  const answer = (leaderEpoch: number, leader: number) => ({
    clusterId: 'c',
    brokerId: 1,
    controllerId: null,
    metadataOffset: 1,
    brokers: [
      { brokerId: 1, endpoint: { host: '127.0.0.1', port: 9001 }, rack: null },
      { brokerId: 2, endpoint: { host: '127.0.0.1', port: 9002 }, rack: null },
    ],
    topics: [
      {
        name: 'orders',
        topicId: '00000000-0000-4000-8000-000000000000',
        partitions: [{ partition: 0, leader, leaderEpoch, replicas: [1, 2], isr: [1, 2], offlineReplicas: [] }],
      },
      {
        name: 'ghost',
        topicId: null,
        partitions: [],
        error: { code: 'UNKNOWN_TOPIC_OR_PARTITION' as const, message: 'no', retriable: true },
      },
    ],
  });

  it('knows leaders, takes newer hints, and ignores an older answer after a hint', () => {
    const metadata = new ClusterMetadata();
    metadata.apply(answer(3, 1), 0);
    expect(metadata.leader('orders', 0)).toEqual({ brokerId: 1, origin: 'http://127.0.0.1:9001', leaderEpoch: 3 });
    expect(
      metadata.applyLeaderHint('orders', 0, {
        leaderId: 2,
        leaderEpoch: 4,
        endpoint: { host: '127.0.0.1', port: 9002 },
      }),
    ).toBe(true);
    expect(metadata.leader('orders', 0).brokerId).toBe(2);
    metadata.apply(answer(3, 1), 1);
    expect(metadata.leader('orders', 0)).toMatchObject({ brokerId: 2, leaderEpoch: 4 });
    expect(
      metadata.applyLeaderHint('orders', 0, {
        leaderId: 1,
        leaderEpoch: 2,
        endpoint: { host: '127.0.0.1', port: 9001 },
      }),
    ).toBe(false);
  });

  it('unknown topics and partitions, and leaderless partitions, are typed errors', () => {
    const metadata = new ClusterMetadata();
    metadata.apply(answer(3, 1), 0);
    expect(() => metadata.leader('ghost', 0)).toThrow(expect.objectContaining({ code: 'UNKNOWN_TOPIC_OR_PARTITION' }));
    expect(() => metadata.leader('orders', 5)).toThrow(/no partition 5/);
    expect(() => metadata.leader('never-asked', 0)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_TOPIC_OR_PARTITION' }),
    );
    const leaderless = answer(3, 1);
    (leaderless.topics[0]?.partitions[0] as { leader: number | null }).leader = null;
    metadata.apply(leaderless, 0);
    expect(() => metadata.leader('orders', 0)).toThrow(expect.objectContaining({ code: 'LEADER_NOT_AVAILABLE' }));
  });

  it('freshness follows the maximum age, and invalidation', () => {
    const metadata = new ClusterMetadata();
    metadata.apply(answer(3, 1), 1000);
    expect(metadata.isFresh('orders', 1500, 1000)).toBe(true);
    expect(metadata.isFresh('orders', 2000, 1000)).toBe(false);
    metadata.invalidate('orders');
    expect(metadata.isFresh('orders', 1001, 1000)).toBe(false);
  });
});

describe('withOverride', () => {
  it('a producer’s retry override changes only the fields it gives', () => {
    const client = { ...retryDefaults, deadlineMs: 5_000, retries: 3 };
    expect(withOverride(client, { retries: 7 })).toEqual({ ...client, retries: 7 });
    expect(withOverride(client, undefined)).toBe(client);
    expect(withOverride(client, { retries: undefined })).toEqual(client);
  });
});

describe('ByteBudget', () => {
  it('waits first come first served, refuses what can never fit, and fails waiters on close', async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(60, 'a');
    const order: string[] = [];
    const b = budget.acquire(50, 'b').then(() => order.push('b'));
    const c = budget.acquire(10, 'c').then(() => order.push('c'));
    await Promise.resolve();
    expect(order).toEqual([]);
    budget.release(60);
    await Promise.all([b, c]);
    expect(order).toEqual(['b', 'c']);
    await expect(budget.acquire(101, 'd')).rejects.toMatchObject({ code: 'RECORD_LIST_TOO_LARGE' });
    const e = budget.acquire(90, 'e');
    budget.close(new MillraceError('CLIENT_CLOSED'));
    await expect(e).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });
});

describe('decodeRecords', () => {
  it('skips records before the fetch offset and control batches, and continues after the last batch', () => {
    const first = encodeRecordBatch({ records: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
    setBaseOffset(first, 10n);
    const control = encodeRecordBatch({ records: [{ value: null }], isControl: true });
    setBaseOffset(control, 13n);
    const last = encodeRecordBatch({ records: [{ value: 'd', key: 'k', headers: { h: 'v' } }] });
    setBaseOffset(last, 14n);
    const { messages, nextOffset } = decodeRecords('t', 0, Buffer.concat([first, control, last]), 11n);
    expect(messages.map((m) => [m.offset, m.value?.toString()])).toEqual([
      [11n, 'b'],
      [12n, 'c'],
      [14n, 'd'],
    ]);
    expect(messages[2]?.headers.h?.toString()).toBe('v');
    expect(nextOffset).toBe(15n);
    expect(decodeRecords('t', 0, Buffer.alloc(0), 7n)).toEqual({ messages: [], nextOffset: 7n });
  });

  it('a corrupt batch is CORRUPT_MESSAGE', () => {
    const batch = encodeRecordBatch({ records: [{ value: 'a' }] });
    batch.writeUInt8((batch.at(-1) as number) ^ 0xff, batch.length - 1);
    expect(() => decodeRecords('t', 0, batch, 0n)).toThrow(expect.objectContaining({ code: 'CORRUPT_MESSAGE' }));
  });
});
