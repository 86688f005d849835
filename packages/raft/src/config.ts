import { RaftError } from './errors.js';
import type { RandomSource } from './random.js';
import type { RaftStorage } from './storage.js';
import { type LogIndex, type NodeId, nodeId } from './types.js';

/** How a node is set up. Everything with a default is optional; every limit has one. */
export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  /**
   * The seeded source of the randomized election timeout. Pass a fresh source per node (the
   * simulator derives each from its one seed) so that nodes do not time out in lockstep.
   */
  readonly random: RandomSource;
  /**
   * A follower that hears nothing from a leader for a random number of ticks in
   * [electionTimeoutTicks, 2 × electionTimeoutTicks) campaigns. Default 10.
   */
  readonly electionTimeoutTicks?: number;
  /**
   * After a split vote (a rival candidate asked for our vote in the term we are campaigning in),
   * the first of the two (the more up-to-date log, then the lower id) campaigns again after this
   * many ticks instead of a full randomized election timeout; the other keeps its timeout.
   * Default 1: at the next tick.
   */
  readonly splitVoteRetryTicks?: number;
  /** A leader sends heartbeats every heartbeatTimeoutTicks. Must be < electionTimeoutTicks. Default 1. */
  readonly heartbeatTimeoutTicks?: number;
  /** The index the application has already applied (on restart); entries up to it are not handed out again. */
  readonly applied?: LogIndex;
  /** Entries per AppendEntries message are bounded by this many bytes (at least one entry is sent). Default 1 MiB. */
  readonly maxSizePerMsgBytes?: number;
  /** Append messages in flight to one follower in the replicate state. Default 256. */
  readonly maxInflightMsgs?: number;
  /** Bytes of entries in flight to one follower in the replicate state. Default 16 MiB. */
  readonly maxInflightBytes?: number;
  /** The leader drops proposals once this many payload bytes are uncommitted. Default 64 MiB. */
  readonly maxUncommittedEntriesBytes?: number;
  /** Committed entries handed out per Ready are bounded by this many bytes. Default 16 MiB. */
  readonly maxCommittedSizePerReadyBytes?: number;
  /** Snapshots are sent to followers in chunks of this many bytes. Default 1 MiB. */
  readonly snapshotChunkBytes?: number;
  /** A follower refuses to assemble a snapshot larger than this. Default 1 GiB. */
  readonly snapshotBytesMax?: number;
  /** A chunk is resent after this many heartbeat intervals without an acknowledgement. Default 2. */
  readonly snapshotChunkTimeoutHeartbeats?: number;
  /** Resends of one chunk before the leader abandons the transfer and probes again. Default 5. */
  readonly snapshotChunkRetriesMax?: number;
  /** ReadIndex requests waiting on the leader (before its first commit or for a quorum round). Default 1024. */
  readonly maxPendingReadIndexRequests?: number;
  /** Run a PreVote round before bumping the term (thesis §9.6). Default true. */
  readonly preVote?: boolean;
  /** Leaders step down without a live quorum; followers honour a leader lease. Default true. */
  readonly checkQuorum?: boolean;
}

export type ResolvedConfig = Required<Omit<RaftConfig, 'applied'>> & { readonly applied: LogIndex };

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RaftError('INVALID_CONFIG', `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

export function resolveConfig(config: RaftConfig): ResolvedConfig {
  const resolved: ResolvedConfig = {
    id: nodeId(config.id),
    storage: config.storage,
    random: config.random,
    applied: (config.applied ?? 0) as LogIndex,
    electionTimeoutTicks: positiveInt('electionTimeoutTicks', config.electionTimeoutTicks ?? 10),
    splitVoteRetryTicks: positiveInt('splitVoteRetryTicks', config.splitVoteRetryTicks ?? 1),
    heartbeatTimeoutTicks: positiveInt('heartbeatTimeoutTicks', config.heartbeatTimeoutTicks ?? 1),
    maxSizePerMsgBytes: positiveInt('maxSizePerMsgBytes', config.maxSizePerMsgBytes ?? 1 << 20),
    maxInflightMsgs: positiveInt('maxInflightMsgs', config.maxInflightMsgs ?? 256),
    maxInflightBytes: positiveInt('maxInflightBytes', config.maxInflightBytes ?? 16 << 20),
    maxUncommittedEntriesBytes: positiveInt(
      'maxUncommittedEntriesBytes',
      config.maxUncommittedEntriesBytes ?? 64 << 20,
    ),
    maxCommittedSizePerReadyBytes: positiveInt(
      'maxCommittedSizePerReadyBytes',
      config.maxCommittedSizePerReadyBytes ?? 16 << 20,
    ),
    snapshotChunkBytes: positiveInt('snapshotChunkBytes', config.snapshotChunkBytes ?? 1 << 20),
    snapshotBytesMax: positiveInt('snapshotBytesMax', config.snapshotBytesMax ?? 1 << 30),
    snapshotChunkTimeoutHeartbeats: positiveInt(
      'snapshotChunkTimeoutHeartbeats',
      config.snapshotChunkTimeoutHeartbeats ?? 2,
    ),
    snapshotChunkRetriesMax: positiveInt('snapshotChunkRetriesMax', config.snapshotChunkRetriesMax ?? 5),
    maxPendingReadIndexRequests: positiveInt('maxPendingReadIndexRequests', config.maxPendingReadIndexRequests ?? 1024),
    preVote: config.preVote ?? true,
    checkQuorum: config.checkQuorum ?? true,
  };
  if (!Number.isSafeInteger(resolved.applied) || resolved.applied < 0) {
    throw new RaftError('INVALID_CONFIG', `applied must be a non-negative integer, got ${resolved.applied}`);
  }
  if (resolved.heartbeatTimeoutTicks >= resolved.electionTimeoutTicks) {
    throw new RaftError(
      'INVALID_CONFIG',
      `heartbeatTimeoutTicks (${resolved.heartbeatTimeoutTicks}) must be < electionTimeoutTicks (${resolved.electionTimeoutTicks})`,
    );
  }
  if (resolved.maxInflightBytes < resolved.maxSizePerMsgBytes) {
    throw new RaftError('INVALID_CONFIG', 'maxInflightBytes must be ≥ maxSizePerMsgBytes');
  }
  return resolved;
}
