import type { AppendRequest, Entry, LogIndex, Message, Term } from '../types.js';

/**
 * Merges runs of appends that continue one another into one append each, keeping every other
 * message, and the order of everything, as it was.
 *
 * Under load the leader's core sends one append per proposal to each follower: it cannot know
 * that more proposals are coming. Sent as they are, each costs its own decode, step, write-ahead
 * bookkeeping and acknowledgement on the follower, and each acknowledgement its own step on the
 * leader: that was most of the messages on the wire (about three per committed entry). Merged,
 * a request carries one append with many entries, and gets one acknowledgement.
 *
 * Two appends merge only when the second is exactly the continuation of the first: same sender,
 * recipient and term, its `prevLogIndex`/`prevLogTerm` naming the first one's last entry (or the
 * first one's own prev, when it had no entries), and a commit index no smaller. The merged append
 * is then one the leader could have sent itself: entries of its log in the term, checked against
 * the same predecessor, with its later commit index. A follower ends in the same state as after
 * the two (the commit it learns is min(commit, last new index) either way), and answers once,
 * with the last index; the leader frees every inflight slot up to it (an earlier acknowledgement
 * missing is no different from one lost). The only difference is in liveness: where the first
 * append would have been rejected, the second can no longer succeed on its own, and the leader
 * backtracks as it does after any rejection.
 *
 * `entriesMax` bounds the entries of a merged append (a single append larger than that is kept
 * whole).
 */
export function coalesceAppends(messages: readonly Message[], entriesMax: number): Message[] {
  const out: Message[] = [];
  // The run being merged: its first append, and the entries and commit gathered so far.
  let head: AppendRequest | undefined;
  let entries: Entry[] = [];
  let commit: LogIndex = 0 as LogIndex;
  let lastIndex: LogIndex = 0 as LogIndex;
  let lastTerm: Term = 0 as Term;
  let merged = false;

  const close = (): void => {
    if (head === undefined) return;
    out.push(
      merged
        ? {
            type: 'App',
            from: head.from,
            to: head.to,
            term: head.term,
            prevLogIndex: head.prevLogIndex,
            prevLogTerm: head.prevLogTerm,
            entries,
            commit,
          }
        : head,
    );
    head = undefined;
  };

  for (const message of messages) {
    if (message.type !== 'App') {
      close();
      out.push(message);
      continue;
    }
    if (
      head !== undefined &&
      message.from === head.from &&
      message.to === head.to &&
      message.term === head.term &&
      message.prevLogIndex === lastIndex &&
      message.prevLogTerm === lastTerm &&
      message.commit >= commit &&
      entries.length + message.entries.length <= entriesMax
    ) {
      if (!merged) entries = [...head.entries];
      merged = true;
      for (const entry of message.entries) entries.push(entry);
      commit = message.commit;
    } else {
      close();
      head = message;
      entries = head.entries as Entry[];
      commit = head.commit;
      merged = false;
    }
    const last = message.entries[message.entries.length - 1];
    if (last !== undefined) {
      lastIndex = last.index;
      lastTerm = last.term;
    } else if (!merged) {
      lastIndex = message.prevLogIndex;
      lastTerm = message.prevLogTerm;
    }
  }
  close();
  return out;
}
