import { MetadataImage } from '@millrace/metadata';
import { AlterPartitionRequestSchema, CreateTopicRequestSchema, isMillraceError, NO_LEADER } from '@millrace/protocol';
import { describe, expect, it } from 'vitest';
import {
  allocateProducerIds,
  alterConfigs,
  alterPartition,
  createOffsetsTopic,
  createPartitions,
  createTopic,
  deleteTopic,
  electPreferredLeaders,
  fenceBroker,
  heartbeat,
  registerBroker,
} from '../src/index.js';
import { beat, CLUSTER_ID, clusterWith, commit, create, incarnation, testContext } from './fixtures.js';

function thrown(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (isMillraceError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a typed error');
}

/** Three brokers, topic `t` with partition 0 on replicas [1, 2, 3] led by 1. */
function threeBrokersOneTopic(configs: Record<string, string> = {}) {
  const image = clusterWith([1, 2, 3]);
  create(image, { name: 't', replicaAssignment: [[1, 2, 3]], configs });
  const partition = () => image.topicByName('t')!.partitions[0]!;
  return { image, partition };
}

describe('topic creation', () => {
  it('places partitions on live brokers with ISR = replicas and the first replica leading', () => {
    const image = clusterWith([1, 2, 3]);
    const topic = create(image, {
      name: 'orders',
      partitions: 6,
      replicationFactor: 3,
      configs: { 'retention.ms': 1000 },
    });
    expect(topic.partitions).toHaveLength(6);
    for (const p of topic.partitions) {
      expect(p.isr).toEqual(p.replicas);
      expect(p.leader).toBe(p.replicas[0]);
      expect(p.leaderEpoch).toBe(0);
    }
    expect(image.topicConfig('orders', 'retention.ms')).toBe('1000');
  });

  it('uses the cluster defaults for partitions and replication factor', () => {
    const image = clusterWith([1, 2, 3]);
    commit(
      image,
      alterConfigs(image, { type: 'cluster' }, { set: { 'num.partitions': 4, 'default.replication.factor': 2 } }),
    );
    const topic = create(image, { name: 'defaults' });
    expect(topic.partitions).toHaveLength(4);
    expect(topic.partitions[0]!.replicas).toHaveLength(2);
  });

  it('refuses a replication factor above the live (unfenced) brokers', () => {
    const image = clusterWith([1, 2, 3]);
    commit(image, fenceBroker(image, 3));
    const request = CreateTopicRequestSchema.parse({ name: 'x', partitions: 1, replicationFactor: 3 });
    const offset = image.offset;
    expect(thrown(() => createTopic(image, request, testContext()))).toEqual({
      code: 'INVALID_REPLICATION_FACTOR',
      message: 'Replication factor 3 is larger than the 2 live brokers.',
    });
    expect(image.offset).toBe(offset);
  });

  it('refuses a duplicate name, a bad config and a bad assignment', () => {
    const image = clusterWith([1, 2, 3]);
    create(image, { name: 'x' });
    const parse = (r: unknown) => CreateTopicRequestSchema.parse(r);
    expect(thrown(() => createTopic(image, parse({ name: 'x' }), testContext())).code).toBe('TOPIC_ALREADY_EXISTS');
    expect(
      thrown(() => createTopic(image, parse({ name: 'y', configs: { 'retention.ms': 'soon' } }), testContext())),
    ).toMatchObject({
      code: 'INVALID_CONFIG',
    });
    expect(
      thrown(() => createTopic(image, parse({ name: 'y', configs: { 'retension.ms': '1' } }), testContext())).message,
    ).toMatch(/Unknown topic config "retension\.ms"/);
    const bad: [number[][], RegExp][] = [
      [[[1, 1]], /lists a broker twice/],
      [[[1, 9]], /broker 9 is not registered/],
      [[[1, 2], [3]], /Partition 1 has 1 replicas; partition 0 has 2/],
    ];
    for (const [replicaAssignment, message] of bad) {
      const error = thrown(() => createTopic(image, parse({ name: 'y', replicaAssignment }), testContext()));
      expect(error.code).toBe('INVALID_REPLICA_ASSIGNMENT');
      expect(error.message).toMatch(message);
    }
  });

  it('adds partitions with the same replication factor, and deletes topics', () => {
    const image = clusterWith([1, 2, 3]);
    create(image, { name: 'x', partitions: 2, replicationFactor: 2 });
    const grown = commit(image, createPartitions(image, 'x', 5, testContext()));
    expect(grown.partitions.map((p) => p.replicas.length)).toEqual([2, 2, 2, 2, 2]);
    expect(thrown(() => createPartitions(image, 'x', 5, testContext())).code).toBe('INVALID_PARTITIONS');
    expect(thrown(() => createPartitions(image, 'nope', 5, testContext())).code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    commit(image, deleteTopic(image, 'x'));
    expect(image.topicByName('x')).toBeUndefined();
    expect(thrown(() => deleteTopic(image, 'x')).code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
  });
});

describe("the consumer groups' internal topic", () => {
  it('is created once, as the offsets.topic settings say, without retention and with min.insync.replicas 2', () => {
    const image = clusterWith([1, 2, 3]);
    const topic = commit(image, createOffsetsTopic(image, testContext()));
    expect(topic.name).toBe('__consumer_offsets');
    expect(topic.partitions).toHaveLength(50);
    expect(topic.partitions.every((p) => p.replicas.length === 3)).toBe(true);
    expect(image.topicConfig('__consumer_offsets', 'min.insync.replicas')).toBe('2');
    expect(image.topicConfig('__consumer_offsets', 'retention.ms')).toBe('-1');
    expect(image.topicConfig('__consumer_offsets', 'retention.bytes')).toBe('-1');
    // A second call (another broker asking at the same time) changes nothing.
    const again = createOffsetsTopic(image, testContext());
    expect(again.records).toEqual([]);
    expect(again.result.topicId).toBe(topic.topicId);
  });

  it('waits for enough brokers, and users can neither create nor delete it', () => {
    const image = clusterWith([1, 2]);
    expect(thrown(() => createOffsetsTopic(image, testContext())).code).toBe('INVALID_REPLICATION_FACTOR');
    expect(thrown(() => create(image, { name: '__consumer_offsets', partitions: 1, replicationFactor: 1 })).code).toBe(
      'INVALID_TOPIC_EXCEPTION',
    );
    commit(
      image,
      alterConfigs(
        image,
        { type: 'cluster' },
        { set: { 'offsets.topic.replication.factor': 2, 'offsets.topic.num.partitions': 4 } },
      ),
    );
    const topic = commit(image, createOffsetsTopic(image, testContext()));
    expect(topic.partitions.map((p) => p.replicas.length)).toEqual([2, 2, 2, 2]);
    expect(thrown(() => deleteTopic(image, '__consumer_offsets')).code).toBe('INVALID_TOPIC_EXCEPTION');
  });
});

describe('fencing and leader election', () => {
  it('moves leadership to the next ISR member with a new leader epoch', () => {
    const { image, partition } = threeBrokersOneTopic();
    commit(image, fenceBroker(image, 1));
    expect(partition()).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1, partitionEpoch: 1 });
  });

  it('keeps the last ISR member and goes offline rather than elect an out-of-sync replica', () => {
    const { image, partition } = threeBrokersOneTopic();
    commit(image, fenceBroker(image, 2));
    commit(image, fenceBroker(image, 3));
    expect(partition()).toMatchObject({ leader: 1, isr: [1] });
    commit(image, fenceBroker(image, 1));
    expect(partition()).toMatchObject({ leader: NO_LEADER, isr: [1] });
    // Broker 2 comes back: it is not in the ISR, so with unclean election off the partition stays offline.
    commit(image, heartbeat(image, beat(image, 2)));
    expect(partition().leader).toBe(NO_LEADER);
    // Broker 1, the last ISR member, comes back and leads again: nothing acknowledged was lost.
    commit(image, heartbeat(image, beat(image, 1)));
    expect(partition()).toMatchObject({ leader: 1, isr: [1] });
  });

  it('with unclean election on, elects a live out-of-sync replica and says so', () => {
    const { image, partition } = threeBrokersOneTopic({ 'unclean.leader.election.enable': 'true' });
    commit(image, fenceBroker(image, 2));
    commit(image, fenceBroker(image, 3));
    commit(image, heartbeat(image, beat(image, 2)));
    const decision = fenceBroker(image, 1);
    const change = decision.records.find((r) => r.type === 'partition-change');
    expect(change).toMatchObject({ leader: 2, isr: [2], uncleanElection: true });
    commit(image, decision);
    expect(partition()).toMatchObject({ leader: 2, isr: [2] });
  });

  it('turning unclean election on brings an offline partition back', () => {
    const { image, partition } = threeBrokersOneTopic();
    commit(image, fenceBroker(image, 2));
    commit(image, fenceBroker(image, 3));
    commit(image, fenceBroker(image, 1));
    commit(image, heartbeat(image, beat(image, 3)));
    expect(partition().leader).toBe(NO_LEADER);
    commit(
      image,
      alterConfigs(image, { type: 'topic', name: 't' }, { set: { 'unclean.leader.election.enable': true } }),
    );
    expect(partition()).toMatchObject({ leader: 3, isr: [3] });
  });
});

describe('broker registration and heartbeats', () => {
  const request = (brokerId: number, generation = 0) => ({
    clusterId: CLUSTER_ID,
    brokerId,
    incarnationId: incarnation(brokerId, generation),
    endpoint: { host: '127.0.0.1', port: 9000 + brokerId },
    rack: null,
  });

  it('gives a new broker a new epoch, fenced until it catches up', () => {
    const image = new MetadataImage();
    const { brokerEpoch } = commit(
      image,
      registerBroker(image, request(1), { clusterId: CLUSTER_ID, sessionAlive: () => false }),
    );
    expect(image.broker(1)).toMatchObject({ brokerEpoch, fenced: true });
    const behind = heartbeat(image, beat(image, 1, { metadataOffset: image.offset - 1 }));
    expect(behind.result).toEqual({ isCaughtUp: false, isFenced: true, shouldShutDown: false });
    expect(behind.records).toEqual([]);
    const caughtUp = commit(image, heartbeat(image, beat(image, 1)));
    expect(caughtUp).toEqual({ isCaughtUp: true, isFenced: false, shouldShutDown: false });
    expect(image.broker(1)?.fenced).toBe(false);
  });

  it('answers a retried registration with the same epoch', () => {
    const image = clusterWith([1]);
    const again = registerBroker(image, request(1), { clusterId: CLUSTER_ID, sessionAlive: () => true });
    expect(again).toEqual({ records: [], result: { brokerEpoch: image.broker(1)!.brokerEpoch } });
  });

  it('refuses a second live process with the same id, and re-registers a restarted one', () => {
    const { image, partition } = threeBrokersOneTopic();
    const oldEpoch = image.broker(1)!.brokerEpoch;
    const restarted = request(1, 1);
    expect(
      thrown(() => registerBroker(image, restarted, { clusterId: CLUSTER_ID, sessionAlive: () => true })).code,
    ).toBe('DUPLICATE_BROKER_REGISTRATION');
    const { brokerEpoch } = commit(
      image,
      registerBroker(image, restarted, { clusterId: CLUSTER_ID, sessionAlive: () => false }),
    );
    expect(brokerEpoch).toBeGreaterThan(oldEpoch);
    expect(partition()).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1 });
    expect(thrown(() => heartbeat(image, { ...beat(image, 1), brokerEpoch: oldEpoch })).code).toBe(
      'STALE_BROKER_EPOCH',
    );
  });

  it('refuses another cluster and unknown brokers', () => {
    const image = clusterWith([1]);
    expect(
      thrown(() =>
        registerBroker(
          image,
          { ...request(2), clusterId: 'other' },
          { clusterId: CLUSTER_ID, sessionAlive: () => false },
        ),
      ).code,
    ).toBe('INCONSISTENT_CLUSTER_ID');
    expect(thrown(() => heartbeat(image, { ...beat(image, 1), brokerId: 7 })).code).toBe('BROKER_ID_NOT_REGISTERED');
  });

  it('controlled shutdown moves leaderships away before the broker may stop', () => {
    const { image, partition } = threeBrokersOneTopic();
    const first = commit(image, heartbeat(image, beat(image, 1, { wantShutDown: true })));
    expect(first.shouldShutDown).toBe(true);
    expect(partition()).toMatchObject({ leader: 2, isr: [2, 3] });
    expect(image.broker(1)).toMatchObject({ inControlledShutdown: true, fenced: true });
  });

  it('a fenced broker asking to stay fenced stays fenced; an unfenced one asking is fenced', () => {
    const image = new MetadataImage();
    commit(image, registerBroker(image, request(1), { clusterId: CLUSTER_ID, sessionAlive: () => false }));
    expect(commit(image, heartbeat(image, beat(image, 1, { wantFence: true }))).isFenced).toBe(true);
    commit(image, heartbeat(image, beat(image, 1)));
    expect(commit(image, heartbeat(image, beat(image, 1, { wantFence: true }))).isFenced).toBe(true);
    expect(image.broker(1)?.fenced).toBe(true);
  });

  it('hands out producer id blocks that never overlap', () => {
    const image = clusterWith([1, 2]);
    const a = commit(image, allocateProducerIds(image, 1, image.broker(1)!.brokerEpoch));
    const b = commit(image, allocateProducerIds(image, 2, image.broker(2)!.brokerEpoch));
    expect(a.firstProducerId + BigInt(a.count)).toBe(b.firstProducerId);
    expect(thrown(() => allocateProducerIds(image, 1, 999)).code).toBe('STALE_BROKER_EPOCH');
  });
});

