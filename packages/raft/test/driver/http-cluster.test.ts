import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, listen, type MillraceServer } from '@millrace/http';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRaftTransport, registerRaftRoute } from '../../src/driver/http-transport.js';
import { LevelRaftStorage } from '../../src/driver/level-storage.js';
import { RaftNode } from '../../src/driver/node.js';
import { encodeRaftFrame } from '../../src/driver/wire.js';
import type { NodeId } from '../../src/index.js';
import { ListMachine, waitFor } from './support.js';

const CLUSTER = 'http-raft';
const SECRET = 'raft-test-secret-0123456789';
const voters = [1, 2, 3] as NodeId[];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Member {
  id: NodeId;
  node: RaftNode<number>;
  machine: ListMachine;
  server: MillraceServer;
  port: number;
  stop(): Promise<void>;
}

/**
 * Three nodes in this process, each with its own LevelDB folder, fastify h2c server and HTTP/2
 * transport: everything but the process boundary is real.
 */
async function startCluster() {
  const root = mkdtempSync(join(tmpdir(), 'millrace-raft-http-'));
  cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
  const ports = new Map<number, number>();
  const members = new Map<number, Member>();

  const start = async (id: NodeId, initialize: boolean, port = 0): Promise<Member> => {
    const storage = await LevelRaftStorage.open(join(root, `n${id}`), {
      clusterId: CLUSTER,
      nodeId: id,
      voters,
      initialize,
    });
    const machine = new ListMachine();
    const node = new RaftNode<number>({ id, storage, stateMachine: machine, tickMs: 20, seed: id });
    const server = createServer({ logger: false });
    registerRaftRoute(server, { clusterId: CLUSTER, self: id, voters, clusterSecret: SECRET, sink: node });
    const bound = await listen(server, { host: '127.0.0.1', port });
    ports.set(id, bound.port);
    const member: Member = {
      id,
      node,
      machine,
      server,
      port: bound.port,
      stop: async () => {
        members.delete(id);
        await server.close();
        await node.stop();
      },
    };
    members.set(id, member);
    return member;
  };
  const connect = (member: Member) => {
    const peers = new Map(voters.map((v) => [v, `http://127.0.0.1:${ports.get(v)}`] as const));
    member.node.start(
      new HttpRaftTransport({ clusterId: CLUSTER, self: member.id, peers, clusterSecret: SECRET, sink: member.node }),
    );
  };
  for (const id of voters) await start(id, true);
  for (const member of members.values()) connect(member);
  cleanups.push(async () => {
    for (const member of [...members.values()]) await member.stop();
  });
  const leader = () => waitFor('a leader', () => [...members.values()].find((m) => m.node.isLeader), 15_000);
  return { members, start, connect, leader, ports };
}

