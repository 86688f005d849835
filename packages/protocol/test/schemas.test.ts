import { describe, expect, it } from 'vitest';
import { isMillraceError, parseOrThrow } from '../src/errors.js';
import {
  AlterConfigsRequestSchema,
  BrokerHeartbeatRequestSchema,
  CreateTopicRequestSchema,
  FetchRequestSchema,
  INT64_MAX,
  MetadataRecordSchema,
  MetadataStreamFrameSchema,
  normalizeConfigValue,
  OffsetSchema,
  offsetToJson,
  ProduceRequestHeaderSchema,
  TopicConfigDefaultSource,
  TopicConfigs,
  TopicNameSchema,
} from '../src/schemas/index.js';

function refusal(schema: Parameters<typeof parseOrThrow>[0], value: unknown): string {
  try {
    parseOrThrow(schema, value);
  } catch (error) {
    if (isMillraceError(error, 'INVALID_REQUEST')) return error.message;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(value)}`);
}

describe("topic names follow Kafka's rules", () => {
  it('accepts legal names', () => {
    for (const name of ['orders', 'a', 'A.b_c-9', '..a', 'x'.repeat(249)]) {
      expect(TopicNameSchema.parse(name)).toBe(name);
    }
  });
  it('refuses each illegal name with a reason', () => {
    const cases: [unknown, RegExp][] = [
      ['', /must not be empty/],
      ['.', /must not be "\." or "\.\."/],
      ['..', /must not be "\." or "\.\."/],
      ['x'.repeat(250), /at most 249/],
      ['has space', /may contain only/],
      ['slash/name', /may contain only/],
      ['ünïcode', /may contain only/],
      ['new\nline', /may contain only/],
      [42, /expected string/],
      [null, /expected string/],
    ];
    for (const [name, reason] of cases) expect(refusal(TopicNameSchema, name)).toMatch(reason);
  });
});

describe('offsets travel as decimal strings', () => {
  it('parses to bigint and back, up to 2^63-1', () => {
    expect(OffsetSchema.parse('0')).toBe(0n);
    expect(OffsetSchema.parse('9007199254740993')).toBe(9007199254740993n);
    expect(OffsetSchema.parse(INT64_MAX.toString())).toBe(INT64_MAX);
    expect(offsetToJson(123n)).toBe('123');
  });
  it('refuses numbers, negatives, padding, decimals and overflow', () => {
    for (const bad of [0, 12, '-1', '01', '1.0', '1e3', ' 1', '', '9223372036854775808', '99999999999999999999']) {
      expect(OffsetSchema.safeParse(bad).success, String(bad)).toBe(false);
    }
  });
});

describe('request schemas are strict', () => {
  const produce = { acks: 'all', timeoutMs: 1000, topics: [{ topic: 't', partitions: [{ partition: 0 }] }] };

  it('accept a good request', () => {
    expect(ProduceRequestHeaderSchema.parse(produce)).toEqual(produce);
  });

  it('refuse unknown fields, and __proto__ and constructor keys', () => {
    expect(refusal(ProduceRequestHeaderSchema, { ...produce, extra: 1 })).toMatch(/extra/);
    expect(
      refusal(ProduceRequestHeaderSchema, JSON.parse('{"acks":1,"timeoutMs":1,"topics":[],"__proto__":{"x":1}}')),
    ).toMatch(/__proto__|topics/);
    const withProto = JSON.parse(
      '{"acks":1,"timeoutMs":1,"topics":[{"topic":"t","partitions":[{"partition":0}]}],"__proto__":{"admin":true}}',
    );
    expect(refusal(ProduceRequestHeaderSchema, withProto)).toMatch(/__proto__/);
    const withConstructor = { ...produce, constructor: { prototype: {} } };
    expect(refusal(ProduceRequestHeaderSchema, withConstructor)).toMatch(/constructor/);
  });

  it('refuse out-of-range and non-integer numbers, naming the field', () => {
    expect(refusal(ProduceRequestHeaderSchema, { ...produce, acks: 2 })).toMatch(/body\.acks/);
    expect(refusal(ProduceRequestHeaderSchema, { ...produce, acks: -1 })).toMatch(/body\.acks/);
    expect(refusal(ProduceRequestHeaderSchema, { ...produce, timeoutMs: 1.5 })).toMatch(/body\.timeoutMs/);
    expect(refusal(ProduceRequestHeaderSchema, { ...produce, timeoutMs: -1 })).toMatch(/body\.timeoutMs/);
    expect(refusal(ProduceRequestHeaderSchema, { ...produce, timeoutMs: 1e9 })).toMatch(/body\.timeoutMs/);
    expect(
      refusal(ProduceRequestHeaderSchema, {
        ...produce,
        topics: [{ topic: 't', partitions: [{ partition: 2 ** 31 }] }],
      }),
    ).toMatch(/body\.topics\[0\]\.partitions\[0\]\.partition/);
    expect(refusal(ProduceRequestHeaderSchema, { ...produce, topics: [] })).toMatch(/body\.topics/);
  });

  it('refuse a fetch with a JSON-number offset', () => {
    const fetch = {
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 5, partitionMaxBytes: 1 << 20 }] }],
    };
    expect(refusal(FetchRequestSchema, fetch)).toMatch(/fetchOffset/);
    const good = structuredClone(fetch);
    (good.topics[0]!.partitions[0] as { fetchOffset: unknown }).fetchOffset = '5';
    expect(FetchRequestSchema.parse(good).topics[0]!.partitions[0]!.fetchOffset).toBe(5n);
  });

  it('refuse a topic creation mixing explicit placement and counts', () => {
    expect(refusal(CreateTopicRequestSchema, { name: 't', partitions: 3, replicaAssignment: [[1, 2]] })).toMatch(
      /replicaAssignment/,
    );
    expect(refusal(CreateTopicRequestSchema, { name: 't', partitions: 0 })).toMatch(/partitions/);
    expect(refusal(CreateTopicRequestSchema, { name: 'bad name' })).toMatch(/body\.name/);
    expect(CreateTopicRequestSchema.parse({ name: 't', partitions: 3, replicationFactor: 3 })).toMatchObject({
      name: 't',
    });
  });

  it('refuse an empty config change', () => {
    expect(refusal(AlterConfigsRequestSchema, {})).toMatch(/at least one setting/);
    expect(AlterConfigsRequestSchema.parse({ set: { 'retention.ms': '1000' } })).toBeTruthy();
  });

  it('refuse a heartbeat with a missing field', () => {
    expect(refusal(BrokerHeartbeatRequestSchema, { brokerId: 1, brokerEpoch: 3, metadataOffset: 5 })).toMatch(
      /wantFence/,
    );
  });
});

describe('metadata records', () => {
  const topicId = '6f1c3b9e-3a52-4d55-9f5b-0d6f4c2a1b7e';

  it('parse each record type', () => {
    const records = [
      {
        type: 'register-broker',
        version: 1,
        brokerId: 1,
        brokerEpoch: 10,
        incarnationId: '0b4b1a52-51d6-4fd6-9c1c-2a1e1b6f2d3c',
        endpoint: { host: '127.0.0.1', port: 9092 },
        rack: null,
      },
      { type: 'broker-registration-change', version: 1, brokerId: 1, brokerEpoch: 10, fenced: false },
      { type: 'topic', version: 1, name: 'orders', topicId },
      {
        type: 'partition',
        version: 1,
        topicId,
        partition: 0,
        replicas: [1, 2, 3],
        isr: [1, 2, 3],
        leader: 1,
        leaderEpoch: 0,
        partitionEpoch: 0,
      },
      {
        type: 'partition-change',
        version: 1,
        topicId,
        partition: 0,
        leader: -1,
        isr: [],
        leaderEpoch: 1,
        partitionEpoch: 1,
      },
      { type: 'config', version: 1, resource: { type: 'topic', name: 'orders' }, name: 'retention.ms', value: '1000' },
      { type: 'config', version: 1, resource: { type: 'cluster' }, name: 'num.partitions', value: null },
      { type: 'producer-ids', version: 1, brokerId: 1, brokerEpoch: 10, nextProducerId: '1000' },
      { type: 'remove-topic', version: 1, topicId },
    ];
    for (const record of records) expect(MetadataRecordSchema.safeParse(record).success, record.type).toBe(true);
    expect(MetadataStreamFrameSchema.parse({ kind: 'snapshot', offset: 9, records }).kind).toBe('snapshot');
  });

  it('refuse unknown types and versions rather than misread them', () => {
    expect(MetadataRecordSchema.safeParse({ type: 'topic', version: 2, name: 'orders', topicId }).success).toBe(false);
    expect(MetadataRecordSchema.safeParse({ type: 'mystery', version: 1 }).success).toBe(false);
    expect(
      MetadataRecordSchema.safeParse({ type: 'topic', version: 1, name: 'orders', topicId: 'not-a-uuid' }).success,
    ).toBe(false);
  });
});

describe('configs', () => {
  it("keep Kafka's defaults", () => {
    expect(TopicConfigs['retention.ms'].default).toBe('604800000');
    expect(TopicConfigs['min.insync.replicas'].default).toBe('1');
    expect(TopicConfigs['unclean.leader.election.enable'].default).toBe('false');
    expect(TopicConfigs['max.message.bytes'].default).toBe('1048588');
    expect(TopicConfigDefaultSource['retention.ms']).toBe('log.retention.ms');
  });

  it('normalise good values', () => {
    expect(normalizeConfigValue('topic', 'retention.ms', 86_400_000)).toBe('86400000');
    expect(normalizeConfigValue('topic', 'retention.ms', '-1')).toBe('-1');
    expect(normalizeConfigValue('topic', 'unclean.leader.election.enable', 'TRUE')).toBe('true');
    expect(normalizeConfigValue('cluster', 'default.replication.factor', '3')).toBe('3');
  });

  it('refuse bad values and unknown names with INVALID_CONFIG naming the setting', () => {
    const cases: [string, string | number | boolean, RegExp][] = [
      ['retention.ms', 'soon', /retention\.ms.*expected a long/],
      ['retention.ms', -2, /must be at least -1/],
      ['retention.ms', 1.5, /expected a long/],
      ['min.insync.replicas', 0, /must be at least 1/],
      ['min.insync.replicas', '2147483648', /out of range for int/],
      ['unclean.leader.election.enable', 'yes', /expected true or false/],
      ['message.timestamp.type', 'Now', /expected one of CreateTime, LogAppendTime/],
      ['retension.ms', '1', /Unknown topic config "retension\.ms"/],
      ['__proto__', '1', /Unknown topic config/],
      ['constructor', '1', /Unknown topic config/],
    ];
    for (const [name, value, message] of cases) {
      let caught: unknown;
      try {
        normalizeConfigValue('topic', name, value);
      } catch (error) {
        caught = error;
      }
      expect(isMillraceError(caught, 'INVALID_CONFIG'), `${name}=${value}`).toBe(true);
      expect((caught as Error).message).toMatch(message);
    }
  });
});
