import { z } from 'zod';
import {
  BrokerIdSchema,
  EndpointSchema,
  EpochSchema,
  NodeIdSchema,
  NonNegativeSafeIntSchema,
  PartitionErrorSchema,
  PartitionIndexSchema,
  RackSchema,
  TopicIdSchema,
  TopicNameSchema,
  TopicPartitionSchema,
} from './common.js';
import { ConfigValueInputSchema } from './configs.js';

/**
 * The admin HTTP API, served by every controller (writes forwarded to the active one) and by every
 * broker (forwarded to the controllers), so one bootstrap address is enough. The operations are
 * Kafka's AdminClient's, under resource names in the spirit of Confluent's REST v3.
 */

export const BrokerStateSchema = z.enum(['alive', 'fenced', 'controlled-shutdown']);

export const BrokerDescriptionSchema = z.strictObject({
  brokerId: BrokerIdSchema,
  brokerEpoch: NonNegativeSafeIntSchema,
  endpoint: EndpointSchema,
  rack: RackSchema.nullable(),
  state: BrokerStateSchema,
});
export type BrokerDescription = z.infer<typeof BrokerDescriptionSchema>;

export const ControllerDescriptionSchema = z.strictObject({
  nodeId: NodeIdSchema,
  endpoint: EndpointSchema,
  active: z.boolean(),
});

/** GET /v1/cluster */
export const ClusterDescriptionSchema = z.strictObject({
  clusterId: z.string(),
  activeControllerId: NodeIdSchema.nullable(),
  controllers: z.array(ControllerDescriptionSchema),
  brokers: z.array(BrokerDescriptionSchema),
  metadataOffset: NonNegativeSafeIntSchema,
});
export type ClusterDescription = z.infer<typeof ClusterDescriptionSchema>;

/** GET /v1/cluster/quorum: what `kafka-metadata-quorum describe --status --replication` shows. */
export const QuorumStatusSchema = z.strictObject({
  leaderId: NodeIdSchema.nullable(),
  /** The Raft term, which is the controller epoch. */
  term: NonNegativeSafeIntSchema,
  commitIndex: NonNegativeSafeIntSchema,
  voters: z.array(
    z.strictObject({
      nodeId: NodeIdSchema,
      logEndIndex: NonNegativeSafeIntSchema,
      /** How many entries this voter is behind the leader's log end. */
      lag: NonNegativeSafeIntSchema,
      /** Milliseconds since the leader last heard from this voter; null where unknown. */
      lastContactMsAgo: NonNegativeSafeIntSchema.nullable(),
    }),
  ),
});
export type QuorumStatus = z.infer<typeof QuorumStatusSchema>;

/** GET /v1/cluster/health */
export const ClusterHealthSchema = z.strictObject({
  healthy: z.boolean(),
  /** One sentence per problem: why the cluster is not healthy. Empty when healthy. */
  reasons: z.array(z.string()),
  activeControllerId: NodeIdSchema.nullable(),
  brokersAlive: z.int().min(0),
  brokersFenced: z.array(BrokerIdSchema),
  offlinePartitions: z.array(TopicPartitionSchema),
  underReplicatedPartitions: z.array(TopicPartitionSchema),
  underMinIsrPartitions: z.array(TopicPartitionSchema),
});
export type ClusterHealth = z.infer<typeof ClusterHealthSchema>;

export const PartitionDescriptionSchema = z.strictObject({
  partition: PartitionIndexSchema,
  leader: BrokerIdSchema.nullable(),
  leaderEpoch: EpochSchema,
  partitionEpoch: EpochSchema,
  replicas: z.array(BrokerIdSchema),
  isr: z.array(BrokerIdSchema),
  /** Replicas whose broker is fenced or gone. */
  offlineReplicas: z.array(BrokerIdSchema),
});
export type PartitionDescription = z.infer<typeof PartitionDescriptionSchema>;

export const TopicSummarySchema = z.strictObject({
  name: TopicNameSchema,
  topicId: TopicIdSchema,
  partitions: z.int().min(0),
  replicationFactor: z.int().min(0),
  internal: z.boolean(),
});

/** GET /v1/topics */
export const ListTopicsResponseSchema = z.strictObject({ topics: z.array(TopicSummarySchema) });

/** GET /v1/topics/:topic */
export const TopicDescriptionSchema = z.strictObject({
  name: TopicNameSchema,
  topicId: TopicIdSchema,
  internal: z.boolean(),
  partitions: z.array(PartitionDescriptionSchema),
});
export type TopicDescription = z.infer<typeof TopicDescriptionSchema>;

