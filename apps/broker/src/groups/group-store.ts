import { MillraceError } from '@millrace/protocol';
import { assignPartitions } from './assignor.js';
import {
  fromJson,
  intersect,
  isEmpty,
  minus,
  NO_PARTITIONS,
  overlaps,
  type Partitions,
  samePartitions,
  type TopicPartitionsJson,
  toJson,
  union,
} from './partitions.js';
import type { CurrentValue, GroupRecord, MemberState, MemberValue } from './records.js';

/**
 * The consumer groups of one partition of `__consumer_offsets`, as its coordinator keeps them:
 * the model of Kafka's new consumer group protocol (KIP-848), pure. No I/O, no clock (time is an
 * argument), no randomness (members bring their own ids).
 *
 * Contract: every operation that changes something returns the records of the change and has
 * already applied them, by `replay`, exactly as a load from the log would. The caller writes them
 * to the log (acks=all) before it answers; if the write fails, the caller must throw this store
 * away and load the partition again, because the store now holds changes the log does not.
 *
 * The invariant the tests hold it to: a partition is never in two members' `assigned` or
 * `pendingRevocation` at once. A member is given a partition only when no other member holds it,
 * and a member gives one up by first being told to revoke it and then confirming (its next
 * heartbeat's `ownedPartitions` no longer has it), or by leaving or being removed.
 */

export interface GroupSettings {
  /** A member not heard from for this long is removed (Kafka's `group.consumer.session.timeout.ms`). */
  readonly sessionTimeoutMs: number;
  /** How often members heartbeat (Kafka's `group.consumer.heartbeat.interval.ms`). */
  readonly heartbeatIntervalMs: number;
  /** Most members in one group (Kafka's `group.consumer.max.size`). */
  readonly maxSize: number;
}

/** The metadata the coordinator resolves subscriptions against. */
export interface TopicsView {
  topic(name: string): { readonly topicId: string; readonly partitions: number } | undefined;
}

export interface HeartbeatRequest {
  readonly groupId: string;
  /** Chosen by the member (a UUID), the same for its whole life, and sent on the join too. */
  readonly memberId: string;
  /** 0 to join, -1 to leave, otherwise the epoch the coordinator last gave the member. */
  readonly memberEpoch: number;
  /** Needed on a join; otherwise only when it changed. */
  readonly subscribedTopicNames?: readonly string[] | undefined;
  readonly rebalanceTimeoutMs?: number | undefined;
  /** The partitions the member owns now (it has revoked what it was told to). */
  readonly ownedPartitions?: readonly TopicPartitionsJson[] | undefined;
  readonly clientId?: string | undefined;
  readonly clientHost?: string | undefined;
}

export interface HeartbeatResponse {
  readonly memberId: string;
  /** -1 after a leave. */
  readonly memberEpoch: number;
  readonly heartbeatIntervalMs: number;
  /** What the member may own now: it revokes what it owns beyond this, and starts what is new. */
  readonly assignment: TopicPartitionsJson[];
}

export interface OffsetCommitRequest {
  readonly groupId: string;
  /** Empty with epoch -1 for a commit from outside the group (tools), allowed only while it has no members. */
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly offsets: readonly {
    readonly topic: string;
    readonly partition: number;
    readonly offset: bigint;
    readonly leaderEpoch?: number | undefined;
    readonly metadata?: string | undefined;
  }[];
}

export interface CommittedOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly leaderEpoch: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
}

export type GroupStateName = 'empty' | 'assigning' | 'reconciling' | 'stable';

export interface MemberDescription {
  readonly memberId: string;
  readonly clientId: string;
  readonly clientHost: string;
  readonly memberEpoch: number;
  readonly state: MemberState;
  readonly subscribedTopicNames: readonly string[];
  readonly assigned: TopicPartitionsJson[];
  readonly pendingRevocation: TopicPartitionsJson[];
  readonly target: TopicPartitionsJson[];
}

export interface GroupDescription {
  readonly groupId: string;
  readonly state: GroupStateName;
  readonly groupEpoch: number;
  readonly assignmentEpoch: number;
  readonly members: MemberDescription[];
}

export const OFFSET_METADATA_MAX_BYTES = 4096;

