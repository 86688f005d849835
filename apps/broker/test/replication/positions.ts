import type { SessionPartitionRequest } from '../../src/replication/fetch-sessions.js';

/** The fields of each position (a follower's, or a leader's session entry), by key, so two can be compared. */
export function positionsOf(entries: ReadonlyMap<string, SessionPartitionRequest>) {
  return new Map(
    [...entries].map(([key, e]) => [
      key,
      {
        topicId: e.topicId,
        partition: e.partition,
        fetchOffset: e.fetchOffset,
        currentLeaderEpoch: e.currentLeaderEpoch,
        lastFetchedEpoch: e.lastFetchedEpoch,
        logStartOffset: e.logStartOffset,
        partitionMaxBytes: e.partitionMaxBytes,
      },
    ]),
  );
}
