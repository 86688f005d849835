import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FindCoordinatorResponseSchema, Routes } from '@millrace/protocol';
import { killHard, type Proc, spawnNode, stop, waitFor } from '@millrace/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broker, type Cluster, FAST_FAILOVER, startCluster } from '../src/harness.js';
import { startLoad } from '../src/load.js';

// Consumer groups end to end (issue 8): three member processes share six partitions; one is killed
// -9 and its partitions move within the session timeout; the coordinator's broker is killed -9 and
// the group goes on from its committed offsets. No acknowledged record goes unread, and a record is
// read twice only after the last commit of the member that read it first (at-least-once).

const MEMBER = fileURLToPath(new URL('../src/member.ts', import.meta.url));
const SESSION_TIMEOUT_MS = 6000;
const TOPIC = 'work';
const GROUP = 'workers';

let cluster: Cluster;
let folder: string;
const members = new Map<string, Proc>();

beforeAll(async () => {
  cluster = await startCluster({
    brokerFlags: [
      ...FAST_FAILOVER.brokerFlags,
      ...['--group-session-timeout-ms', String(SESSION_TIMEOUT_MS), '--group-heartbeat-interval-ms', '2000'],
    ],
  });
  await cluster.admin.alterClusterConfigs({ set: { 'offsets.topic.num.partitions': 6 } });
  folder = mkdtempSync(join(tmpdir(), 'millrace-group-e2e-'));
}, 60_000);

afterAll(async () => {
  for (const proc of members.values()) await stop(proc, 5000).catch(() => undefined);
  await cluster?.close();
  if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
}, 60_000);

type Event =
  | { member: string; event: 'started' | 'assigned' | 'revoked' | 'lost'; partitions?: number[] }
  | { member: string; event: 'records'; partition: number; offsets: string[] }
  | { member: string; event: 'committed'; partition: number; offset: string }
  | { member: string; event: 'commit-failed'; partition: number };

