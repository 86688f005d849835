/**
 * What a partition's leader knows about its followers, and the rules it applies: Kafka's, in a
 * pure class (no I/O, time passed in).
 *
 * - A follower's log end offset is the offset it fetches from. It is *caught up* at a fetch whose
 *   offset reaches the leader's log end at that moment; a fetch that reaches the leader's log end
 *   as of the previous fetch proves it was caught up then (Kafka's `lastCaughtUpTimeMs` rule).
 * - The high watermark is the smallest log end offset among the ISR (the leader included). It only
 *   moves forward. While an ISR change is in flight at the controller, the larger of the two ISRs
 *   counts (Kafka's "maximal ISR", KIP-497): a record is committed only once every replica that
 *   might be in the ISR has it, so no outcome of the change can lose it.
 * - Shrink: an ISR member not caught up within `replica.lag.time.max.ms` leaves. Expand: a
 *   follower whose log end reached the high watermark and the start of the leader's epoch joins.
 *   Both are proposed to the controller (AlterPartition) one at a time, never applied here first.
 * - acks=all: a write is refused before append while the ISR is smaller than min.insync.replicas,
 *   and complete once the high watermark passes its last offset.
 */
export interface FollowerProgress {
  readonly brokerId: number;
  /** -1 until the follower's first fetch in this leader epoch. */
  readonly logEndOffset: bigint;
  readonly lastCaughtUpMs: number;
}

interface MutableFollower {
  brokerId: number;
  logEndOffset: bigint;
  lastCaughtUpMs: number;
  lastFetchMs: number;
  lastFetchLeaderLogEndOffset: bigint;
}

export interface LeaderStateInit {
  readonly leaderId: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  /** The first offset of this leader epoch: a follower must reach it to join the ISR. */
  readonly leaderEpochStartOffset: bigint;
  readonly logEndOffset: bigint;
  readonly highWatermark: bigint;
  readonly nowMs: number;
}

export class LeaderReplicationState {
  readonly leaderId: number;
  readonly leaderEpoch: number;
  readonly replicas: readonly number[];
  readonly leaderEpochStartOffset: bigint;
  #isr: readonly number[];
  #partitionEpoch: number;
  #pendingIsr: readonly number[] | undefined;
  #logEndOffset: bigint;
  #highWatermark: bigint;
  readonly #followers = new Map<number, MutableFollower>();

