import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  crc32c,
  decodeRecordBatch,
  encodeRecordBatch,
  lastOffsetOf,
  RECORD_BATCH_DEFAULT_MAX_UNCOMPRESSED_BYTES,
  RECORD_BATCH_HEADER_BYTES,
  RECORD_BATCH_MAGIC,
  type RecordInput,
  readRecordBatchHeader,
  setBaseOffset,
  setPartitionLeaderEpoch,
  splitRecordBatches,
  validateRecordBatch,
  verifyRecordBatchCrc,
} from '../../src/record-batch/index.js';
import { expectCorrupt, expectMillraceError, rawBatch, rawRecord, varintOracle, withFixedCrc } from './helpers.js';

const T0 = 1_700_000_000_000;

describe('record batch v2: round trips', () => {
  it('keeps keys, values and timestamps, and numbers offsets from baseOffset', () => {
    const buf = encodeRecordBatch({
      baseOffset: 42n,
      records: [
        { key: 'k0', value: 'v0', timestamp: T0 },
        { key: Buffer.from([0, 1, 2]), value: Buffer.from('ü'), timestamp: T0 + 7 },
      ],
    });
    const { header, records } = decodeRecordBatch(buf);
    expect(header).toMatchObject({
      baseOffset: 42n,
      magic: RECORD_BATCH_MAGIC,
      lastOffsetDelta: 1,
      recordCount: 2,
      baseTimestamp: T0,
      maxTimestamp: T0 + 7,
      sizeInBytes: buf.length,
      batchLength: buf.length - 12,
    });
    expect(records.map((r) => [r.offset, r.offsetDelta, r.timestamp, r.attributes])).toEqual([
      [42n, 0, T0, 0],
      [43n, 1, T0 + 7, 0],
    ]);
    expect(records[0]!.key!.toString()).toBe('k0');
    expect(records[0]!.value!.toString()).toBe('v0');
    expect(records[1]!.key).toEqual(Buffer.from([0, 1, 2]));
    expect(records[1]!.value!.toString()).toBe('ü');
  });

  it('tells a null key and value (length -1) from empty ones (length 0)', () => {
    const buf = encodeRecordBatch({
      records: [
        { key: null, value: null },
        { value: null },
        { key: '', value: '' },
        { key: Buffer.alloc(0), value: Buffer.alloc(0) },
      ],
      now: T0,
    });
    const { records } = decodeRecordBatch(buf);
    expect(records.map((r) => [r.key, r.value])).toEqual([
      [null, null],
      [null, null],
      [Buffer.alloc(0), Buffer.alloc(0)],
      [Buffer.alloc(0), Buffer.alloc(0)],
    ]);
  });

  it('keeps headers in order, with repeated keys, null values and unicode keys', () => {
    const headers = [
      { key: 'trace', value: Buffer.from('abc') },
      { key: 'trace', value: Buffer.from('def') },
      { key: 'ключ', value: null },
      { key: '🔑 clé', value: Buffer.alloc(0) },
      { key: '', value: Buffer.from([0xff]) },
    ];
    const { records } = decodeRecordBatch(encodeRecordBatch({ records: [{ value: 'x', headers }], now: T0 }));
    expect(records[0]!.headers).toEqual(headers);
  });

  it('writes object headers in Object.keys order, string values as UTF-8', () => {
    const { records } = decodeRecordBatch(
      encodeRecordBatch({ records: [{ value: 'x', headers: { b: 'ß', a: Buffer.from('1') } }], now: T0 }),
    );
    expect(records[0]!.headers).toEqual([
      { key: 'b', value: Buffer.from('ß') },
      { key: 'a', value: Buffer.from('1') },
    ]);
  });

  it('round-trips many records with multi-byte varints for lengths, deltas and offsets', () => {
    const input: RecordInput[] = Array.from({ length: 3000 }, (_, i) => ({
      key: i % 3 === 0 ? null : `key-${i}`,
      value: Buffer.alloc(i % 200, i & 0xff),
      timestamp: T0 + i * 1000,
    }));
    const { header, records } = decodeRecordBatch(encodeRecordBatch({ records: input, baseOffset: 1_000_000n }));
    expect(header.recordCount).toBe(3000);
    expect(header.lastOffsetDelta).toBe(2999);
    expect(header.maxTimestamp).toBe(T0 + 2999 * 1000);
    expect(records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value!.toString('hex')])).toEqual(
      input.map((r, i) => [1_000_000n + BigInt(i), T0 + i * 1000, r.key, (r.value as Buffer).toString('hex')]),
    );
  });

  it('bases timestamps on the smallest and largest record timestamp; records without one take `now`', () => {
    const buf = encodeRecordBatch({
      records: [{ value: 'a', timestamp: T0 + 50 }, { value: 'b' }, { value: 'c', timestamp: T0 - 20 }],
      now: T0 + 100,
    });
    const { header, records } = decodeRecordBatch(buf);
    expect(header.baseTimestamp).toBe(T0 - 20);
    expect(header.maxTimestamp).toBe(T0 + 100);
    expect(records.map((r) => r.timestamp)).toEqual([T0 + 50, T0 + 100, T0 - 20]);
    expect(validateRecordBatch(buf)).toEqual(header);
  });

  it('keeps timestamps across the whole safe range, including 0 and multi-byte varlong deltas', () => {
    const stamps = [0, 1, 2 ** 31, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
    const { header, records } = decodeRecordBatch(
      encodeRecordBatch({ records: stamps.map((timestamp) => ({ value: null, timestamp })) }),
    );
    expect(records.map((r) => r.timestamp)).toEqual(stamps);
    expect([header.baseTimestamp, header.maxTimestamp]).toEqual([0, Number.MAX_SAFE_INTEGER]);
  });

  it('with log-append-time, sets attribute bit 3 and gives every record the max timestamp (as Kafka does)', () => {
    const buf = encodeRecordBatch({
      records: [
        { value: 'a', timestamp: T0 },
        { value: 'b', timestamp: T0 + 9 },
      ],
      timestampType: 'log-append-time',
    });
    const { header, records } = decodeRecordBatch(buf);
    expect(header.attributes).toBe(0b1000);
    expect(header.timestampType).toBe('log-append-time');
    expect(records.map((r) => r.timestamp)).toEqual([T0 + 9, T0 + 9]);
  });

  it('writes the defaults of a non-idempotent producer: epochs, producer id and sequence -1', () => {
    const header = readRecordBatchHeader(encodeRecordBatch({ records: [{ value: 'v' }], now: T0 }));
    expect(header).toEqual({
      baseOffset: 0n,
      batchLength: header.sizeInBytes - 12,
      partitionLeaderEpoch: -1,
      magic: 2,
      crc: header.crc,
      attributes: 0,
      compression: 'none',
      timestampType: 'create-time',
      isTransactional: false,
      isControl: false,
      hasDeleteHorizon: false,
      lastOffsetDelta: 0,
      baseTimestamp: T0,
      maxTimestamp: T0,
      producerId: -1n,
      producerEpoch: -1,
      baseSequence: -1,
      recordCount: 1,
      sizeInBytes: header.sizeInBytes,
    });
  });

  it('keeps producer id, epoch, sequence and the transactional and control bits', () => {
    const buf = encodeRecordBatch({
      records: [{ value: 'v' }],
      now: T0,
      producerId: 0x7fff_ffff_ffff_fff0n,
      producerEpoch: 32767,
      baseSequence: 0x7fff_fff0,
      isTransactional: true,
      isControl: true,
      partitionLeaderEpoch: 7,
    });
    expect(decodeRecordBatch(buf).header).toMatchObject({
      producerId: 0x7fff_ffff_ffff_fff0n,
      producerEpoch: 32767,
      baseSequence: 0x7fff_fff0,
      isTransactional: true,
      isControl: true,
      attributes: 0b11_0000,
      partitionLeaderEpoch: 7,
    });
  });

  it('lays the batch out exactly as the spec says (compared with a batch assembled by hand)', () => {
    const ours = encodeRecordBatch({
      baseOffset: 5n,
      partitionLeaderEpoch: 3,
      producerId: 9n,
      producerEpoch: 2,
      baseSequence: 11,
      isTransactional: true,
      records: [
        { key: 'k', value: 'hello', headers: [{ key: 'h', value: Buffer.from('x') }], timestamp: T0 + 300 },
        { key: null, value: Buffer.from([1, 2]), timestamp: T0 },
      ],
    });
    const byHand = rawBatch({
      baseOffset: 5n,
      partitionLeaderEpoch: 3,
      attributes: 0x10,
      recordCount: 2,
      baseTimestamp: BigInt(T0),
      maxTimestamp: BigInt(T0 + 300),
      producerId: 9n,
      producerEpoch: 2,
      baseSequence: 11,
      records: Buffer.concat([
        rawRecord({
          timestampDelta: 300,
          offsetDelta: 0,
          key: Buffer.from('k'),
          value: Buffer.from('hello'),
          headers: [{ key: Buffer.from('h'), value: Buffer.from('x') }],
        }),
        rawRecord({ timestampDelta: 0, offsetDelta: 1, key: null, value: Buffer.from([1, 2]) }),
      ]),
    });
    expect(ours.toString('hex')).toBe(byHand.toString('hex'));
  });

  it('returns keys and values of an uncompressed batch as views into the batch buffer', () => {
    const buf = encodeRecordBatch({ records: [{ key: 'key', value: 'value', headers: { h: 'v' } }], now: T0 });
    const record = decodeRecordBatch(buf).records[0]!;
    for (const view of [record.key!, record.value!, record.headers[0]!.value!]) {
      expect(view.buffer).toBe(buf.buffer);
      expect(view.byteOffset).toBeGreaterThanOrEqual(buf.byteOffset + RECORD_BATCH_HEADER_BYTES);
    }
    buf[buf.indexOf('value')] = 0x56;
    expect(record.value!.toString()).toBe('Value');
  });

  it('decodes a batch that sits inside a larger buffer at an offset', () => {
    const batch = encodeRecordBatch({ records: [{ key: 'a', value: 'b' }], now: T0 });
    const big = Buffer.concat([Buffer.from('junk'), batch, Buffer.from('more')]);
    const view = big.subarray(4, 4 + batch.length);
    expect(decodeRecordBatch(view).records[0]!.value!.toString()).toBe('b');
  });
});

