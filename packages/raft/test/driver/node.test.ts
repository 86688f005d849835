import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMillraceError } from '@millrace/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelRaftStorage } from '../../src/driver/level-storage.js';
import { RaftNode } from '../../src/driver/node.js';
import { LocalNetwork } from '../../src/driver/transport.js';
import type { LogIndex, NodeId } from '../../src/index.js';
import { ListMachine, waitFor } from './support.js';

const voters = [1, 2, 3] as NodeId[];
const dirs: string[] = [];
const running = new Set<RaftNode<number>>();

afterEach(async () => {
  await Promise.all([...running].map((node) => node.stop()));
  running.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Member {
  node: RaftNode<number>;
  machine: ListMachine;
  path: string;
}

async function startCluster(options: { snapshotEveryEntries?: number; tickMs?: number } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'millrace-raft-node-'));
  dirs.push(root);
  const network = new LocalNetwork();
  const members = new Map<number, Member>();
  const start = async (id: NodeId, initialize: boolean) => {
    const path = join(root, `node-${id}`);
    const storage = await LevelRaftStorage.open(path, { clusterId: 'c1', nodeId: id, voters, initialize });
    const machine = new ListMachine();
    const node = new RaftNode<number>({
      id,
      storage,
      stateMachine: machine,
      tickMs: options.tickMs ?? 10,
      seed: id * 7919,
      snapshotEveryEntries: options.snapshotEveryEntries ?? 10_000,
      keepEntriesAfterSnapshot: 5,
      onFatal: (error) => {
        throw error;
      },
    });
    network.attach(id, node);
    node.start(network.transportFor(id));
    running.add(node);
    members.set(id, { node, machine, path });
    return node;
  };
  for (const id of voters) await start(id, true);
  const leader = () => waitFor('a leader', () => [...members.values()].find((m) => m.node.isLeader));
  const stop = async (id: number) => {
    const member = members.get(id)!;
    network.detach(id as NodeId);
    await member.node.stop();
    running.delete(member.node);
  };
  return { network, members, start, stop, leader };
}

