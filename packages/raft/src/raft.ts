import { type RaftConfig, type ResolvedConfig, resolveConfig } from './config.js';
import { RaftError } from './errors.js';
import { RaftLog } from './log.js';
import { Inflights, Progress } from './progress.js';
import { committedIndex, type VoteResult, voteResult } from './quorum.js';
import { randomInt } from './random.js';
import { ReadOnly, type ReadRequest } from './read-only.js';
import {
  type AppendRequest,
  type AppendResponse,
  type HardState,
  type HeartbeatRequest,
  type HeartbeatResponse,
  isEmptyHardState,
  isForwardedRequest,
  type LogIndex,
  type Message,
  NONE,
  type NodeId,
  type NodeIdOrNone,
  type ProposedEntry,
  type ReadState,
  type Role,
  type Snapshot,
  type SnapshotChunk,
  type SnapshotMetadata,
  type SnapshotResponse,
  type SoftState,
  type Term,
  type VoteRequest,
} from './types.js';
import { assert, concatBytes, entrySizeBytes, payloadBytes } from './util.js';

/** Distributes Omit over a union, so each message variant keeps its own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A message as the state machine composes it; `send` fills in the sender and, mostly, the term. */
type Outgoing = DistributiveOmit<Message, 'from' | 'term'> & { term?: Term };

/**
 * A snapshot being received in chunks. Volatile: a crash starts it over. It is tied to the leader
 * and term that sent it: two leaders may encode the same snapshot differently, so chunks from
 * different senders must never be spliced together.
 */
interface IncomingSnapshot {
  readonly leader: NodeId;
  readonly term: Term;
  readonly metadata: SnapshotMetadata;
  readonly chunks: Uint8Array[];
  receivedBytes: number;
}

function isSameTransfer(incoming: IncomingSnapshot, m: SnapshotChunk): boolean {
  return (
    incoming.leader === m.from &&
    incoming.term === m.term &&
    incoming.metadata.index === m.metadata.index &&
    incoming.metadata.term === m.metadata.term
  );
}

/**
 * The Raft state machine of one node. Deterministic and synchronous: it changes only when
 * ticked, stepped with a message, or asked to do something, and it records what must be
 * persisted, sent and applied for RawNode to hand out in the next Ready.
 *
 * Not part of the public API: applications drive it through RawNode.
 */
