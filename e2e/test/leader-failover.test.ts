import { waitFor } from '@millrace/test-kit';
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
    await cluster.createReplicatedTopic(topic, 2);
    const client = cluster.client();
    const load = startLoad({ client, topic, partitions: 2 });
    let victim = 0;
    try {
      await load.waitForAcks(500);
      const before = await cluster.partition(topic, 0);
      victim = before.leader as number;
      await cluster.kill(broker(victim));
      const killedAt = load.acked.length;

      // A follower that was in sync leads, in a new leader epoch.
      const after = await cluster.waitPartition(
        topic,
        0,
        'a new leader',
        (p) => p.leader !== null && p.leader !== victim,
      );
      expect(before.isr).toContain(after.leader);
      expect(after.leaderEpoch).toBeGreaterThan(before.leaderEpoch);

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

    // Restarted, the killed broker cuts what it had beyond the new leader's log, catches up and rejoins the ISRs.
    cluster.start(broker(victim));
    await cluster.waitBrokersAlive([1, 2, 3]);
    await cluster.waitFullyReplicated(topic);
  });

  it('a leader frozen with SIGSTOP under acks=all load is replaced; woken, it follows the new leader and its log agrees', async () => {
    const topic = 'frozen';
    await cluster.createReplicatedTopic(topic, 2);
    // Quick PINGs, so that requests stuck at the frozen leader are given up within seconds.
    const client = cluster.client({ pingIntervalMs: 500, pingTimeoutMs: 1000 });
    const load = startLoad({ client, topic, partitions: 2 });
    let frozen: number | undefined;
    try {
      await load.waitForAcks(300);
      const before = await cluster.partition(topic, 0);
      frozen = before.leader as number;
      cluster.pause(broker(frozen));
      await cluster.waitLeader(topic, 0, { notIn: [frozen] });
      await load.waitForMore(500);

      // Woken, it still thinks it leads in the old epoch until the metadata says otherwise; it must
      // not keep any write of that epoch that the new leader does not have.
      cluster.resume(broker(frozen));
      frozen = undefined;
      await cluster.waitBrokersAlive([1, 2, 3]);
      await cluster.waitFullyReplicated(topic);
      await load.waitForMore(300);
    } finally {
      if (frozen !== undefined) cluster.resume(broker(frozen));
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    const report = await checkTopic(client, topic, load.acked);
    expect(report.ok, formatReport(report)).toBe(true);

    // Leadership back to the preferred replicas (the woken broker among them): read through them,
    // the logs hold the same.
    await cluster.admin.electPreferredLeaders();
    await waitFor(
      'every partition led by its preferred replica',
      async () => (await cluster.admin.describeTopic(topic)).partitions.every((p) => p.leader === p.replicas[0]),
      20_000,
    );
    const again = await checkTopic(cluster.client(), topic, load.acked);
    expect(again.ok, formatReport(again)).toBe(true);
    expect(again.read).toBe(report.read);
  });
});
