import { z } from 'zod';
import type { TopicPartitionsJson } from './partitions.js';

/**
 * What the group coordinator writes to its partition of `__consumer_offsets`, one record per
 * change, as Kafka's new group coordinator does: the latest record of each key is the state, and a
 * `null` value (a tombstone) removes the key. Loading a partition replays its records in order
 * (`GroupStore.replay`); the coordinator changes its state only by replaying the records it wrote.
 *
 * In the log a record's key is the JSON of everything below but `value`, and its value the JSON
 * of `value` (no value for a tombstone). Both are checked with the schemas below when read: a
 * record that fails them stops the partition's load with the reason, never a silent skip.
 */
export type GroupRecord =
  /** The group exists at `groupEpoch`; `subscriptions` is what its last target was computed from. */
  | { readonly type: 'group'; readonly groupId: string; readonly value: GroupValue | null }
  /** A member's static facts: who it is and what it subscribes to. */
  | { readonly type: 'member'; readonly groupId: string; readonly memberId: string; readonly value: MemberValue | null }
  /** The target assignment was computed for this group epoch. */
  | {
      readonly type: 'target-epoch';
      readonly groupId: string;
      readonly value: { readonly assignmentEpoch: number } | null;
    }
  /** A member's share of the target assignment. */
  | {
      readonly type: 'target';
      readonly groupId: string;
      readonly memberId: string;
      readonly value: { readonly partitions: readonly TopicPartitionsJson[] } | null;
    }
  /** What a member owns now and what it must still give up: its reconciliation state. */
  | {
      readonly type: 'current';
      readonly groupId: string;
      readonly memberId: string;
      readonly value: CurrentValue | null;
    }
  /** A committed offset. */
  | {
      readonly type: 'offset';
      readonly groupId: string;
      readonly topic: string;
      readonly partition: number;
      readonly value: OffsetValue | null;
    };

export interface GroupValue {
  readonly groupEpoch: number;
  /** Canonical description of the subscribed topics (name, id, partition count) at `groupEpoch`. */
  readonly subscriptions: string;
}

export interface MemberValue {
  readonly clientId: string;
  readonly clientHost: string;
  readonly rebalanceTimeoutMs: number;
  readonly subscribedTopicNames: readonly string[];
}

export type MemberState = 'stable' | 'unrevoked-partitions' | 'unreleased-partitions';

export interface CurrentValue {
  readonly memberEpoch: number;
  readonly previousMemberEpoch: number;
  readonly state: MemberState;
  readonly assigned: readonly TopicPartitionsJson[];
  readonly pendingRevocation: readonly TopicPartitionsJson[];
}

export interface OffsetValue {
  /** The next offset to consume, as a decimal string (64-bit). */
  readonly offset: string;
  /** The leader epoch of the last consumed record, -1 when unknown. */
  readonly leaderEpoch: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
}

const epoch = z
  .number()
  .int()
  .min(-1)
  .max(2 ** 31 - 1);
const id = z.string().min(1).max(255);
const topicPartitions = z.array(
  z.strictObject({
    topicId: id,
    partitions: z.array(
      z
        .number()
        .int()
        .min(0)
        .max(2 ** 31 - 1),
    ),
  }),
);

const valueSchemas = {
  group: z.strictObject({ groupEpoch: epoch, subscriptions: z.string() }),
  member: z.strictObject({
    clientId: z.string().max(255),
    clientHost: z.string().max(255),
    rebalanceTimeoutMs: z.number().int().min(0),
    subscribedTopicNames: z.array(z.string().min(1).max(249)),
  }),
  'target-epoch': z.strictObject({ assignmentEpoch: epoch }),
  target: z.strictObject({ partitions: topicPartitions }),
  current: z.strictObject({
    memberEpoch: epoch,
    previousMemberEpoch: epoch,
    state: z.enum(['stable', 'unrevoked-partitions', 'unreleased-partitions']),
    assigned: topicPartitions,
    pendingRevocation: topicPartitions,
  }),
  offset: z.strictObject({
    offset: z.string().regex(/^(0|[1-9][0-9]{0,18})$/),
    leaderEpoch: epoch,
    metadata: z.string().max(4096),
    commitTimestampMs: z.number().int().min(0),
  }),
} as const;

const keySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('group'), groupId: id }),
  z.strictObject({ type: z.literal('member'), groupId: id, memberId: id }),
  z.strictObject({ type: z.literal('target-epoch'), groupId: id }),
  z.strictObject({ type: z.literal('target'), groupId: id, memberId: id }),
  z.strictObject({ type: z.literal('current'), groupId: id, memberId: id }),
  z.strictObject({
    type: z.literal('offset'),
    groupId: id,
    topic: z.string().min(1).max(249),
    partition: z.number().int().min(0),
  }),
]);

/** The record's key and value as stored (UTF-8 JSON; `null` value for a tombstone). */
export function encodeGroupRecord(record: GroupRecord): { key: Buffer; value: Buffer | null } {
  const { value, ...key } = record;
  return { key: Buffer.from(JSON.stringify(key)), value: value === null ? null : Buffer.from(JSON.stringify(value)) };
}

/** Reads a stored record back, checked; throws with the reason when it is not one this code wrote. */
export function decodeGroupRecord(key: Uint8Array | null, value: Uint8Array | null): GroupRecord {
  if (key === null) throw new Error('a group record without a key');
  const parsedKey = keySchema.parse(parseJson(key, 'key'));
  const parsedValue = value === null ? null : valueSchemas[parsedKey.type].parse(parseJson(value, 'value'));
  return { ...parsedKey, value: parsedValue } as GroupRecord;
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new Error(`a group record whose ${what} is not JSON`);
  }
}
