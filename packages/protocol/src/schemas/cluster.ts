import { z } from 'zod';
import {
  BrokerIdSchema,
  ClusterIdSchema,
  EndpointSchema,
  EpochSchema,
  Int64StringSchema,
  NonNegativeInt32Schema,
  NonNegativeSafeIntSchema,
  OffsetSchema,
  PartitionErrorSchema,
  PartitionIndexSchema,
  RackSchema,
  TopicIdSchema,
  TopicNameSchema,
} from './common.js';

/**
 * Calls between nodes: brokers to controllers (registration, heartbeat, AlterPartition, producer
 * id blocks) and brokers to brokers (replica fetch, offsets for leader epoch). Every one carries
 * the cluster's shared secret and is refused without it.
 */

/** POST /v1/brokers/register (broker → active controller). */
export const BrokerRegistrationRequestSchema = z.strictObject({
  clusterId: ClusterIdSchema,
  brokerId: BrokerIdSchema,
  /** Random per process start: tells a restart from a second broker configured with the same id. */
  incarnationId: z.uuid(),
  endpoint: EndpointSchema,
  rack: RackSchema.nullable(),
});
export type BrokerRegistrationRequest = z.input<typeof BrokerRegistrationRequestSchema>;

export const BrokerRegistrationResponseSchema = z.strictObject({
  /** New at every registration; every later call from this broker carries it. */
  brokerEpoch: NonNegativeSafeIntSchema,
});

/** POST /v1/brokers/heartbeat (broker → active controller). */
export const BrokerHeartbeatRequestSchema = z.strictObject({
  brokerId: BrokerIdSchema,
  brokerEpoch: NonNegativeSafeIntSchema,
  /** The last metadata offset the broker has applied: it is unfenced only once caught up. */
  metadataOffset: NonNegativeSafeIntSchema,
  /** The broker wants to stay fenced (it is not ready to serve). */
  wantFence: z.boolean(),
  /** The broker is stopping: move its leaderships away first (controlled shutdown). */
  wantShutDown: z.boolean(),
});
export type BrokerHeartbeatRequest = z.input<typeof BrokerHeartbeatRequestSchema>;

export const BrokerHeartbeatResponseSchema = z.strictObject({
  isCaughtUp: z.boolean(),
  isFenced: z.boolean(),
  /** True once the broker leads no partition during a controlled shutdown: it may exit now. */
  shouldShutDown: z.boolean(),
  /** The session timeout the controller applies: miss heartbeats for this long and the broker is fenced. */
  sessionTimeoutMs: z.int().min(1),
});

/** POST /v1/alter-partition (partition leader → active controller): ISR shrink and expand. */
export const AlterPartitionRequestSchema = z.strictObject({
  brokerId: BrokerIdSchema,
  brokerEpoch: NonNegativeSafeIntSchema,
  topics: z
    .array(
      z.strictObject({
        topicId: TopicIdSchema,
        partitions: z
          .array(
            z.strictObject({
              partition: PartitionIndexSchema,
              leaderEpoch: EpochSchema,
              /** The partition epoch the leader's ISR view is based on: refused if not current. */
              partitionEpoch: EpochSchema,
              newIsr: z.array(BrokerIdSchema).min(1).max(1000),
            }),
          )
          .min(1)
          .max(10_000),
      }),
    )
    .min(1)
    .max(10_000),
});
export type AlterPartitionRequest = z.input<typeof AlterPartitionRequestSchema>;

export const AlterPartitionResponseSchema = z.strictObject({
  topics: z.array(
    z.strictObject({
      topicId: TopicIdSchema,
      partitions: z.array(
        z.strictObject({
          partition: PartitionIndexSchema,
          error: PartitionErrorSchema.optional(),
          /** The partition's state after the call (or as it is, when refused). */
          leader: z.union([BrokerIdSchema, z.literal(-1)]),
          leaderEpoch: EpochSchema,
          partitionEpoch: EpochSchema,
          isr: z.array(BrokerIdSchema),
        }),
      ),
    }),
  ),
});

/** POST /v1/producer-ids (broker → active controller): a block of producer ids for the broker to hand out. */
export const AllocateProducerIdsRequestSchema = z.strictObject({
  brokerId: BrokerIdSchema,
  brokerEpoch: NonNegativeSafeIntSchema,
});
export const AllocateProducerIdsResponseSchema = z.strictObject({
  firstProducerId: Int64StringSchema,
  count: z.int().min(1).max(1_000_000),
});

const ReplicaFetchPartitionSchema = z.strictObject({
  topicId: TopicIdSchema,
  partition: PartitionIndexSchema,
  fetchOffset: OffsetSchema,
  currentLeaderEpoch: EpochSchema,
  /** The epoch of the last batch the follower holds, so the leader can report divergence (KIP-320). */
  lastFetchedEpoch: EpochSchema.optional(),
  /** The follower's log start offset. */
  logStartOffset: OffsetSchema,
  partitionMaxBytes: z
    .int()
    .min(1)
    .max(256 * 1024 * 1024),
});

/**
 * POST /v1/replica-fetch (follower → leader broker). One incremental fetch session per leader
 * (Kafka's KIP-227): sessionId 0 with epoch 0 opens a session listing every partition; later
 * requests list only partitions whose fetch position changed, and `forgotten` removes partitions.
 * The answer is a frame with FetchResponseHeaderSchema listing only partitions with news.
 */
export const ReplicaFetchRequestSchema = z.strictObject({
  replicaId: BrokerIdSchema,
  brokerEpoch: NonNegativeSafeIntSchema,
  sessionId: NonNegativeInt32Schema,
  sessionEpoch: NonNegativeInt32Schema,
  maxWaitMs: z.int().min(0).max(60_000),
  minBytes: z
    .int()
    .min(0)
    .max(256 * 1024 * 1024),
  maxBytes: z
    .int()
    .min(1)
    .max(256 * 1024 * 1024),
  partitions: z.array(ReplicaFetchPartitionSchema).max(100_000),
  forgotten: z
    .array(z.strictObject({ topicId: TopicIdSchema, partition: PartitionIndexSchema }))
    .max(100_000)
    .optional(),
});
export type ReplicaFetchRequest = z.input<typeof ReplicaFetchRequestSchema>;

/**
 * POST /v1/offsets-for-leader-epoch (follower → leader): the end offset of a leader epoch in the
 * leader's log, so a new follower truncates its divergent suffix (Kafka's KIP-101 and KIP-279).
 */
export const OffsetsForLeaderEpochRequestSchema = z.strictObject({
  replicaId: BrokerIdSchema,
  partitions: z
    .array(
      z.strictObject({
        topic: TopicNameSchema,
        partition: PartitionIndexSchema,
        currentLeaderEpoch: EpochSchema,
        leaderEpoch: EpochSchema,
      }),
    )
    .min(1)
    .max(100_000),
});

export const OffsetsForLeaderEpochResponseSchema = z.strictObject({
  partitions: z.array(
    z.strictObject({
      topic: TopicNameSchema,
      partition: PartitionIndexSchema,
      /** The largest epoch at or below the one asked for that the leader knows. */
      leaderEpoch: z.union([EpochSchema, z.literal(-1)]),
      /** The first offset after that epoch in the leader's log (the log end for the current epoch). */
      endOffset: Int64StringSchema,
      error: PartitionErrorSchema.optional(),
    }),
  ),
});
