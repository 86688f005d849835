import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MillraceServer } from '@millrace/http';
import { LocalNetwork, type NodeId } from '@millrace/raft';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerConfigSchema } from '../src/config.js';
import { Forwarder } from '../src/forward.js';
import { type ControllerNode, openControllerNode } from '../src/node.js';
import { buildServer } from '../src/server.js';

/**
 * Every route of a controller, fed bad input through `inject` (no socket): each refusal is a
 * typed error with the right status, naming what is wrong, and changes nothing.
 */
const ADMIN = 'routes-admin-token-0123';
const SECRET = 'routes-cluster-secret-0123';
let root: string;
let node: ControllerNode;
let app: MillraceServer;
let forwarder: Forwarder;

const json = { 'content-type': 'application/json' };
const admin = { ...json, authorization: `Bearer ${ADMIN}` };
const internal = { ...json, 'x-millrace-cluster-secret': SECRET };

async function call(method: string, url: string, headers: Record<string, string>, payload?: unknown) {
  const response = await app.inject({
    method: method as 'GET',
    url,
    headers,
    ...(payload === undefined ? {} : { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) }),
  });
  return { status: response.statusCode, body: response.body.length > 0 ? response.json() : undefined };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'millrace-ctl-routes-'));
  const config = ControllerConfigSchema.parse({
    nodeId: 1,
    clusterId: 'routes',
    listen: { host: '127.0.0.1', port: 1 },
    voters: [{ nodeId: 1, endpoint: { host: '127.0.0.1', port: 1 } }],
    dataDir: join(root, 'c1'),
    adminToken: ADMIN,
    clusterSecret: SECRET,
    initialize: true,
  });
  node = await openControllerNode({
    nodeId: 1,
    voters: [1],
    dataDir: config.dataDir,
    initialize: true,
    settings: { clusterId: 'routes', brokerSessionTimeoutMs: 60_000 },
    raft: { tickMs: 10 },
  });
  const network = new LocalNetwork();
  network.attach(1 as NodeId, node.raft);
  node.start(network.transportFor(1 as NodeId));
  forwarder = new Forwarder(new Map());
  app = buildServer({ config, node, forwarder, logger: false });
  await app.ready();
  const deadline = Date.now() + 10_000;
  while (!node.controller.isActive && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  // One broker, registered and unfenced, and one topic to refuse things about.
  const reg = await call('POST', '/v1/brokers/register', internal, {
    clusterId: 'routes',
    brokerId: 1,
    incarnationId: '00000000-0000-4000-9000-000000000001',
    endpoint: { host: '127.0.0.1', port: 9001 },
    rack: null,
  });
  expect(reg.status).toBe(200);
  const beat = await call('POST', '/v1/brokers/heartbeat', internal, {
    brokerId: 1,
    brokerEpoch: reg.body.brokerEpoch,
    metadataOffset: node.controller.image.offset,
    wantFence: false,
    wantShutDown: false,
  });
  expect(beat.body).toMatchObject({ isFenced: false });
  expect(
    (await call('POST', '/v1/topics', admin, { name: 'existing', partitions: 2, replicationFactor: 1 })).status,
  ).toBe(201);
}, 20_000);

