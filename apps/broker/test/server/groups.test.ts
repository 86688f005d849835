import { requestJson } from '@millrace/http';
import {
  DescribeGroupResponseSchema,
  FindCoordinatorResponseSchema,
  GroupHeartbeatResponseSchema,
  isMillraceError,
  ListGroupsResponseSchema,
  OffsetCommitResponseSchema,
  OffsetFetchResponseSchema,
  Routes,
} from '@millrace/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { groupPartition } from '../../src/groups/coordinator.js';
import { type BrokerCluster, startCluster, waitFor } from '../cluster/brokers.js';

// Consumer groups between three in-process brokers and a controller, over the real wire: the
// coordinator lookup creates __consumer_offsets, heartbeats rebalance a group by long polls,
// offsets commit and fetch, and the coordinator's failover keeps members, epochs and offsets.

let cluster: BrokerCluster;
let topicId: string;

beforeAll(async () => {
  cluster = await startCluster({
    brokers: 3,
    config: { groupSessionTimeoutMs: 4000, groupHeartbeatIntervalMs: 2000 },
  });
  await cluster.ready();
  await cluster.alterConfigs('cluster', { 'offsets.topic.num.partitions': '3' });
  const created = await cluster.createTopic('events', { partitions: 4, replicationFactor: 3 });
  topicId = created.topicId;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

async function call<S extends z.ZodType>(broker: number, path: string, body: unknown, schema: S, timeoutMs = 10_000) {
  return requestJson(cluster.client(broker), { method: 'POST', path, body, responseSchema: schema, timeoutMs });
}

async function failure(run: () => Promise<unknown>): Promise<{ code: string; message: string; details?: unknown }> {
  try {
    await run();
  } catch (error) {
    if (isMillraceError(error)) return { code: error.code, message: error.message, details: error.details };
    throw error;
  }
  throw new Error('expected a typed error');
}

/** The coordinator of `groupId`, once __consumer_offsets exists and is loaded. */
async function coordinatorOf(groupId: string): Promise<number> {
  return waitFor(
    `a coordinator for ${groupId}`,
    async () => {
      const found = await call(
        [...cluster.brokers.keys()][0] as number,
        Routes.findCoordinator,
        { groupId },
        FindCoordinatorResponseSchema,
      ).catch(() => undefined);
      if (found === undefined) return undefined;
      // Loaded: a fetch of its offsets is answered.
      const ready = await call(found.brokerId, Routes.offsetFetch, { groupId }, OffsetFetchResponseSchema).catch(
        () => undefined,
      );
      return ready === undefined ? undefined : found.brokerId;
    },
    30_000,
  );
}

function heartbeat(broker: number, body: Record<string, unknown>) {
  return call(broker, Routes.groupHeartbeat, { groupId: 'g1', ...body }, GroupHeartbeatResponseSchema);
}

const owned = (partitions: number[]) => [{ topicId, partitions }];
const partitionsOf = (answer: z.infer<typeof GroupHeartbeatResponseSchema>) =>
  answer.assignment.flatMap((t) => t.partitions).sort((a, b) => a - b);

describe('consumer groups on brokers', () => {
  it('the first lookup creates __consumer_offsets; every broker names the same coordinator', async () => {
    const first = await failure(() =>
      call(2, Routes.findCoordinator, { groupId: 'g1' }, FindCoordinatorResponseSchema),
    );
    expect(first.code).toBe('COORDINATOR_NOT_AVAILABLE');
    const coordinator = await coordinatorOf('g1');
    const answers = await Promise.all(
      [1, 2, 3].map((id) => call(id, Routes.findCoordinator, { groupId: 'g1' }, FindCoordinatorResponseSchema)),
    );
    expect(new Set(answers.map((a) => a.brokerId))).toEqual(new Set([coordinator]));
    const state = await cluster.partitionState('__consumer_offsets', groupPartition('g1', 3));
    expect(state?.leader).toBe(coordinator);
    expect(state?.replicas).toHaveLength(3);
  }, 40_000);

  it('a second member: the first is told to revoke at once, and the second gets the partitions once it has', async () => {
    const coordinator = await coordinatorOf('g1');
    const a = await heartbeat(coordinator, { memberId: 'member-a', memberEpoch: 0, subscribedTopicNames: ['events'] });
    expect(partitionsOf(a)).toEqual([0, 1, 2, 3]);
    // a's next heartbeat changes nothing: it is held, and answered when b joins.
    const started = Date.now();
    const aHeld = heartbeat(coordinator, {
      memberId: 'member-a',
      memberEpoch: a.memberEpoch,
      ownedPartitions: owned([0, 1, 2, 3]),
    });
    const b = await heartbeat(coordinator, { memberId: 'member-b', memberEpoch: 0, subscribedTopicNames: ['events'] });
    expect(partitionsOf(b)).toEqual([]);
    const bHeld = heartbeat(coordinator, { memberId: 'member-b', memberEpoch: b.memberEpoch, ownedPartitions: [] });
    const revoke = await aHeld;
    expect(Date.now() - started).toBeLessThan(1500); // well inside the 2 s interval: it was woken
    expect(partitionsOf(revoke)).toHaveLength(2);
    // a confirms: b's held heartbeat is answered with the other two.
    const confirmed = await heartbeat(coordinator, {
      memberId: 'member-a',
      memberEpoch: revoke.memberEpoch,
      ownedPartitions: owned(partitionsOf(revoke)),
      noWait: true,
    });
    const given = await bHeld;
    expect([...partitionsOf(confirmed), ...partitionsOf(given)].sort()).toEqual([0, 1, 2, 3]);
    expect(given.memberEpoch).toBe(confirmed.memberEpoch);
    expect(given.assignment[0]?.topic).toBe('events');
    const described = await call(coordinator, Routes.describeGroup, { groupId: 'g1' }, DescribeGroupResponseSchema);
    expect(described.state).toBe('stable');
    expect(described.members.map((m) => m.memberId)).toEqual(['member-a', 'member-b']);
  }, 30_000);

  it('commits are checked against the member epoch, and fetched back', async () => {
    const coordinator = await coordinatorOf('g1');
    const group = await call(coordinator, Routes.describeGroup, { groupId: 'g1' }, DescribeGroupResponseSchema);
    const a = group.members.find((m) => m.memberId === 'member-a');
    const commit = (memberEpoch: number, memberId = 'member-a') =>
      call(
        coordinator,
        Routes.offsetCommit,
        {
          groupId: 'g1',
          memberId,
          memberEpoch,
          topics: [{ topic: 'events', partitions: [{ partition: 0, offset: '17' }] }],
        },
        OffsetCommitResponseSchema,
      );
    expect((await failure(() => commit((a?.memberEpoch ?? 0) - 1))).code).toBe('STALE_MEMBER_EPOCH');
    expect((await failure(() => commit(0, ''))).code).toBe('UNKNOWN_MEMBER_ID'); // a tool, while members are in
    expect((await commit(a?.memberEpoch ?? 0)).committed).toBe(1);
    const fetched = await call(coordinator, Routes.offsetFetch, { groupId: 'g1' }, OffsetFetchResponseSchema);
    expect(fetched.offsets.map((o) => [o.topic, o.partition, o.offset])).toEqual([['events', 0, 17n]]);
  });

  it('a broker that does not coordinate the group says which one does', async () => {
    const coordinator = await coordinatorOf('g1');
    const other = [1, 2, 3].find((id) => id !== coordinator) as number;
    const refused = await failure(() => call(other, Routes.offsetFetch, { groupId: 'g1' }, OffsetFetchResponseSchema));
    expect(refused.code).toBe('NOT_COORDINATOR');
    expect(refused.details).toMatchObject({ coordinator: { brokerId: coordinator } });
    const listed = await requestJson(cluster.client(coordinator), {
      method: 'GET',
      path: Routes.groups,
      responseSchema: ListGroupsResponseSchema,
      timeoutMs: 5000,
    });
    expect(listed.groups).toContainEqual({ groupId: 'g1', state: 'stable', members: 2 });
  });

  it('the coordinator fails over: the new one has the members, their epochs and the offsets', async () => {
    const before = await coordinatorOf('g1');
    const group = await call(before, Routes.describeGroup, { groupId: 'g1' }, DescribeGroupResponseSchema);
    await cluster.stop(before, false);
    const after = await waitFor(
      'another coordinator',
      async () => {
        const id = await coordinatorOf('g1');
        return id !== before ? id : undefined;
      },
      30_000,
    );
    const moved = await call(after, Routes.describeGroup, { groupId: 'g1' }, DescribeGroupResponseSchema);
    expect(moved.members.map((m) => [m.memberId, m.memberEpoch])).toEqual(
      group.members.map((m) => [m.memberId, m.memberEpoch]),
    );
    expect(moved.offsets.map((o) => o.offset)).toEqual([17n]);
    // Members carry on at their epoch, without joining again.
    for (const member of moved.members) {
      const answer = await heartbeat(after, {
        memberId: member.memberId,
        memberEpoch: member.memberEpoch,
        ownedPartitions: member.assignment.map(({ topicId: id, partitions }) => ({ topicId: id, partitions })),
        noWait: true,
      });
      expect(answer.memberEpoch).toBe(member.memberEpoch);
    }
    await cluster.start(before);
    await cluster.ready();
  }, 60_000);

  it('a silent member is removed after the session timeout and the other gets everything', async () => {
    // Only b heartbeats from now on; a falls silent.
    const all = await waitFor(
      'b owning every partition',
      async () => {
        // The coordinator may move meanwhile (the restarted broker gets its preferred leaderships back).
        const coordinator = await coordinatorOf('g1');
        const current = await call(coordinator, Routes.describeGroup, { groupId: 'g1' }, DescribeGroupResponseSchema);
        const me = current.members.find((m) => m.memberId === 'member-b');
        if (me === undefined) return undefined;
        const answer = await heartbeat(coordinator, {
          memberId: 'member-b',
          memberEpoch: me.memberEpoch,
          ownedPartitions: me.assignment.map(({ topicId: id, partitions }) => ({ topicId: id, partitions })),
          noWait: true,
        });
        return partitionsOf(answer).length === 4 ? answer : undefined;
      },
      20_000,
    );
    expect(partitionsOf(all)).toEqual([0, 1, 2, 3]);
  }, 30_000);

  it('refuses bad group requests with typed errors naming the field, and produce to the internal topic', async () => {
    const coordinator = await coordinatorOf('g1');
    const cases: [string, unknown, RegExp][] = [
      [Routes.groupHeartbeat, { groupId: 'g1', memberId: 'm', memberEpoch: -2 }, /memberEpoch/],
      [Routes.groupHeartbeat, { groupId: 'g1', memberId: 'has space', memberEpoch: 0 }, /memberId/],
      [Routes.groupHeartbeat, { groupId: '', memberId: 'm', memberEpoch: 0 }, /groupId/],
      [Routes.groupHeartbeat, { groupId: 'g1', memberId: 'm', memberEpoch: 0, extra: 1 }, /extra/],
      [
        Routes.groupHeartbeat,
        { groupId: 'g1', memberId: 'm', memberEpoch: 0, subscribedTopicNames: ['bad name'] },
        /subscribedTopicNames/,
      ],
      [Routes.groupHeartbeat, { groupId: 'g1', memberId: 'm', memberEpoch: 0 }, /subscribedTopicNames/],
      [
        Routes.offsetCommit,
        {
          groupId: 'g1',
          memberId: '',
          memberEpoch: -1,
          topics: [{ topic: 'events', partitions: [{ partition: 0, offset: '-3' }] }],
        },
        /offset/,
      ],
      [Routes.offsetCommit, { groupId: 'g1', memberId: '', memberEpoch: -1, topics: [] }, /topics/],
      [Routes.offsetFetch, { groupId: 'g\u0001' }, /groupId/],
      [Routes.findCoordinator, { group: 'g1' }, /groupId|group/],
    ];
    for (const [path, body, field] of cases) {
      const refused = await failure(() => call(coordinator, path, body, GroupHeartbeatResponseSchema));
      expect(refused.code, JSON.stringify(body)).toBe('INVALID_REQUEST');
      expect(refused.message, JSON.stringify(body)).toMatch(field);
    }
    const leader = await cluster.leaderOf('__consumer_offsets', 0);
    const produced = await cluster.produce(leader, '__consumer_offsets', ['x']);
    expect(produced?.error?.code).toBe('INVALID_TOPIC_EXCEPTION');
  });
});
