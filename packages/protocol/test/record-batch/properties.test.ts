import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MillraceError } from '../../src/errors.js';
import {
  type CompressionType,
  crc32c,
  decodeRecordBatch,
  type EncodeRecordBatchOptions,
  encodeRecordBatch,
  type RecordHeader,
  type RecordInput,
  readRecordBatchHeader,
  splitRecordBatches,
  validateRecordBatch,
  verifyRecordBatchCrc,
} from '../../src/record-batch/index.js';
import { ByteReader, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from '../../src/record-batch/varint.js';
import { crc32cOracle, rawBatch, unvarintOracle, varintOracle, withFixedCrc } from './helpers.js';
import { assembleNearValid, nearValidBatch } from './near-valid.js';

/** Strings of any UTF-16 code units, lone surrogates included (UTF-8 turns those into U+FFFD). */
const anyString = fc.string({ unit: 'binary', maxLength: 30 });
const bytes = fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a));
const bytesOrString = fc.oneof(anyString, bytes);
const timestamp = fc.oneof(fc.integer({ min: 0, max: 2 ** 42 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(0));

const recordInput: fc.Arbitrary<RecordInput> = fc.record(
  {
    key: fc.option(bytesOrString, { nil: null }),
    value: fc.option(bytesOrString, { nil: null }),
    headers: fc.oneof(
      fc.array(fc.record({ key: anyString, value: fc.option(bytes, { nil: null }) }), { maxLength: 4 }),
      fc.dictionary(anyString, bytesOrString, { maxKeys: 3 }),
    ),
    timestamp,
  },
  { requiredKeys: ['value'] },
);

const batchOptions = (compression: CompressionType): fc.Arbitrary<EncodeRecordBatchOptions> =>
  fc
    .record(
      {
        records: fc.array(recordInput, { minLength: 1, maxLength: 30 }),
        baseOffset: fc.bigInt({ min: 0n, max: 2n ** 62n }),
        partitionLeaderEpoch: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        timestampType: fc.constantFrom('create-time' as const, 'log-append-time' as const),
        producerId: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        producerEpoch: fc.integer({ min: -32768, max: 32767 }),
        baseSequence: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        isTransactional: fc.boolean(),
        isControl: fc.boolean(),
        now: timestamp,
      },
      { requiredKeys: ['records', 'now'] },
    )
    .map((options) => ({ ...options, compression }));

const utf8 = (value: Buffer | string) => (typeof value === 'string' ? Buffer.from(value, 'utf8') : value);

function expectedHeaders(headers: RecordInput['headers']): RecordHeader[] {
  if (headers === undefined) return [];
  const list = Array.isArray(headers)
    ? (headers as readonly RecordHeader[])
    : Object.entries(headers as Record<string, Buffer | string>).map(([key, value]) => ({ key, value: utf8(value) }));
  return list.map(({ key, value }) => ({ key: Buffer.from(key, 'utf8').toString('utf8'), value }));
}

/** Decoding damaged input may fail, but only with one of these. */
function expectOnlyTypedErrors(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof MillraceError)) throw error;
    expect(['CORRUPT_MESSAGE', 'UNSUPPORTED_COMPRESSION_TYPE']).toContain(error.code);
  }
}

/** Runs every reader on `buf`: none may throw anything but a typed error, and views stay inside `buf`. */
function probe(buf: Buffer): void {
  expectOnlyTypedErrors(() => {
    const { header, records } = decodeRecordBatch(buf, { maxUncompressedBytes: 1 << 20 });
    expect(records.length).toBe(header.recordCount);
    if (header.compression === 'none') {
      for (const r of records) {
        for (const view of [r.key, r.value, ...r.headers.map((h) => h.value)]) {
          if (view === null) continue;
          expect(view.buffer).toBe(buf.buffer);
          expect(view.byteOffset).toBeGreaterThanOrEqual(buf.byteOffset + 61);
          expect(view.byteOffset + view.length).toBeLessThanOrEqual(buf.byteOffset + buf.length);
        }
      }
    }
  });
  expectOnlyTypedErrors(() => validateRecordBatch(buf, { maxUncompressedBytes: 1 << 20 }));
  expectOnlyTypedErrors(() => readRecordBatchHeader(buf));
  expectOnlyTypedErrors(() => verifyRecordBatchCrc(buf));
  expectOnlyTypedErrors(() => splitRecordBatches(buf));
}

