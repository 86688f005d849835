import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AssignorMember, assignPartitions, type TargetAssignment } from '../../src/groups/assignor.js';

// The assignor against its three promises (complete, balanced, sticky), on hand-made cases and on
// random sequences of membership and topic changes, each checked by brute force.

function member(memberId: string, topics: string[], previous: TargetAssignment | Record<string, number[]> = {}) {
  const before =
    previous instanceof Map
      ? (previous.get(memberId) ?? new Map<string, number[]>())
      : new Map(Object.entries(previous));
  return { memberId, topics: new Set(topics), previous: before };
}

/** Member id → number of partitions. */
function loads(target: TargetAssignment): Map<string, number> {
  return new Map(
    [...target].map(([id, byTopic]) => [id, [...byTopic.values()].reduce((n, list) => n + list.length, 0)]),
  );
}

/** Partition key → owner. */
function owners(target: TargetAssignment): Map<string, string> {
  const result = new Map<string, string>();
  for (const [memberId, byTopic] of target)
    for (const [topicId, partitions] of byTopic)
      for (const partition of partitions) {
        const key = `${topicId}/${partition}`;
        expect(result.has(key), `${key} has two owners`).toBe(false);
        result.set(key, memberId);
      }
  return result;
}

/** Every subscribed partition of an existing topic has exactly one owner, a subscriber; nothing else is owned. */
function expectComplete(
  members: readonly AssignorMember[],
  topics: ReadonlyMap<string, number>,
  target: TargetAssignment,
) {
  const owned = owners(target);
  const expected = new Set<string>();
  for (const [topicId, count] of topics)
    if (members.some((m) => m.topics.has(topicId))) for (let p = 0; p < count; p++) expected.add(`${topicId}/${p}`);
  expect(new Set(owned.keys())).toEqual(expected);
  for (const [key, memberId] of owned) {
    const topicId = key.slice(0, key.lastIndexOf('/'));
    expect(members.find((m) => m.memberId === memberId)?.topics.has(topicId), `${key} owned by ${memberId}`).toBe(true);
  }
  expect(new Set(target.keys())).toEqual(new Set(members.map((m) => m.memberId)));
}

/**
 * No chain of moves (each partition to a member subscribed to its topic) takes one partition from a
 * member to another at least two lighter. Brute force: the reachability closure over members.
 */
function expectBalanced(members: readonly AssignorMember[], target: TargetAssignment) {
  const load = loads(target);
  const byId = new Map(members.map((m) => [m.memberId, m]));
  for (const start of target.keys()) {
    const reached = new Set([start]);
    let frontier = [start];
    while (frontier.length > 0) {
      const next: string[] = [];
      for (const from of frontier)
        for (const topicId of target.get(from)?.keys() ?? [])
          for (const to of byId.keys())
            if (!reached.has(to) && byId.get(to)?.topics.has(topicId)) {
              reached.add(to);
              next.push(to);
            }
      frontier = next;
    }
    for (const to of reached)
      expect(
        (load.get(start) ?? 0) - (load.get(to) ?? 0),
        `a chain from ${start} (${load.get(start)}) to ${to} (${load.get(to)}) would balance`,
      ).toBeLessThan(2);
  }
}

