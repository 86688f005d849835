import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerCluster, startCluster, waitFor } from '../cluster/brokers.js';

let cluster: BrokerCluster;
let leader: number;
beforeAll(async () => {
  cluster = await startCluster({ brokers: 3, config: { logRetentionCheckIntervalMs: 100 } });
  await cluster.ready();
  await cluster.createTopic('api', { partitions: 1, replicationFactor: 3 });
  leader = await cluster.leaderOf('api');
});
afterAll(async () => {
  await cluster.close();
});

describe("the clients' API", () => {
  it('long-polls a fetch at the log end until a produce arrives', async () => {
    const end = (await cluster.listOffsets(leader, 'api', 'latest')).topics[0]?.partitions[0]?.offset as bigint;
    const started = Date.now();
    const fetching = cluster.fetch(leader, 'api', end, { maxWaitMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await cluster.produce(leader, 'api', ['woken']);
    const answer = await fetching;
    expect(answer.values.map((v) => v.value)).toEqual(['woken']);
    expect(Date.now() - started).toBeLessThan(5000);
    // With nothing new, it answers empty once maxWaitMs has passed.
    const after = await cluster.fetch(leader, 'api', end + 1n, { maxWaitMs: 200 });
    expect(after.values).toEqual([]);
    expect(after.error).toBeUndefined();
  });

  it('lists the earliest, the latest and the offset at a time', async () => {
    const before = Date.now();
    await cluster.produce(leader, 'api', ['t1', 't2']);
    const earliest = (await cluster.listOffsets(leader, 'api', 'earliest')).topics[0]?.partitions[0];
    const latest = (await cluster.listOffsets(leader, 'api', 'latest')).topics[0]?.partitions[0];
    const atTime = (await cluster.listOffsets(leader, 'api', { timestampMs: before })).topics[0]?.partitions[0];
    const future = (await cluster.listOffsets(leader, 'api', { timestampMs: Date.now() + 60_000 })).topics[0]
      ?.partitions[0];
    expect(earliest?.offset).toBe(0n);
    expect(latest?.offset).toBe((atTime?.offset as bigint) + 2n);
    expect(atTime?.timestampMs).toBeGreaterThanOrEqual(before);
    expect(future?.offset).toBeUndefined();
  });

  it('answers acks=0 at once and still writes', async () => {
    const end = (await cluster.listOffsets(leader, 'api', 'latest')).topics[0]?.partitions[0]?.offset as bigint;
    expect(await cluster.produce(leader, 'api', ['fire-and-forget'], { acks: 0 })).toBeUndefined();
    await waitFor('the write', async () => {
      const answer = await cluster.fetch(leader, 'api', end);
      return answer.values.some((v) => v.value === 'fire-and-forget');
    });
  });

  it('applies retention on schedule, on the leader and the followers', async () => {
    await cluster.createTopic('short-lived', { partitions: 1, replicationFactor: 3 });
    const l = await cluster.leaderOf('short-lived');
    for (let i = 0; i < 3; i++) await cluster.produce(l, 'short-lived', [`old-${i}`]);
    await cluster.alterConfigs({ topic: 'short-lived' }, { 'retention.ms': '1' });
    const topicId = (await cluster.partitionState('short-lived'))?.topicId as string;
    for (const broker of cluster.brokers.values()) {
      await waitFor('retention', () => broker.manager.get(topicId, 0)?.log.logStartOffset === 3n);
    }
    const earliest = (await cluster.listOffsets(l, 'short-lived', 'earliest')).topics[0]?.partitions[0];
    expect(earliest?.offset).toBe(3n);
  });

  it('exposes its metrics', async () => {
    const response = await cluster.client(leader).request({ method: 'GET', path: '/metrics' });
    const text = await response.body.text();
    for (const name of [
      'millrace_broker_under_replicated_partitions',
      'millrace_broker_offline_partitions',
      'millrace_broker_isr_shrinks_total',
      'millrace_broker_bytes_in_total',
      'millrace_broker_records_in_total',
      'millrace_broker_produce_latency_seconds_bucket',
      'millrace_broker_fetch_latency_seconds_bucket',
      'millrace_broker_replica_lag_records',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/millrace_broker_records_in_total \d+/);
    expect(Number(/millrace_broker_records_in_total (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
  });
});
