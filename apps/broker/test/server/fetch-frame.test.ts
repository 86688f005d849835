import { decodeFetchResponse, encodeFetchResponse } from '@millrace/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BatchedFetchResponse, encodeFetchFrame } from '../../src/routes/fetch-frame.js';

const batches = fc.array(
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  { maxLength: 4 },
);
const partition = fc.record({
  partition: fc.nat({ max: 1000 }),
  highWatermark: fc.bigInt({ min: 0n, max: 1n << 40n }).map(String),
  logStartOffset: fc.bigInt({ min: 0n, max: 1n << 40n }).map(String),
  records: batches,
});
const response = fc.record(
  {
    topics: fc.array(fc.record({ topic: fc.stringMatching(/^[a-z]{1,8}$/), partitions: fc.array(partition) })),
    sessionId: fc.nat({ max: 0x7fff_ffff }),
  },
  { requiredKeys: ['topics'] },
);

describe('encodeFetchFrame', () => {
  it("gives the bytes of protocol's encodeFetchResponse with each partition's batches joined", () => {
    fc.assert(
      fc.property(response, (batched) => {
        const joined = {
          ...batched,
          topics: batched.topics.map(({ topic, partitions }) => ({
            topic,
            partitions: partitions.map((p) => ({ ...p, records: Buffer.concat(p.records) })),
          })),
        };
        const bytes = encodeFetchFrame(batched as BatchedFetchResponse);
        expect(bytes.equals(encodeFetchResponse(joined))).toBe(true);
        const decoded = decodeFetchResponse(bytes);
        expect(decoded.topics.flatMap((t) => t.partitions.map((p) => p.records))).toEqual(
          joined.topics.flatMap((t) => t.partitions.map((p) => p.records)),
        );
      }),
      { numRuns: 300 },
    );
  });
});