afterAll(async () => {
  await app.close();
  await forwarder.close();
  await node.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('controller routes refuse bad input', () => {
  it('with the right status and code, naming the problem, and change nothing', async () => {
    const cases: [string, string, Record<string, string>, unknown, number, string, RegExp?][] = [
      // Credentials
      ['POST', '/v1/topics', json, { name: 'x' }, 401, 'AUTHENTICATION_FAILED'],
      [
        'POST',
        '/v1/topics',
        { ...json, authorization: 'Bearer wrong-wrong-wrong' },
        { name: 'x' },
        401,
        'AUTHENTICATION_FAILED',
      ],
      ['POST', '/v1/topics', { ...json, authorization: ADMIN }, { name: 'x' }, 401, 'AUTHENTICATION_FAILED'],
      ['DELETE', '/v1/topics/existing', {}, undefined, 401, 'AUTHENTICATION_FAILED'],
      ['PATCH', '/v1/cluster/configs', json, { set: { 'num.partitions': 2 } }, 401, 'AUTHENTICATION_FAILED'],
      ['POST', '/v1/brokers/register', json, {}, 401, 'AUTHENTICATION_FAILED'],
      ['POST', '/v1/alter-partition', json, {}, 401, 'AUTHENTICATION_FAILED'],
      ['GET', '/v1/metadata/stream', {}, undefined, 401, 'AUTHENTICATION_FAILED'],
      ['POST', '/v1/raft', { 'content-type': 'application/vnd.millrace.frame' }, 'x', 401, 'AUTHENTICATION_FAILED'],
      // Bodies
      ['POST', '/v1/topics', admin, '{"name": ', 400, 'INVALID_REQUEST'],
      ['POST', '/v1/topics', admin, '[1,2]', 400, 'INVALID_REQUEST'],
      ['POST', '/v1/topics', admin, '"orders"', 400, 'INVALID_REQUEST'],
      ['POST', '/v1/topics', admin, '{"name":"a","__proto__":{"x":1}}', 400, 'INVALID_REQUEST'],
      ['POST', '/v1/topics', admin, '{"name":"a","constructor":{"prototype":{}}}', 400, 'INVALID_REQUEST'],
      ['POST', '/v1/topics', { ...admin, 'content-type': 'text/plain' }, 'name=x', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['POST', '/v1/topics', admin, { name: 'x', extra: true }, 400, 'INVALID_REQUEST', /extra/],
      ['POST', '/v1/topics', admin, { name: '..' }, 400, 'INVALID_REQUEST', /body\.name/],
      ['POST', '/v1/topics', admin, { name: 'a/b' }, 400, 'INVALID_REQUEST', /body\.name/],
      ['POST', '/v1/topics', admin, { name: 'x'.repeat(250) }, 400, 'INVALID_REQUEST', /body\.name/],
      ['POST', '/v1/topics', admin, { name: 'x', partitions: 0 }, 400, 'INVALID_REQUEST', /body\.partitions/],
      ['POST', '/v1/topics', admin, { name: 'x', partitions: 1.5 }, 400, 'INVALID_REQUEST', /body\.partitions/],
      ['POST', '/v1/topics', admin, { name: 'x', partitions: '3' }, 400, 'INVALID_REQUEST', /body\.partitions/],
      [
        'POST',
        '/v1/topics',
        admin,
        { name: 'x', replicationFactor: 2 },
        400,
        'INVALID_REPLICATION_FACTOR',
        /larger than the 1 live broker/,
      ],
      [
        'POST',
        '/v1/topics',
        admin,
        { name: 'x', configs: { 'retention.ms': 'soon' } },
        400,
        'INVALID_CONFIG',
        /retention\.ms/,
      ],
      ['POST', '/v1/topics', admin, { name: 'existing' }, 409, 'TOPIC_ALREADY_EXISTS'],
      [
        'POST',
        '/v1/topics',
        admin,
        { name: 'big', configs: { blob: 'x'.repeat(2_000_000) } },
        413,
        'PAYLOAD_TOO_LARGE',
      ],
      // Paths and methods
      ['GET', '/v1/topics/a%2Fb', {}, undefined, 400, 'INVALID_REQUEST', /path\.topic/],
      ['GET', '/v1/topics/%F0%9F%90%9F', {}, undefined, 400, 'INVALID_REQUEST', /path\.topic/],
      ['GET', '/v1/topics/missing', {}, undefined, 404, 'UNKNOWN_TOPIC_OR_PARTITION'],
      [
        'DELETE',
        '/v1/topics/missing',
        { authorization: `Bearer ${ADMIN}` },
        undefined,
        404,
        'UNKNOWN_TOPIC_OR_PARTITION',
      ],
      ['PUT', '/v1/topics', admin, {}, 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/v1/nothing-here', {}, undefined, 404, 'NOT_FOUND'],
      ['GET', '/v1/brokers/abc', {}, undefined, 400, 'INVALID_REQUEST', /path\.brokerId/],
      ['GET', '/v1/brokers/99', {}, undefined, 404, 'BROKER_ID_NOT_REGISTERED'],
      // Partitions, configs, elections
      ['POST', '/v1/topics/existing/partitions', admin, { totalCount: 2 }, 400, 'INVALID_PARTITIONS'],
      ['POST', '/v1/topics/existing/partitions', admin, { totalCount: -1 }, 400, 'INVALID_REQUEST', /body\.totalCount/],
      ['PATCH', '/v1/topics/existing/configs', admin, {}, 400, 'INVALID_REQUEST', /at least one setting/],
      ['PATCH', '/v1/topics/existing/configs', admin, { set: { 'no.such.config': 1 } }, 400, 'INVALID_CONFIG'],
      [
        'PATCH',
        '/v1/topics/existing/configs',
        admin,
        { set: { 'min.insync.replicas': 0 } },
        400,
        'INVALID_CONFIG',
        /at least 1/,
      ],
      [
        'PATCH',
        '/v1/cluster/configs',
        admin,
        { delete: ['retention.ms'] },
        400,
        'INVALID_CONFIG',
        /Unknown cluster config/,
      ],
      [
        'POST',
        '/v1/elections/preferred',
        admin,
        { partitions: [{ topic: 'existing', partition: -1 }] },
        400,
        'INVALID_REQUEST',
      ],
      // Broker calls
      [
        'POST',
        '/v1/brokers/register',
        internal,
        {
          clusterId: 'other',
          brokerId: 2,
          incarnationId: '00000000-0000-4000-9000-000000000002',
          endpoint: { host: '127.0.0.1', port: 1 },
          rack: null,
        },
        409,
        'INCONSISTENT_CLUSTER_ID',
      ],
      [
        'POST',
        '/v1/brokers/register',
        internal,
        { clusterId: 'routes', brokerId: -1 },
        400,
        'INVALID_REQUEST',
        /body\.brokerId/,
      ],
      [
        'POST',
        '/v1/brokers/heartbeat',
        internal,
        { brokerId: 1, brokerEpoch: 999, metadataOffset: 0, wantFence: false, wantShutDown: false },
        409,
        'STALE_BROKER_EPOCH',
      ],
      [
        'POST',
        '/v1/brokers/heartbeat',
        internal,
        { brokerId: 7, brokerEpoch: 1, metadataOffset: 0, wantFence: false, wantShutDown: false },
        404,
        'BROKER_ID_NOT_REGISTERED',
      ],
      ['POST', '/v1/producer-ids', internal, { brokerId: 1, brokerEpoch: 999 }, 409, 'STALE_BROKER_EPOCH'],
      ['POST', '/v1/internal-topics', json, { name: '__consumer_offsets' }, 401, 'AUTHENTICATION_FAILED'],
      ['POST', '/v1/internal-topics', internal, { name: 'orders' }, 400, 'INVALID_REQUEST', /body\.name/],
      // One broker alive, offsets.topic.replication.factor 3: not yet.
      ['POST', '/v1/internal-topics', internal, { name: '__consumer_offsets' }, 400, 'INVALID_REPLICATION_FACTOR'],
      ['POST', '/v1/topics', admin, { name: '__consumer_offsets' }, 400, 'INVALID_TOPIC_EXCEPTION'],
      [
        'GET',
        '/v1/metadata/stream?fromOffset=-1',
        { 'x-millrace-cluster-secret': SECRET },
        undefined,
        400,
        'INVALID_REQUEST',
        /query\.fromOffset/,
      ],
      [
        'GET',
        '/v1/metadata/stream?surprise=1',
        { 'x-millrace-cluster-secret': SECRET },
        undefined,
        400,
        'INVALID_REQUEST',
        /surprise/,
      ],
      [
        'POST',
        '/v1/raft',
        { 'content-type': 'application/vnd.millrace.frame', 'x-millrace-cluster-secret': SECRET },
        'garbage',
        400,
        'INVALID_REQUEST',
        /Malformed frame/,
      ],
    ];
    const before = JSON.stringify(node.controller.image.toRecords());
    for (const [method, url, headers, payload, status, code, message] of cases) {
      const answer = await call(method, url, headers, payload);
      const label = `${method} ${url} ${typeof payload === 'string' ? payload.slice(0, 40) : JSON.stringify(payload)?.slice(0, 60)}`;
      expect(answer.status, label).toBe(status);
      expect(answer.body?.error?.code, label).toBe(code);
      if (message) expect(answer.body.error.message, label).toMatch(message);
    }
    expect(JSON.stringify(node.controller.image.toRecords())).toBe(before);
  });

  it('counts an unclean election in /metrics when a replica outside the ISR takes over', async () => {
    const reg2 = await call('POST', '/v1/brokers/register', internal, {
      clusterId: 'routes',
      brokerId: 2,
      incarnationId: '00000000-0000-4000-9000-000000000022',
      endpoint: { host: '127.0.0.1', port: 9002 },
      rack: null,
    });
    const epochOf = (id: number) => node.controller.image.broker(id)!.brokerEpoch;
    const beat = (brokerId: number, wantFence: boolean) =>
      call('POST', '/v1/brokers/heartbeat', internal, {
        brokerId,
        brokerEpoch: brokerId === 2 ? reg2.body.brokerEpoch : epochOf(1),
        metadataOffset: node.controller.image.offset,
        wantFence,
        wantShutDown: false,
      });
    await beat(2, false);
    const created = await call('POST', '/v1/topics', admin, {
      name: 'unclean',
      replicaAssignment: [[1, 2]],
      configs: { 'unclean.leader.election.enable': true },
    });
    expect(created.body.partitions[0]).toMatchObject({ leader: 1, isr: [1, 2] });
    await beat(2, true); // broker 2 fenced: ISR [1]
    await beat(1, true); // broker 1, the last ISR member, fenced: offline
    expect((await call('GET', '/v1/topics/unclean', {})).body.partitions[0].leader).toBeNull();
    await beat(2, false); // broker 2 back, not in the ISR: with unclean election on, it leads
    expect((await call('GET', '/v1/topics/unclean', {})).body.partitions[0]).toMatchObject({ leader: 2, isr: [2] });
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/millrace_controller_unclean_elections_total 1/);
    await beat(1, false);
    expect((await call('DELETE', '/v1/topics/unclean', { authorization: `Bearer ${ADMIN}` })).status).toBe(200);
  });

  it('answers the good calls: cluster, quorum, health, topics, configs, elections', async () => {
    expect((await call('GET', '/v1/cluster', {})).body).toMatchObject({ clusterId: 'routes', activeControllerId: 1 });
    expect((await call('GET', '/v1/cluster/quorum', {})).body).toMatchObject({
      leaderId: 1,
      voters: [{ nodeId: 1, lag: 0 }],
    });
    const health = (await call('GET', '/v1/cluster/health', {})).body;
    expect(health).toMatchObject({ healthy: true, brokersAlive: 2, offlinePartitions: [] });
    expect((await call('GET', '/v1/topics', {})).body.topics).toEqual([
      expect.objectContaining({ name: 'existing', partitions: 2, replicationFactor: 1, internal: false }),
    ]);
    const configs = await call('PATCH', '/v1/topics/existing/configs', admin, { set: { 'retention.ms': 60_000 } });
    expect(configs.body.configs).toContainEqual(
      expect.objectContaining({ name: 'retention.ms', value: '60000', source: 'topic' }),
    );
    const election = await call('POST', '/v1/elections/preferred', admin, {
      partitions: [{ topic: 'existing', partition: 0 }],
    });
    expect(election.body.results[0].error.code).toBe('ELECTION_NOT_NEEDED');
    const grown = await call('POST', '/v1/topics/existing/partitions', admin, { totalCount: 3 });
    expect(grown.body.partitions).toHaveLength(3);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/millrace_controller_active 1/);
    expect(metrics.body).toMatch(/millrace_raft_term \d+/);
    expect(metrics.body).toMatch(/millrace_controller_unclean_elections_total \d+/);
    const healthz = await app.inject({ method: 'GET', url: '/health' });
    expect(healthz.json()).toMatchObject({ status: 'ok', role: 'active' });
    expect((await call('DELETE', '/v1/topics/existing', { authorization: `Bearer ${ADMIN}` })).status).toBe(200);
  });
});
