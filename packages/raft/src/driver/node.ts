import { randomBytes } from 'node:crypto';
import { MillraceError } from '@millrace/protocol';
import { isRaftError } from '../errors.js';
import { createRandom } from '../random.js';
import { RawNode, type Status } from '../raw-node.js';
import type { Ready } from '../ready.js';
import type { Entry, LogIndex, Message, NodeId, NodeIdOrNone, Snapshot } from '../types.js';
import { InvariantViolation } from '../util.js';
import type { LevelRaftStorage } from './level-storage.js';
import type { RaftMessageSink, RaftTransport } from './transport.js';

/**
 * The application's state machine. `apply` is called once per committed entry, in log order, on
 * every node; it must be deterministic. `snapshot` captures everything applied so far; `restore`
 * replaces the state with a snapshot's (at start, and when the leader sends one).
 */
export interface StateMachine<R = unknown> {
  apply(data: Uint8Array, index: LogIndex): R;
  snapshot(): Uint8Array;
  restore(snapshot: Snapshot): void;
}

export interface RaftNodeOptions<R> {
  readonly id: NodeId;
  readonly storage: LevelRaftStorage;
  readonly stateMachine: StateMachine<R>;
  /** Milliseconds per logical tick. Default 50. */
  readonly tickMs?: number;
  /** Election timeout in ticks (randomized up to twice this). Default 10: 500–1000 ms at the default tick. */
  readonly electionTimeoutTicks?: number;
  /** Heartbeat interval in ticks. Default 1. */
  readonly heartbeatTimeoutTicks?: number;
  /** Take a snapshot (and compact the log) after this many entries applied since the last one. Default 10,000. */
  readonly snapshotEveryEntries?: number;
  /** Entries kept behind a snapshot for followers that are only slightly behind. Default 1,000. */
  readonly keepEntriesAfterSnapshot?: number;
  /** Seed of the election-timeout randomness; random by default. */
  readonly seed?: number;
  /** Called when the core reports a broken invariant. The default rethrows: the process must stop. */
  readonly onFatal?: (error: Error) => void;
}

export interface LeaderChange {
  readonly leaderId: NodeIdOrNone;
  readonly term: number;
  readonly isLeader: boolean;
}

interface PendingProposal<R> {
  resolve(value: { index: LogIndex; result: R }): void;
  reject(error: Error): void;
  /** `performance.now()` past which the proposal fails with REQUEST_TIMED_OUT. */
  readonly deadlineMs: number;
  readonly timeoutMs: number;
}

interface PendingRead {
  resolve(index: LogIndex): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
  /** Set once the leader has answered: the read is safe when the applied index reaches it. */
  index?: LogIndex;
}

/** Every proposal's entry starts with this header, so that the proposing node can resolve it on apply. */
const PROPOSAL_HEADER_BYTES = 13;
const PROPOSAL_TAG = 1;

/**
 * A Raft node at run time: the pure core (RawNode) driven by a real timer, LevelDB storage and a
 * transport. One loop handles each Ready in the order its contract requires: persist (one batch,
 * synced), mirror into memory, then send, then apply, then advance. Ticks and messages may arrive
 * while a write is in flight; what they produce is handled in the next round of the loop.
 *
 * `propose` resolves once the entry is applied on this node (which implies committed) with what
 * the state machine returned; it rejects with NOT_CONTROLLER when there is no leader to take it,
 * REQUEST_TIMED_OUT when it did not commit in time (it may still commit later: callers retry
 * idempotently), and NODE_NOT_READY when the node stops.
 */
