import { MillraceError, NO_LEADER } from '@millrace/protocol';
import type { PartitionLog, ReadResult } from '../log/index.js';
import { offsetText } from '../log/types.js';
import { LeaderReplicationState } from './leader-state.js';

/** What the metadata image says about a partition this broker holds a replica of. */
export interface PartitionAssignment {
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

export type PartitionRole = 'leader' | 'follower' | 'offline';

/** What `applyAssignment` changed, so the replica manager can start or stop fetching. */
export type RoleChange = 'became-leader' | 'became-follower' | 'became-offline' | 'isr-changed' | 'unchanged';

export interface LeaderAppendRequest {
  readonly batches: readonly Buffer[];
  readonly acks: 0 | 1 | 'all';
  /** The epoch the client believes current, when it sent one. */
  readonly leaderEpoch: number | undefined;
  readonly minInsyncReplicas: number;
  readonly maxBatchBytes: number;
  readonly timestampType: 'create-time' | 'log-append-time';
  readonly nowMs: number;
  /** How long acks=all waits for the ISR. */
  readonly timeoutMs: number;
}

export interface LeaderAppendAnswer {
  readonly baseOffset: bigint;
  readonly lastOffset: bigint;
  readonly logAppendTimeMs: number;
  readonly logStartOffset: bigint;
}

export interface FollowerFetchRequest {
  readonly replicaId: number;
  readonly fetchOffset: bigint;
  readonly currentLeaderEpoch: number;
  readonly lastFetchedEpoch: number | undefined;
  readonly maxBytes: number;
  readonly minOneBatch: boolean;
  readonly nowMs: number;
}

export type FollowerFetchAnswer =
  | { readonly kind: 'records'; readonly read: ReadResult }
  | { readonly kind: 'diverging'; readonly epoch: number; readonly endOffset: bigint; readonly read: ReadResult };

/** An acks=all produce waiting for the high watermark to pass `requiredOffset`. */
interface PendingAck {
  readonly requiredOffset: bigint;
  readonly minInsyncReplicas: number;
  readonly answer: LeaderAppendAnswer;
  readonly resolve: (answer: LeaderAppendAnswer) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * One partition replica on this broker: its log, its role (leader, follower, offline) in the
 * leader epoch the metadata says, and on the leader the replication state, the acks=all writes
 * waiting for the ISR and the long polls waiting for data.
 *
 * Every check of role and epoch is made synchronously right before the log call it guards, and
 * the log queues writes in call order, so a role change cannot slip between a check and the
 * write it allows: a leader's append queued before the change completes first and is then
 * handled like any other record of the old epoch (truncated by the follower rules if divergent).
 */
export class Partition {
  readonly topic: string;
  readonly log: PartitionLog;
  readonly brokerId: number;
  #role: PartitionRole = 'offline';
  #assignment: PartitionAssignment = {
    leader: NO_LEADER,
    leaderEpoch: -1,
    partitionEpoch: -1,
    replicas: [],
    isr: [],
  };
  #leader: LeaderReplicationState | undefined;
  #pending: PendingAck[] = [];
  readonly #listeners = new Set<() => void>();
  /** Bumped at every role change: work begun under an older generation knows it is stale. */
  #generation = 0;

  constructor(topic: string, log: PartitionLog, brokerId: number) {
    this.topic = topic;
    this.log = log;
    this.brokerId = brokerId;
  }

  get role(): PartitionRole {
    return this.#role;
  }

  get leaderId(): number {
    return this.#assignment.leader;
  }

  get leaderEpoch(): number {
    return this.#assignment.leaderEpoch;
  }

  get assignment(): PartitionAssignment {
    return this.#assignment;
  }

  get generation(): number {
    return this.#generation;
  }

  /** The replication state while this broker leads and has finished becoming leader. */
  get leaderState(): LeaderReplicationState | undefined {
    return this.#leader;
  }

  get name(): string {
    return this.log.name;
  }

  /** Replicas in the assignment that are not in the ISR, seen from the leader (0 elsewhere). */
  get underReplicated(): boolean {
    return this.#role === 'leader' && this.#assignment.isr.length < this.#assignment.replicas.length;
  }

