import { expect } from 'vitest';
import { type ErrorCode, MillraceError } from '../../src/errors.js';

/**
 * Dumb oracles and hand assembly for the record-batch tests. Nothing here calls the code under
 * test: batches are laid out field by field from the Kafka spec, varints come from a BigInt
 * oracle and the CRC from a bitwise CRC-32C, so a shared misunderstanding cannot pass unnoticed.
 */

/** CRC-32C bit by bit: reflected polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF. */
export function crc32cOracle(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Zig-zag LEB128 of a signed integer of `bits` bits, in BigInt arithmetic. */
export function varintOracle(value: bigint | number, bits: 32 | 64 = 32): Buffer {
  const v = BigInt(value);
  const width = BigInt(bits);
  let u = BigInt.asUintN(bits, (v << 1n) ^ (v >> (width - 1n)));
  const out: number[] = [];
  do {
    let byte = Number(u & 0x7fn);
    u >>= 7n;
    if (u !== 0n) byte |= 0x80;
    out.push(byte);
  } while (u !== 0n);
  return Buffer.from(out);
}

/** Decodes a zig-zag LEB128 with no length limit; the caller checks the limits it wants. */
export function unvarintOracle(bytes: Uint8Array): { value: bigint; size: number } | undefined {
  let u = 0n;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    u |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if (byte < 0x80) return { value: (u >> 1n) ^ -(u & 1n), size: i + 1 };
  }
  return undefined;
}

export interface RawRecord {
  attributes?: number;
  timestampDelta?: bigint | number;
  offsetDelta?: number;
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: readonly { key: Buffer; value: Buffer | null }[];
  /** Write this record length instead of the true one. */
  lengthOverride?: number;
}

function bytesField(field: Buffer | null | undefined): Buffer {
  if (field === null || field === undefined) return varintOracle(-1);
  return Buffer.concat([varintOracle(field.length), field]);
}

/** One record, laid out from the spec: length, attributes, timestampDelta, offsetDelta, key, value, headers. */
export function rawRecord(record: RawRecord): Buffer {
  const headers = record.headers ?? [];
  const body = Buffer.concat([
    Buffer.from([record.attributes ?? 0]),
    varintOracle(record.timestampDelta ?? 0, 64),
    varintOracle(record.offsetDelta ?? 0),
    bytesField(record.key),
    bytesField(record.value),
    varintOracle(headers.length),
    ...headers.flatMap((h) => [varintOracle(h.key.length), h.key, bytesField(h.value)]),
  ]);
  return Buffer.concat([varintOracle(record.lengthOverride ?? body.length), body]);
}

export interface RawBatch {
  baseOffset?: bigint;
  batchLength?: number;
  partitionLeaderEpoch?: number;
  magic?: number;
  attributes?: number;
  lastOffsetDelta?: number;
  baseTimestamp?: bigint;
  maxTimestamp?: bigint;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  recordCount?: number;
  /** The records section, as it goes on the wire (compressed already if the attributes say so). */
  records: Buffer;
  /** Store this CRC instead of the right one. */
  crc?: number;
}

/** A whole batch from raw parts, with a correct CRC (from the oracle) unless told otherwise. */
export function rawBatch(batch: RawBatch): Buffer {
  const out = Buffer.alloc(61 + batch.records.length);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  view.setBigInt64(0, batch.baseOffset ?? 0n);
  view.setInt32(8, batch.batchLength ?? out.length - 12);
  view.setInt32(12, batch.partitionLeaderEpoch ?? -1);
  view.setInt8(16, batch.magic ?? 2);
  view.setInt16(21, batch.attributes ?? 0);
  view.setInt32(23, batch.lastOffsetDelta ?? (batch.recordCount ?? 1) - 1);
  view.setBigInt64(27, batch.baseTimestamp ?? 1_700_000_000_000n);
  view.setBigInt64(35, batch.maxTimestamp ?? batch.baseTimestamp ?? 1_700_000_000_000n);
  view.setBigInt64(43, batch.producerId ?? -1n);
  view.setInt16(51, batch.producerEpoch ?? -1);
  view.setInt32(53, batch.baseSequence ?? -1);
  view.setInt32(57, batch.recordCount ?? 1);
  batch.records.copy(out, 61);
  view.setUint32(17, batch.crc ?? crc32cOracle(out.subarray(21)));
  return out;
}

/** Recomputes the CRC after a test has edited bytes it covers, so that the structural check is what fails. */
export function withFixedCrc(buf: Buffer): Buffer {
  buf.writeUInt32BE(crc32cOracle(buf.subarray(21)), 17);
  return buf;
}

/** Runs `fn` and asserts it throws a MillraceError with this code and a message containing `fragment`. */
export function expectMillraceError(fn: () => unknown, code: ErrorCode, fragment: string | RegExp): MillraceError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'expected a MillraceError').toBeInstanceOf(MillraceError);
  const error = thrown as MillraceError;
  expect(error.code).toBe(code);
  if (typeof fragment === 'string') expect(error.message).toContain(fragment);
  else expect(error.message).toMatch(fragment);
  return error;
}

export function expectCorrupt(fn: () => unknown, fragment: string | RegExp): MillraceError {
  return expectMillraceError(fn, 'CORRUPT_MESSAGE', fragment);
}
