import { z } from 'zod';
import {
  AcksSchema,
  BrokerIdSchema,
  EndpointSchema,
  EpochSchema,
  Int64StringSchema,
  NonNegativeInt32Schema,
  NonNegativeSafeIntSchema,
  OffsetSchema,
  PartitionErrorSchema,
  PartitionIndexSchema,
  RackSchema,
  TimestampMsSchema,
  TopicIdSchema,
  TopicNameSchema,
} from './common.js';

/**
 * The clients' API on brokers: metadata, produce, fetch, list offsets, producer ids. Produce
 * requests and fetch responses carry record data; they are frames (see framing.ts): the JSON
 * headers below, validated here, followed by one raw section of record batches per partition, in
 * the order the header lists them. Record data is never JSON or base64.
 */

const MAX_TOPICS_PER_REQUEST = 10_000;
const MAX_PARTITIONS_PER_TOPIC_IN_REQUEST = 10_000;
/** Bounds how long a request may keep a broker's resources; Kafka's request.timeout.ms default is 30 s. */
const MAX_WAIT_MS = 300_000;

/** POST /v1/metadata. `topics` absent asks for every topic. Unknown topics are reported per topic. */
export const MetadataRequestSchema = z.strictObject({
  topics: z.array(TopicNameSchema).max(MAX_TOPICS_PER_REQUEST).optional(),
});
export type MetadataRequest = z.input<typeof MetadataRequestSchema>;

export const MetadataBrokerSchema = z.strictObject({
  brokerId: BrokerIdSchema,
  endpoint: EndpointSchema,
  rack: RackSchema.nullable(),
});

export const MetadataPartitionSchema = z.strictObject({
  partition: PartitionIndexSchema,
  /** null while the partition has no leader (election under way, or offline). */
  leader: BrokerIdSchema.nullable(),
  leaderEpoch: EpochSchema,
  replicas: z.array(BrokerIdSchema),
  isr: z.array(BrokerIdSchema),
  offlineReplicas: z.array(BrokerIdSchema),
  error: PartitionErrorSchema.optional(),
});

export const MetadataTopicSchema = z.strictObject({
  name: TopicNameSchema,
  /** null when the topic is unknown (then `error` says so). */
  topicId: TopicIdSchema.nullable(),
  partitions: z.array(MetadataPartitionSchema),
  error: PartitionErrorSchema.optional(),
});

export const MetadataResponseSchema = z.strictObject({
  clusterId: z.string(),
  /** The broker that answered. */
  brokerId: BrokerIdSchema,
  /** The active controller, when known. */
  controllerId: z.union([BrokerIdSchema, z.null()]),
  brokers: z.array(MetadataBrokerSchema),
  topics: z.array(MetadataTopicSchema),
  /** The metadata offset this answer reflects, so a client can tell newer metadata from older. */
  metadataOffset: NonNegativeSafeIntSchema,
});
export type MetadataResponse = z.infer<typeof MetadataResponseSchema>;

/**
 * The leader a request should have gone to, sent with NOT_LEADER_OR_FOLLOWER and
 * FENCED_LEADER_EPOCH so that a client reroutes without a metadata round trip (Kafka's KIP-951).
 */
export const CurrentLeaderSchema = z.strictObject({
  leaderId: BrokerIdSchema,
  leaderEpoch: EpochSchema,
  endpoint: EndpointSchema,
});

/** The JSON header of a produce frame; section i holds the record batches of the i-th partition listed. */
export const ProduceRequestHeaderSchema = z.strictObject({
  acks: AcksSchema,
  /** How long the leader waits for the ISR with acks=all before REQUEST_TIMED_OUT. */
  timeoutMs: z.int().min(0).max(MAX_WAIT_MS),
  topics: z
    .array(
      z.strictObject({
        topic: TopicNameSchema,
        partitions: z
          .array(
            z.strictObject({
              partition: PartitionIndexSchema,
              /** The leader epoch the client believes current: FENCED_LEADER_EPOCH if older, refused if newer. */
              leaderEpoch: EpochSchema.optional(),
            }),
          )
          .min(1)
          .max(MAX_PARTITIONS_PER_TOPIC_IN_REQUEST),
      }),
    )
    .min(1)
    .max(MAX_TOPICS_PER_REQUEST),
});
export type ProduceRequestHeader = z.input<typeof ProduceRequestHeaderSchema>;

export const ProducePartitionResponseSchema = z.strictObject({
  partition: PartitionIndexSchema,
  /** The offset of the first record written; absent on error. */
  baseOffset: OffsetSchema.optional(),
  /** The append time when the topic uses LogAppendTime, else -1. */
  logAppendTimeMs: TimestampMsSchema,
  logStartOffset: OffsetSchema.optional(),
  error: PartitionErrorSchema.optional(),
  currentLeader: CurrentLeaderSchema.optional(),
});

