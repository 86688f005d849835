import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodeRecordBatch,
  encodeRecordBatch,
  readRecordBatchHeader,
  validateRecordBatch,
  verifyRecordBatchCrc,
} from '../../src/record-batch/index.js';
import { expectCorrupt, rawBatch, rawRecord, varintOracle, withFixedCrc } from './helpers.js';

/**
 * Damaged batches, one defect per case. Each must be refused with CORRUPT_MESSAGE and a message
 * that says what is wrong and where. Most cases fix the CRC after the damage, so that the
 * structural check, not the CRC, is what catches it.
 */

const T0 = 1_700_000_000_000;

function sample(): Buffer {
  return encodeRecordBatch({
    records: [
      { key: 'key-0', value: 'value-0', headers: { h: 'x' }, timestamp: T0 },
      { key: 'key-1', value: 'value-1', timestamp: T0 + 1 },
      { key: null, value: 'value-2', timestamp: T0 + 2 },
    ],
  });
}

/** A one-record batch whose record section is `records`, count and CRC as given or derived. */
function batchOf(records: Buffer, recordCount = 1): Buffer {
  return rawBatch({ records, recordCount, lastOffsetDelta: Math.max(0, recordCount - 1) });
}

describe('corrupt batches: CRC', () => {
  it('a flipped bit in a record value is a CRC mismatch naming both CRCs', () => {
    const buf = sample();
    const stored = buf.readUInt32BE(17);
    const at = buf.indexOf('value-1') + 3;
    buf[at] = buf[at]! ^ 0x20;
    const error = expectCorrupt(
      () => decodeRecordBatch(buf),
      /^CRC-32C mismatch: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}$/,
    );
    expect(error.message).toContain(`stored 0x${stored.toString(16).padStart(8, '0')}`);
    expectCorrupt(() => validateRecordBatch(buf), 'CRC-32C mismatch');
    expectCorrupt(() => verifyRecordBatchCrc(buf), 'CRC-32C mismatch');
  });

  it('a flipped bit in the attributes or the record count is a CRC mismatch, not a structure error', () => {
    const attributes = sample();
    attributes[22] = attributes[22]! ^ 0x10;
    expectCorrupt(() => decodeRecordBatch(attributes), 'CRC-32C mismatch');
    const count = sample();
    count[60] = 200;
    expectCorrupt(() => decodeRecordBatch(count), 'CRC-32C mismatch');
  });

  it('a damaged stored CRC is a mismatch', () => {
    const buf = sample();
    buf.writeUInt32BE(0xdeadbeef, 17);
    expectCorrupt(() => decodeRecordBatch(buf), 'stored 0xdeadbeef');
  });
});

describe('corrupt batches: framing', () => {
  it('truncated inside the header', () => {
    const buf = sample();
    for (const length of [0, 1, 12, 16, 17, 40, 60]) {
      expectCorrupt(
        () => decodeRecordBatch(buf.subarray(0, length)),
        `record batch of ${length} bytes is shorter than the 61-byte header`,
      );
    }
  });

  it('truncated inside the records', () => {
    const buf = sample();
    for (const length of [61, 62, 80, buf.length - 1]) {
      expectCorrupt(
        () => decodeRecordBatch(buf.subarray(0, length)),
        `batch length ${buf.length - 12} makes the batch ${buf.length} bytes, but the buffer holds ${length}`,
      );
    }
  });

  it('batch length larger than the buffer', () => {
    const buf = sample();
    buf.writeInt32BE(buf.length, 8);
    expectCorrupt(() => decodeRecordBatch(buf), `batch length ${buf.length} makes the batch ${buf.length + 12} bytes`);
  });

  it('batch length smaller than the buffer (bytes after the batch)', () => {
    const buf = Buffer.concat([sample(), Buffer.from([0, 0, 0])]);
    expectCorrupt(() => decodeRecordBatch(buf), `but the buffer holds ${buf.length}`);
  });

  it('batch length shorter than a header', () => {
    const buf = sample();
    buf.writeInt32BE(12, 8);
    expectCorrupt(() => decodeRecordBatch(buf), 'batch length 12 is shorter than the 49-byte header');
    buf.writeInt32BE(-1, 8);
    expectCorrupt(() => readRecordBatchHeader(buf), 'batch length -1 is shorter than the 49-byte header');
  });

  for (const magic of [0, 1, 3, -1]) {
    it(`magic ${magic}`, () => {
      const buf = sample();
      buf.writeInt8(magic, 16);
      expectCorrupt(() => decodeRecordBatch(buf), `magic ${magic} is not supported`);
      expectCorrupt(() => readRecordBatchHeader(buf), `magic ${magic} is not supported`);
    });
  }

  it('a legacy (magic 1) message shorter than a v2 header is refused for its magic', () => {
    const legacy = Buffer.alloc(34);
    legacy.writeInt32BE(22, 8);
    legacy[16] = 1;
    expectCorrupt(() => decodeRecordBatch(legacy), 'magic 1 is not supported');
  });
});

