import { type AuthHook, frameBody, type MillraceServer, parseBody } from '@millrace/http';
import type { MetadataImage } from '@millrace/metadata';
import {
  ContentType,
  decodeProduceRequest,
  FetchRequestSchema,
  ListOffsetsRequestSchema,
  type ListOffsetsResponse,
  MetadataRequestSchema,
  type MetadataResponse,
  MillraceError,
  NO_LEADER,
  OFFSETS_TOPIC,
  offsetToJson,
  type ProduceResponse,
  Routes,
  readRecordBatchHeader,
  splitRecordBatches,
  toPartitionError,
} from '@millrace/protocol';
import type { BrokerMetrics } from '../metrics.js';
import type { ReplicaManager } from '../replication/replica-manager.js';
import {
  FETCH_RESPONSE_MAX_BYTES,
  LONG_REQUEST_TIMEOUT_MS,
  longPoll,
  partitionFailure,
  resolvePartition,
  whileConnected,
} from './common.js';
import { type BatchedFetchResponse, encodeFetchFrame } from './fetch-frame.js';
import { StreamOrder } from './stream-order.js';

export interface ClientRoutesOptions {
  readonly brokerId: number;
  readonly clusterId: string;
  readonly manager: ReplicaManager;
  /** The metadata image, once this broker has caught up with the controllers; NODE_NOT_READY before. */
  readonly readyImage: () => MetadataImage;
  readonly metrics: BrokerMetrics;
  /** Set when clients must present a token. */
  readonly auth: AuthHook | undefined;
  /** Largest produce request accepted (the frame, all partitions together). */
  readonly maxRequestBytes: number;
}

/**
 * The clients' API: metadata from any broker; produce, fetch and list-offsets on the partition's
 * leader. Each partition of a request is answered on its own: one partition's error never fails
 * the others, and errors that mean "go elsewhere" carry the current leader.
 */