describe('record batch v2: gzip', () => {
  it('round-trips, compressing everything after recordCount', () => {
    const input = Array.from({ length: 50 }, (_, i) => ({
      key: `k${i}`,
      value: 'the same text again and again '.repeat(20),
      headers: [{ key: 'i', value: Buffer.from(String(i)) }],
      timestamp: T0 + i,
    }));
    const gz = encodeRecordBatch({ records: input, compression: 'gzip' });
    const plain = encodeRecordBatch({ records: input });
    expect(gz.length).toBeLessThan(plain.length / 5);
    const header = readRecordBatchHeader(gz);
    expect(header.compression).toBe('gzip');
    expect(header.attributes & 7).toBe(1);
    expect(header.recordCount).toBe(50);
    // Inflating what follows recordCount gives back exactly the uncompressed records section.
    const decoded = decodeRecordBatch(gz);
    expect(decoded.records).toEqual(decodeRecordBatch(plain).records);
    expect(validateRecordBatch(gz)).toEqual(header);
  });

  it('compresses the records section with zlib defaults, so gzipSync of the plain records gives the same bytes', () => {
    const records = [{ key: 'a', value: 'b'.repeat(100), timestamp: T0 }];
    const gz = encodeRecordBatch({ records, compression: 'gzip' });
    const plain = encodeRecordBatch({ records });
    expect(gz.subarray(RECORD_BATCH_HEADER_BYTES)).toEqual(gzipSync(plain.subarray(RECORD_BATCH_HEADER_BYTES)));
  });

  it('bounds inflation by maxUncompressedBytes, 64 MiB by default', () => {
    expect(RECORD_BATCH_DEFAULT_MAX_UNCOMPRESSED_BYTES).toBe(64 * 1024 * 1024);
    const gz = encodeRecordBatch({ records: [{ value: Buffer.alloc(100_000) }], compression: 'gzip', now: T0 });
    expect(decodeRecordBatch(gz, { maxUncompressedBytes: 200_000 }).records[0]!.value!.length).toBe(100_000);
    expectCorrupt(() => decodeRecordBatch(gz, { maxUncompressedBytes: 50_000 }), 'more than maxUncompressedBytes');
    expect(() => decodeRecordBatch(gz, { maxUncompressedBytes: 0 })).toThrow(RangeError);
  });
});

