import { createFrameSession } from '@millrace/http';
import { encodeProduceRequest, encodeRecordBatch, ProduceResponseSchema, Routes } from '@millrace/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { type BrokerCluster, startCluster, waitFor } from '../cluster/brokers.js';

let cluster: BrokerCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('produce and fetch on RF 3', () => {
  it('acknowledges acks=all once the ISR has the records, and every broker agrees on metadata', async () => {
    cluster = await startCluster({ brokers: 3 });
    await cluster.ready();
    await cluster.createTopic('orders', { partitions: 1, replicationFactor: 3 });
    const leader = await cluster.leaderOf('orders');
    const first = await cluster.produce(leader, 'orders', ['a', 'b', 'c']);
    expect(first?.error).toBeUndefined();
    expect(first?.baseOffset).toBe(0n);
    const second = await cluster.produce(leader, 'orders', ['d']);
    expect(second?.baseOffset).toBe(3n);
    const read = await cluster.readAll(leader, 'orders');
    expect(read.map((r) => r.value)).toEqual(['a', 'b', 'c', 'd']);
    // Followers have every acknowledged record in their logs.
    const meta = await cluster.metadata(leader, ['orders']);
    const topicId = meta.topics[0]?.topicId as string;
    for (const broker of cluster.brokers.values()) {
      await waitFor('follower caught up', () => broker.manager.get(topicId, 0)?.log.logEndOffset === 4n);
    }
    for (const id of cluster.brokers.keys()) {
      const other = await cluster.metadata(id, ['orders']);
      expect(other.topics).toEqual(meta.topics);
    }
  });
});

describe('one connection’s produce requests', () => {
  it('are appended in the order they were sent, even when a later, smaller one arrives first', async () => {
    cluster = await startCluster({ brokers: 1 });
    await cluster.ready();
    await cluster.createTopic('ordered', { partitions: 1, replicationFactor: 1 });
    const leader = await cluster.leaderOf('ordered');
    const session = createFrameSession(`http://127.0.0.1:${cluster.ports[leader - 1]}`);
    try {
      const request = (values: string[]) =>
        session.sendFrame({
          path: Routes.produce,
          body: encodeProduceRequest({
            acks: 1,
            timeoutMs: 5000,
            topics: [
              {
                topic: 'ordered',
                partitions: [
                  { partition: 0, records: encodeRecordBatch({ records: values.map((value) => ({ value })) }) },
                ],
              },
            ],
          }),
          responseSchema: ProduceResponseSchema,
          timeoutMs: 15_000,
        });
      // The first body is 900 KiB (under max.message.bytes): HTTP/2 flow control makes it arrive over many round trips, while
      // the second, a few bytes, is complete at once.
      const big = 'x'.repeat(900 * 1024);
      const [first, second] = await Promise.all([request([big]), request(['small'])]);
      expect(first.topics[0]?.partitions[0]?.baseOffset).toBe(0n);
      expect(second.topics[0]?.partitions[0]?.baseOffset).toBe(1n);
    } finally {
      await session.close();
    }
  });
});