describe('AlterPartition', () => {
  const alter = (
    items: { leaderEpoch: number; partitionEpoch: number; newIsr: number[] }[],
    brokerId: number,
    image: MetadataImage,
  ) =>
    AlterPartitionRequestSchema.parse({
      brokerId,
      brokerEpoch: image.broker(brokerId)!.brokerEpoch,
      topics: [
        { topicId: image.topicByName('t')!.topicId, partitions: items.map((item) => ({ partition: 0, ...item })) },
      ],
    });

  it('shrinks and expands the ISR with a new partition epoch and the same leader epoch', () => {
    const { image, partition } = threeBrokersOneTopic();
    const shrink = commit(
      image,
      alterPartition(image, alter([{ leaderEpoch: 0, partitionEpoch: 0, newIsr: [1, 2] }], 1, image)),
    );
    expect(shrink.topics[0]!.partitions[0]).toMatchObject({
      leader: 1,
      isr: [1, 2],
      leaderEpoch: 0,
      partitionEpoch: 1,
    });
    expect(partition()).toMatchObject({ isr: [1, 2], partitionEpoch: 1, leaderEpoch: 0 });
    commit(image, alterPartition(image, alter([{ leaderEpoch: 0, partitionEpoch: 1, newIsr: [1, 2, 3] }], 1, image)));
    expect(partition()).toMatchObject({ isr: [1, 2, 3], partitionEpoch: 2 });
  });

  it('refuses stale and wrong requests per partition, changing nothing', () => {
    const { image, partition } = threeBrokersOneTopic();
    commit(image, fenceBroker(image, 3));
    const cases: [{ leaderEpoch: number; partitionEpoch: number; newIsr: number[] }, number, string][] = [
      [{ leaderEpoch: 0, partitionEpoch: 1, newIsr: [1] }, 2, 'NOT_LEADER_OR_FOLLOWER'],
      [{ leaderEpoch: 1, partitionEpoch: 1, newIsr: [1] }, 1, 'UNKNOWN_LEADER_EPOCH'],
      [{ leaderEpoch: 0, partitionEpoch: 0, newIsr: [1] }, 1, 'INVALID_UPDATE_VERSION'],
      [{ leaderEpoch: 0, partitionEpoch: 1, newIsr: [2] }, 1, 'INVALID_REQUEST'],
      [{ leaderEpoch: 0, partitionEpoch: 1, newIsr: [1, 1] }, 1, 'INVALID_REQUEST'],
      [{ leaderEpoch: 0, partitionEpoch: 1, newIsr: [1, 2, 3] }, 1, 'INELIGIBLE_REPLICA'],
    ];
    for (const [item, brokerId, code] of cases) {
      const decision = alterPartition(image, alter([item], brokerId, image));
      expect(decision.records, code).toEqual([]);
      expect(decision.result.topics[0]!.partitions[0]!.error?.code, JSON.stringify(item)).toBe(code);
    }
    expect(partition()).toMatchObject({ leader: 1, isr: [1, 2], partitionEpoch: 1 });
    commit(image, fenceBroker(image, 1));
    const old = alterPartition(image, alter([{ leaderEpoch: 0, partitionEpoch: 1, newIsr: [1, 2] }], 2, image));
    expect(old.result.topics[0]!.partitions[0]!.error?.code).toBe('FENCED_LEADER_EPOCH');
    const staleBroker = { ...alter([{ leaderEpoch: 1, partitionEpoch: 2, newIsr: [2] }], 2, image), brokerEpoch: 999 };
    expect(thrown(() => alterPartition(image, staleBroker)).code).toBe('STALE_BROKER_EPOCH');
  });
});

