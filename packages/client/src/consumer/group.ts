import { randomUUID } from 'node:crypto';
import {
  FindCoordinatorResponseSchema,
  type GroupHeartbeatResponse,
  GroupHeartbeatResponseSchema,
  MillraceError,
  OffsetCommitResponseSchema,
  OffsetFetchResponseSchema,
  offsetToJson,
  Routes,
} from '@millrace/protocol';
import type { z } from 'zod';
import { type Cluster, closedError } from '../cluster.js';
import type { Logger } from '../logger.js';
import { originOf } from '../metadata.js';
import { backoffMs, type RetryOptions, sleep, withRetry } from '../retry.js';
import type { TopicPartition } from './consumer.js';

/** What a rebalance tells the application, as Kafka's ConsumerRebalanceListener. */
export interface RebalanceListener {
  /** Partitions given to this member; reading starts at the group's committed offsets. */
  readonly onAssigned?: (partitions: TopicPartition[]) => Promise<void> | void;
  /** Partitions taken away in a rebalance, after their records stopped and positions were committed (autoCommit). */
  readonly onRevoked?: (partitions: TopicPartition[]) => Promise<void> | void;
  /** Partitions lost without a chance to commit: the member was removed from the group (its session ran out). */
  readonly onLost?: (partitions: TopicPartition[]) => Promise<void> | void;
}

/** What the membership needs of its consumer. */
export interface GroupHost {
  /** Starts reading partitions, each from its committed offset or, without one, by autoOffsetReset. */
  take(partitions: readonly (TopicPartition & { readonly committed: bigint | undefined })[]): void;
  /**
   * Stops reading partitions and waits until no handler is still working on one of them; resolves
   * to their processed positions then (keyed by `topic\u0000partition`).
   */
  release(partitions: readonly TopicPartition[]): Promise<Map<string, bigint>>;
  /** The position after the last record the application has finished with, per partition. */
  processed(partition: TopicPartition): bigint | undefined;
  /** The consumer cannot go on (the group refused it for good). */
  fail(error: MillraceError): void;
}

export interface GroupMemberOptions {
  readonly groupId: string;
  readonly autoCommit: boolean;
  readonly autoCommitIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

interface Owned extends TopicPartition {
  readonly topicId: string;
}

/** Errors after which the member looks for the coordinator again. */
const FIND_AGAIN = new Set(['NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'NETWORK_EXCEPTION', 'REQUEST_TIMED_OUT']);
/** Errors worth another try at the same coordinator. */
const TRY_AGAIN = new Set(['COORDINATOR_LOAD_IN_PROGRESS', 'NODE_NOT_READY']);
/** Errors a commit is retried on: the coordinator moved, is loading or was away, or the epoch moved on. */
const COMMIT_RETRIABLE: ReadonlySet<string> = new Set([
  'NOT_COORDINATOR',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'NETWORK_EXCEPTION',
  'REQUEST_TIMED_OUT',
  'NODE_NOT_READY',
  'STALE_MEMBER_EPOCH',
]);
/** Errors that mean the coordinator no longer knows this member at this epoch: it joins again. */
const JOIN_AGAIN = new Set(['FENCED_MEMBER_EPOCH', 'UNKNOWN_MEMBER_ID']);

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * A consumer's membership of a group (Kafka's KIP-848 protocol, client side): it joins with its
 * subscription, heartbeats (the coordinator holds a heartbeat until there is news, so a rebalance
 * reaches the member at once), takes the partitions it is given and gives up the ones it is told
 * to — first stopping their records and committing their positions, then confirming in its next
 * heartbeat. It commits processed positions on an interval, and leaves on close.
 *
 * Safety: when no heartbeat has been answered for the group's session timeout (counted from when
 * the last answered one was sent), the member drops its partitions as lost — by then the
 * coordinator has given them to others.
 */
export class GroupMember {
  readonly memberId = randomUUID();
  readonly #cluster: Cluster;
  readonly #host: GroupHost;
  readonly #options: GroupMemberOptions;
  readonly #retry: RetryOptions;
  readonly #logger: Logger;
  readonly #owned = new Map<string, Owned>();
  readonly #stop = new AbortController();
  #subscription: readonly string[] | RegExp = [];
  #sentNames: string[] | undefined;
  #listener: RebalanceListener = {};
  #epoch = 0;
  #coordinator: string | undefined;
  #heartbeatIntervalMs = 5000;
  #sessionTimeoutMs = 45_000;
  #lastAnsweredSentAt = performance.now();
  #confirm = false;
  #loop: Promise<void> | undefined;
  #commitTimer: NodeJS.Timeout | undefined;
  #committed = new Map<string, bigint>();
  #topicsListedAt = Number.NEGATIVE_INFINITY;
  #closing: Promise<void> | undefined;

