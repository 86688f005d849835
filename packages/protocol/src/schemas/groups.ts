import { z } from 'zod';
import {
  BrokerIdSchema,
  EndpointSchema,
  Int32Schema,
  OffsetSchema,
  PartitionIndexSchema,
  TopicIdSchema,
  TopicNameSchema,
} from './common.js';

/**
 * Consumer groups on brokers (the model of Kafka's KIP-848): finding a group's coordinator,
 * members' heartbeats, committed offsets, and the groups' admin calls. All JSON; every call but the
 * coordinator lookup goes to the group's coordinator, and any other broker answers
 * NOT_COORDINATOR naming it.
 */

const MAX_TOPICS = 10_000;

/** The consumer groups' internal topic: created by the controller when a broker first needs it, never by users. */
export const OFFSETS_TOPIC = '__consumer_offsets';
const MAX_PARTITIONS = 10_000;

/** A group id: 1 to 255 printable characters (Kafka allows any string; control characters are refused here). */
export const GroupIdSchema = z
  .string()
  .min(1, 'a group id must not be empty')
  .max(255, 'a group id is at most 255 characters')
  .regex(/^[^\p{Cc}]+$/u, 'a group id must not contain control characters');

/** A member id, chosen by the member (a UUID, as Kafka's KIP-1082): printable, 1 to 64 characters. */
export const MemberIdSchema = z
  .string()
  .min(1, 'a member id must not be empty')
  .max(64, 'a member id is at most 64 characters')
  .regex(/^[\x21-\x7e]+$/, 'a member id is printable ASCII without spaces');

const ClientFieldSchema = z.string().max(255);

/** POST /v1/groups/coordinator, to any broker. */
export const FindCoordinatorRequestSchema = z.strictObject({ groupId: GroupIdSchema });
export type FindCoordinatorRequest = z.input<typeof FindCoordinatorRequestSchema>;

export const FindCoordinatorResponseSchema = z.strictObject({
  groupId: GroupIdSchema,
  brokerId: BrokerIdSchema,
  endpoint: EndpointSchema,
});
export type FindCoordinatorResponse = z.infer<typeof FindCoordinatorResponseSchema>;

/** A member's partitions by topic: ids, because a topic deleted and created again is another topic. */
export const GroupTopicPartitionsSchema = z.strictObject({
  topicId: TopicIdSchema,
  partitions: z.array(PartitionIndexSchema).max(MAX_PARTITIONS),
});

/**
 * POST /v1/groups/heartbeat, to the coordinator. A join is memberEpoch 0 with the subscription; a
 * leave is memberEpoch -1. The coordinator holds an answer that would change nothing for up to the
 * heartbeat interval, and answers at once when the member's assignment changes (a long poll), so a
 * rebalance reaches members in milliseconds instead of at their next heartbeat.
 */
export const GroupHeartbeatRequestSchema = z.strictObject({
  groupId: GroupIdSchema,
  memberId: MemberIdSchema,
  memberEpoch: z.int().min(-1).max(0x7fff_ffff),
  /** Needed on a join; otherwise sent only when it changed. */
  subscribedTopicNames: z.array(TopicNameSchema).max(MAX_TOPICS).optional(),
  /** How long the member may take to revoke partitions before it is removed (Kafka's max.poll.interval.ms). */
  rebalanceTimeoutMs: z.int().min(1000).max(3_600_000).optional(),
  /** What the member owns now; it confirms revocations by no longer listing them. */
  ownedPartitions: z.array(GroupTopicPartitionsSchema).max(MAX_TOPICS).optional(),
  clientId: ClientFieldSchema.optional(),
  /** Answer at once even when nothing changed (a member that must confirm a revocation promptly). Default false. */
  noWait: z.boolean().optional(),
});
export type GroupHeartbeatRequest = z.input<typeof GroupHeartbeatRequestSchema>;

export const GroupAssignedTopicSchema = z.strictObject({
  topicId: TopicIdSchema,
  /** null when the topic is gone from the metadata. */
  topic: TopicNameSchema.nullable(),
  partitions: z.array(PartitionIndexSchema),
});

export const GroupHeartbeatResponseSchema = z.strictObject({
  memberId: MemberIdSchema,
  /** -1 after a leave. */
  memberEpoch: z.int().min(-1),
  heartbeatIntervalMs: z.int().min(0),
  /**
   * The group's session timeout: a member that has had no answer for this long (counted from when
   * it sent the heartbeat last answered) must consider its partitions lost, as the coordinator
   * will have given them away.
   */
  sessionTimeoutMs: z.int().min(0),
  /** What the member may own now: it revokes what it owns beyond this and starts what is new. */
  assignment: z.array(GroupAssignedTopicSchema),
});
export type GroupHeartbeatResponse = z.infer<typeof GroupHeartbeatResponseSchema>;

