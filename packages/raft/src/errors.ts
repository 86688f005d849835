/**
 * Typed errors for operating conditions the caller is expected to handle (no leader to take a
 * proposal, a log position that storage has compacted away, bad input at a boundary).
 *
 * A broken invariant is not one of these: it is a bug, and `assert` in `util.ts` throws an
 * `InvariantViolation` instead, which nobody should catch.
 */
export const RAFT_ERROR_CODES = {
  /** No leader is known, or the leader refused the proposal (uncommitted bytes over the limit). */
  PROPOSAL_DROPPED: { retriable: true, message: 'proposal dropped' },
  /** No leader is known to take a ReadIndex request, or too many are already pending. */
  READ_INDEX_DROPPED: { retriable: true, message: 'read index request dropped' },
  /** The operation needs a leader and this node neither is one nor knows one. */
  NOT_LEADER: { retriable: true, message: 'not the leader and no leader known' },
  /** The leader is handing leadership over and accepts no proposals until that ends. */
  TRANSFER_IN_PROGRESS: { retriable: true, message: 'leadership transfer in progress' },
  /** Storage: the requested index precedes the first available entry (it is in a snapshot). */
  COMPACTED: { retriable: false, message: 'requested index is compacted' },
  /** Storage: the requested index is beyond the last available entry. */
  UNAVAILABLE: { retriable: false, message: 'requested entry is unavailable' },
  /** Storage: a snapshot older than the current one was offered. */
  SNAPSHOT_OUT_OF_DATE: { retriable: false, message: 'snapshot is out of date' },
  /** An argument or message field was out of range or malformed. */
  INVALID_ARGUMENT: { retriable: false, message: 'invalid argument' },
  /** The configuration failed validation; the message names the field. */
  INVALID_CONFIG: { retriable: false, message: 'invalid configuration' },
} as const;

export type RaftErrorCode = keyof typeof RAFT_ERROR_CODES;

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  readonly retriable: boolean;

  constructor(code: RaftErrorCode, detail?: string, options?: { cause?: unknown }) {
    const base = RAFT_ERROR_CODES[code].message;
    super(detail === undefined ? base : `${base}: ${detail}`, options);
    this.name = 'RaftError';
    this.code = code;
    this.retriable = RAFT_ERROR_CODES[code].retriable;
  }
}

export function isRaftError(error: unknown, code?: RaftErrorCode): error is RaftError {
  return error instanceof RaftError && (code === undefined || error.code === code);
}
