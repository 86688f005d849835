import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMillraceError } from '../src/errors.js';
import {
  decodeFetchResponse,
  decodeFrame,
  decodeProduceRequest,
  encodeFetchResponse,
  encodeFrame,
  encodeProduceRequest,
} from '../src/framing.js';

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isMillraceError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
  return 'accepted';
}

describe('frames', () => {
  it('round-trip a header and raw sections, zero-copy', () => {
    const sections = [Buffer.from('abc'), Buffer.alloc(0), Buffer.from([0, 255, 1])];
    const body = encodeFrame({ hello: 'world', n: [1, 2] }, sections);
    const frame = decodeFrame(body);
    expect(frame.header).toEqual({ hello: 'world', n: [1, 2] });
    expect(frame.sections.map((s) => [...s])).toEqual(sections.map((s) => [...s]));
    expect(frame.sections[0]!.buffer).toBe(body.buffer);
  });

  it('refuse each malformed frame with INVALID_REQUEST saying what is wrong', () => {
    const good = encodeFrame({ a: 1 }, [Buffer.from('xy')]);
    const mutate = (at: number, value: number) => {
      const copy = Buffer.from(good);
      copy[at] = value;
      return copy;
    };
    const cases: [Buffer, RegExp][] = [
      [Buffer.alloc(0), /shorter than the smallest frame/],
      [Buffer.from('{"a":1}'), /shorter than the smallest frame|magic/],
      [mutate(0, 0x7b), /magic 0x7b46/],
      [mutate(2, 9), /version 9 is not supported/],
      [mutate(3, 0x7f), /exceeds the limit/],
      [mutate(6, 200), /runs past the end/],
      [good.subarray(0, good.length - 1), /add up to \d+ bytes but the body has/],
      [Buffer.concat([good, Buffer.from('!')]), /add up to \d+ bytes but the body has/],
    ];
    for (const [body, message] of cases) {
      const outcome = codeOf(() => decodeFrame(body));
      expect(outcome).toMatch(/^INVALID_REQUEST: Malformed frame: /);
      expect(outcome).toMatch(message);
    }
    const notJson = Buffer.from(good);
    notJson.write('{', 7);
    notJson.write('?', 8);
    expect(codeOf(() => decodeFrame(notJson))).toMatch(/the header is not valid JSON/);
    expect(codeOf(() => decodeFrame(encodeFrame({}, [Buffer.alloc(1), Buffer.alloc(1)]), { maxSections: 1 }))).toMatch(
      /section count 2 exceeds the limit of 1/,
    );
  });

  it('only ever throw typed errors on random bytes and mutations (property)', () => {
    const valid = encodeFrame({ topics: [] }, [Buffer.from('records')]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const outcome = codeOf(() => decodeFrame(Buffer.from(bytes)));
        expect(outcome === 'accepted' || outcome.startsWith('INVALID_REQUEST')).toBe(true);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const copy = Buffer.from(valid);
        copy[at] = value;
        const outcome = codeOf(() => decodeFrame(copy));
        expect(outcome === 'accepted' || outcome.startsWith('INVALID_REQUEST')).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('produce requests', () => {
  it('carry each partition’s batches as a raw section, in header order', () => {
    const body = encodeProduceRequest({
      acks: 'all',
      timeoutMs: 5000,
      topics: [
        {
          topic: 'a',
          partitions: [
            { partition: 0, records: Buffer.from('p0') },
            { partition: 1, leaderEpoch: 3, records: Buffer.from('p1') },
          ],
        },
        { topic: 'b', partitions: [{ partition: 7, records: Buffer.from('b7') }] },
      ],
    });
    expect(body.includes(Buffer.from('"records"'))).toBe(false);
    const decoded = decodeProduceRequest(body);
    expect(decoded.acks).toBe('all');
    const flat = decoded.topics.flatMap((t) => t.partitions.map((p) => `${t.topic}/${p.partition}=${p.records}`));
    expect(flat).toEqual(['a/0=p0', 'a/1=p1', 'b/7=b7']);
    expect(decoded.topics[0]!.partitions[1]!.leaderEpoch).toBe(3);
  });

  it('refuse a header that does not match the sections or the schema', () => {
    const mismatched = encodeFrame(
      { acks: 1, timeoutMs: 1, topics: [{ topic: 'a', partitions: [{ partition: 0 }] }] },
      [],
    );
    expect(codeOf(() => decodeProduceRequest(mismatched))).toMatch(/lists 1 partitions but the frame has 0 sections/);
    const badAcks = encodeFrame({ acks: 5, timeoutMs: 1, topics: [{ topic: 'a', partitions: [{ partition: 0 }] }] }, [
      Buffer.alloc(0),
    ]);
    expect(codeOf(() => decodeProduceRequest(badAcks))).toMatch(
      /^INVALID_REQUEST: Invalid frame header: frame header\.acks/,
    );
    const badTopic = encodeFrame({ acks: 1, timeoutMs: 1, topics: [{ topic: '..', partitions: [{ partition: 0 }] }] }, [
      Buffer.alloc(0),
    ]);
    expect(codeOf(() => decodeProduceRequest(badTopic))).toMatch(/frame header\.topics\[0\]\.topic/);
  });
});

describe('fetch responses', () => {
  it('round-trip with offsets as bigint and records as raw bytes', () => {
    const body = encodeFetchResponse({
      sessionId: 4,
      topics: [
        {
          topic: 't',
          partitions: [
            { partition: 0, highWatermark: '10', logStartOffset: '0', records: Buffer.from('batch') },
            {
              partition: 1,
              highWatermark: '0',
              logStartOffset: '0',
              error: { code: 'NOT_LEADER_OR_FOLLOWER', message: 'moved', retriable: true },
              records: Buffer.alloc(0),
            },
          ],
        },
      ],
    });
    const decoded = decodeFetchResponse(body);
    expect(decoded.sessionId).toBe(4);
    expect(decoded.topics[0]!.partitions[0]!.highWatermark).toBe(10n);
    expect(decoded.topics[0]!.partitions[0]!.records.toString()).toBe('batch');
    expect(decoded.topics[0]!.partitions[1]!.error?.code).toBe('NOT_LEADER_OR_FOLLOWER');
  });

  it('report a malformed response as CORRUPT_MESSAGE, not as the client’s bad request', () => {
    expect(codeOf(() => decodeFetchResponse(Buffer.from('garbage!garbage')))).toMatch(
      /^CORRUPT_MESSAGE: Malformed frame/,
    );
    const badHeader = encodeFrame({ topics: [{ topic: 't', partitions: [{ partition: 0 }] }] }, [Buffer.alloc(0)]);
    expect(codeOf(() => decodeFetchResponse(badHeader))).toMatch(/^CORRUPT_MESSAGE: Invalid frame header/);
  });
});
