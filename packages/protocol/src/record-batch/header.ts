import { crc32c } from './crc32c.js';
import {
  ATTRIBUTES_AT,
  BASE_OFFSET_AT,
  BASE_SEQUENCE_AT,
  BASE_TIMESTAMP_AT,
  BATCH_LENGTH_AT,
  COMPRESSION_BY_ID,
  COMPRESSION_MASK,
  CONTROL_BIT,
  CRC_AT,
  corrupt,
  DELETE_HORIZON_BIT,
  hex32,
  INT64_MAX,
  LAST_OFFSET_DELTA_AT,
  LOG_OVERHEAD_BYTES,
  MAGIC_AT,
  MAX_TIMESTAMP_AT,
  MIN_BATCH_LENGTH,
  MIN_RECORD_BYTES,
  PARTITION_LEADER_EPOCH_AT,
  PRODUCER_EPOCH_AT,
  PRODUCER_ID_AT,
  RECORD_BATCH_HEADER_BYTES,
  RECORD_BATCH_MAGIC,
  RECORD_COUNT_AT,
  TIMESTAMP_TYPE_BIT,
  TRANSACTIONAL_BIT,
  unsupportedCompression,
} from './layout.js';
import type { RecordBatchHeader } from './types.js';

/**
 * Checks that `buf` is exactly one magic-2 batch: long enough for the header, with a batchLength
 * that accounts for every byte of the buffer. Returns batchLength. Nothing else is read before this
 * passes, so every later fixed-position read is in bounds.
 */
export function checkFraming(buf: Buffer): number {
  if (buf.length <= MAGIC_AT) {
    throw corrupt(`record batch of ${buf.length} bytes is shorter than the ${RECORD_BATCH_HEADER_BYTES}-byte header`);
  }
  const magic = (buf[MAGIC_AT]! << 24) >> 24;
  if (magic !== RECORD_BATCH_MAGIC) {
    throw corrupt(`magic ${magic} is not supported: only record batch v2 (magic ${RECORD_BATCH_MAGIC}) is`);
  }
  if (buf.length < RECORD_BATCH_HEADER_BYTES) {
    throw corrupt(`record batch of ${buf.length} bytes is shorter than the ${RECORD_BATCH_HEADER_BYTES}-byte header`);
  }
  const batchLength = buf.readInt32BE(BATCH_LENGTH_AT);
  if (batchLength < MIN_BATCH_LENGTH) {
    throw corrupt(`batch length ${batchLength} is shorter than the ${MIN_BATCH_LENGTH}-byte header`);
  }
  if (batchLength !== buf.length - LOG_OVERHEAD_BYTES) {
    throw corrupt(
      `batch length ${batchLength} makes the batch ${LOG_OVERHEAD_BYTES + batchLength} bytes, but the buffer holds ${buf.length}`,
    );
  }
  return batchLength;
}

/** Compares the stored CRC with the CRC-32C of attributes onward. The framing must have been checked. */
export function checkCrc(buf: Buffer): void {
  const stored = buf.readUInt32BE(CRC_AT);
  const computed = crc32c(buf.subarray(ATTRIBUTES_AT));
  if (stored !== computed) {
    throw corrupt(`CRC-32C mismatch: stored ${hex32(stored)}, computed ${hex32(computed)}`);
  }
}

/** An int64 field that Millrace keeps as a number (timestamps): it must be a safe integer. */
function readSafeInt64(buf: Buffer, at: number, field: string): number {
  const value = buf.readInt32BE(at) * 0x100000000 + buf.readUInt32BE(at + 4);
  // Past 2^53 the sum rounds, but only ever to another value outside the safe range.
  if (!Number.isSafeInteger(value)) {
    throw corrupt(`${field} ${buf.readBigInt64BE(at)} is outside the safe integer range`);
  }
  return value;
}