describe('corrupt batches: header fields', () => {
  it('record count larger than the bytes could hold', () => {
    const buf = withFixedCrc(sample());
    buf.writeInt32BE(1000, 57);
    withFixedCrc(buf);
    expectCorrupt(
      () => decodeRecordBatch(buf),
      `record count 1000 cannot fit in ${buf.length - 61} bytes of records (a record takes at least 7)`,
    );
    expectCorrupt(() => readRecordBatchHeader(buf), 'record count 1000 cannot fit');
  });

  it('record count larger than the records present', () => {
    const value = Buffer.alloc(10);
    const buf = batchOf(Buffer.concat([rawRecord({ value }), rawRecord({ offsetDelta: 1, value })]), 3);
    expectCorrupt(() => decodeRecordBatch(buf), 'record 2: missing: the records end at byte 95 after 2 of 3');
  });

  it('record count smaller than the records present leaves trailing bytes', () => {
    const buf = batchOf(Buffer.concat([rawRecord({}), rawRecord({ offsetDelta: 1 })]), 1);
    expectCorrupt(() => decodeRecordBatch(buf), /^7 trailing bytes at byte 68 after the last of 1 records$/);
  });

  it('negative record count', () => {
    expectCorrupt(() => decodeRecordBatch(batchOf(rawRecord({}), -1)), 'record count -1 is negative');
  });

  it('last offset delta negative, or too small for the record count', () => {
    expectCorrupt(
      () => decodeRecordBatch(rawBatch({ lastOffsetDelta: -1, recordCount: 0, records: Buffer.alloc(0) })),
      'last offset delta -1 is negative',
    );
    const records = Buffer.concat([rawRecord({}), rawRecord({ offsetDelta: 1 })]);
    expectCorrupt(
      () => decodeRecordBatch(rawBatch({ lastOffsetDelta: 0, recordCount: 2, records })),
      'last offset delta 0 is less than record count 2 - 1',
    );
  });

  it('negative base offset', () => {
    expectCorrupt(
      () => decodeRecordBatch(rawBatch({ baseOffset: -3n, records: rawRecord({}) })),
      'base offset -3 is negative',
    );
  });

  it('base or max timestamp outside the safe integer range', () => {
    expectCorrupt(
      () => decodeRecordBatch(rawBatch({ baseTimestamp: 2n ** 60n, records: rawRecord({}) })),
      `base timestamp ${2n ** 60n} is outside the safe integer range`,
    );
    expectCorrupt(
      () => readRecordBatchHeader(rawBatch({ maxTimestamp: -(2n ** 53n), records: rawRecord({}) })),
      `max timestamp ${-(2n ** 53n)} is outside`,
    );
  });
});

