import type { RaftConfig } from './config.js';
import { RaftError } from './errors.js';
import type { ProgressState } from './progress.js';
import { Raft } from './raft.js';
import type { Ready } from './ready.js';
import {
  EMPTY_HARD_STATE,
  type HardState,
  hardStateEquals,
  isEmptyHardState,
  type LogIndex,
  type Message,
  type NodeId,
  type NodeIdOrNone,
  nodeId,
  type Role,
  type SoftState,
  type Term,
} from './types.js';
import { assert, payloadBytes } from './util.js';

/** What the leader knows about one follower's replication, as reported by `status()`. */
export interface ProgressStatus {
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: ProgressState;
  readonly paused: boolean;
  readonly inflightMsgs: number;
  readonly recentActive: boolean;
  readonly isLearner: boolean;
  /** The index of the snapshot being sent, in the snapshot state. */
  readonly pendingSnapshot: LogIndex;
}

export interface Status {
  readonly id: NodeId;
  readonly term: Term;
  readonly vote: NodeIdOrNone;
  readonly lead: NodeIdOrNone;
  readonly role: Role;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly firstIndex: LogIndex;
  readonly lastIndex: LogIndex;
  readonly leadTransferee: NodeIdOrNone;
  /** Per-follower replication state; present only on the leader. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus> | undefined;
}

/**
 * The application's handle on a Raft node: a synchronous, deterministic state machine. Feed it
 * time (`tick`), messages (`step`) and requests (`propose`, `readIndex`, `transferLeadership`,
 * `campaign`); collect its output with `ready()` and acknowledge it with `advance()`. See `Ready`
 * for the order in which the output must be handled.
 *
 * Proposals and reads may be lost without an error (a leader change, a dropped message): the
 * caller detects that by a timeout and retries, deduplicating on its side if it must.
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private readyInProgress: Ready | undefined = undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    // A restarting node's hard state is already durable; a fresh one has nothing to report.
    this.prevHardState = this.raft.hardState();
    if (isEmptyHardState(this.prevHardState)) this.prevHardState = EMPTY_HARD_STATE;
  }

  /** Advances logical time by one tick (heartbeats, election timeouts). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (with a pre-vote round when PreVote is on). Ignored on a leader or a non-voter. */
  campaign(): void {
    this.raft.hup(false);
  }

  /**
   * Proposes `data` for the log. On the leader it is appended; on a follower it is forwarded to
   * the leader. Throws RaftError PROPOSAL_DROPPED when no leader is known (or the uncommitted
   * limit is reached) and TRANSFER_IN_PROGRESS while the leader is handing over. Returning
   * normally does not mean the entry will commit.
   */
  propose(data: Uint8Array): void {
    this.raft.propose([{ type: 'normal', data }]);
  }

  /** Feeds a message received from a peer. Throws RaftError INVALID_ARGUMENT if it is not addressed to this node. */
  step(message: Message): void {
    if (message.to !== this.raft.id) {
      throw new RaftError('INVALID_ARGUMENT', `message to ${message.to} delivered to node ${this.raft.id}`);
    }
    nodeId(message.from);
    this.raft.step(message);
  }

  /**
   * Asks for a linearizable read point. The answer arrives as a ReadState with the same `context`
   * in a later Ready. Contexts must be unique and never reused: the leader matches heartbeat
   * acknowledgements to requests by context, and a late acknowledgement of an earlier round must
   * not count for a new one. Throws READ_INDEX_DROPPED when no leader is known or too many
   * requests are pending.
   */
  readIndex(context: Uint8Array): void {
    this.raft.readIndex(context);
  }

  /**
   * Asks the leader to hand leadership to `transferee`: it stops taking proposals, brings the
   * transferee's log up to date and tells it to campaign at once; it gives up after an election
   * timeout. On a follower the request is forwarded to the leader.
   */
  transferLeadership(transferee: NodeId): void {
    this.raft.transferLeadership(nodeId(transferee));
  }

  /** The transport failed to reach `id`; the leader stops pipelining to it. */
  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  /** The transport's verdict on sending snapshot chunks to `id`; `false` abandons the transfer. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(id, ok);
  }

  /** Whether `ready()` has anything to hand out. False while a Ready awaits `advance`. */
  hasReady(): boolean {
    if (this.readyInProgress !== undefined) return false;
    const r = this.raft;
    const soft = r.softState();
    if (soft.lead !== this.prevSoftState.lead || soft.role !== this.prevSoftState.role) return true;
    if (!hardStateEquals(r.hardState(), this.prevHardState)) return true;
    if (r.raftLog.unstable.snapshot !== undefined) return true;
    if (r.raftLog.unstable.entries.length > 0) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    return r.raftLog.hasNextCommittedEntries();
  }

  /** Collects the pending output. Call `advance` with it once handled (see `Ready`). */
  ready(): Ready {
    assert(this.readyInProgress === undefined, 'ready() called again before advance()');
    const r = this.raft;
    const soft = r.softState();
    const hard = r.hardState();
    const softChanged = soft.lead !== this.prevSoftState.lead || soft.role !== this.prevSoftState.role;
    const hardChanged = !hardStateEquals(hard, this.prevHardState);
    const entries = [...r.raftLog.unstable.entries];
    const snapshot = r.raftLog.unstable.snapshot;
    const rd: Ready = {
      softState: softChanged ? soft : undefined,
      hardState: hardChanged ? hard : undefined,
      entries,
      snapshot,
      committedEntries: r.raftLog.nextCommittedEntries(),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        hard.term !== this.prevHardState.term ||
        hard.vote !== this.prevHardState.vote,
    };
    r.msgs = [];
    r.readStates = [];
    this.prevSoftState = soft;
    this.prevHardState = hard;
    this.readyInProgress = rd;
    return rd;
  }

  /** Acknowledges that `ready` has been persisted, sent and applied as its contract requires. */
  advance(ready: Ready): void {
    assert(this.readyInProgress === ready, 'advance() with a Ready that is not the one in progress');
    this.readyInProgress = undefined;
    const r = this.raft;
    if (ready.snapshot !== undefined) r.onSnapshotPersisted(ready.snapshot.metadata.index);
    const last = ready.entries[ready.entries.length - 1];
    if (last !== undefined) r.onEntriesPersisted(last.index, last.term);
    const lastCommitted = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastCommitted !== undefined) r.onEntriesApplied(lastCommitted.index, payloadBytes(ready.committedEntries));
  }

  status(): Status {
    const r = this.raft;
    let progress: Map<NodeId, ProgressStatus> | undefined;
    if (r.role === 'leader') {
      progress = new Map();
      for (const [id, pr] of r.prs) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          paused: pr.isPaused(),
          inflightMsgs: pr.inflights.count,
          recentActive: pr.recentActive,
          isLearner: pr.isLearner,
          pendingSnapshot: pr.pendingSnapshot,
        });
      }
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      role: r.role,
      commit: r.raftLog.committed,
      applied: r.raftLog.applied,
      firstIndex: r.raftLog.firstIndex(),
      lastIndex: r.raftLog.lastIndex(),
      leadTransferee: r.leadTransferee,
      progress,
    };
  }
}

/**
 * Test and simulator access to the state machine behind a RawNode (its log, its progress). Not
 * exported from the package: applications have no business reaching inside.
 */
export function inspectRaft(node: RawNode): Raft {
  return (node as unknown as { raft: Raft }).raft;
}