describe('record batch v2: codecs Millrace does not handle', () => {
  for (const compression of ['snappy', 'lz4', 'zstd'] as const) {
    it(`refuses to encode ${compression}`, () => {
      expectMillraceError(
        () => encodeRecordBatch({ records: [{ value: 'v' }], compression }),
        'UNSUPPORTED_COMPRESSION_TYPE',
        `compression ${compression} is not supported`,
      );
    });
  }

  for (const [id, name] of [
    [2, 'snappy'],
    [3, 'lz4'],
    [4, 'zstd'],
  ] as const) {
    it(`reads the header of a ${name} batch but refuses to decode or validate it`, () => {
      const buf = rawBatch({ attributes: id, records: Buffer.from('not really compressed') });
      expect(readRecordBatchHeader(buf).compression).toBe(name);
      verifyRecordBatchCrc(buf);
      for (const run of [() => decodeRecordBatch(buf), () => validateRecordBatch(buf)]) {
        expectMillraceError(run, 'UNSUPPORTED_COMPRESSION_TYPE', `compression type ${name} is not supported`);
      }
    });
  }

  for (const id of [5, 6, 7]) {
    it(`refuses undefined compression id ${id} even in the header`, () => {
      const buf = rawBatch({ attributes: id, records: rawRecord({}) });
      for (const run of [() => readRecordBatchHeader(buf), () => decodeRecordBatch(buf)]) {
        expectMillraceError(run, 'UNSUPPORTED_COMPRESSION_TYPE', `compression type ${id} in the batch attributes`);
      }
    });
  }
});

