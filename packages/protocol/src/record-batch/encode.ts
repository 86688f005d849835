import { gzipSync } from 'node:zlib';
import { crc32c } from './crc32c.js';
import {
  ATTRIBUTES_AT,
  BASE_OFFSET_AT,
  BASE_SEQUENCE_AT,
  BASE_TIMESTAMP_AT,
  BATCH_LENGTH_AT,
  COMPRESSION_ID,
  CONTROL_BIT,
  CRC_AT,
  INT64_MAX,
  INT64_MIN,
  invalidRecord,
  LAST_OFFSET_DELTA_AT,
  LOG_OVERHEAD_BYTES,
  MAGIC_AT,
  MAX_TIMESTAMP_AT,
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
import type { CompressionType, EncodeRecordBatchOptions, RecordHeader, RecordInput } from './types.js';
import { sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.js';

/** The largest records section a batch can carry: batchLength is an int32. */
const MAX_RECORDS_BYTES = 0x7fffffff - (RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES);

/**
 * Per-record sizes from the sizing pass, three int32 per record: body length (after the length
 * varint), key bytes and value bytes (-1 for null). Reused across calls (encoding is synchronous),
 * so that the output buffer is the only allocation an uncompressed batch needs.
 */
let sizes = new Int32Array(3 * 256);

/**
 * Encodes records as one RecordBatch v2. Record i gets offsetDelta i. The base timestamp is the
 * smallest record timestamp and the max timestamp the largest, where a record without a timestamp
 * takes `now`; so timestamp deltas are never negative. For the same input this matches kafkajs
 * byte for byte (see the cross-check tests for the cases where kafkajs differs).
 *
 * Input that cannot be encoded is INVALID_RECORD naming the field; snappy, lz4 and zstd are
 * UNSUPPORTED_COMPRESSION_TYPE. Gzip uses zlib's defaults (level 6), as kafkajs does.
 */
export function encodeRecordBatch(options: EncodeRecordBatchOptions): Buffer {
  const records = options.records;
  if (!Array.isArray(records) || records.length === 0)
    throw invalidRecord('records: a batch needs at least one record');
  const count = records.length;
  if (count > 0x7fffffff) throw invalidRecord(`records: ${count} records are more than a batch can count`);
  const baseOffset = checkInt64('baseOffset', options.baseOffset ?? 0n, 0n, INT64_MAX - BigInt(count - 1));
  const partitionLeaderEpoch = checkInt(
    'partitionLeaderEpoch',
    options.partitionLeaderEpoch ?? -1,
    -0x80000000,
    0x7fffffff,
  );
  const compression = options.compression ?? 'none';
  const compressionId = compressionIdOf(compression);
  const timestampType = options.timestampType ?? 'create-time';
  if (timestampType !== 'create-time' && timestampType !== 'log-append-time') {
    throw invalidRecord(`timestampType: ${String(timestampType)} is neither create-time nor log-append-time`);
  }
  const producerId = checkInt64('producerId', options.producerId ?? -1n, INT64_MIN, INT64_MAX);
  const producerEpoch = checkInt('producerEpoch', options.producerEpoch ?? -1, -0x8000, 0x7fff);
  const baseSequence = checkInt('baseSequence', options.baseSequence ?? -1, -0x80000000, 0x7fffffff);
  const now = checkTimestamp('now', options.now ?? Date.now());

  let baseTimestamp = Number.POSITIVE_INFINITY;
  let maxTimestamp = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < count; i++) {
    const record = records[i];
    if (typeof record !== 'object' || record === null) throw invalidRecord(`records[${i}]: must be an object`);
    const timestamp =
      record.timestamp === undefined ? now : checkTimestamp(`records[${i}].timestamp`, record.timestamp);
    if (timestamp < baseTimestamp) baseTimestamp = timestamp;
    if (timestamp > maxTimestamp) maxTimestamp = timestamp;
  }

  if (sizes.length < 3 * count) sizes = new Int32Array(3 * count);
  let recordsBytes = 0;
  for (let i = 0; i < count; i++) {
    const record = records[i]!;
    const keyBytes = fieldBytes(record.key, i, 'key');
    if (record.value === undefined) throw invalidRecord(`records[${i}].value: missing; pass null for a tombstone`);
    const valueBytes = fieldBytes(record.value, i, 'value');
    const body =
      1 +
      sizeOfVarlong((record.timestamp ?? now) - baseTimestamp) +
      sizeOfVarint(i) +
      (keyBytes < 0 ? 1 : sizeOfVarint(keyBytes) + keyBytes) +
      (valueBytes < 0 ? 1 : sizeOfVarint(valueBytes) + valueBytes) +
      headersBytes(record.headers, i);
    sizes[3 * i] = body;
    sizes[3 * i + 1] = keyBytes;
    sizes[3 * i + 2] = valueBytes;
    recordsBytes += sizeOfVarint(body) + body;
    if (recordsBytes > MAX_RECORDS_BYTES) {
      throw invalidRecord(`records: the first ${i + 1} records take ${recordsBytes} bytes, more than a batch can hold`);
    }
  }

  let out: Buffer;
  if (compressionId === 0) {
    out = Buffer.allocUnsafe(RECORD_BATCH_HEADER_BYTES + recordsBytes);
    writeRecords(out, RECORD_BATCH_HEADER_BYTES, records, now, baseTimestamp);
  } else {
    const plain = Buffer.allocUnsafe(recordsBytes);
    writeRecords(plain, 0, records, now, baseTimestamp);
    const compressed = gzipSync(plain);
    if (compressed.length > MAX_RECORDS_BYTES) {
      throw invalidRecord(`records: ${compressed.length} bytes even after gzip, more than a batch can hold`);
    }
    out = Buffer.allocUnsafe(RECORD_BATCH_HEADER_BYTES + compressed.length);
    compressed.copy(out, RECORD_BATCH_HEADER_BYTES);
  }

  const attributes =
    compressionId |
    (timestampType === 'log-append-time' ? TIMESTAMP_TYPE_BIT : 0) |
    (options.isTransactional === true ? TRANSACTIONAL_BIT : 0) |
    (options.isControl === true ? CONTROL_BIT : 0);
  out.writeBigInt64BE(baseOffset, BASE_OFFSET_AT);
  out.writeInt32BE(out.length - LOG_OVERHEAD_BYTES, BATCH_LENGTH_AT);
  out.writeInt32BE(partitionLeaderEpoch, PARTITION_LEADER_EPOCH_AT);
  out[MAGIC_AT] = RECORD_BATCH_MAGIC;
  out.writeInt16BE(attributes, ATTRIBUTES_AT);
  out.writeInt32BE(count - 1, LAST_OFFSET_DELTA_AT);
  writeSafeInt64(out, BASE_TIMESTAMP_AT, baseTimestamp);
  writeSafeInt64(out, MAX_TIMESTAMP_AT, maxTimestamp);
  out.writeBigInt64BE(producerId, PRODUCER_ID_AT);
  out.writeInt16BE(producerEpoch, PRODUCER_EPOCH_AT);
  out.writeInt32BE(baseSequence, BASE_SEQUENCE_AT);
  out.writeInt32BE(count, RECORD_COUNT_AT);
  out.writeUInt32BE(crc32c(out.subarray(ATTRIBUTES_AT)), CRC_AT);
  return out;
}

/** Writes the records section sized by the sizing pass, and asserts that the two passes agree. */
function writeRecords(
  out: Buffer,
  start: number,
  records: readonly RecordInput[],
  now: number,
  baseTimestamp: number,
): void {
  let pos = start;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    pos = writeVarint(out, pos, sizes[3 * i]!);
    out[pos++] = 0; // Record attributes: Kafka defines none.
    pos = writeVarlong(out, pos, (record.timestamp ?? now) - baseTimestamp);
    pos = writeVarint(out, pos, i);
    pos = writeField(out, pos, record.key, sizes[3 * i + 1]!);
    pos = writeField(out, pos, record.value, sizes[3 * i + 2]!);
    pos = writeHeaders(out, pos, record.headers);
  }
  if (pos !== out.length) {
    throw new Error(`bug: records were sized at ${out.length - start} bytes but took ${pos - start}`);
  }
}

