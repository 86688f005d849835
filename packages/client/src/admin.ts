import {
  type AlterConfigsRequest,
  ClusterDescriptionSchema,
  ClusterHealthSchema,
  type CreateTopicRequest,
  DeleteTopicResponseSchema,
  DescribeConfigsResponseSchema,
  DescribeGroupResponseSchema,
  ListGroupsResponseSchema,
  ListOffsetsResponseSchema,
  ListTopicsResponseSchema,
  MillraceError,
  OffsetCommitResponseSchema,
  type OffsetSpec,
  offsetToJson,
  PreferredElectionResponseSchema,
  QuorumStatusSchema,
  Routes,
  TopicDescriptionSchema,
} from '@millrace/protocol';
import { z } from 'zod';
import type { Cluster } from './cluster.js';
import { findCoordinator } from './consumer/group.js';
import { type RetryOptions, withRetry } from './retry.js';

export type TopicDescription = z.output<typeof TopicDescriptionSchema>;
export type TopicSummary = z.output<typeof ListTopicsResponseSchema>['topics'][number];
export type ConfigEntry = z.output<typeof DescribeConfigsResponseSchema>['configs'][number];
export type ClusterDescription = z.output<typeof ClusterDescriptionSchema>;
export type ClusterHealth = z.output<typeof ClusterHealthSchema>;
export type QuorumStatus = z.output<typeof QuorumStatusSchema>;
export type ElectionResult = z.output<typeof PreferredElectionResponseSchema>['results'][number];
export type GroupSummary = z.output<typeof ListGroupsResponseSchema>['groups'][number];

/** A group as its coordinator describes it, with each committed offset's lag behind the partition's end. */
export interface GroupDescription extends Omit<z.output<typeof DescribeGroupResponseSchema>, 'offsets'> {
  readonly offsets: readonly {
    readonly topic: string;
    readonly partition: number;
    /** The committed offset: the next record the group will read. */
    readonly offset: bigint;
    /** The partition's high watermark: the offset the next record produced will get. */
    readonly logEndOffset: bigint;
    /** Records produced and not yet read by the group: logEndOffset - offset (never below 0). */
    readonly lag: bigint;
    readonly metadata: string;
    readonly commitTimestampMs: number;
  }[];
}

