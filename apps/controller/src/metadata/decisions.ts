import type { BrokerRegistration, MetadataImage, PartitionState, TopicState } from '@millrace/metadata';
import {
  type AlterPartitionRequestSchema,
  type AlterPartitionResponseSchema,
  type BrokerHeartbeatRequestSchema,
  type BrokerRegistrationRequestSchema,
  type ConfigResource,
  type CreateTopicRequestSchema,
  isClusterConfigName,
  isTopicConfigName,
  type MetadataRecord,
  MillraceError,
  NO_LEADER,
  normalizeConfigValue,
  OFFSETS_TOPIC,
  type PartitionError,
  type TopicPartition,
  toPartitionError,
} from '@millrace/protocol';
import type { z } from 'zod';
import { buildPartitionChange, uncleanElectionAllowed } from './partition-change.js';
import { placeReplicas } from './placement.js';

/**
 * The active controller's decisions. Each is a pure function of the metadata image (the
 * committed image plus any records proposed but not yet committed) and the request: it either
 * throws a typed error and proposes nothing, or returns the records to propose and the answer to
 * give once they commit. Nothing here does I/O, reads a clock or draws randomness of its own.
 */
export interface Decision<T> {
  readonly records: MetadataRecord[];
  readonly result: T;
}

export interface DecisionContext {
  /** Uniform in [0, 1): placement's random start. */
  readonly random: () => number;
  /** A new topic id (a random UUID in production). */
  readonly newTopicId: () => string;
}

/** The context of a running controller: real randomness and random UUIDs (tests pass seeded ones). */
export const liveContext = (): DecisionContext => ({ random: Math.random, newTopicId: () => crypto.randomUUID() });

// ---------------------------------------------------------------------------------------------
// Topics

type CreateTopicRequest = z.output<typeof CreateTopicRequestSchema>;

export function createTopic(
  image: MetadataImage,
  request: CreateTopicRequest,
  context: DecisionContext,
  { internal = false }: { internal?: boolean } = {},
): Decision<TopicState> {
  if (!internal && request.name === OFFSETS_TOPIC) {
    throw new MillraceError(
      'INVALID_TOPIC_EXCEPTION',
      `"${OFFSETS_TOPIC}" is the consumer groups' internal topic; it is created when a group first needs it.`,
    );
  }
  if (image.topicByName(request.name) !== undefined) {
    throw new MillraceError('TOPIC_ALREADY_EXISTS', `Topic "${request.name}" already exists.`);
  }
  const configs = normalizeConfigs('topic', request.configs ?? {});
  const assignment = request.replicaAssignment ?? placeNewPartitions(image, request, context);
  if (request.replicaAssignment !== undefined) checkAssignment(image, request.replicaAssignment);

  const topicId = context.newTopicId();
  const records: MetadataRecord[] = [{ type: 'topic', version: 1, name: request.name, topicId }];
  for (const [name, value] of configs) {
    records.push({ type: 'config', version: 1, resource: { type: 'topic', name: request.name }, name, value });
  }
  assignment.forEach((replicas, partition) => {
    records.push(newPartitionRecord(image, topicId, partition, replicas));
  });
  return { records, result: applied(image, records).topicByName(request.name) as TopicState };
}

/**
 * Creates `__consumer_offsets` if it does not exist (Kafka creates it on the first coordinator
 * lookup): `offsets.topic.num.partitions` partitions, replication factor
 * `offsets.topic.replication.factor` (refused with INVALID_REPLICATION_FACTOR while fewer brokers
 * are alive), `min.insync.replicas` 2 when the factor allows it, and no retention: committed offsets
 * and group state must outlive any time limit (Kafka compacts this topic instead).
 */
export function createOffsetsTopic(image: MetadataImage, context: DecisionContext): Decision<TopicState> {
  const existing = image.topicByName(OFFSETS_TOPIC);
  if (existing !== undefined) return { records: [], result: existing };
  const replicationFactor = Number(image.clusterConfig('offsets.topic.replication.factor'));
  return createTopic(
    image,
    {
      name: OFFSETS_TOPIC,
      partitions: Number(image.clusterConfig('offsets.topic.num.partitions')),
      replicationFactor,
      configs: {
        'min.insync.replicas': String(Math.min(2, replicationFactor)),
        'retention.ms': '-1',
        'retention.bytes': '-1',
      },
    },
    context,
    { internal: true },
  );
}

