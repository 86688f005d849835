import { RaftError } from './errors.js';
import {
  type ConfState,
  EMPTY_HARD_STATE,
  type Entry,
  type HardState,
  type LogIndex,
  type Snapshot,
  type Term,
} from './types.js';
import { assert, limitSize } from './util.js';

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/**
 * The durable state as the core sees it: synchronous reads of what has already been persisted.
 * The core never writes through this interface. The runtime writes a Ready to disk and then
 * mirrors it into the storage (for MemoryStorage: `append`, `setHardState`, `applySnapshot`)
 * before calling `RawNode.advance`.
 *
 * Log positions: entries in [firstIndex, lastIndex] are available. The entry just before
 * firstIndex is the last one covered by `snapshot()`; its term is still answered by `term()`.
 * Anything earlier is compacted (RaftError COMPACTED); anything later is UNAVAILABLE.
 */
export interface RaftStorage {
  /** The persisted HardState and the membership, read once when a node starts. */
  initialState(): InitialState;
  /**
   * Entries in [lo, hi), as many as fit in `maxBytes` but at least one when lo < hi.
   * Throws COMPACTED when lo < firstIndex and UNAVAILABLE when hi > lastIndex + 1.
   */
  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[];
  /** The term of entry `index`, for index in [firstIndex - 1, lastIndex]. */
  term(index: LogIndex): Term;
  firstIndex(): LogIndex;
  lastIndex(): LogIndex;
  /** The most recent snapshot (index 0 and empty data if none was ever taken). */
  snapshot(): Snapshot;
}

export interface MemoryStorageContents {
  readonly hardState: HardState;
  readonly snapshot: Snapshot;
  /**
   * The position just before the first entry held: the last compacted index and its term. It is
   * never after the snapshot's index (compaction only discards what a snapshot covers).
   */
  readonly compactedIndex: LogIndex;
  readonly compactedTerm: Term;
  /** Entries from compactedIndex + 1, contiguous. */
  readonly entries: readonly Entry[];
}

function validateConfState(confState: ConfState): void {
  const seen = new Set<number>();
  for (const id of [...confState.voters, ...confState.learners]) {
    if (!Number.isSafeInteger(id) || id <= 0)
      throw new RaftError('INVALID_CONFIG', `confState holds bad node id ${id}`);
    if (seen.has(id)) throw new RaftError('INVALID_CONFIG', `confState lists node ${id} twice`);
    seen.add(id);
  }
  if (confState.voters.length === 0) throw new RaftError('INVALID_CONFIG', 'confState.voters is empty');
}

/**
 * The in-memory storage. It is both the test double and, in the runtime, the read cache in front
 * of the durable log: the runtime loads the disk into one at start and mirrors every write into it
 * after the write is durable.
 *
 * Invariant: compactedIndex ≤ snapshot index ≤ lastIndex. Entries between the compaction point and
 * the snapshot are kept on purpose, so followers that are only slightly behind need no snapshot.
 */
