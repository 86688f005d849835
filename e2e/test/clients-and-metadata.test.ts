import { freePorts, waitFor } from '@millrace/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broker, type Cluster, readLog, startCluster } from '../src/harness.js';

// Scenarios 1–3 of the e2e issue, on one cluster of three controllers and three brokers, in order:
// the last one adds a broker and kills another.

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

const RECORDS_IN = 'millrace_broker_records_in_total';
const FAILED_PRODUCES = 'millrace_broker_failed_produce_partitions_total';

/** Each broker's metric, by broker id. */
async function metrics(ids: readonly number[], name: string): Promise<Map<number, number>> {
  return new Map(await Promise.all(ids.map(async (id) => [id, await cluster.metric(broker(id), name)] as const)));
}

/**
 * What `topic` looks like in every running broker's metadata, once they all serve the same
 * (bounded wait: brokers apply the metadata log each at its own pace). Fails if they never agree.
 */
async function agreedMetadata(topic: string, ids: readonly number[]) {
  let answers: string[] = [];
  return waitFor(
    () => `every broker serving the same metadata for ${topic}:\n${answers.join('\n')}`,
    async () => {
      const served = await Promise.all(ids.map((id) => cluster.brokerMetadata(id, [topic])));
      const views = served.map((m) => ({
        brokers: m.brokers.map((b) => b.brokerId).sort((a, b) => a - b),
        controllerId: m.controllerId,
        topics: m.topics,
      }));
      answers = views.map((v, i) => `broker ${ids[i]}: ${JSON.stringify(v)}`);
      const first = JSON.stringify(views[0]);
      return views.every((v) => JSON.stringify(v) === first) ? (views[0] as (typeof views)[number]) : undefined;
    },
    20_000,
  );
}

