import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { coalesceAppends } from '../../src/driver/coalesce.js';
import { createRandom } from '../../src/random.js';
import { RawNode } from '../../src/raw-node.js';
import { MemoryStorage } from '../../src/storage.js';
import type { AppendRequest, Entry, LogIndex, Message, NodeId, Term } from '../../src/types.js';

const n = (x: number) => x as NodeId;
const t = (x: number) => x as Term;
const i = (x: number) => x as LogIndex;

/** The leader's log in these tests: entry k has term termOf(k), and its data names it. */
function entry(index: number, term: number): Entry {
  return { term: t(term), index: i(index), type: 'normal', data: new TextEncoder().encode(`e${index}t${term}`) };
}

function app(prev: number, prevTerm: number, entries: Entry[], commit: number, term = 5): AppendRequest {
  return {
    type: 'App',
    from: n(1),
    to: n(2),
    term: t(term),
    prevLogIndex: i(prev),
    prevLogTerm: t(prevTerm),
    entries,
    commit: i(commit),
  };
}

const heartbeat: Message = { type: 'Heartbeat', from: n(1), to: n(2), term: t(5), commit: i(1), context: null };

const indexes = (m: Message) => (m.type === 'App' ? m.entries.map((e) => e.index) : []);

describe('coalesceAppends', () => {
  it('merges appends that continue one another into one, with the first prev and the last commit', () => {
    const out = coalesceAppends(
      [
        app(3, 5, [entry(4, 5)], 2),
        app(4, 5, [entry(5, 5), entry(6, 5)], 3),
        app(6, 5, [], 4),
        app(6, 5, [entry(7, 5)], 4),
      ],
      100,
    );
    expect(out).toEqual([app(3, 5, [entry(4, 5), entry(5, 5), entry(6, 5), entry(7, 5)], 4)]);
  });

  it('keeps a lone append as the same object', () => {
    const only = app(3, 5, [entry(4, 5)], 2);
    const out = coalesceAppends([only], 100);
    expect(out[0]).toBe(only);
  });

  it('never merges across another message, a term change, a resend, a smaller commit or another peer', () => {
    const cases: Message[][] = [
      [app(3, 5, [entry(4, 5)], 2), heartbeat, app(4, 5, [entry(5, 5)], 2)],
      [app(3, 4, [entry(4, 4)], 2, 4), app(4, 4, [entry(5, 5)], 2, 5)],
      // The leader backtracked after a rejection and sends from an earlier index.
      [app(3, 5, [entry(4, 5), entry(5, 5)], 2), app(4, 5, [entry(5, 5)], 2)],
      // Same index, another term: not the entry the first append ended with.
      [app(3, 5, [entry(4, 4)], 2), app(4, 5, [entry(5, 5)], 2)],
      [app(3, 5, [entry(4, 5)], 3), app(4, 5, [entry(5, 5)], 2)],
      [app(3, 5, [entry(4, 5)], 2), { ...app(4, 5, [entry(5, 5)], 2), to: n(3) }],
    ];
    for (const messages of cases) expect(coalesceAppends(messages, 100)).toEqual(messages);
  });

  it('bounds the entries of a merged append, and keeps a larger single append whole', () => {
    const chain = Array.from({ length: 10 }, (_, k) => app(k, k === 0 ? 0 : 5, [entry(k + 1, 5)], 0));
    const out = coalesceAppends(chain, 4);
    expect(out.map(indexes)).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10],
    ]);
    const big = app(0, 0, [entry(1, 5), entry(2, 5), entry(3, 5)], 0);
    expect(coalesceAppends([big, app(3, 5, [entry(4, 5)], 0)], 2).map(indexes)).toEqual([[1, 2, 3], [4]]);
  });

  // The oracle: a real follower (the core) fed the appends as they were sent, and another fed them
  // merged, end in the same log and commit index and acknowledge the same last index.
  it('a follower fed the merged appends ends in the same state as one fed them one by one', () => {
    const scenario = fc
      .record({
        leaderTerms: fc.array(fc.boolean(), { maxLength: 40 }),
        newEntries: fc.integer({ min: 1, max: 10 }),
        followerKeeps: fc.nat(),
        divergent: fc.integer({ min: 0, max: 6 }),
        steps: fc.array(
          fc.record({
            resend: fc.boolean(),
            back: fc.nat(),
            length: fc.integer({ min: 0, max: 6 }),
            commitStep: fc.integer({ min: 0, max: 3 }),
            heartbeat: fc.boolean(),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        entriesMax: fc.integer({ min: 1, max: 20 }),
      })
      .map((s) => {
        // The leader's log: entries of terms 2 and 4 (never decreasing), then its own term 5.
        let term = 2;
        const leaderLog = s.leaderTerms.map((bump, k) => {
          if (bump) term = 4;
          return entry(k + 1, term);
        });
        for (let k = 0; k < s.newEntries; k++) leaderLog.push(entry(leaderLog.length + 1, 5));
        const keep = s.followerKeeps % (leaderLog.length + 1);
        // The follower holds a prefix of the leader's log, and maybe a tail written under another
        // leader of an odd term that the leader's log never had.
        const followerLog = leaderLog.slice(0, keep);
        const lastTerm = keep === 0 ? 0 : (followerLog[keep - 1] as Entry).term;
        if (lastTerm < 4) {
          for (let k = 1; k <= s.divergent; k++) followerLog.push(entry(keep + k, lastTerm + 1));
        }
        const termAt = (k: number) => (k === 0 ? 0 : (leaderLog[k - 1] as Entry).term);
        // Appends as the leader sends them: continuations of what it sent, resends from a point
        // the follower already holds (never below the commit index), heartbeats in between; the
        // commit index never falls and never passes what was sent.
        const messages: Message[] = [];
        let sentEnd = keep;
        let commit = 0;
        for (const step of s.steps) {
          const prev = step.resend ? sentEnd - (step.back % (sentEnd - commit + 1)) : sentEnd;
          const last = Math.min(leaderLog.length, prev + step.length);
          sentEnd = Math.max(sentEnd, last);
          commit = Math.min(sentEnd, commit + step.commitStep);
          messages.push(app(prev, termAt(prev), leaderLog.slice(prev, last), commit));
          if (step.heartbeat) messages.push({ ...heartbeat, commit: i(commit) });
        }
        return { followerLog, messages, entriesMax: s.entriesMax };
      });

    fc.assert(
      fc.property(scenario, ({ followerLog, messages, entriesMax }) => {
        const merged = coalesceAppends(messages, entriesMax);
        expect(merged.filter((m) => m.type !== 'App')).toEqual(messages.filter((m) => m.type !== 'App'));
        expect(merged.flatMap(indexes)).toEqual(messages.flatMap(indexes));
        const one = follower(followerLog);
        const other = follower(followerLog);
        for (const m of messages) one.step(m);
        for (const m of merged) other.step(m);
        expect(one.rejections).toBe(0);
        expect(other.rejections).toBe(0);
        expect(other.log()).toEqual(one.log());
        expect(other.commit()).toBe(one.commit());
        expect(other.lastAck).toBe(one.lastAck);
      }),
      { numRuns: 300 },
    );
  });
});

/** A follower (node 2 of 1–3) in term 5 whose durable log is `log`, handling every Ready as the contract says. */
function follower(log: Entry[]) {
  const storage = new MemoryStorage({ voters: [n(1), n(2), n(3)], learners: [] });
  storage.append(log);
  storage.setHardState({ term: t(5), vote: 0, commit: i(0) });
  const node = new RawNode({ id: n(2), storage, random: createRandom(7) });
  let rejections = 0;
  let lastAck = 0;
  return {
    step(message: Message) {
      node.step(message);
      while (node.hasReady()) {
        const ready = node.ready();
        if (ready.entries.length > 0) storage.append(ready.entries);
        if (ready.hardState !== undefined) storage.setHardState(ready.hardState);
        for (const m of ready.messages) {
          if (m.type !== 'AppResp') continue;
          if (m.reject) rejections++;
          else lastAck = Math.max(lastAck, m.index);
        }
        node.advance(ready);
      }
    },
    log: () => storage.entries(i(1), i(storage.lastIndex() + 1), Number.POSITIVE_INFINITY),
    commit: () => node.status().commit,
    get rejections() {
      return rejections;
    },
    get lastAck() {
      return lastAck;
    },
  };
}
