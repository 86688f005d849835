/**
 * The rules of the Raft paper ("In Search of an Understandable Consensus Algorithm", Ongaro &
 * Ousterhout, 2014) and of Ongaro's thesis (2014), one test per rule, each naming the section or
 * figure it checks. Quotes are paraphrased.
 */
import { describe, expect, test } from 'vitest';
import { isRaftError } from '../src/errors.js';
import { MemoryStorage } from '../src/storage.js';
import type { Message, NodeId } from '../src/types.js';
import { bytes, Cluster, id, idx, type NodeOptions, storageWithLog, text, tm } from './helpers/cluster.js';

/** Plain Raft as in the paper: no PreVote, no CheckQuorum (each has its own section below). */
const PAPER: NodeOptions = { preVote: false, checkQuorum: false, electionTimeoutTicks: 10, heartbeatTimeoutTicks: 1 };

function clusterWithLogs(logs: number[][], options: NodeOptions = PAPER, hardTerm?: number): Cluster {
  const voters = logs.map((_, i) => id(i + 1));
  const storages = new Map<NodeId, MemoryStorage>();
  logs.forEach((terms, i) => {
    const t = hardTerm ?? Math.max(0, ...logs.flat());
    storages.set(id(i + 1), storageWithLog(voters, terms, { term: tm(t) }));
  });
  return new Cluster(voters, options, storages);
}

const isType =
  (...types: Message['type'][]) =>
  (m: Message) =>
    types.includes(m.type);

describe('§5.1 terms', () => {
  test('§5.2: when servers start up, they begin as followers in term 0', () => {
    const c = Cluster.of(3, PAPER);
    for (const n of c.nodes.values()) {
      expect(n.node.status()).toMatchObject({ role: 'follower', term: 0, lead: 0 });
    }
  });

  test.each(['follower', 'candidate', 'leader'] as const)(
    '§5.1: a %s that sees a larger term adopts it and becomes a follower',
    (role) => {
      const c = Cluster.of(3, PAPER);
      if (role === 'candidate') c.campaign(1);
      if (role === 'leader') c.elect(1);
      const r = c.raft(1);
      expect(r.role).toBe(role);
      const higher = tm(r.term + 5);
      r.step({ type: 'Heartbeat', from: id(2), to: id(1), term: higher, commit: idx(0), context: null });
      expect(r.term).toBe(higher);
      expect(r.role).toBe('follower');
      expect(r.lead).toBe(2);
    },
  );

  test('§5.1: a server rejects a request with a stale term (it does not append)', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    const r = c.raft(2);
    const last = r.raftLog.lastIndex();
    r.step({
      type: 'App',
      from: id(3),
      to: id(2),
      term: tm(r.term - 1),
      prevLogIndex: last,
      prevLogTerm: r.raftLog.lastTerm(),
      entries: [{ term: tm(r.term - 1), index: idx(last + 1), type: 'normal', data: bytes('stale') }],
      commit: idx(0),
    });
    expect(r.raftLog.lastIndex()).toBe(last);
    expect(r.lead).toBe(1);
  });

  test('§5.1: a stale leader learns the newer term from the reply and steps down (with CheckQuorum)', () => {
    const c = Cluster.of(3, { ...PAPER, checkQuorum: true });
    c.elect(1);
    c.isolate(1);
    c.tickAll(25); // 2 or 3 times out and wins a later term; 1 notices no quorum and steps down
    c.stabilize();
    c.heal();
    const newLeader = c.leader()!;
    expect(newLeader).not.toBe(1);
    // Even a leader that never noticed would be told: a heartbeat of an older term is answered
    // with the newer term.
    const r = c.raft(newLeader);
    r.step({ type: 'Heartbeat', from: id(1), to: newLeader, term: tm(1), commit: idx(0), context: null });
    expect(r.msgs.at(-1)).toMatchObject({ type: 'AppResp', to: 1, term: r.term });
  });
});

