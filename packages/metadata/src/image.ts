import {
  ClusterConfigs,
  type ConfigResource,
  type Endpoint,
  isClusterConfigName,
  isTopicConfigName,
  type MetadataRecord,
  MetadataRecordSchema,
  NO_LEADER,
  type ParsedMetadataRecord,
  TopicConfigDefaultSource,
  TopicConfigs,
} from '@millrace/protocol';

/**
 * The cluster metadata image: what the metadata log says, as of one offset. Every controller and
 * every broker builds one by applying committed records in offset order; two images that applied
 * the same records are equal. Applying never decides anything: records carry their results (new
 * epochs included), and a record that does not fit the image is a bug upstream, so `apply` throws
 * loudly rather than guess.
 *
 * State objects handed out (brokers, partitions) are frozen and replaced, never mutated, so a
 * caller may keep one as a consistent view of that moment.
 */

export interface BrokerRegistration {
  readonly brokerId: number;
  readonly brokerEpoch: number;
  readonly incarnationId: string;
  readonly endpoint: Endpoint;
  readonly rack: string | null;
  /** A fenced broker leads nothing and is in no ISR it was not already in; new brokers start fenced. */
  readonly fenced: boolean;
  readonly inControlledShutdown: boolean;
  /** The offset of the registration record: the broker is caught up once it has applied this far. */
  readonly registeredAtOffset: number;
}

export interface PartitionState {
  readonly topicId: string;
  readonly partition: number;
  /** In preference order: `replicas[0]` is the preferred leader. */
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  /** A broker id, or NO_LEADER (-1) while the partition is offline. */
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
}

export interface TopicState {
  readonly name: string;
  readonly topicId: string;
  /** Indexed by partition number; dense from 0. */
  readonly partitions: readonly PartitionState[];
}

export type ConfigSource = 'topic' | 'cluster' | 'default';
export interface EffectiveConfig {
  readonly name: string;
  readonly value: string;
  /** What applies when the setting is not set at this level. */
  readonly default: string;
  readonly source: ConfigSource;
  readonly doc: string;
}

interface MutableTopic {
  name: string;
  topicId: string;
  partitions: PartitionState[];
}

export class MetadataImage {
  #offset = -1;
  #brokers = new Map<number, BrokerRegistration>();
  #topicsById = new Map<string, MutableTopic>();
  #topicIdsByName = new Map<string, string>();
  #clusterConfigs = new Map<string, string>();
  #topicConfigs = new Map<string, Map<string, string>>();
  #nextProducerId = 0n;
  #maxBrokerEpoch = -1;

  /** The offset of the last record applied; -1 for an empty image. */
  get offset(): number {
    return this.#offset;
  }

  /** The first producer id not yet handed to any broker. */
  get nextProducerId(): bigint {
    return this.#nextProducerId;
  }

  /** The largest broker epoch handed out so far; a new registration takes a larger one. */
  get maxBrokerEpoch(): number {
    return this.#maxBrokerEpoch;
  }

  /** Parses `record` (it comes from a log or a peer) and applies it at `offset`. */
  applyUnchecked(offset: number, record: unknown): void {
    this.apply(offset, MetadataRecordSchema.parse(record));
  }