describe('record batch v2: fields the leader rewrites in place', () => {
  it('setBaseOffset keeps the CRC valid, and decode sees the new offsets', () => {
    const buf = encodeRecordBatch({ records: [{ value: 'a' }, { value: 'b' }, { value: 'c' }], now: T0 });
    const crcBefore = buf.readUInt32BE(17);
    setBaseOffset(buf, 1_000n);
    expect(buf.readUInt32BE(17)).toBe(crcBefore);
    verifyRecordBatchCrc(buf);
    const { header, records } = decodeRecordBatch(buf);
    expect(header.baseOffset).toBe(1_000n);
    expect(lastOffsetOf(header)).toBe(1_002n);
    expect(records.map((r) => r.offset)).toEqual([1_000n, 1_001n, 1_002n]);
    validateRecordBatch(buf);
  });

  it('setPartitionLeaderEpoch keeps the CRC valid, and decode sees the epoch', () => {
    const buf = encodeRecordBatch({ records: [{ value: 'a' }], now: T0 });
    setPartitionLeaderEpoch(buf, 12);
    verifyRecordBatchCrc(buf);
    expect(decodeRecordBatch(buf).header.partitionLeaderEpoch).toBe(12);
  });

  it('treats a bad offset or epoch as a caller bug (RangeError), a bad buffer as CORRUPT_MESSAGE', () => {
    const buf = encodeRecordBatch({ records: [{ value: 'a' }, { value: 'b' }], now: T0 });
    expect(() => setBaseOffset(buf, -1n)).toThrow(RangeError);
    expect(() => setBaseOffset(buf, 0x7fff_ffff_ffff_ffffn)).toThrow(RangeError);
    setBaseOffset(buf, 0x7fff_ffff_ffff_fffen);
    expect(lastOffsetOf(readRecordBatchHeader(buf))).toBe(0x7fff_ffff_ffff_ffffn);
    expect(() => setPartitionLeaderEpoch(buf, 2 ** 31)).toThrow(RangeError);
    expect(() => setPartitionLeaderEpoch(buf, 1.5)).toThrow(RangeError);
    expectCorrupt(() => setBaseOffset(buf.subarray(0, 40), 1n), 'shorter than the 61-byte header');
    expectCorrupt(() => setPartitionLeaderEpoch(buf.subarray(0, 70), 1), 'but the buffer holds 70');
  });
});

