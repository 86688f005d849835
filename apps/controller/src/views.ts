import type { BrokerRegistration, MetadataImage, PartitionState, TopicState } from '@millrace/metadata';
import {
  type BrokerDescription,
  type ClusterHealth,
  NO_LEADER,
  type PartitionDescription,
  type TopicDescription,
  type TopicPartition,
} from '@millrace/protocol';

/** Pure views of the image in the admin API's shapes. */

export function describeBroker(broker: BrokerRegistration): BrokerDescription {
  return {
    brokerId: broker.brokerId,
    brokerEpoch: broker.brokerEpoch,
    endpoint: { ...broker.endpoint },
    rack: broker.rack,
    state: broker.inControlledShutdown ? 'controlled-shutdown' : broker.fenced ? 'fenced' : 'alive',
  };
}

export function describePartition(image: MetadataImage, p: PartitionState): PartitionDescription {
  return {
    partition: p.partition,
    leader: p.leader === NO_LEADER ? null : p.leader,
    leaderEpoch: p.leaderEpoch,
    partitionEpoch: p.partitionEpoch,
    replicas: [...p.replicas],
    isr: [...p.isr],
    offlineReplicas: p.replicas.filter((id) => !image.isBrokerUsable(id)),
  };
}

/** Topics whose names start with `__` are Millrace's own, as Kafka's `__consumer_offsets`. */
export function isInternalTopic(name: string): boolean {
  return name.startsWith('__');
}

export function describeTopic(image: MetadataImage, topic: TopicState): TopicDescription {
  return {
    name: topic.name,
    topicId: topic.topicId,
    internal: isInternalTopic(topic.name),
    partitions: topic.partitions.map((p) => describePartition(image, p)),
  };
}

export function summarizeTopic(topic: TopicState) {
  return {
    name: topic.name,
    topicId: topic.topicId,
    partitions: topic.partitions.length,
    replicationFactor: topic.partitions[0]?.replicas.length ?? 0,
    internal: isInternalTopic(topic.name),
  };
}

/** Healthy means: an active controller, no fenced broker, and every partition led and fully in sync. */
export function clusterHealth(image: MetadataImage, activeControllerId: number | null): ClusterHealth {
  const offline: TopicPartition[] = [];
  const underReplicated: TopicPartition[] = [];
  const underMinIsr: TopicPartition[] = [];
  for (const topic of image.topics()) {
    const minIsr = Number(image.topicConfig(topic.name, 'min.insync.replicas'));
    for (const p of topic.partitions) {
      const tp = { topic: topic.name, partition: p.partition };
      if (p.leader === NO_LEADER) offline.push(tp);
      if (p.isr.length < p.replicas.length) underReplicated.push(tp);
      if (p.isr.length < minIsr) underMinIsr.push(tp);
    }
  }
  const brokers = image.brokers();
  const fenced = brokers.filter((b) => b.fenced).map((b) => b.brokerId);
  const reasons: string[] = [];
  if (activeControllerId === null) reasons.push('No controller is active: the quorum has no leader.');
  if (fenced.length > 0)
    reasons.push(`Broker${fenced.length > 1 ? 's' : ''} ${fenced.join(', ')} fenced (down or not caught up).`);
  if (offline.length > 0)
    reasons.push(`${offline.length} partition${offline.length > 1 ? 's' : ''} offline (no leader).`);
  if (underReplicated.length > 0)
    reasons.push(`${underReplicated.length} partition${underReplicated.length > 1 ? 's' : ''} under-replicated.`);
  if (underMinIsr.length > 0)
    reasons.push(
      `${underMinIsr.length} partition${underMinIsr.length > 1 ? 's' : ''} below min.insync.replicas: acks=all writes are refused there.`,
    );
  return {
    healthy: reasons.length === 0,
    reasons,
    activeControllerId,
    brokersAlive: brokers.length - fenced.length,
    brokersFenced: fenced,
    offlinePartitions: offline,
    underReplicatedPartitions: underReplicated,
    underMinIsrPartitions: underMinIsr,
  };
}