function placeNewPartitions(image: MetadataImage, request: CreateTopicRequest, context: DecisionContext): number[][] {
  const partitions = request.partitions ?? Number(image.clusterConfig('num.partitions'));
  const replicationFactor = request.replicationFactor ?? Number(image.clusterConfig('default.replication.factor'));
  return place(image, partitions, replicationFactor, 0, context);
}

function place(
  image: MetadataImage,
  partitions: number,
  replicationFactor: number,
  firstPartition: number,
  context: DecisionContext,
): number[][] {
  const usable = image.brokers().filter((b) => image.isBrokerUsable(b.brokerId));
  if (replicationFactor > usable.length) {
    throw new MillraceError(
      'INVALID_REPLICATION_FACTOR',
      `Replication factor ${replicationFactor} is larger than the ${usable.length} live broker${usable.length === 1 ? '' : 's'}.`,
      { details: { replicationFactor, liveBrokers: usable.length } },
    );
  }
  return placeReplicas({ brokers: usable, partitions, replicationFactor, firstPartition, random: context.random });
}

/** An explicit assignment: every broker registered, no duplicates, one replication factor, a live replica each. */
function checkAssignment(image: MetadataImage, assignment: readonly (readonly number[])[]): void {
  const fail = (message: string): never => {
    throw new MillraceError('INVALID_REPLICA_ASSIGNMENT', message);
  };
  const rf = assignment[0]?.length ?? 0;
  assignment.forEach((replicas, partition) => {
    if (replicas.length !== rf) fail(`Partition ${partition} has ${replicas.length} replicas; partition 0 has ${rf}.`);
    if (new Set(replicas).size !== replicas.length) fail(`Partition ${partition} lists a broker twice: ${replicas}.`);
    for (const id of replicas) {
      if (image.broker(id) === undefined) fail(`Partition ${partition}: broker ${id} is not registered.`);
    }
    if (!replicas.some((id) => image.isBrokerUsable(id))) {
      fail(`Partition ${partition}: every replica (${replicas}) is fenced or shutting down.`);
    }
  });
}

/** A new partition's ISR is its usable replicas; the first of them in replica order leads. */
function newPartitionRecord(
  image: MetadataImage,
  topicId: string,
  partition: number,
  replicas: readonly number[],
): MetadataRecord {
  const isr = replicas.filter((id) => image.isBrokerUsable(id));
  return {
    type: 'partition',
    version: 1,
    topicId,
    partition,
    replicas: [...replicas],
    isr,
    leader: isr[0] ?? NO_LEADER,
    leaderEpoch: 0,
    partitionEpoch: 0,
  };
}

/** Grows a topic to `totalCount` partitions with the replication factor it has (Kafka's CreatePartitions). */
export function createPartitions(
  image: MetadataImage,
  topicName: string,
  totalCount: number,
  context: DecisionContext,
): Decision<TopicState> {
  const topic = requireTopic(image, topicName);
  const current = topic.partitions.length;
  if (totalCount <= current) {
    throw new MillraceError(
      'INVALID_PARTITIONS',
      `Topic "${topicName}" has ${current} partitions; the new total must be larger, not ${totalCount}.`,
    );
  }
  const rf = topic.partitions[0]?.replicas.length ?? 1;
  const assignment = place(image, totalCount - current, rf, current, context);
  const records = assignment.map((replicas, i) => newPartitionRecord(image, topic.topicId, current + i, replicas));
  return { records, result: applied(image, records).topicByName(topicName) as TopicState };
}

export function deleteTopic(image: MetadataImage, topicName: string): Decision<TopicState> {
  if (topicName === OFFSETS_TOPIC) {
    throw new MillraceError(
      'INVALID_TOPIC_EXCEPTION',
      `"${OFFSETS_TOPIC}" holds every consumer group's committed offsets; it cannot be deleted.`,
    );
  }
  const topic = requireTopic(image, topicName);
  return { records: [{ type: 'remove-topic', version: 1, topicId: topic.topicId }], result: topic };
}

function requireTopic(image: MetadataImage, topicName: string): TopicState {
  const topic = image.topicByName(topicName);
  if (topic === undefined) {
    throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${topicName}" does not exist.`);
  }
  return topic;
}

