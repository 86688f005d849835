import type { Entry, HardState, Message, ReadState, Snapshot, SoftState } from './types.js';

/**
 * Everything a node needs done, handed out by `RawNode.ready()`. Handle a Ready in this order:
 *
 * 1. **Persist** `snapshot` (if any), then `entries` (append, replacing any suffix they
 *    overwrite), then `hardState` (if any), as one durable write when `mustSync` is true. Then
 *    mirror the same writes into the node's RaftStorage (for MemoryStorage: `applySnapshot`,
 *    `append`, `setHardState`).
 * 2. **Send** `messages`, only now. They promise things (a vote, an acknowledged entry) that are
 *    true only once step 1 is durable; sending earlier lets a crash break those promises.
 * 3. **Apply** `snapshot` (restore the state machine from it), then `committedEntries`, in
 *    order. Serve each ReadState's read once the applied index reaches its `index`.
 * 4. Call **`RawNode.advance(ready)`** with this same object.
 *
 * Until `advance` is called, `hasReady()` returns false and `ready()` throws. The node may still
 * be ticked and stepped meanwhile (while the write is in flight); whatever that produces comes in
 * the next Ready.
 */
export interface Ready {
  /** The leader and role, present only when they changed since the previous Ready. */
  readonly softState: SoftState | undefined;
  /** The term, vote and commit index to persist, present only when they changed. */
  readonly hardState: HardState | undefined;
  /** Entries to append to durable storage, before sending `messages`. */
  readonly entries: readonly Entry[];
  /**
   * A snapshot received from the leader, to persist (it replaces the whole log) and then to
   * restore the state machine from.
   */
  readonly snapshot: Snapshot | undefined;
  /**
   * Entries committed and not yet applied, to apply in order. They may include entries from
   * `entries` above: persist first, then apply.
   */
  readonly committedEntries: readonly Entry[];
  /** Messages to send after the writes above are durable. Order within a recipient matters little; Raft tolerates reordering. */
  readonly messages: readonly Message[];
  /** Answers to ReadIndex requests; each may be served once the applied index reaches its index. */
  readonly readStates: readonly ReadState[];
  /**
   * Whether the write must be synced to disk before continuing: true when there are entries, a
   * snapshot, or a new term or vote. A commit-index change alone may be written lazily, because
   * a lost commit index is recomputed after restart.
   */
  readonly mustSync: boolean;
}
