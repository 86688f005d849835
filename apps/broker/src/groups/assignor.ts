/**
 * The group coordinator's assignor (the model of Kafka's KIP-848 "uniform" server-side assignor):
 * from the members' subscriptions and the previous target assignment, the next target assignment.
 *
 * Pure and deterministic: the same input gives the same output, whatever the order of the input.
 *
 * What it guarantees, for every subscribed partition of an existing topic:
 * - **Complete**: the partition goes to exactly one member, one that subscribes to its topic.
 * - **Balanced**: no partition can move, alone or along a chain of moves between members eligible
 *   for each, so that the most loaded member on that path loses one and the least loaded gains
 *   one while they differ by two or more. With the same subscription for every member, loads
 *   differ by at most one.
 * - **Sticky**: a member keeps every partition of its previous target that it may still own,
 *   except the ones balance needs to move, and those are the fewest balance allows.
 *
 * Members and topics are identified by strings (member ids, topic ids); partitions by index.
 */
import { keyOf, type PartitionKey, parseKey } from './partitions.js';

export interface AssignorMember {
  readonly memberId: string;
  /** The topic ids the member subscribes to (its names and pattern resolved against the metadata). */
  readonly topics: ReadonlySet<string>;
  /** The member's previous target: topic id → partitions. */
  readonly previous: ReadonlyMap<string, readonly number[]>;
}

/** Topic id → number of partitions, for every topic that exists now. */
export type TopicPartitionCounts = ReadonlyMap<string, number>;

/** Member id → topic id → partitions, ascending. Every member has an entry, empty or not. */
export type TargetAssignment = Map<string, Map<string, number[]>>;

export function assignPartitions(members: readonly AssignorMember[], topics: TopicPartitionCounts): TargetAssignment {
  const sorted = [...members].sort((a, b) => compare(a.memberId, b.memberId));
  const state = new Assignment(sorted, topics);
  state.keepPrevious();
  state.assignUnowned();
  state.balance();
  return state.result();
}

class Assignment {
  /** Member id → the partitions it holds now, in insertion order. */
  readonly #owned = new Map<string, Set<PartitionKey>>();
  /** Partition → its member. */
  readonly #ownerOf = new Map<PartitionKey, string>();
  /** Topic id → the members that subscribe to it, ascending. */
  readonly #subscribers = new Map<string, string[]>();

  constructor(
    private readonly members: readonly AssignorMember[],
    private readonly topics: TopicPartitionCounts,
  ) {
    for (const member of members) {
      this.#owned.set(member.memberId, new Set());
      for (const topicId of member.topics) {
        if (!topics.has(topicId)) continue;
        const list = this.#subscribers.get(topicId) ?? [];
        list.push(member.memberId);
        this.#subscribers.set(topicId, list);
      }
    }
  }