// ---------------------------------------------------------------------------------------------
// Configs

function normalizeConfigs(scope: 'topic' | 'cluster', configs: Readonly<Record<string, string | number | boolean>>) {
  return Object.entries(configs).map(([name, value]) => [name, normalizeConfigValue(scope, name, value)] as const);
}

/**
 * Kafka's IncrementalAlterConfigs: set some settings and delete others (their default applies
 * again). Turning unclean election on also elects leaders for the partitions it affects that are
 * offline, as Kafka does when the setting changes.
 */
export function alterConfigs(
  image: MetadataImage,
  resource: ConfigResource,
  change: { readonly set?: Readonly<Record<string, string | number | boolean>>; readonly delete?: readonly string[] },
): Decision<void> {
  if (resource.type === 'topic') requireTopic(image, resource.name);
  const scope = resource.type;
  const records: MetadataRecord[] = normalizeConfigs(scope, change.set ?? {}).map(([name, value]) => ({
    type: 'config',
    version: 1,
    resource,
    name,
    value,
  }));
  for (const name of change.delete ?? []) {
    const known = scope === 'topic' ? isTopicConfigName(name) : isClusterConfigName(name);
    if (!known)
      throw new MillraceError('INVALID_CONFIG', `Unknown ${scope} config "${name}".`, { details: { config: name } });
    if (change.set !== undefined && Object.hasOwn(change.set, name)) {
      throw new MillraceError('INVALID_CONFIG', `Config "${name}" is both set and deleted.`, {
        details: { config: name },
      });
    }
    records.push({ type: 'config', version: 1, resource, name, value: null });
  }
  const after = applied(image, records);
  const topics = resource.type === 'topic' ? [requireTopic(after, resource.name)] : after.topics();
  records.push(...electOffline(after, topics));
  return { records, result: undefined };
}

// ---------------------------------------------------------------------------------------------
// Brokers

type RegistrationRequest = z.output<typeof BrokerRegistrationRequestSchema>;

export interface RegistrationContext {
  readonly clusterId: string;
  /** Whether the broker's current registration still has a live session (heartbeats within the timeout). */
  readonly sessionAlive: (brokerId: number) => boolean;
}

/**
 * A broker registers at every start and gets a new broker epoch. A retry of the same registration
 * (same incarnation) gets the same epoch. Another incarnation of a broker whose session is still
 * alive is refused: two processes must not serve as one broker. A restarted broker whose old
 * session is over is fenced out of its old leaderships first, then registered anew, fenced until
 * it has caught up on metadata.
 */
export function registerBroker(
  image: MetadataImage,
  request: RegistrationRequest,
  context: RegistrationContext,
): Decision<{ brokerEpoch: number }> {
  if (request.clusterId !== context.clusterId) {
    throw new MillraceError(
      'INCONSISTENT_CLUSTER_ID',
      `Broker ${request.brokerId} belongs to cluster "${request.clusterId}", not "${context.clusterId}".`,
    );
  }
  const existing = image.broker(request.brokerId);
  if (existing?.incarnationId === request.incarnationId) {
    return { records: [], result: { brokerEpoch: existing.brokerEpoch } };
  }
  if (existing !== undefined && !existing.fenced && context.sessionAlive(existing.brokerId)) {
    throw new MillraceError(
      'DUPLICATE_BROKER_REGISTRATION',
      `Broker ${request.brokerId} is registered by another live process; it may register once that one's session expires.`,
    );
  }
  const records = existing === undefined ? [] : fenceBroker(image, existing.brokerId).records;
  const brokerEpoch = image.maxBrokerEpoch + 1;
  records.push({
    type: 'register-broker',
    version: 1,
    brokerId: request.brokerId,
    brokerEpoch,
    incarnationId: request.incarnationId,
    endpoint: request.endpoint,
    rack: request.rack,
  });
  return { records, result: { brokerEpoch } };
}

type HeartbeatRequest = z.output<typeof BrokerHeartbeatRequestSchema>;

export interface HeartbeatResult {
  readonly isCaughtUp: boolean;
  readonly isFenced: boolean;
  readonly shouldShutDown: boolean;
}

