import { RaftError } from './errors.js';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A member of the Raft group: a positive safe integer. 0 is reserved for "nobody". */
export type NodeId = Brand<number, 'NodeId'>;
/** A Raft term (§5.1): a non-negative safe integer; term 0 precedes every election. */
export type Term = Brand<number, 'Term'>;
/** A position in the Raft log: a non-negative safe integer; index 0 precedes the first entry. */
export type LogIndex = Brand<number, 'LogIndex'>;

/** "No node": no vote cast, no leader known. */
export const NONE = 0 as const;
export type NodeIdOrNone = NodeId | typeof NONE;

/** Checks a number arriving from outside (configuration, the wire) and brands it. */
export function nodeId(value: number): NodeId {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RaftError('INVALID_ARGUMENT', `node id must be a positive safe integer, got ${value}`);
  }
  return value as NodeId;
}

export function term(value: number): Term {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RaftError('INVALID_ARGUMENT', `term must be a non-negative safe integer, got ${value}`);
  }
  return value as Term;
}

export function logIndex(value: number): LogIndex {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RaftError('INVALID_ARGUMENT', `log index must be a non-negative safe integer, got ${value}`);
  }
  return value as LogIndex;
}

/**
 * `normal` entries carry application data (the leader's empty entry at the start of its term is a
 * normal entry with no data). `config` entries are reserved for one-at-a-time membership changes;
 * the core stores and replicates them but does not interpret them yet: voters are fixed by the
 * storage's ConfState.
 */
export type EntryType = 'normal' | 'config';

/** An entry of the replicated log. Entries are immutable once created: share them, never edit. */
export interface Entry {
  readonly term: Term;
  readonly index: LogIndex;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What a proposal carries before the leader gives it a term and an index. */
export interface ProposedEntry {
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** The state that must survive a crash before any message that depends on it is sent (Figure 2). */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeIdOrNone;
  readonly commit: LogIndex;
}

export const EMPTY_HARD_STATE: HardState = { term: 0 as Term, vote: NONE, commit: 0 as LogIndex };

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0;
}

export function hardStateEquals(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** The group's membership. Voters count towards quorums; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  /** The last log index the snapshot covers. */
  readonly index: LogIndex;
  /** The term of the entry at `index`. */
  readonly term: Term;
  /** The membership as of `index`. */
  readonly confState: ConfState;
}

/** An application state-machine image as of `metadata.index`; `data` is opaque to the core. */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state worth reporting to the application when it changes. */
export interface SoftState {
  readonly lead: NodeIdOrNone;
  readonly role: Role;
}

/**
 * The answer to a ReadIndex request: once the application has applied the log through `index`, a
 * read of its state machine is linearizable with respect to the moment the request was made.
 */
export interface ReadState {
  readonly index: LogIndex;
  readonly context: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Messages. Plain data: every field is JSON-serialisable except the Uint8Array payloads (entry
// data, snapshot chunks, ReadIndex contexts), so a transport can send a JSON header followed by
// raw binary sections. Every message names its sender, its recipient and the sender's term.
// Forwarded requests (Prop, ReadIndex, TransferLeader) carry term 0: they are not part of the
// term protocol and the leader accepts them whatever term they were sent in.
// ---------------------------------------------------------------------------------------------

interface Header {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/** RequestVote (§5.2), or its PreVote rehearsal (thesis §9.6) which carries the term the sender would use. */
export interface VoteRequest extends Header {
  readonly type: 'Vote' | 'PreVote';
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /** Set when the campaign follows a TimeoutNow: voters then disregard their leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponse extends Header {
  readonly type: 'VoteResp' | 'PreVoteResp';
  readonly reject: boolean;
}

/** AppendEntries (§5.3). An empty `entries` still carries the leader's commit index. */
export interface AppendRequest extends Header {
  readonly type: 'App';
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
}

/**
 * On success, `index` is the last index now known to match the leader's log. On rejection,
 * `index` is the rejected `prevLogIndex`, and (`rejectHint`, `logTerm`) is the follower's guess
 * at where the logs may still agree: the largest index ≤ min(prevLogIndex, lastIndex) whose term
 * is ≤ prevLogTerm, and that term. The leader uses it to skip whole terms while backtracking.
 */
export interface AppendResponse extends Header {
  readonly type: 'AppResp';
  readonly index: LogIndex;
  readonly reject: boolean;
  readonly rejectHint: LogIndex;
  readonly logTerm: Term;
}

/** Leader liveness, commit propagation, and the quorum round that confirms a ReadIndex. */
export interface HeartbeatRequest extends Header {
  readonly type: 'Heartbeat';
  /** min(follower's match, leader's commit): a follower never learns a commit beyond what it holds. */
  readonly commit: LogIndex;
  /** The ReadIndex context this round confirms, if any. */
  readonly context: Uint8Array | null;
}

export interface HeartbeatResponse extends Header {
  readonly type: 'HeartbeatResp';
  readonly context: Uint8Array | null;
}

/** One chunk of an InstallSnapshot (§7). Chunks are sent one at a time, each acknowledged. */
export interface SnapshotChunk extends Header {
  readonly type: 'Snap';
  readonly metadata: SnapshotMetadata;
  readonly offsetBytes: number;
  readonly data: Uint8Array;
  /** True on the last chunk: the follower then installs the assembled snapshot. */
  readonly done: boolean;
}

/**
 * Acknowledges snapshot chunks: the follower holds `receivedBytes` contiguous bytes of the
 * snapshot at `snapshotIndex`. `reject` means it holds nothing of it and the leader must restart
 * from offset 0. Completion is acknowledged with an AppResp instead, like any other catch-up.
 */
export interface SnapshotResponse extends Header {
  readonly type: 'SnapResp';
  readonly snapshotIndex: LogIndex;
  readonly receivedBytes: number;
  readonly reject: boolean;
}

/** Leadership transfer (thesis §3.10): "campaign now, even though you have a leader". */
export interface TimeoutNow extends Header {
  readonly type: 'TimeoutNow';
}

/** A follower forwarding a transfer request to its leader. */
export interface TransferLeaderRequest extends Header {
  readonly type: 'TransferLeader';
  readonly transferee: NodeId;
}

/** A follower forwarding a ReadIndex request to its leader. */
export interface ReadIndexRequest extends Header {
  readonly type: 'ReadIndex';
  readonly context: Uint8Array;
}

export interface ReadIndexResponse extends Header {
  readonly type: 'ReadIndexResp';
  readonly index: LogIndex;
  readonly context: Uint8Array;
}

/** A follower forwarding a proposal to its leader. */
export interface ProposalRequest extends Header {
  readonly type: 'Prop';
  readonly entries: readonly ProposedEntry[];
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotResponse
  | TimeoutNow
  | TransferLeaderRequest
  | ReadIndexRequest
  | ReadIndexResponse
  | ProposalRequest;

export type MessageType = Message['type'];

/** Messages that do not take part in the term protocol (see the note above the message types). */
export function isForwardedRequest(m: Message): m is ProposalRequest | ReadIndexRequest | TransferLeaderRequest {
  return m.type === 'Prop' || m.type === 'ReadIndex' || m.type === 'TransferLeader';
}
