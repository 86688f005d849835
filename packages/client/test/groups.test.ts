import { fileURLToPath } from 'node:url';
import { type ProcessCluster, startProcessCluster, tail, waitFor } from '@millrace/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Consumer, Millrace, type TopicPartition } from '../src/index.js';

// Consumer groups through the SDK, against three controller and three broker processes: members
// share partitions evenly, hand them over on join and leave without two owners, commit as they go,
// and a new member resumes from the committed offsets.

const BROKER_MAIN = fileURLToPath(new URL('../../../apps/broker/dist/main.js', import.meta.url));
const CONTROLLER_MAIN = fileURLToPath(new URL('../../../apps/controller/dist/main.js', import.meta.url));

let cluster: ProcessCluster;
let client: Millrace;

beforeAll(async () => {
  cluster = await startProcessCluster({
    controllerMain: CONTROLLER_MAIN,
    brokerMain: BROKER_MAIN,
    brokerFlags: [
      ...['--heartbeat-interval-ms', '200', '--replica-fetch-wait-max-ms', '200'],
      ...['--group-session-timeout-ms', '6000', '--group-heartbeat-interval-ms', '2000'],
    ],
    controllerFlags: ['--broker-session-timeout-ms', '1500'],
  });
  await cluster.waitReady();
  client = new Millrace({ bootstrap: cluster.bootstrap, token: cluster.adminToken, logLevel: 'nothing' });
  const admin = client.admin();
  await waitFor(
    'every broker alive',
    async () => (await admin.describeCluster()).brokers.filter((b) => b.state === 'alive').length === 3,
    30_000,
  );
  await admin.alterClusterConfigs({ set: { 'offsets.topic.num.partitions': 6 } });
}, 60_000);

afterAll(async () => {
  if (process.env.MILLRACE_LOG !== undefined)
    for (const [name, proc] of cluster.procs) console.log(name, tail(proc, 40));
  await client?.close();
  await cluster?.close();
}, 30_000);

interface Member {
  readonly consumer: Consumer;
  readonly owned: Set<string>;
  readonly seen: { key: string; offset: bigint; member: number }[];
  readonly done: Promise<void>;
}

const name = (tp: TopicPartition) => `${tp.topic}-${tp.partition}`;

/** A group member that records what it reads and the partitions it owns, as its listener hears. */
function member(index: number, groupId: string, topics: string[] | RegExp, all: Member[]): Member {
  const consumer = client.consumer({ groupId, autoOffsetReset: 'earliest', maxWaitMs: 200, autoCommitIntervalMs: 500 });
  const owned = new Set<string>();
  const seen: Member['seen'] = [];
  consumer.subscribe(topics, {
    onAssigned: (partitions) => {
      for (const tp of partitions) {
        // Never two owners: no other live member owns what this one is given.
        for (const other of all) if (other.owned.has(name(tp))) throw new Error(`${name(tp)} given twice`);
        owned.add(name(tp));
      }
    },
    onRevoked: (partitions) => {
      for (const tp of partitions) owned.delete(name(tp));
    },
    onLost: (partitions) => {
      for (const tp of partitions) owned.delete(name(tp));
    },
  });
  const done = consumer.run({
    eachMessage: (message) => {
      seen.push({ key: `${message.topic}-${message.partition}`, offset: message.offset, member: index });
    },
  });
  const entry = { consumer, owned, seen, done };
  all.push(entry);
  return entry;
}

async function produce(topic: string, count: number): Promise<void> {
  const producer = client.producer();
  await producer.sendBatch([
    { topic, messages: Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) },
  ]);
  await producer.close();
}