function compressionIdOf(compression: CompressionType): number {
  const id = Object.hasOwn(COMPRESSION_ID, compression) ? COMPRESSION_ID[compression] : undefined;
  if (id === undefined) throw invalidRecord(`compression: ${String(compression)} is not a compression type`);
  if (id > 1)
    throw unsupportedCompression(`compression ${compression} is not supported: Millrace writes none and gzip`);
  return id;
}

function checkInt(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidRecord(`${name}: ${String(value)} is not an integer from ${min} to ${max}`);
  }
  return value;
}

function checkInt64(name: string, value: unknown, min: bigint, max: bigint): bigint {
  if (typeof value !== 'bigint' || value < min || value > max) {
    throw invalidRecord(`${name}: ${String(value)} is not a bigint from ${min} to ${max}`);
  }
  return value;
}

function checkTimestamp(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidRecord(`${name}: ${String(value)} is not a timestamp (a non-negative safe integer of milliseconds)`);
  }
  return value;
}

/** Byte length of a key or value, -1 for null. */
function fieldBytes(field: unknown, index: number, name: string): number {
  if (field === null || field === undefined) return -1;
  if (typeof field === 'string') return Buffer.byteLength(field, 'utf8');
  if (field instanceof Uint8Array) return field.length;
  throw invalidRecord(`records[${index}].${name}: must be a Buffer, a string or null`);
}

