import type { MetadataImage } from '@millrace/metadata';
import { AlterPartitionResponseSchema, NO_LEADER, Routes } from '@millrace/protocol';
import type { Logger } from 'pino';
import type { ControllerClient } from '../cluster/controller-client.js';
import { originOf } from '../cluster/controller-client.js';
import { type LogManager, topicIdPartition } from '../log/index.js';
import type { LeaderReplicationState } from './leader-state.js';
import { Partition, type RoleChange } from './partition.js';
import { ReplicaFetcher, type ReplicaFetcherOptions } from './replica-fetcher.js';

export interface ReplicaManagerOptions {
  readonly brokerId: number;
  readonly clusterSecret: string;
  readonly logs: LogManager;
  readonly controllers: ControllerClient;
  readonly brokerEpoch: () => number | undefined;
  readonly logger: Logger;
  /** Settings of the replica fetchers (wait, sizes); the rest comes from here. */
  readonly fetcher?: Pick<ReplicaFetcherOptions, 'maxWaitMs' | 'maxBytes' | 'partitionMaxBytes' | 'backoffMs'>;
  readonly onIsrChange?: (kind: 'shrink' | 'expand') => void;
  readonly onReplicated?: (bytes: number, records: number) => void;
}

interface IsrProposal {
  readonly partition: Partition;
  readonly state: LeaderReplicationState;
  readonly newIsr: readonly number[];
}

/**
 * The partitions this broker holds, and their roles, kept in line with the metadata image: for
 * each partition whose replicas include this broker it keeps a log and a Partition; it makes it
 * leader or follower as the image says (a follower is handed to the replica fetcher of its
 * leader's broker), drops partitions of deleted topics, and, as leader, proposes ISR changes to
 * the controller (AlterPartition), batching the proposals of many partitions into one call.
 *
 * Images are applied one at a time in order; when several arrive while one is applied, only the
 * newest is applied next (each image is complete, so the ones between add nothing).
 */
export class ReplicaManager {
  readonly #options: ReplicaManagerOptions;
  readonly #partitions = new Map<string, Partition>();
  readonly #fetchers = new Map<string, ReplicaFetcher>();
  #image: MetadataImage | undefined;
  #queued: MetadataImage | undefined;
  #applying: Promise<void> | undefined;
  #isrTimer: NodeJS.Timeout | undefined;
  #isrQueue: IsrProposal[] = [];
  #isrSending = false;
  #stopped = false;

  constructor(options: ReplicaManagerOptions) {
    this.#options = options;
  }

  /** The newest image applied to the partitions (undefined before the first). */
  get image(): MetadataImage | undefined {
    return this.#image;
  }

  get(topicId: string, partition: number): Partition | undefined {
    return this.#partitions.get(`${topicId.toLowerCase()}:${partition}`);
  }

  partitions(): Partition[] {
    return [...this.#partitions.values()];
  }

  fetchers(): ReplicaFetcher[] {
    return [...this.#fetchers.values()];
  }

  /** Checks the ISR of every partition led here every `intervalMs` (shrinks need time to pass). */
  start(intervalMs: number): void {
    this.#isrTimer = setInterval(() => this.checkIsr(), intervalMs);
    this.#isrTimer.unref();
  }

  /** Applies `image` after the ones before it; resolves once it (or a newer one) is applied. */
  applyImage(image: MetadataImage): Promise<void> {
    this.#queued = image;
    if (this.#applying === undefined) {
      this.#applying = this.#drain().finally(() => {
        this.#applying = undefined;
      });
    }
    return this.#applying;
  }

