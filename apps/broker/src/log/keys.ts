import { crc32c } from '@millrace/protocol';
import type { TopicIdPartition } from './types.js';

/**
 * The key layout of the broker's one LevelDB, which holds every partition the broker hosts.
 *
 * A key is a one-byte tag, then (for per-partition keys) the "tp prefix": the topic id as 16 raw
 * bytes and the partition number as u32 big-endian; then what the tag needs. Tags first means
 * that one tag's keys are contiguous across partitions (recovery reads every `P` in one scan),
 * and within a tag one partition's keys are contiguous and in number order (u64/u32 big-endian
 * sort as numbers).
 *
 *   `M`                                   store format (sealed JSON); rewritten with sync to flush
 *   `P` + tp                              partition metadata (sealed JSON: topic name, created-at)
 *   `S` + tp                              log start offset (sealed u64)
 *   `H` + tp                              high-watermark checkpoint (sealed u64), written lazily
 *   `E` + tp + epoch u32                  leader-epoch cache: first offset of the epoch (sealed u64)
 *   `T` + tp                              a large truncation under way (sealed u64): see LevelLogStore
 *   `B` + tp + lastOffset u64 + position u64   one whole record batch, exactly as stored
 *
 * Batches are keyed by their LAST offset, so a forward seek to `B + tp + X` lands on the batch that
 * holds offset X (if any holds it), and a fetch is one forward iterator. The key also carries the
 * batch's byte position (the bytes of the partition's log before it, as if the log were one file,
 * Kafka's segment position): the log's size is then one subtraction, known at start without
 * reading the log, which `retention.bytes` needs. Seeks use the 29-byte prefix without the
 * position, which sorts before every full key with the same last offset.
 */
export const TAG_META = 0x4d; // 'M'
export const TAG_PARTITION = 0x50; // 'P'
export const TAG_LOG_START = 0x53; // 'S'
export const TAG_HIGH_WATERMARK = 0x48; // 'H'
export const TAG_EPOCH = 0x45; // 'E'
export const TAG_TRUNCATION = 0x54; // 'T'
export const TAG_BATCH = 0x42; // 'B'

export const TP_BYTES = 20;
const PREFIX_BYTES = 1 + TP_BYTES;
export const BATCH_KEY_BYTES = PREFIX_BYTES + 16;
export const EPOCH_KEY_BYTES = PREFIX_BYTES + 4;

export const META_KEY = Buffer.from([TAG_META]);

/** `tag + tp`: the whole key for P, S, H, T; the prefix of a partition's E and B keys. */
export function partitionKeyOf(tag: number, tp: TopicIdPartition): Buffer {
  const key = Buffer.allocUnsafe(PREFIX_BYTES);
  writePrefix(key, tag, tp, tp.partition);
  return key;
}

/** The first key after every key of `tag + tp` (the next partition number: partitions are at most 2^31-1). */
export function partitionUpperBound(tag: number, tp: TopicIdPartition): Buffer {
  const key = Buffer.allocUnsafe(PREFIX_BYTES);
  writePrefix(key, tag, tp, tp.partition + 1);
  return key;
}

/** The lower and upper bounds of every key of one tag. */
export function tagRange(tag: number): { gte: Buffer; lt: Buffer } {
  return { gte: Buffer.from([tag]), lt: Buffer.from([tag + 1]) };
}

export function batchKey(tp: TopicIdPartition, lastOffset: bigint, position: number): Buffer {
  const key = Buffer.allocUnsafe(BATCH_KEY_BYTES);
  writePrefix(key, TAG_BATCH, tp, tp.partition);
  key.writeBigUInt64BE(lastOffset, PREFIX_BYTES);
  key.writeBigUInt64BE(BigInt(position), PREFIX_BYTES + 8);
  return key;
}

/** Sorts before every batch whose last offset is ≥ offset, after every batch whose last offset is < offset. */
export function batchSeekKey(tp: TopicIdPartition, offset: bigint): Buffer {
  const key = Buffer.allocUnsafe(PREFIX_BYTES + 8);
  writePrefix(key, TAG_BATCH, tp, tp.partition);
  key.writeBigUInt64BE(offset, PREFIX_BYTES);
  return key;
}

export function epochKey(tp: TopicIdPartition, epoch: number): Buffer {
  const key = Buffer.allocUnsafe(EPOCH_KEY_BYTES);
  writePrefix(key, TAG_EPOCH, tp, tp.partition);
  key.writeUInt32BE(epoch, PREFIX_BYTES);
  return key;
}

/** The partition a per-partition key belongs to, or undefined if the key is too short to hold one. */
export function partitionOfKey(key: Buffer): TopicIdPartition | undefined {
  if (key.length < PREFIX_BYTES) return undefined;
  const hex = key.toString('hex', 1, 17);
  const topicId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { topicId, partition: key.readUInt32BE(17) };
}

export function parseBatchKey(key: Buffer): { lastOffset: bigint; position: number } | undefined {
  if (key.length !== BATCH_KEY_BYTES) return undefined;
  const lastOffset = key.readBigUInt64BE(PREFIX_BYTES);
  const position = key.readBigUInt64BE(PREFIX_BYTES + 8);
  if (position > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return { lastOffset, position: Number(position) };
}

export function parseEpochKey(key: Buffer): number | undefined {
  return key.length === EPOCH_KEY_BYTES ? key.readUInt32BE(PREFIX_BYTES) : undefined;
}

function writePrefix(key: Buffer, tag: number, tp: TopicIdPartition, partition: number): void {
  key[0] = tag;
  const hex = tp.topicId.replaceAll('-', '');
  if (key.write(hex, 1, 16, 'hex') !== 16) throw new Error(`invariant broken: topic id ${tp.topicId} is not a UUID`);
  key.writeUInt32BE(partition, 17);
}

/**
 * Values that are not record batches are sealed: `crc32c(payload) u32 | payload`, as in the Raft
 * store, and checked on every read. Record batches need no seal: their own CRC-32C covers them
 * (all but the base offset and leader epoch, which the key and the epoch cache cross-check).
 */
export function seal(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(crc32c(payload), 0);
  out.set(payload, 4);
  return out;
}

/** The payload of a sealed value, or a sentence saying why it is damaged. */
export function unseal(value: Buffer): Buffer | string {
  if (value.length < 4) return `is truncated (${value.length} bytes)`;
  const payload = value.subarray(4);
  const stored = value.readUInt32BE(0);
  const computed = crc32c(payload);
  if (stored !== computed) {
    return `fails its checksum (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`;
  }
  return payload;
}

export function sealedOffset(offset: bigint): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeBigUInt64BE(offset, 0);
  return seal(payload);
}

export function sealedJson(value: unknown): Buffer {
  return seal(Buffer.from(JSON.stringify(value), 'utf8'));
}

/** Reads a sealed u64, or a sentence saying why it cannot. */
export function unsealOffset(value: Buffer): bigint | string {
  const payload = unseal(value);
  if (typeof payload === 'string') return payload;
  if (payload.length !== 8) return `holds ${payload.length} bytes where an offset takes 8`;
  const offset = payload.readBigUInt64BE(0);
  if (offset > 0x7fff_ffff_ffff_ffffn) return `holds ${offset}, beyond int64`;
  return offset;
}