describe('§5.2 leader election', () => {
  test('§5.2: a leader sends heartbeats to every follower each heartbeat timeout', () => {
    const c = Cluster.of(3, { ...PAPER, heartbeatTimeoutTicks: 2 });
    c.elect(1);
    c.tick(1);
    c.processAllReady();
    expect(c.take(isType('Heartbeat'))).toHaveLength(0);
    c.tick(1);
    c.processAllReady();
    const beats = c.take(isType('Heartbeat'));
    expect(beats.map((m) => m.to).sort()).toEqual([2, 3]);
  });

  test('§5.2: a follower that hears nothing for an election timeout becomes a candidate, votes for itself and asks everyone', () => {
    const c = Cluster.of(3, PAPER);
    c.tick(1, 20); // beyond any randomized timeout in [10, 20)
    const r = c.raft(1);
    expect(r.role).toBe('candidate');
    expect(r.term).toBe(1);
    expect(r.vote).toBe(1);
    c.processAllReady();
    const votes = c.take(isType('Vote'));
    expect(votes.map((m) => [m.to, m.term])).toEqual([
      [2, 1],
      [3, 1],
    ]);
  });

  test('§5.2: heartbeats from a leader keep followers from starting elections', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    for (let i = 0; i < 100; i++) {
      c.tickAll();
      c.stabilize();
    }
    expect(c.raft(1).role).toBe('leader');
    expect(c.raft(1).term).toBe(1);
  });

  test.each([
    // [cluster size, votes granted by others, votes rejected by others, expected role]
    [1, 0, 0, 'leader'],
    [3, 1, 0, 'leader'],
    [3, 0, 2, 'follower'],
    [3, 0, 1, 'candidate'],
    [5, 2, 0, 'leader'],
    [5, 1, 2, 'candidate'],
    [5, 1, 3, 'follower'],
  ] as const)(
    '§5.2: a candidate needs votes from a majority (size %i, %i granted, %i rejected → %s)',
    (size, granted, rejected, expected) => {
      const c = Cluster.of(size, PAPER);
      c.campaign(1);
      const r = c.raft(1);
      const others = [...c.nodes.keys()].filter((x) => x !== 1);
      others.slice(0, granted).forEach((from) => {
        r.step({ type: 'VoteResp', from, to: id(1), term: r.term, reject: false });
      });
      others.slice(granted, granted + rejected).forEach((from) => {
        r.step({ type: 'VoteResp', from, to: id(1), term: r.term, reject: true });
      });
      expect(r.role).toBe(expected);
    },
  );

  test('§5.2: each server votes for at most one candidate per term, first come first served', () => {
    const c = Cluster.of(3, PAPER);
    const r = c.raft(3);
    const ask = (from: number) =>
      r.step({
        type: 'Vote',
        from: id(from),
        to: id(3),
        term: tm(1),
        lastLogIndex: idx(0),
        lastLogTerm: tm(0),
        transfer: false,
      });
    ask(1);
    ask(2);
    ask(1); // a retransmission from the candidate we voted for is granted again
    expect(r.msgs.map((m) => [m.to, m.type, 'reject' in m && m.reject])).toEqual([
      [1, 'VoteResp', false],
      [2, 'VoteResp', true],
      [1, 'VoteResp', false],
    ]);
    expect(r.vote).toBe(1);
  });

  test('§5.2: a candidate that receives AppendEntries from a leader of its term returns to follower', () => {
    const c = Cluster.of(3, PAPER);
    c.campaign(1);
    const r = c.raft(1);
    r.step({
      type: 'App',
      from: id(2),
      to: id(1),
      term: r.term,
      prevLogIndex: idx(0),
      prevLogTerm: tm(0),
      entries: [],
      commit: idx(0),
    });
    expect(r.role).toBe('follower');
    expect(r.lead).toBe(2);
  });

  test('§5.2: after a split vote, candidates time out and start a new election in a later term', () => {
    const c = Cluster.of(4, PAPER);
    c.partition([1, 2], [3, 4]);
    c.campaign(1);
    c.campaign(3);
    c.stabilize();
    expect(c.raft(1).role).toBe('candidate');
    expect(c.raft(3).role).toBe('candidate');
    c.heal();
    c.tick(1, 20);
    expect(c.raft(1).role).toBe('candidate');
    expect(c.raft(1).term).toBe(2);
    c.stabilize();
    expect(c.raft(1).role).toBe('leader');
  });

  test('§5.2 (split votes are resolved quickly): with the leader dead, of two candidates with equal logs the lower id campaigns again at its next tick and wins', () => {
    const c = Cluster.of(3, { electionTimeoutTicks: 10, heartbeatTimeoutTicks: 1 }); // PreVote and CheckQuorum on
    c.elect(1);
    c.isolate(1);
    // 2 and 3 time out together: each grants the other's pre-vote, then votes for itself in term 2.
    c.campaign(2);
    c.campaign(3);
    c.stabilize();
    expect([c.raft(2), c.raft(3)]).toMatchObject([
      { role: 'candidate', term: 2, vote: 2 },
      { role: 'candidate', term: 2, vote: 3 },
    ]);
    c.tick(3); // node 3 keeps its full randomized timeout
    expect(c.queue).toEqual([]);
    c.tick(2);
    c.stabilize();
    expect([c.raft(2), c.raft(3)]).toMatchObject([
      { role: 'leader', term: 3 },
      { role: 'follower', term: 3, lead: 2 },
    ]);
  });

  test('§5.2 (split votes are resolved quickly): the candidate with the more up-to-date log retries, whatever its id', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.drop(1, 2);
    c.propose(1, 'x');
    c.stabilize(); // only 1 and 3 hold 'x'
    c.isolate(1);
    c.campaign(2);
    c.campaign(3);
    c.stabilize();
    expect([c.raft(2).role, c.raft(3).role]).toEqual(['candidate', 'candidate']);
    c.tick(2);
    expect(c.queue).toEqual([]);
    c.tick(3);
    c.stabilize();
    expect([c.raft(2), c.raft(3)]).toMatchObject([
      { role: 'follower', term: 3, lead: 3 },
      { role: 'leader', term: 3 },
    ]);
  });

  test('§5.2: election timeouts are chosen randomly from [electionTimeout, 2 × electionTimeout)', () => {
    const seen = new Set<number>();
    for (let n = 1; n <= 50; n++) {
      const c = new Cluster([id(n)], { ...PAPER, electionTimeoutTicks: 10 });
      const t = c.raft(n).randomizedElectionTimeoutTicks;
      expect(t).toBeGreaterThanOrEqual(10);
      expect(t).toBeLessThan(20);
      seen.add(t);
    }
    expect(seen.size).toBeGreaterThan(5);
  });
});

