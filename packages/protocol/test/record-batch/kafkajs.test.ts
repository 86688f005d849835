import { createRequire } from 'node:module';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type DecodedRecordBatch,
  decodeRecordBatch,
  encodeRecordBatch,
  type RecordInput,
  validateRecordBatch,
} from '../../src/record-batch/index.js';

/**
 * Cross-checks against kafkajs 2.2.4, an implementation nobody here wrote. Batches are encoded by
 * kafkajs's own produce (v3) request encoder, which is how kafkajs derives the batch timestamps
 * from messages, and by its RecordBatch encoder directly where a field (base offset, leader epoch)
 * is not reachable through a produce request. Then each side decodes the other's bytes.
 */

const require = createRequire(import.meta.url);

interface KafkajsEncoder {
  readonly buffer: Buffer;
}
interface KafkajsMessage {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Buffer | string>;
  timestamp?: number;
}
interface KafkajsRecordArgs {
  offsetDelta: number;
  timestampDelta: number;
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Buffer | string>;
}
interface KafkajsBatchArgs {
  compression?: number;
  firstOffset?: bigint;
  firstTimestamp: number;
  maxTimestamp: number;
  partitionLeaderEpoch?: number;
  lastOffsetDelta: number;
  transactional?: boolean;
  producerId?: bigint;
  producerEpoch?: number;
  firstSequence?: number;
  records: KafkajsEncoder[];
}
interface KafkajsProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: bigint;
  producerEpoch?: number;
  compression?: number;
  topicData: {
    topic: string;
    partitions: { partition: number; firstSequence?: number; messages: KafkajsMessage[] }[];
  }[];
}
interface KafkajsDecodedRecord {
  attributes: number;
  timestamp: string;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | null | (Buffer | null)[]>;
  isControlRecord: boolean;
}
interface KafkajsDecodedBatch {
  firstOffset: string;
  firstTimestamp: string;
  maxTimestamp: string;
  partitionLeaderEpoch: number;
  inTransaction: boolean;
  isControlBatch: boolean;
  lastOffsetDelta: number;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  timestampType: number;
  records: KafkajsDecodedRecord[];
}

const kafkajs = {
  RecordBatch: (
    require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
      RecordBatch: (args: KafkajsBatchArgs) => Promise<KafkajsEncoder>;
    }
  ).RecordBatch,
  Record: require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (args: KafkajsRecordArgs) => KafkajsEncoder,
  produceV3: require('kafkajs/src/protocol/requests/produce/v3/request.js') as (args: KafkajsProduceArgs) => {
    encode(): Promise<KafkajsEncoder>;
  },
  Decoder: require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => object,
  decodeBatch: require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (
    decoder: object,
  ) => Promise<KafkajsDecodedBatch>,
  GZIP: 1,
  NONE: 0,
};

const NOW = 1_712_345_678_901;

afterEach(() => {
  vi.restoreAllMocks();
});

interface ProduceCase {
  messages: KafkajsMessage[];
  gzip?: boolean;
  transactionalId?: string;
  producerId?: bigint;
  producerEpoch?: number;
  firstSequence?: number;
}

/**
 * Encodes a produce v3 request with kafkajs (clock frozen at NOW) and cuts the record batch out of
 * it: transactional id, acks, timeout, topic count, topic, partition count, partition, batch size.
 */
async function encodeWithKafkajsProducer(c: ProduceCase): Promise<Buffer> {
  vi.spyOn(Date, 'now').mockReturnValue(NOW);
  const topic = 'orders';
  const request = await kafkajs
    .produceV3({
      acks: -1,
      timeout: 30_000,
      transactionalId: c.transactionalId ?? null,
      producerId: c.producerId ?? -1n,
      producerEpoch: c.producerEpoch ?? 0,
      compression: c.gzip === true ? kafkajs.GZIP : kafkajs.NONE,
      topicData: [{ topic, partitions: [{ partition: 0, firstSequence: c.firstSequence ?? 0, messages: c.messages }] }],
    })
    .encode();
  vi.restoreAllMocks();
  const bytes = request.buffer;
  const transactionalIdBytes = 2 + (c.transactionalId === undefined ? 0 : Buffer.byteLength(c.transactionalId));
  const sizeAt = transactionalIdBytes + 2 + 4 + 4 + 2 + topic.length + 4 + 4;
  const size = bytes.readInt32BE(sizeAt);
  expect(sizeAt + 4 + size).toBe(bytes.length);
  return bytes.subarray(sizeAt + 4);
}

