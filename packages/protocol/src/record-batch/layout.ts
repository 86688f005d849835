import { MillraceError } from '../errors.js';
import type { CompressionType } from './types.js';

/**
 * Byte positions of the RecordBatch v2 header (all big-endian). The CRC covers the bytes from
 * ATTRIBUTES to the end of the batch, so baseOffset, batchLength and partitionLeaderEpoch can be
 * rewritten in place without touching it.
 */
export const BASE_OFFSET_AT = 0;
export const BATCH_LENGTH_AT = 8;
export const PARTITION_LEADER_EPOCH_AT = 12;
export const MAGIC_AT = 16;
export const CRC_AT = 17;
export const ATTRIBUTES_AT = 21;
export const LAST_OFFSET_DELTA_AT = 23;
export const BASE_TIMESTAMP_AT = 27;
export const MAX_TIMESTAMP_AT = 35;
export const PRODUCER_ID_AT = 43;
export const PRODUCER_EPOCH_AT = 51;
export const BASE_SEQUENCE_AT = 53;
export const RECORD_COUNT_AT = 57;

/** baseOffset .. recordCount; the records start here. */
export const RECORD_BATCH_HEADER_BYTES = 61;
export const RECORD_BATCH_MAGIC = 2;
/** baseOffset and batchLength: the bytes not counted by batchLength. */
export const LOG_OVERHEAD_BYTES = 12;
/** The smallest legal batchLength: a header with no records. */
export const MIN_BATCH_LENGTH = RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES;
/**
 * The smallest encoded record: length, attributes, timestampDelta, offsetDelta, key length,
 * value length and header count, one byte each. Bounds how many records a byte count can hold.
 */
export const MIN_RECORD_BYTES = 7;
/** The smallest record body (a record without its length prefix). */
export const MIN_RECORD_BODY_BYTES = MIN_RECORD_BYTES - 1;
/** Default bound on an inflated records section, against zip bombs. */
export const RECORD_BATCH_DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024;

export const COMPRESSION_MASK = 0x07;
export const TIMESTAMP_TYPE_BIT = 0x08;
export const TRANSACTIONAL_BIT = 0x10;
export const CONTROL_BIT = 0x20;
export const DELETE_HORIZON_BIT = 0x40;

/** Indexed by the codec id in attribute bits 0-2; ids 5-7 are not defined by Kafka. */
export const COMPRESSION_BY_ID: readonly (CompressionType | undefined)[] = [
  'none',
  'gzip',
  'snappy',
  'lz4',
  'zstd',
  undefined,
  undefined,
  undefined,
];
export const COMPRESSION_ID: Readonly<Record<CompressionType, number>> = {
  none: 0,
  gzip: 1,
  snappy: 2,
  lz4: 3,
  zstd: 4,
};

export const INT64_MAX = 0x7fffffffffffffffn;
export const INT64_MIN = -0x8000000000000000n;

export function corrupt(message: string, cause?: unknown): MillraceError {
  return new MillraceError('CORRUPT_MESSAGE', message, cause === undefined ? {} : { cause });
}

export function invalidRecord(message: string): MillraceError {
  return new MillraceError('INVALID_RECORD', message);
}

export function unsupportedCompression(message: string): MillraceError {
  return new MillraceError('UNSUPPORTED_COMPRESSION_TYPE', message);
}

export function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}