describe('corrupt batches: records', () => {
  it('key length below -1', () => {
    const record = rawRecord({ key: Buffer.from('k') });
    // Length, attributes, timestampDelta, offsetDelta, then the key length at index 4.
    record[4] = varintOracle(-2)[0]!;
    expectCorrupt(() => decodeRecordBatch(batchOf(record)), 'record 0: key length -2 is negative and not -1 (null)');
  });

  it('key length past the end of the record', () => {
    const record = rawRecord({ key: Buffer.from('k'), value: Buffer.from('abc') });
    record[4] = varintOracle(20)[0]!;
    expectCorrupt(
      () => decodeRecordBatch(batchOf(record)),
      'record 0: key length 20 exceeds the 6 bytes left in the record',
    );
  });

  it('value length below -1, and past the end of the record', () => {
    const record = rawRecord({ key: null, value: Buffer.from('abc') });
    record[5] = varintOracle(-7)[0]!;
    expectCorrupt(() => decodeRecordBatch(batchOf(record)), 'record 0: value length -7 is negative');
    record[5] = varintOracle(9)[0]!;
    expectCorrupt(() => decodeRecordBatch(batchOf(record)), 'record 0: value length 9 exceeds the 4 bytes left');
  });

  it('record length longer than its fields', () => {
    const record = Buffer.concat([rawRecord({ value: Buffer.from('v'), lengthOverride: 10 }), Buffer.from([0, 0, 0])]);
    expectCorrupt(
      () => decodeRecordBatch(batchOf(record)),
      'record 0: record length 10 does not match its fields, which end after 7 bytes',
    );
  });

  it('record length shorter than its fields', () => {
    const record = rawRecord({ value: Buffer.from('value'), lengthOverride: 9 });
    expectCorrupt(
      () => decodeRecordBatch(batchOf(record.subarray(0, 10))),
      'record 0: value length 5 exceeds the 4 bytes left in the record',
    );
  });

  it('record length past the end of the batch, or below the minimum record', () => {
    const record = rawRecord({ value: Buffer.from('v'), lengthOverride: 60 });
    expectCorrupt(
      () => decodeRecordBatch(batchOf(record)),
      'record 0: record length 60 exceeds the 7 bytes left in the batch',
    );
    const short = Buffer.concat([varintOracle(3), Buffer.alloc(8)]);
    expectCorrupt(() => decodeRecordBatch(batchOf(short)), 'record 0: record length 3 is less than the 6-byte minimum');
    const negative = Buffer.concat([varintOracle(-1), Buffer.alloc(8)]);
    expectCorrupt(() => decodeRecordBatch(batchOf(negative)), 'record length -1 is less than the 6-byte minimum');
  });

  it('trailing garbage after the last record', () => {
    const buf = batchOf(Buffer.concat([rawRecord({ value: Buffer.from('v') }), Buffer.from('junk')]));
    expectCorrupt(() => decodeRecordBatch(buf), '4 trailing bytes at byte 69 after the last of 1 records');
  });

  it('a varint that never ends (0xff x 6)', () => {
    const buf = batchOf(Buffer.concat([Buffer.alloc(6, 0xff), Buffer.alloc(2)]));
    expectCorrupt(
      () => decodeRecordBatch(buf),
      'record 0: record length varint at byte 61 does not end within 5 bytes',
    );
  });

  it('a five-byte varint that overflows 32 bits', () => {
    const buf = batchOf(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0x1f]), Buffer.alloc(3)]));
    expectCorrupt(() => decodeRecordBatch(buf), 'record length varint at byte 61 overflows 32 bits');
  });

  it('a varint cut off by the end of the record', () => {
    // The record claims 6 bytes; its header count varint is continued past them.
    const record = Buffer.concat([varintOracle(6), Buffer.from([0, 0, 0, 1, 1, 0x82, 0x01])]);
    expectCorrupt(
      () => decodeRecordBatch(batchOf(record)),
      'record 0: header count varint at byte 67 is cut off by the end of the record',
    );
  });

  it('a timestamp delta varlong that never ends (0xff x 11)', () => {
    const body = Buffer.concat([Buffer.from([0]), Buffer.alloc(11, 0xff), Buffer.from([0, 1, 1, 0])]);
    const buf = batchOf(Buffer.concat([varintOracle(body.length), body]));
    expectCorrupt(
      () => decodeRecordBatch(buf),
      'record 0: timestamp delta varlong at byte 63 does not end within 10 bytes',
    );
  });

  it('a ten-byte varlong that overflows 64 bits', () => {
    const body = Buffer.concat([Buffer.from([0]), Buffer.alloc(9, 0xff), Buffer.from([0x02, 0, 1, 1, 0])]);
    const buf = batchOf(Buffer.concat([varintOracle(body.length), body]));
    expectCorrupt(() => decodeRecordBatch(buf), 'timestamp delta varlong at byte 63 overflows 64 bits');
  });

  it('a timestamp delta that leaves the safe integer range', () => {
    expectCorrupt(
      () => decodeRecordBatch(batchOf(rawRecord({ timestampDelta: 2n ** 55n }))),
      `record 0: timestamp delta ${2n ** 55n} at byte 63 is outside the safe integer range`,
    );
    expectCorrupt(
      () => decodeRecordBatch(batchOf(rawRecord({ timestampDelta: BigInt(Number.MAX_SAFE_INTEGER) }))),
      `record 0: timestamp ${T0} + ${Number.MAX_SAFE_INTEGER} is outside the safe integer range`,
    );
  });

  it('offset deltas out of order, repeated or past lastOffsetDelta', () => {
    const twice = rawBatch({
      recordCount: 2,
      lastOffsetDelta: 3,
      records: Buffer.concat([rawRecord({ offsetDelta: 1 }), rawRecord({ offsetDelta: 1 })]),
    });
    expectCorrupt(
      () => decodeRecordBatch(twice),
      "record 1: offset delta 1 is not greater than the previous record's 1",
    );
    const negative = batchOf(rawRecord({ offsetDelta: -1 }));
    expectCorrupt(() => decodeRecordBatch(negative), 'record 0: offset delta -1 is not greater than the previous');
    expectCorrupt(
      () => decodeRecordBatch(batchOf(rawRecord({ offsetDelta: 1 }))),
      "offset delta 1 exceeds the batch's last offset delta 0",
    );
  });

  it('negative header count, and more headers than the record could hold', () => {
    const negative = rawRecord({});
    negative[negative.length - 1] = varintOracle(-1)[0]!;
    expectCorrupt(() => decodeRecordBatch(batchOf(negative)), 'record 0: header count -1 is negative');
    const many = Buffer.concat([rawRecord({ lengthOverride: 7 }).subarray(0, 6), varintOracle(2), Buffer.from([0x02])]);
    expectCorrupt(
      () => decodeRecordBatch(batchOf(many)),
      'record 0: header count 2 cannot fit in the 1 bytes left in the record',
    );
  });

  it('a header with a null or oversized key, or a value length below -1', () => {
    const record = rawRecord({ headers: [{ key: Buffer.from('ab'), value: Buffer.from('c') }] });
    const keyLengthAt = record.length - 5;
    record[keyLengthAt] = varintOracle(-1)[0]!;
    expectCorrupt(
      () => decodeRecordBatch(batchOf(record)),
      'record 0: header 0: key length -1 is negative (header keys are never null)',
    );
    record[keyLengthAt] = varintOracle(30)[0]!;
    expectCorrupt(
      () => decodeRecordBatch(batchOf(record)),
      'record 0: header 0: key length 30 exceeds the 4 bytes left in the record',
    );
    record[keyLengthAt] = varintOracle(2)[0]!;
    record[keyLengthAt + 3] = varintOracle(-4)[0]!;
    expectCorrupt(
      () => decodeRecordBatch(batchOf(record)),
      'record 0: header 0: value length -4 is negative and not -1',
    );
  });

  it('validation catches the same record damage as decoding', () => {
    const record = rawRecord({ key: Buffer.from('k') });
    record[4] = varintOracle(-2)[0]!;
    expectCorrupt(() => validateRecordBatch(batchOf(record)), 'record 0: key length -2 is negative');
  });
});

