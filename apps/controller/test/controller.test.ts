import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BrokerRegistrationRequestSchema,
  CreateTopicRequestSchema,
  isMillraceError,
  NO_LEADER,
} from '@millrace/protocol';
import { LocalNetwork, type NodeId } from '@millrace/raft';
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic } from '../src/index.js';
import { type ControllerNode, openControllerNode } from '../src/node.js';

const CLUSTER_ID = 'ctl-test';
const voters = [1, 2, 3];
const roots: string[] = [];
const running = new Set<ControllerNode>();

afterEach(async () => {
  await Promise.all([...running].map((node) => node.stop()));
  running.clear();
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function startQuorum(settings: { brokerSessionTimeoutMs?: number; snapshotEveryEntries?: number } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'millrace-ctl-'));
  roots.push(root);
  const network = new LocalNetwork();
  const nodes = new Map<number, ControllerNode>();
  const start = async (id: number, initialize: boolean) => {
    const node = await openControllerNode({
      nodeId: id,
      voters,
      dataDir: join(root, `c${id}`),
      initialize,
      settings: {
        clusterId: CLUSTER_ID,
        brokerSessionTimeoutMs: settings.brokerSessionTimeoutMs ?? 1000,
        sessionCheckIntervalMs: 50,
      },
      raft: { tickMs: 10, snapshotEveryEntries: settings.snapshotEveryEntries ?? 10_000, keepEntriesAfterSnapshot: 2 },
    });
    network.attach(id as NodeId, node.raft);
    node.start(network.transportFor(id as NodeId));
    running.add(node);
    nodes.set(id, node);
    return node;
  };
  for (const id of voters) await start(id, true);
  const active = () => waitFor('an active controller', () => [...nodes.values()].find((n) => n.controller.isActive));
  const stop = async (id: number) => {
    const node = nodes.get(id)!;
    network.detach(id as NodeId);
    await node.stop();
    running.delete(node);
    nodes.delete(id);
  };
  return { nodes, start, stop, active };
}

const broker = (brokerId: number, generation = 0) =>
  BrokerRegistrationRequestSchema.parse({
    clusterId: CLUSTER_ID,
    brokerId,
    incarnationId: `00000000-0000-4000-9000-${(brokerId * 100 + generation).toString(16).padStart(12, '0')}`,
    endpoint: { host: '127.0.0.1', port: 9000 + brokerId },
    rack: null,
  });

async function registerAndUnfence(node: ControllerNode, brokerId: number) {
  const { brokerEpoch } = await node.controller.registerBroker(broker(brokerId));
  const beat = () =>
    node.controller.heartbeat({
      brokerId,
      brokerEpoch,
      metadataOffset: node.controller.image.offset,
      wantFence: false,
      wantShutDown: false,
    });
  await beat();
  return { brokerEpoch, beat };
}

