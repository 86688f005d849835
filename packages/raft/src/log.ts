import type { RaftStorage } from './storage.js';
import type { Entry, LogIndex, Snapshot, Term } from './types.js';
import { Unstable } from './unstable.js';
import { assert, limitSize } from './util.js';

/**
 * A node's view of its log: durable entries in storage, followed by unstable ones not yet
 * written, plus the commit and applied indexes.
 *
 * Invariants: applied ≤ committed ≤ lastIndex, and committed never decreases. A committed entry is
 * never overwritten.
 */
export class RaftLog {
  readonly storage: RaftStorage;
  readonly unstable: Unstable;
  /** The highest index known to be committed (§5.3). */
  committed: LogIndex;
  /** The highest index the application has applied (acknowledged through `advance`). */
  applied: LogIndex;
  private readonly maxCommittedSizePerReadyBytes: number;

  constructor(storage: RaftStorage, maxCommittedSizePerReadyBytes: number) {
    this.storage = storage;
    this.maxCommittedSizePerReadyBytes = maxCommittedSizePerReadyBytes;
    const first = storage.firstIndex();
    this.unstable = new Unstable((storage.lastIndex() + 1) as LogIndex);
    this.committed = (first - 1) as LogIndex;
    this.applied = (first - 1) as LogIndex;
  }

  firstIndex(): LogIndex {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'the term of the last entry is always known');
    return t;
  }

  /**
   * The term of the entry at `index`, or undefined when the log cannot tell: the index is beyond
   * the last entry, or compacted (before firstIndex - 1).
   */
  term(index: LogIndex): Term | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    const unstableTerm = this.unstable.maybeTerm(index);
    if (unstableTerm !== undefined) return unstableTerm;
    return this.storage.term(index);
  }

  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /**
   * Election restriction (§5.4.1): a candidate's log is at least as up to date as ours if its last
   * term is later, or the same with an index at least as large.
   */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourLastTerm = this.lastTerm();
    return lastTerm > ourLastTerm || (lastTerm === ourLastTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The follower's side of AppendEntries (§5.3, Figure 2 receiver rules 2–5). Returns the index of
   * the last entry now known to match the leader, or undefined if the log has no entry at
   * prevIndex with prevTerm.
   */
  maybeAppend(
    prevIndex: LogIndex,
    prevTerm: Term,
    leaderCommit: LogIndex,
    entries: readonly Entry[],
  ): LogIndex | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = (prevIndex + entries.length) as LogIndex;
    const conflict = this.findConflict(entries);
    if (conflict !== undefined) {
      assert(
        conflict > this.committed,
        () => `entry ${conflict} conflicts with committed entry (committed ${this.committed})`,
      );
      this.append(entries.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNew) as LogIndex);
    return lastNew;
  }

  /**
   * The index of the first entry that is new or disagrees with ours in term, or undefined when
   * every entry is already present. Entries are assumed contiguous.
   */
  findConflict(entries: readonly Entry[]): LogIndex | undefined {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return undefined;
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term`, and that term (0 when unknown because the
   * entry is compacted). Used on both sides of fast backtracking: whatever lies above the
   * returned index cannot match a log whose entry at `index` has term `term`, since terms only
   * grow along a log.
   */
  findConflictByTerm(index: LogIndex, term: Term): { index: LogIndex; term: Term } {
    let i = Math.min(index, this.lastIndex()) as LogIndex;
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 as Term };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0 as LogIndex, term: 0 as Term };
  }

  /** Appends entries after a prefix of the log, replacing whatever followed. Returns the new last index. */
  append(entries: readonly Entry[]): LogIndex {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    assert(first.index > this.committed, () => `append at ${first.index} would overwrite committed ${this.committed}`);
    assert(
      first.index <= this.lastIndex() + 1,
      () => `append at ${first.index} leaves a gap after ${this.lastIndex()}`,
    );
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** Entries from `lo` to the end, at most `maxBytes` (at least one). Throws if `lo` is compacted. */
  entriesFrom(lo: LogIndex, maxBytes: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, (this.lastIndex() + 1) as LogIndex, maxBytes);
  }

  /** Entries in [lo, hi), bounded by `maxBytes` but at least one when lo < hi. */
  slice(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex(), () => `slice from ${lo} but first index is ${this.firstIndex()}`);
    assert(hi <= this.lastIndex() + 1, () => `slice to ${hi} but last index is ${this.lastIndex()}`);
    if (lo >= hi) return [];
    const boundary = this.unstable.offset;
    let result: Entry[] = [];
    if (lo < boundary) {
      result = this.storage.entries(lo, Math.min(hi, boundary) as LogIndex, maxBytes);
      // Storage stopped early (size limit): the unstable part would not fit either.
      if (result.length < Math.min(hi, boundary) - lo) return result;
    }
    if (hi > boundary) {
      const fromUnstable = this.unstable.slice(Math.max(lo, boundary) as LogIndex, hi);
      result = result.length === 0 ? fromUnstable : [...result, ...fromUnstable];
    }
    return limitSize(result, maxBytes);
  }

  commitTo(index: LogIndex): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /**
   * The leader's commit rule (§5.4.2, Figure 8): an index replicated on a quorum is committed only
   * if its entry is from the current term. Earlier entries are then committed indirectly.
   */
  maybeCommit(quorumIndex: LogIndex, currentTerm: Term): boolean {
    if (quorumIndex > this.committed && this.term(quorumIndex) === currentTerm) {
      this.commitTo(quorumIndex);
      return true;
    }
    return false;
  }

  appliedTo(index: LogIndex): void {
    if (index === this.applied) return;
    assert(
      index > this.applied && index <= this.committed,
      () => `applied ${index} outside (${this.applied}, ${this.committed}]`,
    );
    this.applied = index;
  }

  /** True while a snapshot awaits persisting: committed entries cannot be handed out across it. */
  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  hasNextCommittedEntries(): boolean {
    return !this.hasPendingSnapshot() && this.committed > this.applied;
  }

  /** Committed entries not yet applied, bounded by maxCommittedSizePerReadyBytes. */
  nextCommittedEntries(): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const lo = (this.applied + 1) as LogIndex;
    assert(lo >= this.firstIndex(), () => `applied ${this.applied} precedes the first index ${this.firstIndex()}`);
    return this.slice(lo, (this.committed + 1) as LogIndex, this.maxCommittedSizePerReadyBytes);
  }

  /** The snapshot a lagging follower should get: an incoming one not yet persisted, else storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Replaces the log with a snapshot (InstallSnapshot receiver, §7). */
  restore(snapshot: Snapshot): void {
    assert(snapshot.metadata.index > this.committed, 'restore: snapshot does not advance the commit index');
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  stableTo(index: LogIndex, term: Term): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: LogIndex): void {
    this.unstable.stableSnapTo(index);
  }
}