  /** Each member keeps what it held before and may still hold (first come, by member id, on a conflict). */
  keepPrevious(): void {
    for (const member of this.members) {
      for (const [topicId, partitions] of [...member.previous].sort(([a], [b]) => compare(a, b))) {
        const count = this.topics.get(topicId);
        if (count === undefined || !member.topics.has(topicId)) continue;
        for (const partition of [...partitions].sort((a, b) => a - b)) {
          const key = keyOf(topicId, partition);
          if (partition < count && !this.#ownerOf.has(key)) this.#give(key, member.memberId);
        }
      }
    }
  }

  /** Every partition nobody holds goes to its least loaded subscriber, the most constrained partitions first. */
  assignUnowned(): void {
    const unowned: PartitionKey[] = [];
    for (const topicId of [...this.#subscribers.keys()].sort(compare)) {
      const count = this.topics.get(topicId) ?? 0;
      for (let partition = 0; partition < count; partition++) {
        const key = keyOf(topicId, partition);
        if (!this.#ownerOf.has(key)) unowned.push(key);
      }
    }
    // Stable sort: the partitions of topics with fewer subscribers first, then in topic and index order.
    unowned.sort((a, b) => this.#eligible(a).length - this.#eligible(b).length);
    for (const key of unowned) {
      const eligible = this.#eligible(key);
      let best = eligible[0] as string;
      for (const memberId of eligible) if (this.#load(memberId) < this.#load(best)) best = memberId;
      this.#give(key, best);
    }
  }

  /**
   * Moves partitions from the most loaded members along chains of eligible members to one at least
   * two lighter, until no such chain exists. Each move lowers the sum of squared loads, so it ends.
   */
  balance(): void {
    for (;;) {
      const byLoad = [...this.#owned.keys()].sort((a, b) => this.#load(b) - this.#load(a) || compare(a, b));
      const lightest = this.#load(byLoad[byLoad.length - 1] ?? '');
      let moved = false;
      for (const heavy of byLoad) {
        if (this.#load(heavy) < lightest + 2) break; // no member is two lighter than this one or any after it
        if (this.#moveDirect(heavy) || this.#moveAlongChain(heavy)) {
          moved = true;
          break;
        }
      }
      if (!moved) return;
    }
  }

  result(): TargetAssignment {
    const target: TargetAssignment = new Map();
    for (const member of this.members) {
      const byTopic = new Map<string, number[]>();
      for (const key of this.#owned.get(member.memberId) ?? []) {
        const [topicId, partition] = parseKey(key);
        const list = byTopic.get(topicId) ?? [];
        list.push(partition);
        byTopic.set(topicId, list);
      }
      for (const list of byTopic.values()) list.sort((a, b) => a - b);
      target.set(member.memberId, new Map([...byTopic].sort(([a], [b]) => compare(a, b))));
    }
    return target;
  }

  /** One partition straight from `heavy` to its lightest eligible member, when that one is two lighter. */
  #moveDirect(heavy: string): boolean {
    const load = this.#load(heavy);
    let best: { key: PartitionKey; to: string } | undefined;
    // The newest partitions of `heavy` first: the ones it kept from before are the last to go.
    for (const key of [...(this.#owned.get(heavy) ?? [])].reverse()) {
      for (const memberId of this.#eligible(key)) {
        if (this.#load(memberId) > load - 2) continue;
        if (best === undefined || this.#load(memberId) < this.#load(best.to)) best = { key, to: memberId };
      }
    }
    if (best === undefined) return false;
    this.#take(best.key);
    this.#give(best.key, best.to);
    return true;
  }

  /**
   * A chain heavy → m1 → … → light of moves, each partition to a member eligible for it, ending at
   * a member at least two lighter than `heavy`: found breadth first, so it is the shortest.
   */
  #moveAlongChain(heavy: string): boolean {
    const load = this.#load(heavy);
    const via = new Map<string, { from: string; key: PartitionKey }>();
    const queue = [heavy];
    const seen = new Set([heavy]);
    while (queue.length > 0) {
      const member = queue.shift() as string;
      for (const key of [...(this.#owned.get(member) ?? [])].reverse()) {
        for (const next of this.#eligible(key)) {
          if (seen.has(next)) continue;
          seen.add(next);
          via.set(next, { from: member, key });
          if (this.#load(next) <= load - 2) {
            this.#applyChain(next, via);
            return true;
          }
          queue.push(next);
        }
      }
    }
    return false;
  }

  #applyChain(end: string, via: ReadonlyMap<string, { from: string; key: PartitionKey }>): void {
    const moves: { key: PartitionKey; to: string }[] = [];
    for (let to = end, step = via.get(to); step !== undefined; to = step.from, step = via.get(to))
      moves.push({ key: step.key, to });
    for (const { key, to } of moves) {
      this.#take(key);
      this.#give(key, to);
    }
  }

  #eligible(key: PartitionKey): readonly string[] {
    return this.#subscribers.get(parseKey(key)[0]) ?? [];
  }

  #load(memberId: string): number {
    return this.#owned.get(memberId)?.size ?? 0;
  }

  #give(key: PartitionKey, memberId: string): void {
    this.#owned.get(memberId)?.add(key);
    this.#ownerOf.set(key, memberId);
  }

  #take(key: PartitionKey): void {
    const owner = this.#ownerOf.get(key);
    if (owner !== undefined) this.#owned.get(owner)?.delete(key);
    this.#ownerOf.delete(key);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
