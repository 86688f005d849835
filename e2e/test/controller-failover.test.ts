import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport } from '../src/checker.js';
import { broker, type Cluster, checkTopic, controller, startCluster } from '../src/harness.js';
import { startLoad } from '../src/load.js';

// Scenario 5 of the e2e issue: the active controller is killed -9 under acks=all load.

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

describe('controller failover', () => {
  it('5. kill -9 of the active controller: another becomes active; topic creation and broker failover keep working', async () => {
    const topic = 'orders';
    await cluster.createReplicatedTopic(topic, 2);
    const client = cluster.client();
    const load = startLoad({ client, topic, partitions: 2 });
    try {
      await load.waitForAcks(300);
      const active = await cluster.waitActiveController();
      const { term } = await cluster.admin.describeQuorum();
      await cluster.kill(controller(active));

      // Another controller is active, in a later term, and every running controller agrees.
      const successor = await cluster.waitActiveController({ notIn: [active] });
      const quorum = await cluster.admin.describeQuorum();
      expect(quorum.leaderId).toBe(successor);
      expect(quorum.term).toBeGreaterThan(term);

      // The new active controller creates topics and places them on every live broker.
      const created = await cluster.admin.createTopic({ name: 'after-failover', partitions: 3, replicationFactor: 3 });
      expect(created.partitions.map((p) => p.replicas.length)).toEqual([3, 3, 3]);
      await cluster.waitFullyReplicated('after-failover');
      const producer = client.producer();
      const written = await producer.send({
        topic: 'after-failover',
        messages: [0, 1, 2].map((partition) => ({ partition, value: `p${partition}` })),
      });
      await producer.close();
      expect(written.map((r) => r.offset)).toEqual([0n, 0n, 0n]);

      // It fences a broker killed -9 and moves its leaderships: the load goes on.
      const victim = await cluster.waitLeader(topic, 0);
      await cluster.kill(broker(victim));
      await cluster.waitLeader(topic, 0, { notIn: [victim] });
      await load.waitForMore(500);

      // Both come back: the old controller rejoins the quorum and catches up; the broker rejoins the ISRs.
      cluster.start(controller(active));
      cluster.start(broker(victim));
      await cluster.waitQuorumCaughtUp();
      await cluster.waitBrokersAlive([1, 2, 3]);
      await cluster.waitFullyReplicated(topic);
      await load.waitForMore(200);
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    const report = await checkTopic(client, topic, load.acked);
    expect(report.ok, formatReport(report)).toBe(true);
  });
});
