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
