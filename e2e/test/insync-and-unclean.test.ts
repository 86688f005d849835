import { isMillraceError } from '@millrace/client';
import { waitFor } from '@millrace/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broker, type Cluster, controller, readLog, startCluster } from '../src/harness.js';

// Scenarios 6 and 7 of the e2e issue, on one cluster: what min.insync.replicas and
// unclean.leader.election.enable promise when replicas are down. Each test brings every broker
// back before it ends.

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

/** The values of `topic`'s records, partition 0, as its leader serves them. */
async function values(topic: string, end: bigint): Promise<string[]> {
  const consumer = cluster.client();
  const log = await readLog(consumer, topic, { atLeast: new Map([[0, end]]) });
  return log.map((r) => (r.id === null ? '?' : `${r.id.stream}/${r.id.seq}`));
}

/** One record, `stream/seq`, so that `values` can read it back. */
const record = (stream: string, seq = 0) => ({ partition: 0, value: `${stream}/${seq}` });

describe('replicas down', () => {
  it('6. with two of three replicas down, min.insync.replicas=2 refuses acks=all writes; acks=1 still succeeds', async () => {
    const topic = 'strict';
    await cluster.createReplicatedTopic(topic, 1);
    const client = cluster.client();
    const all = client.producer({ deliveryTimeoutMs: 3000 });
    const one = client.producer({ acks: 1, idempotent: false, deliveryTimeoutMs: 3000 });
    expect((await all.send({ topic, messages: [record('before')] }))[0]?.offset).toBe(0n);

    const { leader } = await cluster.partition(topic, 0);
    const followers = [1, 2, 3].filter((id) => id !== leader);
    for (const id of followers) await cluster.kill(broker(id));
    await cluster.waitBrokersAlive([leader as number]);
    await cluster.waitPartition(topic, 0, 'an ISR of the leader alone', (p) => p.isr.join() === String(leader));

    // Refused before anything is written, however often the producer retries within its deadline.
    const refused = await all.send({ topic, messages: [record('refused')] }).catch((error: unknown) => error);
    expect(isMillraceError(refused, 'NOT_ENOUGH_REPLICAS'), String(refused)).toBe(true);
    expect((await one.send({ topic, messages: [record('acks-one')] }))[0]?.offset).toBe(1n);
    expect(await values(topic, 2n)).toEqual(['before/0', 'acks-one/0']);

    // The followers come back, catch up and rejoin the ISR: acks=all writes are taken again.
    for (const id of followers) cluster.start(broker(id));
    await cluster.waitBrokersAlive([1, 2, 3]);
    await cluster.waitFullyReplicated(topic);
    expect((await all.send({ topic, messages: [record('healed')] }))[0]?.offset).toBe(2n);
    await Promise.all([all.close(), one.close()]);
  });

  it('7. unclean.leader.election.enable=false: with the ISR gone the partition stays offline; set to true, a live out-of-sync replica leads', async () => {
    const topic = 'unclean';
    await cluster.admin.createTopic({ name: topic, partitions: 1, replicationFactor: 3 });
    await cluster.waitFullyReplicated(topic);
    const client = cluster.client();
    const producer = client.producer({ deliveryTimeoutMs: 3000 });
    await producer.send({ topic, messages: [record('everyone')] });

    // The first follower dies and misses the next write; the second dies and misses the one after.
    const { leader } = await cluster.partition(topic, 0);
    const [behind, other] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
    await cluster.kill(broker(behind));
    await cluster.waitBrokersAlive([leader as number, other]);
    await producer.send({ topic, messages: [record('missed')] });
    await cluster.kill(broker(other));
    await cluster.waitBrokersAlive([leader as number]);
    await cluster.waitPartition(topic, 0, 'an ISR of the leader alone', (p) => p.isr.join() === String(leader));
    await producer.send({ topic, messages: [record('missed', 1)] });

    // The last in-sync replica dies; the one that comes back is out of sync.
    await cluster.kill(broker(leader as number));
    cluster.start(broker(behind));
    await cluster.waitBrokersAlive([behind]);
    const offline = await cluster.waitPartition(topic, 0, 'offline', (p) => p.leader === null);
    expect(offline.isr).toEqual([leader]);
    // Offline it stays: a write finds no leader for its whole delivery timeout, and still none after.
    const refused = await producer.send({ topic, messages: [record('refused')] }).catch((error: unknown) => error);
    expect(isMillraceError(refused), String(refused)).toBe(true);
    expect((await cluster.partition(topic, 0)).leader).toBeNull();
    const active = await cluster.waitActiveController();
    expect(await cluster.metric(controller(active), 'millrace_controller_unclean_elections_total')).toBe(0);

    // Allowed, the out-of-sync replica leads with what it has, and the loss is counted and logged.
    await cluster.admin.alterTopicConfigs(topic, { set: { 'unclean.leader.election.enable': 'true' } });
    expect(await cluster.waitLeader(topic, 0)).toBe(behind);
    expect(await values(topic, 1n)).toEqual(['everyone/0']);
    await waitFor(
      'the active controller to count one unclean election and log it',
      async () =>
        (await cluster.metric(controller(active), 'millrace_controller_unclean_elections_total')) === 1 &&
        cluster.tail(controller(active), 200).includes('unclean leader election'),
      10_000,
    );
    expect((await producer.send({ topic, messages: [record('after')] }))[0]?.offset).toBe(1n);

    // The others come back and cut their divergent records: led by another replica, the log is the same.
    cluster.start(broker(leader as number));
    cluster.start(broker(other));
    await cluster.waitBrokersAlive([1, 2, 3]);
    await cluster.waitFullyReplicated(topic);
    await cluster.kill(broker(behind));
    await cluster.waitLeader(topic, 0, { notIn: [behind] });
    expect(await values(topic, 2n)).toEqual(['everyone/0', 'after/0']);
    cluster.start(broker(behind));
    await cluster.waitBrokersAlive([1, 2, 3]);
    await producer.close();
  });
});