export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly raftLog: RaftLog;

  term = 0 as Term;
  vote: NodeIdOrNone = NONE;
  lead: NodeIdOrNone = NONE;
  role: Role = 'follower';

  /** Fixed membership (see ConfState); progress is tracked for voters and learners alike. */
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly prs = new Map<NodeId, Progress>();
  /** Votes (or pre-votes) received in the current campaign. */
  votes = new Map<NodeId, boolean>();

  /** Messages to send once the Ready that carries them has been persisted. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  /** Ticks since the last election timeout reset (followers/candidates) or CheckQuorum round (leaders). */
  electionElapsedTicks = 0;
  heartbeatElapsedTicks = 0;
  randomizedElectionTimeoutTicks = 0;
  /**
   * Whether randomizedElectionTimeoutTicks was cut short after a split vote (see
   * noteRivalCandidate). The short wait serves one retry only; any role change clears it.
   */
  splitVoteRetry = false;

  /** The node leadership is being handed to, or NONE. Proposals are refused while it is set. */
  leadTransferee: NodeIdOrNone = NONE;
  /** Payload bytes appended by this leader and not yet committed (bounded by maxUncommittedEntriesBytes). */
  uncommittedBytes = 0;
  /** ReadIndex requests received before this leader committed an entry of its own term. */
  pendingReadIndex: ReadRequest[] = [];
  readOnly = new ReadOnly();
  incomingSnapshot: IncomingSnapshot | undefined = undefined;

  constructor(config: RaftConfig) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    const storage = this.cfg.storage;
    this.raftLog = new RaftLog(storage, this.cfg.maxCommittedSizePerReadyBytes);
    const { hardState, confState } = storage.initialState();
    this.voters = [...confState.voters];
    this.learners = [...confState.learners];
    if (!isEmptyHardState(hardState)) this.loadHardState(hardState);
    if (this.cfg.applied > this.raftLog.applied) {
      assert(this.cfg.applied <= this.raftLog.committed, 'config.applied is beyond the persisted commit index');
      this.raftLog.appliedTo(this.cfg.applied);
    }
    this.becomeFollower(this.term, NONE);
  }

  private loadHardState(hs: HardState): void {
    assert(
      hs.commit >= this.raftLog.committed && hs.commit <= this.raftLog.lastIndex(),
      () => `persisted commit ${hs.commit} is outside [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
    );
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  /** Only voters campaign: a learner, or a node outside the configuration, never does. */
  promotable(): boolean {
    return this.voters.includes(this.id);
  }

  // -- Sending ---------------------------------------------------------------------------------

  /** Queues a message for the next Ready. `m` is always a fresh literal, so it is completed in place. */
  private send(m: Outgoing): void {
    const message = m as { -readonly [K in keyof Message]: Message[K] };
    message.from = this.id;
    if (m.term === undefined) message.term = this.term;
    this.msgs.push(message as Message);
  }

  // -- Role changes ----------------------------------------------------------------------------

  private reset(term: Term): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.resetRandomizedElectionTimeout();
    this.splitVoteRetry = false;
    this.leadTransferee = NONE;
    this.votes = new Map();
    if (this.incomingSnapshot !== undefined && this.incomingSnapshot.term !== term) this.incomingSnapshot = undefined;
    this.prs.clear();
    const next = (this.raftLog.lastIndex() + 1) as LogIndex;
    for (const id of [...this.voters, ...this.learners]) {
      const inflights = new Inflights(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
      this.prs.set(id, new Progress(next, inflights, this.learners.includes(id)));
    }
    this.uncommittedBytes = 0;
    this.pendingReadIndex = [];
    this.readOnly = new ReadOnly();
  }

  private resetRandomizedElectionTimeout(): void {
    const base = this.cfg.electionTimeoutTicks;
    this.randomizedElectionTimeoutTicks = base + randomInt(this.cfg.random, base);
  }

  becomeFollower(term: Term, lead: NodeIdOrNone): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  /** PreVote (thesis §9.6): ask whether we could win, without touching our term or vote. */
  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    this.votes = new Map();
    this.lead = NONE;
    this.role = 'preCandidate';
  }

  /** §5.2: increment the term and vote for ourselves. */
  becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a candidate');
    this.reset((this.term + 1) as Term);
    this.vote = this.id;
    this.role = 'candidate';
  }

  becomeLeader(): void {
    assert(this.role === 'candidate' || this.role === 'preCandidate', () => `${this.role} cannot become leader`);
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.prs.get(this.id);
    assert(self !== undefined, 'a leader is a voter');
    self.becomeReplicate();
    self.recentActive = true;
    // The leader's own match only advances once its entries are durable (onEntriesPersisted),
    // so the entries it counts towards a quorum are on its disk.
    //
    // An empty entry of the new term (§8, thesis §6.4): the leader cannot know which earlier
    // entries are committed until one of its own term is, and ReadIndex waits for that.
    this.appendEntries([{ type: 'normal', data: new Uint8Array(0) }]);
  }

  // -- Ticks -----------------------------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsedTicks++;
    if (this.promotable() && this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      if (this.splitVoteRetry) {
        // The short wait was for this one retry. A pre-candidate keeps its timeout, so should the
        // retry's pre-vote stall, the next attempt waits a full randomized timeout again.
        this.splitVoteRetry = false;
        this.resetRandomizedElectionTimeout();
      }
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsedTicks++;
    this.electionElapsedTicks++;
    if (this.electionElapsedTicks >= this.cfg.electionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      if (this.cfg.checkQuorum && !this.checkQuorumActive()) {
        // CheckQuorum (thesis §6.2): without a live majority we may be deposed without knowing;
        // stepping down stops us serving clients as a stale leader.
        this.becomeFollower(this.term, NONE);
        return;
      }
      if (this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.heartbeatElapsedTicks >= this.cfg.heartbeatTimeoutTicks) {
      this.heartbeatElapsedTicks = 0;
      this.bcastHeartbeat(this.readOnly.lastPendingContext());
      this.tickSnapshotTransfers();
    }
  }

  /** Whether a majority was heard from since the last check; clears the marks for the next round. */
  private checkQuorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const [id, pr] of this.prs) {
      if (id === this.id || pr.recentActive) active.set(id, true);
      if (id !== this.id) pr.recentActive = false;
    }
    return voteResult(this.voters, active) === 'won';
  }

  // -- Elections -------------------------------------------------------------------------------

  /** Starts an election if this node may: a pre-vote round first unless it follows a TimeoutNow. */
  hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.cfg.preVote && !transfer) this.campaign('preElection', false);
    else this.campaign('election', transfer);
  }

  private campaign(kind: 'preElection' | 'election', transfer: boolean): void {
    let voteTerm: Term;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      // Pre-votes ask about the term we would campaign in, without adopting it.
      voteTerm = (this.term + 1) as Term;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      // A single-voter group wins at once.
      if (kind === 'preElection') {
        this.campaign('election', transfer);
      } else {
        this.becomeLeader();
        this.bcastAppend();
      }
      return;
    }
    const lastLogIndex = this.raftLog.lastIndex();
    const lastLogTerm = this.raftLog.lastTerm();
    for (const id of this.voters) {
      if (id === this.id) continue;
      this.send({
        type: kind === 'preElection' ? 'PreVote' : 'Vote',
        to: id,
        term: voteTerm,
        lastLogIndex,
        lastLogTerm,
        transfer,
      });
    }
  }

  private poll(from: NodeId, granted: boolean): VoteResult {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    return voteResult(this.voters, this.votes);
  }

  /** Whether we heard from a leader within the election timeout (the leader "lease"). */
  private inLease(): boolean {
    return this.lead !== NONE && this.electionElapsedTicks < this.cfg.electionTimeoutTicks;
  }

  // -- Step: the term protocol, then per-role handling ----------------------------------------

  step(m: Message): void {
    assert(m.to === this.id, () => `message for ${m.to} stepped into node ${this.id}`);
    if (isForwardedRequest(m)) {
      // Forwarded requests are outside the term protocol: handle them whatever their term.
    } else if (m.term > this.term) {
      if (m.type === 'Vote' || m.type === 'PreVote') {
        // A node that heard from a live leader recently ignores campaigns (thesis §4.2.3 and §9.6)
        // so that a node rejoining after a partition cannot depose a healthy leader. Pre-votes are
        // always subject to it; real votes when CheckQuorum is on. A campaign that follows a
        // TimeoutNow is the leader's own wish and overrides the lease.
        const leaseApplies = m.type === 'PreVote' || this.cfg.checkQuorum;
        if (leaseApplies && !m.transfer && this.inLease()) return;
      }
      if (m.type === 'PreVote' || (m.type === 'PreVoteResp' && !m.reject)) {
        // A pre-vote and a granted pre-vote response carry a term nobody has adopted yet.
      } else {
        const fromLeader = m.type === 'App' || m.type === 'Heartbeat' || m.type === 'Snap';
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'Heartbeat' || m.type === 'App')) {
        // A stale leader that cannot learn our term from votes (we ignore its pre-votes, or it
        // never campaigns) would otherwise stay stuck; tell it the term so it steps down.
        this.send({
          type: 'AppResp',
          to: m.from,
          index: 0 as LogIndex,
          reject: false,
          rejectHint: 0 as LogIndex,
          logTerm: 0 as Term,
        });
      } else if (m.type === 'PreVote') {
        this.send({ type: 'PreVoteResp', to: m.from, reject: true });
      }
      return;
    }

    if (m.type === 'Vote' || m.type === 'PreVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  /** RequestVote receiver (§5.2, §5.4.1), for votes and pre-votes alike. */
  private handleVoteRequest(m: VoteRequest): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      // A pre-vote for a later term is not a vote: granting one does not bind us.
      (m.type === 'PreVote' && m.term > this.term);
    const respType = m.type === 'Vote' ? 'VoteResp' : 'PreVoteResp';
    if (canVote && this.raftLog.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      // Answer in the term of the request: for a pre-vote that term is not ours yet.
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (m.type === 'Vote') {
        this.electionElapsedTicks = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
      if (m.type === 'Vote' && this.role === 'candidate' && m.term === this.term) this.noteRivalCandidate(m);
    }
  }

  /**
   * A Vote request for the term we campaign in comes from a rival candidate: both of us voted for
   * ourselves, so the vote is split unless the other voters settle it; with one voter of three
   * down (a dead leader, the usual reason for an election) nobody can win this term. Waiting out
   * the full randomized timeout again (§5.2) nearly doubles the election, and a fresh random draw
   * does not separate the two well: they timed out within a round trip of each other, so their
   * tick clocks are in step and equal draws collide again. Instead the two are ordered, and only
   * the first retries soon (after splitVoteRetryTicks): the one with the more up-to-date log, or
   * with equal logs the lower id. The other keeps the timeout it drew and, its log being no
   * further ahead, grants the retry its pre-vote and its vote. Only timing changes, and safety
   * does not rest on timing. The wait is only ever shortened, so a duplicated request cannot
   * postpone the retry.
   *
   * The retry cannot depose a leader its followers have heard from: they ignore pre-votes (and,
   * with CheckQuorum, votes) within their lease. It can only overtake a rival that won this term
   * before the rival's first append reached its voters; they then elect this node instead.
   */
  private noteRivalCandidate(m: VoteRequest): void {
    assert(this.vote === this.id, 'a candidate has voted for itself');
    const lastLogTerm = this.raftLog.lastTerm();
    const lastLogIndex = this.raftLog.lastIndex();
    const sameLog = m.lastLogTerm === lastLogTerm && m.lastLogIndex === lastLogIndex;
    const outranked = sameLog ? m.from < this.id : this.raftLog.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    if (outranked) return;
    const retryAt = this.electionElapsedTicks + this.cfg.splitVoteRetryTicks;
    if (retryAt < this.randomizedElectionTimeoutTicks) {
      this.randomizedElectionTimeoutTicks = retryAt;
      this.splitVoteRetry = true;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'AppResp':
        this.handleAppendResponse(m);
        return;
      case 'HeartbeatResp':
        this.handleHeartbeatResponse(m);
        return;
      case 'SnapResp':
        this.handleSnapshotResponse(m);
        return;
      case 'Prop':
        // A forwarded proposal that cannot be taken is dropped; the follower's client retries.
        if (this.leadTransferee === NONE) this.appendAndBroadcast(m.entries);
        return;
      case 'ReadIndex':
        this.handleReadIndex({ from: m.from, context: m.context }, false);
        return;
      case 'TransferLeader':
        this.handleTransferLeader(m.transferee);
        return;
      default:
        // Vote responses arriving after the election was won, and messages that only a follower
        // receives (another leader in the same term cannot exist).
        return;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'App':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'Heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'Snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshotChunk(m);
        return;
      case 'VoteResp':
      case 'PreVoteResp': {
        // Only answers to the current kind of campaign count.
        if ((m.type === 'VoteResp') !== (this.role === 'candidate')) return;
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'preCandidate') {
            this.campaign('election', false);
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          // A pre-candidate that lost keeps its term; a candidate stays in the term it started.
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        // Proposals, reads and transfers need a leader; none is known while campaigning.
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'App':
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case 'Heartbeat':
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'Snap':
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.handleSnapshotChunk(m);
        return;
      case 'TimeoutNow':
        // Leadership transfer (thesis §3.10): campaign at once, skipping PreVote and the lease.
        this.hup(true);
        return;
      case 'ReadIndexResp':
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        // Forwarded requests that reached a follower (the sender's idea of the leader was stale)
        // are dropped rather than forwarded again, so they can never circle.
        return;
    }
  }

  // -- Local requests (from RawNode) -----------------------------------------------------------

  propose(entries: readonly ProposedEntry[]): void {
    if (this.role === 'leader') {
      if (this.leadTransferee !== NONE) {
        throw new RaftError('TRANSFER_IN_PROGRESS', `handing leadership to ${this.leadTransferee}`);
      }
      if (!this.appendAndBroadcast(entries)) {
        throw new RaftError('PROPOSAL_DROPPED', `over ${this.cfg.maxUncommittedEntriesBytes} uncommitted bytes`);
      }
      return;
    }
    if (this.lead === NONE)
      throw new RaftError('PROPOSAL_DROPPED', `node ${this.id} knows no leader in term ${this.term}`);
    this.send({ type: 'Prop', to: this.lead, term: 0 as Term, entries });
  }

  readIndex(context: Uint8Array): void {
    if (this.role === 'leader') {
      this.handleReadIndex({ from: this.id, context }, true);
      return;
    }
    if (this.lead === NONE)
      throw new RaftError('READ_INDEX_DROPPED', `node ${this.id} knows no leader in term ${this.term}`);
    this.send({ type: 'ReadIndex', to: this.lead, term: 0 as Term, context });
  }

  transferLeadership(transferee: NodeId): void {
    if (this.role === 'leader') {
      if (!this.voters.includes(transferee)) {
        throw new RaftError('INVALID_ARGUMENT', `cannot transfer leadership to ${transferee}: not a voter`);
      }
      this.handleTransferLeader(transferee);
      return;
    }
    if (this.lead === NONE) throw new RaftError('NOT_LEADER', `node ${this.id} knows no leader to ask`);
    this.send({ type: 'TransferLeader', to: this.lead, term: 0 as Term, transferee });
  }

  /** The transport could not reach `id`: stop pipelining to it and probe instead. */
  reportUnreachable(id: NodeId): void {
    const pr = this.prs.get(id);
    if (this.role !== 'leader' || pr === undefined || id === this.id) return;
    if (pr.state === 'replicate') pr.becomeProbe();
  }

  /**
   * The transport reports whether snapshot chunks could be delivered to `id`. A failure abandons
   * the transfer; the leader probes again after the follower's next heartbeat response. Success
   * needs no action: the follower's acknowledgements drive the transfer.
   */
  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.prs.get(id);
    if (this.role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.abortSnapshot();
  }

  // -- Leader: replication ---------------------------------------------------------------------

  /**
   * Appends entries to the leader's log with the current term. Returns false (appending nothing)
   * when they would take the uncommitted payload over its limit.
   */
  private appendEntries(proposed: readonly ProposedEntry[]): boolean {
    const last = this.raftLog.lastIndex();
    const entries = proposed.map((p, i) => ({
      term: this.term,
      index: (last + 1 + i) as LogIndex,
      type: p.type,
      data: p.data,
    }));
    const bytes = payloadBytes(entries);
    // A single proposal larger than the limit is still taken when nothing is uncommitted.
    if (this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > this.cfg.maxUncommittedEntriesBytes) {
      return false;
    }
    this.uncommittedBytes += bytes;
    this.raftLog.append(entries);
    return true;
  }

  private appendAndBroadcast(entries: readonly ProposedEntry[]): boolean {
    if (entries.length === 0) return true;
    if (!this.appendEntries(entries)) return false;
    this.bcastAppend();
    return true;
  }

  bcastAppend(): void {
    for (const id of this.prs.keys()) {
      if (id !== this.id) this.maybeSendAppend(id, true);
    }
  }

  private bcastHeartbeat(context: Uint8Array | null): void {
    for (const id of this.prs.keys()) {
      if (id !== this.id) this.sendHeartbeat(id, context);
    }
  }

  private sendHeartbeat(to: NodeId, context: Uint8Array | null): void {
    const pr = this.prs.get(to)!;
    // Never tell a follower of a commit index beyond what it is known to hold: it could not
    // verify the entries, and commitTo would rightly refuse.
    const commit = Math.min(pr.match, this.raftLog.committed) as LogIndex;
    pr.sentCommitFor(commit, pr.match);
    this.send({ type: 'Heartbeat', to, commit, context });
  }

  /**
   * Sends `to` the entries it lacks, as far as flow control allows, or starts a snapshot transfer
   * when they are compacted. Returns whether a message was sent. With `sendIfEmpty` an append
   * with no entries still goes out (to carry the commit index or to probe).
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevLogIndex = (pr.next - 1) as LogIndex;
    assert(prevLogIndex <= this.raftLog.lastIndex(), () => `next ${pr.next} for ${to} is beyond the log`);
    const prevLogTerm = this.raftLog.term(prevLogIndex);
    if (prevLogTerm === undefined) {
      // The entries it needs are compacted away.
      return this.maybeSendSnapshot(to, pr);
    }
    const entries = this.raftLog.entriesFrom(pr.next, this.cfg.maxSizePerMsgBytes);
    if (entries.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of entries) bytes += entrySizeBytes(e);
    const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : prevLogIndex;
    this.send({ type: 'App', to, prevLogIndex, prevLogTerm, entries, commit: this.raftLog.committed });
    pr.sentCommitFor(this.raftLog.committed, lastIndex);
    pr.sentEntries(entries.length, lastIndex, bytes);
    return true;
  }

  /** Keeps sending to `to` while the pipeline has room and there are entries it lacks. */
  private sendAppendsWhileOpen(to: NodeId): void {
    while (this.maybeSendAppend(to, false)) {
      const pr = this.prs.get(to)!;
      if (pr.state !== 'replicate' || pr.next > this.raftLog.lastIndex()) return;
    }
  }

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.prs.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (m.reject) {
      // Fast backtracking: the follower told us the largest index at which it might match. If it
      // also sent that entry's term, skip every entry of ours with a later term as well.
      let matchHint = m.rejectHint;
      if (m.logTerm > 0) matchHint = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, matchHint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.maybeSendAppend(m.from, true);
      }
      return;
    }
    const updated = pr.maybeUpdate(m.index);
    if (!updated && !(pr.match === m.index && pr.state === 'probe')) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot') {
      // The follower caught up, by the snapshot or otherwise: replicate from its match if the log
      // can serve it, else keep going with the transfer.
      if (pr.match + 1 >= this.raftLog.firstIndex()) {
        pr.becomeProbe();
        pr.becomeReplicate();
      }
    } else {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommitAndRelease()) {
      this.bcastAppend();
    } else if (pr.canBumpCommit(this.raftLog.committed)) {
      // The commit index moved on before this follower caught up: tell it now, not at the next heartbeat.
      this.maybeSendAppend(m.from, true);
    }
    this.sendAppendsWhileOpen(m.from);
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.send({ type: 'TimeoutNow', to: m.from });
    }
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.prs.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    // A full pipeline whose appends were lost would wait forever; free one slot so an append goes
    // out, whose rejection (if the follower missed earlier ones) sends us back to probing.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.match < this.raftLog.lastIndex()) this.maybeSendAppend(m.from, true);
    if (m.context !== null) {
      for (const { index, request } of this.readOnly.recvAck(m.from, m.context, this.voters)) {
        this.answerRead(request, index);
      }
    }
  }

  /** Applies the commit rule; on the first commit of the term, releases the reads that waited for it. */
  private maybeCommitAndRelease(): boolean {
    const quorumIndex = committedIndex(this.voters, (id) => this.prs.get(id)?.match);
    if (!this.raftLog.maybeCommit(quorumIndex, this.term)) return false;
    if (this.pendingReadIndex.length > 0 && this.committedEntryInCurrentTerm()) {
      const waiting = this.pendingReadIndex;
      this.pendingReadIndex = [];
      for (const request of waiting) this.startReadRound(request);
    }
    return true;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.term(this.raftLog.committed) === this.term;
  }

  /**
   * Called by RawNode.advance once entries up to `lastIndex` (with `lastTerm`) are durable. The
   * leader counts itself towards a quorum only from here, so everything it commits is on its own
   * disk as well as on a majority's.
   */
  onEntriesPersisted(lastIndex: LogIndex, lastTerm: Term): void {
    this.raftLog.stableTo(lastIndex, lastTerm);
    if (this.role !== 'leader' || this.raftLog.term(lastIndex) !== lastTerm) return;
    const self = this.prs.get(this.id)!;
    if (self.maybeUpdate(lastIndex) && this.maybeCommitAndRelease()) this.bcastAppend();
  }

  /** Called by RawNode.advance once committed entries have been handed to the application. */
  onEntriesApplied(lastIndex: LogIndex, appliedPayloadBytes: number): void {
    this.raftLog.appliedTo(lastIndex);
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - appliedPayloadBytes);
  }

  onSnapshotPersisted(snapshotIndex: LogIndex): void {
    this.raftLog.stableSnapTo(snapshotIndex);
    if (snapshotIndex > this.raftLog.applied) this.raftLog.applied = snapshotIndex;
  }

  // -- Leader: snapshots -----------------------------------------------------------------------

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // A follower we have not heard from recently is likely down; streaming a snapshot at it
    // would waste bandwidth. Its next heartbeat response makes it active again.
    if (!pr.recentActive) return false;
    const snapshot: Snapshot = this.raftLog.snapshot();
    assert(
      snapshot.metadata.index >= this.raftLog.firstIndex() - 1,
      () => `snapshot at ${snapshot.metadata.index} leaves a gap before first index ${this.raftLog.firstIndex()}`,
    );
    pr.becomeSnapshot(snapshot);
    this.sendSnapshotChunk(to, pr);
    return true;
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const transfer = pr.transfer;
    assert(transfer !== undefined, 'snapshot chunk without a transfer');
    const total = transfer.snapshot.data.byteLength;
    const offsetBytes = transfer.ackedBytes;
    const end = Math.min(total, offsetBytes + this.cfg.snapshotChunkBytes);
    transfer.heartbeatsWaited = 0;
    this.send({
      type: 'Snap',
      to,
      metadata: transfer.snapshot.metadata,
      offsetBytes,
      data: transfer.snapshot.data.subarray(offsetBytes, end),
      done: end === total,
    });
  }

  /** On each heartbeat: resend chunks that went unacknowledged; give up after the retry limit. */
  private tickSnapshotTransfers(): void {
    for (const [id, pr] of this.prs) {
      const transfer = pr.transfer;
      if (pr.state !== 'snapshot' || transfer === undefined) continue;
      transfer.heartbeatsWaited++;
      if (transfer.heartbeatsWaited < this.cfg.snapshotChunkTimeoutHeartbeats) continue;
      transfer.retries++;
      if (transfer.retries > this.cfg.snapshotChunkRetriesMax) {
        pr.abortSnapshot();
        continue;
      }
      this.sendSnapshotChunk(id, pr);
    }
  }

  private handleSnapshotResponse(m: SnapshotResponse): void {
    const pr = this.prs.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    const transfer = pr.transfer;
    if (pr.state !== 'snapshot' || transfer === undefined || transfer.snapshot.metadata.index !== m.snapshotIndex)
      return;
    // A follower only ever accepts chunks in order, so within one transfer its count of received
    // bytes never decreases. Only an answer that moves the transfer on triggers the next chunk;
    // anything else (a duplicate, a late answer) is ignored, so duplicated acknowledgements
    // cannot multiply the chunks in flight. A lost chunk is resent by tickSnapshotTransfers.
    if (m.reject) {
      // The follower holds nothing of this snapshot (it restarted): start over, once.
      if (transfer.ackedBytes === 0) return;
      transfer.ackedBytes = 0;
      transfer.retries++;
      if (transfer.retries > this.cfg.snapshotChunkRetriesMax) {
        pr.abortSnapshot();
        return;
      }
    } else {
      // The last chunk is acknowledged by an AppResp, never by a SnapResp.
      if (m.receivedBytes <= transfer.ackedBytes || m.receivedBytes >= transfer.snapshot.data.byteLength) return;
      transfer.ackedBytes = m.receivedBytes;
      transfer.retries = 0;
    }
    this.sendSnapshotChunk(m.from, pr);
  }

  // -- Leader: reads and transfers -------------------------------------------------------------

  private handleReadIndex(request: ReadRequest, local: boolean): void {
    if (this.voters.length === 1 && this.voters[0] === this.id) {
      // Alone, our commit index is the group's: nobody else can have committed anything.
      this.answerRead(request, this.raftLog.committed);
      return;
    }
    const pending = this.pendingReadIndex.length + this.readOnly.size;
    if (pending >= this.cfg.maxPendingReadIndexRequests) {
      if (local) throw new RaftError('READ_INDEX_DROPPED', `${pending} requests already pending`);
      return;
    }
    if (!this.committedEntryInCurrentTerm()) {
      // A fresh leader's commit index may lag entries committed by its predecessor; it is only
      // trustworthy once an entry of this term is committed (thesis §6.4 step 1).
      this.pendingReadIndex.push(request);
      return;
    }
    this.startReadRound(request);
  }

  private startReadRound(request: ReadRequest): void {
    this.readOnly.add(this.raftLog.committed, request, this.id);
    this.bcastHeartbeat(request.context);
  }

  private answerRead(request: ReadRequest, index: LogIndex): void {
    if (request.from === this.id) this.readStates.push({ index, context: request.context });
    else this.send({ type: 'ReadIndexResp', to: request.from, index, context: request.context });
  }

  private handleTransferLeader(transferee: NodeId): void {
    const pr = this.prs.get(transferee);
    if (pr === undefined || pr.isLearner) return;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return; // already under way
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return; // already the leader
    // The transfer must finish within an election timeout, or tickHeartbeat abandons it.
    this.electionElapsedTicks = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.raftLog.lastIndex()) this.send({ type: 'TimeoutNow', to: transferee });
    else this.maybeSendAppend(transferee, true);
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // -- Follower --------------------------------------------------------------------------------

  /** AppendEntries receiver (§5.3). Replies are sent only after the Ready holding the entries is durable. */
  private handleAppend(m: AppendRequest): void {
    if (m.prevLogIndex < this.raftLog.committed) {
      // Everything up to our commit index already matches the leader (Leader Completeness); say so
      // and let the leader continue from there.
      this.sendAppendResponse(m.from, this.raftLog.committed);
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.prevLogIndex, m.prevLogTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.sendAppendResponse(m.from, lastNew);
      return;
    }
    // No entry at prevLogIndex with prevLogTerm. Hint where we might match: the last index at or
    // below it whose term is not later than prevLogTerm, so the leader can skip a term at a time.
    const hint = this.raftLog.findConflictByTerm(
      Math.min(m.prevLogIndex, this.raftLog.lastIndex()) as LogIndex,
      m.prevLogTerm,
    );
    this.send({
      type: 'AppResp',
      to: m.from,
      index: m.prevLogIndex,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  private sendAppendResponse(to: NodeId, index: LogIndex): void {
    this.send({ type: 'AppResp', to, index, reject: false, rejectHint: 0 as LogIndex, logTerm: 0 as Term });
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    this.raftLog.commitTo(m.commit);
    this.send({ type: 'HeartbeatResp', to: m.from, context: m.context });
  }

  /** InstallSnapshot receiver (§7), one chunk at a time. */
  private handleSnapshotChunk(m: SnapshotChunk): void {
    const metadata = m.metadata;
    if (metadata.index <= this.raftLog.committed) {
      // We already hold everything it covers (perhaps a retransmitted last chunk).
      this.incomingSnapshot = undefined;
      this.sendAppendResponse(m.from, this.raftLog.committed);
      return;
    }
    const ack = (receivedBytes: number, reject: boolean) =>
      this.send({ type: 'SnapResp', to: m.from, snapshotIndex: metadata.index, receivedBytes, reject });
    let incoming = this.incomingSnapshot;
    if (incoming !== undefined && !isSameTransfer(incoming, m)) incoming = undefined;
    if (incoming === undefined) {
      if (m.offsetBytes !== 0) {
        // We hold nothing of this snapshot (we restarted, or it is new to us): start over.
        ack(0, true);
        return;
      }
      incoming = { leader: m.from, term: m.term, metadata, chunks: [], receivedBytes: 0 };
      this.incomingSnapshot = incoming;
    }
    if (m.offsetBytes !== incoming.receivedBytes) {
      // A duplicate or out-of-order chunk (or the leader restarting a transfer we had partly
      // received): say where we are; the leader resumes from there.
      ack(incoming.receivedBytes, false);
      return;
    }
    if (incoming.receivedBytes + m.data.byteLength > this.cfg.snapshotBytesMax) {
      this.incomingSnapshot = undefined;
      ack(0, true);
      return;
    }
    incoming.chunks.push(m.data);
    incoming.receivedBytes += m.data.byteLength;
    if (!m.done) {
      ack(incoming.receivedBytes, false);
      return;
    }
    this.incomingSnapshot = undefined;
    const snapshot: Snapshot = { metadata, data: concatBytes(incoming.chunks, incoming.receivedBytes) };
    if (this.restore(snapshot)) this.sendAppendResponse(m.from, this.raftLog.lastIndex());
    else this.sendAppendResponse(m.from, this.raftLog.committed);
  }

  /**
   * Installs a snapshot. Returns false when it brings nothing new: it is older than our commit
   * index, or our log already holds its last entry (then we only fast-forward the commit index).
   */
  restore(snapshot: Snapshot): boolean {
    const { index, term } = snapshot.metadata;
    if (index <= this.raftLog.committed) return false;
    assert(this.role === 'follower', () => `a ${this.role} cannot install a snapshot`);
    if (this.raftLog.matchTerm(index, term)) {
      this.raftLog.commitTo(index);
      return false;
    }
    this.raftLog.restore(snapshot);
    return true;
  }
}