describe('§5.3 log replication', () => {
  test('§5.3: the leader appends a proposal to its log and sends AppendEntries to every follower', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.propose(1, 'x');
    c.processAllReady();
    const apps = c.take(isType('App'));
    expect(apps.map((m) => m.to).sort()).toEqual([2, 3]);
    for (const m of apps) {
      expect(m.type === 'App' && m.entries.map((e) => text(e.data))).toEqual(['x']);
    }
  });

  test('§5.3: an entry is committed once the leader has replicated it on a majority; followers learn the commit index and apply', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.drop(1, 3);
    c.propose(1, 'x');
    c.stabilize();
    // Node 3 got nothing, yet the entry is committed: 1 and 2 are a majority.
    expect(c.appliedData(1)).toEqual(['x']);
    expect(c.appliedData(2)).toEqual(['x']);
    expect(c.appliedData(3)).toEqual([]);
    c.heal();
    c.tick(1);
    c.stabilize();
    expect(c.appliedData(3)).toEqual(['x']);
  });

  test('§5.3: a follower refuses entries when its log has no entry at prevLogIndex with prevLogTerm', () => {
    const c = clusterWithLogs([[1, 1], [1]]);
    const r = c.raft(2);
    r.step({
      type: 'App',
      from: id(1),
      to: id(2),
      term: tm(1),
      prevLogIndex: idx(2),
      prevLogTerm: tm(1),
      entries: [{ term: tm(1), index: idx(3), type: 'normal', data: bytes('x') }],
      commit: idx(0),
    });
    expect(r.raftLog.lastIndex()).toBe(1);
    expect(r.msgs[0]).toMatchObject({ type: 'AppResp', reject: true, index: 2, rejectHint: 1, logTerm: 1 });
  });

  test('§5.3: a follower deletes a conflicting entry and all that follow it, then appends the new ones', () => {
    const c = clusterWithLogs([[1], [1, 2, 2, 2]], PAPER, 3);
    const r = c.raft(2);
    r.step({
      type: 'App',
      from: id(1),
      to: id(2),
      term: tm(3),
      prevLogIndex: idx(1),
      prevLogTerm: tm(1),
      entries: [{ term: tm(3), index: idx(2), type: 'normal', data: bytes('new') }],
      commit: idx(1),
    });
    expect(c.logTerms(2)).toEqual([1, 3]);
    expect(r.msgs[0]).toMatchObject({ type: 'AppResp', reject: false, index: 2 });
  });

  test('§5.3: an AppendEntries whose entries are already present changes nothing (RPCs are idempotent, §5.5)', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.propose(1, 'a');
    c.propose(1, 'b');
    c.processAllReady();
    const apps = c.queue.filter((m) => m.to === 2);
    c.stabilize();
    const before = c.logTerms(2);
    for (const m of apps) c.get(2).node.step(m);
    c.stabilize();
    expect(c.logTerms(2)).toEqual(before);
    expect(c.appliedData(2)).toEqual(['a', 'b']);
  });

  // Figure 7: the leader's log, and follower logs (a)–(f) that a new leader may find.
  const figure7Leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const figure7Followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };

  test.each(Object.keys(figure7Followers))(
    'Figure 7 (%s): the leader of term 8 brings the follower log into agreement with its own',
    (name) => {
      const followerLog = figure7Followers[name]!;
      // Node 3 starts empty and votes for 1; node 2 holds the follower's log.
      const c = clusterWithLogs([figure7Leader, followerLog, []], PAPER, 7);
      c.elect(1);
      expect(c.raft(1).role).toBe('leader');
      expect(c.raft(1).term).toBe(8);
      c.tickAll();
      c.stabilize();
      expect(c.logTerms(2)).toEqual([...figure7Leader, 8]);
      expect(c.logTerms(1)).toEqual([...figure7Leader, 8]); // §5.3: a leader never overwrites its own log
    },
  );

  test('§5.3 (fast backtracking): a long divergent tail is repaired in a few round trips, not one entry per round trip', () => {
    const leaderLog = [1, ...Array<number>(100).fill(3)];
    const followerLog = [1, ...Array<number>(100).fill(2)];
    const c = clusterWithLogs([leaderLog, followerLog, []], PAPER, 3);
    c.trace = true;
    c.elect(1);
    c.tickAll();
    c.stabilize();
    expect(c.logTerms(2)).toEqual([...leaderLog, 4]);
    const rejections = c.lines.filter((l) => l.includes('sends 2->1 AppResp') && l.includes('REJECT'));
    expect(rejections.length).toBeLessThanOrEqual(2);
  });
});

