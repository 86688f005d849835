/**
 * Every message type stepped into every role, at the node's own term, checking what the handler
 * changes and what it sends. (Term handling itself, for higher and lower terms, has its own block.)
 */
import { describe, expect, test } from 'vitest';
import { Raft } from '../src/raft.js';
import { createRandom } from '../src/random.js';
import { MemoryStorage } from '../src/storage.js';
import type { Message, Role, Term } from '../src/types.js';
import { bytes, id, idx, type NodeOptions, storageWithLog, tm } from './helpers/cluster.js';

const TERM = 5;
const ROLES: Role[] = ['follower', 'preCandidate', 'candidate', 'leader'];

/**
 * Node 1 of {1, 2, 3}, with a log of three entries (terms 1, 1, 4), in `role` at term TERM, reached
 * the way a running node reaches it (a campaign votes for itself; a leader won its votes).
 */
function nodeIn(role: Role, options: NodeOptions = {}): { r: Raft; storage: MemoryStorage } {
  const storage = storageWithLog([1, 2, 3], [1, 1, 4], { term: tm(TERM - 1), commit: idx(1) });
  const r = new Raft({
    id: id(1),
    storage,
    random: createRandom(1),
    preVote: role === 'preCandidate',
    checkQuorum: false,
    electionTimeoutTicks: 10,
    heartbeatTimeoutTicks: 1,
    ...options,
  });
  switch (role) {
    case 'follower':
      r.becomeFollower(tm(TERM), id(2));
      break;
    case 'preCandidate':
      r.becomeFollower(tm(TERM), 0);
      r.hup(false);
      break;
    case 'candidate':
      r.hup(false); // term 4 -> 5
      break;
    case 'leader':
      r.hup(false);
      r.step({ type: 'VoteResp', from: id(3), to: id(1), term: tm(TERM), reject: false });
      persist(r, storage);
      break;
  }
  expect(r.term).toBe(TERM);
  expect(r.role).toBe(role);
  r.msgs = [];
  return { r, storage };
}

/** Makes the unstable entries durable, as a runtime handling a Ready would. */
function persist(r: Raft, storage: MemoryStorage): void {
  const entries = r.raftLog.unstable.entries;
  const last = entries[entries.length - 1];
  if (last === undefined) return;
  storage.append(entries);
  r.onEntriesPersisted(last.index, last.term);
}

function from2<T extends Message['type']>(type: T, fields: object, term = TERM): Message {
  return { type, from: id(2), to: id(1), term: tm(term), ...fields } as Message;
}

const sent = (r: Raft) => r.msgs.map((m) => `${m.type}->${m.to}`);