/** Reads and checks the header fields of a batch whose framing has been checked. */
export function parseHeader(buf: Buffer, batchLength: number): RecordBatchHeader {
  const baseOffset = buf.readBigInt64BE(BASE_OFFSET_AT);
  if (baseOffset < 0n) throw corrupt(`base offset ${baseOffset} is negative`);
  const attributes = buf.readInt16BE(ATTRIBUTES_AT);
  const compressionId = attributes & COMPRESSION_MASK;
  const compression = COMPRESSION_BY_ID[compressionId];
  if (compression === undefined) {
    throw unsupportedCompression(`compression type ${compressionId} in the batch attributes is not defined (0-4 are)`);
  }
  const lastOffsetDelta = buf.readInt32BE(LAST_OFFSET_DELTA_AT);
  if (lastOffsetDelta < 0) throw corrupt(`last offset delta ${lastOffsetDelta} is negative`);
  if (baseOffset + BigInt(lastOffsetDelta) > INT64_MAX) {
    throw corrupt(`base offset ${baseOffset} plus last offset delta ${lastOffsetDelta} overflows int64`);
  }
  const recordCount = buf.readInt32BE(RECORD_COUNT_AT);
  if (recordCount < 0) throw corrupt(`record count ${recordCount} is negative`);
  const recordBytes = buf.length - RECORD_BATCH_HEADER_BYTES;
  if (compression === 'none' && recordCount > recordBytes / MIN_RECORD_BYTES) {
    throw corrupt(
      `record count ${recordCount} cannot fit in ${recordBytes} bytes of records (a record takes at least ${MIN_RECORD_BYTES})`,
    );
  }
  if (recordCount > 0 && lastOffsetDelta < recordCount - 1) {
    throw corrupt(
      `last offset delta ${lastOffsetDelta} is less than record count ${recordCount} - 1, so offset deltas would repeat`,
    );
  }
  return {
    baseOffset,
    batchLength,
    partitionLeaderEpoch: buf.readInt32BE(PARTITION_LEADER_EPOCH_AT),
    magic: RECORD_BATCH_MAGIC,
    crc: buf.readUInt32BE(CRC_AT),
    attributes,
    compression,
    timestampType: (attributes & TIMESTAMP_TYPE_BIT) === 0 ? 'create-time' : 'log-append-time',
    isTransactional: (attributes & TRANSACTIONAL_BIT) !== 0,
    isControl: (attributes & CONTROL_BIT) !== 0,
    hasDeleteHorizon: (attributes & DELETE_HORIZON_BIT) !== 0,
    lastOffsetDelta,
    baseTimestamp: readSafeInt64(buf, BASE_TIMESTAMP_AT, 'base timestamp'),
    maxTimestamp: readSafeInt64(buf, MAX_TIMESTAMP_AT, 'max timestamp'),
    producerId: buf.readBigInt64BE(PRODUCER_ID_AT),
    producerEpoch: buf.readInt16BE(PRODUCER_EPOCH_AT),
    baseSequence: buf.readInt32BE(BASE_SEQUENCE_AT),
    recordCount,
    sizeInBytes: LOG_OVERHEAD_BYTES + batchLength,
  };
}

/**
 * The header of a batch, with its structure checked (framing, magic, counts that the bytes could
 * hold, a defined compression type) but not its CRC and not its records.
 */
export function readRecordBatchHeader(buf: Buffer): RecordBatchHeader {
  return parseHeader(buf, checkFraming(buf));
}

/** Throws CORRUPT_MESSAGE unless `buf` is one magic-2 batch whose stored CRC-32C matches its bytes. */
export function verifyRecordBatchCrc(buf: Buffer): void {
  checkFraming(buf);
  checkCrc(buf);
}

/**
 * Rewrites the base offset in place: how a partition leader assigns offsets to a produced batch.
 * The CRC does not cover the field, so the batch stays valid. A base offset that is negative or
 * whose last offset would overflow int64 is a bug in the caller: RangeError.
 */
export function setBaseOffset(buf: Buffer, baseOffset: bigint): void {
  checkFraming(buf);
  const lastOffsetDelta = buf.readInt32BE(LAST_OFFSET_DELTA_AT);
  if (
    typeof baseOffset !== 'bigint' ||
    baseOffset < 0n ||
    baseOffset + BigInt(Math.max(0, lastOffsetDelta)) > INT64_MAX
  ) {
    throw new RangeError(
      `base offset ${String(baseOffset)} is not an offset from 0 to int64 max minus ${lastOffsetDelta}`,
    );
  }
  buf.writeBigInt64BE(baseOffset, BASE_OFFSET_AT);
}

/** Rewrites the partition leader epoch in place; the CRC does not cover it. A non-int32 epoch is a bug: RangeError. */
export function setPartitionLeaderEpoch(buf: Buffer, epoch: number): void {
  checkFraming(buf);
  if (!Number.isInteger(epoch) || epoch < -0x80000000 || epoch > 0x7fffffff) {
    throw new RangeError(`partition leader epoch ${epoch} is not an int32`);
  }
  buf.writeInt32BE(epoch, PARTITION_LEADER_EPOCH_AT);
}

/**
 * Cuts a record set (batches back to back, as stored and fetched) into one view per batch, using
 * only each batch's length. It does not check magic or CRC: decode or validate each batch for that.
 */
export function splitRecordBatches(buf: Buffer): Buffer[] {
  const batches: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const left = buf.length - pos;
    if (left < LOG_OVERHEAD_BYTES) {
      throw corrupt(
        `record set ends with ${left} bytes at byte ${pos}, too few for a batch's ${LOG_OVERHEAD_BYTES}-byte offset and length`,
      );
    }
    const batchLength = buf.readInt32BE(pos + BATCH_LENGTH_AT);
    if (batchLength < MIN_BATCH_LENGTH) {
      throw corrupt(
        `batch at byte ${pos}: batch length ${batchLength} is shorter than the ${MIN_BATCH_LENGTH}-byte header`,
      );
    }
    if (batchLength > left - LOG_OVERHEAD_BYTES) {
      throw corrupt(
        `batch at byte ${pos} is truncated: batch length ${batchLength} needs ${LOG_OVERHEAD_BYTES + batchLength} bytes, ${left} remain`,
      );
    }
    batches.push(buf.subarray(pos, pos + LOG_OVERHEAD_BYTES + batchLength));
    pos += LOG_OVERHEAD_BYTES + batchLength;
  }
  return batches;
}

/** The offset of the batch's last record (or of the last record it held before compaction). */
export function lastOffsetOf(header: RecordBatchHeader): bigint {
  return header.baseOffset + BigInt(header.lastOffsetDelta);
}
