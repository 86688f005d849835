import { z } from 'zod';
import { ClusterIdSchema, NonNegativeSafeIntSchema } from './common.js';

/**
 * Raft messages between controllers, as the JSON header of a frame (see framing.ts). Byte payloads
 * (entry data, snapshot chunks, ReadIndex contexts) are not in the JSON: each is a raw section of
 * the frame, and the header names it by its section index. The Raft core's message types are
 * mirrored here field for field; the transport checks every incoming frame against this schema
 * before the core sees it.
 */
const RaftNodeIdSchema = z.int().min(1).max(Number.MAX_SAFE_INTEGER);
const TermSchema = NonNegativeSafeIntSchema;
const IndexSchema = NonNegativeSafeIntSchema;
/** The index of a frame section holding a byte payload. */
export const SectionRefSchema = z.int().min(0).max(1_000_000);

const header = { from: RaftNodeIdSchema, to: RaftNodeIdSchema, term: TermSchema };

export const RaftEntrySchema = z.strictObject({
  term: TermSchema,
  index: IndexSchema,
  type: z.enum(['normal', 'config']),
  data: SectionRefSchema,
});

const ConfStateSchema = z.strictObject({
  voters: z.array(RaftNodeIdSchema).max(100),
  learners: z.array(RaftNodeIdSchema).max(100),
});

const SnapshotMetadataSchema = z.strictObject({ index: IndexSchema, term: TermSchema, confState: ConfStateSchema });

const MAX_ENTRIES_PER_MESSAGE = 100_000;

export const RaftMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    ...header,
    type: z.enum(['Vote', 'PreVote']),
    lastLogIndex: IndexSchema,
    lastLogTerm: TermSchema,
    transfer: z.boolean(),
  }),
  z.strictObject({ ...header, type: z.enum(['VoteResp', 'PreVoteResp']), reject: z.boolean() }),
  z.strictObject({
    ...header,
    type: z.literal('App'),
    prevLogIndex: IndexSchema,
    prevLogTerm: TermSchema,
    entries: z.array(RaftEntrySchema).max(MAX_ENTRIES_PER_MESSAGE),
    commit: IndexSchema,
  }),
  z.strictObject({
    ...header,
    type: z.literal('AppResp'),
    index: IndexSchema,
    reject: z.boolean(),
    rejectHint: IndexSchema,
    logTerm: TermSchema,
  }),
  z.strictObject({
    ...header,
    type: z.literal('Heartbeat'),
    commit: IndexSchema,
    context: SectionRefSchema.nullable(),
  }),
  z.strictObject({ ...header, type: z.literal('HeartbeatResp'), context: SectionRefSchema.nullable() }),
  z.strictObject({
    ...header,
    type: z.literal('Snap'),
    metadata: SnapshotMetadataSchema,
    offsetBytes: NonNegativeSafeIntSchema,
    data: SectionRefSchema,
    done: z.boolean(),
  }),
  z.strictObject({
    ...header,
    type: z.literal('SnapResp'),
    snapshotIndex: IndexSchema,
    receivedBytes: NonNegativeSafeIntSchema,
    reject: z.boolean(),
  }),
  z.strictObject({ ...header, type: z.literal('TimeoutNow') }),
  z.strictObject({ ...header, type: z.literal('TransferLeader'), transferee: RaftNodeIdSchema }),
  z.strictObject({ ...header, type: z.literal('ReadIndex'), context: SectionRefSchema }),
  z.strictObject({ ...header, type: z.literal('ReadIndexResp'), index: IndexSchema, context: SectionRefSchema }),
  z.strictObject({
    ...header,
    type: z.literal('Prop'),
    entries: z
      .array(z.strictObject({ type: z.enum(['normal', 'config']), data: SectionRefSchema }))
      .min(1)
      .max(MAX_ENTRIES_PER_MESSAGE),
  }),
]);
export type RaftWireMessage = z.infer<typeof RaftMessageSchema>;

/** The JSON header of a frame of Raft messages, POSTed by one controller to another (Routes.raft). */
export const RaftEnvelopeSchema = z.strictObject({
  clusterId: ClusterIdSchema,
  /** The sending node: every message in the envelope must be from it. */
  from: RaftNodeIdSchema,
  messages: z.array(RaftMessageSchema).min(1).max(10_000),
});
export type RaftEnvelope = z.infer<typeof RaftEnvelopeSchema>;