describe('raft over HTTP/2 with LevelDB (three nodes in process)', () => {
  it('elects, replicates, loses its leader, restarts it from disk, and every node agrees', async () => {
    const cluster = await startCluster();
    const first = await cluster.leader();
    await Promise.all(Array.from({ length: 100 }, (_, i) => first.node.propose(Buffer.from(`a${i}`))));

    // The leader dies abruptly: its server goes, its node stops; nothing is handed over.
    const deadId = first.id;
    const deadPort = first.port;
    await first.stop();
    const second = await waitFor(
      'a new leader',
      () => [...cluster.members.values()].find((m) => m.node.isLeader),
      15_000,
    );
    expect(second.id).not.toBe(deadId);
    await Promise.all(Array.from({ length: 100 }, (_, i) => second.node.propose(Buffer.from(`b${i}`))));

    // It comes back on its port with only what it had made durable, and catches up.
    const restarted = await cluster.start(deadId, false, deadPort);
    cluster.connect(restarted);
    await waitFor(
      'all nodes to apply 200 entries',
      () => [...cluster.members.values()].every((m) => m.machine.items.length === 200),
      15_000,
    );
    const lists = [...cluster.members.values()].map((m) => m.machine.items.join(','));
    expect(new Set(lists).size).toBe(1);
    const expected = [
      ...Array.from({ length: 100 }, (_, i) => `a${i}`),
      ...Array.from({ length: 100 }, (_, i) => `b${i}`),
    ];
    expect([...lists[0]!.split(',')].sort()).toEqual(expected.sort());
  });

  it.each(['inject', 'wire'] as const)(
    'refuses Raft traffic without the cluster secret or from another cluster, changing nothing (%s)',
    async (via) => {
      const cluster = await startCluster();
      const leader = await cluster.leader();
      const target = [...cluster.members.values()].find((m) => m !== leader)!;
      const term = target.node.status().term;
      const vote = (clusterId: string) =>
        encodeRaftFrame(clusterId, leader.id, [
          {
            type: 'Vote',
            from: leader.id,
            to: target.id,
            term: (term + 100) as never,
            lastLogIndex: 0 as never,
            lastLogTerm: 0 as never,
            transfer: false,
          },
        ]);
      // Through fastify (inject) and over a real h2c connection, where the hot route serves it.
      const session = via === 'wire' ? connect(`http://127.0.0.1:${target.port}`) : undefined;
      cleanups.push(async () => session?.close());
      const post = async (headers: Record<string, string>, body: Uint8Array) => {
        const all = { 'content-type': 'application/vnd.millrace.frame', ...headers };
        if (session === undefined) {
          const answer = await target.server.inject({
            method: 'POST',
            url: '/v1/raft',
            headers: all,
            payload: Buffer.from(body),
          });
          return { status: answer.statusCode, body: answer.body };
        }
        return new Promise<{ status: number; body: string }>((resolve, reject) => {
          const stream = session.request({ ':method': 'POST', ':path': '/v1/raft', ...all });
          let status = 0;
          let text = '';
          stream.on('response', (h) => {
            status = Number(h[':status']);
          });
          stream.setEncoding('utf8');
          stream.on('data', (chunk: string) => {
            text += chunk;
          });
          stream.on('end', () => resolve({ status, body: text }));
          stream.on('error', reject);
          stream.end(Buffer.from(body));
        });
      };
      const codeOf = (answer: { body: string }) => JSON.parse(answer.body).error.code;
      const noSecret = await post({}, vote(CLUSTER));
      expect(noSecret.status).toBe(401);
      expect(codeOf(noSecret)).toBe('AUTHENTICATION_FAILED');
      const wrongSecret = await post({ 'x-millrace-cluster-secret': 'wrong-secret-0123456789' }, vote(CLUSTER));
      expect(wrongSecret.status).toBe(401);
      const json = await post(
        { 'x-millrace-cluster-secret': SECRET, 'content-type': 'application/json' },
        Buffer.from('{"type":"Vote"}'),
      );
      expect(json.status).toBe(415);
      expect(codeOf(json)).toBe('UNSUPPORTED_MEDIA_TYPE');
      const otherCluster = await post({ 'x-millrace-cluster-secret': SECRET }, vote('other'));
      expect(otherCluster.status).toBe(409);
      expect(codeOf(otherCluster)).toBe('INCONSISTENT_CLUSTER_ID');
      const garbage = await post({ 'x-millrace-cluster-secret': SECRET }, Buffer.from('garbage'));
      expect(garbage.status).toBe(400);
      expect(codeOf(garbage)).toBe('INVALID_REQUEST');
      expect(target.node.status().term).toBeLessThan(term + 100);
      // A well-formed request is accepted with an empty 200.
      const heartbeat = await post(
        { 'x-millrace-cluster-secret': SECRET },
        encodeRaftFrame(CLUSTER, leader.id, [
          { type: 'Heartbeat', from: leader.id, to: target.id, term, commit: 0 as never, context: null },
        ]),
      );
      expect(heartbeat.status).toBe(200);
      expect(heartbeat.body).toBe('');
    },
  );
});