  constructor(cluster: Cluster, host: GroupHost, options: GroupMemberOptions, retry: RetryOptions, logger: Logger) {
    this.#cluster = cluster;
    this.#host = host;
    this.#options = options;
    this.#retry = retry;
    this.#logger = logger;
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** The partitions this member owns now. */
  assignment(): TopicPartition[] {
    return [...this.#owned.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  /** Joins (or changes the subscription): topic names, or a pattern matched against the cluster's topics. */
  subscribe(topics: readonly string[] | RegExp, listener: RebalanceListener = {}): void {
    this.#subscription =
      topics instanceof RegExp ? new RegExp(topics.source, topics.flags.replace('g', '')) : [...topics];
    this.#listener = listener;
    this.#loop ??= this.#run();
    if (this.#options.autoCommit && this.#commitTimer === undefined) {
      this.#commitTimer = setInterval(
        () => void this.commit().catch(() => undefined),
        this.#options.autoCommitIntervalMs,
      );
      this.#commitTimer.unref();
    }
  }

  /**
   * Commits offsets: the given ones, or else the processed position of every owned partition that
   * moved since its last commit. Retried within the retry block while the coordinator moves or
   * loads, and with the new epoch after a rebalance; rejects with the coordinator's error otherwise
   * (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID: the member was removed).
   */
  async commit(offsets?: readonly (TopicPartition & { readonly offset: bigint })[]): Promise<void> {
    const chosen =
      offsets ??
      [...this.#owned.values()].flatMap(({ topic, partition }) => {
        const offset = this.#host.processed({ topic, partition });
        if (offset === undefined || this.#committed.get(tpKey(topic, partition)) === offset) return [];
        return [{ topic, partition, offset }];
      });
    if (chosen.length === 0) return;
    const byTopic = new Map<string, { partition: number; offset: string }[]>();
    for (const { topic, partition, offset } of chosen)
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), { partition, offset: offsetToJson(offset) }]);
    const send = () =>
      this.#callCoordinator(Routes.offsetCommit, OffsetCommitResponseSchema, {
        groupId: this.#options.groupId,
        memberId: this.memberId,
        memberEpoch: this.#epoch,
        topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
      });
    // Retried while the coordinator moves or loads (found again each time), and after a rebalance
    // bumped the epoch (sent with the current one), as Kafka's commitSync retries within its timeout.
    await withRetry(`Committing offsets of group ${this.#options.groupId}`, this.#retry, send, {
      signal: this.#cluster.signal,
      retryOn: COMMIT_RETRIABLE,
      onRetry: (error) => {
        if (FIND_AGAIN.has(error.code)) this.#coordinator = undefined;
      },
    });
    for (const { topic, partition, offset } of chosen) this.#committed.set(tpKey(topic, partition), offset);
  }

  /** Commits (autoCommit), gives up its partitions and leaves the group. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#commitTimer);
    const owned = this.assignment();
    if (owned.length > 0) {
      const processed = await this.#host.release(owned).catch(() => new Map<string, bigint>());
      if (this.#options.autoCommit)
        await this.commit(this.#uncommitted(owned, processed)).catch((error: unknown) =>
          this.#logger.warn('the last commit failed', { error }),
        );
    }
    this.#stop.abort(closedError());
    await this.#loop?.catch(() => undefined);
    if (this.#epoch > 0 && this.#coordinator !== undefined) {
      await this.#heartbeat({ memberEpoch: -1 }).catch((error: unknown) =>
        this.#logger.info('leaving the group failed; the coordinator will time the member out', { error }),
      );
    }
    this.#owned.clear();
    if (owned.length > 0) await this.#notify('onRevoked', owned);
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      try {
        const names = await this.#subscribedNames();
        const joining = this.#epoch === 0;
        const changed = joining || this.#sentNames === undefined || names.join() !== this.#sentNames.join();
        const sentAt = performance.now();
        // Aborted by close: a held heartbeat would otherwise keep close waiting for its interval.
        const answer = await this.#heartbeat(
          {
            memberEpoch: this.#epoch,
            ownedPartitions: this.#ownedJson(),
            ...(changed ? { subscribedTopicNames: names } : {}),
            ...(joining ? { rebalanceTimeoutMs: this.#options.rebalanceTimeoutMs } : {}),
            ...(this.#confirm ? { noWait: true } : {}),
          },
          this.#stop.signal,
        );
        this.#confirm = false;
        if (changed) this.#sentNames = names;
        this.#lastAnsweredSentAt = sentAt;
        this.#heartbeatIntervalMs = answer.heartbeatIntervalMs;
        this.#sessionTimeoutMs = answer.sessionTimeoutMs;
        this.#epoch = answer.memberEpoch;
        failures = 0;
        await this.#reconcile(answer);
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        const failure =
          error instanceof MillraceError
            ? error
            : new MillraceError('UNKNOWN_SERVER_ERROR', String(error), { cause: error });
        if (JOIN_AGAIN.has(failure.code)) {
          this.#logger.info('the coordinator no longer knows this member at its epoch; joining again', {
            code: failure.code,
          });
          await this.#lose();
          this.#epoch = 0;
          continue;
        }
        if (!FIND_AGAIN.has(failure.code) && !TRY_AGAIN.has(failure.code)) {
          this.#logger.error('the group refused this member', { error: failure });
          await this.#lose();
          this.#host.fail(failure);
          return;
        }
        if (FIND_AGAIN.has(failure.code)) this.#coordinator = undefined;
        failures++;
        // No answer for a whole session: the coordinator has given our partitions away.
        if (this.#owned.size > 0 && performance.now() - this.#lastAnsweredSentAt >= this.#sessionTimeoutMs) {
          this.#logger.warn('no heartbeat answered for the session timeout; the partitions are lost');
          await this.#lose();
          this.#epoch = 0;
        }
        await sleep(backoffMs(this.#retry, failures, Math.random()), this.#stop.signal).catch(() => undefined);
      }
    }
  }

  /** Gives up what the answer no longer lists (commit first), then takes what is new. */
  async #reconcile(answer: GroupHeartbeatResponse): Promise<void> {
    const given = new Map<string, Owned>();
    for (const { topicId, topic, partitions } of answer.assignment) {
      if (topic === null) continue; // deleted meanwhile: nothing to read
      for (const partition of partitions) given.set(tpKey(topic, partition), { topic, topicId, partition });
    }
    const revoked = [...this.#owned.entries()].filter(([key]) => !given.has(key)).map(([, owned]) => owned);
    if (revoked.length > 0) {
      const partitions = revoked.map(({ topic, partition }) => ({ topic, partition }));
      const processed = await this.#host.release(partitions);
      if (this.#options.autoCommit)
        await this.commit(this.#uncommitted(partitions, processed)).catch((error: unknown) =>
          this.#logger.warn('committing revoked partitions failed', { error }),
        );
      for (const { topic, partition } of revoked) {
        this.#owned.delete(tpKey(topic, partition));
        this.#committed.delete(tpKey(topic, partition));
      }
      await this.#notify('onRevoked', partitions);
      // Confirm at once: another member waits for these.
      this.#confirm = true;
    }
    const added = [...given.entries()].filter(([key]) => !this.#owned.has(key)).map(([, owned]) => owned);
    if (added.length === 0) return;
    const committed = await this.#callCoordinator(Routes.offsetFetch, OffsetFetchResponseSchema, {
      groupId: this.#options.groupId,
      topics: groupByTopic(added),
    });
    const offsets = new Map(committed.offsets.map((o) => [tpKey(o.topic, o.partition), o.offset]));
    for (const owned of added) this.#owned.set(tpKey(owned.topic, owned.partition), owned);
    for (const [key, offset] of offsets) this.#committed.set(key, offset);
    this.#host.take(
      added.map(({ topic, partition }) => ({ topic, partition, committed: offsets.get(tpKey(topic, partition)) })),
    );
    await this.#notify(
      'onAssigned',
      added.map(({ topic, partition }) => ({ topic, partition })),
    );
  }

  /** The processed positions not yet committed, of `partitions`. */
  #uncommitted(
    partitions: readonly TopicPartition[],
    processed: ReadonlyMap<string, bigint>,
  ): (TopicPartition & { offset: bigint })[] {
    return partitions.flatMap((tp) => {
      const k = tpKey(tp.topic, tp.partition);
      const offset = processed.get(k);
      return offset === undefined || this.#committed.get(k) === offset ? [] : [{ ...tp, offset }];
    });
  }

  /** Drops every partition without a commit: the coordinator has moved on without this member. */
  async #lose(): Promise<void> {
    const lost = this.assignment();
    this.#owned.clear();
    this.#committed.clear();
    this.#sentNames = undefined;
    if (lost.length === 0) return;
    await this.#host.release(lost).catch(() => undefined);
    await this.#notify('onLost', lost);
  }

  async #notify(which: keyof RebalanceListener, partitions: TopicPartition[]): Promise<void> {
    try {
      await this.#listener[which]?.(partitions);
    } catch (error) {
      this.#logger.error(`the ${which} listener threw`, { error });
    }
  }

  async #subscribedNames(): Promise<string[]> {
    const subscription = this.#subscription;
    if (Array.isArray(subscription)) return [...subscription].sort();
    const pattern = subscription as RegExp;
    // Matched here, never on the broker: a pattern is the application's own code to run. Topics
    // created later are found at the next metadata refresh (metadataMaxAgeMs), as in Kafka.
    const now = performance.now();
    if (now - this.#topicsListedAt >= this.#cluster.options.metadataMaxAgeMs) {
      await this.#cluster.refresh();
      this.#topicsListedAt = now;
    }
    return this.#cluster.metadata
      .topicNames()
      .filter((name) => !name.startsWith('__') && pattern.test(name))
      .sort();
  }

  #ownedJson(): { topicId: string; partitions: number[] }[] {
    const byTopic = new Map<string, number[]>();
    for (const { topicId, partition } of this.#owned.values())
      byTopic.set(topicId, [...(byTopic.get(topicId) ?? []), partition]);
    return [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions: partitions.sort((a, b) => a - b) }));
  }

  #heartbeat(body: Record<string, unknown>, signal?: AbortSignal): Promise<GroupHeartbeatResponse> {
    return this.#callCoordinator(
      Routes.groupHeartbeat,
      GroupHeartbeatResponseSchema,
      { groupId: this.#options.groupId, memberId: this.memberId, ...body },
      // The coordinator may hold the heartbeat for its interval.
      this.#heartbeatIntervalMs + this.#options.requestTimeoutMs,
      signal,
    );
  }

  async #callCoordinator<S extends z.ZodType>(
    path: string,
    schema: S,
    body: unknown,
    timeoutMs = this.#options.requestTimeoutMs,
    signal?: AbortSignal,
  ): Promise<z.output<S>> {
    if (this.#cluster.closed) throw closedError();
    this.#coordinator ??= await this.#findCoordinator();
    return this.#cluster.session(this.#coordinator).requestJson({
      method: 'POST',
      path,
      body,
      headers: this.#cluster.headers,
      responseSchema: schema,
      timeoutMs,
      ...(signal === undefined ? {} : { signal }),
    });
  }

  #findCoordinator(): Promise<string> {
    return findCoordinator(this.#cluster, this.#options.groupId, this.#options.requestTimeoutMs);
  }
}

/** The origin of `groupId`'s coordinator, asked of any broker. */
export async function findCoordinator(cluster: Cluster, groupId: string, timeoutMs: number): Promise<string> {
  const found = await cluster.anyBroker((session) =>
    session.requestJson({
      method: 'POST',
      path: Routes.findCoordinator,
      body: { groupId },
      headers: cluster.headers,
      responseSchema: FindCoordinatorResponseSchema,
      timeoutMs,
    }),
  );
  return originOf(found.endpoint);
}

function groupByTopic(partitions: readonly TopicPartition[]): { topic: string; partitions: number[] }[] {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of partitions) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
  return [...byTopic].map(([topic, list]) => ({ topic, partitions: list }));
}