/**
 * A heartbeat from a registered broker. A fenced broker that has caught up on metadata (applied
 * its own registration) and does not ask to stay fenced is unfenced, and partitions that were
 * offline for want of it get a leader. A broker that asks to shut down enters controlled shutdown:
 * its leaderships move to other ISR members and it leaves the ISRs; once it leads nothing it is
 * told it may stop, and is fenced so that nothing waits for its session to expire.
 */
export function heartbeat(image: MetadataImage, request: HeartbeatRequest): Decision<HeartbeatResult> {
  const broker = requireBroker(image, request.brokerId, request.brokerEpoch);
  const isCaughtUp = request.metadataOffset >= broker.registeredAtOffset;
  const records: MetadataRecord[] = [];
  const id = broker.brokerId;
  const epoch = broker.brokerEpoch;

  if (request.wantShutDown) {
    if (!broker.inControlledShutdown) {
      records.push({
        type: 'broker-registration-change',
        version: 1,
        brokerId: id,
        brokerEpoch: epoch,
        inControlledShutdown: true,
      });
      records.push(...moveAwayFrom(applied(image, records), id));
    }
    const after = applied(image, records);
    const leadsNothing = allPartitions(after).every((p) => p.leader !== id);
    if (leadsNothing && !after.broker(id)?.fenced) {
      records.push({ type: 'broker-registration-change', version: 1, brokerId: id, brokerEpoch: epoch, fenced: true });
    }
    return { records, result: { isCaughtUp, isFenced: leadsNothing || broker.fenced, shouldShutDown: leadsNothing } };
  }
  if (broker.fenced && !request.wantFence && isCaughtUp) {
    records.push({ type: 'broker-registration-change', version: 1, brokerId: id, brokerEpoch: epoch, fenced: false });
    const after = applied(image, records);
    records.push(...electOffline(after, after.topics()));
    return { records, result: { isCaughtUp, isFenced: false, shouldShutDown: false } };
  }
  if (!broker.fenced && request.wantFence) {
    const fence = fenceBroker(image, id);
    return { records: fence.records, result: { isCaughtUp, isFenced: true, shouldShutDown: false } };
  }
  return { records, result: { isCaughtUp, isFenced: broker.fenced, shouldShutDown: false } };
}

/**
 * Fences a broker (its session expired, or it asked): it leaves every ISR it is in, except where
 * it is the last member, and every partition it led gets a new leader from the rest of the ISR, or
 * goes offline, or (with unclean election allowed) gets a live replica from outside the ISR.
 */
export function fenceBroker(image: MetadataImage, brokerId: number): Decision<void> {
  const broker = image.broker(brokerId);
  if (broker === undefined || broker.fenced) return { records: [], result: undefined };
  const records: MetadataRecord[] = [
    { type: 'broker-registration-change', version: 1, brokerId, brokerEpoch: broker.brokerEpoch, fenced: true },
  ];
  records.push(...moveAwayFrom(applied(image, records), brokerId));
  return { records, result: undefined };
}

/** Partition changes that take `brokerId` out of every ISR and leadership (it is fenced or shutting down in `image`). */
function moveAwayFrom(image: MetadataImage, brokerId: number): MetadataRecord[] {
  const records: MetadataRecord[] = [];
  for (const topic of image.topics()) {
    for (const partition of topic.partitions) {
      if (!partition.isr.includes(brokerId) && partition.leader !== brokerId) continue;
      const change = buildPartitionChange(image, partition, {
        targetIsr: partition.isr.filter((id) => id !== brokerId),
        uncleanElectionAllowed: uncleanElectionAllowed(image, topic.name),
      });
      if (change !== undefined) records.push(change);
    }
  }
  return records;
}

/** Leaders for offline partitions of `topics` that now have a usable ISR member (or, if allowed, any usable replica). */
function electOffline(image: MetadataImage, topics: readonly TopicState[]): MetadataRecord[] {
  const records: MetadataRecord[] = [];
  for (const topic of topics) {
    const unclean = uncleanElectionAllowed(image, topic.name);
    for (const partition of topic.partitions) {
      if (partition.leader !== NO_LEADER) continue;
      const change = buildPartitionChange(image, partition, { uncleanElectionAllowed: unclean });
      if (change !== undefined) records.push(change);
    }
  }
  return records;
}