  /**
   * Takes the assignment from a new metadata image. A new leader epoch (or a first assignment)
   * changes the role; the same epoch with a new partition epoch is an ISR change, which the leader
   * takes into its replication state. An older epoch than the one held is ignored (metadata never
   * goes back). Becoming leader waits for the log's queued writes, so the replication state starts
   * from the true log end.
   */
  async applyAssignment(next: PartitionAssignment, nowMs: () => number): Promise<RoleChange> {
    const current = this.#assignment;
    if (next.leaderEpoch < current.leaderEpoch) return 'unchanged';
    if (next.leaderEpoch === current.leaderEpoch && next.leader === current.leader) {
      if (next.partitionEpoch <= current.partitionEpoch) return 'unchanged';
      this.#assignment = next;
      if (this.#leader?.onIsrCommitted(next.isr, next.partitionEpoch)) {
        this.#highWatermarkMoved();
      }
      return 'isr-changed';
    }
    this.#assignment = next;
    this.#generation++;
    this.#leader = undefined;
    this.#failPending(() => this.notLeaderError());
    if (next.leader === this.brokerId) {
      this.#role = 'leader';
      const generation = this.#generation;
      await this.log.settle();
      if (generation !== this.#generation) return 'unchanged';
      const logEndOffset = this.log.logEndOffset;
      // An ISR change may have arrived while the log settled: start from the latest assignment.
      const latest = this.#assignment;
      this.#leader = new LeaderReplicationState({
        leaderId: this.brokerId,
        replicas: latest.replicas,
        isr: latest.isr,
        leaderEpoch: latest.leaderEpoch,
        partitionEpoch: latest.partitionEpoch,
        leaderEpochStartOffset: logEndOffset,
        logEndOffset,
        highWatermark: this.log.highWatermark,
        nowMs: nowMs(),
      });
      // A leader alone in its ISR commits its whole log at once.
      this.#highWatermarkMoved();
      return 'became-leader';
    }
    this.#role = next.leader === NO_LEADER ? 'offline' : 'follower';
    this.#notify();
    return this.#role === 'offline' ? 'became-offline' : 'became-follower';
  }

  /** The broker stops holding this partition (topic deleted, broker stopping): everyone waiting is told. */
  close(): void {
    this.#generation++;
    this.#role = 'offline';
    this.#leader = undefined;
    this.#failPending(() => new MillraceError('NOT_LEADER_OR_FOLLOWER', `${this.name} is no longer hosted here.`));
    this.#notify();
  }

  /** NOT_LEADER_OR_FOLLOWER naming who leads, as far as this broker knows (the route adds the address). */
  notLeaderError(): MillraceError {
    const { leader, leaderEpoch } = this.#assignment;
    const who = leader === NO_LEADER ? 'no broker leads it right now' : `broker ${leader} leads it`;
    return new MillraceError('NOT_LEADER_OR_FOLLOWER', `Broker ${this.brokerId} does not lead ${this.name}: ${who}.`, {
      details: { leaderId: leader, leaderEpoch },
    });
  }

