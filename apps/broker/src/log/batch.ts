import { crc32c } from '@millrace/protocol';

/**
 * RecordBatch v2 header positions this module writes (big-endian), as Kafka defines them. The
 * protocol package keeps its layout private, and only exports setters for the two fields outside
 * the CRC; the log-append-time stamp changes fields inside it, so it is done here.
 */
const CRC_AT = 17;
const ATTRIBUTES_AT = 21;
const MAX_TIMESTAMP_AT = 35;
const TIMESTAMP_TYPE_BIT = 0x08;

/**
 * Stamps a validated batch with the broker's clock, as Kafka does for topics with
 * `message.timestamp.type=LogAppendTime`: the timestamp-type attribute is set and maxTimestamp
 * becomes `nowMs`, which then stands for every record's timestamp. Both fields are inside the
 * CRC, so it is recomputed: the caller must have verified the old CRC first, or this would bless
 * damaged bytes.
 */
export function stampLogAppendTime(batch: Buffer, nowMs: number): void {
  batch.writeInt16BE(batch.readInt16BE(ATTRIBUTES_AT) | TIMESTAMP_TYPE_BIT, ATTRIBUTES_AT);
  batch.writeBigInt64BE(BigInt(nowMs), MAX_TIMESTAMP_AT);
  batch.writeUInt32BE(crc32c(batch.subarray(ATTRIBUTES_AT)), CRC_AT);
}