/** The same case through Millrace's encoder, with the producer fields kafkajs would write. */
function encodeWithMillrace(c: ProduceCase): Buffer {
  return encodeRecordBatch({
    records: c.messages as RecordInput[],
    compression: c.gzip === true ? 'gzip' : 'none',
    partitionLeaderEpoch: 0, // kafkajs's RecordBatch default; Millrace's default is Kafka's -1.
    producerId: c.producerId ?? -1n,
    producerEpoch: c.producerEpoch ?? 0,
    baseSequence: c.firstSequence ?? 0,
    isTransactional: c.transactionalId !== undefined,
    now: NOW,
  });
}

async function decodeWithKafkajs(buf: Buffer): Promise<KafkajsDecodedBatch> {
  return kafkajs.decodeBatch(new kafkajs.Decoder(buf));
}

/** What kafkajs's decoder should report for a batch Millrace decoded. */
function asKafkajsSees(batch: DecodedRecordBatch) {
  const { header } = batch;
  return {
    firstOffset: String(header.baseOffset),
    firstTimestamp: String(header.baseTimestamp),
    maxTimestamp: String(header.maxTimestamp),
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    inTransaction: header.isTransactional,
    isControlBatch: header.isControl,
    lastOffsetDelta: header.lastOffsetDelta,
    producerId: String(header.producerId),
    producerEpoch: header.producerEpoch,
    firstSequence: header.baseSequence,
    timestampType: header.timestampType === 'create-time' ? 0 : 1,
    records: batch.records.map((r) => ({
      attributes: r.attributes,
      timestamp: String(r.timestamp),
      offset: String(r.offset),
      key: hex(r.key),
      value: hex(r.value),
      headers: headersAsKafkajsObject(r.headers),
    })),
  };
}

/** Bytes as hex, which vitest compares much faster than large Buffers. */
function hex(value: Buffer | null): string | null {
  return value === null ? null : value.toString('hex');
}

/** kafkajs folds headers into an object, turning a repeated key into an array. */
function headersAsKafkajsObject(headers: readonly { key: string; value: Buffer | null }[]) {
  const out: Record<string, string | null | (string | null)[]> = {};
  for (const { key, value } of headers) {
    const seen = Object.hasOwn(out, key) ? out[key] : undefined;
    if (seen === undefined) out[key] = hex(value);
    else out[key] = Array.isArray(seen) ? [...seen, hex(value)] : [seen, hex(value)];
  }
  return out;
}

function pickKafkajsFields(batch: KafkajsDecodedBatch) {
  return {
    firstOffset: batch.firstOffset,
    firstTimestamp: batch.firstTimestamp,
    maxTimestamp: batch.maxTimestamp,
    partitionLeaderEpoch: batch.partitionLeaderEpoch,
    inTransaction: batch.inTransaction,
    isControlBatch: batch.isControlBatch,
    lastOffsetDelta: batch.lastOffsetDelta,
    producerId: batch.producerId,
    producerEpoch: batch.producerEpoch,
    firstSequence: batch.firstSequence,
    timestampType: batch.timestampType,
    records: batch.records.map((r) => ({
      attributes: r.attributes,
      timestamp: r.timestamp,
      offset: r.offset,
      key: hex(r.key),
      value: hex(r.value),
      headers: Object.fromEntries(
        Object.entries(r.headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(hex) : hex(v)]),
      ),
    })),
  };
}