const CommitPartitionSchema = z.strictObject({
  partition: PartitionIndexSchema,
  /** The next offset to consume. */
  offset: OffsetSchema,
  leaderEpoch: Int32Schema.min(-1).optional(),
  metadata: z.string().max(4096).optional(),
});

/**
 * POST /v1/groups/offsets/commit, to the coordinator. From a member: its id and current epoch.
 * From a tool (reset offsets): memberId "" and memberEpoch -1, allowed while the group has no members.
 */
export const OffsetCommitRequestSchema = z.strictObject({
  groupId: GroupIdSchema,
  memberId: z.union([z.literal(''), MemberIdSchema]),
  memberEpoch: z.int().min(-1).max(0x7fff_ffff),
  topics: z
    .array(
      z.strictObject({ topic: TopicNameSchema, partitions: z.array(CommitPartitionSchema).min(1).max(MAX_PARTITIONS) }),
    )
    .min(1)
    .max(MAX_TOPICS),
});
export type OffsetCommitRequest = z.input<typeof OffsetCommitRequestSchema>;

/** Commits are all or nothing: a refused commit is an error of the whole call. */
export const OffsetCommitResponseSchema = z.strictObject({ committed: z.int().min(0) });

/** POST /v1/groups/offsets/fetch, to the coordinator. `topics` absent: every committed offset of the group. */
export const OffsetFetchRequestSchema = z.strictObject({
  groupId: GroupIdSchema,
  topics: z
    .array(
      z.strictObject({ topic: TopicNameSchema, partitions: z.array(PartitionIndexSchema).min(1).max(MAX_PARTITIONS) }),
    )
    .max(MAX_TOPICS)
    .optional(),
});
export type OffsetFetchRequest = z.input<typeof OffsetFetchRequestSchema>;

export const CommittedOffsetSchema = z.strictObject({
  topic: TopicNameSchema,
  partition: PartitionIndexSchema,
  offset: OffsetSchema,
  leaderEpoch: Int32Schema.min(-1),
  metadata: z.string(),
  commitTimestampMs: z.int().min(0),
});

/** Only partitions with a committed offset are listed. */
export const OffsetFetchResponseSchema = z.strictObject({
  groupId: GroupIdSchema,
  offsets: z.array(CommittedOffsetSchema),
});
export type OffsetFetchResponse = z.input<typeof OffsetFetchResponseSchema>;

export const GroupStateSchema = z.enum(['empty', 'assigning', 'reconciling', 'stable']);

/** GET /v1/groups on a broker: the groups it coordinates (the SDK's admin asks every broker). */
export const ListGroupsResponseSchema = z.strictObject({
  groups: z.array(z.strictObject({ groupId: GroupIdSchema, state: GroupStateSchema, members: z.int().min(0) })),
});
export type ListGroupsResponse = z.infer<typeof ListGroupsResponseSchema>;

export const DescribeGroupRequestSchema = z.strictObject({ groupId: GroupIdSchema });

export const DescribedMemberSchema = z.strictObject({
  memberId: MemberIdSchema,
  clientId: z.string(),
  clientHost: z.string(),
  memberEpoch: z.int().min(0),
  state: z.enum(['stable', 'unrevoked-partitions', 'unreleased-partitions']),
  subscribedTopicNames: z.array(TopicNameSchema),
  assignment: z.array(GroupAssignedTopicSchema),
  pendingRevocation: z.array(GroupAssignedTopicSchema),
  target: z.array(GroupAssignedTopicSchema),
});

/** POST /v1/groups/describe, to the coordinator. */
export const DescribeGroupResponseSchema = z.strictObject({
  groupId: GroupIdSchema,
  state: GroupStateSchema,
  groupEpoch: z.int().min(0),
  assignmentEpoch: z.int().min(0),
  members: z.array(DescribedMemberSchema),
  offsets: z.array(CommittedOffsetSchema),
});
export type DescribeGroupResponse = z.input<typeof DescribeGroupResponseSchema>;

/** POST /v1/groups/delete, to the coordinator: an empty group and its offsets. */
export const DeleteGroupRequestSchema = z.strictObject({ groupId: GroupIdSchema });

/** Where a call that needs a group's coordinator should have gone (with NOT_COORDINATOR). */
export const CoordinatorHintSchema = z.strictObject({ brokerId: BrokerIdSchema, endpoint: EndpointSchema });

/** POST /v1/internal-topics, from a broker to the active controller (cluster secret): create `__consumer_offsets`. */
export const CreateInternalTopicRequestSchema = z.strictObject({ name: z.literal(OFFSETS_TOPIC) });
export const CreateInternalTopicResponseSchema = z.strictObject({
  name: TopicNameSchema,
  topicId: TopicIdSchema,
  partitions: z.int().min(1),
});