describe('properties: round trip', () => {
  for (const compression of ['none', 'gzip'] as const) {
    it(`any records survive encode then decode (${compression})`, () => {
      fc.assert(
        fc.property(batchOptions(compression), (options) => {
          const buf = encodeRecordBatch(options);
          const { header, records } = decodeRecordBatch(buf);
          const stamps = options.records.map((r) => r.timestamp ?? options.now!);
          expect(header).toMatchObject({
            baseOffset: options.baseOffset ?? 0n,
            partitionLeaderEpoch: options.partitionLeaderEpoch ?? -1,
            compression,
            timestampType: options.timestampType ?? 'create-time',
            isTransactional: options.isTransactional ?? false,
            isControl: options.isControl ?? false,
            producerId: options.producerId ?? -1n,
            producerEpoch: options.producerEpoch ?? -1,
            baseSequence: options.baseSequence ?? -1,
            recordCount: options.records.length,
            lastOffsetDelta: options.records.length - 1,
            baseTimestamp: Math.min(...stamps),
            maxTimestamp: Math.max(...stamps),
            sizeInBytes: buf.length,
          });
          const logAppend = header.timestampType === 'log-append-time';
          expect(records).toEqual(
            options.records.map((r, i) => ({
              offset: header.baseOffset + BigInt(i),
              offsetDelta: i,
              timestamp: logAppend ? header.maxTimestamp : stamps[i],
              attributes: 0,
              key: r.key === undefined || r.key === null ? null : utf8(r.key),
              value: r.value === null ? null : utf8(r.value),
              headers: expectedHeaders(r.headers),
            })),
          );
          expect(validateRecordBatch(buf)).toEqual(header);
        }),
        { numRuns: compression === 'none' ? 300 : 150 },
      );
    });
  }
});

describe('properties: damaged input only ever fails with a typed error', () => {
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (a) => probe(Buffer.from(a))),
      { numRuns: 1000 },
    );
  });

  it('random bytes behind a well-formed header with a correct CRC', () => {
    fc.assert(
      fc.property(
        fc.record({
          attributes: fc.integer({ min: -32768, max: 32767 }),
          recordCount: fc.oneof(fc.integer({ min: -2, max: 40 }), fc.integer()),
          lastOffsetDelta: fc.oneof(fc.integer({ min: -1, max: 40 }), fc.integer()),
          baseTimestamp: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
          records: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
        }),
        (fields) => probe(rawBatch(fields)),
      ),
      { numRuns: 1000 },
    );
  });

  it('near-valid records: every field in place, each length or count sometimes a little off', () => {
    fc.assert(
      fc.property(nearValidBatch, (parts) => probe(assembleNearValid(parts))),
      { numRuns: 3000 },
    );
  });

  it('valid batches with bytes flipped, inserted, deleted or cut off', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), byte: fc.constant(0) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), byte: fc.constant(0) }),
    );
    fc.assert(
      fc.property(
        fc.oneof(batchOptions('none'), batchOptions('gzip')),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (options, mutations, repair) => {
          let buf = encodeRecordBatch(options);
          for (const { kind, at, byte } of mutations) {
            const i = at % (buf.length + 1);
            if (kind === 'flip' && i < buf.length) buf[i] = byte;
            if (kind === 'insert') buf = Buffer.concat([buf.subarray(0, i), Buffer.from([byte]), buf.subarray(i)]);
            if (kind === 'delete') buf = Buffer.concat([buf.subarray(0, i), buf.subarray(i + 1)]);
            if (kind === 'truncate') buf = buf.subarray(0, i);
          }
          // Repairing the length and CRC sends the damage past the framing checks into the records.
          if (repair && buf.length >= 61) {
            buf.writeInt32BE(buf.length - 12, 8);
            withFixedCrc(buf);
          }
          probe(buf);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('properties: CRC-32C against a bitwise oracle', () => {
  it('matches on any bytes, at any alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(16), (a, skip) => {
        const view = Buffer.from(a).subarray(Math.min(skip, a.length));
        expect(crc32c(view)).toBe(crc32cOracle(view));
      }),
      { numRuns: 300 },
    );
  });
});

