import type { LogIndex, NodeId } from './types.js';
import { assert } from './util.js';

/** The smallest number of voters that forms a majority. */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index replicated on a majority of `voters`, given each voter's match index
 * (a voter with no known match counts as 0). Sorting the match indexes in descending order, the
 * majority-th of them is held by at least a majority.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => LogIndex | undefined): LogIndex {
  assert(voters.length > 0, 'committedIndex: no voters');
  const matches = voters.map((id) => matchOf(id) ?? 0);
  matches.sort((a, b) => b - a);
  return matches[majority(voters.length) - 1]! as LogIndex;
}

export type VoteResult = 'pending' | 'won' | 'lost';

/**
 * The outcome of an election (or of any yes/no quorum round) among `voters`: won once a
 * majority said yes, lost once a majority can no longer say yes. Answers from non-voters are ignored.
 */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  assert(voters.length > 0, 'voteResult: no voters');
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === undefined) missing++;
    else if (vote) granted++;
  }
  const needed = majority(voters.length);
  if (granted >= needed) return 'won';
  if (granted + missing >= needed) return 'pending';
  return 'lost';
}
