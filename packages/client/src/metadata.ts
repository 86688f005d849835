import type { CurrentLeaderSchema, MetadataResponseSchema } from '@millrace/protocol';
import { fromPartitionError, MillraceError, type PartitionError } from '@millrace/protocol';
import type { z } from 'zod';

type MetadataResponse = z.output<typeof MetadataResponseSchema>;
export type CurrentLeader = z.output<typeof CurrentLeaderSchema>;

export interface PartitionInfo {
  readonly partition: number;
  /** null while the partition has no leader. */
  readonly leader: number | null;
  readonly leaderEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly offlineReplicas: readonly number[];
}

export interface TopicInfo {
  readonly name: string;
  readonly topicId: string;
  /** Indexed by partition number. */
  readonly partitions: readonly PartitionInfo[];
}

export interface BrokerInfo {
  readonly brokerId: number;
  /** `http://host:port`. */
  readonly origin: string;
  readonly rack: string | null;
}

/** Where a request for one partition goes. */
export interface LeaderInfo {
  readonly brokerId: number;
  readonly origin: string;
  readonly leaderEpoch: number;
}

export function originOf(endpoint: { readonly host: string; readonly port: number }): string {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `http://${host}:${endpoint.port}`;
}

/**
 * What the client knows of the cluster: brokers, and for each topic asked about its partitions and
 * their leaders. Pure: answers are merged in (`apply`), leader hints from errors too
 * (`applyLeaderHint`), and questions never do I/O. Newer knowledge wins by leader epoch, so an
 * answer from a broker that lags cannot undo a hint that came from the new leader.
 */
export class ClusterMetadata {
  readonly #brokers = new Map<number, BrokerInfo>();
  readonly #topics = new Map<string, TopicInfo>();
  /** Topics the last answer reported as failing (unknown, …), with the error. */
  readonly #topicErrors = new Map<string, PartitionError>();
  /** When each topic was last refreshed, in the caller's clock. */
  readonly #refreshedAt = new Map<string, number>();
  #clusterId: string | undefined;
  #brokersRefreshedAt = Number.NEGATIVE_INFINITY;

  get clusterId(): string | undefined {
    return this.#clusterId;
  }

  brokers(): BrokerInfo[] {
    return [...this.#brokers.values()];
  }

  broker(brokerId: number): BrokerInfo | undefined {
    return this.#brokers.get(brokerId);
  }

  topic(name: string): TopicInfo | undefined {
    return this.#topics.get(name);
  }

  topicError(name: string): PartitionError | undefined {
    return this.#topicErrors.get(name);
  }

  /** Topics known with partitions. */
  topicNames(): string[] {
    return [...this.#topics.keys()];
  }

  /** Whether `topic` was refreshed within `maxAgeMs` of `now` (its answer may have been an error). */
  isFresh(topic: string, now: number, maxAgeMs: number): boolean {
    const at = this.#refreshedAt.get(topic);
    return at !== undefined && now - at < maxAgeMs;
  }

  brokersFresh(now: number, maxAgeMs: number): boolean {
    return now - this.#brokersRefreshedAt < maxAgeMs;
  }

  /** Forgets when `topic` (or every topic) was refreshed, so the next look asks again. */
  invalidate(topic?: string): void {
    if (topic === undefined) {
      this.#refreshedAt.clear();
      this.#brokersRefreshedAt = Number.NEGATIVE_INFINITY;
    } else {
      this.#refreshedAt.delete(topic);
    }
  }

  /** Merges a metadata answer taken at `now`: the broker list is replaced, the topics named in it too. */
  apply(answer: MetadataResponse, now: number): void {
    this.#clusterId = answer.clusterId;
    this.#brokers.clear();
    for (const broker of answer.brokers) {
      this.#brokers.set(broker.brokerId, {
        brokerId: broker.brokerId,
        origin: originOf(broker.endpoint),
        rack: broker.rack,
      });
    }
    this.#brokersRefreshedAt = now;
    for (const topic of answer.topics) {
      this.#refreshedAt.set(topic.name, now);
      if (topic.error !== undefined || topic.topicId === null) {
        this.#topicErrors.set(topic.name, topic.error ?? unknownTopic(topic.name));
        this.#topics.delete(topic.name);
        continue;
      }
      this.#topicErrors.delete(topic.name);
      const known = this.#topics.get(topic.name);
      const partitions: PartitionInfo[] = [];
      for (const p of [...topic.partitions].sort((a, b) => a.partition - b.partition)) {
        const before = known?.topicId === topic.topicId ? known.partitions[p.partition] : undefined;
        // A lagging broker's answer does not undo a newer leader learnt from a hint.
        if (before !== undefined && before.leaderEpoch > p.leaderEpoch) {
          partitions.push(before);
          continue;
        }
        partitions.push({
          partition: p.partition,
          leader: p.leader,
          leaderEpoch: p.leaderEpoch,
          replicas: p.replicas,
          isr: p.isr,
          offlineReplicas: p.offlineReplicas,
        });
      }
      this.#topics.set(topic.name, { name: topic.name, topicId: topic.topicId, partitions });
    }
  }

  /**
   * A leader named by a NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH answer (KIP-951): taken when
   * it is newer than what is known, so the next request goes straight there. Returns whether it
   * changed anything.
   */
  applyLeaderHint(topic: string, partition: number, hint: CurrentLeader): boolean {
    const known = this.#topics.get(topic);
    const before = known?.partitions[partition];
    if (known === undefined || before === undefined || before.leaderEpoch > hint.leaderEpoch) return false;
    if (before.leaderEpoch === hint.leaderEpoch && before.leader === hint.leaderId) return false;
    if (!this.#brokers.has(hint.leaderId)) {
      this.#brokers.set(hint.leaderId, { brokerId: hint.leaderId, origin: originOf(hint.endpoint), rack: null });
    }
    const partitions = [...known.partitions];
    partitions[partition] = { ...before, leader: hint.leaderId, leaderEpoch: hint.leaderEpoch };
    this.#topics.set(topic, { ...known, partitions });
    return true;
  }

  /**
   * The leader of a partition, or the retriable error that says why there is none to go to:
   * UNKNOWN_TOPIC_OR_PARTITION (the topic or partition is unknown, or was reported in error) or
   * LEADER_NOT_AVAILABLE (an election is under way, or the leader's address is unknown).
   */
  leader(topic: string, partition: number): LeaderInfo {
    const info = this.#topics.get(topic);
    if (info === undefined) {
      const error = this.#topicErrors.get(topic);
      throw error === undefined
        ? new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${topic} is not known to the cluster.`)
        : fromPartitionError(error);
    }
    const p = info.partitions[partition];
    if (p === undefined) {
      throw new MillraceError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `Topic ${topic} has ${info.partitions.length} partitions; there is no partition ${partition}.`,
      );
    }
    const broker = p.leader === null ? undefined : this.#brokers.get(p.leader);
    if (p.leader === null || broker === undefined) {
      throw new MillraceError('LEADER_NOT_AVAILABLE', `${topic}-${partition} has no leader at the moment.`);
    }
    return { brokerId: p.leader, origin: broker.origin, leaderEpoch: p.leaderEpoch };
  }
}

function unknownTopic(topic: string): PartitionError {
  return {
    code: 'UNKNOWN_TOPIC_OR_PARTITION',
    message: `Topic ${topic} does not exist.`,
    retriable: true,
  };
}
