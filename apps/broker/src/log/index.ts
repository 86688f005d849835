/**
 * The broker's partition log storage: one LevelDB per broker holding every partition it hosts,
 * a PartitionLog per partition with the offset, epoch and high-watermark rules, and the pure
 * pieces they use (leader-epoch cache, retention). docs/broker.md ("Storage") is the contract.
 */

export {
  assignEpoch,
  endOffsetForEpoch,
  type LeaderEpochCache,
  latestEpoch,
  truncateEpochsFromEnd,
  truncateEpochsFromStart,
  truncationAfterEpochAnswer,
} from './leader-epoch-cache.js';
export { DEFAULT_FLUSH_INTERVAL_MS, LevelLogStore, type LevelLogStoreOptions } from './level-log-store.js';
export {
  DEFAULT_HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS,
  LogManager,
  type LogManagerOptions,
} from './log-manager.js';
export {
  checkRecovered,
  type LogStore,
  type PartitionWrite,
  type RawPartition,
  type ReadLimits,
  type RecoveredPartition,
  type StoredBatch,
} from './log-store.js';
export { MemoryLogStore } from './memory-log-store.js';
export {
  type AppendedRange,
  type FollowerAppendOptions,
  type LeaderAppendOptions,
  type LeaderAppendResult,
  PartitionLog,
  READ_BATCHES_MAX,
  type ReadOptions,
  type ReadResult,
  type RetentionSettings,
  type TruncateOptions,
} from './partition-log.js';
export {
  type BatchSummary,
  decideRetention,
  type RetentionDecision,
  type RetentionInput,
} from './retention.js';
export {
  describePartition,
  type EpochEndOffset,
  type EpochEntry,
  FLUSH_POLICIES,
  type FlushPolicy,
  type PartitionMeta,
  partitionKey,
  type TopicIdPartition,
  topicIdPartition,
  UNDEFINED_EPOCH,
  UNDEFINED_EPOCH_OFFSET,
} from './types.js';