export function registerClientRoutes(app: MillraceServer, options: ClientRoutesOptions): void {
  const { manager, metrics } = options;
  const onRequest = options.auth === undefined ? [] : [options.auth];
  const hotAuth = options.auth === undefined ? {} : { auth: options.auth };

  app.post(Routes.metadata, { onRequest }, async (request): Promise<MetadataResponse> => {
    const body = parseBody(MetadataRequestSchema, request);
    const image = options.readyImage();
    return describeMetadata(image, options.brokerId, options.clusterId, body.topics);
  });

  const order = new StreamOrder();
  app.hotPost(
    Routes.produce,
    {
      ...hotAuth,
      opened: (request) => order.take(request),
      bodyLimit: options.maxRequestBytes,
      timeoutMs: LONG_REQUEST_TIMEOUT_MS,
    },
    async (request) => {
      const started = performance.now();
      // Appends start in the order the connection's requests were opened (see StreamOrder); the
      // turn passes on once they are queued in the partition logs, before any acknowledgement.
      await order.turn(request);
      let topics: ReturnType<typeof startAppends>;
      let produce: ReturnType<typeof decodeProduceRequest>;
      let image: MetadataImage;
      try {
        produce = decodeProduceRequest(frameBody(request));
        image = options.readyImage();
        topics = startAppends(produce, image);
      } finally {
        order.release(request);
      }
      if (produce.acks === 0) {
        // Nobody waits for the outcome: the appends finish on their own (each catches its own
        // failure, which only counts in the metrics).
        metrics.produceLatency.observe((performance.now() - started) / 1000);
        return { contentType: ContentType.json, body: '{"topics":[]}' };
      }
      const answered: ProduceResponse = {
        topics: await Promise.all(
          topics.map(async ({ topic, partitions }) => ({ topic, partitions: await Promise.all(partitions) })),
        ),
      };
      metrics.produceLatency.observe((performance.now() - started) / 1000);
      return { contentType: ContentType.json, body: JSON.stringify(answered) };
    },
  );

  /** Starts every partition's leader append of a produce request; each promise settles with its answer. */
  function startAppends(produce: ReturnType<typeof decodeProduceRequest>, image: MetadataImage) {
    const nowMs = Date.now();
    return produce.topics.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map(async (item): Promise<ProduceResponse['topics'][number]['partitions'][number]> => {
        const resolved = resolvePartition(manager, image, topic, item.partition);
        try {
          if (topic === OFFSETS_TOPIC)
            throw new MillraceError(
              'INVALID_TOPIC_EXCEPTION',
              `${OFFSETS_TOPIC} is written by group coordinators only.`,
            );
          if (resolved.partition === undefined) throw resolved.error;
          const batches = splitRecordBatches(item.records);
          const answer = await resolved.partition.appendAsLeader({
            batches,
            acks: produce.acks,
            leaderEpoch: item.leaderEpoch,
            minInsyncReplicas: Number(image.topicConfig(topic, 'min.insync.replicas')),
            maxBatchBytes: Number(image.topicConfig(topic, 'max.message.bytes')),
            timestampType:
              image.topicConfig(topic, 'message.timestamp.type') === 'LogAppendTime'
                ? 'log-append-time'
                : 'create-time',
            nowMs,
            timeoutMs: produce.timeoutMs,
          });
          metrics.bytesIn.inc(item.records.length);
          metrics.recordsIn.inc(Number(answer.lastOffset - answer.baseOffset + 1n));
          return {
            partition: item.partition,
            baseOffset: offsetToJson(answer.baseOffset),
            logAppendTimeMs: answer.logAppendTimeMs,
            logStartOffset: offsetToJson(answer.logStartOffset),
          };
        } catch (error) {
          metrics.failedProduces.inc();
          return {
            partition: item.partition,
            logAppendTimeMs: -1,
            ...partitionFailure(error, image, resolved.topicId, item.partition),
          };
        }
      }),
    }));
  }

  app.hotPost(Routes.fetch, { ...hotAuth, timeoutMs: LONG_REQUEST_TIMEOUT_MS }, async (request) => {
    const started = performance.now();
    const body = parseBody(FetchRequestSchema, request);
    const image = options.readyImage();
    const wanted = body.topics.flatMap(({ topic, partitions }) =>
      partitions.map((item) => ({ topic, item, ...resolvePartition(manager, image, topic, item.partition) })),
    );
    const { response, bytes, records } = await whileConnected(request, (signal) =>
      longPoll({
        maxWaitMs: body.maxWaitMs,
        partitions: wanted.flatMap((w) => (w.partition === undefined ? [] : [w.partition])),
        signal,
        round: async (final) => {
          let budget = Math.min(body.maxBytes, FETCH_RESPONSE_MAX_BYTES);
          let bytes = 0;
          let records = 0;
          let failed = false;
          const byTopic = new Map<string, BatchedFetchResponse['topics'][number]['partitions']>();
          for (const { topic, item, partition, topicId, error } of wanted) {
            let entry: BatchedFetchResponse['topics'][number]['partitions'][number];
            try {
              if (partition === undefined) throw error;
              const read = await partition.readAsLeader(
                item.fetchOffset,
                Math.min(item.partitionMaxBytes, budget),
                bytes === 0,
                item.currentLeaderEpoch,
              );
              let size = 0;
              for (const batch of read.batches) {
                size += batch.length;
                records += readRecordBatchHeader(batch).recordCount;
              }
              bytes += size;
              budget = Math.max(0, budget - size);
              entry = {
                partition: item.partition,
                highWatermark: offsetToJson(read.highWatermark),
                logStartOffset: offsetToJson(read.logStartOffset),
                records: read.batches,
              };
            } catch (caught) {
              failed = true;
              // The offsets of a failed partition mean nothing; the schema wants offsets, so 0.
              entry = {
                partition: item.partition,
                highWatermark: '0',
                logStartOffset: '0',
                records: [],
                ...partitionFailure(caught, image, topicId, item.partition),
              };
            }
            byTopic.set(topic, [...(byTopic.get(topic) ?? []), entry]);
          }
          if (!final && !failed && bytes < body.minBytes) return undefined;
          const response: BatchedFetchResponse = {
            topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
          };
          return { response, bytes, records };
        },
      }),
    );
    metrics.bytesOut.inc(bytes);
    metrics.recordsOut.inc(records);
    metrics.fetchLatency.observe((performance.now() - started) / 1000);
    return { contentType: ContentType.frame, body: encodeFetchFrame(response) };
  });

  app.post(Routes.listOffsets, { onRequest }, async (request): Promise<ListOffsetsResponse> => {
    const body = parseBody(ListOffsetsRequestSchema, request);
    const image = options.readyImage();
    return {
      topics: await Promise.all(
        body.topics.map(async ({ topic, partitions }) => ({
          topic,
          partitions: await Promise.all(
            partitions.map(async (item) => {
              const resolved = resolvePartition(manager, image, topic, item.partition);
              try {
                const partition = resolved.partition;
                if (partition === undefined) throw resolved.error;
                partition.checkLeader(item.currentLeaderEpoch);
                const log = partition.log;
                const base = { partition: item.partition, leaderEpoch: partition.leaderEpoch };
                if (item.spec === 'earliest') {
                  return { ...base, offset: offsetToJson(log.logStartOffset), timestampMs: -1 };
                }
                if (item.spec === 'latest') {
                  return { ...base, offset: offsetToJson(log.highWatermark), timestampMs: -1 };
                }
                const found = await log.offsetForTimestamp(item.spec.timestampMs);
                if (found === undefined) return { ...base, timestampMs: -1 };
                return { ...base, offset: offsetToJson(found.offset), timestampMs: found.timestampMs };
              } catch (error) {
                return {
                  partition: item.partition,
                  timestampMs: -1,
                  ...partitionFailure(error, image, resolved.topicId, item.partition),
                };
              }
            }),
          ),
        })),
      ),
    };
  });
}