/** Where `resetGroupOffsets` moves a group: as `seek` does for a consumer. */
export type GroupResetTo = 'earliest' | 'latest' | bigint | { readonly timestamp: number };

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

  /** Every consumer group, with its state and member count (each broker lists the groups it coordinates). */
  async listGroups(): Promise<GroupSummary[]> {
    await this.#cluster.refresh();
    const groups = new Map<string, GroupSummary>();
    for (const { origin } of this.#cluster.metadata.brokers()) {
      const answer = await withRetry(
        `GET ${Routes.groups} at ${origin}`,
        this.#retry,
        () =>
          this.#cluster.session(origin).requestJson({
            method: 'GET',
            path: Routes.groups,
            headers: this.#cluster.headers,
            responseSchema: ListGroupsResponseSchema,
            timeoutMs: this.#cluster.options.requestTimeoutMs,
          }),
        { signal: this.#cluster.signal, retryOn: new Set(['NODE_NOT_READY']) },
      ).catch((error: unknown) => {
        // A broker that is down coordinates nothing: its partitions have moved to the others.
        if (error instanceof MillraceError && error.code === 'NETWORK_EXCEPTION') return { groups: [] };
        throw error;
      });
      for (const group of answer.groups) groups.set(group.groupId, group);
    }
    return [...groups.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
  }

  /** A group's members, their assignments, and its committed offsets with their lag. */
  async describeGroup(groupId: string): Promise<GroupDescription> {
    const described = await this.#coordinatorCall(groupId, Routes.describeGroup, DescribeGroupResponseSchema, {
      groupId,
    });
    const ends = new Map<string, bigint>();
    for (const topic of new Set(described.offsets.map((o) => o.topic))) {
      const offsets = await this.fetchTopicOffsets(topic).catch(() => []);
      for (const { partition, high } of offsets) ends.set(`${topic}\u0000${partition}`, high);
    }
    return {
      ...described,
      offsets: described.offsets.map((o) => {
        const logEndOffset = ends.get(`${o.topic}\u0000${o.partition}`) ?? o.offset;
        return { ...o, logEndOffset, lag: logEndOffset > o.offset ? logEndOffset - o.offset : 0n };
      }),
    };
  }

  /** Deletes a group that has no members, and its committed offsets. */
  async deleteGroup(groupId: string): Promise<void> {
    await this.#coordinatorCall(groupId, Routes.deleteGroup, z.unknown(), { groupId });
  }

  /**
   * Moves an empty group's committed offsets for a topic (every partition, or those named): to the
   * earliest or latest offset, to an offset, or to the first record at or after a time. Refused
   * with NON_EMPTY_GROUP while the group has members. Resolves to the offsets committed.
   */
  async resetGroupOffsets(
    groupId: string,
    topic: string,
    to: GroupResetTo,
    partitions?: readonly number[],
  ): Promise<{ partition: number; offset: bigint }[]> {
    const group = await this.#coordinatorCall(groupId, Routes.describeGroup, DescribeGroupResponseSchema, {
      groupId,
    }).catch((error: unknown) => {
      if (error instanceof MillraceError && error.code === 'GROUP_ID_NOT_FOUND') return undefined;
      throw error;
    });
    if (group !== undefined && group.members.length > 0)
      throw new MillraceError(
        'NON_EMPTY_GROUP',
        `Group ${groupId} has ${group.members.length} members; offsets can be reset once it is empty.`,
      );
    const bounds = await this.fetchTopicOffsets(topic);
    const wanted = bounds.filter(({ partition }) => partitions === undefined || partitions.includes(partition));
    let offsets: { partition: number; offset: bigint }[];
    if (to === 'earliest' || to === 'latest')
      offsets = wanted.map(({ partition, low, high }) => ({ partition, offset: to === 'earliest' ? low : high }));
    else if (typeof to === 'bigint')
      offsets = wanted.map(({ partition, low, high }) => ({
        partition,
        offset: to < low ? low : to > high ? high : to,
      }));
    else {
      const byTime = new Map(
        (await this.fetchTopicOffsetsByTimestamp(topic, to.timestamp)).map((o) => [o.partition, o.offset]),
      );
      offsets = wanted.map(({ partition, high }) => ({ partition, offset: byTime.get(partition) ?? high }));
    }
    if (offsets.length === 0) return [];
    await this.#coordinatorCall(groupId, Routes.offsetCommit, OffsetCommitResponseSchema, {
      groupId,
      memberId: '',
      memberEpoch: -1,
      topics: [
        { topic, partitions: offsets.map(({ partition, offset }) => ({ partition, offset: offsetToJson(offset) })) },
      ],
    });
    return offsets;
  }

  /**
   * Each partition's earliest offset (`low`, the log start) and latest (`high`, the high
   * watermark: the offset the next record will get), asked of the partitions' leaders (kafkajs's
   * `fetchTopicOffsets`).
   */
  async fetchTopicOffsets(topic: string): Promise<{ partition: number; low: bigint; high: bigint }[]> {
    const [low, high] = await Promise.all([this.#listOffsets(topic, 'earliest'), this.#listOffsets(topic, 'latest')]);
    return [...high.keys()]
      .sort((a, b) => a - b)
      .map((partition) => ({ partition, low: low.get(partition) ?? 0n, high: high.get(partition) ?? 0n }));
  }

  /**
   * Each partition's offset at the first record at or after a time; a partition with no such
   * record is at its high watermark (kafkajs's `fetchTopicOffsetsByTimestamp`).
   */
  async fetchTopicOffsetsByTimestamp(
    topic: string,
    timestamp: number,
  ): Promise<{ partition: number; offset: bigint }[]> {
    const [byTime, high] = await Promise.all([
      this.#listOffsets(topic, { timestampMs: timestamp }),
      this.#listOffsets(topic, 'latest'),
    ]);
    return [...high.keys()]
      .sort((a, b) => a - b)
      .map((partition) => ({ partition, offset: byTime.get(partition) ?? (high.get(partition) as bigint) }));
  }

  /**
   * One offset per partition of `topic` for `spec`, asked of the partitions' leaders (one request
   * per leader), retried while leaders move. A partition without an answer for a time lookup (no
   * record at or after it) is left out.
   */
  #listOffsets(topic: string, spec: OffsetSpec): Promise<Map<number, bigint>> {
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
        const offsets = new Map<number, bigint>();
        await Promise.all(
          [...byLeader].map(async ([origin, partitions]) => {
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
              if (result.error !== undefined) {
                this.#cluster.noteFailure(result.error.code, topic, result.partition, result.currentLeader);
                throw new MillraceError(result.error.code, result.error.message);
              }
              if (result.offset !== undefined) offsets.set(result.partition, result.offset);
            }
          }),
        );
        return offsets;
      },
      {
        signal: this.#cluster.signal,
        onRetry: (error) => {
          // A broker away: anything may have moved. Otherwise (a leader moved, a topic just
          // created and not yet known) this topic's metadata is asked again.
          if (error.code === 'NETWORK_EXCEPTION' || error.code === 'REQUEST_TIMED_OUT')
            this.#cluster.metadata.invalidate();
          else this.#cluster.metadata.invalidate(topic);
        },
      },
    );
  }

  /** A call to a group's coordinator, found again after NOT_COORDINATOR and retried while it loads or moves. */
  #coordinatorCall<S extends z.ZodType>(
    groupId: string,
    path: string,
    responseSchema: S,
    body: unknown,
  ): Promise<z.output<S>> {
    const timeoutMs = this.#cluster.options.requestTimeoutMs;
    return withRetry(
      `POST ${path} for group ${groupId}`,
      this.#retry,
      async () =>
        this.#cluster.session(await findCoordinator(this.#cluster, groupId, timeoutMs)).requestJson({
          method: 'POST',
          path,
          body,
          headers: this.#cluster.headers,
          responseSchema,
          timeoutMs,
        }),
      { signal: this.#cluster.signal, retryOn: COORDINATOR_RETRIABLE },
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

/** The errors a call to a group's coordinator is retried on: it moved, is loading, or was away. */
const COORDINATOR_RETRIABLE: ReadonlySet<string> = new Set([
  'NOT_COORDINATOR',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'NETWORK_EXCEPTION',
  'REQUEST_TIMED_OUT',
  'NODE_NOT_READY',
]);
