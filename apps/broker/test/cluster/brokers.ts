import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createH2Client, requestFrame, requestJson, sendFrame } from '@millrace/http';
import {
  type Acks,
  ContentType,
  decodeFetchResponse,
  decodeRecordBatch,
  encodeProduceRequest,
  encodeRecordBatch,
  Headers,
  ListOffsetsResponseSchema,
  MetadataResponseSchema,
  ProduceResponseSchema,
  Routes,
  splitRecordBatches,
  TopicDescriptionSchema,
} from '@millrace/protocol';
import { pino } from 'pino';
import type { Client } from 'undici';
import { z } from 'zod';
import { Broker } from '../../src/broker.js';
import { BrokerConfigSchema } from '../../src/config.js';
import { ADMIN, CLUSTER_ID, freePorts, SECRET, startControllers } from './controllers.js';

export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError === undefined ? '' : `: ${String(lastError)}`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

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
      return requestJson(client(id), {
        method: 'POST',
        path: Routes.metadata,
        body: topics === undefined ? {} : { topics },
        responseSchema: MetadataResponseSchema,
        timeoutMs: 5000,
      });
    },
    async leaderOf(topic: string, partition = 0): Promise<number> {
      const any = [...brokers.keys()][0] as number;
      const meta = await cluster.metadata(any, [topic]);
      const leader = meta.topics[0]?.partitions[partition]?.leader;
      if (leader === null || leader === undefined) throw new Error(`${topic}-${partition} has no leader`);
      return leader;
    },
    async produce(
      id: number,
      topic: string,
      values: string[],
      options: { acks?: Acks; partition?: number; timeoutMs?: number; leaderEpoch?: number } = {},
    ) {
      const batch = encodeRecordBatch({ records: values.map((value) => ({ value })) });
      const body = encodeProduceRequest({
        acks: options.acks ?? 'all',
        timeoutMs: options.timeoutMs ?? 5000,
        topics: [
          {
            topic,
            partitions: [
              {
                partition: options.partition ?? 0,
                records: batch,
                ...(options.leaderEpoch === undefined ? {} : { leaderEpoch: options.leaderEpoch }),
              },
            ],
          },
        ],
      });
      const answer = await sendFrame(client(id), {
        path: Routes.produce,
        body,
        responseSchema: ProduceResponseSchema,
        timeoutMs: 15_000,
      });
      return answer.topics[0]?.partitions[0];
    },
    async fetch(
      id: number,
      topic: string,
      fetchOffset: bigint,
      options: { partition?: number; maxWaitMs?: number; minBytes?: number; currentLeaderEpoch?: number } = {},
    ) {
      const body = Buffer.from(
        JSON.stringify({
          maxWaitMs: options.maxWaitMs ?? 0,
          minBytes: options.minBytes ?? 1,
          maxBytes: 10 * 1024 * 1024,
          topics: [
            {
              topic,
              partitions: [
                {
                  partition: options.partition ?? 0,
                  fetchOffset: fetchOffset.toString(),
                  partitionMaxBytes: 1024 * 1024,
                  ...(options.currentLeaderEpoch === undefined
                    ? {}
                    : { currentLeaderEpoch: options.currentLeaderEpoch }),
                },
              ],
            },
          ],
        }),
      );
      const bytes = await requestFrame(client(id), { path: Routes.fetch, body, bodyType: 'json', timeoutMs: 30_000 });
      const answer = decodeFetchResponse(bytes);
      const partition = answer.topics[0]?.partitions[0];
      if (partition === undefined) throw new Error('no partition in the fetch answer');
      const records = splitRecordBatches(partition.records).flatMap((batch) => decodeRecordBatch(batch).records);
      return {
        ...partition,
        values: records.map((r) => ({ offset: r.offset, value: r.value?.toString('utf8') ?? null })),
      };
    },
    /** Every record of a partition up to its high watermark, read from `id`. */
    async readAll(id: number, topic: string, partition = 0) {
      const values: { offset: bigint; value: string | null }[] = [];
      let offset = 0n;
      for (;;) {
        const answer = await cluster.fetch(id, topic, offset, { partition });
        if (answer.error !== undefined) throw new Error(`fetch failed: ${answer.error.code} ${answer.error.message}`);
        if (answer.values.length === 0) return values;
        for (const v of answer.values) if (v.offset >= offset) values.push(v);
        offset = (values[values.length - 1]?.offset ?? -1n) + 1n;
      }
    },
    listOffsets(id: number, topic: string, spec: unknown, partition = 0) {
      return requestJson(client(id), {
        method: 'POST',
        path: Routes.listOffsets,
        body: { topics: [{ topic, partitions: [{ partition, spec }] }] },
        responseSchema: ListOffsetsResponseSchema,
        timeoutMs: 5000,
      });
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