describe('§5.4 safety', () => {
  test.each([
    // [voter's log terms, candidate's lastLogIndex, lastLogTerm, granted]
    [[1, 2, 2], 3, 2, true], // same last term, same length
    [[1, 2, 2], 4, 2, true], // same last term, longer
    [[1, 2, 2], 2, 2, false], // same last term, shorter
    [[1, 2, 2], 1, 3, true], // later last term wins, whatever the length
    [[1, 2, 2], 9, 1, false], // earlier last term loses, whatever the length
  ] as const)(
    '§5.4.1: a voter with log %j grants a candidate with last entry (%i, term %i): %s',
    (voterLog, lastLogIndex, lastLogTerm, granted) => {
      const c = clusterWithLogs([[], [...voterLog]], PAPER, 3);
      const r = c.raft(2);
      r.step({
        type: 'Vote',
        from: id(1),
        to: id(2),
        term: tm(4),
        lastLogIndex: idx(lastLogIndex),
        lastLogTerm: tm(lastLogTerm),
        transfer: false,
      });
      expect(r.msgs[0]).toMatchObject({ type: 'VoteResp', reject: !granted });
    },
  );

  test('§5.4.1: a candidate whose log lacks committed entries cannot be elected', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.isolate(3);
    c.propose(1, 'x');
    c.stabilize();
    c.heal();
    c.isolate(1);
    c.campaign(3);
    c.stabilize();
    expect(c.raft(3).role).not.toBe('leader');
    c.campaign(2);
    c.stabilize();
    expect(c.raft(2).role).toBe('leader');
  });

  /**
   * Figure 8, state (c): S1 leads term 4 with [1, 2, 4]; the term-2 entry at index 2 is on S1, S2
   * and S3 (a majority), the term-4 entry only on S1. S5 holds [1, 3].
   */
  function figure8c(): Cluster {
    const c = clusterWithLogs([[1, 2], [1, 2], [1, 2], [1], [1, 3]], { ...PAPER, maxSizePerMsgBytes: 1 }, 3);
    return c;
  }

  test('Figure 8 / §5.4.2: a leader does not commit an entry of an earlier term by counting replicas', () => {
    const c = figure8c();
    c.isolate(4);
    c.isolate(5);
    c.campaign(1);
    c.processAllReady();
    c.deliver(); // vote requests
    c.processAllReady();
    c.deliver(); // votes: S1 leads term 4 and appends its empty entry at index 3
    const r = c.raft(1);
    expect(r).toMatchObject({ role: 'leader', term: 4 });
    c.processAllReady(); // the entry is durable on S1; its appends are withheld
    c.take();
    const ack = (from: number, index: number) =>
      r.step({
        type: 'AppResp',
        from: id(from),
        to: id(1),
        term: tm(4),
        index: idx(index),
        reject: false,
        rejectHint: idx(0),
        logTerm: tm(0),
      });
    // S2 and S3 hold index 2 (term 2): with S1 that is three of five, a majority. Not committed.
    ack(2, 2);
    ack(3, 2);
    expect(r.raftLog.committed).toBe(0);
    // Once the term-4 entry is on a majority, it commits, and index 2 with it (§5.4.2).
    ack(2, 3);
    expect(r.raftLog.committed).toBe(0);
    ack(3, 3);
    expect(r.raftLog.committed).toBe(3);
  });

  test('Figure 8 (d): why — had index 2 been committed in (c), S5 could still be elected and overwrite it', () => {
    const c = figure8c();
    c.isolate(1); // S1 crashes in state (c)
    c.elect(5); // S5's last term 3 beats the last term 2 of S2, S3 and S4
    expect(c.raft(5).role).toBe('leader');
    c.tickAll();
    c.stabilize();
    // The term-2 entry at index 2 is gone from S2 and S3, replaced by S5's term-3 entry.
    expect(c.logTerms(2)).toEqual([1, 3, 4]);
    expect(c.logTerms(3)).toEqual([1, 3, 4]);
  });
});

