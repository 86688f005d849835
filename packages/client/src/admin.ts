import {
  type AlterConfigsRequest,
  ClusterDescriptionSchema,
  ClusterHealthSchema,
  type CreateTopicRequest,
  DeleteTopicResponseSchema,
  DescribeConfigsResponseSchema,
  ListOffsetsResponseSchema,
  ListTopicsResponseSchema,
  MillraceError,
  PreferredElectionResponseSchema,
  QuorumStatusSchema,
  Routes,
  TopicDescriptionSchema,
} from '@millrace/protocol';
import type { z } from 'zod';
import type { Cluster } from './cluster.js';
import { type RetryOptions, withRetry } from './retry.js';

export type TopicDescription = z.output<typeof TopicDescriptionSchema>;
export type TopicSummary = z.output<typeof ListTopicsResponseSchema>['topics'][number];
export type ConfigEntry = z.output<typeof DescribeConfigsResponseSchema>['configs'][number];
export type ClusterDescription = z.output<typeof ClusterDescriptionSchema>;
export type ClusterHealth = z.output<typeof ClusterHealthSchema>;
export type QuorumStatus = z.output<typeof QuorumStatusSchema>;
export type ElectionResult = z.output<typeof PreferredElectionResponseSchema>['results'][number];

export interface AdminOptions {
  /** The admin token for writes. Default: the client's token. */
  readonly token?: string;
}

const encode = encodeURIComponent;

/**
 * A typed client of the admin HTTP API (docs/admin-api.md), reached through any broker, which
 * relays to the active controller. Calls that fail because a broker or the controller is away
 * (NETWORK_EXCEPTION, NOT_CONTROLLER, NODE_NOT_READY, …) are retried under the client's `retry`
 * block; the others reject at once with the server's typed error. Writes are retried too: a
 * write that timed out may have been done, so its retry can meet TOPIC_ALREADY_EXISTS and
 * the like, as with Kafka's admin client.
 */
export class Admin {
  readonly #cluster: Cluster;
  readonly #retry: RetryOptions;
  readonly #headers: Readonly<Record<string, string>>;

  constructor(cluster: Cluster, retry: RetryOptions, options: AdminOptions = {}) {
    this.#cluster = cluster;
    this.#retry = retry;
    const token = options.token ?? cluster.options.token;
    this.#headers = { ...cluster.headers, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) };
  }

  createTopic(request: CreateTopicRequest): Promise<TopicDescription> {
    return this.#call('POST', Routes.topics, TopicDescriptionSchema, request);
  }

  /** Creates several topics, one after another; resolves to their descriptions. */
  async createTopics(requests: readonly CreateTopicRequest[]): Promise<TopicDescription[]> {
    const created: TopicDescription[] = [];
    for (const request of requests) created.push(await this.createTopic(request));
    return created;
  }