interface Member {
  readonly memberId: string;
  facts: MemberValue;
  current: Current;
  /** When the coordinator last heard from it (not stored: a new coordinator starts every session afresh). */
  lastSeenMs: number;
  /** While it must revoke: when it is removed if it has not confirmed. */
  revokeByMs: number | undefined;
}

interface Current {
  readonly memberEpoch: number;
  readonly previousMemberEpoch: number;
  readonly state: MemberState;
  readonly assigned: Partitions;
  readonly pendingRevocation: Partitions;
}

interface Group {
  readonly groupId: string;
  /** Whether a group record exists (a group of offsets alone has none). */
  exists: boolean;
  groupEpoch: number;
  subscriptions: string;
  assignmentEpoch: number;
  readonly members: Map<string, Member>;
  readonly target: Map<string, Partitions>;
  readonly offsets: Map<string, CommittedOffset>;
}

const NEW_CURRENT: Current = {
  memberEpoch: 0,
  previousMemberEpoch: 0,
  state: 'stable',
  assigned: NO_PARTITIONS,
  pendingRevocation: NO_PARTITIONS,
};

export class GroupStore {
  readonly #groups = new Map<string, Group>();

  constructor(private readonly settings: GroupSettings) {}

  /** Applies one record: a load replays the log through this, and every change goes through it too. */
  replay(record: GroupRecord, nowMs: number): void {
    const group = this.#group(record.groupId);
    switch (record.type) {
      case 'group':
        if (record.value === null) {
          this.#groups.delete(record.groupId);
          return;
        }
        group.exists = true;
        group.groupEpoch = record.value.groupEpoch;
        group.subscriptions = record.value.subscriptions;
        return;
      case 'target-epoch':
        group.assignmentEpoch = record.value?.assignmentEpoch ?? 0;
        return;
      case 'member': {
        if (record.value === null) {
          group.members.delete(record.memberId);
          group.target.delete(record.memberId);
          return;
        }
        const member = group.members.get(record.memberId);
        if (member === undefined)
          group.members.set(record.memberId, {
            memberId: record.memberId,
            facts: record.value,
            current: NEW_CURRENT,
            lastSeenMs: nowMs,
            revokeByMs: undefined,
          });
        else member.facts = record.value;
        return;
      }
      case 'target':
        if (record.value === null) group.target.delete(record.memberId);
        else group.target.set(record.memberId, fromJson(record.value.partitions));
        return;
      case 'current': {
        const member = group.members.get(record.memberId);
        if (member === undefined) return; // its member record comes first, or it was removed
        member.current = record.value === null ? NEW_CURRENT : currentFromValue(record.value);
        if (member.current.state !== 'unrevoked-partitions') member.revokeByMs = undefined;
        else member.revokeByMs ??= nowMs + member.facts.rebalanceTimeoutMs;
        return;
      }
      case 'offset': {
        const key = offsetKey(record.topic, record.partition);
        if (record.value === null) group.offsets.delete(key);
        else
          group.offsets.set(key, {
            topic: record.topic,
            partition: record.partition,
            offset: BigInt(record.value.offset),
            leaderEpoch: record.value.leaderEpoch,
            metadata: record.value.metadata,
            commitTimestampMs: record.value.commitTimestampMs,
          });
        if (!group.exists && group.offsets.size === 0 && group.members.size === 0) this.#groups.delete(record.groupId);
        return;
      }
    }
  }

