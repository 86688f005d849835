import { z } from 'zod';
import {
  BrokerIdSchema,
  EndpointSchema,
  EpochSchema,
  Int64StringSchema,
  NonNegativeSafeIntSchema,
  PartitionIndexSchema,
  RackSchema,
  TopicIdSchema,
  TopicNameSchema,
} from './common.js';

/**
 * The metadata log: every entry of the controllers' Raft log is one of these records, JSON-encoded
 * and checked with this schema when it is proposed, when it is applied and when a broker reads it
 * from the metadata stream. Each record carries `type` and `version`; a record of a version this
 * code does not know is refused rather than misread, so a newer record type can be introduced by
 * adding a version here first.
 *
 * Records state results, not intentions: a partition change carries the new leader epoch and
 * partition epoch, so applying a record never needs a decision and every replica of the image
 * ends up identical.
 */

/** Marks "no leader" in partition records, as Kafka's -1. */
export const NO_LEADER = -1;
const LeaderSchema = z.union([BrokerIdSchema, z.literal(NO_LEADER)]);
const ReplicaListSchema = z.array(BrokerIdSchema).max(1000);

export const RegisterBrokerRecordSchema = z.strictObject({
  type: z.literal('register-broker'),
  version: z.literal(1),
  brokerId: BrokerIdSchema,
  /** New at every registration: the metadata offset of this record (as KRaft's broker epoch). */
  brokerEpoch: NonNegativeSafeIntSchema,
  /** Random per broker process start; a second registration with another incarnation is a restart. */
  incarnationId: z.uuid(),
  endpoint: EndpointSchema,
  rack: RackSchema.nullable(),
});

export const UnregisterBrokerRecordSchema = z.strictObject({
  type: z.literal('unregister-broker'),
  version: z.literal(1),
  brokerId: BrokerIdSchema,
  brokerEpoch: NonNegativeSafeIntSchema,
});

/** A change of a broker's state: fenced (missed its session, or new and not caught up) and controlled shutdown. */
export const BrokerRegistrationChangeRecordSchema = z.strictObject({
  type: z.literal('broker-registration-change'),
  version: z.literal(1),
  brokerId: BrokerIdSchema,
  brokerEpoch: NonNegativeSafeIntSchema,
  fenced: z.boolean().optional(),
  inControlledShutdown: z.boolean().optional(),
});

export const TopicRecordSchema = z.strictObject({
  type: z.literal('topic'),
  version: z.literal(1),
  name: TopicNameSchema,
  topicId: TopicIdSchema,
});

export const PartitionRecordSchema = z.strictObject({
  type: z.literal('partition'),
  version: z.literal(1),
  topicId: TopicIdSchema,
  partition: PartitionIndexSchema,
  /** In preference order: the first is the preferred leader. */
  replicas: ReplicaListSchema.min(1),
  isr: ReplicaListSchema,
  leader: LeaderSchema,
  leaderEpoch: EpochSchema,
  partitionEpoch: EpochSchema,
});

/** The new state of a partition after a leader election or an ISR change; absent fields are unchanged. */
export const PartitionChangeRecordSchema = z.strictObject({
  type: z.literal('partition-change'),
  version: z.literal(1),
  topicId: TopicIdSchema,
  partition: PartitionIndexSchema,
  replicas: ReplicaListSchema.min(1).optional(),
  isr: ReplicaListSchema.optional(),
  leader: LeaderSchema.optional(),
  /** The leader epoch after this change: bumped whenever the leader changes. */
  leaderEpoch: EpochSchema,
  /** The partition epoch after this change: bumped by every change. */
  partitionEpoch: EpochSchema,
  /** Set when the leader was chosen outside the ISR: acknowledged records may have been lost. */
  uncleanElection: z.boolean().optional(),
});

export const RemoveTopicRecordSchema = z.strictObject({
  type: z.literal('remove-topic'),
  version: z.literal(1),
  topicId: TopicIdSchema,
});

export const ConfigResourceSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('cluster') }),
  z.strictObject({ type: z.literal('topic'), name: TopicNameSchema }),
]);
export type ConfigResource = z.infer<typeof ConfigResourceSchema>;

/** Sets one setting, or removes it (value null) so its default applies again. */
export const ConfigRecordSchema = z.strictObject({
  type: z.literal('config'),
  version: z.literal(1),
  resource: ConfigResourceSchema,
  name: z.string().min(1).max(255),
  value: z.string().max(4096).nullable(),
});

/** A block of producer ids handed to a broker; the next block starts at `nextProducerId`. */
export const ProducerIdsRecordSchema = z.strictObject({
  type: z.literal('producer-ids'),
  version: z.literal(1),
  brokerId: BrokerIdSchema,
  brokerEpoch: NonNegativeSafeIntSchema,
  nextProducerId: Int64StringSchema,
});

export const MetadataRecordSchema = z.discriminatedUnion('type', [
  RegisterBrokerRecordSchema,
  UnregisterBrokerRecordSchema,
  BrokerRegistrationChangeRecordSchema,
  TopicRecordSchema,
  PartitionRecordSchema,
  PartitionChangeRecordSchema,
  RemoveTopicRecordSchema,
  ConfigRecordSchema,
  ProducerIdsRecordSchema,
]);
export type MetadataRecord = z.input<typeof MetadataRecordSchema>;
export type ParsedMetadataRecord = z.output<typeof MetadataRecordSchema>;

/** The most records one metadata batch (one entry of the metadata log) may hold. */
export const METADATA_BATCH_RECORDS_MAX = 200_000;

/**
 * Frames of the metadata stream that a controller serves to brokers over one long-lived HTTP/2
 * response, one JSON object per line. A broker asks from the offset after the last one it
 * applied; a broker that is new or too far behind first gets a snapshot: the records that rebuild
 * the whole image as of `offset` (as KRaft's snapshots are records too).
 */
export const MetadataStreamFrameSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('snapshot'),
    /** The offset of the last record the snapshot covers. */
    offset: NonNegativeSafeIntSchema,
    records: z.array(MetadataRecordSchema),
  }),
  /**
   * One committed batch: the records of one entry of the metadata log, all at `offset`. A batch
   * always travels whole, so a broker that applied a frame has applied its offset completely and
   * resumes from the next one.
   */
  z.strictObject({
    kind: z.literal('batch'),
    offset: NonNegativeSafeIntSchema,
    records: z.array(MetadataRecordSchema).min(1).max(METADATA_BATCH_RECORDS_MAX),
  }),
  /** Sent when idle, so a broker knows the stream is alive and how far the committed log goes. */
  z.strictObject({
    kind: z.literal('heartbeat'),
    committedOffset: NonNegativeSafeIntSchema,
    controllerEpoch: NonNegativeSafeIntSchema,
  }),
]);
export type MetadataStreamFrame = z.input<typeof MetadataStreamFrameSchema>;

export const MetadataStreamQuerySchema = z.strictObject({
  /** The first offset the broker still needs; absent or 0 from a new broker. */
  fromOffset: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,15})$/, 'expected a non-negative integer')
    .transform(Number)
    .pipe(NonNegativeSafeIntSchema)
    .optional(),
  brokerId: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,9})$/, 'expected a broker id')
    .transform(Number)
    .pipe(BrokerIdSchema)
    .optional(),
});
