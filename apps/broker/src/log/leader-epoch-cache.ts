import {
  type EpochEndOffset,
  type EpochEntry,
  invariant,
  minOffset,
  UNDEFINED_EPOCH,
  UNDEFINED_EPOCH_OFFSET,
} from './types.js';

/**
 * The leader-epoch cache of one partition, as Kafka's `leader-epoch-checkpoint` (KIP-101): for
 * each leader epoch that wrote to the log, the first offset it wrote. Pure functions over an
 * immutable array, oldest first.
 *
 * Invariant (checked at recovery and asserted on every change): epochs and start offsets both
 * strictly increase, and when the log holds batches, the latest entry's epoch is the last
 * batch's partition leader epoch.
 */
export type LeaderEpochCache = readonly EpochEntry[];

export function latestEpoch(cache: LeaderEpochCache): number {
  return cache.length === 0 ? UNDEFINED_EPOCH : cache[cache.length - 1]!.epoch;
}

/**
 * Records that `epoch` starts at `startOffset`. The caller appends in epoch order, so a new entry
 * is always after the latest; anything else is a bug (a stale leader writing is fenced before
 * this, with a typed error). A latest entry that starts exactly where the new epoch starts holds
 * no record (the log start moved to it, at the log end): the new epoch replaces it, as Kafka.
 */
export function assignEpoch(cache: LeaderEpochCache, epoch: number, startOffset: bigint): LeaderEpochCache {
  const latest = cache[cache.length - 1];
  if (latest !== undefined && latest.epoch === epoch) return cache;
  invariant(
    latest === undefined || (epoch > latest.epoch && startOffset >= latest.startOffset),
    `leader epoch ${epoch} at offset ${startOffset} does not follow epoch ${latest?.epoch} at ${latest?.startOffset}`,
  );
  const kept = latest !== undefined && latest.startOffset === startOffset ? cache.slice(0, -1) : cache;
  return [...kept, { epoch, startOffset }];
}

/** After truncating the log to end at `endOffset`: entries that start at or past it are gone. */
export function truncateEpochsFromEnd(cache: LeaderEpochCache, endOffset: bigint): LeaderEpochCache {
  let keep = cache.length;
  while (keep > 0 && cache[keep - 1]!.startOffset >= endOffset) keep--;
  return keep === cache.length ? cache : cache.slice(0, keep);
}

/**
 * After the log start moves to `startOffset`: entries that start at or before it go, except the
 * latest of them, which now starts at `startOffset` (Kafka's `truncateFromStart`). So the epoch of
 * the first offset still in the log stays known, and the cache never outgrows the log.
 */
export function truncateEpochsFromStart(cache: LeaderEpochCache, startOffset: bigint): LeaderEpochCache {
  let covered = 0;
  while (covered < cache.length && cache[covered]!.startOffset <= startOffset) covered++;
  if (covered === 0) return cache;
  const first = { epoch: cache[covered - 1]!.epoch, startOffset };
  return [first, ...cache.slice(covered)];
}

/**
 * Kafka's answer to OffsetsForLeaderEpoch (KIP-101, KIP-279): the largest epoch ≤ `requested`
 * that the cache knows, and the end offset of that epoch, which is the start offset of the next
 * known epoch or, for the latest, the log end offset.
 *
 * - `requested` is -1, or the cache is empty: `(-1, -1)`, nothing is known.
 * - `requested` is older than every known epoch: `(requested, start of the first epoch)`, as
 *   Kafka: the data of older epochs is gone, and a follower should replicate from there.
 * - `requested` is newer than the latest known epoch: `(latest, logEndOffset)`. Kafka records a
 *   new leader's epoch at election, starting at its log end, and answers `(latest, that start)`;
 *   this cache records an epoch with its first batch instead, and a leader's log end does not
 *   move between its election and its first append, so the answer is the same. The caller
 *   refuses a requested epoch above the partition's current leader epoch (UNKNOWN_LEADER_EPOCH)
 *   before asking.
 */