describe.each(ROLES)('a %s', (role) => {
  test('Vote from a candidate with an up-to-date log in a later term: steps down and grants', () => {
    const { r } = nodeIn(role);
    r.step(from2('Vote', { lastLogIndex: idx(9), lastLogTerm: tm(TERM), transfer: false }, TERM + 1));
    expect(r).toMatchObject({ role: 'follower', term: TERM + 1, vote: 2 });
    expect(r.msgs).toMatchObject([{ type: 'VoteResp', to: 2, term: TERM + 1, reject: false }]);
  });

  test('Vote in the same term: granted only by a node that has not voted and knows no leader', () => {
    const { r } = nodeIn(role);
    r.step(from2('Vote', { lastLogIndex: idx(3), lastLogTerm: tm(4), transfer: false }));
    const grants = role === 'preCandidate'; // voted for nobody in term 5, knows no leader
    expect(r.msgs).toMatchObject([{ type: 'VoteResp', reject: !grants }]);
    expect(r.role).toBe(role === 'preCandidate' ? 'preCandidate' : role);
  });

  test('PreVote for a later term: answered without changing term or vote', () => {
    const { r } = nodeIn(role);
    const voteBefore = r.vote;
    r.step(from2('PreVote', { lastLogIndex: idx(3), lastLogTerm: tm(4), transfer: false }, TERM + 1));
    // A leader (and a follower of a live leader) is in its lease and ignores it altogether.
    if (role === 'leader' || role === 'follower') expect(r.msgs).toEqual([]);
    else expect(r.msgs).toMatchObject([{ type: 'PreVoteResp', term: TERM + 1, reject: false }]);
    expect(r.term).toBe(TERM);
    expect(r.vote).toBe(voteBefore);
  });

  test('VoteResp: counted only by a candidate', () => {
    const { r } = nodeIn(role);
    r.step(from2('VoteResp', { reject: false }));
    expect(r.role).toBe(role === 'candidate' ? 'leader' : role);
  });

  test('PreVoteResp: counted only by a pre-candidate, which then campaigns for real', () => {
    const { r } = nodeIn(role);
    r.step(from2('PreVoteResp', { reject: false }, TERM + 1));
    if (role === 'preCandidate') {
      expect(r).toMatchObject({ role: 'candidate', term: TERM + 1, vote: 1 });
      expect(sent(r)).toEqual(['Vote->2', 'Vote->3']);
    } else {
      expect(r.role).toBe(role);
      expect(r.msgs).toEqual([]);
    }
  });

  test('App from the leader of this term: appended and acknowledged (a leader never gets one)', () => {
    const { r } = nodeIn(role);
    const entry = { term: tm(TERM), index: idx(4), type: 'normal' as const, data: bytes('x') };
    r.step(from2('App', { prevLogIndex: idx(3), prevLogTerm: tm(4), entries: [entry], commit: idx(3) }));
    if (role === 'leader') {
      expect(r.msgs).toEqual([]);
      return;
    }
    expect(r).toMatchObject({ role: 'follower', lead: 2 });
    expect(r.raftLog.lastIndex()).toBe(4);
    expect(r.raftLog.committed).toBe(3);
    expect(r.msgs).toMatchObject([{ type: 'AppResp', to: 2, index: 4, reject: false }]);
  });

  test('Heartbeat: followers (and candidates, who step down) take the commit index and answer', () => {
    const { r } = nodeIn(role);
    r.step(from2('Heartbeat', { commit: idx(2), context: bytes('c') }));
    if (role === 'leader') {
      expect(r.msgs).toEqual([]);
      return;
    }
    expect(r).toMatchObject({ role: 'follower', lead: 2 });
    expect(r.raftLog.committed).toBe(2);
    expect(r.msgs).toMatchObject([{ type: 'HeartbeatResp', to: 2, context: bytes('c') }]);
  });

  test('Snap chunk: a follower starts assembling and acknowledges the bytes held', () => {
    const { r } = nodeIn(role);
    const metadata = { index: idx(9), term: tm(TERM), confState: { voters: [id(1), id(2), id(3)], learners: [] } };
    r.step(from2('Snap', { metadata, offsetBytes: 0, data: bytes('abc'), done: false }));
    if (role === 'leader') {
      expect(r.msgs).toEqual([]);
      return;
    }
    expect(r.role).toBe('follower');
    expect(r.msgs).toMatchObject([{ type: 'SnapResp', snapshotIndex: 9, receivedBytes: 3, reject: false }]);
  });

  test('TimeoutNow: a follower campaigns at once, skipping PreVote, flagged as a transfer', () => {
    const { r } = nodeIn(role, role === 'follower' ? { preVote: true } : {});
    r.step(from2('TimeoutNow', {}));
    if (role === 'follower') {
      expect(r).toMatchObject({ role: 'candidate', term: TERM + 1 });
      expect(r.msgs).toMatchObject([
        { type: 'Vote', transfer: true },
        { type: 'Vote', transfer: true },
      ]);
    } else {
      expect(r.role).toBe(role);
      expect(r.msgs).toEqual([]);
    }
  });

  test('Prop (forwarded): appended by a leader, dropped by everyone else', () => {
    const { r } = nodeIn(role);
    const last = r.raftLog.lastIndex();
    r.step({ type: 'Prop', from: id(2), to: id(1), term: 0 as Term, entries: [{ type: 'normal', data: bytes('p') }] });
    expect(r.raftLog.lastIndex()).toBe(role === 'leader' ? last + 1 : last);
  });

  test('ReadIndex (forwarded): a leader starts a heartbeat round carrying the context; others drop it', () => {
    const { r, storage } = nodeIn(role);
    if (role === 'leader') {
      // Commit the leader's own entry first, so that its commit index can be trusted.
      r.step(from2('AppResp', { index: idx(4), reject: false, rejectHint: idx(0), logTerm: tm(0) }));
      persist(r, storage);
      r.msgs = [];
    }
    r.step({ type: 'ReadIndex', from: id(2), to: id(1), term: 0 as Term, context: bytes('q') });
    if (role === 'leader') {
      expect(r.msgs.filter((m) => m.type === 'Heartbeat').map((m) => m.type === 'Heartbeat' && m.context)).toEqual([
        bytes('q'),
        bytes('q'),
      ]);
      r.step(from2('HeartbeatResp', { context: bytes('q') }));
      expect(r.msgs.at(-1)).toMatchObject({ type: 'ReadIndexResp', to: 2, index: 4, context: bytes('q') });
    } else {
      expect(r.msgs).toEqual([]);
    }
  });

  test('ReadIndexResp: a follower records a ReadState', () => {
    const { r } = nodeIn(role);
    r.step(from2('ReadIndexResp', { index: idx(3), context: bytes('q') }));
    expect(r.readStates).toEqual(role === 'follower' ? [{ index: 3, context: bytes('q') }] : []);
  });

  test('TransferLeader (forwarded): a leader starts the transfer; others drop it', () => {
    const { r } = nodeIn(role);
    r.step({ type: 'TransferLeader', from: id(2), to: id(1), term: 0 as Term, transferee: id(2) });
    expect(r.leadTransferee).toBe(role === 'leader' ? 2 : 0);
  });

  test('a message from an older term is ignored (with CheckQuorum, an append is answered with the newer term)', () => {
    const { r } = nodeIn(role, { checkQuorum: true });
    r.step(from2('App', { prevLogIndex: idx(3), prevLogTerm: tm(4), entries: [], commit: idx(3) }, TERM - 1));
    expect(r.role).toBe(role);
    expect(r.msgs).toMatchObject([{ type: 'AppResp', to: 2, term: TERM }]);
    r.msgs = [];
    r.step(from2('VoteResp', { reject: false }, TERM - 1));
    expect(r.role).toBe(role);
    expect(r.msgs).toEqual([]);
  });
});

