import type { MetadataRecord } from '@millrace/protocol';
import { describe, expect, it } from 'vitest';
import { MetadataImage } from '../src/index.js';

const TOPIC_ID = '6f1c3b9e-3a52-4d55-9f5b-0d6f4c2a1b7e';
const INCARNATION = '0b4b1a52-51d6-4fd6-9c1c-2a1e1b6f2d3c';

function register(brokerId: number, brokerEpoch: number, rack: string | null = null): MetadataRecord {
  return {
    type: 'register-broker',
    version: 1,
    brokerId,
    brokerEpoch,
    incarnationId: INCARNATION,
    endpoint: { host: '127.0.0.1', port: 9000 + brokerId },
    rack,
  };
}

function unfence(brokerId: number, brokerEpoch: number): MetadataRecord {
  return { type: 'broker-registration-change', version: 1, brokerId, brokerEpoch, fenced: false };
}

/** Three brokers and a topic `orders` with two partitions of RF 3. */
function baseRecords(): MetadataRecord[] {
  return [
    register(1, 1),
    register(2, 2),
    register(3, 3),
    unfence(1, 1),
    unfence(2, 2),
    unfence(3, 3),
    { type: 'topic', version: 1, name: 'orders', topicId: TOPIC_ID },
    {
      type: 'config',
      version: 1,
      resource: { type: 'topic', name: 'orders' },
      name: 'min.insync.replicas',
      value: '2',
    },
    ...[0, 1].map(
      (partition): MetadataRecord => ({
        type: 'partition',
        version: 1,
        topicId: TOPIC_ID,
        partition,
        replicas: partition === 0 ? [1, 2, 3] : [2, 3, 1],
        isr: partition === 0 ? [1, 2, 3] : [2, 3, 1],
        leader: partition === 0 ? 1 : 2,
        leaderEpoch: 0,
        partitionEpoch: 0,
      }),
    ),
  ];
}

function build(records: readonly MetadataRecord[]): MetadataImage {
  const image = new MetadataImage();
  records.forEach((record, i) => {
    image.applyUnchecked(i + 1, record);
  });
  return image;
}