/** The JSON answer to a produce frame (acks=0 gets an empty topics list as soon as the frame is read). */
export const ProduceResponseSchema = z.strictObject({
  topics: z.array(z.strictObject({ topic: TopicNameSchema, partitions: z.array(ProducePartitionResponseSchema) })),
});
export type ProduceResponse = z.input<typeof ProduceResponseSchema>;

const FetchPartitionRequestSchema = z.strictObject({
  partition: PartitionIndexSchema,
  fetchOffset: OffsetSchema,
  /** The leader epoch the client believes current (fencing as Kafka's KIP-320). */
  currentLeaderEpoch: EpochSchema.optional(),
  /** Bytes of record data at most for this partition (one batch is always returned whole). */
  partitionMaxBytes: z
    .int()
    .min(1)
    .max(256 * 1024 * 1024),
});

/** POST /v1/fetch: JSON request; the answer is a frame with FetchResponseHeaderSchema. */
export const FetchRequestSchema = z.strictObject({
  /** Long polling: how long to wait for `minBytes` of new data. */
  maxWaitMs: z.int().min(0).max(MAX_WAIT_MS),
  minBytes: z
    .int()
    .min(0)
    .max(256 * 1024 * 1024),
  maxBytes: z
    .int()
    .min(1)
    .max(256 * 1024 * 1024),
  topics: z
    .array(
      z.strictObject({
        topic: TopicNameSchema,
        partitions: z.array(FetchPartitionRequestSchema).min(1).max(MAX_PARTITIONS_PER_TOPIC_IN_REQUEST),
      }),
    )
    .min(1)
    .max(MAX_TOPICS_PER_REQUEST),
});
export type FetchRequest = z.input<typeof FetchRequestSchema>;

export const FetchPartitionResponseSchema = z.strictObject({
  partition: PartitionIndexSchema,
  highWatermark: OffsetSchema,
  logStartOffset: OffsetSchema,
  /** For a follower (replica fetch): where its log diverges from the leader's (Kafka's KIP-320). */
  divergingEpoch: z.strictObject({ epoch: EpochSchema, endOffset: OffsetSchema }).optional(),
  error: PartitionErrorSchema.optional(),
  currentLeader: CurrentLeaderSchema.optional(),
});

/** The JSON header of a fetch response frame; section i holds the record batches of the i-th partition listed. */
export const FetchResponseHeaderSchema = z.strictObject({
  topics: z.array(z.strictObject({ topic: TopicNameSchema, partitions: z.array(FetchPartitionResponseSchema) })),
  /** Set on a replica fetch session's responses (Kafka's KIP-227). */
  sessionId: NonNegativeInt32Schema.optional(),
});
export type FetchResponseHeader = z.input<typeof FetchResponseHeaderSchema>;

/** Where list-offsets looks: the earliest offset, the latest (the high watermark), or the first at or after a time. */
export const OffsetSpecSchema = z.union([
  z.literal('earliest'),
  z.literal('latest'),
  z.strictObject({ timestampMs: z.int().min(0).max(Number.MAX_SAFE_INTEGER) }),
]);
export type OffsetSpec = z.infer<typeof OffsetSpecSchema>;

/** POST /v1/list-offsets */
export const ListOffsetsRequestSchema = z.strictObject({
  topics: z
    .array(
      z.strictObject({
        topic: TopicNameSchema,
        partitions: z
          .array(
            z.strictObject({
              partition: PartitionIndexSchema,
              spec: OffsetSpecSchema,
              currentLeaderEpoch: EpochSchema.optional(),
            }),
          )
          .min(1)
          .max(MAX_PARTITIONS_PER_TOPIC_IN_REQUEST),
      }),
    )
    .min(1)
    .max(MAX_TOPICS_PER_REQUEST),
});
export type ListOffsetsRequest = z.input<typeof ListOffsetsRequestSchema>;

export const ListOffsetsResponseSchema = z.strictObject({
  topics: z.array(
    z.strictObject({
      topic: TopicNameSchema,
      partitions: z.array(
        z.strictObject({
          partition: PartitionIndexSchema,
          /** Absent when a timestamp lookup finds no record at or after it (Kafka answers -1). */
          offset: OffsetSchema.optional(),
          /** The timestamp of the record found, for timestamp lookups; -1 otherwise. */
          timestampMs: TimestampMsSchema,
          leaderEpoch: EpochSchema.optional(),
          error: PartitionErrorSchema.optional(),
          currentLeader: CurrentLeaderSchema.optional(),
        }),
      ),
    }),
  ),
});
export type ListOffsetsResponse = z.input<typeof ListOffsetsResponseSchema>;

/** POST /v1/producer-id: an idempotent producer gets its producer id and epoch (Kafka's InitProducerId). */
export const InitProducerIdRequestSchema = z.strictObject({
  /** A producer that restarts with the id it had asks for a new epoch of it instead of a new id. */
  producerId: Int64StringSchema.optional(),
  producerEpoch: z.int().min(0).max(32_767).optional(),
});
export const InitProducerIdResponseSchema = z.strictObject({
  producerId: Int64StringSchema,
  producerEpoch: z.int().min(0).max(32_767),
});