describe('corrupt batches: gzip', () => {
  const gzipBatch = (payload: Buffer, recordCount = 1) =>
    rawBatch({ attributes: 1, recordCount, lastOffsetDelta: Math.max(0, recordCount - 1), records: payload });

  it('a payload that is not gzip', () => {
    expectCorrupt(
      () => decodeRecordBatch(gzipBatch(Buffer.from('plain text, not gzip'))),
      'gzip records do not inflate',
    );
    expectCorrupt(() => decodeRecordBatch(gzipBatch(Buffer.alloc(0))), 'gzip records do not inflate');
  });

  it('a gzip payload cut short', () => {
    const whole = gzipSync(rawRecord({ value: Buffer.alloc(1000, 7) }));
    expectCorrupt(
      () => decodeRecordBatch(gzipBatch(whole.subarray(0, whole.length - 6))),
      'gzip records do not inflate',
    );
  });

  it('a gzip bomb over maxUncompressedBytes', () => {
    const bomb = gzipBatch(gzipSync(Buffer.alloc(4 * 1024 * 1024)));
    expect(bomb.length).toBeLessThan(10_000);
    expectCorrupt(
      () => decodeRecordBatch(bomb, { maxUncompressedBytes: 1024 * 1024 }),
      'gzip records inflate to more than maxUncompressedBytes (1048576 bytes)',
    );
  });

  it('a gzip bomb over the 64 MiB default', () => {
    const bomb = gzipBatch(gzipSync(Buffer.alloc(64 * 1024 * 1024 + 1), { level: 1 }));
    expectCorrupt(
      () => validateRecordBatch(bomb),
      'gzip records inflate to more than maxUncompressedBytes (67108864 bytes)',
    );
  });

  it('a record count the inflated bytes could not hold', () => {
    expectCorrupt(
      () => decodeRecordBatch(gzipBatch(gzipSync(rawRecord({})), 5)),
      'record count 5 cannot fit in 7 inflated bytes of records',
    );
  });

  it('damage inside the inflated records names the position in the inflated bytes', () => {
    const payload = gzipSync(Buffer.concat([rawRecord({}), Buffer.from('xx')]));
    expectCorrupt(() => decodeRecordBatch(gzipBatch(payload)), '2 trailing bytes at byte 7 of the inflated records');
    const varint = gzipSync(Buffer.concat([Buffer.alloc(6, 0xff), Buffer.alloc(2)]));
    expectCorrupt(
      () => decodeRecordBatch(gzipBatch(varint)),
      'record 0: record length varint at byte 0 of the inflated records does not end within 5 bytes',
    );
  });
});
