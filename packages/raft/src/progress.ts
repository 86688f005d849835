import type { LogIndex, Snapshot } from './types.js';
import { assert } from './util.js';

/**
 * A bounded window of append messages sent to one follower and not yet acknowledged: at most
 * `capacity` messages and `capacityBytes` bytes. Each slot remembers the last index the message
 * carried, so an acknowledgement of index i frees every slot up to i.
 */
export class Inflights {
  private readonly indexes: LogIndex[];
  private readonly sizes: number[];
  private start = 0;
  private countMsgs = 0;
  private bytes = 0;

  constructor(
    readonly capacity: number,
    readonly capacityBytes: number,
  ) {
    this.indexes = new Array<LogIndex>(capacity);
    this.sizes = new Array<number>(capacity);
  }

  get count(): number {
    return this.countMsgs;
  }

  get inflightBytes(): number {
    return this.bytes;
  }

  full(): boolean {
    return this.countMsgs === this.capacity || this.bytes >= this.capacityBytes;
  }

  add(lastIndex: LogIndex, bytes: number): void {
    assert(!this.full(), 'inflights: add to a full window');
    const slot = (this.start + this.countMsgs) % this.capacity;
    if (this.countMsgs > 0) {
      const prev = this.indexes[(slot + this.capacity - 1) % this.capacity]!;
      assert(lastIndex > prev, () => `inflights: index ${lastIndex} not after ${prev}`);
    }
    this.indexes[slot] = lastIndex;
    this.sizes[slot] = bytes;
    this.countMsgs++;
    this.bytes += bytes;
  }

  /** Frees every message whose last index is ≤ `index`. */
  freeLE(index: LogIndex): void {
    while (this.countMsgs > 0 && this.indexes[this.start]! <= index) this.freeFirst();
  }

  /** Frees the oldest message, so a stalled pipeline can send again (used on heartbeat responses). */
  freeFirst(): void {
    if (this.countMsgs === 0) return;
    this.bytes -= this.sizes[this.start]!;
    this.start = (this.start + 1) % this.capacity;
    this.countMsgs--;
    if (this.countMsgs === 0) {
      this.start = 0;
      this.bytes = 0;
    }
  }

  reset(): void {
    this.start = 0;
    this.countMsgs = 0;
    this.bytes = 0;
  }
}

/**
 * A snapshot being streamed to one follower, one chunk at a time. `ackedBytes` is how much the
 * follower confirmed holding; the chunk in flight starts there.
 */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot;
  ackedBytes: number;
  /** Heartbeat intervals since the chunk in flight was sent. */
  heartbeatsWaited: number;
  /** Resends since the follower last acknowledged anything. */
  retries: number;
}

/**
 * How the leader replicates to one follower (etcd's three-state flow control):
 *
 * - `probe`: the leader does not know where the follower's log ends. It sends one append at a
 *   time and waits for the answer (or the next heartbeat response) before sending another.
 * - `replicate`: the logs agree up to `match`; appends are pipelined optimistically, `next` moves
 *   ahead as they are sent, bounded by the inflight window.
 * - `snapshot`: the follower needs entries the leader has compacted; nothing is appended until
 *   the snapshot transfer ends.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** The highest index known to be replicated (durably) on the follower. */
  match: LogIndex;
  /** The index of the next entry to send. Invariant: match < next. */
  next: LogIndex;
  state: ProgressState = 'probe';
  /** In probe state: an append is out and unanswered, so no other may be sent yet. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0 as LogIndex;
  transfer: SnapshotTransfer | undefined = undefined;
  /**
   * The highest commit index this follower has been told of (what it may have committed, as far
   * as the leader knows). Lets the leader tell it of a newer one without waiting for a heartbeat.
   */
  sentCommit = 0 as LogIndex;
  /** The follower was heard from since the last CheckQuorum round. */
  recentActive = false;
  readonly isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: LogIndex, inflights: Inflights, isLearner: boolean) {
    this.match = 0 as LogIndex;
    this.next = next;
    this.inflights = inflights;
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0 as LogIndex;
    this.transfer = undefined;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, the follower will hold at least the snapshot: resume after it.
    const afterSnapshot = this.state === 'snapshot' ? this.pendingSnapshot + 1 : 0;
    this.resetState('probe');
    this.next = Math.max(this.match + 1, afterSnapshot) as LogIndex;
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = (this.match + 1) as LogIndex;
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshot.metadata.index;
    this.transfer = { snapshot, ackedBytes: 0, heartbeatsWaited: 0, retries: 0 };
  }

  /** Gives up on a snapshot transfer: probe again from match, once the follower next answers. */
  abortSnapshot(): void {
    this.pendingSnapshot = 0 as LogIndex;
    this.becomeProbe();
    this.probeSent = true;
  }

  /** Records an acknowledgement up to `index`. Returns false for a stale (already known) one. */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      this.probeSent = false;
      updated = true;
    }
    if (this.next < index + 1) this.next = (index + 1) as LogIndex;
    return updated;
  }

  /**
   * Handles a rejected append of `rejected` (its prevLogIndex). `matchHint` is the highest index
   * that may still match, derived from the follower's hint. Returns false when the rejection is
   * stale (an answer to an append that the leader has already moved past).
   */
  maybeDecrTo(rejected: LogIndex, matchHint: LogIndex): boolean {
    if (this.state === 'replicate') {
      // In replicate, everything up to match is known good; a rejection below it is stale.
      if (rejected <= this.match) return false;
      this.next = (this.match + 1) as LogIndex;
      return true;
    }
    // In probe (or snapshot), only the answer to the last probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1) as LogIndex;
    this.probeSent = false;
    return true;
  }

  /** Records that the follower was sent commit index `commit` for entries up to `lastIndex`. */
  sentCommitFor(commit: LogIndex, lastIndex: LogIndex): void {
    // A follower commits no further than the last entry it knows to match.
    const effective = Math.min(commit, lastIndex) as LogIndex;
    if (effective > this.sentCommit) this.sentCommit = effective;
  }

  /**
   * Whether sending `commit` could advance the follower's commit index: it is newer than what was
   * sent, and the follower may hold entries beyond what it was told is committed.
   */
  canBumpCommit(commit: LogIndex): boolean {
    return commit > this.sentCommit && this.sentCommit < this.next - 1;
  }

  /** Whether the leader must hold back appends to this follower for now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Updates flow control after sending an append of `count` entries ending at `lastIndex`. */
  sentEntries(count: number, lastIndex: LogIndex, bytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = (lastIndex + 1) as LogIndex;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    } else {
      assert(false, 'sent entries to a follower in snapshot state');
    }
  }
}
