import { type MillraceServer, parseBody, requireClusterSecret } from '@millrace/http';
import type { MetadataImage } from '@millrace/metadata';
import {
  ContentType,
  MillraceError,
  OffsetsForLeaderEpochRequestSchema,
  offsetToJson,
  ReplicaFetchRequestSchema,
  Routes,
  toPartitionError,
} from '@millrace/protocol';
import { topicIdPartition } from '../log/types.js';
import {
  type FetchSessionCache,
  includeInAnswer,
  isUrgent,
  type SessionEntry,
  type SessionPartitionResult,
} from '../replication/fetch-sessions.js';
import type { Partition } from '../replication/partition.js';
import type { ReplicaManager } from '../replication/replica-manager.js';
import { FETCH_RESPONSE_MAX_BYTES, longPoll, partitionFailure, whileConnected } from './common.js';
import { type BatchedFetchResponse, encodeFetchFrame } from './fetch-frame.js';

export interface ReplicationRoutesOptions {
  readonly manager: ReplicaManager;
  readonly sessions: FetchSessionCache;
  readonly clusterSecret: string;
  readonly readyImage: () => MetadataImage;
  /** A follower outside the ISR fetched: the leader checks at once whether it may rejoin. */
  readonly onFollowerOutsideIsr: (partition: Partition) => void;
  readonly onBytesOut?: (bytes: number) => void;
}

/** Replica fetch, with its long wait bounded by the schema's 60 s. */
const REPLICA_FETCH_TIMEOUT_MS = 65_000;

/**
 * The calls followers make to leaders: replica fetch over an incremental session (KIP-227) and
 * OffsetsForLeaderEpoch for truncation (KIP-101/279). Both need the cluster secret, and the
 * fetching broker must be registered with the epoch it names.
 */
