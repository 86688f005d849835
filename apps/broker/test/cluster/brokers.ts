import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createH2Client, requestJson } from '@millrace/http';
import { ContentType, Headers, Routes, TopicDescriptionSchema } from '@millrace/protocol';
import { waitFor } from '@millrace/test-kit';
import { pino } from 'pino';
import type { Client } from 'undici';
import { z } from 'zod';
import { Broker } from '../../src/broker.js';
import { BrokerConfigSchema } from '../../src/config.js';
import { ADMIN, CLUSTER_ID, freePorts, SECRET, startControllers } from './controllers.js';
import * as wire from './wire.js';

export { waitFor } from '@millrace/test-kit';

export interface BrokerClusterOptions {
  readonly brokers?: number;
  readonly controllers?: number;
  readonly brokerSessionTimeoutMs?: number;
  readonly clientToken?: string;
  readonly config?: Record<string, unknown>;
}

/**
 * Controllers and brokers in this process, each broker the real Broker (LevelDB in a temp folder,
 * its real HTTP/2 server on a free loopback port): everything between them is the real wire.
 */
export async function startCluster(options: BrokerClusterOptions = {}) {
  const controllers = await startControllers(options.controllers ?? 1, {
    brokerSessionTimeoutMs: options.brokerSessionTimeoutMs ?? 1500,
  });
  const root = mkdtempSync(join(tmpdir(), 'millrace-broker-'));
  const count = options.brokers ?? 3;
  const ports = await freePorts(count);
  const brokers = new Map<number, Broker>();
  const configOf = (id: number) =>
    BrokerConfigSchema.parse({
      brokerId: id,
      clusterId: CLUSTER_ID,
      listen: { host: '127.0.0.1', port: ports[id - 1] },
      controllers: controllers.endpoints,
      dataDir: join(root, `b${id}`),
      clusterSecret: SECRET,
      heartbeatIntervalMs: 100,
      replicaFetchWaitMaxMs: 200,
      highWatermarkCheckpointIntervalMs: 200,
      logLevel: 'silent',
      ...(options.clientToken === undefined ? {} : { clientToken: options.clientToken }),
      ...options.config,
    });
  const start = async (id: number) => {
    const broker = await Broker.open({
      config: configOf(id),
      logger: pino({ level: process.env.BROKER_TEST_LOG ?? 'silent', base: { node: `b${id}` } }),
    });
    brokers.set(id, broker);
    await broker.start();
    return broker;
  };
  const stop = async (id: number, controlled = false) => {
    const broker = brokers.get(id);
    if (broker === undefined) return;
    brokers.delete(id);
    await broker.stop({ controlled });
  };
  for (let id = 1; id <= count; id++) await start(id);
  const clients = new Map<number, Client>();
  const client = (id: number) => {
    let found = clients.get(id);
    if (found === undefined) {
      found = createH2Client(`http://127.0.0.1:${ports[id - 1]}`);
      clients.set(id, found);
    }
    return found;
  };
  const cluster = {
    controllers,
    brokers,
    ports,
    root,
    start,
    stop,
    client,
    /** Waits until every running broker serves and is unfenced. */
    async ready() {
      await waitFor('brokers running', () =>
        [...brokers.values()].every((b) => b.ready && b.lifecycle.state === 'running'),
      );
    },
    async createTopic(name: string, body: Record<string, unknown> = {}) {
      const any = [...brokers.keys()][0] as number;
      const created = await requestJson(client(any), {
        method: 'POST',
        path: Routes.topics,
        body: { name, ...body },
        headers: { authorization: `Bearer ${ADMIN}` },
        responseSchema: TopicDescriptionSchema,
        timeoutMs: 10_000,
      });
      // Every partition has a leader that knows it leads, and every replica follows.
      await waitFor(`topic ${name} led`, async () => {
        const meta = await cluster.metadata(any, [name]);
        const topic = meta.topics[0];
        if (topic === undefined || topic.error !== undefined) return false;
        return topic.partitions.every((p) => {
          if (p.leader === null) return false;
          const leader = brokers.get(p.leader);
          return leader?.manager.get(topic.topicId as string, p.partition)?.leaderState !== undefined;
        });
      });
      return created;
    },
    /** PATCH a topic's or the cluster's settings through the admin API (relayed by a broker). */
    async alterConfigs(target: { topic: string } | 'cluster', set: Record<string, string>) {
      const any = [...brokers.keys()][0] as number;
      await requestJson(client(any), {
        method: 'PATCH',
        path: target === 'cluster' ? Routes.clusterConfigs : `/v1/topics/${target.topic}/configs`,
        body: { set },
        headers: { authorization: `Bearer ${ADMIN}` },
        responseSchema: z.unknown(),
        timeoutMs: 10_000,
      });
    },
    /** The partition as the active controller's image has it. */
    async partitionState(topic: string, partition = 0) {
      const image = (await controllers.active()).controller.image;
      const state = image.topicByName(topic);
      if (state === undefined) throw new Error(`no topic ${topic}`);
      return image.partition(state.topicId, partition);
    },
    metadata(id: number, topics?: string[]) {
      return wire.metadata(client(id), topics);
    },
    async leaderOf(topic: string, partition = 0): Promise<number> {
      const any = [...brokers.keys()][0] as number;
      const meta = await cluster.metadata(any, [topic]);
      const leader = meta.topics[0]?.partitions[partition]?.leader;
      if (leader === null || leader === undefined) throw new Error(`${topic}-${partition} has no leader`);
      return leader;
    },
    produce(id: number, topic: string, values: string[], options: wire.ProduceOptions = {}) {
      return wire.produce(client(id), topic, values, options);
    },
    fetch(id: number, topic: string, fetchOffset: bigint, options: wire.FetchOptions = {}) {
      return wire.fetch(client(id), topic, fetchOffset, options);
    },
    readAll(id: number, topic: string, partition = 0) {
      return wire.readAll(client(id), topic, partition);
    },
    listOffsets(id: number, topic: string, spec: unknown, partition = 0) {
      return wire.listOffsets(client(id), topic, spec, partition);
    },
    async close() {
      for (const c of clients.values()) await c.destroy().catch(() => undefined);
      for (const id of [...brokers.keys()]) await stop(id, false).catch(() => undefined);
      await controllers.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
  return cluster;
}

export type BrokerCluster = Awaited<ReturnType<typeof startCluster>>;
export { ADMIN, ContentType, Headers, SECRET, z };