  apply(offset: number, record: ParsedMetadataRecord): void {
    invariant(Number.isSafeInteger(offset) && offset >= this.#offset, `offset ${offset} after ${this.#offset}`);
    switch (record.type) {
      case 'register-broker': {
        const previous = this.#brokers.get(record.brokerId);
        invariant(
          previous === undefined || record.brokerEpoch > previous.brokerEpoch,
          `broker ${record.brokerId} re-registered with epoch ${record.brokerEpoch} <= ${previous?.brokerEpoch}`,
        );
        this.#brokers.set(
          record.brokerId,
          Object.freeze({
            brokerId: record.brokerId,
            brokerEpoch: record.brokerEpoch,
            incarnationId: record.incarnationId,
            endpoint: Object.freeze({ ...record.endpoint }),
            rack: record.rack,
            fenced: true,
            inControlledShutdown: false,
            registeredAtOffset: offset,
          }),
        );
        this.#maxBrokerEpoch = Math.max(this.#maxBrokerEpoch, record.brokerEpoch);
        break;
      }
      case 'unregister-broker': {
        this.#requireBroker(record.brokerId, record.brokerEpoch);
        this.#brokers.delete(record.brokerId);
        break;
      }
      case 'broker-registration-change': {
        const broker = this.#requireBroker(record.brokerId, record.brokerEpoch);
        this.#brokers.set(
          record.brokerId,
          Object.freeze({
            ...broker,
            fenced: record.fenced ?? broker.fenced,
            inControlledShutdown: record.inControlledShutdown ?? broker.inControlledShutdown,
          }),
        );
        break;
      }
      case 'topic': {
        invariant(!this.#topicIdsByName.has(record.name), `topic ${record.name} already exists`);
        invariant(!this.#topicsById.has(record.topicId), `topic id ${record.topicId} already exists`);
        this.#topicsById.set(record.topicId, { name: record.name, topicId: record.topicId, partitions: [] });
        this.#topicIdsByName.set(record.name, record.topicId);
        break;
      }
      case 'partition': {
        const topic = this.#requireTopic(record.topicId);
        invariant(
          record.partition === topic.partitions.length,
          `partition ${record.partition} of ${topic.name} is not the next (${topic.partitions.length})`,
        );
        const state: PartitionState = Object.freeze({
          topicId: record.topicId,
          partition: record.partition,
          replicas: Object.freeze([...record.replicas]),
          isr: Object.freeze([...record.isr]),
          leader: record.leader,
          leaderEpoch: record.leaderEpoch,
          partitionEpoch: record.partitionEpoch,
        });
        checkPartition(state);
        topic.partitions.push(state);
        break;
      }
      case 'partition-change': {
        const topic = this.#requireTopic(record.topicId);
        const current = topic.partitions[record.partition];
        invariant(current !== undefined, `partition ${record.partition} of ${topic.name} does not exist`);
        const leaderChanged = record.leader !== undefined && record.leader !== current.leader;
        invariant(
          record.partitionEpoch === current.partitionEpoch + 1,
          `partition epoch ${record.partitionEpoch} does not follow ${current.partitionEpoch}`,
        );
        // A new leader always means a new leader epoch; the same leader may keep its epoch (an ISR
        // change) or take a new one (a replica set change, as Kafka bumps it then too).
        const leaderEpochOk = leaderChanged
          ? record.leaderEpoch === current.leaderEpoch + 1
          : record.leaderEpoch === current.leaderEpoch || record.leaderEpoch === current.leaderEpoch + 1;
        invariant(leaderEpochOk, `leader epoch ${record.leaderEpoch} does not follow ${current.leaderEpoch}`);
        const next: PartitionState = Object.freeze({
          ...current,
          replicas: record.replicas === undefined ? current.replicas : Object.freeze([...record.replicas]),
          isr: record.isr === undefined ? current.isr : Object.freeze([...record.isr]),
          leader: record.leader ?? current.leader,
          leaderEpoch: record.leaderEpoch,
          partitionEpoch: record.partitionEpoch,
        });
        checkPartition(next);
        topic.partitions[record.partition] = next;
        break;
      }
      case 'remove-topic': {
        const topic = this.#requireTopic(record.topicId);
        this.#topicsById.delete(record.topicId);
        this.#topicIdsByName.delete(topic.name);
        this.#topicConfigs.delete(topic.name);
        break;
      }
      case 'config': {
        const configs = this.#configMap(record.resource);
        if (record.value === null) configs.delete(record.name);
        else configs.set(record.name, record.value);
        break;
      }
      case 'producer-ids': {
        this.#requireBroker(record.brokerId, record.brokerEpoch);
        invariant(
          record.nextProducerId > this.#nextProducerId,
          `producer ids go back from ${this.#nextProducerId} to ${record.nextProducerId}`,
        );
        this.#nextProducerId = record.nextProducerId;
        break;
      }
    }
    this.#offset = offset;
  }

  broker(brokerId: number): BrokerRegistration | undefined {
    return this.#brokers.get(brokerId);
  }

  /** Every registered broker, by id. */
  brokers(): BrokerRegistration[] {
    return [...this.#brokers.values()].sort((a, b) => a.brokerId - b.brokerId);
  }

  /** A broker that may lead and join ISRs: registered, unfenced and not shutting down. */
  isBrokerUsable(brokerId: number): boolean {
    const broker = this.#brokers.get(brokerId);
    return broker !== undefined && !broker.fenced && !broker.inControlledShutdown;
  }

  topicByName(name: string): TopicState | undefined {
    const topicId = this.#topicIdsByName.get(name);
    return topicId === undefined ? undefined : this.#topicsById.get(topicId);
  }

  topicById(topicId: string): TopicState | undefined {
    return this.#topicsById.get(topicId);
  }

  /** Every topic, by name. */
  topics(): TopicState[] {
    return [...this.#topicsById.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  partition(topicId: string, partition: number): PartitionState | undefined {
    return this.#topicsById.get(topicId)?.partitions[partition];
  }

  /** The value of a cluster setting that was set, if any. */
  clusterConfigOverride(name: string): string | undefined {
    return this.#clusterConfigs.get(name);
  }

  /** The value of a topic setting that was set on the topic, if any. */
  topicConfigOverride(topicName: string, name: string): string | undefined {
    return this.#topicConfigs.get(topicName)?.get(name);
  }

  /** Every cluster setting with its value, default and source. */
  describeClusterConfigs(): EffectiveConfig[] {
    return Object.entries(ClusterConfigs).map(([name, definition]) => {
      const set = this.#clusterConfigs.get(name);
      return {
        name,
        value: set ?? definition.default,
        default: definition.default,
        source: set === undefined ? 'default' : 'cluster',
        doc: definition.doc,
      };
    });
  }

  /** Every topic setting of `topicName` with its value, the default it would fall back to and where the value comes from. */
  describeTopicConfigs(topicName: string): EffectiveConfig[] {
    const overrides = this.#topicConfigs.get(topicName);
    return Object.entries(TopicConfigs).map(([name, definition]) => {
      const clusterName = TopicConfigDefaultSource[name as keyof typeof TopicConfigs];
      const clusterValue = this.#clusterConfigs.get(clusterName);
      const fallback = clusterValue ?? definition.default;
      const set = overrides?.get(name);
      const source: ConfigSource = set !== undefined ? 'topic' : clusterValue !== undefined ? 'cluster' : 'default';
      return { name, value: set ?? fallback, default: fallback, source, doc: definition.doc };
    });
  }

  /** The value of one topic setting in force for `topicName`. */
  topicConfig(topicName: string, name: keyof typeof TopicConfigs): string {
    const set = this.#topicConfigs.get(topicName)?.get(name);
    if (set !== undefined) return set;
    return this.#clusterConfigs.get(TopicConfigDefaultSource[name]) ?? TopicConfigs[name].default;
  }

  /** The value of one cluster setting in force. */
  clusterConfig(name: keyof typeof ClusterConfigs): string {
    return this.#clusterConfigs.get(name) ?? ClusterConfigs[name].default;
  }

  /**
   * The records that rebuild this image from nothing (a snapshot is records too, as KRaft's). The
   * offsets of the original records are not kept: loaded from a snapshot, every broker's
   * registration offset is the snapshot's, which only makes "caught up" stricter.
   */
  toRecords(): MetadataRecord[] {
    const records: MetadataRecord[] = [];
    for (const broker of this.brokers()) {
      const { brokerId, brokerEpoch, incarnationId, endpoint, rack } = broker;
      records.push({ type: 'register-broker', version: 1, brokerId, brokerEpoch, incarnationId, endpoint, rack });
      records.push({
        type: 'broker-registration-change',
        version: 1,
        brokerId,
        brokerEpoch,
        fenced: broker.fenced,
        inControlledShutdown: broker.inControlledShutdown,
      });
    }
    for (const [name, value] of this.#clusterConfigs) {
      records.push({ type: 'config', version: 1, resource: { type: 'cluster' }, name, value });
    }
    for (const topic of this.topics()) {
      records.push({ type: 'topic', version: 1, name: topic.name, topicId: topic.topicId });
      for (const [name, value] of this.#topicConfigs.get(topic.name) ?? []) {
        records.push({ type: 'config', version: 1, resource: { type: 'topic', name: topic.name }, name, value });
      }
      for (const p of topic.partitions) {
        records.push({
          type: 'partition',
          version: 1,
          topicId: p.topicId,
          partition: p.partition,
          replicas: [...p.replicas],
          isr: [...p.isr],
          leader: p.leader,
          leaderEpoch: p.leaderEpoch,
          partitionEpoch: p.partitionEpoch,
        });
      }
    }
    const holder = this.brokers()[0];
    if (this.#nextProducerId > 0n && holder !== undefined) {
      records.push({
        type: 'producer-ids',
        version: 1,
        brokerId: holder.brokerId,
        brokerEpoch: holder.brokerEpoch,
        nextProducerId: this.#nextProducerId.toString(),
      });
    }
    return records;
  }

  /** Builds an image from a snapshot's records, as of `offset`. */
  static fromSnapshot(offset: number, records: readonly unknown[]): MetadataImage {
    const image = new MetadataImage();
    for (const record of records) image.applyUnchecked(offset, record);
    image.#offset = offset;
    return image;
  }

  /** An independent copy: the active controller decides on a copy that includes records not yet committed. */
  clone(): MetadataImage {
    const copy = new MetadataImage();
    copy.#offset = this.#offset;
    copy.#brokers = new Map(this.#brokers);
    for (const [id, topic] of this.#topicsById)
      copy.#topicsById.set(id, { ...topic, partitions: [...topic.partitions] });
    copy.#topicIdsByName = new Map(this.#topicIdsByName);
    copy.#clusterConfigs = new Map(this.#clusterConfigs);
    for (const [name, configs] of this.#topicConfigs) copy.#topicConfigs.set(name, new Map(configs));
    copy.#nextProducerId = this.#nextProducerId;
    copy.#maxBrokerEpoch = this.#maxBrokerEpoch;
    return copy;
  }

  #requireBroker(brokerId: number, brokerEpoch: number): BrokerRegistration {
    const broker = this.#brokers.get(brokerId);
    invariant(broker !== undefined, `broker ${brokerId} is not registered`);
    invariant(
      broker.brokerEpoch === brokerEpoch,
      `broker ${brokerId} epoch ${brokerEpoch} is not ${broker.brokerEpoch}`,
    );
    return broker;
  }

  #requireTopic(topicId: string): MutableTopic {
    const topic = this.#topicsById.get(topicId);
    invariant(topic !== undefined, `topic id ${topicId} does not exist`);
    return topic;
  }

  #configMap(resource: ConfigResource): Map<string, string> {
    if (resource.type === 'cluster') return this.#clusterConfigs;
    invariant(this.#topicIdsByName.has(resource.name), `config for unknown topic ${resource.name}`);
    let configs = this.#topicConfigs.get(resource.name);
    if (configs === undefined) {
      configs = new Map();
      this.#topicConfigs.set(resource.name, configs);
    }
    return configs;
  }
}

/** The rules every partition state obeys. */
function checkPartition(state: PartitionState): void {
  const where = `partition ${state.partition} of topic ${state.topicId}`;
  invariant(new Set(state.replicas).size === state.replicas.length, `${where}: duplicate replicas`);
  invariant(new Set(state.isr).size === state.isr.length, `${where}: duplicate ISR members`);
  invariant(
    state.isr.every((id) => state.replicas.includes(id)),
    `${where}: ISR ${state.isr} is not within replicas ${state.replicas}`,
  );
  invariant(
    state.leader === NO_LEADER || state.isr.includes(state.leader),
    `${where}: leader ${state.leader} is not in the ISR ${state.isr}`,
  );
}

export function isKnownConfig(resource: ConfigResource, name: string): boolean {
  return resource.type === 'cluster' ? isClusterConfigName(name) : isTopicConfigName(name);
}

/** A broken invariant is a bug: it stops the node loudly rather than let it serve a wrong image. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`metadata invariant broken: ${message}`);
}
