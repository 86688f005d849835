import { isMillraceError } from '@millrace/protocol';
import { createRandom } from '@millrace/raft';
import { describe, expect, it } from 'vitest';
import {
  type GroupSettings,
  GroupStore,
  type HeartbeatResponse,
  type TopicsView,
} from '../../src/groups/group-store.js';
import { fromJson, keysOf, type TopicPartitionsJson } from '../../src/groups/partitions.js';
import { decodeGroupRecord, encodeGroupRecord, type GroupRecord } from '../../src/groups/records.js';

const SETTINGS: GroupSettings = { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, maxSize: 8 };

function topicsOf(counts: Record<string, number>): TopicsView & { counts: Record<string, number> } {
  return {
    counts,
    topic: (name) => (counts[name] === undefined ? undefined : { topicId: `id-${name}`, partitions: counts[name] }),
  };
}

/** `topic-id:partition` strings, for readable expectations. */
function flat(assignment: readonly TopicPartitionsJson[]): string[] {
  return assignment.flatMap(({ topicId, partitions }) => partitions.map((p) => `${topicId.slice(3)}-${p}`));
}

/** The records written, through their stored bytes (as a load reads them back). */
function throughLog(records: readonly GroupRecord[]): GroupRecord[] {
  return records.map((record) => {
    const { key, value } = encodeGroupRecord(record);
    return decodeGroupRecord(key, value);
  });
}