export function requireBroker(image: MetadataImage, brokerId: number, brokerEpoch: number): BrokerRegistration {
  const broker = image.broker(brokerId);
  if (broker === undefined) {
    throw new MillraceError('BROKER_ID_NOT_REGISTERED', `Broker ${brokerId} is not registered.`);
  }
  if (broker.brokerEpoch !== brokerEpoch) {
    throw new MillraceError(
      'STALE_BROKER_EPOCH',
      `Broker ${brokerId}'s epoch is ${broker.brokerEpoch}, not ${brokerEpoch}: re-register.`,
      { details: { brokerEpoch: broker.brokerEpoch } },
    );
  }
  return broker;
}

/** A block of producer ids for a broker to hand to idempotent producers. */
export const PRODUCER_ID_BLOCK_SIZE = 1000;

export function allocateProducerIds(
  image: MetadataImage,
  brokerId: number,
  brokerEpoch: number,
): Decision<{ firstProducerId: bigint; count: number }> {
  requireBroker(image, brokerId, brokerEpoch);
  const firstProducerId = image.nextProducerId;
  const next = firstProducerId + BigInt(PRODUCER_ID_BLOCK_SIZE);
  return {
    records: [{ type: 'producer-ids', version: 1, brokerId, brokerEpoch, nextProducerId: next.toString() }],
    result: { firstProducerId, count: PRODUCER_ID_BLOCK_SIZE },
  };
}

// ---------------------------------------------------------------------------------------------
// Partitions

type AlterPartitionRequest = z.output<typeof AlterPartitionRequestSchema>;
type AlterPartitionResponse = z.input<typeof AlterPartitionResponseSchema>;

/**
 * ISR changes from partition leaders. The request must come from the current leader, in the
 * current leader epoch, based on the current partition epoch (so two leaders' views can never
 * both apply); an ISR may only grow with usable replicas, and always holds the leader. Each
 * partition is answered on its own: one refused partition does not fail the others.
 */
export function alterPartition(image: MetadataImage, request: AlterPartitionRequest): Decision<AlterPartitionResponse> {
  requireBroker(image, request.brokerId, request.brokerEpoch);
  const records: MetadataRecord[] = [];
  const topics: AlterPartitionResponse['topics'] = request.topics.map(({ topicId, partitions }) => ({
    topicId,
    partitions: partitions.map((item) => {
      const current = image.partition(topicId, item.partition);
      try {
        const partition = checkAlterPartition(image, request.brokerId, topicId, item, current);
        const change = buildPartitionChange(image, partition, {
          targetIsr: item.newIsr,
          uncleanElectionAllowed: false,
        });
        if (change === undefined) return partitionAnswer(partition);
        records.push(change);
        return partitionAnswer(afterChange(partition, change));
      } catch (error) {
        return { ...partitionAnswer(current), error: partitionError(error) };
      }
    }),
  }));
  return { records, result: { topics } };
}

function checkAlterPartition(
  image: MetadataImage,
  brokerId: number,
  topicId: string,
  item: AlterPartitionRequest['topics'][number]['partitions'][number],
  partition: PartitionState | undefined,
): PartitionState {
  if (image.topicById(topicId) === undefined) {
    throw new MillraceError('UNKNOWN_TOPIC_ID', `Topic id ${topicId} does not exist.`);
  }
  if (partition === undefined) {
    throw new MillraceError(
      'UNKNOWN_TOPIC_OR_PARTITION',
      `Partition ${item.partition} of topic ${topicId} does not exist.`,
    );
  }
  if (item.leaderEpoch < partition.leaderEpoch) {
    throw new MillraceError(
      'FENCED_LEADER_EPOCH',
      `Leader epoch ${item.leaderEpoch} is older than ${partition.leaderEpoch}.`,
    );
  }
  if (item.leaderEpoch > partition.leaderEpoch) {
    throw new MillraceError(
      'UNKNOWN_LEADER_EPOCH',
      `Leader epoch ${item.leaderEpoch} is newer than ${partition.leaderEpoch}.`,
    );
  }
  if (partition.leader !== brokerId) {
    throw new MillraceError('NOT_LEADER_OR_FOLLOWER', `Broker ${brokerId} does not lead partition ${item.partition}.`);
  }
  if (item.partitionEpoch !== partition.partitionEpoch) {
    throw new MillraceError(
      'INVALID_UPDATE_VERSION',
      `Partition epoch ${item.partitionEpoch} is not the current ${partition.partitionEpoch}.`,
    );
  }
  if (new Set(item.newIsr).size !== item.newIsr.length) {
    throw new MillraceError('INVALID_REQUEST', `The new ISR ${item.newIsr} lists a broker twice.`);
  }
  if (!item.newIsr.includes(brokerId)) {
    throw new MillraceError('INVALID_REQUEST', `The new ISR ${item.newIsr} does not hold the leader ${brokerId}.`);
  }
  for (const id of item.newIsr) {
    if (!partition.replicas.includes(id)) {
      throw new MillraceError('INELIGIBLE_REPLICA', `Broker ${id} is not a replica of partition ${item.partition}.`);
    }
    if (!partition.isr.includes(id) && !image.isBrokerUsable(id)) {
      throw new MillraceError('INELIGIBLE_REPLICA', `Broker ${id} is fenced or shutting down and cannot join the ISR.`);
    }
  }
  return partition;
}