describe('preferred leader election', () => {
  it('moves leadership back to the first replica once it is in the ISR again', () => {
    const { image, partition } = threeBrokersOneTopic();
    commit(image, fenceBroker(image, 1));
    commit(image, heartbeat(image, beat(image, 1)));
    expect(partition().leader).toBe(2);
    const tp = [{ topic: 't', partition: 0 }];
    // Broker 1 is back but not in the ISR yet: not available.
    expect(electPreferredLeaders(image, tp).result[0]?.error?.code).toBe('PREFERRED_LEADER_NOT_AVAILABLE');
    const epochs = partition();
    commit(
      image,
      alterPartition(
        image,
        AlterPartitionRequestSchema.parse({
          brokerId: 2,
          brokerEpoch: image.broker(2)!.brokerEpoch,
          topics: [
            {
              topicId: image.topicByName('t')!.topicId,
              partitions: [
                {
                  partition: 0,
                  leaderEpoch: epochs.leaderEpoch,
                  partitionEpoch: epochs.partitionEpoch,
                  newIsr: [1, 2, 3],
                },
              ],
            },
          ],
        }),
      ),
    );
    const done = commit(image, electPreferredLeaders(image, tp));
    expect(done).toEqual([{ topic: 't', partition: 0 }]);
    expect(partition()).toMatchObject({ leader: 1, leaderEpoch: 2 });
    expect(electPreferredLeaders(image, tp).result[0]?.error?.code).toBe('ELECTION_NOT_NEEDED');
    expect(electPreferredLeaders(image, [{ topic: 'nope', partition: 0 }]).result[0]?.error?.code).toBe(
      'UNKNOWN_TOPIC_OR_PARTITION',
    );
  });
});

describe('config changes', () => {
  it('set and delete, refusing unknown names and contradictions', () => {
    const { image } = threeBrokersOneTopic();
    commit(image, alterConfigs(image, { type: 'topic', name: 't' }, { set: { 'retention.ms': '5' } }));
    expect(image.topicConfig('t', 'retention.ms')).toBe('5');
    commit(image, alterConfigs(image, { type: 'topic', name: 't' }, { delete: ['retention.ms'] }));
    expect(image.topicConfigOverride('t', 'retention.ms')).toBeUndefined();
    expect(thrown(() => alterConfigs(image, { type: 'topic', name: 't' }, { delete: ['nope'] })).code).toBe(
      'INVALID_CONFIG',
    );
    expect(
      thrown(() =>
        alterConfigs(image, { type: 'topic', name: 't' }, { set: { 'retention.ms': 1 }, delete: ['retention.ms'] }),
      ).message,
    ).toMatch(/both set and deleted/);
    expect(thrown(() => alterConfigs(image, { type: 'topic', name: 'zz' }, { set: { 'retention.ms': 1 } })).code).toBe(
      'UNKNOWN_TOPIC_OR_PARTITION',
    );
  });
});
