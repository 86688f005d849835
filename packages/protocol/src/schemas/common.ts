import { z } from 'zod';
import { ErrorCodeSchema } from '../errors.js';

/** Largest int64: offsets and producer ids travel as decimal strings up to this value. */
export const INT64_MAX = 0x7fff_ffff_ffff_ffffn;
export const INT32_MAX = 0x7fff_ffff;

export const Int32Schema = z.int().min(-0x8000_0000).max(INT32_MAX);
export const NonNegativeInt32Schema = z.int().min(0).max(INT32_MAX);
export const PositiveInt32Schema = z.int().min(1).max(INT32_MAX);
/** Any non-negative safe integer: Raft indexes, broker epochs, metadata offsets. */
export const NonNegativeSafeIntSchema = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Milliseconds since the epoch, or -1 where Kafka uses -1 for "no timestamp". */
export const TimestampMsSchema = z.int().min(-1).max(Number.MAX_SAFE_INTEGER);

/** Broker and controller ids, as Kafka's node ids: non-negative int32. */
export const NodeIdSchema = NonNegativeInt32Schema;
export const BrokerIdSchema = NodeIdSchema;
export const PartitionIndexSchema = NonNegativeInt32Schema;
/** Leader epochs and partition epochs: non-negative int32, bumped by the controller. */
export const EpochSchema = NonNegativeInt32Schema;

/**
 * A 64-bit offset in JSON: a decimal string, parsed to bigint. JSON numbers lose precision past
 * 2^53, so offsets never travel as numbers.
 */
export const OffsetSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,18})$/, 'expected a non-negative integer as a decimal string')
  .transform((text) => BigInt(text))
  .refine((value) => value <= INT64_MAX, 'expected an offset no larger than 2^63-1');

/** A signed int64 in JSON (producer ids, where -1 means none): a decimal string, parsed to bigint. */
export const Int64StringSchema = z
  .string()
  .regex(/^(0|-?[1-9][0-9]{0,18})$/, 'expected an integer as a decimal string')
  .transform((text) => BigInt(text))
  .refine((value) => value <= INT64_MAX && value >= -INT64_MAX - 1n, 'expected a value within int64');

/** The JSON form of an offset, the inverse of OffsetSchema. */
export function offsetToJson(offset: bigint): string {
  return offset.toString(10);
}

/** Kafka's rule for topic names: `[a-zA-Z0-9._-]`, 1 to 249 characters, and neither `.` nor `..`. */
export const TopicNameSchema = z
  .string()
  .min(1, 'a topic name must not be empty')
  .max(249, 'a topic name is at most 249 characters')
  .regex(/^[a-zA-Z0-9._-]+$/, 'a topic name may contain only ASCII letters, digits, ".", "_" and "-"')
  .refine((name) => name !== '.' && name !== '..', 'a topic name must not be "." or ".."');

/** Topic ids are UUIDs, new for every topic created, so a re-created topic is never confused with the old one. */
export const TopicIdSchema = z.uuid();

export const ClusterIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z0-9_-]+$/, 'a cluster id may contain only ASCII letters, digits, "_" and "-"');

/** A rack id, as Kafka's broker.rack: free text within limits. */
export const RackSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'a rack id is printable ASCII without spaces');

export const HostSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-zA-Z0-9.:[\]-]+$/, 'expected a host name or an IP address');
export const PortSchema = z.int().min(1).max(65_535);

export const EndpointSchema = z.strictObject({ host: HostSchema, port: PortSchema });
export type Endpoint = z.infer<typeof EndpointSchema>;

/** A typed error inside a response that covers many partitions: the same shape as the error body. */
export const PartitionErrorSchema = z.strictObject({
  code: ErrorCodeSchema,
  message: z.string().max(10_000),
  retriable: z.boolean(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type PartitionError = z.infer<typeof PartitionErrorSchema>;

export const TopicPartitionSchema = z.strictObject({ topic: TopicNameSchema, partition: PartitionIndexSchema });
export type TopicPartition = z.infer<typeof TopicPartitionSchema>;

/** `acks` as Kafka's producer setting: 0 (no reply waited for), 1 (leader), 'all' (the whole ISR). */
export const AcksSchema = z.union([z.literal(0), z.literal(1), z.literal('all')]);
export type Acks = z.infer<typeof AcksSchema>;

/** Path parameters arrive as strings: a node id in a path, checked and converted. */
export const NodeIdParamSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,9})$/, 'expected a broker id as a non-negative integer')
  .transform(Number)
  .pipe(NodeIdSchema);