describe('candidate: split votes', () => {
  // Node 1 is a candidate in term 5 with a log of (1, 1, 4); a Vote request of term 5 comes from a
  // rival candidate, which voted for itself as node 1 did.
  const rivalVote = (lastLogIndex: number, lastLogTerm: number, term = TERM) =>
    from2('Vote', { lastLogIndex: idx(lastLogIndex), lastLogTerm: tm(lastLogTerm), transfer: false }, term);

  test('a rival with an equal log and a higher id: rejected, and we campaign again at the next tick', () => {
    const { r } = nodeIn('candidate');
    r.step(rivalVote(3, 4));
    expect(r.msgs).toMatchObject([{ type: 'VoteResp', to: 2, reject: true }]);
    expect(r).toMatchObject({ randomizedElectionTimeoutTicks: 1, splitVoteRetry: true });
    r.msgs = [];
    r.tick();
    expect(r).toMatchObject({ role: 'candidate', term: TERM + 1, vote: 1, splitVoteRetry: false });
    expect(sent(r)).toEqual(['Vote->2', 'Vote->3']);
    // The campaign after the retry waits a full randomized timeout again.
    expect(r.randomizedElectionTimeoutTicks).toBeGreaterThanOrEqual(10);
  });

  test('a rival with a more up-to-date log (longer, or a later last term): we keep our full timeout', () => {
    for (const [lastLogIndex, lastLogTerm] of [
      [4, 4],
      [2, 5],
    ] as const) {
      const { r } = nodeIn('candidate');
      const timeout = r.randomizedElectionTimeoutTicks;
      r.step(rivalVote(lastLogIndex, lastLogTerm));
      expect(r.msgs).toMatchObject([{ type: 'VoteResp', reject: true }]);
      expect(r).toMatchObject({ randomizedElectionTimeoutTicks: timeout, splitVoteRetry: false });
    }
  });

  test('a rival with a less up-to-date log: we retry at the next tick', () => {
    const { r } = nodeIn('candidate');
    r.step(rivalVote(2, 1));
    expect(r).toMatchObject({ randomizedElectionTimeoutTicks: 1, splitVoteRetry: true });
  });

  test('the wait is only ever shortened: a duplicate, or a rival seen just before our own timeout, changes nothing', () => {
    const { r } = nodeIn('candidate', { splitVoteRetryTicks: 3 });
    r.tick();
    r.step(rivalVote(3, 4));
    expect(r.randomizedElectionTimeoutTicks).toBe(4);
    r.tick();
    r.step(rivalVote(3, 4)); // duplicated by the network
    expect(r.randomizedElectionTimeoutTicks).toBe(4);

    const late = nodeIn('candidate', { splitVoteRetryTicks: 3 }).r;
    const timeout = late.randomizedElectionTimeoutTicks;
    late.electionElapsedTicks = timeout - 2;
    late.step(rivalVote(3, 4));
    expect(late).toMatchObject({ randomizedElectionTimeoutTicks: timeout, splitVoteRetry: false });
  });

  test('with PreVote, a retry whose pre-vote stalls waits a full randomized timeout before the next', () => {
    const { r } = nodeIn('preCandidate');
    r.step(from2('PreVoteResp', { reject: false }, TERM + 1));
    expect(r).toMatchObject({ role: 'candidate', term: TERM + 1 });
    r.step(rivalVote(3, 4, TERM + 1));
    r.msgs = [];
    r.tick();
    expect(r).toMatchObject({ role: 'preCandidate', term: TERM + 1, splitVoteRetry: false });
    expect(sent(r)).toEqual(['PreVote->2', 'PreVote->3']);
    expect(r.randomizedElectionTimeoutTicks).toBeGreaterThanOrEqual(10);
    r.msgs = [];
    for (let i = 0; i < 9; i++) r.tick();
    expect(r.msgs).toEqual([]);
  });

  test.each(['follower', 'preCandidate', 'leader'] as const)(
    'a %s does not read a Vote request of its own term as a split vote',
    (role) => {
      const { r } = nodeIn(role);
      const timeout = r.randomizedElectionTimeoutTicks;
      r.step(rivalVote(3, 4));
      expect(r).toMatchObject({ randomizedElectionTimeoutTicks: timeout, splitVoteRetry: false });
    },
  );
});