export const TopicParamsSchema = z.strictObject({ topic: TopicNameSchema });
export const BrokerParamsSchema = z.strictObject({
  brokerId: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,9})$/, 'expected a broker id as a non-negative integer')
    .transform(Number)
    .pipe(BrokerIdSchema),
});

const MAX_PARTITIONS_PER_TOPIC = 10_000;
const ConfigMapSchema = z.record(z.string().min(1).max(255), ConfigValueInputSchema);

/** POST /v1/topics */
export const CreateTopicRequestSchema = z
  .strictObject({
    name: TopicNameSchema,
    /** Default: the cluster's num.partitions. */
    partitions: z.int().min(1).max(MAX_PARTITIONS_PER_TOPIC).optional(),
    /** Default: the cluster's default.replication.factor. */
    replicationFactor: z.int().min(1).max(1000).optional(),
    /** Explicit placement: replicas per partition, first preferred. Excludes partitions and replicationFactor. */
    replicaAssignment: z
      .array(z.array(BrokerIdSchema).min(1).max(1000))
      .min(1)
      .max(MAX_PARTITIONS_PER_TOPIC)
      .optional(),
    configs: ConfigMapSchema.optional(),
    /** Check everything and answer as if created, without creating (Kafka's validateOnly). */
    validateOnly: z.boolean().optional(),
  })
  .refine(
    (request) =>
      request.replicaAssignment === undefined ||
      (request.partitions === undefined && request.replicationFactor === undefined),
    { message: 'give either replicaAssignment or partitions/replicationFactor, not both', path: ['replicaAssignment'] },
  );
export type CreateTopicRequest = z.input<typeof CreateTopicRequestSchema>;

/** POST /v1/topics/:topic/partitions: grow the topic to `totalCount` partitions (Kafka's CreatePartitions). */
export const CreatePartitionsRequestSchema = z.strictObject({
  totalCount: z.int().min(1).max(MAX_PARTITIONS_PER_TOPIC),
  validateOnly: z.boolean().optional(),
});
export type CreatePartitionsRequest = z.input<typeof CreatePartitionsRequestSchema>;

export const ConfigSourceSchema = z.enum(['topic', 'cluster', 'default']);

export const ConfigEntrySchema = z.strictObject({
  name: z.string(),
  value: z.string(),
  /** The value when not set at this level: the cluster setting for topics, else Kafka's default. */
  default: z.string(),
  /** Where `value` comes from: set on the topic, set cluster-wide, or the built-in default. */
  source: ConfigSourceSchema,
  doc: z.string(),
});

/** GET /v1/topics/:topic/configs and GET /v1/cluster/configs */
export const DescribeConfigsResponseSchema = z.strictObject({ configs: z.array(ConfigEntrySchema) });
export type DescribeConfigsResponse = z.infer<typeof DescribeConfigsResponseSchema>;

/** PATCH /v1/topics/:topic/configs and PATCH /v1/cluster/configs: Kafka's IncrementalAlterConfigs (SET and DELETE). */
export const AlterConfigsRequestSchema = z
  .strictObject({
    set: ConfigMapSchema.optional(),
    /** Settings to remove, so that their default applies again. */
    delete: z.array(z.string().min(1).max(255)).max(100).optional(),
    validateOnly: z.boolean().optional(),
  })
  .refine((request) => Object.keys(request.set ?? {}).length + (request.delete?.length ?? 0) > 0, {
    message: 'give at least one setting to set or delete',
  });
export type AlterConfigsRequest = z.input<typeof AlterConfigsRequestSchema>;

/** POST /v1/elections/preferred: move leadership to each partition's first replica. All partitions when absent. */
export const PreferredElectionRequestSchema = z.strictObject({
  partitions: z.array(TopicPartitionSchema).min(1).max(100_000).optional(),
});

export const PreferredElectionResponseSchema = z.strictObject({
  results: z.array(
    z.strictObject({
      topic: TopicNameSchema,
      partition: PartitionIndexSchema,
      /** Absent when the preferred replica now leads. ELECTION_NOT_NEEDED when it already did. */
      error: PartitionErrorSchema.optional(),
    }),
  ),
});

export const DeleteTopicResponseSchema = z.strictObject({ name: TopicNameSchema, topicId: TopicIdSchema });