export function endOffsetForEpoch(cache: LeaderEpochCache, requested: number, logEndOffset: bigint): EpochEndOffset {
  if (requested < 0 || cache.length === 0) {
    return { leaderEpoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
  }
  const first = cache[0]!;
  if (requested < first.epoch) return { leaderEpoch: requested, endOffset: first.startOffset };
  let floor = 0;
  while (floor + 1 < cache.length && cache[floor + 1]!.epoch <= requested) floor++;
  const next = cache[floor + 1];
  return { leaderEpoch: cache[floor]!.epoch, endOffset: next === undefined ? logEndOffset : next.startOffset };
}

/** What must change on disk to turn `before` into `after`: epochs to delete and entries to put. */
export function diffEpochs(
  before: LeaderEpochCache,
  after: LeaderEpochCache,
): { removed: number[]; added: EpochEntry[] } {
  const kept = new Map(after.map((entry) => [entry.epoch, entry.startOffset]));
  const had = new Map(before.map((entry) => [entry.epoch, entry.startOffset]));
  const removed = before.filter((entry) => !kept.has(entry.epoch)).map((entry) => entry.epoch);
  const added = after.filter((entry) => had.get(entry.epoch) !== entry.startOffset);
  return { removed, added };
}

/** Why a cache read back from disk cannot be right for a log spanning [logStart, logEnd), or undefined. */
export function epochCacheProblem(
  cache: LeaderEpochCache,
  logStartOffset: bigint,
  logEndOffset: bigint,
): string | undefined {
  for (let i = 0; i < cache.length; i++) {
    const entry = cache[i]!;
    if (entry.startOffset < logStartOffset || entry.startOffset > logEndOffset) {
      return `leader epoch ${entry.epoch} starts at ${entry.startOffset}, outside the log [${logStartOffset}, ${logEndOffset}]`;
    }
    const previous = cache[i - 1];
    if (previous !== undefined && (entry.epoch <= previous.epoch || entry.startOffset <= previous.startOffset)) {
      return `the leader-epoch cache does not increase: epoch ${previous.epoch} at ${previous.startOffset}, then epoch ${entry.epoch} at ${entry.startOffset}`;
    }
  }
  return undefined;
}

/**
 * One step of a follower's truncation by leader epoch (Kafka's fetcher, KIP-101 and KIP-279).
 *
 * The follower asked the leader about its own latest epoch and got `leaderAnswer`; it then looks
 * up the epoch the leader answered with in its own cache (`followerAnswer` =
 * `endOffsetForEpoch(leaderAnswer.leaderEpoch)` on the follower). Returns the offset to truncate
 * to, and whether that is the divergence point (`done`) or only a step after which the follower
 * asks again about its new latest epoch.
 *
 * - The leader knows nothing (`-1`): truncate to the high watermark, the pre-KIP-101 rule; only
 *   a leader with an empty cache answers this.
 * - The follower knows the epoch the leader answered with: both logs agree up to the smaller end
 *   offset of that epoch; done.
 * - The follower does not (its floor epoch differs): everything from the end of its own floor
 *   epoch may diverge; truncate there and ask again.
 */
export function truncationAfterEpochAnswer(input: {
  readonly leaderAnswer: EpochEndOffset;
  readonly followerAnswer: EpochEndOffset;
  readonly followerLogEndOffset: bigint;
  readonly followerHighWatermark: bigint;
}): { readonly offset: bigint; readonly done: boolean } {
  const { leaderAnswer, followerAnswer, followerLogEndOffset, followerHighWatermark } = input;
  if (leaderAnswer.leaderEpoch === UNDEFINED_EPOCH || leaderAnswer.endOffset < 0n) {
    return { offset: minOffset(followerHighWatermark, followerLogEndOffset), done: true };
  }
  if (followerAnswer.leaderEpoch === UNDEFINED_EPOCH) {
    return { offset: minOffset(leaderAnswer.endOffset, followerLogEndOffset), done: true };
  }
  if (followerAnswer.leaderEpoch !== leaderAnswer.leaderEpoch) {
    return { offset: minOffset(followerAnswer.endOffset, followerLogEndOffset), done: false };
  }
  return {
    offset: minOffset(minOffset(followerAnswer.endOffset, leaderAnswer.endOffset), followerLogEndOffset),
    done: true,
  };
}
