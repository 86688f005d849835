import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assignEpoch,
  diffEpochs,
  endOffsetForEpoch,
  epochCacheProblem,
  type LeaderEpochCache,
  truncateEpochsFromEnd,
  truncateEpochsFromStart,
  truncationAfterEpochAnswer,
} from '../../src/log/leader-epoch-cache.js';

const cache = (...pairs: [number, number][]): LeaderEpochCache =>
  pairs.map(([epoch, startOffset]) => ({ epoch, startOffset: BigInt(startOffset) }));

describe('leader-epoch cache (KIP-101)', () => {
  it('assigns a new epoch after the latest; the same epoch again changes nothing', () => {
    const one = assignEpoch([], 0, 0n);
    expect(one).toEqual(cache([0, 0]));
    expect(assignEpoch(one, 0, 7n)).toBe(one);
    expect(assignEpoch(one, 3, 5n)).toEqual(cache([0, 0], [3, 5]));
  });

  it('a new epoch replaces a latest entry that starts where it starts (an epoch with no record left)', () => {
    expect(assignEpoch(cache([0, 0], [2, 5]), 4, 5n)).toEqual(cache([0, 0], [4, 5]));
  });

  it('an older epoch, or an earlier start, is a bug', () => {
    expect(() => assignEpoch(cache([3, 5]), 2, 9n)).toThrow(/invariant broken/);
    expect(() => assignEpoch(cache([3, 5]), 4, 4n)).toThrow(/invariant broken/);
  });

  it('truncating from the end drops the entries that start at or after the new end', () => {
    const c = cache([0, 0], [1, 4], [3, 8]);
    expect(truncateEpochsFromEnd(c, 9n)).toBe(c);
    expect(truncateEpochsFromEnd(c, 8n)).toEqual(cache([0, 0], [1, 4]));
    expect(truncateEpochsFromEnd(c, 5n)).toEqual(cache([0, 0], [1, 4]));
    expect(truncateEpochsFromEnd(c, 0n)).toEqual([]);
  });

  it("truncating from the start keeps the epoch of the new first offset (Kafka's truncateFromStart)", () => {
    const c = cache([0, 0], [1, 4], [3, 8]);
    expect(truncateEpochsFromStart(c, 0n)).toEqual(cache([0, 0], [1, 4], [3, 8]));
    expect(truncateEpochsFromStart(c, 3n)).toEqual(cache([0, 3], [1, 4], [3, 8]));
    expect(truncateEpochsFromStart(c, 4n)).toEqual(cache([1, 4], [3, 8]));
    expect(truncateEpochsFromStart(c, 6n)).toEqual(cache([1, 6], [3, 8]));
    expect(truncateEpochsFromStart(c, 20n)).toEqual(cache([3, 20]));
    expect(truncateEpochsFromStart([], 20n)).toEqual([]);
  });

  it("answers OffsetsForLeaderEpoch as Kafka's LeaderEpochFileCache.endOffsetFor", () => {
    const c = cache([1, 0], [3, 10], [4, 15]);
    const at = (epoch: number) => endOffsetForEpoch(c, epoch, 20n);
    expect(endOffsetForEpoch([], 3, 20n)).toEqual({ leaderEpoch: -1, endOffset: -1n });
    expect(at(-1)).toEqual({ leaderEpoch: -1, endOffset: -1n });
    expect(at(0)).toEqual({ leaderEpoch: 0, endOffset: 0n });
    expect(at(1)).toEqual({ leaderEpoch: 1, endOffset: 10n });
    expect(at(2)).toEqual({ leaderEpoch: 1, endOffset: 10n });
    expect(at(3)).toEqual({ leaderEpoch: 3, endOffset: 15n });
    expect(at(4)).toEqual({ leaderEpoch: 4, endOffset: 20n });
    expect(at(7)).toEqual({ leaderEpoch: 4, endOffset: 20n });
  });

  it('endOffsetForEpoch agrees with a brute-force reading of the cache', () => {
    const caches = fc.uniqueArray(fc.integer({ min: 0, max: 30 }), { maxLength: 8 }).chain((epochs) =>
      fc
        .uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: epochs.length, maxLength: epochs.length })
        .map((starts) => {
          const e = [...epochs].sort((a, b) => a - b);
          const s = [...starts].sort((a, b) => a - b);
          return e.map((epoch, i) => ({ epoch, startOffset: BigInt(s[i]!) }));
        }),
    );
    fc.assert(
      fc.property(caches, fc.integer({ min: -1, max: 35 }), (c, requested) => {
        const logEnd = 2000n;
        const answer = endOffsetForEpoch(c, requested, logEnd);
        const known = c.filter((e) => e.epoch <= requested);
        const later = c.filter((e) => e.epoch > requested);
        let expected: { leaderEpoch: number; endOffset: bigint };
        if (requested < 0 || c.length === 0) expected = { leaderEpoch: -1, endOffset: -1n };
        else if (known.length === 0) expected = { leaderEpoch: requested, endOffset: later[0]!.startOffset };
        else {
          expected = {
            leaderEpoch: known[known.length - 1]!.epoch,
            endOffset: later.length === 0 ? logEnd : later[0]!.startOffset,
          };
        }
        expect(answer).toEqual(expected);
      }),
    );
  });

  it('diffs two caches into the keys to delete and to put', () => {
    expect(diffEpochs(cache([0, 0], [1, 4], [3, 8]), cache([1, 6], [3, 8], [5, 9]))).toEqual({
      removed: [0],
      added: cache([1, 6], [5, 9]),
    });
  });

  it('names what is impossible in a cache read back from disk', () => {
    expect(epochCacheProblem(cache([0, 0], [2, 5]), 0n, 10n)).toBeUndefined();
    expect(epochCacheProblem(cache([0, 0], [2, 5]), 1n, 10n)).toMatch(/epoch 0 starts at 0, outside the log \[1, 10\]/);
    expect(epochCacheProblem(cache([0, 0], [2, 11]), 0n, 10n)).toMatch(/epoch 2 starts at 11/);
    expect(epochCacheProblem(cache([2, 0], [1, 5]), 0n, 10n)).toMatch(/does not increase/);
    expect(epochCacheProblem(cache([1, 5], [2, 5]), 0n, 10n)).toMatch(/does not increase/);
  });

  describe("a follower's truncation step (Kafka's fetcher, KIP-279)", () => {
    const step = (leader: [number, bigint], follower: [number, bigint], logEnd = 100n, hw = 3n) =>
      truncationAfterEpochAnswer({
        leaderAnswer: { leaderEpoch: leader[0], endOffset: leader[1] },
        followerAnswer: { leaderEpoch: follower[0], endOffset: follower[1] },
        followerLogEndOffset: logEnd,
        followerHighWatermark: hw,
      });

    it('the leader knows nothing: back to the high watermark', () => {
      expect(step([-1, -1n], [2, 40n])).toEqual({ offset: 3n, done: true });
    });
    it('both know the epoch: the smaller end, done', () => {
      expect(step([2, 50n], [2, 40n])).toEqual({ offset: 40n, done: true });
      expect(step([2, 30n], [2, 40n])).toEqual({ offset: 30n, done: true });
      expect(step([2, 300n], [2, 400n])).toEqual({ offset: 100n, done: true });
    });
    it('the follower does not know the epoch: the end of its own floor epoch, then ask again', () => {
      expect(step([1, 50n], [0, 20n])).toEqual({ offset: 20n, done: false });
    });
    it('the follower knows no epoch at all: the leader’s end offset', () => {
      expect(step([1, 50n], [-1, -1n])).toEqual({ offset: 50n, done: true });
    });
  });
});