export function registerReplicationRoutes(app: MillraceServer, options: ReplicationRoutesOptions): void {
  const { manager, sessions } = options;
  const onRequest = requireClusterSecret(options.clusterSecret);

  app.hotPost(Routes.replicaFetch, { auth: onRequest, timeoutMs: REPLICA_FETCH_TIMEOUT_MS }, async (request) => {
    const body = parseBody(ReplicaFetchRequestSchema, request);
    const image = options.readyImage();
    const broker = image.broker(body.replicaId);
    if (broker === undefined) {
      throw new MillraceError('BROKER_ID_NOT_REGISTERED', `Broker ${body.replicaId} is not registered.`);
    }
    if (body.brokerEpoch < broker.brokerEpoch) {
      throw new MillraceError(
        'STALE_BROKER_EPOCH',
        `Broker ${body.replicaId} fetches with epoch ${body.brokerEpoch}, but registered again with ${broker.brokerEpoch}.`,
      );
    }
    for (const p of body.partitions) topicIdPartition(p.topicId, p.partition);
    const { session, full, listed } = sessions.open(body, Date.now());
    const entries = [...session.entries.values()];
    const hosted = (entry: SessionEntry) => manager.get(entry.topicId, entry.partition);
    const response = await whileConnected(request, (signal) =>
      longPoll<BatchedFetchResponse>({
        maxWaitMs: full ? 0 : body.maxWaitMs,
        partitions: entries.flatMap((entry) => hosted(entry) ?? []),
        signal,
        round: async (final) => {
          const nowMs = Date.now();
          let budget = Math.min(body.maxBytes, FETCH_RESPONSE_MAX_BYTES);
          let bytes = 0;
          const byTopic = new Map<string, BatchedFetchResponse['topics'][number]['partitions']>();
          const start = session.rotation++ % Math.max(1, entries.length);
          const found: {
            entry: SessionEntry;
            name: string;
            item: BatchedFetchResponse['topics'][number]['partitions'][number];
            result: SessionPartitionResult;
          }[] = [];
          let urgent = full || final;
          for (let i = 0; i < entries.length; i++) {
            const entry = entries[(start + i) % entries.length] as SessionEntry;
            const partition = hosted(entry);
            const topic = partition?.topic ?? image.topicById(entry.topicId)?.name;
            let item: BatchedFetchResponse['topics'][number]['partitions'][number];
            let errorCode: string | undefined;
            let diverging = false;
            try {
              if (partition === undefined || topic === undefined) {
                throw new MillraceError(
                  'UNKNOWN_TOPIC_OR_PARTITION',
                  `This broker holds no replica of partition ${entry.partition} of topic id ${entry.topicId}.`,
                );
              }
              // An entry whose last answer reported a divergence does not count until the follower lists it again.
              if (entry.diverged && !listed.has(entry.key)) continue;
              if (!listed.has(entry.key) && budget === 0) {
                partition.recordFollowerPosition(body.replicaId, entry.fetchOffset, nowMs);
                continue;
              }
              const answer = await partition.readForFollower({
                replicaId: body.replicaId,
                fetchOffset: entry.fetchOffset,
                currentLeaderEpoch: entry.currentLeaderEpoch,
                lastFetchedEpoch: entry.lastFetchedEpoch,
                maxBytes: Math.min(entry.partitionMaxBytes, budget),
                minOneBatch: bytes === 0,
                nowMs,
              });
              const records = answer.read.batches;
              let size = 0;
              for (const batch of records) size += batch.length;
              bytes += size;
              budget = Math.max(0, budget - size);
              diverging = answer.kind === 'diverging';
              item = {
                partition: entry.partition,
                highWatermark: offsetToJson(answer.read.highWatermark),
                logStartOffset: offsetToJson(answer.read.logStartOffset),
                ...(answer.kind === 'diverging'
                  ? {
                      divergingEpoch: {
                        epoch: Math.max(0, answer.epoch),
                        endOffset: offsetToJson(answer.endOffset < 0n ? 0n : answer.endOffset),
                      },
                    }
                  : {}),
                records,
              };
              if (partition.leaderState !== undefined && !partition.leaderState.isr.includes(body.replicaId)) {
                options.onFollowerOutsideIsr(partition);
              }
            } catch (error) {
              errorCode = toPartitionError(error).code;
              item = {
                partition: entry.partition,
                highWatermark: '0',
                logStartOffset: '0',
                records: [],
                ...partitionFailure(error, image, entry.topicId, entry.partition),
              };
            }
            const result: SessionPartitionResult = {
              highWatermark: BigInt(item.highWatermark),
              logStartOffset: BigInt(item.logStartOffset),
              hasRecords: item.records.length > 0,
              diverging,
              errorCode,
            };
            if (!urgent && isUrgent(entry, result)) urgent = true;
            found.push({ entry, name: topic ?? entry.topicId, item, result });
          }
          // Nothing but moved high watermarks: keep waiting, and tell them with the next answer.
          if (!urgent) return undefined;
          for (const { entry, name, item, result } of found) {
            if (!includeInAnswer(entry, result, full)) continue;
            byTopic.set(name, [...(byTopic.get(name) ?? []), item]);
          }
          if (byTopic.size === 0 && !final) return undefined;
          options.onBytesOut?.(bytes);
          return {
            topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
            sessionId: session.id,
          };
        },
      }),
    );
    return { contentType: ContentType.frame, body: encodeFetchFrame(response) };
  });

  app.post(Routes.offsetsForLeaderEpoch, { onRequest }, async (request) => {
    const body = parseBody(OffsetsForLeaderEpochRequestSchema, request);
    const image = options.readyImage();
    if (image.broker(body.replicaId) === undefined) {
      throw new MillraceError('BROKER_ID_NOT_REGISTERED', `Broker ${body.replicaId} is not registered.`);
    }
    return {
      partitions: body.partitions.map((item) => {
        const topic = image.topicByName(item.topic);
        try {
          const partition = topic === undefined ? undefined : manager.get(topic.topicId, item.partition);
          if (partition === undefined) {
            throw new MillraceError(
              'UNKNOWN_TOPIC_OR_PARTITION',
              `This broker holds no replica of ${item.topic}-${item.partition}.`,
            );
          }
          partition.checkLeader(item.currentLeaderEpoch);
          const answer = partition.log.endOffsetForEpoch(item.leaderEpoch);
          return {
            topic: item.topic,
            partition: item.partition,
            leaderEpoch: answer.leaderEpoch,
            endOffset: offsetToJson(answer.endOffset),
          };
        } catch (error) {
          return {
            topic: item.topic,
            partition: item.partition,
            leaderEpoch: -1,
            endOffset: '-1',
            error: toPartitionError(error),
          };
        }
      }),
    };
  });
}
