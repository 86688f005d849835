import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildServer,
  ControllerConfigSchema,
  type ControllerNode,
  Forwarder,
  openControllerNode,
} from '@millrace/controller';
import { listen, type MillraceServer } from '@millrace/http';
import { LocalNetwork, type NodeId } from '@millrace/raft';

export const CLUSTER_ID = 'broker-test';
export const SECRET = 'broker-test-secret-0123456789';
export const ADMIN = 'broker-test-admin-0123456789';

export async function freePorts(count: number): Promise<number[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<number>((resolve) => {
          const server = createNetServer().listen(0, '127.0.0.1', () => {
            const { port } = server.address() as { port: number };
            server.close(() => resolve(port));
          });
        }),
    ),
  );
}

export interface Running {
  node: ControllerNode;
  server: MillraceServer;
  forwarder: Forwarder;
}

/**
 * Controllers in this process (Raft over the in-memory network, LevelDB in a temp folder), each
 * behind its real HTTP/2 server on a free loopback port: the broker's clients speak the real wire.
 */
export async function startControllers(count: number, options: { brokerSessionTimeoutMs?: number } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'millrace-broker-ctl-'));
  const ports = await freePorts(count);
  const ids = ports.map((_, i) => i + 1);
  const network = new LocalNetwork();
  const running = new Map<number, Running>();
  const voters = ids.map((id) => ({ nodeId: id, endpoint: { host: '127.0.0.1', port: ports[id - 1] as number } }));
  const start = async (id: number, initialize: boolean) => {
    const config = ControllerConfigSchema.parse({
      nodeId: id,
      clusterId: CLUSTER_ID,
      listen: voters[id - 1]?.endpoint,
      voters,
      dataDir: join(root, `c${id}`),
      adminToken: ADMIN,
      clusterSecret: SECRET,
      initialize,
      brokerSessionTimeoutMs: options.brokerSessionTimeoutMs ?? 1500,
    });
    const node = await openControllerNode({
      nodeId: id,
      voters: ids,
      dataDir: config.dataDir,
      initialize,
      settings: {
        clusterId: CLUSTER_ID,
        brokerSessionTimeoutMs: config.brokerSessionTimeoutMs,
        sessionCheckIntervalMs: 50,
      },
      raft: { tickMs: 10 },
    });
    const forwarder = new Forwarder(new Map(voters.map((v) => [v.nodeId, `http://127.0.0.1:${v.endpoint.port}`])));
    const server = buildServer({ config, node, forwarder, logger: false, streamHeartbeatIntervalMs: 200 });
    await listen(server, config.listen);
    network.attach(id as NodeId, node.raft);
    node.start(network.transportFor(id as NodeId));
    running.set(id, { node, server, forwarder });
  };
  for (const id of ids) await start(id, true);
  const stop = async (id: number) => {
    const r = running.get(id);
    if (r === undefined) return;
    running.delete(id);
    network.detach(id as NodeId);
    await r.server.close();
    await r.forwarder.close();
    await r.node.stop();
  };
  const active = async (): Promise<ControllerNode> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = [...running.values()].find((r) => r.node.controller.isActive);
      if (found) return found.node;
      if (Date.now() > deadline) throw new Error('no active controller');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return {
    endpoints: voters.map((v) => v.endpoint),
    running,
    start,
    stop,
    active,
    close: async () => {
      for (const id of [...running.keys()]) await stop(id);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