/** The partition as `change` leaves it, without cloning the whole image. */
function afterChange(partition: PartitionState, change: MetadataRecord): PartitionState {
  if (change.type !== 'partition-change') return partition;
  return {
    ...partition,
    isr: change.isr ?? partition.isr,
    leader: change.leader ?? partition.leader,
    leaderEpoch: change.leaderEpoch,
    partitionEpoch: change.partitionEpoch,
  };
}

function partitionAnswer(partition: PartitionState | undefined) {
  return {
    partition: partition?.partition ?? 0,
    leader: partition?.leader ?? NO_LEADER,
    leaderEpoch: partition?.leaderEpoch ?? 0,
    partitionEpoch: partition?.partitionEpoch ?? 0,
    isr: [...(partition?.isr ?? [])],
  };
}

function partitionError(error: unknown): PartitionError {
  return toPartitionError(error);
}

export interface ElectionResult extends TopicPartition {
  readonly error?: PartitionError;
}

/**
 * Preferred leader election: each partition's first replica leads again if it is usable and in
 * the ISR. Without a list, every partition is considered and those that need nothing are left
 * out of the answer; with a list, each partition listed is answered (ELECTION_NOT_NEEDED,
 * PREFERRED_LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION).
 */
export function electPreferredLeaders(
  image: MetadataImage,
  partitions?: readonly TopicPartition[],
): Decision<ElectionResult[]> {
  const records: MetadataRecord[] = [];
  const results: ElectionResult[] = [];
  const targets =
    partitions ??
    image.topics().flatMap((topic) => topic.partitions.map((p) => ({ topic: topic.name, partition: p.partition })));
  for (const target of targets) {
    const topic = image.topicByName(target.topic);
    const partition = topic?.partitions[target.partition];
    const fail = (error: MillraceError) => {
      if (partitions !== undefined) results.push({ ...target, error: partitionError(error) });
    };
    if (topic === undefined || partition === undefined) {
      fail(new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `${target.topic}-${target.partition} does not exist.`));
      continue;
    }
    const preferred = partition.replicas[0] as number;
    if (partition.leader === preferred) {
      fail(
        new MillraceError(
          'ELECTION_NOT_NEEDED',
          `Broker ${preferred} already leads ${target.topic}-${target.partition}.`,
        ),
      );
      continue;
    }
    const change = buildPartitionChange(image, partition, { preferredElection: true, uncleanElectionAllowed: false });
    const leader = change?.type === 'partition-change' ? change.leader : undefined;
    if (change === undefined || leader !== preferred) {
      fail(
        new MillraceError(
          'PREFERRED_LEADER_NOT_AVAILABLE',
          `Broker ${preferred}, the preferred leader of ${target.topic}-${target.partition}, is not alive or not in the ISR.`,
        ),
      );
      continue;
    }
    records.push(change);
    results.push({ ...target });
  }
  return { records, result: results };
}

// ---------------------------------------------------------------------------------------------

function allPartitions(image: MetadataImage): PartitionState[] {
  return image.topics().flatMap((topic) => [...topic.partitions]);
}

/** A copy of `image` with `records` applied, to decide the next step on, or to answer with. */
function applied(image: MetadataImage, records: readonly MetadataRecord[]): MetadataImage {
  if (records.length === 0) return image;
  const copy = image.clone();
  for (const record of records) copy.applyUnchecked(copy.offset, record);
  return copy;
}