describe('raft node runtime (LevelDB storage, in-memory network)', () => {
  it('elects a leader, commits proposals and applies them in the same order everywhere', async () => {
    const cluster = await startCluster();
    const { node } = await cluster.leader();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => node.propose(Buffer.from(`v${i}`))));
    expect(results.map((r) => r.result).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await waitFor('every node to apply 50', () =>
      [...cluster.members.values()].every((m) => m.machine.items.length === 50),
    );
    const lists = [...cluster.members.values()].map((m) => m.machine.items.join(','));
    expect(new Set(lists).size).toBe(1);
  });

  it('a follower forwards its proposal to the leader and resolves it on apply', async () => {
    const cluster = await startCluster();
    const leader = await cluster.leader();
    const follower = [...cluster.members.values()].find((m) => m !== leader)!;
    await waitFor('the follower to know the leader', () => follower.node.leaderId === leader.node.id);
    const { result } = await follower.node.propose(Buffer.from('from-follower'));
    expect(result).toBe(1);
  });

  it('survives the leader stopping: a new leader commits, the old one restarts and catches up from disk', async () => {
    const cluster = await startCluster();
    const first = await cluster.leader();
    for (let i = 0; i < 20; i++) await first.node.propose(Buffer.from(`a${i}`));
    const oldId = first.node.id;
    await cluster.stop(oldId);
    const second = await waitFor('a new leader', () =>
      [...cluster.members.values()].find((m) => m.node.id !== oldId && m.node.isLeader),
    );
    for (let i = 0; i < 20; i++) await second.node.propose(Buffer.from(`b${i}`));
    const restarted = await cluster.start(oldId, false);
    await waitFor('the restarted node to catch up', () => cluster.members.get(oldId)!.machine.items.length === 40);
    expect(cluster.members.get(oldId)!.machine.items).toEqual(second.machine.items);
    expect(restarted.isLeader).toBe(false);
  });

  it('brings a partitioned follower back with a snapshot once the log is compacted', async () => {
    const cluster = await startCluster({ snapshotEveryEntries: 10 });
    const leader = await cluster.leader();
    const lagging = [...cluster.members.values()].find((m) => m !== leader)!;
    for (const other of cluster.members.values()) {
      if (other !== lagging) cluster.network.partition(lagging.node.id, other.node.id);
    }
    for (let i = 0; i < 40; i++) await leader.node.propose(Buffer.from(`s${i}`));
    for (const other of cluster.members.values()) {
      if (other !== lagging) cluster.network.partition(lagging.node.id, other.node.id, false);
    }
    await waitFor('the lagging node to catch up', () => lagging.machine.items.length === 40, 20_000);
    expect(lagging.machine.items).toEqual(leader.machine.items);
  });

  it('serves linearizable reads through ReadIndex', async () => {
    const cluster = await startCluster();
    const leader = await cluster.leader();
    await leader.node.propose(Buffer.from('x'));
    const follower = [...cluster.members.values()].find((m) => m !== leader)!;
    const index = await follower.node.readIndex();
    expect(index).toBeGreaterThanOrEqual(2 as LogIndex);
    expect(follower.machine.items).toContain('x');
  });

  it('refuses a proposal with a typed error when no leader can be reached', async () => {
    const cluster = await startCluster();
    const leader = await cluster.leader();
    const isolated = [...cluster.members.values()].find((m) => m !== leader)!;
    for (const other of cluster.members.values()) {
      if (other !== isolated) cluster.network.partition(isolated.node.id, other.node.id);
    }
    await waitFor('the isolated node to lose its leader', () => isolated.node.leaderId === 0, 10_000);
    const outcome = await isolated.node.propose(Buffer.from('lost'), 300).catch((error: unknown) => error);
    expect(isMillraceError(outcome) && ['NOT_CONTROLLER', 'REQUEST_TIMED_OUT'].includes(outcome.code)).toBe(true);
  });

  it('proposals that cannot commit fail at their own deadlines, whatever order they were made in', async () => {
    // At 200 ms a tick, a follower cut off keeps its leader for 2 s at least: well past both
    // deadlines even when a loaded machine (CI runs every package at once) delays its timers.
    // At 50 ms a tick it sometimes lost its leader first and answered NOT_CONTROLLER.
    const cluster = await startCluster({ tickMs: 200 });
    const leader = await cluster.leader();
    const cut = [...cluster.members.values()].find((m) => m !== leader)!;
    // The follower must know its leader before it is cut off: a leader just elected reaches it
    // with its first append, and until then a proposal there has nowhere to go (NOT_CONTROLLER).
    await waitFor('the follower knowing its leader', () => cut.node.leaderId === leader.node.id);
    for (const other of cluster.members.values()) {
      if (other !== cut) cluster.network.partition(cut.node.id, other.node.id);
    }
    // It forwards both proposals into the void; each must time out on its own clock.
    const started = performance.now();
    const settled = (promise: Promise<unknown>) =>
      promise.then(
        () => ({ code: 'committed', atMs: performance.now() - started }),
        (error: unknown) => ({
          code: isMillraceError(error) ? error.code : String(error),
          atMs: performance.now() - started,
        }),
      );
    const later = settled(cut.node.propose(Buffer.from('later'), 350));
    const sooner = settled(cut.node.propose(Buffer.from('sooner'), 150));
    const [first, second] = [await sooner, await later];
    expect(first.code).toBe('REQUEST_TIMED_OUT');
    expect(second.code).toBe('REQUEST_TIMED_OUT');
    expect(first.atMs).toBeGreaterThanOrEqual(145);
    // Well before the other deadline: a timer armed only for the first proposal would fail both at 350 ms.
    expect(first.atMs).toBeLessThan(300);
    expect(second.atMs).toBeGreaterThanOrEqual(345);
  });
});