describe('controller quorum (in process, LevelDB, in-memory network)', () => {
  it('one active controller decides; the others refuse writes, naming it, and hold the same image', async () => {
    const quorum = await startQuorum();
    const active = await quorum.active();
    for (const id of [1, 2, 3]) await registerAndUnfence(active, id);
    await active.controller.write((image) =>
      createTopic(image, CreateTopicRequestSchema.parse({ name: 'orders', partitions: 6, replicationFactor: 3 }), {
        random: Math.random,
        newTopicId: () => '11111111-2222-4333-8444-555555555555',
      }),
    );
    const standby = [...quorum.nodes.values()].find((n) => n !== active)!;
    const refused = await standby.controller.write(() => ({ records: [], result: 0 })).catch((error: unknown) => error);
    expect(isMillraceError(refused, 'NOT_CONTROLLER')).toBe(true);
    expect((refused as { details?: { activeControllerId?: number } }).details?.activeControllerId).toBe(active.raft.id);
    const image = await standby.controller.readImage();
    expect(image.topicByName('orders')?.partitions).toHaveLength(6);
    expect(JSON.stringify(image.toRecords())).toBe(JSON.stringify(active.controller.image.toRecords()));
  });

  it('fences a broker whose heartbeats stop and moves its leaderships to the ISR', async () => {
    const quorum = await startQuorum({ brokerSessionTimeoutMs: 300 });
    const active = await quorum.active();
    const beats = new Map<number, () => Promise<unknown>>();
    for (const id of [1, 2, 3]) beats.set(id, (await registerAndUnfence(active, id)).beat);
    await active.controller.write((image) =>
      createTopic(image, CreateTopicRequestSchema.parse({ name: 't', replicaAssignment: [[1, 2, 3]] }), {
        random: Math.random,
        newTopicId: () => '11111111-2222-4333-8444-555555555555',
      }),
    );
    // Brokers 2 and 3 keep beating; broker 1 goes silent.
    const keepAlive = setInterval(() => {
      for (const id of [2, 3]) beats.get(id)!().catch(() => undefined);
    }, 50);
    try {
      const partition = await waitFor('the partition to move', () => {
        const p = active.controller.image.topicByName('t')?.partitions[0];
        return p && p.leader !== 1 ? p : undefined;
      });
      expect(partition).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1 });
      expect(active.controller.image.broker(1)?.fenced).toBe(true);
      expect(active.controller.image.broker(2)?.fenced).toBe(false);
    } finally {
      clearInterval(keepAlive);
    }
  });

  it('a new active controller takes over after the active one stops, with the metadata intact', async () => {
    const quorum = await startQuorum();
    const first = await quorum.active();
    for (const id of [1, 2, 3]) await registerAndUnfence(first, id);
    await first.controller.write((image) =>
      createTopic(image, CreateTopicRequestSchema.parse({ name: 'kept', partitions: 3, replicationFactor: 3 }), {
        random: Math.random,
        newTopicId: () => '11111111-2222-4333-8444-555555555555',
      }),
    );
    const firstId = first.raft.id;
    await quorum.stop(firstId);
    const second = await quorum.active();
    expect(second.raft.id).not.toBe(firstId);
    expect(second.controller.image.topicByName('kept')?.partitions).toHaveLength(3);
    // New writes work on the new active controller, decided on a complete image.
    const again = await second.controller
      .write((image) =>
        createTopic(image, CreateTopicRequestSchema.parse({ name: 'kept' }), {
          random: Math.random,
          newTopicId: () => '21111111-2222-4333-8444-555555555555',
        }),
      )
      .catch((error: unknown) => error);
    expect(isMillraceError(again, 'TOPIC_ALREADY_EXISTS')).toBe(true);
    // The stopped controller restarts from its disk and catches up.
    const restarted = await quorum.start(firstId, false);
    await waitFor(
      'the restarted controller to catch up',
      () => restarted.controller.image.offset >= second.controller.image.offset,
    );
    expect(restarted.controller.image.topicByName('kept')?.partitions.every((p) => p.leader !== NO_LEADER)).toBe(true);
  });

  it('restores the image from a Raft snapshot after restart', async () => {
    const quorum = await startQuorum({ snapshotEveryEntries: 5 });
    const active = await quorum.active();
    for (const id of [1, 2, 3]) await registerAndUnfence(active, id);
    for (let i = 0; i < 8; i++) {
      await active.controller.write((image) =>
        createTopic(image, CreateTopicRequestSchema.parse({ name: `t${i}`, partitions: 2, replicationFactor: 2 }), {
          random: Math.random,
          newTopicId: () => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
        }),
      );
    }
    const standby = [...quorum.nodes.values()].find((n) => n !== active)!;
    await waitFor(
      'the standby to apply everything',
      () => standby.controller.image.offset === active.controller.image.offset,
    );
    const expected = JSON.stringify(active.controller.image.toRecords());
    const id = standby.raft.id;
    await quorum.stop(id);
    const restarted = await quorum.start(id, false);
    expect(restarted.raft.status().firstIndex).toBeGreaterThan(1);
    await waitFor(
      'the restarted controller to catch up',
      () => restarted.controller.image.offset >= active.controller.image.offset,
    );
    expect(JSON.stringify(restarted.controller.image.toRecords())).toBe(expected);
  });
});
