/** Compression codecs by their id in attribute bits 0-2. Millrace encodes and decodes `none` and `gzip`. */
export type CompressionType = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/** Attribute bit 3: who set the timestamps. With `log-append-time`, every record's timestamp is the batch's maxTimestamp. */
export type TimestampType = 'create-time' | 'log-append-time';

export interface RecordHeader {
  /** UTF-8 on the wire; never null. */
  key: string;
  value: Buffer | null;
}

/** One record as a producer hands it over. Strings are encoded as UTF-8. */
export interface RecordInput {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  /** An array keeps order and allows repeated keys; an object is written in `Object.keys` order. */
  headers?: readonly RecordHeader[] | Readonly<Record<string, Buffer | string>>;
  /** Milliseconds since the epoch, a non-negative safe integer. Defaults to the batch's `now`. */
  timestamp?: number;
}

export interface EncodeRecordBatchOptions {
  /** At least one record. Record i gets offsetDelta i. */
  records: readonly RecordInput[];
  /** Default 0n: a producer's batch; the partition leader rewrites it with `setBaseOffset`. */
  baseOffset?: bigint;
  /** Default -1 (no epoch); the leader rewrites it with `setPartitionLeaderEpoch`. */
  partitionLeaderEpoch?: number;
  /** Default 'none'. Only 'none' and 'gzip' are supported; the others raise UNSUPPORTED_COMPRESSION_TYPE. */
  compression?: CompressionType;
  /** Default 'create-time'. */
  timestampType?: TimestampType;
  /** Default -1n (not idempotent). */
  producerId?: bigint;
  /** Default -1. */
  producerEpoch?: number;
  /** Default -1. */
  baseSequence?: number;
  isTransactional?: boolean;
  isControl?: boolean;
  /** The timestamp of records that carry none. Default `Date.now()`. */
  now?: number;
}

/** The fixed 61-byte header of a batch, as stored. */
export interface RecordBatchHeader {
  baseOffset: bigint;
  /** Bytes after the batchLength field: the batch is `12 + batchLength` bytes. */
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  /** CRC-32C of the bytes from attributes to the end, unsigned. */
  crc: number;
  /** The raw int16, including bits Millrace does not interpret. */
  attributes: number;
  compression: CompressionType;
  timestampType: TimestampType;
  isTransactional: boolean;
  isControl: boolean;
  /** Bit 6 (KIP-534): set by log compaction, baseTimestamp then holds the delete horizon. */
  hasDeleteHorizon: boolean;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
  /** `12 + batchLength`: the whole batch. */
  sizeInBytes: number;
}

export interface DecodedRecord {
  offset: bigint;
  offsetDelta: number;
  /** baseTimestamp + timestampDelta, or the batch's maxTimestamp when the timestamp type is log-append-time. */
  timestamp: number;
  attributes: number;
  /** For uncompressed batches key, value and header values are views into the batch buffer, not copies. */
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface DecodedRecordBatch {
  header: RecordBatchHeader;
  records: DecodedRecord[];
}

export interface DecodeOptions {
  /** Upper bound on the inflated size of a compressed records section. Default 64 MiB. */
  maxUncompressedBytes?: number;
}