  constructor(init: LeaderStateInit) {
    if (!init.isr.includes(init.leaderId)) throw new Error(`leader ${init.leaderId} is not in its ISR ${init.isr}`);
    if (init.highWatermark > init.logEndOffset) throw new Error('high watermark above the log end');
    this.leaderId = init.leaderId;
    this.leaderEpoch = init.leaderEpoch;
    this.replicas = [...init.replicas];
    this.leaderEpochStartOffset = init.leaderEpochStartOffset;
    this.#isr = [...init.isr];
    this.#partitionEpoch = init.partitionEpoch;
    this.#logEndOffset = init.logEndOffset;
    this.#highWatermark = init.highWatermark;
    for (const brokerId of init.replicas) {
      if (brokerId === init.leaderId) continue;
      // ISR members get a full lag allowance from the moment this broker leads, as in Kafka.
      this.#followers.set(brokerId, {
        brokerId,
        logEndOffset: -1n,
        lastCaughtUpMs: init.isr.includes(brokerId) ? init.nowMs : 0,
        lastFetchMs: 0,
        lastFetchLeaderLogEndOffset: -1n,
      });
    }
    this.#advanceHighWatermark();
  }

  get isr(): readonly number[] {
    return this.#isr;
  }

  get partitionEpoch(): number {
    return this.#partitionEpoch;
  }

  get pendingIsr(): readonly number[] | undefined {
    return this.#pendingIsr;
  }

  get highWatermark(): bigint {
    return this.#highWatermark;
  }

  get logEndOffset(): bigint {
    return this.#logEndOffset;
  }

  followers(): FollowerProgress[] {
    return [...this.#followers.values()].map(({ brokerId, logEndOffset, lastCaughtUpMs }) => ({
      brokerId,
      logEndOffset,
      lastCaughtUpMs,
    }));
  }

  /** The leader appended: its log end moved. Returns whether the high watermark moved. */
  onAppend(logEndOffset: bigint): boolean {
    if (logEndOffset < this.#logEndOffset) throw new Error('the leader log end went backwards');
    this.#logEndOffset = logEndOffset;
    return this.#advanceHighWatermark();
  }

  /** A follower fetched from `fetchOffset` (its log end). Returns whether the high watermark moved. */
  onFollowerFetch(brokerId: number, fetchOffset: bigint, nowMs: number): boolean {
    const follower = this.#followers.get(brokerId);
    if (follower === undefined) return false;
    if (fetchOffset >= this.#logEndOffset) {
      follower.lastCaughtUpMs = Math.max(follower.lastCaughtUpMs, nowMs);
    } else if (fetchOffset >= follower.lastFetchLeaderLogEndOffset && follower.lastFetchLeaderLogEndOffset >= 0n) {
      follower.lastCaughtUpMs = Math.max(follower.lastCaughtUpMs, follower.lastFetchMs);
    }
    follower.lastFetchLeaderLogEndOffset = this.#logEndOffset;
    follower.lastFetchMs = nowMs;
    follower.logEndOffset = fetchOffset;
    return this.#advanceHighWatermark();
  }

  /**
   * The ISR change to propose now, if any and if none is in flight: first drop members that lag
   * past `lagMaxMs`, else add followers that caught up. `eligible` says whether a broker may join
   * (registered, unfenced, not shutting down).
   */
  proposeIsrChange(
    nowMs: number,
    lagMaxMs: number,
    eligible: (brokerId: number) => boolean,
  ): readonly number[] | undefined {
    if (this.#pendingIsr !== undefined) return undefined;
    const lagging = this.#isr.filter((id) => {
      if (id === this.leaderId) return false;
      const follower = this.#followers.get(id);
      return follower === undefined || nowMs - follower.lastCaughtUpMs > lagMaxMs;
    });
    let next: number[] | undefined;
    if (lagging.length > 0) {
      next = this.#isr.filter((id) => !lagging.includes(id));
    } else {
      const joining = [...this.#followers.values()]
        .filter(
          (f) =>
            !this.#isr.includes(f.brokerId) &&
            eligible(f.brokerId) &&
            f.logEndOffset >= this.#highWatermark &&
            f.logEndOffset >= this.leaderEpochStartOffset,
        )
        .map((f) => f.brokerId);
      if (joining.length > 0) next = this.replicas.filter((id) => this.#isr.includes(id) || joining.includes(id));
    }
    if (next === undefined) return undefined;
    this.#pendingIsr = next;
    return next;
  }

  /** The controller answered the AlterPartition (or the metadata log carried a change): the ISR is now `isr`. */
  onIsrCommitted(isr: readonly number[], partitionEpoch: number): boolean {
    if (partitionEpoch < this.#partitionEpoch) return false;
    this.#isr = [...isr];
    this.#partitionEpoch = partitionEpoch;
    this.#pendingIsr = undefined;
    return this.#advanceHighWatermark();
  }

  /** The proposal was refused or lost: the ISR stays, and a new proposal may be made. */
  onIsrChangeFailed(): void {
    this.#pendingIsr = undefined;
  }

  /** Whether an acks=all write may be appended now (Kafka checks the ISR before appending). */
  hasMinIsr(minInsyncReplicas: number): boolean {
    return this.#isr.length >= minInsyncReplicas;
  }

  /** Whether every record before `offset` is committed (the high watermark has passed it). */
  isCommitted(offset: bigint): boolean {
    return this.#highWatermark >= offset;
  }

  /** The ISR that counts for the high watermark: while a change is in flight, the larger of the two. */
  #maximalIsr(): number[] {
    const pending = this.#pendingIsr ?? [];
    return [...new Set([...this.#isr, ...pending])];
  }

  #advanceHighWatermark(): boolean {
    let candidate = this.#logEndOffset;
    for (const id of this.#maximalIsr()) {
      if (id === this.leaderId) continue;
      const follower = this.#followers.get(id);
      const end = follower?.logEndOffset ?? -1n;
      if (end < candidate) candidate = end;
    }
    if (candidate > this.#highWatermark) {
      this.#highWatermark = candidate;
      return true;
    }
    return false;
  }
}