describe('the assignor', () => {
  it('spreads one topic evenly, members in id order taking the remainder', () => {
    const members = ['c', 'a', 'b'].map((id) => member(id, ['t']));
    const target = assignPartitions(members, new Map([['t', 7]]));
    expect([...loads(target).values()].sort()).toEqual([2, 2, 3]);
    expectComplete(members, new Map([['t', 7]]), target);
  });

  it('a member joining takes its share from the others, and nothing else moves', () => {
    const topics = new Map([['t', 12]]);
    const three = ['a', 'b', 'c'].map((id) => member(id, ['t']));
    const before = assignPartitions(three, topics);
    const four = [...['a', 'b', 'c'].map((id) => member(id, ['t'], before)), member('d', ['t'])];
    const after = assignPartitions(four, topics);
    expect(loads(after)).toEqual(
      new Map([
        ['a', 3],
        ['b', 3],
        ['c', 3],
        ['d', 3],
      ]),
    );
    for (const id of ['a', 'b', 'c']) {
      const kept = after.get(id)?.get('t') ?? [];
      expect(kept.every((p) => before.get(id)?.get('t')?.includes(p))).toBe(true);
    }
  });

  it('a member leaving: only its partitions move, spread over the others', () => {
    const topics = new Map([['t', 12]]);
    const before = assignPartitions(
      ['a', 'b', 'c', 'd'].map((id) => member(id, ['t'])),
      topics,
    );
    const after = assignPartitions(
      ['a', 'b', 'c'].map((id) => member(id, ['t'], before)),
      topics,
    );
    expect(loads(after)).toEqual(
      new Map([
        ['a', 4],
        ['b', 4],
        ['c', 4],
      ]),
    );
    for (const id of ['a', 'b', 'c'])
      expect(
        before
          .get(id)
          ?.get('t')
          ?.every((p) => after.get(id)?.get('t')?.includes(p)),
      ).toBe(true);
  });

  it('balances along a chain where no single move can', () => {
    // a holds x-0..2 (only a and b take x), b holds y-0 and y-1 (only b and c take y), c holds z-0
    // (only c takes z): loads 3, 2, 1. No single move helps (a→b and b→c differ by one; a→c is not
    // allowed); moving x-2 to b and y-1 to c gives 2, 2, 2.
    const topics = new Map([
      ['x', 3],
      ['y', 2],
      ['z', 1],
    ]);
    const members = [
      member('a', ['x'], { x: [0, 1, 2] }),
      member('b', ['x', 'y'], { y: [0, 1] }),
      member('c', ['y', 'z'], { z: [0] }),
    ];
    const target = assignPartitions(members, topics);
    expect(loads(target)).toEqual(
      new Map([
        ['a', 2],
        ['b', 2],
        ['c', 2],
      ]),
    );
    expectComplete(members, topics, target);
    expectBalanced(members, target);
  });

  it('drops partitions of deleted topics, of topics no longer subscribed, and beyond the partition count', () => {
    const members = [member('a', ['t'], { t: [0, 1, 5], gone: [0] }), member('b', ['t', 'u'], { u: [0] })];
    const topics = new Map([
      ['t', 4],
      ['u', 1],
    ]);
    const target = assignPartitions(members, topics);
    expectComplete(members, topics, target);
    expect(target.get('a')?.get('t')).toEqual([0, 1, 3]); // kept 0 and 1; 2 to b (lighter), 3 to a on a tie
    expect(target.get('a')?.has('gone')).toBe(false);
    expect(target.get('b')?.get('u')).toEqual([0]);
  });

  it("gives nothing to a member whose topics do not exist, and owns nobody's partitions twice", () => {
    const members = [
      member('a', ['missing'], { t: [0] }),
      member('b', ['t'], { t: [0] }),
      member('c', ['t'], { t: [0] }),
    ];
    const target = assignPartitions(members, new Map([['t', 2]]));
    expect(target.get('a')).toEqual(new Map());
    expect(target.get('b')?.get('t')).toEqual([0]); // the first claimant by id keeps it
    expect(target.get('c')?.get('t')).toEqual([1]);
  });

  it('does not depend on the order of its input', () => {
    fc.assert(
      fc.property(
        scenario().chain(({ members, topics }) =>
          fc
            .shuffledSubarray(members, { minLength: members.length, maxLength: members.length })
            .map((shuffled) => ({ members, topics, shuffled })),
        ),
        ({ members, topics, shuffled }) => {
          expect(assignPartitions(shuffled, topics)).toEqual(assignPartitions(members, topics));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('random membership and topic changes: always complete and balanced; same subscriptions differ by at most one and move only what balance needs', () => {
    fc.assert(
      fc.property(fc.array(change(), { minLength: 1, maxLength: 40 }), (changes) => {
        let subscriptions = new Map<string, string[]>();
        const topics = new Map<string, number>([['t0', 6]]);
        let target: TargetAssignment = new Map();
        for (const step of changes) {
          subscriptions = new Map(subscriptions);
          if (step.kind === 'join') subscriptions.set(step.memberId, step.topics);
          else if (step.kind === 'leave') subscriptions.delete(step.memberId);
          else topics.set(step.topicId, Math.max(topics.get(step.topicId) ?? 0, step.partitions));
          const members = [...subscriptions].map(([id, list]) => member(id, list, target));
          const next = assignPartitions(members, topics);
          expectComplete(members, topics, next);
          expectBalanced(members, next);
          const sameSubscriptions =
            new Set([...subscriptions.values()].map((list) => [...list].sort().join())).size <= 1;
          if (sameSubscriptions && members.length > 0) {
            const counts = [...loads(next).values()];
            expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
            // Stickiness: with one subscription for all, a partition whose owner stays moves only
            // to a member below the average, and no member both gives and takes.
            const before = owners(target);
            const after = owners(next);
            const gave = new Set<string>();
            const took = new Set<string>();
            for (const [key, owner] of after) {
              const previous = before.get(key);
              if (previous !== undefined && previous !== owner && subscriptions.has(previous)) {
                gave.add(previous);
                took.add(owner);
              }
            }
            for (const id of gave) expect(took.has(id), `${id} both gave and took`).toBe(false);
          }
          target = next;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('settles 100 partitions over 10 members, and 10,000 over 100, at once', () => {
    for (const [memberCount, partitions] of [
      [10, 100],
      [100, 10_000],
    ] as const) {
      const members = Array.from({ length: memberCount }, (_, i) => member(`m${String(i).padStart(3, '0')}`, ['t']));
      const topics = new Map([['t', partitions]]);
      const target = assignPartitions(members, topics);
      expectComplete(members, topics, target);
      const counts = [...loads(target).values()];
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      const joined = [...members.map((m) => member(m.memberId, ['t'], target)), member('new', ['t'])];
      const after = assignPartitions(joined, topics);
      expect(loads(after).get('new')).toBe(Math.floor(partitions / (memberCount + 1)));
    }
  });
});

type Change =
  | { kind: 'join'; memberId: string; topics: string[] }
  | { kind: 'leave'; memberId: string }
  | { kind: 'topic'; topicId: string; partitions: number };

function change(): fc.Arbitrary<Change> {
  const memberId = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
  const topicId = fc.constantFrom('t0', 't1', 't2');
  return fc.oneof(
    fc.record({
      kind: fc.constant('join' as const),
      memberId,
      topics: fc.uniqueArray(topicId, { minLength: 1, maxLength: 3 }),
    }),
    fc.record({ kind: fc.constant('leave' as const), memberId }),
    fc.record({ kind: fc.constant('topic' as const), topicId, partitions: fc.integer({ min: 1, max: 12 }) }),
  );
}

function scenario() {
  return fc
    .record({
      ids: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 1, maxLength: 5 }),
      counts: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 3, maxLength: 3 }),
      subscriptions: fc.array(fc.uniqueArray(fc.constantFrom('t0', 't1', 't2'), { maxLength: 3 }), {
        minLength: 5,
        maxLength: 5,
      }),
    })
    .map(({ ids, counts, subscriptions }) => ({
      members: ids.map((id, i) => member(id, subscriptions[i] ?? [])),
      topics: new Map(counts.map((count, i) => [`t${i}`, count])),
    }));
}
