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

export const TOPIC = '5d6c1a4e-9f6b-4c1e-8a53-0c2f7e0b9d11';
export const OTHER_TOPIC = 'a0b1c2d3-e4f5-4a6b-8c7d-8e9f0a1b2c3d';

/** A follower's position in `partition` of TOPIC (epoch 3, 1 MiB per fetch), with `overrides`. */
export function position(partition: number, fetchOffset = 0n, overrides: Partial<SessionPartitionRequest> = {}) {
  return {
    topicId: TOPIC,
    partition,
    fetchOffset,
    currentLeaderEpoch: 3,
    lastFetchedEpoch: 3,
    logStartOffset: 0n,
    partitionMaxBytes: 1 << 20,
    ...overrides,
  } satisfies SessionPartitionRequest;
}