  async listTopics(): Promise<TopicSummary[]> {
    return (await this.#call('GET', Routes.topics, ListTopicsResponseSchema)).topics;
  }

  describeTopic(topic: string): Promise<TopicDescription> {
    return this.#call('GET', `${Routes.topics}/${encode(topic)}`, TopicDescriptionSchema);
  }

  deleteTopic(topic: string): Promise<z.output<typeof DeleteTopicResponseSchema>> {
    return this.#call('DELETE', `${Routes.topics}/${encode(topic)}`, DeleteTopicResponseSchema);
  }

  /** Grows a topic to `totalCount` partitions. */
  createPartitions(topic: string, totalCount: number, validateOnly?: boolean): Promise<TopicDescription> {
    return this.#call('POST', `${Routes.topics}/${encode(topic)}/partitions`, TopicDescriptionSchema, {
      totalCount,
      ...(validateOnly === undefined ? {} : { validateOnly }),
    });
  }

  async describeTopicConfigs(topic: string): Promise<ConfigEntry[]> {
    return (await this.#call('GET', `${Routes.topics}/${encode(topic)}/configs`, DescribeConfigsResponseSchema))
      .configs;
  }

  async alterTopicConfigs(topic: string, request: AlterConfigsRequest): Promise<ConfigEntry[]> {
    return (
      await this.#call('PATCH', `${Routes.topics}/${encode(topic)}/configs`, DescribeConfigsResponseSchema, request)
    ).configs;
  }

  async describeClusterConfigs(): Promise<ConfigEntry[]> {
    return (await this.#call('GET', Routes.clusterConfigs, DescribeConfigsResponseSchema)).configs;
  }

  async alterClusterConfigs(request: AlterConfigsRequest): Promise<ConfigEntry[]> {
    return (await this.#call('PATCH', Routes.clusterConfigs, DescribeConfigsResponseSchema, request)).configs;
  }

  /** Controllers (which is active), brokers and their states. */
  describeCluster(): Promise<ClusterDescription> {
    return this.#call('GET', Routes.cluster, ClusterDescriptionSchema);
  }

  clusterHealth(): Promise<ClusterHealth> {
    return this.#call('GET', Routes.clusterHealth, ClusterHealthSchema);
  }

  describeQuorum(): Promise<QuorumStatus> {
    return this.#call('GET', Routes.clusterQuorum, QuorumStatusSchema);
  }

  /** Moves leadership to each partition's preferred (first) replica; every partition when none are named. */
  async electPreferredLeaders(
    partitions?: readonly { readonly topic: string; readonly partition: number }[],
  ): Promise<ElectionResult[]> {
    return (
      await this.#call(
        'POST',
        Routes.preferredElection,
        PreferredElectionResponseSchema,
        partitions === undefined ? {} : { partitions },
      )
    ).results;
  }

  /**
   * Each partition's earliest offset (`low`, the log start) and latest (`high`, the high
   * watermark: the offset the next record will get), asked of the partitions' leaders (kafkajs's
   * `fetchTopicOffsets`).
   */
  fetchTopicOffsets(topic: string): Promise<{ partition: number; low: bigint; high: bigint }[]> {
    return withRetry(
      `Offsets of ${topic}`,
      this.#retry,
      async () => {
        const info = await this.#cluster.topic(topic);
        const byLeader = new Map<string, { partition: number; leaderEpoch: number }[]>();
        for (const { partition } of info.partitions) {
          const leader = this.#cluster.metadata.leader(topic, partition);
          const list = byLeader.get(leader.origin) ?? [];
          list.push({ partition, leaderEpoch: leader.leaderEpoch });
          byLeader.set(leader.origin, list);
        }
        const low = new Map<number, bigint>();
        const high = new Map<number, bigint>();
        await Promise.all(
          [...byLeader].flatMap(([origin, partitions]) =>
            (['earliest', 'latest'] as const).map(async (spec) => {
              const answer = await this.#cluster.session(origin).requestJson({
                method: 'POST',
                path: Routes.listOffsets,
                body: {
                  topics: [
                    {
                      topic,
                      partitions: partitions.map((p) => ({
                        partition: p.partition,
                        spec,
                        currentLeaderEpoch: p.leaderEpoch,
                      })),
                    },
                  ],
                },
                headers: this.#cluster.headers,
                responseSchema: ListOffsetsResponseSchema,
                timeoutMs: this.#cluster.options.requestTimeoutMs,
              });
              for (const result of answer.topics.flatMap((t) => t.partitions)) {
                if (result.error !== undefined || result.offset === undefined) {
                  const code = result.error?.code ?? 'UNKNOWN_SERVER_ERROR';
                  this.#cluster.noteFailure(code, topic, result.partition, result.currentLeader);
                  throw new MillraceError(
                    code,
                    result.error?.message ?? `No ${spec} offset for ${topic}-${result.partition}.`,
                  );
                }
                (spec === 'earliest' ? low : high).set(result.partition, result.offset);
              }
            }),
          ),
        );
        return info.partitions.map(({ partition }) => ({
          partition,
          low: low.get(partition) ?? 0n,
          high: high.get(partition) ?? 0n,
        }));
      },
      {
        signal: this.#cluster.signal,
        onRetry: (error) => {
          if (error.code === 'NETWORK_EXCEPTION' || error.code === 'REQUEST_TIMED_OUT')
            this.#cluster.metadata.invalidate();
        },
      },
    );
  }

  #call<S extends z.ZodType>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    responseSchema: S,
    body?: unknown,
  ): Promise<z.output<S>> {
    return withRetry(
      `${method} ${path}`,
      this.#retry,
      () =>
        this.#cluster.anyBroker((session) =>
          session.requestJson({
            method,
            path,
            ...(body === undefined ? {} : { body }),
            headers: this.#headers,
            responseSchema,
            timeoutMs: this.#cluster.options.requestTimeoutMs,
          }),
        ),
      { signal: this.#cluster.signal, retryOn: ADMIN_RETRIABLE },
    );
  }
}

/**
 * The errors an admin call is retried on: the broker or the active controller was away. Others,
 * even those Kafka calls retriable (UNKNOWN_TOPIC_OR_PARTITION), are the controller's
 * authoritative answer to this call and come back at once.
 */
const ADMIN_RETRIABLE: ReadonlySet<string> = new Set([
  'NETWORK_EXCEPTION',
  'REQUEST_TIMED_OUT',
  'NOT_CONTROLLER',
  'NODE_NOT_READY',
]);
