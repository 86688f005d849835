import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { committedIndex, majority, voteResult } from '../src/quorum.js';
import type { LogIndex, NodeId } from '../src/types.js';

/** The dumbest possible commit index: the largest i that a majority has reached. */
function committedIndexOracle(matches: number[]): number {
  let best = 0;
  for (const candidate of [0, ...matches]) {
    const holders = matches.filter((m) => m >= candidate).length;
    if (holders * 2 > matches.length && candidate > best) best = candidate;
  }
  return best;
}

/** Votes by exhaustion: could the missing voters still make (or unmake) a majority? */
function voteResultOracle(votes: (boolean | undefined)[]): 'won' | 'lost' | 'pending' {
  const n = votes.length;
  const yes = votes.filter((v) => v === true).length;
  const missing = votes.filter((v) => v === undefined).length;
  const canWin = (yes + missing) * 2 > n;
  const hasWon = yes * 2 > n;
  return hasWon ? 'won' : canWin ? 'pending' : 'lost';
}

describe('quorum maths against brute-force oracles', () => {
  test('majority of n is the smallest count strictly above half', () => {
    for (let n = 1; n <= 9; n++) {
      expect(majority(n) * 2).toBeGreaterThan(n);
      expect((majority(n) - 1) * 2).toBeLessThanOrEqual(n);
    }
  });

  test('committedIndex equals the largest index a majority has matched', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 9 }), (matches) => {
        const voters = matches.map((_, i) => (i + 1) as NodeId);
        const got = committedIndex(voters, (id) => matches[id - 1] as LogIndex);
        expect(got).toBe(committedIndexOracle(matches));
      }),
      { numRuns: 2000 },
    );
  });

  test('committedIndex treats a voter without progress as having matched nothing', () => {
    const voters = [1, 2, 3] as NodeId[];
    expect(committedIndex(voters, (id) => (id === 1 ? (7 as LogIndex) : undefined))).toBe(0);
    expect(committedIndex(voters, (id) => (id === 3 ? undefined : (Number(id) as LogIndex)))).toBe(1);
  });

  test('voteResult agrees with the oracle for every combination of answers', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.boolean(), { nil: undefined }), { minLength: 1, maxLength: 9 }), (answers) => {
        const voters = answers.map((_, i) => (i + 1) as NodeId);
        const votes = new Map<NodeId, boolean>();
        answers.forEach((a, i) => {
          if (a !== undefined) votes.set((i + 1) as NodeId, a);
        });
        expect(voteResult(voters, votes)).toBe(voteResultOracle(answers));
      }),
      { numRuns: 2000 },
    );
  });

  test('answers from non-voters never count', () => {
    const voters = [1, 2, 3] as NodeId[];
    const votes = new Map<NodeId, boolean>([
      [1 as NodeId, true],
      [4 as NodeId, true],
      [5 as NodeId, true],
    ]);
    expect(voteResult(voters, votes)).toBe('pending');
  });
});