  /** Throws unless this broker leads in the epoch the caller names (if it names one). */
  checkLeader(requestEpoch: number | undefined): LeaderReplicationState {
    const leader = this.#leader;
    if (this.#role !== 'leader' || leader === undefined) throw this.notLeaderError();
    this.#checkEpoch(requestEpoch);
    return leader;
  }

  /**
   * Appends a producer's batches as leader. acks=all is refused before the append while the ISR is
   * smaller than min.insync.replicas, and resolves once the high watermark passes the batches (or
   * NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR has shrunk below the minimum by then, or
   * REQUEST_TIMED_OUT, or NOT_LEADER_OR_FOLLOWER if leadership moves first).
   */
  async appendAsLeader(request: LeaderAppendRequest): Promise<LeaderAppendAnswer> {
    const leader = this.checkLeader(request.leaderEpoch);
    if (request.acks === 'all' && !leader.hasMinIsr(request.minInsyncReplicas)) {
      throw new MillraceError(
        'NOT_ENOUGH_REPLICAS',
        `${this.name}: the ISR ${JSON.stringify(leader.isr)} is smaller than min.insync.replicas ${request.minInsyncReplicas}.`,
        { details: { isr: [...leader.isr], minInsyncReplicas: request.minInsyncReplicas } },
      );
    }
    const appended = await this.log.appendAsLeader(request.batches, leader.leaderEpoch, {
      nowMs: request.nowMs,
      maxBatchBytes: request.maxBatchBytes,
      timestampType: request.timestampType,
    });
    const answer: LeaderAppendAnswer = { ...appended, logStartOffset: this.log.logStartOffset };
    const stillLeader = this.#leader === leader;
    if (stillLeader && leader.onAppend(this.log.logEndOffset)) this.#highWatermarkMoved();
    if (stillLeader) this.#notify();
    if (request.acks !== 'all') return answer;
    if (!stillLeader) throw this.notLeaderError();
    return this.#awaitCommit(appended.lastOffset + 1n, request.minInsyncReplicas, request.timeoutMs, answer);
  }

  /** A consumer's read: up to the high watermark, from the leader only. */
  async readAsLeader(
    fetchOffset: bigint,
    maxBytes: number,
    minOneBatch: boolean,
    requestEpoch: number | undefined,
  ): Promise<ReadResult> {
    this.checkLeader(requestEpoch);
    return this.log.read(fetchOffset, { maxBytes, maxOffset: this.log.highWatermark, minOneBatch });
  }

  /**
   * A follower's fetch: checks that its log agrees with ours up to its fetch offset (the epoch of
   * its last batch must end at or after that offset here, Kafka's KIP-320), records its progress
   * (which may move the high watermark), and reads up to the log end. A follower whose log
   * diverges gets the epoch and end offset to truncate to, and its position is not counted.
   */
  async readForFollower(request: FollowerFetchRequest): Promise<FollowerFetchAnswer> {
    const leader = this.checkLeader(request.currentLeaderEpoch);
    if (!this.#assignment.replicas.includes(request.replicaId)) {
      throw new MillraceError(
        'NOT_LEADER_OR_FOLLOWER',
        `Broker ${request.replicaId} is not a replica of ${this.name} (replicas ${JSON.stringify(this.#assignment.replicas)}).`,
      );
    }
    const empty = (): ReadResult => ({
      batches: [],
      logStartOffset: this.log.logStartOffset,
      logEndOffset: this.log.logEndOffset,
      highWatermark: this.log.highWatermark,
    });
    if (request.lastFetchedEpoch !== undefined && request.lastFetchedEpoch >= 0) {
      const mine = this.log.endOffsetForEpoch(request.lastFetchedEpoch);
      if (mine.leaderEpoch !== request.lastFetchedEpoch || mine.endOffset < request.fetchOffset) {
        return { kind: 'diverging', epoch: mine.leaderEpoch, endOffset: mine.endOffset, read: empty() };
      }
    }
    const read = await this.log.read(request.fetchOffset, {
      maxBytes: request.maxBytes,
      maxOffset: this.log.logEndOffset,
      minOneBatch: request.minOneBatch,
    });
    if (this.#leader === leader && leader.onFollowerFetch(request.replicaId, request.fetchOffset, request.nowMs)) {
      this.#highWatermarkMoved();
    }
    return { kind: 'records', read: { ...read, highWatermark: this.log.highWatermark } };
  }

  /**
   * A follower's position in an incremental fetch session, when it did not list this partition:
   * it still fetches from where it last said, which keeps it counted as caught up while idle.
   */
  recordFollowerPosition(replicaId: number, fetchOffset: bigint, nowMs: number): void {
    const leader = this.#leader;
    if (leader === undefined || fetchOffset > this.log.logEndOffset) return;
    if (leader.onFollowerFetch(replicaId, fetchOffset, nowMs)) this.#highWatermarkMoved();
  }

  /**
   * Appends the leader's batches as follower in `leaderEpoch` and takes the leader's high
   * watermark (bounded by our log end). Returns false, writing nothing, if the role or epoch moved
   * on since the fetch was sent.
   */
  async appendAsFollower(
    batches: readonly Buffer[],
    leaderEpoch: number,
    leaderHighWatermark: bigint,
    maxBatchBytes: number,
  ): Promise<boolean> {
    if (this.#role !== 'follower' || this.#assignment.leaderEpoch !== leaderEpoch) return false;
    const generation = this.#generation;
    if (batches.length > 0) await this.log.appendAsFollower(batches, { maxBatchBytes });
    if (generation !== this.#generation) return true;
    this.followLeaderHighWatermark(leaderHighWatermark);
    return true;
  }

  /** A follower's high watermark: the leader's, never past our own log end, never backwards. */
  followLeaderHighWatermark(leaderHighWatermark: bigint): void {
    if (this.#role !== 'follower') return;
    const bounded = leaderHighWatermark < this.log.logEndOffset ? leaderHighWatermark : this.log.logEndOffset;
    if (bounded > this.log.highWatermark) {
      this.log.setHighWatermark(bounded);
      this.#notify();
    }
  }

  /**
   * Calls `listener` once at the next change a long poll may care about: an append, a high
   * watermark move, a role change. Returns a function that cancels it.
   */
  onceChanged(listener: () => void): () => void {
    const once = () => {
      this.#listeners.delete(once);
      listener();
    };
    this.#listeners.add(once);
    return () => this.#listeners.delete(once);
  }

  /** The ISR change the leader should propose now, if any (see LeaderReplicationState). */
  proposeIsrChange(nowMs: number, lagMaxMs: number, eligible: (brokerId: number) => boolean) {
    return this.#leader?.proposeIsrChange(nowMs, lagMaxMs, eligible);
  }

  /** The controller answered an AlterPartition for this partition. */
  onIsrChangeAnswered(
    leaderState: LeaderReplicationState,
    outcome: { isr: readonly number[]; partitionEpoch: number } | undefined,
  ): void {
    if (this.#leader !== leaderState) return;
    if (outcome === undefined) {
      leaderState.onIsrChangeFailed();
      return;
    }
    if (outcome.partitionEpoch > this.#assignment.partitionEpoch) {
      this.#assignment = { ...this.#assignment, isr: outcome.isr, partitionEpoch: outcome.partitionEpoch };
    }
    if (leaderState.onIsrCommitted(outcome.isr, outcome.partitionEpoch)) this.#highWatermarkMoved();
    // A refused or stale answer (an older partition epoch) leaves the proposal open; clear it.
    if (leaderState.pendingIsr !== undefined) leaderState.onIsrChangeFailed();
  }

  #checkEpoch(requestEpoch: number | undefined): void {
    if (requestEpoch === undefined) return;
    const epoch = this.#assignment.leaderEpoch;
    if (requestEpoch < epoch) {
      throw new MillraceError(
        'FENCED_LEADER_EPOCH',
        `${this.name}: leader epoch ${requestEpoch} is older than the current ${epoch}.`,
        { details: { leaderId: this.#assignment.leader, leaderEpoch: epoch, requestEpoch } },
      );
    }
    if (requestEpoch > epoch) {
      throw new MillraceError(
        'UNKNOWN_LEADER_EPOCH',
        `${this.name}: leader epoch ${requestEpoch} is newer than ${epoch}, the latest this broker knows; retry shortly.`,
        { details: { leaderEpoch: epoch, requestEpoch } },
      );
    }
  }

  #awaitCommit(
    requiredOffset: bigint,
    minInsyncReplicas: number,
    timeoutMs: number,
    answer: LeaderAppendAnswer,
  ): Promise<LeaderAppendAnswer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending = this.#pending.filter((p) => p !== pending);
        reject(
          new MillraceError(
            'REQUEST_TIMED_OUT',
            `${this.name}: the ISR did not acknowledge offsets ${offsetText(answer.baseOffset)}..${offsetText(answer.lastOffset)} within ${timeoutMs} ms; they may still be committed.`,
            { details: { baseOffset: offsetText(answer.baseOffset), timeoutMs } },
          ),
        );
      }, timeoutMs);
      const pending: PendingAck = { requiredOffset, minInsyncReplicas, answer, resolve, reject, timer };
      this.#pending.push(pending);
      this.#completePending();
    });
  }