describe('§7 log compaction and InstallSnapshot', () => {
  const SNAP: NodeOptions = { ...PAPER, snapshotChunkBytes: 4 };

  function laggingFollower(): Cluster {
    const c = Cluster.of(3, SNAP);
    c.elect(1);
    c.isolate(3);
    for (const v of ['a', 'b', 'c', 'd']) c.propose(1, v);
    c.stabilize();
    c.snapshotAndCompact(1, 5, 5, 'state-abcd'); // 10 bytes: three chunks of 4
    c.heal();
    return c;
  }

  test('§7: a follower that needs compacted entries receives the snapshot in acknowledged chunks, installs it, and continues', () => {
    const c = laggingFollower();
    c.trace = true;
    c.tick(1);
    c.stabilize();
    const chunks = c.lines.filter((l) => l.includes('sends 1->3 Snap'));
    expect(chunks.map((l) => l.replace(/.* offset=/, 'offset='))).toEqual([
      'offset=0 bytes=4',
      'offset=4 bytes=4',
      'offset=8 bytes=2 done',
    ]);
    expect(c.lines.filter((l) => l.includes('sends 3->1 SnapResp')).length).toBe(2);
    expect(c.get(3).restored?.metadata.index).toBe(5);
    expect(text(c.get(3).restored!.data)).toBe('state-abcd');
    c.propose(1, 'e');
    c.stabilize();
    expect(c.appliedData(3)).toEqual(['e']);
    expect(c.raft(1).prs.get(id(3))!.state).toBe('replicate');
  });

  test('§7: a lost chunk is resent after the chunk timeout, and a transfer is abandoned after its retries', () => {
    const c = laggingFollower();
    c.tick(1);
    // A heartbeat round marks node 3 active; a probe finds its log too short; the transfer starts.
    for (let i = 0; i < 10 && !c.queue.some(isType('Snap')); i++) {
      c.deliver();
      c.processAllReady();
    }
    // The first chunk never arrives.
    expect(c.take((m) => m.type === 'Snap').map((m) => m.type === 'Snap' && m.offsetBytes)).toEqual([0]);
    c.drop(1, 3);
    const pr = c.raft(1).prs.get(id(3))!;
    let resent = 0;
    for (let i = 0; i < 40 && pr.state === 'snapshot'; i++) {
      c.tick(1);
      c.processAllReady();
      resent += c.take((m) => m.type === 'Snap').length;
      c.deliver();
    }
    expect(resent).toBe(5); // snapshotChunkRetriesMax, then give up
    expect(pr.state).toBe('probe');
    c.heal();
    c.tick(1, 2);
    c.stabilize();
    expect(c.get(3).restored?.metadata.index).toBe(5);
  });

  test('§7: a snapshot that covers only a prefix of the follower log keeps the entries after it', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    for (const v of ['a', 'b', 'c']) c.propose(1, v);
    c.stabilize();
    const r = c.raft(2);
    const metadata = { index: idx(2), term: tm(1), confState: { voters: [id(1), id(2), id(3)], learners: [] } };
    r.step({
      type: 'Snap',
      from: id(1),
      to: id(2),
      term: tm(1),
      metadata,
      offsetBytes: 0,
      data: bytes('s'),
      done: true,
    });
    expect(r.raftLog.lastIndex()).toBe(4);
    expect(r.raftLog.unstable.snapshot).toBeUndefined();
  });
});

