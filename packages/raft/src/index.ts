// The public face of @millrace/raft: the pure Raft core. Internals (Raft, RaftLog, Progress,
// quorum maths) stay private to the package.

export type { RaftConfig } from './config.js';
// The runtime around the core: LevelDB storage, transports, the node loop.
export * from './driver/index.js';
// The runtime around the core: LevelDB storage, transports, the node loop.
export * from './driver/index.js';
export { isRaftError, RAFT_ERROR_CODES, RaftError, type RaftErrorCode } from './errors.js';
export type { ProgressState } from './progress.js';
export { createRandom, type RandomSource } from './random.js';
export { type ProgressStatus, RawNode, type Status } from './raw-node.js';
export type { Ready } from './ready.js';
export { type InitialState, MemoryStorage, type MemoryStorageContents, type RaftStorage } from './storage.js';
export {
  type AppendRequest,
  type AppendResponse,
  type ConfState,
  EMPTY_HARD_STATE,
  type Entry,
  type EntryType,
  type HardState,
  type HeartbeatRequest,
  type HeartbeatResponse,
  isEmptyHardState,
  type LogIndex,
  logIndex,
  type Message,
  type MessageType,
  NONE,
  type NodeId,
  type NodeIdOrNone,
  nodeId,
  type ProposalRequest,
  type ProposedEntry,
  type ReadIndexRequest,
  type ReadIndexResponse,
  type ReadState,
  type Role,
  type Snapshot,
  type SnapshotChunk,
  type SnapshotMetadata,
  type SnapshotResponse,
  type SoftState,
  type Term,
  type TimeoutNow,
  type TransferLeaderRequest,
  term,
  type VoteRequest,
  type VoteResponse,
} from './types.js';
export { InvariantViolation } from './util.js';
