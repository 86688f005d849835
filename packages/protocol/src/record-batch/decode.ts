import { constants as bufferConstants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { checkCrc, checkFraming, parseHeader } from './header.js';
import {
  corrupt,
  MIN_RECORD_BODY_BYTES,
  MIN_RECORD_BYTES,
  RECORD_BATCH_DEFAULT_MAX_UNCOMPRESSED_BYTES,
  RECORD_BATCH_HEADER_BYTES,
  unsupportedCompression,
} from './layout.js';
import type { DecodedRecord, DecodedRecordBatch, DecodeOptions, RecordBatchHeader, RecordHeader } from './types.js';
import { ByteReader } from './varint.js';
import { viewOf } from './view.js';

/**
 * Decodes a whole batch after checking its framing, its CRC and every field of every record. Any
 * defect is CORRUPT_MESSAGE (UNSUPPORTED_COMPRESSION_TYPE for snappy, lz4, zstd and undefined
 * codecs); no input makes it read outside `buf` or throw anything else.
 *
 * Offset deltas must increase and stay within lastOffsetDelta, which every batch Kafka writes
 * satisfies, compacted ones included (they may have gaps and may be empty).
 */
export function decodeRecordBatch(buf: Buffer, options?: DecodeOptions): DecodedRecordBatch {
  const header = readCheckedHeader(buf);
  const records: DecodedRecord[] = [];
  readRecords(recordsReader(buf, header, options), header, records, false);
  return { header, records };
}

/**
 * The check a broker runs on a produced batch before it stores it: everything decodeRecordBatch
 * checks, plus what a freshly produced batch must satisfy (at least one record, offset deltas
 * exactly 0..n-1, lastOffsetDelta = recordCount - 1, and for create-time batches a maxTimestamp
 * equal to the largest record timestamp). It keeps no records.
 */
export function validateRecordBatch(buf: Buffer, options?: DecodeOptions): RecordBatchHeader {
  const header = readCheckedHeader(buf);
  const { recordCount, lastOffsetDelta } = header;
  if (recordCount === 0) throw corrupt('record count is 0: a produced batch holds at least one record');
  if (lastOffsetDelta !== recordCount - 1) {
    throw corrupt(
      `last offset delta ${lastOffsetDelta} does not match record count ${recordCount} (expected ${recordCount - 1})`,
    );
  }
  const largestTimestamp = readRecords(recordsReader(buf, header, options), header, null, true);
  if (header.timestampType === 'create-time' && largestTimestamp !== header.maxTimestamp) {
    throw corrupt(
      `max timestamp ${header.maxTimestamp} does not match the largest record timestamp ${largestTimestamp}`,
    );
  }
  return header;
}

/** Framing first, so that the CRC covers the right bytes; then the CRC, so that a flipped header bit reads as a CRC error. */
function readCheckedHeader(buf: Buffer): RecordBatchHeader {
  const batchLength = checkFraming(buf);
  checkCrc(buf);
  return parseHeader(buf, batchLength);
}

function maxUncompressedBytesOf(options: DecodeOptions | undefined): number {
  const max = options?.maxUncompressedBytes ?? RECORD_BATCH_DEFAULT_MAX_UNCOMPRESSED_BYTES;
  if (!Number.isSafeInteger(max) || max < 1 || max > bufferConstants.MAX_LENGTH) {
    throw new RangeError(`maxUncompressedBytes ${max} is not an integer from 1 to ${bufferConstants.MAX_LENGTH}`);
  }
  return max;
}

/** A reader over the records section: the batch itself, or the inflated payload of a gzip batch. */
function recordsReader(buf: Buffer, header: RecordBatchHeader, options: DecodeOptions | undefined): ByteReader {
  const { compression, recordCount } = header;
  if (compression === 'none') return new ByteReader(buf, RECORD_BATCH_HEADER_BYTES, buf.length);
  if (compression !== 'gzip') {
    throw unsupportedCompression(`compression type ${compression} is not supported: Millrace reads none and gzip`);
  }
  const maxBytes = maxUncompressedBytesOf(options);
  let inflated: Buffer;
  try {
    inflated = gunzipSync(buf.subarray(RECORD_BATCH_HEADER_BYTES), { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw corrupt(`gzip records inflate to more than maxUncompressedBytes (${maxBytes} bytes)`, error);
    }
    throw corrupt(`gzip records do not inflate: ${(error as Error).message}`, error);
  }
  if (recordCount > inflated.length / MIN_RECORD_BYTES) {
    throw corrupt(
      `record count ${recordCount} cannot fit in ${inflated.length} inflated bytes of records (a record takes at least ${MIN_RECORD_BYTES})`,
    );
  }
  return new ByteReader(inflated, 0, inflated.length, ' of the inflated records');
}

/**
 * Walks `header.recordCount` records from the reader to its end, checking each as it goes, and
 * pushes them to `out` unless it is null (validation keeps nothing). `exactOffsets` demands offset
 * deltas 0..n-1. Returns the largest record timestamp (baseTimestamp + delta).
 *
 * While a record is read, the reader's end is narrowed to the record's end, so a field can never
 * run into the next record, and leftover bytes are caught by the length check at the end.
 */
function readRecords(
  r: ByteReader,
  header: RecordBatchHeader,
  out: DecodedRecord[] | null,
  exactOffsets: boolean,
): number {
  const buf = r.buf;
  const batchEnd = r.end;
  const { recordCount, baseOffset, baseTimestamp, lastOffsetDelta, maxTimestamp } = header;
  const logAppendTime = header.timestampType === 'log-append-time';
  let previousOffsetDelta = -1;
  let largestTimestamp = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < recordCount; i++) {
    r.record = i;
    if (r.pos >= batchEnd) r.fail(`missing: the records end at ${r.at(r.pos)} after ${i} of ${recordCount}`);
    const length = r.varint('record length');
    const bodyStart = r.pos;
    if (length < MIN_RECORD_BODY_BYTES) {
      r.fail(`record length ${length} is less than the ${MIN_RECORD_BODY_BYTES}-byte minimum`);
    }
    if (length > batchEnd - bodyStart) {
      r.fail(`record length ${length} exceeds the ${batchEnd - bodyStart} bytes left in the batch`);
    }
    const recordEnd = bodyStart + length;
    r.end = recordEnd;

    const attributes = (buf[r.pos++]! << 24) >> 24;
    const timestampDelta = r.varlong('timestamp delta');
    const offsetDelta = r.varint('offset delta');
    if (exactOffsets) {
      if (offsetDelta !== i) r.fail(`offset delta ${offsetDelta} should be ${i}: deltas run 0..${recordCount - 1}`);
    } else if (offsetDelta <= previousOffsetDelta) {
      r.fail(`offset delta ${offsetDelta} is not greater than the previous record's ${previousOffsetDelta}`);
    } else if (offsetDelta > lastOffsetDelta) {
      r.fail(`offset delta ${offsetDelta} exceeds the batch's last offset delta ${lastOffsetDelta}`);
    }
    previousOffsetDelta = offsetDelta;
    const timestamp = baseTimestamp + timestampDelta;
    if (!Number.isSafeInteger(timestamp)) {
      r.fail(`timestamp ${baseTimestamp} + ${timestampDelta} is outside the safe integer range`);
    }
    if (timestamp > largestTimestamp) largestTimestamp = timestamp;

    let key: Buffer | null = null;
    const keyLength = r.varint('key length');
    if (keyLength >= 0) {
      if (keyLength > recordEnd - r.pos) {
        r.fail(`key length ${keyLength} exceeds the ${recordEnd - r.pos} bytes left in the record`);
      }
      if (out !== null) key = viewOf(buf, r.pos, keyLength);
      r.pos += keyLength;
    } else if (keyLength !== -1) {
      r.fail(`key length ${keyLength} is negative and not -1 (null)`);
    }

    let value: Buffer | null = null;
    const valueLength = r.varint('value length');
    if (valueLength >= 0) {
      if (valueLength > recordEnd - r.pos) {
        r.fail(`value length ${valueLength} exceeds the ${recordEnd - r.pos} bytes left in the record`);
      }
      if (out !== null) value = viewOf(buf, r.pos, valueLength);
      r.pos += valueLength;
    } else if (valueLength !== -1) {
      r.fail(`value length ${valueLength} is negative and not -1 (null)`);
    }

    const headerCount = r.varint('header count');
    const headers: RecordHeader[] | null = out === null ? null : [];
    if (headerCount !== 0) readHeaders(r, headerCount, headers);

    if (r.pos !== recordEnd) {
      r.fail(`record length ${length} does not match its fields, which end after ${r.pos - bodyStart} bytes`);
    }
    r.end = batchEnd;
    if (out !== null) {
      out.push({
        offset: baseOffset + BigInt(offsetDelta),
        offsetDelta,
        timestamp: logAppendTime ? maxTimestamp : timestamp,
        attributes,
        key,
        value,
        headers: headers!,
      });
    }
  }
  r.record = -1;
  if (r.pos !== batchEnd) {
    r.fail(`${batchEnd - r.pos} trailing bytes at ${r.at(r.pos)} after the last of ${recordCount} records`);
  }
  return largestTimestamp;
}

/** Header keys are UTF-8 and never null; values may be null (-1). Malformed UTF-8 decodes with U+FFFD, as Kafka's Java client does. */
function readHeaders(r: ByteReader, headerCount: number, out: RecordHeader[] | null): void {
  const buf = r.buf;
  if (headerCount < 0) r.fail(`header count ${headerCount} is negative`);
  // Each header takes at least two bytes: its key length and its value length.
  if (headerCount > (r.end - r.pos) / 2) {
    r.fail(`header count ${headerCount} cannot fit in the ${r.end - r.pos} bytes left in the record`);
  }
  for (let h = 0; h < headerCount; h++) {
    const keyLength = r.varint('header key length');
    if (keyLength < 0) r.fail(`header ${h}: key length ${keyLength} is negative (header keys are never null)`);
    if (keyLength > r.end - r.pos) {
      r.fail(`header ${h}: key length ${keyLength} exceeds the ${r.end - r.pos} bytes left in the record`);
    }
    const key = out === null ? '' : buf.toString('utf8', r.pos, r.pos + keyLength);
    r.pos += keyLength;
    const valueLength = r.varint('header value length');
    let value: Buffer | null = null;
    if (valueLength >= 0) {
      if (valueLength > r.end - r.pos) {
        r.fail(`header ${h}: value length ${valueLength} exceeds the ${r.end - r.pos} bytes left in the record`);
      }
      if (out !== null) value = viewOf(buf, r.pos, valueLength);
      r.pos += valueLength;
    } else if (valueLength !== -1) {
      r.fail(`header ${h}: value length ${valueLength} is negative and not -1 (null)`);
    }
    if (out !== null) out.push({ key, value });
  }
}