const cases: Record<string, ProduceCase> = {
  'one record with a string key and value': {
    messages: [{ key: 'user-1', value: 'signed up', timestamp: NOW - 5 }],
  },
  'several records, null and Buffer keys, out-of-order timestamps': {
    messages: [
      { key: null, value: 'a', timestamp: NOW + 30 },
      { key: Buffer.from([0, 255, 7]), value: Buffer.from('bb'), timestamp: NOW - 1000 },
      { value: 'ccc', timestamp: NOW },
      { key: 'k', value: null, timestamp: NOW + 30 },
    ],
  },
  'records without timestamps take the time of encoding': {
    messages: [{ key: 'a', value: '1' }, { value: '2' }],
  },
  'headers with string, Buffer and unicode keys and values': {
    messages: [
      {
        key: 'ключ',
        value: 'значение ✓',
        headers: { 'content-type': 'application/json', trace: Buffer.from([1, 2, 3]), '🔑': 'ü' },
        timestamp: NOW,
      },
      { value: 'x', headers: {}, timestamp: NOW + 1 },
    ],
  },
  'idempotent producer id, epoch and sequence': {
    messages: [
      { value: 'a', timestamp: NOW },
      { value: 'b', timestamp: NOW + 1 },
    ],
    producerId: 123_456_789_012n,
    producerEpoch: 7,
    firstSequence: 4_000,
  },
  'transactional producer': {
    messages: [{ key: 'k', value: 'v', timestamp: NOW }],
    transactionalId: 'tx-1',
    producerId: 99n,
    producerEpoch: 3,
    firstSequence: 0,
  },
  'many records with lengths and deltas needing multi-byte varints': {
    messages: Array.from({ length: 300 }, (_, i) => ({
      key: i % 5 === 0 ? null : `key-${i}`,
      value: Buffer.alloc(i % 100 === 1 ? 20_000 : (i * 37) % 300, i & 0xff),
      headers: i % 7 === 0 ? { n: String(i) } : undefined,
      timestamp: NOW + i * 977,
    })),
  },
};

describe('kafkajs cross-check: identical bytes for the same input', () => {
  for (const [name, c] of Object.entries(cases)) {
    for (const gzip of [false, true]) {
      it(`${name}${gzip ? ', gzip' : ''}`, async () => {
        const theirs = await encodeWithKafkajsProducer({ ...c, gzip });
        const ours = encodeWithMillrace({ ...c, gzip });
        expect(ours.toString('hex')).toBe(theirs.toString('hex'));
        validateRecordBatch(ours);
      });
    }
  }

  it('base offset and partition leader epoch, through kafkajs’s RecordBatch encoder directly', async () => {
    const theirs = await kafkajs.RecordBatch({
      firstOffset: 5_000_000_000n,
      partitionLeaderEpoch: 17,
      firstTimestamp: NOW,
      maxTimestamp: NOW + 2,
      lastOffsetDelta: 1,
      producerId: 42n,
      producerEpoch: 1,
      firstSequence: 10,
      records: [
        kafkajs.Record({ offsetDelta: 0, timestampDelta: 0, key: 'a', value: 'b', headers: { h: 'v' } }),
        kafkajs.Record({ offsetDelta: 1, timestampDelta: 2, key: null, value: 'c' }),
      ],
    });
    const ours = encodeRecordBatch({
      baseOffset: 5_000_000_000n,
      partitionLeaderEpoch: 17,
      producerId: 42n,
      producerEpoch: 1,
      baseSequence: 10,
      records: [
        { key: 'a', value: 'b', headers: { h: 'v' }, timestamp: NOW },
        { key: null, value: 'c', timestamp: NOW + 2 },
      ],
    });
    expect(ours.toString('hex')).toBe(theirs.buffer.toString('hex'));
  });
});

describe('kafkajs cross-check: each decodes the other', () => {
  for (const [name, c] of Object.entries(cases)) {
    for (const gzip of [false, true]) {
      it(`${name}${gzip ? ', gzip' : ''}`, async () => {
        const theirs = await encodeWithKafkajsProducer({ ...c, gzip });
        const ours = decodeRecordBatch(theirs);
        expect(ours.records.map((r) => r.value)).toEqual(
          c.messages.map((m) => (m.value === null ? null : Buffer.from(m.value))),
        );
        expect(pickKafkajsFields(await decodeWithKafkajs(encodeWithMillrace({ ...c, gzip })))).toEqual(
          asKafkajsSees(ours),
        );
      });
    }
  }

  it('kafkajs reads the control and log-append-time bits Millrace writes', async () => {
    const ours = encodeRecordBatch({
      records: [
        { value: 'a', timestamp: NOW },
        { value: 'b', timestamp: NOW + 4 },
      ],
      isControl: true,
      timestampType: 'log-append-time',
      baseOffset: 10n,
    });
    const theirs = await decodeWithKafkajs(ours);
    expect(pickKafkajsFields(theirs)).toEqual(asKafkajsSees(decodeRecordBatch(ours)));
    expect(theirs.records.map((r) => [r.timestamp, r.isControlRecord])).toEqual([
      [String(NOW + 4), true],
      [String(NOW + 4), true],
    ]);
  });
});

