import { waitFor } from '@millrace/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, formatReport } from '../src/checker.js';
import { broker, type Cluster, checkTopic, controller, readLog, startCluster } from '../src/harness.js';
import { ackedEnds, startLoad } from '../src/load.js';

// Scenario 8 of the e2e issue: every broker, then every controller, restarted one at a time
// (SIGTERM, start again) under acks=all load; then the whole cluster stopped and started.

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

const big = (_: string, value: unknown) => (typeof value === 'bigint' ? String(value) : value);

describe('restarts', () => {
  it('8. a rolling restart of every broker and then every controller under load loses no acknowledged record; a whole-cluster stop and start keeps all data and offsets', async () => {
    const topic = 'rolling';
    await cluster.createReplicatedTopic(topic, 3);
    const client = cluster.client();
    const load = startLoad({ client, topic, partitions: 3 });
    try {
      await load.waitForAcks(200);
      for (const id of [1, 2, 3]) {
        // A controlled shutdown: leaderships move away first, and the process exits 0.
        await cluster.stop(broker(id));
        cluster.start(broker(id));
        await cluster.waitBrokersAlive([1, 2, 3]);
        // The next broker may stop only once this one is back in every ISR (min.insync.replicas=2).
        await cluster.waitFullyReplicated(topic);
        await load.waitForMore(100);
      }
      for (const id of [1, 2, 3]) {
        await cluster.stop(controller(id));
        cluster.start(controller(id));
        await cluster.waitActiveController();
        await cluster.waitQuorumCaughtUp();
        await load.waitForMore(100);
      }
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    const acked = load.acked;
    const report = await checkTopic(client, topic, acked);
    expect(report.ok, formatReport(report)).toBe(true);
    const before = await readLog(client, topic, { atLeast: ackedEnds(acked) });
    const offsetsBefore = await cluster.admin.fetchTopicOffsets(topic);

    // The whole cluster stops (brokers, then controllers, each by SIGTERM) and starts again.
    for (const id of [1, 2, 3]) await cluster.stop(broker(id));
    for (const id of [1, 2, 3]) await cluster.stop(controller(id));
    for (const id of [1, 2, 3]) cluster.start(controller(id));
    for (const id of [1, 2, 3]) cluster.start(broker(id));
    await cluster.waitActiveController();
    await cluster.waitBrokersAlive([1, 2, 3]);
    await cluster.waitFullyReplicated(topic);

    // A restarted leader's high watermark may start from its last checkpoint and catch up as the
    // followers fetch: the same offsets are waited for (bounded), never fewer or more.
    const reader = cluster.client();
    let offsetsAfter: unknown;
    await waitFor(
      () =>
        `the offsets of before the stop: ${JSON.stringify(offsetsBefore, big)}, have ${JSON.stringify(offsetsAfter, big)}`,
      async () => {
        offsetsAfter = await reader.admin().fetchTopicOffsets(topic);
        return JSON.stringify(offsetsAfter, big) === JSON.stringify(offsetsBefore, big);
      },
      20_000,
    );
    const after = await readLog(reader, topic, { atLeast: ackedEnds(acked) });
    expect(after).toEqual(before);
    const again = check(acked, after);
    expect(again.ok, formatReport(again)).toBe(true);
    // And writes go on at the next offsets.
    const producer = reader.producer();
    const written = await producer.send({
      topic,
      messages: offsetsBefore.map(({ partition }) => ({ partition, value: 'after-restart' })),
    });
    await producer.close();
    expect(written.map((r) => r.offset)).toEqual(offsetsBefore.map((o) => o.high));
  });
});