describe('§8 client interaction: ReadIndex (thesis §6.4)', () => {
  test('§8: a new leader commits a blank entry at the start of its term', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    const first = c.get(2).applied[0]!;
    expect(first.term).toBe(1);
    expect(first.data.byteLength).toBe(0);
  });

  test('thesis §6.4: the leader answers a read only after a heartbeat round confirms it still leads', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.get(1).node.readIndex(bytes('r1'));
    c.processAllReady();
    expect(c.get(1).readStates).toEqual([]);
    const beats = c.queue.filter(isType('Heartbeat'));
    expect(beats.every((m) => m.type === 'Heartbeat' && text(m.context!) === 'r1')).toBe(true);
    c.deliver(); // heartbeats out
    c.processAllReady();
    c.deliver((m) => m.from === 2); // one answer: with the leader itself, a majority
    c.processAllReady();
    expect(c.get(1).readStates.map((rs) => [rs.index, text(rs.context)])).toEqual([[1, 'r1']]);
  });

  test('thesis §6.4: a leader cut off from the majority never answers a read', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.isolate(1);
    c.get(1).node.readIndex(bytes('r1'));
    for (let i = 0; i < 30; i++) {
      c.tick(1);
      c.stabilize();
    }
    expect(c.get(1).readStates).toEqual([]);
  });

  test('thesis §6.4: a fresh leader defers reads until it has committed an entry of its own term', () => {
    const c = Cluster.of(3, PAPER);
    c.campaign(1);
    c.processAllReady();
    c.deliver();
    c.processAllReady();
    c.deliver(); // votes arrive: 1 is leader, its blank entry not yet committed
    expect(c.raft(1).role).toBe('leader');
    c.get(1).node.readIndex(bytes('early'));
    expect(c.raft(1).pendingReadIndex).toHaveLength(1);
    c.stabilize();
    expect(c.get(1).readStates.map((rs) => [rs.index, text(rs.context)])).toEqual([[1, 'early']]);
  });

  test('thesis §6.4.1: a follower forwards the read to the leader and serves it at the index it returns', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.propose(1, 'x');
    c.stabilize();
    c.get(3).node.readIndex(bytes('f'));
    c.stabilize();
    expect(c.get(3).readStates.map((rs) => [rs.index, text(rs.context)])).toEqual([[2, 'f']]);
  });

  test('a read with no leader known is refused with READ_INDEX_DROPPED', () => {
    const c = Cluster.of(3, PAPER);
    expect(() => c.get(1).node.readIndex(bytes('x'))).toThrow(expect.objectContaining({ code: 'READ_INDEX_DROPPED' }));
  });
});