describe('kafkajs cross-check: where kafkajs derives timestamps differently', () => {
  it('kafkajs sorts timestamps as strings, so before 2001 its base can exceed its max; Millrace decodes that batch', async () => {
    const messages = [
      { value: 'nine', timestamp: 9 },
      { value: 'ten', timestamp: 10 },
    ];
    const theirs = await encodeWithKafkajsProducer({ messages });
    const decoded = decodeRecordBatch(theirs);
    expect([decoded.header.baseTimestamp, decoded.header.maxTimestamp]).toEqual([10, 9]);
    expect(decoded.records.map((r) => r.timestamp)).toEqual([9, 10]);
    const ours = decodeRecordBatch(encodeWithMillrace({ messages })).header;
    expect([ours.baseTimestamp, ours.maxTimestamp]).toEqual([9, 10]);
    expect(() => validateRecordBatch(theirs)).toThrow('max timestamp 9 does not match the largest record timestamp 10');
  });

  it('kafkajs leaves records without a timestamp out of maxTimestamp; Millrace counts them at `now`', async () => {
    const messages = [{ value: 'stamped', timestamp: NOW - 100 }, { value: 'unstamped' }];
    const theirs = decodeRecordBatch(await encodeWithKafkajsProducer({ messages }));
    expect([theirs.header.baseTimestamp, theirs.header.maxTimestamp]).toEqual([NOW - 100, NOW - 100]);
    expect(theirs.records.map((r) => r.timestamp)).toEqual([NOW - 100, NOW]);
    const ours = decodeRecordBatch(encodeWithMillrace({ messages })).header;
    expect([ours.baseTimestamp, ours.maxTimestamp]).toEqual([NOW - 100, NOW]);
  });
});

describe('kafkajs cross-check: random batches', () => {
  // The domain where kafkajs and Millrace agree on every input: timestamps all present (13 digits,
  // as every date from 2001 to 2286 is) or all absent, and header values never null, which kafkajs
  // cannot encode. Header keys that name Object.prototype members (toString, constructor, …) are
  // left out because kafkajs's decoder folds headers into a plain object and mistakes the inherited
  // member for an earlier header of that name.
  const bytesOrString = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
  );
  const message = (stamped: boolean) =>
    fc.record(
      {
        key: fc.option(bytesOrString, { nil: null }),
        value: fc.option(bytesOrString, { nil: null }),
        headers: fc.dictionary(
          fc.string({ maxLength: 10 }).filter((key) => !(key in Object.prototype)),
          bytesOrString,
          { maxKeys: 3 },
        ),
        timestamp: stamped ? fc.integer({ min: 1_000_000_000_000, max: 9_999_999_999_999 }) : fc.constant(undefined),
      },
      { requiredKeys: stamped ? ['key', 'value', 'headers', 'timestamp'] : ['key', 'value', 'headers'] },
    );
  const produceCase = fc.record({
    messages: fc.boolean().chain((stamped) => fc.array(message(stamped), { minLength: 1, maxLength: 20 })),
    gzip: fc.boolean(),
    producerId: fc.bigInt({ min: -1n, max: 2n ** 63n - 1n }),
    producerEpoch: fc.integer({ min: -1, max: 32767 }),
    firstSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
  });

  it('encode to identical bytes, and kafkajs reads what Millrace writes', async () => {
    await fc.assert(
      fc.asyncProperty(produceCase, async (c) => {
        const messages = c.messages.map((m) => ({ ...m, headers: { ...m.headers } })) as KafkajsMessage[];
        const kase = { ...c, messages };
        const theirs = await encodeWithKafkajsProducer(kase);
        const ours = encodeWithMillrace(kase);
        expect(ours.toString('hex')).toBe(theirs.toString('hex'));
        expect(pickKafkajsFields(await decodeWithKafkajs(ours))).toEqual(asKafkajsSees(decodeRecordBatch(theirs)));
      }),
      { numRuns: 300 },
    );
  });
});
