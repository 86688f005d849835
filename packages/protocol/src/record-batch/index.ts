/**
 * Kafka RecordBatch v2 (magic 2), byte for byte: what clients build, brokers validate and store
 * without re-encoding, and consumers decode.
 */
export { crc32c } from './crc32c.js';
export { decodeRecordBatch, validateRecordBatch } from './decode.js';
export { encodeRecordBatch } from './encode.js';
export {
  lastOffsetOf,
  readRecordBatchHeader,
  setBaseOffset,
  setPartitionLeaderEpoch,
  splitRecordBatches,
  verifyRecordBatchCrc,
} from './header.js';
export {
  RECORD_BATCH_DEFAULT_MAX_UNCOMPRESSED_BYTES,
  RECORD_BATCH_HEADER_BYTES,
  RECORD_BATCH_MAGIC,
} from './layout.js';
export type {
  CompressionType,
  DecodedRecord,
  DecodedRecordBatch,
  DecodeOptions,
  EncodeRecordBatchOptions,
  RecordBatchHeader,
  RecordHeader,
  RecordInput,
  TimestampType,
} from './types.js';