  /** After a load: every member's session starts now (the old coordinator's timers are gone). */
  startSessions(nowMs: number): void {
    for (const group of this.#groups.values())
      for (const member of group.members.values()) {
        member.lastSeenMs = nowMs;
        if (member.revokeByMs !== undefined) member.revokeByMs = nowMs + member.facts.rebalanceTimeoutMs;
      }
  }

  /** One member's heartbeat (join, leave, or keep-alive), as KIP-848's ConsumerGroupHeartbeat. */
  heartbeat(
    request: HeartbeatRequest,
    nowMs: number,
    topics: TopicsView,
  ): { records: GroupRecord[]; response: HeartbeatResponse } {
    const records: GroupRecord[] = [];
    const emit = (record: GroupRecord) => {
      records.push(record);
      this.replay(record, nowMs);
    };
    const { groupId, memberId, memberEpoch } = request;
    const group = this.#groups.get(groupId);
    const existing = group?.members.get(memberId);

    if (memberEpoch === -1) {
      if (group !== undefined && existing !== undefined) this.#remove(group, existing, emit, topics);
      return { records, response: this.#answer(memberId, -1, NO_PARTITIONS) };
    }

    let facts: MemberValue;
    if (memberEpoch === 0) {
      if (request.subscribedTopicNames === undefined)
        throw new MillraceError('INVALID_REQUEST', 'A join (memberEpoch 0) must give subscribedTopicNames.');
      if (existing === undefined && (group?.members.size ?? 0) >= this.settings.maxSize)
        throw new MillraceError(
          'GROUP_MAX_SIZE_REACHED',
          `Group ${groupId} has ${this.settings.maxSize} members, the most allowed.`,
        );
      facts = memberFacts(request, existing?.facts);
      emit({ type: 'member', groupId, memberId, value: facts });
      // A member that joins again has given up everything it owned: it lost its partitions.
      if (existing !== undefined && !isNew(existing.current))
        emit({ type: 'current', groupId, memberId, value: currentValue(NEW_CURRENT) });
      this.#bumpGroupEpoch(this.#groups.get(groupId) as Group, emit, topics);
    } else {
      if (group === undefined || existing === undefined)
        throw new MillraceError('UNKNOWN_MEMBER_ID', `Member ${memberId} is not in group ${groupId}.`);
      const owned = request.ownedPartitions === undefined ? undefined : fromJson(request.ownedPartitions);
      const lostAnswer =
        memberEpoch === existing.current.previousMemberEpoch &&
        owned !== undefined &&
        isEmpty(minus(owned, existing.current.assigned));
      if (memberEpoch !== existing.current.memberEpoch && !lostAnswer)
        throw new MillraceError(
          'FENCED_MEMBER_EPOCH',
          `Member ${memberId} sent epoch ${memberEpoch}; its epoch is ${existing.current.memberEpoch}. It must join again.`,
        );
      facts = memberFacts(request, existing.facts);
      if (!sameFacts(facts, existing.facts)) {
        emit({ type: 'member', groupId, memberId, value: facts });
        if (!sameNames(facts.subscribedTopicNames, existing.facts.subscribedTopicNames))
          this.#bumpGroupEpoch(group, emit, topics);
      }
    }

    const current = this.#groups.get(groupId) as Group;
    const member = current.members.get(memberId) as Member;
    member.lastSeenMs = nowMs;
    // New partitions or topics matching a subscription start a new group epoch.
    if (describeSubscriptions(current, topics) !== current.subscriptions) this.#bumpGroupEpoch(current, emit, topics);
    if (current.groupEpoch > current.assignmentEpoch) this.#computeTarget(current, emit, topics);

    const owned = request.ownedPartitions === undefined ? undefined : fromJson(request.ownedPartitions);
    const next = reconcile(
      member.current,
      current.target.get(memberId) ?? NO_PARTITIONS,
      this.#heldByOthers(current, memberId),
      current.assignmentEpoch,
      owned,
    );
    if (next !== undefined) emit({ type: 'current', groupId, memberId, value: currentValue(next) });
    return {
      records,
      response: this.#answer(memberId, member.current.memberEpoch, member.current.assigned),
    };
  }

  /**
   * Removes the members whose session ran out, and those that did not confirm a revocation within
   * their rebalance timeout; their partitions become free for the others.
   */
  expire(nowMs: number, topics: TopicsView): GroupRecord[] {
    const records: GroupRecord[] = [];
    const emit = (record: GroupRecord) => {
      records.push(record);
      this.replay(record, nowMs);
    };
    for (const group of [...this.#groups.values()])
      for (const member of [...group.members.values()]) {
        const silent = nowMs - member.lastSeenMs > this.settings.sessionTimeoutMs;
        const lateToRevoke = member.revokeByMs !== undefined && nowMs > member.revokeByMs;
        if (silent || lateToRevoke) this.#remove(group, member, emit, topics);
      }
    return records;
  }

  /** Offsets from a member (checked against its epoch) or, while the group has no members, from anyone. */
  commitOffsets(request: OffsetCommitRequest, nowMs: number): GroupRecord[] {
    const group = this.#groups.get(request.groupId);
    if (request.memberEpoch < 0 || request.memberId === '') {
      if (group !== undefined && group.members.size > 0)
        throw new MillraceError(
          'UNKNOWN_MEMBER_ID',
          `Group ${request.groupId} has members: offsets are committed by its members, or once it is empty.`,
        );
    } else {
      const member = group?.members.get(request.memberId);
      if (member === undefined)
        throw new MillraceError('UNKNOWN_MEMBER_ID', `Member ${request.memberId} is not in group ${request.groupId}.`);
      if (request.memberEpoch < member.current.memberEpoch)
        throw new MillraceError(
          'STALE_MEMBER_EPOCH',
          `The commit carries epoch ${request.memberEpoch}; member ${request.memberId} is at ${member.current.memberEpoch}.`,
        );
      if (request.memberEpoch > member.current.memberEpoch)
        throw new MillraceError(
          'FENCED_MEMBER_EPOCH',
          `The commit carries epoch ${request.memberEpoch}; member ${request.memberId} is at ${member.current.memberEpoch}.`,
        );
    }
    for (const { metadata = '', offset, topic, partition } of request.offsets) {
      if (Buffer.byteLength(metadata) > OFFSET_METADATA_MAX_BYTES)
        throw new MillraceError(
          'OFFSET_METADATA_TOO_LARGE',
          `The metadata of ${topic}-${partition} is over ${OFFSET_METADATA_MAX_BYTES} bytes.`,
        );
      if (offset < 0n) throw new MillraceError('INVALID_REQUEST', `The offset of ${topic}-${partition} is negative.`);
    }
    const records: GroupRecord[] = request.offsets.map(
      ({ topic, partition, offset, leaderEpoch = -1, metadata = '' }) => ({
        type: 'offset',
        groupId: request.groupId,
        topic,
        partition,
        value: { offset: offset.toString(), leaderEpoch, metadata, commitTimestampMs: nowMs },
      }),
    );
    for (const record of records) this.replay(record, nowMs);
    return records;
  }

  /** Committed offsets of a group: of the partitions named, or all. */
  fetchOffsets(groupId: string, partitions?: readonly { topic: string; partition: number }[]): CommittedOffset[] {
    const offsets = this.#groups.get(groupId)?.offsets ?? new Map<string, CommittedOffset>();
    if (partitions === undefined) return sortOffsets([...offsets.values()]);
    return partitions
      .map(({ topic, partition }) => offsets.get(offsetKey(topic, partition)))
      .filter((offset): offset is CommittedOffset => offset !== undefined);
  }

  /** Deletes an empty group and its offsets. */
  deleteGroup(groupId: string, nowMs: number): GroupRecord[] {
    const group = this.#groups.get(groupId);
    if (group === undefined) throw new MillraceError('GROUP_ID_NOT_FOUND', `Group ${groupId} does not exist.`);
    if (group.members.size > 0)
      throw new MillraceError(
        'NON_EMPTY_GROUP',
        `Group ${groupId} has ${group.members.size} members; it can be deleted once empty.`,
      );
    const records: GroupRecord[] = [
      ...[...group.offsets.values()].map(
        ({ topic, partition }): GroupRecord => ({ type: 'offset', groupId, topic, partition, value: null }),
      ),
      ...(group.exists
        ? [{ type: 'target-epoch', groupId, value: null } as const, { type: 'group', groupId, value: null } as const]
        : []),
    ];
    for (const record of records) this.replay(record, nowMs);
    this.#groups.delete(groupId);
    return records;
  }

  /** Whether any group here has a member (sessions to watch). */
  get hasMembers(): boolean {
    for (const group of this.#groups.values()) if (group.members.size > 0) return true;
    return false;
  }

  groupIds(): string[] {
    return [...this.#groups.keys()].sort();
  }

  describe(groupId: string): GroupDescription | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    const members = [...group.members.values()]
      .sort((a, b) => (a.memberId < b.memberId ? -1 : 1))
      .map((member) => ({
        memberId: member.memberId,
        clientId: member.facts.clientId,
        clientHost: member.facts.clientHost,
        memberEpoch: member.current.memberEpoch,
        state: member.current.state,
        subscribedTopicNames: [...member.facts.subscribedTopicNames],
        assigned: toJson(member.current.assigned),
        pendingRevocation: toJson(member.current.pendingRevocation),
        target: toJson(group.target.get(member.memberId) ?? NO_PARTITIONS),
      }));
    return {
      groupId,
      state: stateOf(group),
      groupEpoch: group.groupEpoch,
      assignmentEpoch: group.assignmentEpoch,
      members,
    };
  }

  /** Whether a heartbeat from this member now would be answered differently than `told` (for long polls). */
  wouldChange(groupId: string, memberId: string, told: HeartbeatResponse, topics: TopicsView): boolean {
    const group = this.#groups.get(groupId);
    const member = group?.members.get(memberId);
    if (group === undefined || member === undefined) return true;
    if (member.current.memberEpoch !== told.memberEpoch) return true;
    if (!samePartitions(member.current.assigned, fromJson(told.assignment))) return true;
    if (describeSubscriptions(group, topics) !== group.subscriptions || group.groupEpoch > group.assignmentEpoch)
      return true;
    const target = group.target.get(memberId) ?? NO_PARTITIONS;
    if (member.current.state === 'unrevoked-partitions') return false; // waits for the member itself
    if (member.current.memberEpoch !== group.assignmentEpoch) return true;
    // Waiting for partitions other members still hold: has any of them been released? The member
    // starts on each as soon as it is free rather than waiting for the last.
    const missing = minus(target, member.current.assigned);
    return !isEmpty(minus(missing, this.#heldByOthers(group, memberId)));
  }

  #group(groupId: string): Group {
    let group = this.#groups.get(groupId);
    if (group === undefined) {
      group = {
        groupId,
        exists: false,
        groupEpoch: 0,
        subscriptions: '',
        assignmentEpoch: 0,
        members: new Map(),
        target: new Map(),
        offsets: new Map(),
      };
      this.#groups.set(groupId, group);
    }
    return group;
  }

  #remove(group: Group, member: Member, emit: (record: GroupRecord) => void, topics: TopicsView): void {
    const { groupId } = group;
    emit({ type: 'current', groupId, memberId: member.memberId, value: null });
    if (group.target.has(member.memberId)) emit({ type: 'target', groupId, memberId: member.memberId, value: null });
    emit({ type: 'member', groupId, memberId: member.memberId, value: null });
    this.#bumpGroupEpoch(group, emit, topics);
  }

  #bumpGroupEpoch(group: Group, emit: (record: GroupRecord) => void, topics: TopicsView): void {
    emit({
      type: 'group',
      groupId: group.groupId,
      value: { groupEpoch: group.groupEpoch + 1, subscriptions: describeSubscriptions(group, topics) },
    });
  }

  #computeTarget(group: Group, emit: (record: GroupRecord) => void, topics: TopicsView): void {
    const counts = new Map<string, number>();
    const members = [...group.members.values()].map((member) => {
      const subscribed = new Set<string>();
      for (const name of member.facts.subscribedTopicNames) {
        const topic = topics.topic(name);
        if (topic === undefined) continue;
        subscribed.add(topic.topicId);
        counts.set(topic.topicId, topic.partitions);
      }
      return {
        memberId: member.memberId,
        topics: subscribed,
        previous: group.target.get(member.memberId) ?? NO_PARTITIONS,
      };
    });
    const target = assignPartitions(members, counts);
    for (const [memberId, partitions] of target)
      if (!samePartitions(partitions, group.target.get(memberId) ?? NO_PARTITIONS))
        emit({ type: 'target', groupId: group.groupId, memberId, value: { partitions: toJson(partitions) } });
    emit({ type: 'target-epoch', groupId: group.groupId, value: { assignmentEpoch: group.groupEpoch } });
  }

  #heldByOthers(group: Group, memberId: string): Partitions {
    let held: Partitions = NO_PARTITIONS;
    for (const other of group.members.values())
      if (other.memberId !== memberId)
        held = union(held, union(other.current.assigned, other.current.pendingRevocation));
    return held;
  }

  #answer(memberId: string, memberEpoch: number, assigned: Partitions): HeartbeatResponse {
    return {
      memberId,
      memberEpoch,
      heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
      assignment: toJson(assigned),
    };
  }
}

/**
 * The next reconciliation state of one member toward its target, or undefined when it stays as it
 * is. First what it must give up (it keeps its epoch until it confirms), then what is free to take
 * (its epoch moves to the assignment epoch); what another member still holds comes later.
 */
export function reconcile(
  current: Current,
  target: Partitions,
  heldByOthers: Partitions,
  assignmentEpoch: number,
  owned: Partitions | undefined,
): Current | undefined {
  let base = current;
  if (current.state === 'unrevoked-partitions') {
    // It revoked once its report no longer has them; until then nothing changes.
    if (owned === undefined || overlaps(owned, current.pendingRevocation)) return undefined;
    base = { ...current, state: 'stable', pendingRevocation: NO_PARTITIONS };
  }
  if (base.state === 'stable' && base.memberEpoch === assignmentEpoch) return base === current ? undefined : base;
  const revoke = minus(base.assigned, target);
  if (!isEmpty(revoke))
    return {
      memberEpoch: base.memberEpoch,
      previousMemberEpoch: base.previousMemberEpoch,
      state: 'unrevoked-partitions',
      assigned: intersect(base.assigned, target),
      pendingRevocation: revoke,
    };
  const assigned = union(base.assigned, minus(minus(target, base.assigned), heldByOthers));
  const next: Current = {
    memberEpoch: assignmentEpoch,
    previousMemberEpoch: base.memberEpoch === assignmentEpoch ? base.previousMemberEpoch : base.memberEpoch,
    state: samePartitions(assigned, target) ? 'stable' : 'unreleased-partitions',
    assigned,
    pendingRevocation: NO_PARTITIONS,
  };
  const unchanged =
    next.memberEpoch === current.memberEpoch &&
    next.state === current.state &&
    samePartitions(next.assigned, current.assigned) &&
    isEmpty(current.pendingRevocation);
  return unchanged ? undefined : next;
}

function stateOf(group: Group): GroupStateName {
  if (group.members.size === 0) return 'empty';
  if (group.groupEpoch > group.assignmentEpoch) return 'assigning';
  for (const member of group.members.values())
    if (member.current.state !== 'stable' || member.current.memberEpoch !== group.assignmentEpoch) return 'reconciling';
  return 'stable';
}

/** The subscribed topics that exist, with their ids and partition counts: a change starts a new group epoch. */
function describeSubscriptions(group: Group, topics: TopicsView): string {
  const names = new Set<string>();
  for (const member of group.members.values()) for (const name of member.facts.subscribedTopicNames) names.add(name);
  return [...names]
    .sort()
    .map((name) => {
      const topic = topics.topic(name);
      return topic === undefined ? undefined : `${name}:${topic.topicId}:${topic.partitions}`;
    })
    .filter((part) => part !== undefined)
    .join(',');
}

function memberFacts(request: HeartbeatRequest, previous: MemberValue | undefined): MemberValue {
  return {
    clientId: request.clientId ?? previous?.clientId ?? '',
    clientHost: request.clientHost ?? previous?.clientHost ?? '',
    rebalanceTimeoutMs: request.rebalanceTimeoutMs ?? previous?.rebalanceTimeoutMs ?? 300_000,
    subscribedTopicNames: [...new Set(request.subscribedTopicNames ?? previous?.subscribedTopicNames ?? [])].sort(),
  };
}

function sameFacts(a: MemberValue, b: MemberValue): boolean {
  return (
    a.clientId === b.clientId &&
    a.clientHost === b.clientHost &&
    a.rebalanceTimeoutMs === b.rebalanceTimeoutMs &&
    sameNames(a.subscribedTopicNames, b.subscribedTopicNames)
  );
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

function isNew(current: Current): boolean {
  return current.memberEpoch === 0 && isEmpty(current.assigned) && isEmpty(current.pendingRevocation);
}

function currentValue(current: Current): CurrentValue {
  return {
    memberEpoch: current.memberEpoch,
    previousMemberEpoch: current.previousMemberEpoch,
    state: current.state,
    assigned: toJson(current.assigned),
    pendingRevocation: toJson(current.pendingRevocation),
  };
}

function currentFromValue(value: CurrentValue): Current {
  return {
    memberEpoch: value.memberEpoch,
    previousMemberEpoch: value.previousMemberEpoch,
    state: value.state,
    assigned: fromJson(value.assigned),
    pendingRevocation: fromJson(value.pendingRevocation),
  };
}

function offsetKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function sortOffsets(offsets: CommittedOffset[]): CommittedOffset[] {
  return offsets.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
}