  #highWatermarkMoved(): void {
    const leader = this.#leader;
    if (leader !== undefined && leader.highWatermark > this.log.highWatermark) {
      this.log.setHighWatermark(leader.highWatermark);
    }
    this.#completePending();
    this.#notify();
  }

  /** Answers the acks=all writes the high watermark has passed, in offset order. */
  #completePending(): void {
    const leader = this.#leader;
    if (leader === undefined || this.#pending.length === 0) return;
    const highWatermark = this.log.highWatermark;
    const still: PendingAck[] = [];
    for (const pending of this.#pending) {
      if (pending.requiredOffset > highWatermark) {
        still.push(pending);
        continue;
      }
      clearTimeout(pending.timer);
      if (!leader.hasMinIsr(pending.minInsyncReplicas)) {
        pending.reject(
          new MillraceError(
            'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
            `${this.name}: offsets from ${offsetText(pending.answer.baseOffset)} were written, but the ISR ${JSON.stringify(leader.isr)} shrank below min.insync.replicas ${pending.minInsyncReplicas} before they were replicated.`,
            {
              details: {
                baseOffset: offsetText(pending.answer.baseOffset),
                isr: [...leader.isr],
                minInsyncReplicas: pending.minInsyncReplicas,
              },
            },
          ),
        );
      } else {
        pending.resolve(pending.answer);
      }
    }
    this.#pending = still;
  }

  #failPending(error: () => unknown): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(error());
    }
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}
