import type { Entry, LogIndex, Snapshot, Term } from './types.js';
import { assert } from './util.js';

/**
 * The part of the log that is not yet durable: entries (and possibly an incoming snapshot) that
 * have been handed out in a Ready, or will be, and that storage does not hold yet. Entries here
 * take precedence over storage from `offset` on, because a follower may have replaced a suffix
 * of its stored log that the runtime has not overwritten on disk yet.
 */
export class Unstable {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  /** The index of entries[0] (or where the next entry goes when there are none). */
  offset: LogIndex;

  constructor(offset: LogIndex) {
    this.offset = offset;
  }

  /** The first index the log holds, if an unstable snapshot determines it. */
  maybeFirstIndex(): LogIndex | undefined {
    return this.snapshot === undefined ? undefined : ((this.snapshot.metadata.index + 1) as LogIndex);
  }

  maybeLastIndex(): LogIndex | undefined {
    if (this.entries.length > 0) return (this.offset + this.entries.length - 1) as LogIndex;
    return this.snapshot?.metadata.index;
  }

  maybeTerm(index: LogIndex): Term | undefined {
    if (index < this.offset) {
      const snap = this.snapshot;
      return snap !== undefined && snap.metadata.index === index ? snap.metadata.term : undefined;
    }
    return this.entries[index - this.offset]?.term;
  }

  /**
   * Entries up to `index` are durable. Ignored when the entry at `index` has since been replaced
   * by one of another term: the write that just finished persisted entries that are obsolete.
   */
  stableTo(index: LogIndex, term: Term): void {
    if (index < this.offset || this.maybeTerm(index) !== term) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = (index + 1) as LogIndex;
  }

  stableSnapTo(index: LogIndex): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) this.snapshot = undefined;
  }

  restore(snapshot: Snapshot): void {
    this.offset = (snapshot.metadata.index + 1) as LogIndex;
    this.entries = [];
    this.snapshot = snapshot;
  }

  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const end = this.offset + this.entries.length;
    if (first.index === end) {
      this.entries.push(...entries);
    } else if (first.index <= this.offset) {
      // Everything unstable is replaced; storage entries from first.index on are superseded too.
      this.offset = first.index;
      this.entries = [...entries];
    } else {
      assert(first.index < end, () => `unstable append at ${first.index} leaves a gap after ${end - 1}`);
      this.entries = [...this.entries.slice(0, first.index - this.offset), ...entries];
    }
  }

  /** Unstable entries in [lo, hi). */
  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    assert(
      this.offset <= lo && lo <= hi && hi <= this.offset + this.entries.length,
      () => `unstable.slice(${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length}]`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