function events(): Event[] {
  try {
    return readFileSync(join(folder, 'events.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Event);
  } catch {
    return [];
  }
}

/** Member → the partitions it owns now, as its own listener reported. */
function ownership(list: readonly Event[]): Map<string, Set<number>> {
  const owned = new Map<string, Set<number>>();
  for (const e of list) {
    const set = owned.get(e.member) ?? new Set<number>();
    owned.set(e.member, set);
    if (e.event === 'assigned') for (const p of e.partitions ?? []) set.add(p);
    if (e.event === 'revoked' || e.event === 'lost') for (const p of e.partitions ?? []) set.delete(p);
  }
  return owned;
}

function startMember(name: string): void {
  const proc = spawnNode(
    name,
    MEMBER,
    [cluster.processes.bootstrap.join(','), GROUP, TOPIC, name, join(folder, 'events.jsonl')],
    {},
    ['--import', 'tsx'],
  );
  members.set(name, proc);
}

async function coordinator(): Promise<number> {
  return waitFor('the group coordinator', async () => {
    const [id] = cluster.liveBrokers();
    const answer = await cluster.processes.postJson('broker', id as number, Routes.findCoordinator, { groupId: GROUP });
    if (answer.status !== 200) return undefined;
    return FindCoordinatorResponseSchema.parse(answer.body).brokerId;
  });
}

describe('consumer groups end to end', () => {
  it('members share partitions, a killed member and a killed coordinator lose nothing, duplicates only after the last commit, lag matches', async () => {
    await cluster.createReplicatedTopic(TOPIC, 6);
    const client = cluster.client();
    const load = startLoad({ client, topic: TOPIC, partitions: 6 });
    let movedInMs = 0;
    try {
      for (const name of ['m1', 'm2', 'm3']) startMember(name);

      // Three members, two partitions each, all reading.
      await waitFor(
        'two partitions each',
        () => {
          const owned = ownership(events());
          return ['m1', 'm2', 'm3'].every((m) => owned.get(m)?.size === 2);
        },
        60_000,
      );

      // kill -9 of a member: its partitions move to the others within the session timeout.
      const killed = members.get('m3') as Proc;
      const killedAt = Date.now();
      await killHard(killed);
      await waitFor(
        'the other two own three each',
        () => {
          const owned = ownership(events());
          return owned.get('m1')?.size === 3 && owned.get('m2')?.size === 3;
        },
        SESSION_TIMEOUT_MS + 15_000,
      );
      movedInMs = Date.now() - killedAt;
      expect(movedInMs).toBeLessThan(SESSION_TIMEOUT_MS + 5000);
      const described = await cluster.admin.describeGroup(GROUP);
      expect(described.members).toHaveLength(2);

      // kill -9 of the coordinator's broker: the group goes on, from its committed offsets.
      const coordinatorId = await coordinator();
      const committedBefore = (await cluster.admin.describeGroup(GROUP)).offsets.reduce((n, o) => n + o.offset, 0n);
      const beforeKill = events().length;
      await cluster.kill(broker(coordinatorId));
      await waitFor(
        'every partition read again after the coordinator died',
        () => {
          const after = events().slice(beforeKill);
          const read = new Set(after.flatMap((e) => (e.event === 'committed' ? [e.partition] : [])));
          return read.size === 6;
        },
        60_000,
      );
      expect(await coordinator()).not.toBe(coordinatorId);
      const moved = await cluster.admin.describeGroup(GROUP);
      expect(moved.members).toHaveLength(2);
      expect(moved.offsets.reduce((n, o) => n + o.offset, 0n)).toBeGreaterThanOrEqual(committedBefore);
      cluster.start(broker(coordinatorId));
      await cluster.waitBrokersAlive();
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);

    // Everything acknowledged is read and committed: lag 0, committed offsets at the partitions' ends.
    const ends = new Map<number, bigint>();
    for (const { partition, offset } of load.acked) {
      const end = ends.get(partition) ?? 0n;
      if (offset + 1n > end) ends.set(partition, offset + 1n);
    }
    await waitFor(
      'the group caught up',
      async () => {
        const group = await cluster.admin.describeGroup(GROUP);
        return group.offsets.length === 6 && group.offsets.every((o) => o.offset === (ends.get(o.partition) ?? 0n));
      },
      60_000,
    );
    const group = await cluster.admin.describeGroup(GROUP);
    expect(group.offsets.map((o) => o.lag)).toEqual([0n, 0n, 0n, 0n, 0n, 0n]);

    // No acknowledged record unread; a second read only at or after the first reader's last commit.
    const list = events();
    const reads = new Map<string, { member: string; index: number }[]>();
    list.forEach((e, index) => {
      if (e.event !== 'records') return;
      for (const offset of e.offsets) {
        const key = `${e.partition}@${offset}`;
        reads.set(key, [...(reads.get(key) ?? []), { member: e.member, index }]);
      }
    });
    const unread = load.acked.filter((r) => !reads.has(`${r.partition}@${r.offset}`));
    expect(unread).toEqual([]);
    let duplicates = 0;
    for (const [key, readers] of reads) {
      if (readers.length < 2) continue;
      duplicates += readers.length - 1;
      const [partition, offset] = key.split('@').map(BigInt) as [bigint, bigint];
      const [first, second] = readers as [{ member: string; index: number }, { member: string; index: number }];
      // What the first reader had committed for the partition when the second read it.
      let committed = -1n;
      for (const e of list.slice(0, second.index))
        if (e.member === first.member && e.event === 'committed' && BigInt(e.partition) === partition)
          committed = BigInt(e.offset) > committed ? BigInt(e.offset) : committed;
      expect(committed, `${key} read again though ${first.member} had committed past it`).toBeLessThanOrEqual(offset);
    }
    console.log(
      `groups e2e: ${load.acked.length} records acknowledged and read; ${duplicates} read twice (at-least-once); a killed member's partitions moved in ${movedInMs} ms`,
    );
  }, 240_000);
});