describe('the group store', () => {
  it('a first member joins and gets every partition at once, at a new epoch', () => {
    const store = new GroupStore(SETTINGS);
    const topics = topicsOf({ orders: 3 });
    const { response, records } = store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopicNames: ['orders'] },
      0,
      topics,
    );
    expect(response.memberEpoch).toBe(1);
    expect(flat(response.assignment)).toEqual(['orders-0', 'orders-1', 'orders-2']);
    expect(records.map((r) => r.type)).toEqual(['member', 'group', 'target', 'target-epoch', 'current']);
    expect(store.describe('g')?.state).toBe('stable');
  });

  it('a second member: the first revokes before the second gets anything of it', () => {
    const store = new GroupStore(SETTINGS);
    const topics = topicsOf({ orders: 4 });
    const a = store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopicNames: ['orders'] },
      0,
      topics,
    );
    const b = store.heartbeat(
      { groupId: 'g', memberId: 'b', memberEpoch: 0, subscribedTopicNames: ['orders'] },
      1,
      topics,
    );
    // b's share is still a's: b is at the new epoch with nothing, waiting for it.
    expect(b.response.memberEpoch).toBe(2);
    expect(b.response.assignment).toEqual([]);
    expect(store.describe('g')?.members.find((m) => m.memberId === 'b')?.state).toBe('unreleased-partitions');

    // a's next heartbeat tells it to keep two; it keeps epoch 1 until it confirms.
    const told = store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 1, ownedPartitions: a.response.assignment },
      2,
      topics,
    );
    expect(told.response.memberEpoch).toBe(1);
    expect(flat(told.response.assignment)).toEqual(['orders-0', 'orders-1']);
    // b asks again meanwhile: still nothing, a has not confirmed.
    const early = store.heartbeat({ groupId: 'g', memberId: 'b', memberEpoch: 2, ownedPartitions: [] }, 3, topics);
    expect(early.response.assignment).toEqual([]);

    const confirmed = store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 1, ownedPartitions: told.response.assignment },
      4,
      topics,
    );
    expect(confirmed.response.memberEpoch).toBe(2);
    const now = store.heartbeat({ groupId: 'g', memberId: 'b', memberEpoch: 2, ownedPartitions: [] }, 5, topics);
    expect(flat(now.response.assignment)).toEqual(['orders-2', 'orders-3']);
    expect(store.describe('g')?.state).toBe('stable');
  });

  it('tells a held heartbeat apart: news for its member wakes it, as soon as any partition it waits for is free', () => {
    const store = new GroupStore(SETTINGS);
    const topics = topicsOf({ t: 6 });
    const beat = (memberId: string, told: HeartbeatResponse, at: number) =>
      store.heartbeat(
        { groupId: 'g', memberId, memberEpoch: told.memberEpoch, ownedPartitions: told.assignment },
        at,
        topics,
      ).response;
    const join = (memberId: string, at: number) =>
      store.heartbeat({ groupId: 'g', memberId, memberEpoch: 0, subscribedTopicNames: ['t'] }, at, topics).response;
    // a and b settle on three partitions each.
    let a = join('a', 0);
    let b = join('b', 1);
    a = beat('a', beat('a', a, 2), 3);
    b = beat('b', b, 4);
    expect([flat(a.assignment).length, flat(b.assignment).length]).toEqual([3, 3]);
    expect(store.wouldChange('g', 'a', a, topics)).toBe(false);
    // c joins: it waits for one partition of a's and one of b's.
    const c = join('c', 5);
    expect(flat(c.assignment)).toEqual([]);
    expect(store.wouldChange('g', 'c', c, topics)).toBe(false);
    expect(store.wouldChange('g', 'a', a, topics)).toBe(true); // a must give one up
    // a gives its one up (told, then confirms); b has not yet: c wakes for the partition that is free.
    beat('a', beat('a', a, 6), 7);
    expect(store.wouldChange('g', 'c', c, topics)).toBe(true);
    const some = beat('c', c, 8);
    expect(flat(some.assignment)).toHaveLength(1);
    expect(store.wouldChange('g', 'c', some, topics)).toBe(false); // the other is still b's
    expect(store.wouldChange('g', 'nobody', some, topics)).toBe(true);
  });

  it('a member that lost an answer is taken back at its previous epoch; any other epoch is fenced', () => {
    const store = new GroupStore(SETTINGS);
    const topics = topicsOf({ t: 2 });
    store.heartbeat({ groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopicNames: ['t'] }, 0, topics);
    store.heartbeat({ groupId: 'g', memberId: 'b', memberEpoch: 0, subscribedTopicNames: ['t'] }, 0, topics);
    const revoke = store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 1, ownedPartitions: [{ topicId: 'id-t', partitions: [0, 1] }] },
      0,
      topics,
    );
    const bumped = store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 1, ownedPartitions: revoke.response.assignment },
      0,
      topics,
    );
    expect(bumped.response.memberEpoch).toBe(2);
    // The answer with epoch 2 was lost: a sends epoch 1 again, owning no more than it was given.
    const again = store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 1, ownedPartitions: revoke.response.assignment },
      0,
      topics,
    );
    expect(again.response.memberEpoch).toBe(2);
    for (const memberEpoch of [3, 0 + 7]) {
      expect(() =>
        store.heartbeat({ groupId: 'g', memberId: 'a', memberEpoch, ownedPartitions: [] }, 0, topics),
      ).toThrowError(expect.objectContaining({ code: 'FENCED_MEMBER_EPOCH' }));
    }
    expect(() => store.heartbeat({ groupId: 'g', memberId: 'z', memberEpoch: 4 }, 0, topics)).toThrowError(
      expect.objectContaining({ code: 'UNKNOWN_MEMBER_ID' }),
    );
  });

  it('a join needs a subscription, and a full group refuses a new member', () => {
    const store = new GroupStore({ ...SETTINGS, maxSize: 1 });
    const topics = topicsOf({ t: 1 });
    expect(() => store.heartbeat({ groupId: 'g', memberId: 'a', memberEpoch: 0 }, 0, topics)).toThrowError(
      expect.objectContaining({ code: 'INVALID_REQUEST' }),
    );
    store.heartbeat({ groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopicNames: ['t'] }, 0, topics);
    expect(() =>
      store.heartbeat({ groupId: 'g', memberId: 'b', memberEpoch: 0, subscribedTopicNames: ['t'] }, 0, topics),
    ).toThrowError(expect.objectContaining({ code: 'GROUP_MAX_SIZE_REACHED' }));
  });

  it('a silent member is removed after the session timeout and its partitions go to the others', () => {
    const store = new GroupStore(SETTINGS);
    const topics = topicsOf({ t: 2 });
    store.heartbeat({ groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopicNames: ['t'] }, 0, topics);
    const b = store.heartbeat({ groupId: 'g', memberId: 'b', memberEpoch: 0, subscribedTopicNames: ['t'] }, 0, topics);
    expect(store.expire(SETTINGS.sessionTimeoutMs, topics)).toEqual([]);
    store.heartbeat(
      { groupId: 'g', memberId: 'b', memberEpoch: b.response.memberEpoch, ownedPartitions: [] },
      9_000,
      topics,
    );
    const removed = store.expire(SETTINGS.sessionTimeoutMs + 1, topics);
    expect(removed.map((r) => `${r.type}:${'memberId' in r ? r.memberId : ''}`)).toEqual([
      'current:a',
      'target:a',
      'member:a',
      'group:',
    ]);
    const after = store.heartbeat(
      { groupId: 'g', memberId: 'b', memberEpoch: b.response.memberEpoch, ownedPartitions: [] },
      10_002,
      topics,
    );
    expect(flat(after.response.assignment)).toEqual(['t-0', 't-1']);
  });

  it('a member that does not confirm a revocation within its rebalance timeout is removed', () => {
    const store = new GroupStore(SETTINGS);
    const topics = topicsOf({ t: 2 });
    const a = store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopicNames: ['t'], rebalanceTimeoutMs: 500 },
      0,
      topics,
    );
    store.heartbeat({ groupId: 'g', memberId: 'b', memberEpoch: 0, subscribedTopicNames: ['t'] }, 0, topics);
    store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 1, ownedPartitions: a.response.assignment },
      100,
      topics,
    );
    expect(store.expire(600, topics)).toEqual([]);
    // Still owning what it must give up at 601: it is out.
    store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 1, ownedPartitions: a.response.assignment },
      601,
      topics,
    );
    expect(store.expire(602, topics).some((r) => r.type === 'member' && r.memberId === 'a')).toBe(true);
  });

  it('new partitions and a newly created subscribed topic start a new epoch and are assigned', () => {
    const store = new GroupStore(SETTINGS);
    const counts: Record<string, number> = { t: 1 };
    const topics = topicsOf(counts);
    const a = store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopicNames: ['t', 'later'] },
      0,
      topics,
    );
    counts.t = 2;
    counts.later = 1;
    const grown = store.heartbeat(
      { groupId: 'g', memberId: 'a', memberEpoch: a.response.memberEpoch, ownedPartitions: a.response.assignment },
      1,
      topics,
    );
    expect(grown.response.memberEpoch).toBe(a.response.memberEpoch + 1);
    expect(flat(grown.response.assignment)).toEqual(['later-0', 't-0', 't-1']);
  });

  it('commits are checked against the member epoch; a group without members takes commits from anyone', () => {
    const store = new GroupStore(SETTINGS);
    const topics = topicsOf({ t: 1 });
    const offsets = [{ topic: 't', partition: 0, offset: 42n }];
    expect(store.commitOffsets({ groupId: 'g', memberId: '', memberEpoch: -1, offsets }, 5)).toHaveLength(1);
    const a = store.heartbeat({ groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopicNames: ['t'] }, 6, topics);
    expect(() => store.commitOffsets({ groupId: 'g', memberId: '', memberEpoch: -1, offsets }, 7)).toThrowError(
      expect.objectContaining({ code: 'UNKNOWN_MEMBER_ID' }),
    );
    expect(() => store.commitOffsets({ groupId: 'g', memberId: 'a', memberEpoch: 0, offsets }, 7)).toThrowError(
      expect.objectContaining({ code: 'STALE_MEMBER_EPOCH' }),
    );
    expect(() => store.commitOffsets({ groupId: 'g', memberId: 'a', memberEpoch: 9, offsets }, 7)).toThrowError(
      expect.objectContaining({ code: 'FENCED_MEMBER_EPOCH' }),
    );
    expect(() =>
      store.commitOffsets(
        {
          groupId: 'g',
          memberId: 'a',
          memberEpoch: a.response.memberEpoch,
          offsets: [{ topic: 't', partition: 0, offset: 1n, metadata: 'x'.repeat(4097) }],
        },
        7,
      ),
    ).toThrowError(expect.objectContaining({ code: 'OFFSET_METADATA_TOO_LARGE' }));
    expect(store.fetchOffsets('g')).toEqual([
      { topic: 't', partition: 0, offset: 42n, leaderEpoch: -1, metadata: '', commitTimestampMs: 5 },
    ]);
    store.commitOffsets(
      {
        groupId: 'g',
        memberId: 'a',
        memberEpoch: a.response.memberEpoch,
        offsets: [{ topic: 't', partition: 0, offset: 43n, leaderEpoch: 3, metadata: 'm' }],
      },
      8,
    );
    expect(
      store.fetchOffsets('g', [
        { topic: 't', partition: 0 },
        { topic: 't', partition: 1 },
      ]),
    ).toEqual([{ topic: 't', partition: 0, offset: 43n, leaderEpoch: 3, metadata: 'm', commitTimestampMs: 8 }]);
  });

  it('deletes a group only once it is empty, offsets and all', () => {
    const store = new GroupStore(SETTINGS);
    const topics = topicsOf({ t: 1 });
    expect(() => store.deleteGroup('g', 0)).toThrowError(expect.objectContaining({ code: 'GROUP_ID_NOT_FOUND' }));
    const a = store.heartbeat({ groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopicNames: ['t'] }, 0, topics);
    store.commitOffsets(
      {
        groupId: 'g',
        memberId: 'a',
        memberEpoch: a.response.memberEpoch,
        offsets: [{ topic: 't', partition: 0, offset: 1n }],
      },
      0,
    );
    expect(() => store.deleteGroup('g', 0)).toThrowError(expect.objectContaining({ code: 'NON_EMPTY_GROUP' }));
    store.heartbeat({ groupId: 'g', memberId: 'a', memberEpoch: -1 }, 0, topics);
    expect(store.describe('g')?.state).toBe('empty');
    const records = store.deleteGroup('g', 0);
    expect(records.map((r) => r.type)).toEqual(['offset', 'target-epoch', 'group']);
    expect(store.describe('g')).toBeUndefined();
    expect(store.fetchOffsets('g')).toEqual([]);
  });

  it('a stored record that is not one the coordinator wrote is refused with the reason', () => {
    const bad: [string | null, string | null][] = [
      [null, '{}'],
      ['not json', null],
      ['{"type":"offset","groupId":"g","topic":"t","partition":-1}', null],
      ['{"type":"member","groupId":"g"}', null],
      ['{"type":"nonsense","groupId":"g"}', null],
      [
        '{"type":"offset","groupId":"g","topic":"t","partition":0}',
        '{"offset":"-1","leaderEpoch":0,"metadata":"","commitTimestampMs":0}',
      ],
      [
        '{"type":"offset","groupId":"g","topic":"t","partition":0}',
        '{"offset":"1","leaderEpoch":0,"metadata":"","commitTimestampMs":0,"extra":1}',
      ],
      [
        '{"type":"current","groupId":"g","memberId":"a"}',
        '{"memberEpoch":1,"previousMemberEpoch":0,"state":"dancing","assigned":[],"pendingRevocation":[]}',
      ],
      ['{"type":"group","groupId":"g","__proto__":{"x":1}}', null],
    ];
    for (const [key, value] of bad)
      expect(() =>
        decodeGroupRecord(key === null ? null : Buffer.from(key), value === null ? null : Buffer.from(value)),
      ).toThrow();
  });
});