export class RaftNode<R = unknown> implements RaftMessageSink {
  readonly id: NodeId;
  readonly #raw: RawNode;
  readonly #storage: LevelRaftStorage;
  readonly #stateMachine: StateMachine<R>;
  readonly #options: RaftNodeOptions<R>;
  #transport: RaftTransport | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #looping = false;
  #loopDone: Promise<void> = Promise.resolve();
  #stopped = false;
  #applied: LogIndex;
  #snapshotIndex: LogIndex;
  #sequence = 0;
  readonly #proposals = new Map<number, PendingProposal<R>>();
  /**
   * One timer for every proposal's deadline, armed for the earliest: a timer per proposal cost a
   * timer object, and its arming and clearing, for each of tens of thousands a second.
   */
  #deadlineTimer: NodeJS.Timeout | undefined;
  #deadlineTimerAtMs = Number.POSITIVE_INFINITY;
  readonly #reads = new Map<string, PendingRead>();
  readonly #leaderListeners = new Set<(change: LeaderChange) => void>();
  #leader: NodeIdOrNone = 0;
  /** When a message last arrived from each peer, for the quorum's status (Kafka's last fetch time). */
  readonly #lastHeardMs = new Map<number, number>();

  constructor(options: RaftNodeOptions<R>) {
    this.id = options.id;
    this.#options = options;
    this.#storage = options.storage;
    this.#stateMachine = options.stateMachine;
    const snapshot = options.storage.memory.snapshot();
    this.#snapshotIndex = snapshot.metadata.index;
    this.#applied = snapshot.metadata.index;
    if (snapshot.metadata.index > 0) this.#stateMachine.restore(snapshot);
    this.#raw = new RawNode({
      id: options.id,
      storage: options.storage.memory,
      random: createRandom(options.seed ?? randomBytes(4).readUInt32BE(0)),
      electionTimeoutTicks: options.electionTimeoutTicks ?? 10,
      heartbeatTimeoutTicks: options.heartbeatTimeoutTicks ?? 1,
      applied: this.#applied,
    });
  }

  /** Starts the clock and the loop. Messages received before `start` are not accepted. */
  start(transport: RaftTransport): void {
    this.#transport = transport;
    this.#ticker = setInterval(() => this.#guard(() => this.#raw.tick()), this.#options.tickMs ?? 50);
    this.#schedule();
  }

  receive(messages: readonly Message[]): void {
    if (this.#transport === undefined || this.#stopped) return;
    const now = Date.now();
    for (const message of messages) this.#lastHeardMs.set(message.from, now);
    this.#guard(() => {
      for (const message of messages) {
        try {
          this.#raw.step(message);
        } catch (error) {
          // A message the core refuses (addressed elsewhere, malformed) is dropped, as a lost one would be.
          if (!isRaftError(error)) throw error;
        }
      }
    });
  }

  reportUnreachable(id: NodeId): void {
    this.#guard(() => this.#raw.reportUnreachable(id));
  }

  propose(data: Uint8Array, timeoutMs = 5000): Promise<{ index: LogIndex; result: R }> {
    try {
      this.#checkRunning();
    } catch (error) {
      return Promise.reject(error);
    }
    const sequence = ++this.#sequence;
    const entry = Buffer.allocUnsafe(PROPOSAL_HEADER_BYTES + data.length);
    entry[0] = PROPOSAL_TAG;
    entry.writeUInt32BE(this.id, 1);
    entry.writeDoubleBE(sequence, 5);
    entry.set(data, PROPOSAL_HEADER_BYTES);
    return new Promise((resolve, reject) => {
      try {
        this.#raw.propose(entry);
      } catch (error) {
        reject(toMillraceError(error));
        return;
      }
      const deadlineMs = performance.now() + timeoutMs;
      this.#proposals.set(sequence, { resolve, reject, deadlineMs, timeoutMs });
      if (deadlineMs < this.#deadlineTimerAtMs) this.#armDeadlineTimer(deadlineMs);
      this.#schedule();
    });
  }

  /**
   * A linearizable read point: resolves with an index once this node has applied through it, so
   * that reading the state machine afterwards sees every write that completed before the call.
   */
  async readIndex(timeoutMs = 5000): Promise<LogIndex> {
    this.#checkRunning();
    const context = randomBytes(16);
    const key = context.toString('hex');
    return new Promise((resolve, reject) => {
      try {
        this.#raw.readIndex(context);
      } catch (error) {
        reject(toMillraceError(error));
        return;
      }
      const timer = setTimeout(() => {
        this.#reads.delete(key);
        reject(new MillraceError('REQUEST_TIMED_OUT', `The read index was not confirmed within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.#reads.set(key, { resolve, reject, timer });
      this.#schedule();
    });
  }

  /** Asks the leader to hand leadership to `to` (graceful shutdown). Completion shows as a leader change. */
  transferLeadership(to: NodeId): void {
    this.#guard(() => this.#raw.transferLeadership(to));
  }

  onLeaderChange(listener: (change: LeaderChange) => void): () => void {
    this.#leaderListeners.add(listener);
    return () => this.#leaderListeners.delete(listener);
  }

  get leaderId(): NodeIdOrNone {
    return this.#leader;
  }

  get isLeader(): boolean {
    return this.#leader === this.id;
  }

  /** Milliseconds since a message last arrived from `peer`; undefined if none has (0 for this node). */
  msSinceHeardFrom(peer: NodeId): number | undefined {
    if (peer === this.id) return 0;
    const last = this.#lastHeardMs.get(peer);
    return last === undefined ? undefined : Date.now() - last;
  }

  get appliedIndex(): LogIndex {
    return this.#applied;
  }

  status(): Status {
    return this.#raw.status();
  }

  /** Stops the clock, waits for the write in flight, fails what is pending and closes storage. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#ticker);
    await this.#loopDone;
    const stopping = () => new MillraceError('NODE_NOT_READY', 'The Raft node is stopping.');
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    for (const pending of this.#proposals.values()) pending.reject(stopping());
    for (const pending of this.#reads.values()) {
      clearTimeout(pending.timer);
      pending.reject(stopping());
    }
    this.#proposals.clear();
    this.#reads.clear();
    await this.#transport?.close();
    await this.#storage.close();
  }

  #checkRunning(): void {
    if (this.#stopped || this.#transport === undefined) {
      throw new MillraceError('NODE_NOT_READY', 'The Raft node is not running.');
    }
  }

  /** Runs a step against the core; a broken invariant is fatal, everything else is scheduled. */
  #guard(step: () => void): void {
    if (this.#stopped) return;
    try {
      step();
    } catch (error) {
      if (error instanceof InvariantViolation) {
        this.#fatal(error);
        return;
      }
      if (!isRaftError(error)) throw error;
    }
    this.#schedule();
  }

  #fatal(error: Error): void {
    this.#stopped = true;
    clearInterval(this.#ticker);
    if (this.#options.onFatal !== undefined) this.#options.onFatal(error);
    else
      setImmediate(() => {
        throw error;
      });
  }

  #schedule(): void {
    if (this.#looping || this.#stopped || !this.#raw.hasReady()) return;
    this.#looping = true;
    this.#loopDone = this.#loop().finally(() => {
      this.#looping = false;
      // Work may have arrived during the last await of the loop.
      this.#schedule();
    });
  }

  async #loop(): Promise<void> {
    while (!this.#stopped && this.#raw.hasReady()) {
      const ready = this.#raw.ready();
      try {
        await this.#storage.persistReady(ready);
      } catch (error) {
        // A failed durable write means this node can no longer keep its promises: stop it.
        this.#fatal(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (this.#stopped) return;
      this.#transport?.send(ready.messages);
      try {
        // A state machine that throws while applying a committed entry can no longer match its
        // peers' state: like a broken invariant, that stops the node.
        this.#applyReady(ready);
        this.#raw.advance(ready);
        await this.#maybeSnapshot();
      } catch (error) {
        this.#fatal(error instanceof Error ? error : new Error(String(error)));
        return;
      }
    }
  }

  #applyReady(ready: Ready): void {
    if (ready.snapshot !== undefined) {
      this.#stateMachine.restore(ready.snapshot);
      this.#applied = ready.snapshot.metadata.index;
      this.#snapshotIndex = ready.snapshot.metadata.index;
    }
    for (const entry of ready.committedEntries) this.#applyEntry(entry);
    for (const state of ready.readStates) {
      const read = this.#reads.get(Buffer.from(state.context).toString('hex'));
      if (read !== undefined) read.index = state.index;
    }
    this.#resolveReads();
    if (ready.softState !== undefined && ready.softState.lead !== this.#leader) {
      this.#leader = ready.softState.lead;
      const change: LeaderChange = { leaderId: this.#leader, term: this.#raw.status().term, isLeader: this.isLeader };
      if (!change.isLeader) this.#failProposals('NOT_CONTROLLER', 'Leadership changed before the proposal committed.');
      for (const listener of this.#leaderListeners) listener(change);
    }
  }

  #applyEntry(entry: Entry): void {
    this.#applied = entry.index;
    const data = entry.data;
    // The leader's empty entry at the start of its term, and config entries, are not the application's.
    if (entry.type !== 'normal' || data.length === 0) return;
    if (data.length < PROPOSAL_HEADER_BYTES || data[0] !== PROPOSAL_TAG) {
      throw new InvariantViolation(`entry ${entry.index} does not carry a proposal header`);
    }
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const proposer = bytes.readUInt32BE(1);
    const sequence = bytes.readDoubleBE(5);
    const result = this.#stateMachine.apply(bytes.subarray(PROPOSAL_HEADER_BYTES), entry.index);
    if (proposer !== this.id) return;
    const pending = this.#proposals.get(sequence);
    if (pending === undefined) return;
    this.#proposals.delete(sequence);
    pending.resolve({ index: entry.index, result });
  }

  #resolveReads(): void {
    for (const [key, read] of this.#reads) {
      if (read.index === undefined || read.index > this.#applied) continue;
      clearTimeout(read.timer);
      this.#reads.delete(key);
      read.resolve(read.index);
    }
  }

  #failProposals(code: 'NOT_CONTROLLER', message: string): void {
    for (const pending of this.#proposals.values()) pending.reject(new MillraceError(code, message));
    this.#proposals.clear();
  }

  #armDeadlineTimer(atMs: number): void {
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimerAtMs = atMs;
    // setTimeout takes at most 2^31 - 1 ms (longer becomes 1 ms); a later deadline is reached in steps.
    const delayMs = Math.min(2 ** 31 - 1, Math.max(0, atMs - performance.now()));
    this.#deadlineTimer = setTimeout(() => this.#expireProposals(), delayMs);
  }

  /** Fails the proposals past their deadline and arms the timer for the next one. */
  #expireProposals(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineTimerAtMs = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [sequence, pending] of this.#proposals) {
      if (pending.deadlineMs <= now) {
        this.#proposals.delete(sequence);
        pending.reject(
          new MillraceError('REQUEST_TIMED_OUT', `The proposal did not commit within ${pending.timeoutMs} ms.`),
        );
      } else if (pending.deadlineMs < next) {
        next = pending.deadlineMs;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.#armDeadlineTimer(next);
  }

  async #maybeSnapshot(): Promise<void> {
    const every = this.#options.snapshotEveryEntries ?? 10_000;
    if (this.#applied - this.#snapshotIndex < every) return;
    const keep = this.#options.keepEntriesAfterSnapshot ?? 1000;
    const index = this.#applied;
    const compactIndex = Math.max(this.#snapshotIndex, index - keep) as LogIndex;
    const confState = this.#storage.memory.snapshot().metadata.confState;
    await this.#storage.saveSnapshot(index, confState, this.#stateMachine.snapshot(), compactIndex);
    this.#snapshotIndex = index;
  }
}

function toMillraceError(error: unknown): Error {
  if (
    isRaftError(error, 'PROPOSAL_DROPPED') ||
    isRaftError(error, 'NOT_LEADER') ||
    isRaftError(error, 'READ_INDEX_DROPPED')
  ) {
    return new MillraceError('NOT_CONTROLLER', `No leader can take this request now: ${error.message}.`, {
      cause: error,
    });
  }
  if (isRaftError(error, 'TRANSFER_IN_PROGRESS')) {
    return new MillraceError('NOT_CONTROLLER', 'Leadership is being transferred.', { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}
