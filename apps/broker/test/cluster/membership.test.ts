import { createTopic } from '@millrace/controller';
import { CreateTopicRequestSchema, NO_LEADER } from '@millrace/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ControllerClient } from '../../src/cluster/controller-client.js';
import { BrokerLifecycle, type BrokerState } from '../../src/cluster/lifecycle.js';
import { MetadataFollower } from '../../src/cluster/metadata-follower.js';
import { CLUSTER_ID, SECRET, startControllers } from './controllers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
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

/** A broker's membership parts (no storage or client API yet), wired as the broker wires them. */
function startBroker(brokerId: number, controllers: { host: string; port: number }[]) {
  const client = new ControllerClient({ controllers, clusterSecret: SECRET });
  const follower = new MetadataFollower({ controllers, clusterSecret: SECRET, brokerId, silenceTimeoutMs: 1000 });
  const states: BrokerState[] = [];
  const lifecycle = new BrokerLifecycle({
    brokerId,
    clusterId: CLUSTER_ID,
    advertised: { host: '127.0.0.1', port: 30_000 + brokerId },
    rack: null,
    heartbeatIntervalMs: 100,
    controllers: client,
    metadataOffset: () => follower.offset,
    onStateChange: (state) => states.push(state),
  });
  follower.start();
  const started = lifecycle.start();
  const stop = async () => {
    lifecycle.stop();
    await follower.stop();
    await client.close();
  };
  cleanups.push(stop);
  return { client, follower, lifecycle, states, started, stop };
}

const topic = (name: string, replicaAssignment: number[][]) =>
  CreateTopicRequestSchema.parse({ name, replicaAssignment });
const context = { random: Math.random, newTopicId: () => crypto.randomUUID() };

describe('broker membership', () => {
  it('registers, follows the metadata stream, and is unfenced once caught up', async () => {
    const controllers = await startControllers(1);
    cleanups.push(controllers.close);
    const active = await controllers.active();
    const broker = startBroker(7, controllers.endpoints);
    await broker.started;
    await waitFor('the broker to run', () => broker.lifecycle.state === 'running');
    expect(active.controller.image.broker(7)?.fenced).toBe(false);
    expect(broker.states).toEqual(['fenced', 'running']);
    await active.controller.write((image) => createTopic(image, topic('orders', [[7]]), context));
    const seen = await waitFor('the topic in the broker image', () => broker.follower.image.topicByName('orders'));
    expect(seen.partitions[0]).toMatchObject({ leader: 7, isr: [7] });
    expect(broker.follower.offset).toBe(active.controller.image.offset);
  });

  it('is fenced when its heartbeats stop, and its leaderships move', async () => {
    const controllers = await startControllers(1, { brokerSessionTimeoutMs: 500 });
    cleanups.push(controllers.close);
    const active = await controllers.active();
    const a = startBroker(1, controllers.endpoints);
    const b = startBroker(2, controllers.endpoints);
    await Promise.all([a.started, b.started]);
    await waitFor('both brokers to run', () => a.lifecycle.state === 'running' && b.lifecycle.state === 'running');
    await active.controller.write((image) => createTopic(image, topic('t', [[1, 2]]), context));
    a.lifecycle.stop();
    const moved = await waitFor('the partition to move to broker 2', () => {
      const p = b.follower.image.topicByName('t')?.partitions[0];
      return p?.leader === 2 ? p : undefined;
    });
    expect(moved.isr).toEqual([2]);
    expect(b.follower.image.broker(1)?.fenced).toBe(true);
  });

  it('controlled shutdown moves leaderships away before the broker may stop', async () => {
    const controllers = await startControllers(1);
    cleanups.push(controllers.close);
    const active = await controllers.active();
    const a = startBroker(1, controllers.endpoints);
    const b = startBroker(2, controllers.endpoints);
    await Promise.all([a.started, b.started]);
    await waitFor('both brokers to run', () => a.lifecycle.state === 'running' && b.lifecycle.state === 'running');
    await active.controller.write((image) =>
      createTopic(
        image,
        topic('t', [
          [1, 2],
          [1, 2],
        ]),
        context,
      ),
    );
    expect(await a.lifecycle.controlledShutdown(5000)).toBe(true);
    const partitions = active.controller.image.topicByName('t')?.partitions ?? [];
    expect(partitions.map((p) => p.leader)).toEqual([2, 2]);
    expect(active.controller.image.broker(1)).toMatchObject({ fenced: true, inControlledShutdown: true });
    expect(a.lifecycle.state).toBe('stopped');
  });

  it('survives the active controller stopping: the stream resumes without gaps, heartbeats find the new one', async () => {
    const controllers = await startControllers(3);
    cleanups.push(controllers.close);
    const first = await controllers.active();
    const broker = startBroker(5, controllers.endpoints);
    await broker.started;
    await waitFor('the broker to run', () => broker.lifecycle.state === 'running');
    await first.controller.write((image) => createTopic(image, topic('before', [[5]]), context));
    await waitFor('the first topic', () => broker.follower.image.topicByName('before'));
    const firstId = first.raft.id;
    await controllers.stop(firstId);
    const second = await controllers.active();
    await second.controller.write((image) => createTopic(image, topic('after', [[5]]), context));
    await waitFor('the second topic', () => broker.follower.image.topicByName('after'), 15_000);
    // Same records, same order: the broker's image equals the new active controller's.
    await waitFor('the images to agree', () => broker.follower.offset === second.controller.image.offset);
    expect(JSON.stringify(broker.follower.image.toRecords())).toBe(JSON.stringify(second.controller.image.toRecords()));
    expect(second.controller.image.broker(5)?.fenced).toBe(false);
    expect(broker.follower.image.topicByName('before')?.partitions[0]?.leader).not.toBe(NO_LEADER);
  }, 30_000);
});