/**
 * A seeded simulation of members and a coordinator that also fails over (its records replayed into a
 * new store), checking after every step:
 *
 * 1. No partition is owned by two members at once — as the members themselves believe, which is
 *    what matters: a member owns a partition from the answer that gives it until it revokes it.
 * 2. A reload from the records gives the same groups.
 * 3. Once faults stop and members heartbeat, every subscribed partition is owned, balanced.
 *
 * SEEDS=n and FIRST_SEED=k widen or move the run; a failure prints the seed that replays it.
 */
const SEEDS = Number(process.env.SEEDS ?? 300);
const FIRST_SEED = Number(process.env.FIRST_SEED ?? 1);
/** GROUP_SIM_TRACE=1 prints every step of the run (use with one seed). */
const trace = process.env.GROUP_SIM_TRACE === '1' ? (line: string) => console.log(line) : () => undefined;

interface SimMember {
  readonly memberId: string;
  epoch: number;
  /** What this member consumes now, as topic-id/partition keys. */
  owned: Set<string>;
  /** The last answer, whose revocations it has not yet carried out (it revokes on a later step). */
  pending: HeartbeatResponse | undefined;
  topics: string[];
  /** When the coordinator last answered it: past the session timeout, it drops everything (lost). */
  lastAnsweredMs: number;
  alive: boolean;
}