export class MemoryStorage implements RaftStorage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  private compactedIndex = 0 as LogIndex;
  private compactedTerm = 0 as Term;
  /** ents[i] has index compactedIndex + 1 + i. */
  private ents: Entry[] = [];

  /** A fresh, empty log for a group whose initial membership is `confState`. */
  constructor(confState: ConfState) {
    validateConfState(confState);
    this.snap = {
      metadata: { index: 0 as LogIndex, term: 0 as Term, confState: cloneConfState(confState) },
      data: new Uint8Array(0),
    };
  }

  /** Rebuilds a storage from durable contents (what a restarting runtime read from disk). */
  static fromContents(contents: MemoryStorageContents): MemoryStorage {
    const storage = new MemoryStorage(contents.snapshot.metadata.confState);
    assert(contents.compactedIndex <= contents.snapshot.metadata.index, 'fromContents: compacted past the snapshot');
    storage.snap = contents.snapshot;
    storage.hardState = contents.hardState;
    storage.compactedIndex = contents.compactedIndex;
    storage.compactedTerm = contents.compactedTerm;
    storage.append(contents.entries);
    assert(storage.lastIndex() >= contents.snapshot.metadata.index, 'fromContents: log ends before the snapshot');
    return storage;
  }

  /** A copy of everything held, for persisting elsewhere or rebuilding after a simulated crash. */
  contents(): MemoryStorageContents {
    return {
      hardState: this.hardState,
      snapshot: this.snap,
      compactedIndex: this.compactedIndex,
      compactedTerm: this.compactedTerm,
      entries: [...this.ents],
    };
  }

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    const offset = this.compactedIndex;
    if (lo <= offset) throw new RaftError('COMPACTED', `entries from ${lo}, first index is ${offset + 1}`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError('UNAVAILABLE', `entries up to ${hi - 1}, last index is ${this.lastIndex()}`);
    }
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`);
    return limitSize(this.ents.slice(lo - offset - 1, hi - offset - 1), maxBytes);
  }

  term(index: LogIndex): Term {
    const offset = this.compactedIndex;
    if (index < offset) throw new RaftError('COMPACTED', `term of ${index}, first index is ${offset + 1}`);
    if (index === offset) return this.compactedTerm;
    const entry = this.ents[index - offset - 1];
    if (entry === undefined) throw new RaftError('UNAVAILABLE', `term of ${index}, last index is ${this.lastIndex()}`);
    return entry.term;
  }

  firstIndex(): LogIndex {
    return (this.compactedIndex + 1) as LogIndex;
  }

  lastIndex(): LogIndex {
    return (this.compactedIndex + this.ents.length) as LogIndex;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  // -- Mutators: called by the runtime once the corresponding write is durable. ----------------

  setHardState(hardState: HardState): void {
    this.hardState = hardState;
  }

  /**
   * Appends entries, first discarding any existing suffix they overwrite (a follower's log repair).
   * Entries already compacted away are skipped. A gap after the last entry is a bug.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const offset = this.compactedIndex;
    const first = entries[0]!.index;
    const last = entries[entries.length - 1]!.index;
    assert(last - first + 1 === entries.length, 'append: entries are not contiguous');
    if (last <= offset) return;
    assert(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    const skip = Math.max(0, offset + 1 - first);
    this.ents.length = first + skip - offset - 1;
    for (let i = skip; i < entries.length; i++) this.ents.push(entries[i]!);
  }

  /** Replaces the whole log with a snapshot received from the leader (InstallSnapshot, §7). */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index <= this.snap.metadata.index) {
      throw new RaftError('SNAPSHOT_OUT_OF_DATE', `${snapshot.metadata.index} ≤ ${this.snap.metadata.index}`);
    }
    this.snap = snapshot;
    this.compactedIndex = snapshot.metadata.index;
    this.compactedTerm = snapshot.metadata.term;
    this.ents = [];
  }

  /**
   * Records a snapshot the application took of its own state machine after applying `index`.
   * It does not discard log entries; `compact` does that, separately, so that a tail of entries
   * can be kept for followers that are only slightly behind.
   */
  createSnapshot(index: LogIndex, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) {
      throw new RaftError('SNAPSHOT_OUT_OF_DATE', `${index} ≤ ${this.snap.metadata.index}`);
    }
    assert(index <= this.lastIndex(), () => `snapshot at ${index} beyond last index ${this.lastIndex()}`);
    this.snap = { metadata: { index, term: this.term(index), confState: cloneConfState(confState) }, data };
    return this.snap;
  }

  /**
   * Discards entries up to and including `index`. The snapshot must already cover `index`,
   * otherwise the log would have a hole that neither entries nor the snapshot could fill.
   */
  compact(index: LogIndex): void {
    if (index <= this.compactedIndex) {
      throw new RaftError('COMPACTED', `compact to ${index}, already compacted to ${this.compactedIndex}`);
    }
    assert(
      index <= this.snap.metadata.index,
      () => `compact to ${index} beyond the snapshot at ${this.snap.metadata.index}`,
    );
    const term = this.term(index);
    this.ents = this.ents.slice(index - this.compactedIndex);
    this.compactedIndex = index;
    this.compactedTerm = term;
  }
}

function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}