/**
 * What a client needs to go straight to leaders: the brokers it may talk to (registered and not
 * fenced), and each topic's partitions with leader, epoch, replicas and ISR. An unknown topic is
 * an entry with an error, not a failed call.
 */
export function describeMetadata(
  image: MetadataImage,
  brokerId: number,
  clusterId: string,
  topics: readonly string[] | undefined,
): MetadataResponse {
  const live = (id: number) => image.broker(id)?.fenced === false;
  const names = topics ?? image.topics().map((t) => t.name);
  return {
    clusterId,
    brokerId,
    controllerId: null,
    brokers: image
      .brokers()
      .filter((b) => !b.fenced)
      .map((b) => ({ brokerId: b.brokerId, endpoint: b.endpoint, rack: b.rack })),
    topics: [...new Set(names)].map((name) => {
      const topic = image.topicByName(name);
      if (topic === undefined) {
        return {
          name,
          topicId: null,
          partitions: [],
          error: toPartitionError(new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${name}" does not exist.`)),
        };
      }
      return {
        name,
        topicId: topic.topicId,
        partitions: topic.partitions.map((p) => ({
          partition: p.partition,
          leader: p.leader === NO_LEADER ? null : p.leader,
          leaderEpoch: p.leaderEpoch,
          replicas: [...p.replicas],
          isr: [...p.isr],
          offlineReplicas: p.replicas.filter((id) => !live(id)),
          ...(p.leader === NO_LEADER
            ? {
                error: toPartitionError(
                  new MillraceError('LEADER_NOT_AVAILABLE', `${name}-${p.partition} has no leader right now.`),
                ),
              }
            : {}),
        })),
      };
    }),
    metadataOffset: Math.max(0, image.offset),
  };
}