function simulate(seed: number): void {
  const random = createRandom(seed);
  const roll = () => random.nextUint32() / 0x1_0000_0000;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(roll() * items.length)] as T;
  const counts: Record<string, number> = { a: 3, b: 5 };
  const topics = topicsOf(counts);
  const log: GroupRecord[] = [];
  let store = new GroupStore(SETTINGS);
  const members = new Map<string, SimMember>();
  let now = 0;
  let nextId = 0;

  const write = (records: readonly GroupRecord[]) => log.push(...throughLog(records));
  const toJson = (keys: Set<string>): TopicPartitionsJson[] => {
    const byTopic = new Map<string, number[]>();
    for (const key of keys) {
      const [topicId, p] = key.split('/') as [string, string];
      byTopic.set(topicId, [...(byTopic.get(topicId) ?? []), Number(p)]);
    }
    return [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions }));
  };
  const keysOfAnswer = (assignment: readonly TopicPartitionsJson[]) =>
    new Set([...keysOf(fromJson(assignment))].map((key) => key.replace('\u0000', '/')));

  const heartbeat = (member: SimMember, memberEpoch = member.epoch) => {
    try {
      const { records, response } = store.heartbeat(
        {
          groupId: 'g',
          memberId: member.memberId,
          memberEpoch,
          ownedPartitions: toJson(member.owned),
          ...(memberEpoch === 0 ? { subscribedTopicNames: member.topics } : {}),
        },
        now,
        topics,
      );
      write(records);
      trace(
        `${now} ${member.memberId} hb(epoch ${memberEpoch}, owns ${[...member.owned].sort()}) -> epoch ${response.memberEpoch} [${[...keysOfAnswer(response.assignment)].sort()}] records ${records.map((r) => r.type)}`,
      );
      member.lastAnsweredMs = now;
      if (memberEpoch === -1) {
        member.owned.clear();
        member.alive = false;
        return;
      }
      member.epoch = response.memberEpoch;
      // New partitions are started at once; revocations are carried out now or on a later step.
      const given = keysOfAnswer(response.assignment);
      for (const key of given) member.owned.add(key);
      member.pending = [...member.owned].some((key) => !given.has(key)) ? response : undefined;
    } catch (error) {
      if (!isMillraceError(error)) throw error;
      trace(`${now} ${member.memberId} hb(epoch ${memberEpoch}) -> ${error.code}`);
      if (error.code === 'GROUP_MAX_SIZE_REACHED') {
        member.alive = false; // crashed members still count until they expire; this one gives up
        return;
      }
      // Fenced or unknown: it has lost its partitions and joins again.
      expect(['FENCED_MEMBER_EPOCH', 'UNKNOWN_MEMBER_ID']).toContain(error.code);
      member.owned.clear();
      member.pending = undefined;
      member.epoch = 0;
    }
  };

  const revoke = (member: SimMember) => {
    if (member.pending === undefined) return;
    const keep = keysOfAnswer(member.pending.assignment);
    member.owned = new Set([...member.owned].filter((key) => keep.has(key)));
    member.pending = undefined;
    trace(`${now} ${member.memberId} revoked, owns ${[...member.owned].sort()}`);
  };

  const checkOwnership = () => {
    const owner = new Map<string, string>();
    for (const member of members.values()) {
      if (!member.alive) continue;
      for (const key of member.owned) {
        const other = owner.get(key);
        if (other !== undefined) throw new Error(`${key} is owned by ${other} and ${member.memberId} at ${now} ms`);
        owner.set(key, member.memberId);
      }
    }
    // The store's own view never has two holders either.
    const held = new Map<string, string>();
    for (const m of store.describe('g')?.members ?? [])
      for (const key of [...keysOfAnswer(m.assigned), ...keysOfAnswer(m.pendingRevocation)]) {
        if (held.has(key)) throw new Error(`the store gives ${key} to ${held.get(key)} and ${m.memberId}`);
        held.set(key, m.memberId);
      }
  };

  for (let step = 0; step < 200; step++) {
    now += Math.floor(roll() * 800);
    const live = [...members.values()].filter((m) => m.alive);
    const r = roll();
    if (r < 0.1 && live.length < 6) {
      const member: SimMember = {
        memberId: `m${nextId++}`,
        epoch: 0,
        owned: new Set(),
        pending: undefined,
        topics: pick([['a'], ['b'], ['a', 'b']]),
        lastAnsweredMs: now,
        alive: true,
      };
      members.set(member.memberId, member);
      heartbeat(member);
    } else if (r < 0.15 && live.length > 0) {
      const member = pick(live);
      revoke(member);
      heartbeat(member, -1);
    } else if (r < 0.2 && live.length > 0) {
      // Crashes: never heard from again (its partitions stay "owned" in its dead head, which is harmless).
      const member = pick(live);
      member.alive = false;
      trace(`${now} ${member.memberId} crashed`);
    } else if (r < 0.25) {
      const name = pick(['a', 'b']);
      counts[name] = Math.min(12, (counts[name] ?? 0) + 1);
    } else if (r < 0.3) {
      // The coordinator fails over: a new one replays the log and starts every session afresh.
      store = new GroupStore(SETTINGS);
      for (const record of log) store.replay(record, now);
      store.startSessions(now);
      trace(`${now} coordinator failover`);
    } else if (r < 0.4) {
      const expired = store.expire(now, topics);
      trace(
        `${now} expire: ${expired.filter((r) => r.type === 'member').map((r) => ('memberId' in r ? r.memberId : ''))}`,
      );
      write(expired);
    } else if (live.length > 0) {
      const member = pick(live);
      if (roll() < 0.6) revoke(member);
      heartbeat(member, member.epoch);
    }
    // A member that has not been answered for a session timeout knows it has lost its partitions.
    for (const member of members.values())
      if (member.alive && now - member.lastAnsweredMs >= SETTINGS.sessionTimeoutMs) {
        if (member.owned.size > 0) trace(`${now} ${member.memberId} lost its session, drops ${[...member.owned]}`);
        member.owned.clear();
        member.pending = undefined;
      }
    checkOwnership();
    const reloaded = new GroupStore(SETTINGS);
    for (const record of log) reloaded.replay(record, now);
    expect(reloaded.describe('g')).toEqual(store.describe('g'));
  }

  // Faults stop: the dead are expired, the living heartbeat and revoke promptly; the group settles.
  // (A whole session passes in silence: every member knows it has lost its partitions, and the
  // coordinator removes them all; the living join again.)
  now += SETTINGS.sessionTimeoutMs + 1;
  for (const member of members.values()) {
    member.owned.clear();
    member.pending = undefined;
  }
  write(store.expire(now, topics));
  for (let round = 0; round < 10; round++) {
    for (const member of members.values()) {
      if (!member.alive) continue;
      revoke(member);
      heartbeat(member, member.epoch);
      checkOwnership();
    }
    now += 10;
  }
  const live = [...members.values()].filter((m) => m.alive);
  const description = store.describe('g');
  if (live.length === 0) return;
  expect(description?.state).toBe('stable');
  const subscribed = new Set(live.flatMap((m) => m.topics));
  const expected = [...subscribed].flatMap((name) =>
    Array.from({ length: counts[name] ?? 0 }, (_, p) => `id-${name}/${p}`),
  );
  const owned = live.flatMap((m) => [...m.owned]);
  expect(owned.sort()).toEqual(expected.sort());
}

describe('the group store, simulated', () => {
  it(
    `never gives a partition to two members, survives coordinator failover, and settles, over ${SEEDS} seeds`,
    () => {
      for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
        try {
          simulate(seed);
        } catch (error) {
          throw new Error(
            `SEED=${seed} failed; replay with: SEEDS=1 FIRST_SEED=${seed} pnpm --filter @millrace/broker test group-store\n${String(error)}`,
          );
        }
      }
    },
    20_000 + SEEDS * 100,
  );
});