describe('record batch v2: record sets', () => {
  const a = encodeRecordBatch({ records: [{ value: 'a' }], now: T0 });
  const b = encodeRecordBatch({ records: [{ value: 'bb' }, { value: 'bbb' }], baseOffset: 1n, now: T0 });
  const c = encodeRecordBatch({ records: [{ value: 'c'.repeat(500) }], compression: 'gzip', baseOffset: 3n, now: T0 });

  it('splits concatenated batches into views of each batch', () => {
    const set = Buffer.concat([a, b, c]);
    const parts = splitRecordBatches(set);
    expect(parts).toEqual([a, b, c]);
    expect(parts[1]!.buffer).toBe(set.buffer);
    expect(parts.map((p) => decodeRecordBatch(p).header.baseOffset)).toEqual([0n, 1n, 3n]);
  });

  it('splits an empty record set into no batches', () => {
    expect(splitRecordBatches(Buffer.alloc(0))).toEqual([]);
  });

  it('refuses a record set whose last batch is truncated', () => {
    const set = Buffer.concat([a, b]);
    expectCorrupt(
      () => splitRecordBatches(set.subarray(0, set.length - 1)),
      `batch at byte ${a.length} is truncated: batch length ${b.length - 12} needs ${b.length} bytes, ${b.length - 1} remain`,
    );
    expectCorrupt(
      () => splitRecordBatches(set.subarray(0, a.length + 7)),
      `record set ends with 7 bytes at byte ${a.length}, too few`,
    );
  });

  it('refuses a batch length shorter than a header', () => {
    const set = Buffer.concat([a, b]);
    set.writeInt32BE(12, a.length + 8);
    expectCorrupt(
      () => splitRecordBatches(set),
      `batch at byte ${a.length}: batch length 12 is shorter than the 49-byte header`,
    );
    set.writeInt32BE(-5, a.length + 8);
    expectCorrupt(() => splitRecordBatches(set), 'batch length -5 is shorter');
  });
});

describe('record batch v2: validation of produced batches', () => {
  it('returns the header that readRecordBatchHeader reads', () => {
    const buf = encodeRecordBatch({ records: [{ value: 'a' }, { value: 'b' }], now: T0 });
    expect(validateRecordBatch(buf)).toEqual(readRecordBatchHeader(buf));
  });

  it('decodes a compacted batch with gaps in its offset deltas, which validation refuses', () => {
    const buf = rawBatch({
      recordCount: 2,
      lastOffsetDelta: 5,
      records: Buffer.concat([rawRecord({ offsetDelta: 1 }), rawRecord({ offsetDelta: 5 })]),
    });
    expect(decodeRecordBatch(buf).records.map((r) => r.offset)).toEqual([1n, 5n]);
    expectCorrupt(() => validateRecordBatch(buf), 'last offset delta 5 does not match record count 2 (expected 1)');
    const gap = rawBatch({
      recordCount: 2,
      records: Buffer.concat([rawRecord({ offsetDelta: 0 }), rawRecord({ offsetDelta: 2 })]),
    });
    expectCorrupt(() => decodeRecordBatch(gap), "record 1: offset delta 2 exceeds the batch's last offset delta 1");
    expectCorrupt(() => validateRecordBatch(gap), 'record 1: offset delta 2 should be 1');
  });

  it('decodes an empty batch (left by compaction) but does not accept one from a producer', () => {
    const buf = rawBatch({ recordCount: 0, lastOffsetDelta: 3, records: Buffer.alloc(0) });
    expect(decodeRecordBatch(buf).records).toEqual([]);
    expectCorrupt(() => validateRecordBatch(buf), 'record count is 0');
  });

  it('refuses a create-time batch whose max timestamp is not its largest record timestamp', () => {
    const records = Buffer.concat([
      rawRecord({ timestampDelta: 0 }),
      rawRecord({ timestampDelta: 10, offsetDelta: 1 }),
    ]);
    const base = BigInt(T0);
    const lying = rawBatch({ recordCount: 2, baseTimestamp: base, maxTimestamp: base + 5n, records });
    expect(decodeRecordBatch(lying).header.maxTimestamp).toBe(T0 + 5);
    expectCorrupt(
      () => validateRecordBatch(lying),
      `max timestamp ${T0 + 5} does not match the largest record timestamp ${T0 + 10}`,
    );
    // With log-append-time the broker owns the timestamps, so record deltas are not compared.
    validateRecordBatch(
      rawBatch({ recordCount: 2, attributes: 8, baseTimestamp: base, maxTimestamp: base + 5n, records }),
    );
  });

  it('reads the header without checking the CRC; decode and validate check it', () => {
    const buf = encodeRecordBatch({ records: [{ value: 'abc' }], now: T0 });
    buf[buf.length - 2] = buf[buf.length - 2]! ^ 1;
    expect(readRecordBatchHeader(buf).recordCount).toBe(1);
    expectCorrupt(() => verifyRecordBatchCrc(buf), 'CRC-32C mismatch');
    expectCorrupt(() => validateRecordBatch(buf), 'CRC-32C mismatch');
    withFixedCrc(buf);
    verifyRecordBatchCrc(buf);
  });
});

