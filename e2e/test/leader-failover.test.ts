import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport } from '../src/checker.js';
import { broker, type Cluster, checkTopic, startCluster } from '../src/harness.js';
import { startLoad } from '../src/load.js';

// Scenario 4 of the e2e issue: the leader of a partition is killed -9 under continuous acks=all
// production.

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

describe('leader failover', () => {
  it('4. kill -9 of a leader under acks=all load: a follower takes over, the producer goes on, every acknowledged record is read back once, in order', async () => {
    const topic = 'ledger';
    await cluster.admin.createTopic({
      name: topic,
      partitions: 2,
      replicationFactor: 3,
      configs: { 'min.insync.replicas': '2' },
    });
    await cluster.waitFullyReplicated(topic);
    const client = cluster.client();
    const load = startLoad({ client, topic, partitions: 2 });
    try {
      await load.waitForAcks(500);
      const before = await cluster.partition(topic, 0);
      const victim = before.leader as number;
      await cluster.kill(broker(victim));
      const killedAt = load.acked.length;

      // A follower that was in sync leads, in a new leader epoch.
      const successor = await cluster.waitLeader(topic, 0, { notIn: [victim] });
      expect(before.isr).toContain(successor);
      expect((await cluster.partition(topic, 0)).leaderEpoch).toBeGreaterThan(before.leaderEpoch);

      // The producer goes on: records of the partition that lost its leader are acknowledged again.
      await load.waitForMore(1000);
      expect(load.acked.slice(killedAt).filter((r) => r.partition === 0).length).toBeGreaterThan(0);
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);

    const report = await checkTopic(client, topic, load.acked);
    expect(report.ok, formatReport(report)).toBe(true);
    expect(report.acknowledged).toBe(load.acked.length);
  });
});