describe('thesis §3.10 leadership transfer', () => {
  test('§3.10: the leader sends TimeoutNow to an up-to-date target, which is elected at once', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.get(1).node.transferLeadership(id(2));
    c.stabilize();
    expect(c.raft(2).role).toBe('leader');
    expect(c.raft(2).term).toBe(2);
    expect(c.raft(1).role).toBe('follower');
    expect(c.raft(1).lead).toBe(2);
  });

  test('§3.10: a target that lags is first brought up to date', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.isolate(3);
    for (const v of ['a', 'b']) c.propose(1, v);
    c.stabilize();
    c.heal();
    c.trace = true;
    c.get(1).node.transferLeadership(id(3));
    c.stabilize();
    const appIndex = c.lines.findIndex((l) => l.includes('sends 1->3 App'));
    const timeoutIndex = c.lines.findIndex((l) => l.includes('sends 1->3 TimeoutNow'));
    expect(appIndex).toBeGreaterThanOrEqual(0);
    expect(timeoutIndex).toBeGreaterThan(appIndex);
    expect(c.raft(3).role).toBe('leader');
    expect(c.appliedData(3)).toEqual(['a', 'b']);
  });

  test('§3.10: the leader stops accepting proposals while a transfer is in progress', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.drop(1, 3);
    c.get(1).node.transferLeadership(id(3));
    expect(() => c.propose(1, 'x')).toThrow(expect.objectContaining({ code: 'TRANSFER_IN_PROGRESS' }));
  });

  test('§3.10: a transfer that does not complete within an election timeout is aborted', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.isolate(3);
    c.get(1).node.transferLeadership(id(3));
    expect(c.raft(1).leadTransferee).toBe(3);
    for (let i = 0; i < 10; i++) {
      c.tick(1);
      c.stabilize();
    }
    expect(c.raft(1).leadTransferee).toBe(0);
    expect(c.raft(1).role).toBe('leader');
    c.propose(1, 'accepted again');
  });

  test('a follower forwards a transfer request to its leader', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.get(3).node.transferLeadership(id(3));
    c.stabilize();
    expect(c.raft(3).role).toBe('leader');
  });

  test('a transfer to a node that is not a voter is refused', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    expect(() => c.get(1).node.transferLeadership(id(9))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('thesis §9.6 PreVote', () => {
  const PREVOTE: NodeOptions = { ...PAPER, preVote: true };

  test('§9.6: a partitioned node keeps its term: it never wins a pre-vote, so it never campaigns', () => {
    const c = Cluster.of(3, PREVOTE);
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 100; i++) {
      c.tickAll();
      c.stabilize();
    }
    expect(c.raft(3).term).toBe(1);
    expect(c.raft(3).role).toBe('preCandidate');
  });

  test('§9.6: a node rejoining after a partition does not depose a healthy leader', () => {
    const c = Cluster.of(3, PREVOTE);
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 50; i++) {
      c.tickAll();
      c.stabilize();
    }
    c.heal();
    for (let i = 0; i < 50; i++) {
      c.tickAll();
      c.stabilize();
    }
    expect(c.raft(1).role).toBe('leader');
    expect(c.raft(1).term).toBe(1);
    expect(c.raft(3)).toMatchObject({ role: 'follower', lead: 1, term: 1 });
  });

  test('§9.6: a pre-candidate whose log is behind is refused, and nobody changes term', () => {
    const c = clusterWithLogs([[1], [1, 1], [1, 1]], PREVOTE, 1);
    c.campaign(1);
    c.stabilize();
    for (const n of [1, 2, 3]) expect(c.raft(n).term).toBe(1);
    expect(c.raft(1).role).toBe('follower');
  });

  test('§9.6: a pre-vote is answered in the proposed term without the voter adopting it or voting', () => {
    const c = Cluster.of(3, PREVOTE);
    const r = c.raft(2);
    r.step({
      type: 'PreVote',
      from: id(1),
      to: id(2),
      term: tm(1),
      lastLogIndex: idx(0),
      lastLogTerm: tm(0),
      transfer: false,
    });
    expect(r.msgs[0]).toMatchObject({ type: 'PreVoteResp', term: 1, reject: false });
    expect(r.term).toBe(0);
    expect(r.vote).toBe(0);
  });
});

