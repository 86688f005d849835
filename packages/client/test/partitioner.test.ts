import fc from 'fast-check';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey, StickyPartitions, toPositive } from '../src/producer/partitioner.js';

// kafkajs's DefaultPartitioner is its Java-compatible one: the same murmur2 and the same modulo as
// Kafka's Java client. The SDK must put every key on the same partition number.
const kafkajs = Partitioners.DefaultPartitioner();

function kafkajsPartition(key: Buffer, partitionCount: number): number {
  const partitionMetadata = Array.from({ length: partitionCount }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    partitionErrorCode: 0,
    replicas: [1],
    isr: [1],
  }));
  return kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } });
}

describe('the default partitioner', () => {
  it('agrees with kafkajs’s (Java-compatible) partitioner for every key and partition count', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 1000 }), (bytes, partitions) => {
        const key = Buffer.from(bytes);
        expect(partitionForKey(key, partitions)).toBe(kafkajsPartition(key, partitions));
      }),
      { numRuns: 5000 },
    );
  });

  it('matches Kafka’s published murmur2 values', () => {
    // Values from Kafka's UtilsTest.testMurmur2 (org.apache.kafka.common.utils).
    const cases: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ];
    for (const [text, hash] of cases) expect(murmur2(Buffer.from(text))).toBe(hash);
    expect(murmur2(Buffer.from('abc'))).toBe(479470107);
  });

  it('toPositive clears the sign bit, as Kafka (not Math.abs)', () => {
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(5)).toBe(5);
  });

  it('keyless records stick to one available partition while its batch is open, then move', () => {
    let n = 0;
    const random = () => [0.1, 0.6, 0.9][n++ % 3] as number;
    const sticky = new StickyPartitions(random);
    const input = { topic: 't', key: null, partitionCount: 6, availablePartitions: [1, 3, 5] };
    const open = new Set<number>();
    const hasOpenBatch = (p: number) => open.has(p);
    const first = sticky.partition(input, hasOpenBatch);
    expect([1, 3, 5]).toContain(first);
    open.add(first); // the producer started a batch there
    for (let i = 0; i < 10; i++) expect(sticky.partition(input, hasOpenBatch)).toBe(first);
    open.delete(first); // the batch went (full, lingered or flushed)
    const second = sticky.partition(input, hasOpenBatch);
    expect(second).not.toBe(first);
    expect([1, 3, 5]).toContain(second);
    open.add(second);
    expect(sticky.partition(input, hasOpenBatch)).toBe(second);
    // A keyed record is not sticky.
    expect(sticky.partition({ ...input, key: Buffer.from('k') }, hasOpenBatch)).toBe(
      partitionForKey(Buffer.from('k'), 6),
    );
  });
});