describe('properties: varints against a BigInt oracle', () => {
  const int32 = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -200, max: 200 }));
  const safe = fc.oneof(
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.constantFrom(
      Number.MIN_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER,
      -(2 ** 52),
      -(2 ** 52) - 1,
      2 ** 31,
      -(2 ** 31) - 1,
    ),
  );

  it('writes int32 varints as the oracle does, and reads them back', () => {
    fc.assert(
      fc.property(int32, (v) => {
        const expected = varintOracle(v, 32);
        const out = Buffer.alloc(sizeOfVarint(v));
        expect(writeVarint(out, 0, v)).toBe(expected.length);
        expect(out).toEqual(expected);
        const reader = new ByteReader(out, 0, out.length);
        expect(reader.varint('v')).toBe(v);
        expect(reader.pos).toBe(out.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('writes safe-integer varlongs as the oracle does, and reads them back', () => {
    fc.assert(
      fc.property(safe, (v) => {
        const expected = varintOracle(v, 64);
        const out = Buffer.alloc(sizeOfVarlong(v));
        expect(writeVarlong(out, 0, v)).toBe(expected.length);
        expect(out).toEqual(expected);
        const reader = new ByteReader(out, 0, out.length);
        expect(reader.varlong('v')).toBe(v);
        expect(reader.pos).toBe(out.length);
      }),
      { numRuns: 1000 },
    );
  });

  // Arbitrary byte strings, biased towards continuation bits so long and unterminated varints are common.
  const varintBytes = fc.array(
    fc.oneof(
      fc.integer({ min: 0x80, max: 0xff }),
      fc.integer({ min: 0, max: 0x7f }),
      fc.constantFrom(0x00, 0x01, 0x0f, 0x10),
    ),
    { maxLength: 12 },
  );

  it('reads any bytes as the oracle does: a varint ends within 5 bytes and fits 32 bits, or is refused', () => {
    fc.assert(
      fc.property(varintBytes, (a) => {
        const buf = Buffer.from(a);
        const oracle = unvarintOracle(buf);
        const reader = new ByteReader(buf, 0, buf.length);
        if (oracle !== undefined && oracle.size <= 5 && fitsUnsigned(buf, oracle.size, 32)) {
          expect(reader.varint('v')).toBe(Number(oracle.value));
          expect(reader.pos).toBe(oracle.size);
        } else {
          expect(() => reader.varint('v')).toThrow(MillraceError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('reads any bytes as the oracle does: a varlong ends within 10 bytes, fits 64 bits and is a safe integer, or is refused', () => {
    fc.assert(
      fc.property(varintBytes, (a) => {
        const buf = Buffer.from(a);
        const oracle = unvarintOracle(buf);
        const reader = new ByteReader(buf, 0, buf.length);
        const ok =
          oracle !== undefined &&
          oracle.size <= 10 &&
          fitsUnsigned(buf, oracle.size, 64) &&
          oracle.value <= BigInt(Number.MAX_SAFE_INTEGER) &&
          oracle.value >= BigInt(Number.MIN_SAFE_INTEGER);
        if (ok) {
          expect(reader.varlong('v')).toBe(Number(oracle.value));
          expect(reader.pos).toBe(oracle.size);
        } else {
          expect(() => reader.varlong('v')).toThrow(MillraceError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

/** Whether the first `size` bytes, as unsigned LEB128, hold a value below 2^bits. */
function fitsUnsigned(buf: Buffer, size: number, bits: number): boolean {
  let u = 0n;
  for (let i = 0; i < size; i++) u |= BigInt(buf[i]! & 0x7f) << BigInt(7 * i);
  return u < 1n << BigInt(bits);
}