describe('thesis §6.2 CheckQuorum', () => {
  const CQ: NodeOptions = { ...PAPER, checkQuorum: true };

  test('§6.2: a leader that has not heard from a majority within an election timeout steps down', () => {
    const c = Cluster.of(3, CQ);
    c.elect(1);
    c.isolate(1);
    for (let i = 0; i < 10; i++) {
      c.tick(1);
      c.stabilize();
    }
    // The first round may still count answers from before the partition; the second cannot.
    for (let i = 0; i < 10; i++) {
      c.tick(1);
      c.stabilize();
    }
    expect(c.raft(1).role).toBe('follower');
    expect(c.raft(1).lead).toBe(0);
  });

  test('§4.2.3: a follower that heard from its leader within the election timeout ignores a vote request', () => {
    const c = Cluster.of(3, CQ);
    c.elect(1);
    const r = c.raft(2);
    r.step({
      type: 'Vote',
      from: id(3),
      to: id(2),
      term: tm(5),
      lastLogIndex: idx(9),
      lastLogTerm: tm(4),
      transfer: false,
    });
    expect(r.msgs).toEqual([]);
    expect(r.term).toBe(1);
  });

  test('§3.10 + §4.2.3: a vote that follows a TimeoutNow is honoured despite the lease', () => {
    const c = Cluster.of(3, CQ);
    c.elect(1);
    const r = c.raft(2);
    const last = r.raftLog.lastIndex();
    r.step({
      type: 'Vote',
      from: id(3),
      to: id(2),
      term: tm(2),
      lastLogIndex: last,
      lastLogTerm: r.raftLog.lastTerm(),
      transfer: true,
    });
    expect(r.msgs[0]).toMatchObject({ type: 'VoteResp', reject: false });
    expect(r.term).toBe(2);
  });
});

describe('membership: only voters campaign', () => {
  test('a learner never campaigns, however long it waits', () => {
    const c = new Cluster([id(1), id(2), id(3)], PAPER, new Map(), [id(4)]);
    c.tick(4, 1000);
    expect(c.raft(4).role).toBe('follower');
    expect(c.raft(4).msgs).toEqual([]);
    c.get(4).node.campaign();
    expect(c.raft(4).role).toBe('follower');
  });

  test('a learner receives the log but does not count towards commit', () => {
    const c = new Cluster([id(1), id(2), id(3)], PAPER, new Map(), [id(4)]);
    c.elect(1);
    c.isolate(2);
    c.isolate(3);
    c.propose(1, 'x');
    c.stabilize();
    expect(c.raft(4).raftLog.lastIndex()).toBe(2);
    expect(c.raft(1).raftLog.committed).toBe(1);
  });

  test('a node outside the configuration never campaigns', () => {
    const storage = new MemoryStorage({ voters: [id(1), id(2), id(3)], learners: [] });
    const c = new Cluster([id(1), id(2), id(3)], PAPER);
    const outsider = new Cluster([id(7)], PAPER, new Map([[id(7), storage]]));
    outsider.tick(7, 1000);
    expect(outsider.raft(7).role).toBe('follower');
    expect(c.raft(1).role).toBe('follower');
  });
});

describe('proposals', () => {
  test('a proposal with no leader known is refused with PROPOSAL_DROPPED', () => {
    const c = Cluster.of(3, PAPER);
    let error: unknown;
    try {
      c.propose(1, 'x');
    } catch (e) {
      error = e;
    }
    expect(isRaftError(error, 'PROPOSAL_DROPPED')).toBe(true);
  });

  test('a follower forwards a proposal to the leader', () => {
    const c = Cluster.of(3, PAPER);
    c.elect(1);
    c.propose(3, 'via follower');
    c.stabilize();
    expect(c.appliedData(1)).toEqual(['via follower']);
  });

  test('the leader refuses proposals beyond maxUncommittedEntriesBytes', () => {
    const c = Cluster.of(3, { ...PAPER, maxUncommittedEntriesBytes: 10 });
    c.elect(1);
    c.isolate(1);
    c.propose(1, 'aaaaaaaa'); // 8 bytes
    expect(() => c.propose(1, 'bbbb')).toThrow(expect.objectContaining({ code: 'PROPOSAL_DROPPED' }));
    c.heal();
    c.tick(1);
    c.stabilize();
    c.propose(1, 'bbbb'); // committed: room again
  });
});