describe('consumer groups through the SDK', () => {
  it('three members share six partitions evenly, read every record once, and hand over on leave', async () => {
    await client.admin().createTopic({ name: 'orders', partitions: 6, replicationFactor: 3 });
    await produce('orders', 600);
    const all: Member[] = [];
    const members = [0, 1, 2].map((i) => member(i, 'billing', ['orders'], all));
    await waitFor(
      'two partitions each, and all 600 read',
      () => members.every((m) => m.owned.size === 2) && members.reduce((n, m) => n + m.seen.length, 0) >= 600,
      30_000,
    );
    const read = members.flatMap((m) => m.seen);
    expect(new Set(read.map((r) => `${r.key}@${r.offset}`)).size).toBe(600);
    expect(read).toHaveLength(600);

    // One leaves (commits, gives up its partitions); the others take them over and read on
    // from its commits: new records are read once.
    const leaving = members[2] as Member;
    await leaving.consumer.close();
    all.splice(all.indexOf(leaving), 1);
    await waitFor('three partitions each', () => members.slice(0, 2).every((m) => m.owned.size === 3), 20_000);
    await produce('orders', 300);
    await waitFor('900 records read', () => members.reduce((n, m) => n + m.seen.length, 0) >= 900, 20_000);
    const after = members.flatMap((m) => m.seen);
    expect(new Set(after.map((r) => `${r.key}@${r.offset}`)).size).toBe(900);
    expect(after).toHaveLength(900);
    for (const m of members.slice(0, 2)) await m.consumer.close();

    // The group is empty: its committed offsets cover everything read.
    const restarted = member(9, 'billing', ['orders'], []);
    await produce('orders', 60);
    await waitFor('the 60 new records', () => restarted.seen.length >= 60, 20_000);
    expect(restarted.seen.length).toBe(60);
    await restarted.consumer.close();
  }, 90_000);

  it('admin: list, describe with lag, reset offsets of an empty group, delete', async () => {
    await client.admin().createTopic({ name: 'ledger', partitions: 3, replicationFactor: 3 });
    await produce('ledger', 90);
    const admin = client.admin();
    const reader = member(0, 'reporting', ['ledger'], []);
    await waitFor('90 read', () => reader.seen.length >= 90, 20_000);
    await reader.consumer.commit();
    const listed = await admin.listGroups();
    expect(listed).toContainEqual({ groupId: 'reporting', state: 'stable', members: 1 });
    const described = await admin.describeGroup('reporting');
    expect(described.members.map((m) => m.memberId)).toEqual([reader.consumer.memberId]);
    expect(described.offsets.map((o) => [o.partition, o.lag])).toEqual([
      [0, 0n],
      [1, 0n],
      [2, 0n],
    ]);
    expect(described.offsets.reduce((n, o) => n + o.offset, 0n)).toBe(90n);
    await expect(admin.resetGroupOffsets('reporting', 'ledger', 'earliest')).rejects.toMatchObject({
      code: 'NON_EMPTY_GROUP',
    });
    await expect(admin.deleteGroup('reporting')).rejects.toMatchObject({ code: 'NON_EMPTY_GROUP' });

    await reader.consumer.close();
    expect((await admin.describeGroup('reporting')).state).toBe('empty');
    const reset = await admin.resetGroupOffsets('reporting', 'ledger', 'earliest');
    expect(reset.map((r) => r.offset)).toEqual([0n, 0n, 0n]);
    const reread = await admin.describeGroup('reporting');
    expect(reread.offsets.reduce((n, o) => n + o.lag, 0n)).toBe(90n);
    const again = member(1, 'reporting', ['ledger'], []);
    await waitFor('90 read again', () => again.seen.length >= 90, 20_000);
    await again.consumer.close();

    // To an offset (kept within each partition's range), to the latest, and to a time.
    const toOffset = await admin.resetGroupOffsets('reporting', 'ledger', 5n, [0]);
    expect(toOffset).toEqual([{ partition: 0, offset: 5n }]);
    const beyond = await admin.resetGroupOffsets('reporting', 'ledger', 1_000_000n, [1]);
    expect(beyond[0]?.offset).toBe((await admin.fetchTopicOffsets('ledger'))[1]?.high);
    await admin.resetGroupOffsets('reporting', 'ledger', 'latest');
    expect((await admin.describeGroup('reporting')).offsets.every((o) => o.lag === 0n)).toBe(true);
    const cutoff = Date.now();
    await produce('ledger', 30);
    const byTime = await admin.resetGroupOffsets('reporting', 'ledger', { timestamp: cutoff });
    const ends = await admin.fetchTopicOffsets('ledger');
    // Every record from the cutoff on is ahead of the group again: lag 30 in all.
    const lagging = await admin.describeGroup('reporting');
    expect(lagging.offsets.reduce((n, o) => n + o.lag, 0n)).toBe(30n);
    expect(byTime.every((o) => o.offset <= (ends.find((e) => e.partition === o.partition)?.high ?? 0n))).toBe(true);

    await admin.deleteGroup('reporting');
    await expect(admin.describeGroup('reporting')).rejects.toMatchObject({ code: 'GROUP_ID_NOT_FOUND' });
  }, 60_000);

  it('a pattern subscription picks up a topic created later', async () => {
    await client.admin().createTopic({ name: 'metrics-a', partitions: 2, replicationFactor: 3 });
    // Topics created later are seen at the next metadata refresh: a short maximum age here.
    const fast = new Millrace({ bootstrap: cluster.bootstrap, logLevel: 'nothing', metadataMaxAgeMs: 1000 });
    const watcher = fast.consumer({ groupId: 'watchers', autoOffsetReset: 'earliest', maxWaitMs: 200 });
    const got: string[] = [];
    watcher.subscribe(/^metrics-/);
    void watcher.run({ eachMessage: (m) => void got.push(`${m.topic}:${m.value?.toString()}`) });
    await produce('metrics-a', 1);
    await client.admin().createTopic({ name: 'metrics-b', partitions: 1, replicationFactor: 3 });
    await produce('metrics-b', 1);
    await waitFor('both topics read', () => got.length >= 2, 30_000);
    expect(got.sort()).toEqual(['metrics-a:v0', 'metrics-b:v0']);
    // Partitions added to a subscribed topic join the assignment too.
    await client.admin().createPartitions('metrics-a', 4);
    const producer = client.producer();
    await producer.send({ topic: 'metrics-a', messages: [{ value: 'new-partition', partition: 3 }] });
    await producer.close();
    await waitFor('the record on the new partition', () => got.includes('metrics-a:new-partition'), 30_000);
    await fast.close();
  }, 60_000);
});
