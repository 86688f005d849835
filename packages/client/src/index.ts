/**
 * @millrace/client: the SDK services use. `new Millrace({ bootstrap })` connects; from it come a
 * batching, idempotent `producer()`, a `consumer()` of assigned partitions, and a typed `admin()`.
 * Every failure is a `MillraceError` with `code`, `errorCode` and `retriable`.
 */
export { ErrorCatalogue, type ErrorCode, isMillraceError, MillraceError } from '@millrace/protocol';
export type {
  AdminOptions,
  ClusterDescription,
  ClusterHealth,
  ConfigEntry,
  ElectionResult,
  QuorumStatus,
  TopicDescription,
  TopicSummary,
} from './admin.js';
export { Admin } from './admin.js';
export { Millrace } from './client.js';
export type {
  ConsumedBatch,
  ConsumedMessage,
  RunOptions,
  SeekTo,
  TopicPartition,
} from './consumer/consumer.js';
export { Consumer } from './consumer/consumer.js';
export type { RebalanceListener } from './consumer/group.js';
export type { LogEntry, LogLevel, LogSink } from './logger.js';
export type {
  ClientOptionsInput as ClientOptions,
  ConsumerOptionsInput as ConsumerOptions,
  ProducerOptionsInput as ProducerOptions,
} from './options.js';
export {
  murmur2,
  type Partitioner,
  type PartitionerInput,
  partitionForKey,
  toPositive,
} from './producer/partitioner.js';
export type { Message, RecordMetadata, TopicMessages } from './producer/producer.js';
export { Producer } from './producer/producer.js';
export type { RetryOptions } from './retry.js';
