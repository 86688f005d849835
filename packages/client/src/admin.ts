import {
  type AlterConfigsRequest,
  ClusterDescriptionSchema,
  ClusterHealthSchema,
  type CreateTopicRequest,
  DeleteTopicResponseSchema,
  DescribeConfigsResponseSchema,
  ListTopicsResponseSchema,
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
      { signal: this.#cluster.signal },
    );
  }
}