function writeField(out: Buffer, pos: number, field: Buffer | string | null | undefined, byteCount: number): number {
  if (byteCount < 0) {
    out[pos] = 1; // Zig-zag of -1: null.
    return pos + 1;
  }
  pos = writeVarint(out, pos, byteCount);
  if (typeof field === 'string') out.write(field, pos, byteCount, 'utf8');
  else out.set(field!, pos);
  return pos + byteCount;
}

type HeadersInput = RecordInput['headers'];

/** Size of the headers section: the count varint, then each key and value with its length. */
function headersBytes(headers: HeadersInput, index: number): number {
  if (headers === undefined || headers === null) return 1;
  if (Array.isArray(headers)) {
    let size = sizeOfVarint(headers.length);
    for (let h = 0; h < headers.length; h++) {
      const header = headers[h] as RecordHeader | undefined;
      if (typeof header !== 'object' || header === null) {
        throw invalidRecord(`records[${index}].headers[${h}]: must be an object with a key and a value`);
      }
      size += headerBytes(header.key, header.value, index, h);
    }
    return size;
  }
  if (typeof headers !== 'object') throw invalidRecord(`records[${index}].headers: must be an array or an object`);
  const keys = Object.keys(headers);
  let size = sizeOfVarint(keys.length);
  for (let h = 0; h < keys.length; h++) {
    const key = keys[h]!;
    size += headerBytes(key, (headers as Readonly<Record<string, unknown>>)[key], index, h);
  }
  return size;
}

function headerBytes(key: unknown, value: unknown, index: number, h: number): number {
  if (typeof key !== 'string') throw invalidRecord(`records[${index}].headers[${h}].key: must be a string`);
  const keyBytes = Buffer.byteLength(key, 'utf8');
  const valueBytes = fieldBytes(value, index, `headers[${h}].value`);
  return sizeOfVarint(keyBytes) + keyBytes + (valueBytes < 0 ? 1 : sizeOfVarint(valueBytes) + valueBytes);
}

function writeHeaders(out: Buffer, pos: number, headers: HeadersInput): number {
  if (headers === undefined || headers === null) {
    out[pos] = 0;
    return pos + 1;
  }
  if (Array.isArray(headers)) {
    pos = writeVarint(out, pos, headers.length);
    for (const header of headers as readonly RecordHeader[]) pos = writeHeader(out, pos, header.key, header.value);
    return pos;
  }
  const keys = Object.keys(headers);
  pos = writeVarint(out, pos, keys.length);
  for (const key of keys) {
    pos = writeHeader(out, pos, key, (headers as Readonly<Record<string, Buffer | string>>)[key]!);
  }
  return pos;
}

function writeHeader(out: Buffer, pos: number, key: string, value: Buffer | string | null): number {
  const keyBytes = Buffer.byteLength(key, 'utf8');
  pos = writeVarint(out, pos, keyBytes);
  out.write(key, pos, keyBytes, 'utf8');
  pos += keyBytes;
  const valueBytes = value === null ? -1 : typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length;
  return writeField(out, pos, value, valueBytes);
}

/** Writes a safe integer as a big-endian int64 without going through BigInt. */
function writeSafeInt64(out: Buffer, at: number, value: number): void {
  const high = Math.floor(value / 0x100000000);
  out.writeInt32BE(high, at);
  out.writeUInt32BE(value - high * 0x100000000, at + 4);
}