describe('clients and metadata', () => {
  it('1. a client given two bootstrap addresses, the first dead, gets metadata and produces', async () => {
    const [deadPort] = await freePorts(1);
    const client = cluster.client({ bootstrap: [`127.0.0.1:${deadPort}`, cluster.processes.bootstrap[0] as string] });
    const created = await client.admin().createTopic({ name: 'first-dead', partitions: 1, replicationFactor: 3 });
    expect(created.partitions).toHaveLength(1);
    await client.refreshMetadata(['first-dead']);
    // The metadata came from the live broker and names every broker of the cluster.
    expect(
      client
        .brokers()
        .map((b) => b.brokerId)
        .sort(),
    ).toEqual([1, 2, 3]);
    const producer = client.producer();
    const [written] = await producer.send({ topic: 'first-dead', messages: [{ value: 'through the second address' }] });
    await producer.close();
    expect(written?.offset).toBe(0n);
    const log = await readLog(client, 'first-dead', { atLeast: new Map([[0, 1n]]) });
    expect(log).toHaveLength(1);
  });

  it('2. records go to the partition leader; the metadata every broker serves agrees', async () => {
    const topic = 'placed';
    await cluster.admin.createTopic({ name: topic, partitions: 3, replicationFactor: 3 });
    await cluster.waitFullyReplicated(topic);
    const ids = [1, 2, 3];
    const agreed = await agreedMetadata(topic, ids);
    // Every broker serves what the active controller has.
    const described = await cluster.admin.describeTopic(topic);
    expect(agreed.brokers).toEqual(ids);
    expect(
      agreed.topics[0]?.partitions.map(({ partition, leader, leaderEpoch, replicas, isr }) => ({
        partition,
        leader,
        leaderEpoch,
        replicas,
        isr,
      })),
    ).toEqual(
      described.partitions.map(({ partition, leader, leaderEpoch, replicas, isr }) => ({
        partition,
        leader,
        leaderEpoch,
        replicas,
        isr,
      })),
    );

    // Partition p gets 10·(p+1) records: each broker's count of records produced to partitions it
    // leads must grow by exactly the records of the partitions it leads, and no broker may have
    // refused a partition (a produce sent to a follower is refused NOT_LEADER_OR_FOLLOWER).
    const leaders = new Map(described.partitions.map((p) => [p.partition, p.leader as number]));
    const recordsBefore = await metrics(ids, RECORDS_IN);
    const failedBefore = await metrics(ids, FAILED_PRODUCES);
    const client = cluster.client();
    const producer = client.producer();
    for (let p = 0; p < 3; p++) {
      await producer.send({
        topic,
        messages: Array.from({ length: 10 * (p + 1) }, (_, i) => ({ partition: p, value: `p${p}-${i}` })),
      });
    }
    await producer.close();
    const recordsAfter = await metrics(ids, RECORDS_IN);
    const failedAfter = await metrics(ids, FAILED_PRODUCES);
    expect((await cluster.admin.describeTopic(topic)).partitions.map((p) => p.leader)).toEqual([...leaders.values()]);
    for (const id of ids) {
      const led = [...leaders].filter(([, leader]) => leader === id).map(([p]) => p);
      const expected = led.reduce((sum, p) => sum + 10 * (p + 1), 0);
      expect((recordsAfter.get(id) as number) - (recordsBefore.get(id) as number), `broker ${id} leads ${led}`).toBe(
        expected,
      );
      expect((failedAfter.get(id) as number) - (failedBefore.get(id) as number), `broker ${id} refusals`).toBe(0);
    }
    const log = await readLog(client, topic);
    for (let p = 0; p < 3; p++) expect(log.filter((r) => r.partition === p)).toHaveLength(10 * (p + 1));
  });

  it('3. an added broker is seen by clients and gets replicas of a new topic; a killed one is seen as gone and its leaderships move', async () => {
    const client = cluster.client();
    await client.refreshMetadata();
    expect(client.brokers()).toHaveLength(3);

    const added = await cluster.addBroker();
    expect(added).toBe(4);
    await cluster.waitBrokersAlive([1, 2, 3, 4]);
    // The client made before the broker existed learns of it from the metadata.
    await waitFor(
      'the client to know broker 4',
      async () => {
        await client.refreshMetadata();
        return client.brokers().some((b) => b.brokerId === added);
      },
      10_000,
    );
    expect((await agreedMetadata('placed', [1, 2, 3, 4])).brokers).toEqual([1, 2, 3, 4]);

    // Four partitions of three replicas over four brokers: placement gives each broker three.
    const topic = 'after-growth';
    const created = await cluster.admin.createTopic({ name: topic, partitions: 4, replicationFactor: 3 });
    expect(created.partitions.filter((p) => p.replicas.includes(added))).toHaveLength(3);
    const producer = client.producer();
    await producer.send({
      topic,
      messages: Array.from({ length: 40 }, (_, i) => ({ partition: i % 4, value: `r${i}` })),
    });
    // Replicas of the new broker have caught up: it is back in every ISR it belongs to.
    await cluster.waitFullyReplicated(topic);
    expect(await cluster.metric(broker(added), 'millrace_broker_replica_partitions')).toBe(3);

    // Kill -9 a broker that leads partitions of the new topic.
    const victim = await cluster.waitLeader(topic, 0);
    await cluster.kill(broker(victim));
    const live = [1, 2, 3, 4].filter((id) => id !== victim);
    await cluster.waitBrokersAlive(live);
    await waitFor(
      `broker ${victim} fenced`,
      async () =>
        (await cluster.admin.describeCluster()).brokers.find((b) => b.brokerId === victim)?.state === 'fenced',
      10_000,
    );
    await waitFor(
      `every partition of ${topic} led by a live broker`,
      async () => {
        const partitions = (await cluster.admin.describeTopic(topic)).partitions;
        return partitions.every((p) => p.leader !== null && p.leader !== victim && !p.isr.includes(victim));
      },
      20_000,
    );
    // Clients and every live broker's metadata drop the killed broker.
    await waitFor(
      `the client to forget broker ${victim}`,
      async () => {
        await client.refreshMetadata();
        return !client.brokers().some((b) => b.brokerId === victim);
      },
      10_000,
    );
    const agreed = await agreedMetadata(topic, live);
    expect(agreed.brokers).toEqual(live);
    expect(agreed.topics[0]?.partitions.every((p) => p.leader !== victim && p.leader !== null)).toBe(true);
    // Writes to every partition go on.
    const after = await producer.send({
      topic,
      messages: Array.from({ length: 4 }, (_, i) => ({ partition: i, value: `after-${i}` })),
    });
    expect(after.map((r) => r.offset)).toEqual([10n, 10n, 10n, 10n]);
    await producer.close();
  });
});