describe('record batch v2: encoder input', () => {
  const invalid = (options: Parameters<typeof encodeRecordBatch>[0], fragment: string) =>
    expectMillraceError(() => encodeRecordBatch(options), 'INVALID_RECORD', fragment);

  it('needs at least one record', () => {
    invalid({ records: [] }, 'records: a batch needs at least one record');
  });

  it('refuses out-of-range and non-integer numbers, naming the field', () => {
    const records = [{ value: 'v' }];
    invalid({ records, partitionLeaderEpoch: 2 ** 31 }, 'partitionLeaderEpoch: 2147483648 is not an integer');
    invalid({ records, producerEpoch: 40_000 }, 'producerEpoch: 40000 is not an integer from -32768 to 32767');
    invalid({ records, baseSequence: 1.5 }, 'baseSequence: 1.5');
    invalid({ records, baseOffset: -1n }, 'baseOffset: -1 is not a bigint');
    invalid({ records, producerId: 2n ** 63n }, 'producerId: 9223372036854775808');
    invalid({ records: [{ value: 'v', timestamp: -1 }] }, 'records[0].timestamp: -1 is not a timestamp');
    invalid({ records: [{ value: 'v', timestamp: 2 ** 53 }] }, 'records[0].timestamp');
    invalid({ records, now: Number.NaN }, 'now: NaN');
    invalid({ records: [{ value: 'a' }, { value: 'b' }], baseOffset: 2n ** 63n - 1n }, 'baseOffset');
  });

  it('refuses a missing value (pass null for a tombstone) and keys or values of the wrong type', () => {
    invalid({ records: [{ value: 'a' }, {} as RecordInput] }, 'records[1].value: missing; pass null for a tombstone');
    invalid({ records: [{ key: 5 as unknown as string, value: 'a' }] }, 'records[0].key: must be a Buffer');
    invalid({ records: [{ value: 'a', headers: [{ key: 1 as unknown as string, value: null }] }] }, 'headers[0].key');
    invalid({ records: [null as unknown as RecordInput] }, 'records[0]: must be an object');
  });

  it('refuses unknown compression and timestamp types', () => {
    invalid({ records: [{ value: 'a' }], compression: 'brotli' as 'gzip' }, 'compression: brotli');
    invalid({ records: [{ value: 'a' }], timestampType: 'now' as 'create-time' }, 'timestampType: now');
  });
});

describe('crc32c', () => {
  it('gives the standard check value for "123456789"', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('is stored at byte 17 and covers attributes to the end', () => {
    const buf = encodeRecordBatch({ records: [{ value: 'v' }], now: T0 });
    expect(buf.readUInt32BE(17)).toBe(crc32c(buf.subarray(21)));
    expect(varintOracle(-1)).toEqual(Buffer.from([1]));
  });
});