describe('metadata image', () => {
  it('applies brokers, topics, partitions and configs in order', () => {
    const image = build(baseRecords());
    expect(image.offset).toBe(10);
    expect(image.brokers().map((b) => [b.brokerId, b.fenced, b.registeredAtOffset])).toEqual([
      [1, false, 1],
      [2, false, 2],
      [3, false, 3],
    ]);
    expect(image.isBrokerUsable(2)).toBe(true);
    const topic = image.topicByName('orders');
    expect(topic?.partitions.map((p) => p.leader)).toEqual([1, 2]);
    expect(image.topicById(TOPIC_ID)).toBe(topic);
    expect(image.topicConfig('orders', 'min.insync.replicas')).toBe('2');
    expect(image.maxBrokerEpoch).toBe(3);
  });

  it('applies a partition change and keeps earlier views unchanged', () => {
    const image = build(baseRecords());
    const before = image.partition(TOPIC_ID, 0);
    image.apply(11, {
      type: 'partition-change',
      version: 1,
      topicId: TOPIC_ID,
      partition: 0,
      leader: 2,
      isr: [2, 3],
      leaderEpoch: 1,
      partitionEpoch: 1,
    });
    expect(image.partition(TOPIC_ID, 0)).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1, partitionEpoch: 1 });
    expect(before).toMatchObject({ leader: 1, isr: [1, 2, 3], leaderEpoch: 0 });
    expect(Object.isFrozen(before)).toBe(true);
  });

  it('refuses records that do not fit, loudly, without changing anything', () => {
    const cases: [MetadataRecord, RegExp][] = [
      [
        { type: 'topic', version: 1, name: 'orders', topicId: '11111111-1111-4111-8111-111111111111' },
        /already exists/,
      ],
      [unfence(9, 1), /broker 9 is not registered/],
      [unfence(1, 7), /epoch 7 is not 1/],
      [register(1, 1), /re-registered with epoch 1/],
      [
        {
          type: 'partition-change',
          version: 1,
          topicId: TOPIC_ID,
          partition: 0,
          leader: 2,
          leaderEpoch: 0,
          partitionEpoch: 1,
        },
        /leader epoch 0 does not follow 0/,
      ],
      [
        {
          type: 'partition-change',
          version: 1,
          topicId: TOPIC_ID,
          partition: 0,
          isr: [2, 3],
          leaderEpoch: 0,
          partitionEpoch: 1,
        },
        /leader 1 is not in the ISR/,
      ],
      [
        {
          type: 'partition-change',
          version: 1,
          topicId: TOPIC_ID,
          partition: 0,
          isr: [1, 4],
          leaderEpoch: 0,
          partitionEpoch: 1,
        },
        /not within replicas/,
      ],
      [
        {
          type: 'partition-change',
          version: 1,
          topicId: TOPIC_ID,
          partition: 0,
          isr: [1],
          leaderEpoch: 0,
          partitionEpoch: 5,
        },
        /partition epoch 5 does not follow 0/,
      ],
      [
        {
          type: 'partition-change',
          version: 1,
          topicId: TOPIC_ID,
          partition: 7,
          isr: [1],
          leaderEpoch: 0,
          partitionEpoch: 1,
        },
        /partition 7 of orders does not exist/,
      ],
      [
        {
          type: 'partition',
          version: 1,
          topicId: TOPIC_ID,
          partition: 5,
          replicas: [1],
          isr: [1],
          leader: 1,
          leaderEpoch: 0,
          partitionEpoch: 0,
        },
        /partition 5 of orders is not the next \(2\)/,
      ],
      [
        { type: 'config', version: 1, resource: { type: 'topic', name: 'nope' }, name: 'retention.ms', value: '1' },
        /config for unknown topic nope/,
      ],
    ];
    for (const [record, message] of cases) {
      const image = build(baseRecords());
      const snapshot = JSON.stringify(image.toRecords());
      expect(() => image.applyUnchecked(11, record), record.type).toThrow(message);
      expect(JSON.stringify(image.toRecords())).toBe(snapshot);
    }
  });

  it('refuses records the schema does not know', () => {
    const image = build(baseRecords());
    expect(() => image.applyUnchecked(11, { type: 'topic', version: 9, name: 'x', topicId: TOPIC_ID })).toThrow();
    expect(() => image.applyUnchecked(11, { type: 'partition-change', version: 1 })).toThrow();
    expect(() => image.applyUnchecked(5, unfence(1, 1))).toThrow(/offset 5 after 10/);
  });

  it('describes configs with their default and source', () => {
    const image = build([
      ...baseRecords(),
      { type: 'config', version: 1, resource: { type: 'cluster' }, name: 'log.retention.ms', value: '1000' },
    ]);
    const byName = Object.fromEntries(image.describeTopicConfigs('orders').map((c) => [c.name, c]));
    expect(byName['min.insync.replicas']).toMatchObject({ value: '2', default: '1', source: 'topic' });
    expect(byName['retention.ms']).toMatchObject({ value: '1000', default: '1000', source: 'cluster' });
    expect(byName['retention.bytes']).toMatchObject({ value: '-1', default: '-1', source: 'default' });
    const cluster = Object.fromEntries(image.describeClusterConfigs().map((c) => [c.name, c]));
    expect(cluster['log.retention.ms']).toMatchObject({ value: '1000', default: '604800000', source: 'cluster' });
    expect(cluster['num.partitions']).toMatchObject({ value: '1', source: 'default' });
  });

  it('removing a topic removes its partitions and configs', () => {
    const image = build([...baseRecords(), { type: 'remove-topic', version: 1, topicId: TOPIC_ID }]);
    expect(image.topicByName('orders')).toBeUndefined();
    expect(image.topicConfigOverride('orders', 'min.insync.replicas')).toBeUndefined();
    expect(image.topics()).toEqual([]);
  });

  it('rebuilds itself from its own records (snapshot round trip)', () => {
    const image = build([
      ...baseRecords(),
      { type: 'broker-registration-change', version: 1, brokerId: 3, brokerEpoch: 3, fenced: true },
      { type: 'producer-ids', version: 1, brokerId: 2, brokerEpoch: 2, nextProducerId: '1000' },
      { type: 'config', version: 1, resource: { type: 'cluster' }, name: 'num.partitions', value: '3' },
    ]);
    const restored = MetadataImage.fromSnapshot(image.offset, image.toRecords());
    expect(restored.offset).toBe(image.offset);
    expect(restored.toRecords()).toEqual(image.toRecords());
    expect(restored.nextProducerId).toBe(1000n);
    expect(restored.broker(3)?.fenced).toBe(true);
  });

  it('clones independently', () => {
    const image = build(baseRecords());
    const copy = image.clone();
    copy.apply(11, { type: 'remove-topic', version: 1, topicId: TOPIC_ID });
    expect(image.topicByName('orders')).toBeDefined();
    expect(copy.topicByName('orders')).toBeUndefined();
  });
});
