import { fileURLToPath } from 'node:url';
import { createH2Client, requestJson } from '@millrace/http';
import { Routes, TopicDescriptionSchema } from '@millrace/protocol';
import { type ProcessCluster, startProcessCluster, tail, waitFor } from '@millrace/test-kit';
import type { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import * as wire from './cluster/wire.js';

const BROKER_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const CONTROLLER_MAIN = fileURLToPath(new URL('../../controller/dist/main.js', import.meta.url));

let cluster: ProcessCluster | undefined;
const clients = new Map<number, Client>();
afterEach(async () => {
  for (const client of clients.values()) await client.destroy().catch(() => undefined);
  clients.clear();
  await cluster?.close();
  cluster = undefined;
});

function client(id: number): Client {
  let found = clients.get(id);
  if (found === undefined) {
    found = createH2Client(cluster?.origin('broker', id) as string, { connectTimeoutMs: 500 });
    clients.set(id, found);
  }
  return found;
}

/** Creates a topic through broker `via`'s admin API. */
async function createTopic(c: ProcessCluster, via: number, body: Record<string, unknown>) {
  await requestJson(client(via), {
    method: 'POST',
    path: Routes.topics,
    body,
    headers: { authorization: `Bearer ${c.adminToken}` },
    responseSchema: TopicDescriptionSchema,
    timeoutMs: 10_000,
  });
}

/** The partition's leader and ISR as some live broker's metadata has it. */
async function partitionOf(c: ProcessCluster, topic: string, live: readonly number[]) {
  for (const id of live) {
    try {
      const meta = await wire.metadata(client(id), [topic]);
      const partition = meta.topics[0]?.partitions[0];
      if (partition !== undefined) return partition;
    } catch {
      // That broker is down or not ready: ask the next.
    }
  }
  throw new Error(`no broker of ${live.join(',')} answered metadata (${c.root})`);
}

describe('brokers as processes', () => {
  it("survives the leader's kill -9 under acks=all load: no acknowledged record lost, and it rejoins the ISR on restart", async () => {
    cluster = await startProcessCluster({
      controllerMain: CONTROLLER_MAIN,
      brokerMain: BROKER_MAIN,
      brokerFlags: ['--heartbeat-interval-ms', '200', '--replica-fetch-wait-max-ms', '200'],
      controllerFlags: ['--broker-session-timeout-ms', '1500'],
    });
    const c = cluster;
    await c.waitReady();
    await createTopic(c, 1, {
      name: 'ledger',
      partitions: 1,
      replicationFactor: 3,
      configs: { 'min.insync.replicas': '2' },
    });
    let live = [1, 2, 3];
    await waitFor('a leader', async () => (await partitionOf(c, 'ledger', live)).leader !== null);
    const acked = new Map<bigint, string>();
    let n = 0;
    let stopLoad = false;
    const load = (async () => {
      while (!stopLoad) {
        const value = `v${n}`;
        try {
          const { leader } = await partitionOf(c, 'ledger', live);
          if (leader !== null && live.includes(leader)) {
            const answer = await wire.produce(client(leader), 'ledger', [value], { timeoutMs: 3000 });
            if (answer?.error === undefined && answer?.baseOffset !== undefined) {
              acked.set(answer.baseOffset, value);
              n++;
              continue;
            }
          }
        } catch {
          // The leader died mid-request, or none is elected yet: retry the same value.
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await waitFor('some acknowledged records', () => acked.size >= 50);
    const victim = (await partitionOf(c, 'ledger', live)).leader as number;
    await c.kill('broker', victim);
    live = live.filter((id) => id !== victim);
    const before = acked.size;
    await waitFor('writes acknowledged by the new leader', () => acked.size >= before + 50, 30_000);
    stopLoad = true;
    await load;
    const { leader } = await partitionOf(c, 'ledger', live);
    expect(leader).not.toBe(victim);
    const log = await wire.readAll(client(leader as number), 'ledger');
    const byOffset = new Map(log.map((r) => [r.offset, r.value]));
    for (const [offset, value] of acked) expect(byOffset.get(offset), `offset ${offset}`).toBe(value);
    expect(log.map((r) => r.offset)).toEqual(log.map((_, i) => BigInt(i)));

    // The killed broker comes back with its log, truncates what diverged, catches up and rejoins the ISR.
    c.startBroker(victim);
    live = [1, 2, 3];
    await waitFor(
      `broker ${victim} back in the ISR\n${tail(c.proc('broker', victim))}`,
      async () => (await partitionOf(c, 'ledger', [leader as number])).isr.includes(victim),
      30_000,
    );
  }, 120_000);

  it('refuses acks=all below min.insync.replicas, and elects an out-of-sync leader only with unclean election on', async () => {
    cluster = await startProcessCluster({
      controllerMain: CONTROLLER_MAIN,
      brokerMain: BROKER_MAIN,
      controllers: 1,
      brokerFlags: ['--heartbeat-interval-ms', '200', '--replica-fetch-wait-max-ms', '200'],
      controllerFlags: ['--broker-session-timeout-ms', '1500'],
    });
    const c = cluster;
    await c.waitReady();
    const admin = { authorization: `Bearer ${c.adminToken}` };
    await requestJson(client(1), {
      method: 'PATCH',
      path: Routes.clusterConfigs,
      body: { set: { 'replica.lag.time.max.ms': '1000' } },
      headers: admin,
      responseSchema: z.unknown(),
      timeoutMs: 10_000,
    });
    await createTopic(c, 1, {
      name: 'strict',
      partitions: 1,
      replicationFactor: 3,
      configs: { 'min.insync.replicas': '2' },
    });
    const { leader } = await waitFor('a leader', async () => {
      const p = await partitionOf(c, 'strict', [1, 2, 3]);
      return p.leader === null ? undefined : p;
    });
    const [first, second] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
    const l = leader as number;
    // Broker 1 may learn of the topic before its leader does (each follows the metadata stream on
    // its own): produce only once the leader's own image names it.
    await waitFor('the leader to know it leads', async () => (await partitionOf(c, 'strict', [l])).leader === l);
    expect((await wire.produce(client(l), 'strict', ['before']))?.error).toBeUndefined();

    await c.kill('broker', first);
    await waitFor('ISR of two', async () => (await partitionOf(c, 'strict', [l])).isr.length === 2, 20_000);
    expect((await wire.produce(client(l), 'strict', ['two-in-sync']))?.error).toBeUndefined();

    await c.kill('broker', second);
    await waitFor('ISR of one', async () => (await partitionOf(c, 'strict', [l])).isr.length === 1, 20_000);
    const refused = await wire.produce(client(l), 'strict', ['refused']);
    expect(refused?.error?.code).toBe('NOT_ENOUGH_REPLICAS');
    expect((await wire.produce(client(l), 'strict', ['acks-one'], { acks: 1 }))?.error).toBeUndefined();

    // The last ISR member dies; the one replica that comes back missed the later writes.
    await c.kill('broker', l);
    c.startBroker(first);
    await waitFor(
      `broker ${first} ready\n${tail(c.proc('broker', first))}`,
      async () => ((await c.getJson('broker', first, '/health')).body as { status?: string }).status === 'ok',
      30_000,
    );
    // Once the dead leader is fenced the partition is offline, and stays so: the only live replica
    // is out of sync. Watched for a second.
    await waitFor(
      'the partition offline',
      async () => (await partitionOf(c, 'strict', [first])).leader === null,
      20_000,
    );
    const watchUntil = Date.now() + 1000;
    while (Date.now() < watchUntil) {
      expect((await partitionOf(c, 'strict', [first])).leader).toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    await requestJson(client(first), {
      method: 'PATCH',
      path: '/v1/topics/strict/configs',
      body: { set: { 'unclean.leader.election.enable': 'true' } },
      headers: admin,
      responseSchema: z.unknown(),
      timeoutMs: 10_000,
    });
    await waitFor(
      'the out-of-sync replica leads',
      async () => (await partitionOf(c, 'strict', [first])).leader === first,
    );
    const log = await waitFor('its log', async () => {
      const read = await wire.readAll(client(first), 'strict');
      return read.length > 0 ? read : undefined;
    });
    expect(log.map((r) => r.value)).toEqual(['before']);
  }, 120_000);

  it('stops cleanly on SIGTERM after moving its leaderships away', async () => {
    cluster = await startProcessCluster({
      controllerMain: CONTROLLER_MAIN,
      brokerMain: BROKER_MAIN,
      controllers: 1,
      brokerFlags: ['--heartbeat-interval-ms', '200'],
    });
    const c = cluster;
    await c.waitReady();
    await createTopic(c, 1, { name: 'moving', partitions: 3, replicationFactor: 3 });
    const { leader } = await waitFor('a leader', async () => {
      const p = await partitionOf(c, 'moving', [1, 2, 3]);
      return p.leader === null ? undefined : p;
    });
    const code = await c.terminate('broker', leader as number);
    expect(code, tail(c.proc('broker', leader as number))).toBe(0);
    const others = [1, 2, 3].filter((id) => id !== leader);
    const after = await partitionOf(c, 'moving', others);
    expect(after.leader).not.toBe(leader);
    expect(after.leader).not.toBeNull();
  }, 60_000);
});