describe('leader: append responses and flow control', () => {
  test('an acknowledgement moves a probing follower to replicate and commits on a majority', () => {
    const { r } = nodeIn('leader');
    expect(r.prs.get(id(2))!.state).toBe('probe');
    r.step(from2('AppResp', { index: idx(4), reject: false, rejectHint: idx(0), logTerm: tm(0) }));
    expect(r.prs.get(id(2))).toMatchObject({ state: 'replicate', match: 4, next: 5 });
    expect(r.raftLog.committed).toBe(4);
    // The new commit index goes to 2; 3 is still probing, one append at a time, and its probe
    // (sent on election) is unanswered.
    expect(sent(r)).toEqual(['App->2']);
  });

  test('a rejection with a hint skips every entry of a later term than the follower has (fast backtracking)', () => {
    const storage = storageWithLog([1, 2, 3], [1, 1, 2, 2, 2, 3, 3, 3], { term: tm(4) });
    const r = new Raft({ id: id(1), storage, random: createRandom(1), preVote: false, checkQuorum: false });
    r.becomeCandidate();
    r.becomeLeader();
    r.msgs = [];
    const pr = r.prs.get(id(2))!;
    expect(pr.next).toBe(9);
    // The follower's log is [1, 1, 2, 2, 2, 2, 2, 2, 2, 2]: it has no (8, 3); its entry at 8 has term 2.
    r.step({
      type: 'AppResp',
      from: id(2),
      to: id(1),
      term: tm(5),
      index: idx(8),
      reject: true,
      rejectHint: idx(8),
      logTerm: tm(2),
    });
    // Our last entry of term ≤ 2 is index 5: probe from there, in one step.
    expect(pr.next).toBe(6);
    expect(r.msgs.at(-1)).toMatchObject({ type: 'App', to: 2, prevLogIndex: 5, prevLogTerm: 2 });
  });

  test('a stale rejection (for an append already superseded) is ignored', () => {
    const { r } = nodeIn('leader');
    r.step(from2('AppResp', { index: idx(4), reject: false, rejectHint: idx(0), logTerm: tm(0) }));
    r.msgs = [];
    r.step(from2('AppResp', { index: idx(2), reject: true, rejectHint: idx(1), logTerm: tm(1) }));
    expect(r.prs.get(id(2))).toMatchObject({ state: 'replicate', match: 4 });
    expect(r.msgs).toEqual([]);
  });

  test('in replicate, appends are pipelined up to maxInflightMsgs, then the leader waits', () => {
    const { r, storage } = nodeIn('leader', { maxInflightMsgs: 2, maxSizePerMsgBytes: 1 });
    r.step(from2('AppResp', { index: idx(4), reject: false, rejectHint: idx(0), logTerm: tm(0) }));
    persist(r, storage);
    r.msgs = [];
    for (const v of ['a', 'b', 'c', 'd']) r.propose([{ type: 'normal', data: bytes(v) }]);
    const toTwo = r.msgs.filter((m) => m.to === 2 && m.type === 'App');
    expect(toTwo).toHaveLength(2);
    expect(r.prs.get(id(2))!.isPaused()).toBe(true);
    r.msgs = [];
    // One acknowledgement frees one slot: exactly one more append goes out.
    r.step(from2('AppResp', { index: idx(5), reject: false, rejectHint: idx(0), logTerm: tm(0) }));
    expect(r.msgs.filter((m) => m.to === 2 && m.type === 'App' && m.entries.length > 0)).toHaveLength(1);
  });

  test('entries are batched up to maxSizePerMsgBytes per append', () => {
    const { r, storage } = nodeIn('leader', { maxSizePerMsgBytes: 80 });
    r.step(from2('AppResp', { index: idx(4), reject: false, rejectHint: idx(0), logTerm: tm(0) }));
    persist(r, storage);
    r.prs.get(id(2))!.becomeProbe();
    r.msgs = [];
    for (const v of ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd'])
      r.propose([{ type: 'normal', data: bytes(v) }]);
    r.msgs = [];
    r.step(from2('HeartbeatResp', { context: null }));
    const app = r.msgs.find((m) => m.type === 'App' && m.to === 2);
    // Each entry costs 10 bytes of data plus 24 of overhead: two fit in 80 bytes, three do not.
    expect(app?.type === 'App' && app.entries.length).toBe(2);
  });

  test('a heartbeat response unblocks a full pipeline (the appends may have been lost)', () => {
    const { r, storage } = nodeIn('leader', { maxInflightMsgs: 1, maxSizePerMsgBytes: 1 });
    r.step(from2('AppResp', { index: idx(4), reject: false, rejectHint: idx(0), logTerm: tm(0) }));
    persist(r, storage);
    r.propose([{ type: 'normal', data: bytes('a') }]);
    r.propose([{ type: 'normal', data: bytes('b') }]);
    expect(r.prs.get(id(2))!.isPaused()).toBe(true);
    r.msgs = [];
    r.step(from2('HeartbeatResp', { context: null }));
    expect(r.msgs.some((m) => m.type === 'App' && m.to === 2)).toBe(true);
  });

  test('heartbeats never tell a follower of a commit index beyond what it is known to hold', () => {
    const { r, storage } = nodeIn('leader');
    r.step({
      type: 'AppResp',
      from: id(3),
      to: id(1),
      term: tm(TERM),
      index: idx(4),
      reject: false,
      rejectHint: idx(0),
      logTerm: tm(0),
    });
    persist(r, storage);
    expect(r.raftLog.committed).toBe(4);
    r.msgs = [];
    r.tick();
    expect(r.msgs.filter((m) => m.type === 'Heartbeat').map((m) => m.type === 'Heartbeat' && [m.to, m.commit])).toEqual(
      [
        [2, 0],
        [3, 4],
      ],
    );
  });

  test('reportUnreachable sends a replicating follower back to probing', () => {
    const { r } = nodeIn('leader');
    r.step(from2('AppResp', { index: idx(4), reject: false, rejectHint: idx(0), logTerm: tm(0) }));
    r.reportUnreachable(id(2));
    expect(r.prs.get(id(2))!.state).toBe('probe');
  });
});

describe('follower: snapshot chunks', () => {
  const metadata = { index: idx(9), term: tm(TERM), confState: { voters: [id(1), id(2), id(3)], learners: [] } };
  const chunk = (offsetBytes: number, data: string, done: boolean, from = 2, term = TERM) =>
    ({
      type: 'Snap',
      from: id(from),
      to: id(1),
      term: tm(term),
      metadata,
      offsetBytes,
      data: bytes(data),
      done,
    }) as Message;

  test('chunks in order are assembled; the last installs the snapshot and is acknowledged with an AppResp', () => {
    const { r } = nodeIn('follower');
    r.step(chunk(0, 'ab', false));
    r.step(chunk(2, 'cd', false));
    r.step(chunk(4, 'e', true));
    expect(r.msgs).toMatchObject([
      { type: 'SnapResp', receivedBytes: 2 },
      { type: 'SnapResp', receivedBytes: 4 },
      { type: 'AppResp', index: 9, reject: false },
    ]);
    expect(new TextDecoder().decode(r.raftLog.unstable.snapshot!.data)).toBe('abcde');
    expect(r.raftLog.committed).toBe(9);
  });

  test('an out-of-order chunk is answered with the bytes actually held', () => {
    const { r } = nodeIn('follower');
    r.step(chunk(0, 'ab', false));
    r.step(chunk(4, 'e', true));
    expect(r.msgs.at(-1)).toMatchObject({ type: 'SnapResp', receivedBytes: 2, reject: false });
    expect(r.raftLog.unstable.snapshot).toBeUndefined();
  });

  test('a chunk of a transfer the follower knows nothing about is rejected (start over)', () => {
    const { r } = nodeIn('follower');
    r.step(chunk(2, 'cd', false));
    expect(r.msgs).toMatchObject([{ type: 'SnapResp', receivedBytes: 0, reject: true }]);
  });

  test('chunks from a different leader are never spliced into an assembly', () => {
    const { r } = nodeIn('follower');
    r.step(chunk(0, 'ab', false));
    r.step(chunk(2, 'XY', false, 3, TERM + 1));
    expect(r.msgs.at(-1)).toMatchObject({ type: 'SnapResp', reject: true });
  });

  test('a snapshot at or below the commit index is acknowledged without being installed', () => {
    const { r } = nodeIn('follower');
    r.raftLog.commitTo(idx(3));
    const old = { ...metadata, index: idx(2), term: tm(1) };
    r.step({
      type: 'Snap',
      from: id(2),
      to: id(1),
      term: tm(TERM),
      metadata: old,
      offsetBytes: 0,
      data: bytes('z'),
      done: true,
    });
    expect(r.msgs).toMatchObject([{ type: 'AppResp', index: 3, reject: false }]);
    expect(r.raftLog.unstable.snapshot).toBeUndefined();
  });
});

describe('leader: snapshot transfer', () => {
  function leaderSendingSnapshot() {
    const { r, storage } = nodeIn('leader', { snapshotChunkBytes: 2 });
    r.step(from2('AppResp', { index: idx(4), reject: false, rejectHint: idx(0), logTerm: tm(0) }));
    persist(r, storage);
    storage.createSnapshot(idx(4), { voters: [id(1), id(2), id(3)], learners: [] }, bytes('12345'));
    storage.compact(idx(4));
    const pr = r.prs.get(id(3))!;
    pr.recentActive = true;
    r.msgs = [];
    r.step({ type: 'HeartbeatResp', from: id(3), to: id(1), term: tm(TERM), context: null });
    return { r, pr };
  }

  test('a follower needing compacted entries is sent the first chunk and put in the snapshot state', () => {
    const { r, pr } = leaderSendingSnapshot();
    expect(pr.state).toBe('snapshot');
    expect(r.msgs).toMatchObject([{ type: 'Snap', to: 3, offsetBytes: 0, done: false }]);
  });

  test('each acknowledgement sends the next chunk; duplicates send nothing', () => {
    const { r } = leaderSendingSnapshot();
    const ack = (receivedBytes: number) =>
      r.step({
        type: 'SnapResp',
        from: id(3),
        to: id(1),
        term: tm(TERM),
        snapshotIndex: idx(4),
        receivedBytes,
        reject: false,
      });
    r.msgs = [];
    ack(2);
    ack(2);
    ack(4);
    expect(r.msgs.map((m) => m.type === 'Snap' && [m.offsetBytes, m.data.byteLength, m.done])).toEqual([
      [2, 2, false],
      [4, 1, true],
    ]);
  });

  test('the transfer ends when the follower acknowledges with an AppResp at the snapshot index', () => {
    const { r, pr } = leaderSendingSnapshot();
    r.step({
      type: 'AppResp',
      from: id(3),
      to: id(1),
      term: tm(TERM),
      index: idx(4),
      reject: false,
      rejectHint: idx(0),
      logTerm: tm(0),
    });
    expect(pr).toMatchObject({ state: 'replicate', match: 4 });
  });

  test('reportSnapshot(false) abandons the transfer', () => {
    const { r, pr } = leaderSendingSnapshot();
    r.reportSnapshot(id(3), false);
    expect(pr.state).toBe('probe');
  });
});

describe('local requests', () => {
  test('a leader refuses proposals while transferring leadership', () => {
    const { r } = nodeIn('leader');
    r.transferLeadership(id(2));
    expect(() => r.propose([{ type: 'normal', data: bytes('x') }])).toThrow(
      expect.objectContaining({ code: 'TRANSFER_IN_PROGRESS' }),
    );
  });

  test('a follower forwards proposals and reads to its leader with term 0', () => {
    const { r } = nodeIn('follower');
    r.propose([{ type: 'normal', data: bytes('x') }]);
    r.readIndex(bytes('q'));
    r.transferLeadership(id(3));
    expect(r.msgs).toMatchObject([
      { type: 'Prop', to: 2, term: 0 },
      { type: 'ReadIndex', to: 2, term: 0 },
      { type: 'TransferLeader', to: 2, term: 0, transferee: 3 },
    ]);
  });

  test('a candidate refuses proposals, reads and transfers: it knows no leader', () => {
    const { r } = nodeIn('candidate');
    expect(() => r.propose([{ type: 'normal', data: bytes('x') }])).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_DROPPED' }),
    );
    expect(() => r.readIndex(bytes('q'))).toThrow(expect.objectContaining({ code: 'READ_INDEX_DROPPED' }));
    expect(() => r.transferLeadership(id(2))).toThrow(expect.objectContaining({ code: 'NOT_LEADER' }));
  });

  test('pending ReadIndex requests are bounded', () => {
    const { r } = nodeIn('leader', { maxPendingReadIndexRequests: 2 });
    r.readIndex(bytes('1'));
    r.readIndex(bytes('2'));
    expect(() => r.readIndex(bytes('3'))).toThrow(expect.objectContaining({ code: 'READ_INDEX_DROPPED' }));
  });

  test('a single-voter leader answers reads at once', () => {
    const storage = new MemoryStorage({ voters: [id(1)], learners: [] });
    const r = new Raft({ id: id(1), storage, random: createRandom(1) });
    r.hup(false);
    expect(r.role).toBe('leader');
    r.readIndex(bytes('solo'));
    expect(r.readStates).toEqual([{ index: 0, context: bytes('solo') }]);
  });
});