  async #drain(): Promise<void> {
    while (this.#queued !== undefined && !this.#stopped) {
      const image = this.#queued;
      this.#queued = undefined;
      try {
        await this.#apply(image);
      } catch (error) {
        this.#options.logger.error(
          { err: error, metadataOffset: image.offset },
          'applying metadata to partitions failed',
        );
      }
    }
  }

  async #apply(image: MetadataImage): Promise<void> {
    const { brokerId } = this.#options;
    const seen = new Set<string>();
    for (const topic of image.topics()) {
      for (const state of topic.partitions) {
        if (!state.replicas.includes(brokerId)) continue;
        const key = `${state.topicId}:${state.partition}`;
        seen.add(key);
        let partition = this.#partitions.get(key);
        if (partition === undefined) {
          const log = await this.#options.logs.create(topicIdPartition(state.topicId, state.partition), {
            topic: topic.name,
            createdAtMs: Date.now(),
          });
          partition = new Partition(topic.name, log, brokerId);
          this.#partitions.set(key, partition);
        }
        const change = await partition.applyAssignment(state, Date.now);
        this.#onRoleChange(partition, change, image);
      }
    }
    for (const [key, partition] of this.#partitions) {
      if (seen.has(key)) continue;
      this.#partitions.delete(key);
      this.#unfollow(partition);
      partition.close();
      this.#options.logger.info({ partition: partition.name }, 'partition removed from this broker; deleting its log');
      await this.#options.logs.delete(partition.log.tp);
    }
    // Logs recovered from disk for partitions the image no longer gives this broker (their topic
    // was deleted while it was down) go too: the image is the whole truth.
    for (const log of this.#options.logs.partitions()) {
      const key = `${log.tp.topicId}:${log.tp.partition}`;
      if (seen.has(key)) continue;
      this.#options.logger.info({ partition: log.name }, 'log of a partition this broker no longer holds; deleting it');
      await this.#options.logs.delete(log.tp);
    }
    this.#image = image;
    for (const [key, fetcher] of this.#fetchers) {
      if (fetcher.size > 0) continue;
      this.#fetchers.delete(key);
      void fetcher.stop();
    }
  }

  #onRoleChange(partition: Partition, change: RoleChange, image: MetadataImage): void {
    if (change === 'unchanged' || change === 'isr-changed') return;
    const { leader, leaderEpoch } = partition.assignment;
    this.#options.logger.info({ partition: partition.name, leader, leaderEpoch }, change.replace('-', ' '));
    this.#unfollow(partition);
    if (change !== 'became-follower' || leader === NO_LEADER) return;
    const endpoint = image.broker(leader)?.endpoint;
    if (endpoint === undefined) {
      this.#options.logger.warn({ partition: partition.name, leader }, 'the leader has no registered address');
      return;
    }
    const origin = originOf(endpoint);
    const key = `${leader}@${origin}`;
    let fetcher = this.#fetchers.get(key);
    if (fetcher === undefined) {
      fetcher = new ReplicaFetcher({
        ...this.#options.fetcher,
        brokerId: this.#options.brokerId,
        brokerEpoch: this.#options.brokerEpoch,
        leaderId: leader,
        origin,
        clusterSecret: this.#options.clusterSecret,
        logger: this.#options.logger,
        ...(this.#options.onReplicated === undefined ? {} : { onAppended: this.#options.onReplicated }),
      });
      this.#fetchers.set(key, fetcher);
      fetcher.start();
    }
    fetcher.add(partition, leaderEpoch);
  }

  #unfollow(partition: Partition): void {
    for (const fetcher of this.#fetchers.values()) fetcher.remove(partition);
  }

  /**
   * Proposes the ISR changes due on the partitions led here: shrinks for followers that have not
   * caught up within replica.lag.time.max.ms, expands for followers that have. Called on a timer,
   * and after a follower's fetch when that follower is outside the ISR (so a caught-up follower
   * rejoins at once).
   */
  checkIsr(only?: Partition): void {
    const image = this.#image;
    if (image === undefined || this.#stopped) return;
    const lagMaxMs = Number(image.clusterConfig('replica.lag.time.max.ms'));
    const now = Date.now();
    const eligible = (id: number) => image.isBrokerUsable(id);
    for (const partition of only === undefined ? this.#partitions.values() : [only]) {
      const state = partition.leaderState;
      if (state === undefined) continue;
      const newIsr = partition.proposeIsrChange(now, lagMaxMs, eligible);
      if (newIsr === undefined) continue;
      this.#isrQueue.push({ partition, state, newIsr });
    }
    if (this.#isrQueue.length > 0) void this.#sendIsrChanges();
  }

  async #sendIsrChanges(): Promise<void> {
    if (this.#isrSending) return;
    this.#isrSending = true;
    try {
      while (this.#isrQueue.length > 0 && !this.#stopped) {
        const batch = this.#isrQueue;
        this.#isrQueue = [];
        await this.#alterPartition(batch);
      }
    } finally {
      this.#isrSending = false;
    }
  }

  async #alterPartition(batch: readonly IsrProposal[]): Promise<void> {
    const brokerEpoch = this.#options.brokerEpoch();
    const byTopic = new Map<string, IsrProposal[]>();
    for (const proposal of batch) {
      const topicId = proposal.partition.log.tp.topicId;
      byTopic.set(topicId, [...(byTopic.get(topicId) ?? []), proposal]);
    }
    const failAll = () => {
      for (const { partition, state } of batch) partition.onIsrChangeAnswered(state, undefined);
    };
    if (brokerEpoch === undefined) {
      failAll();
      return;
    }
    try {
      const answer = await this.#options.controllers.call(
        Routes.alterPartition,
        {
          brokerId: this.#options.brokerId,
          brokerEpoch,
          topics: [...byTopic].map(([topicId, proposals]) => ({
            topicId,
            partitions: proposals.map(({ partition, state, newIsr }) => ({
              partition: partition.log.tp.partition,
              leaderEpoch: state.leaderEpoch,
              partitionEpoch: state.partitionEpoch,
              newIsr: [...newIsr],
            })),
          })),
        },
        AlterPartitionResponseSchema,
        5000,
      );
      const results = new Map<string, (typeof answer.topics)[number]['partitions'][number]>();
      for (const topic of answer.topics) {
        for (const item of topic.partitions) results.set(`${topic.topicId.toLowerCase()}:${item.partition}`, item);
      }
      for (const { partition, state, newIsr } of batch) {
        const result = results.get(`${partition.log.tp.topicId}:${partition.log.tp.partition}`);
        if (result === undefined || result.error !== undefined) {
          this.#options.logger.info(
            { partition: partition.name, newIsr, error: result?.error },
            'the controller refused an ISR change',
          );
          partition.onIsrChangeAnswered(state, undefined);
          continue;
        }
        const kind = result.isr.length < state.isr.length ? 'shrink' : 'expand';
        this.#options.logger.info(
          { partition: partition.name, from: state.isr, to: result.isr, partitionEpoch: result.partitionEpoch },
          kind === 'shrink' ? 'ISR shrank' : 'ISR expanded',
        );
        this.#options.onIsrChange?.(kind);
        partition.onIsrChangeAnswered(state, { isr: result.isr, partitionEpoch: result.partitionEpoch });
      }
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'AlterPartition failed');
      failAll();
    }
  }

  /** Stops fetching and answers everyone waiting on a partition; the logs stay open (LogManager owns them). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#isrTimer);
    await this.#applying?.catch(() => undefined);
    await Promise.all([...this.#fetchers.values()].map((fetcher) => fetcher.stop()));
    this.#fetchers.clear();
    for (const partition of this.#partitions.values()) partition.close();
  }
}
