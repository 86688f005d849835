/**
 * One Raft node as a process, for the benchmark: LevelDB storage, the HTTP/2 transport, a state
 * machine that only counts, and two benchmark routes: GET /bench/status and POST /bench/load,
 * which proposes from this node (as an application on the leader would) and reports commits/s
 * and commit latencies. Arguments: id, comma-separated ports of nodes 1..n, data folder.
 */
import { createServer, listen } from '@millrace/http';
import { z } from 'zod';
import { HttpRaftTransport, registerRaftRoute } from '../src/driver/http-transport.js';
import { LevelRaftStorage } from '../src/driver/level-storage.js';
import { RaftNode } from '../src/driver/node.js';
import type { NodeId } from '../src/index.js';

const [idText, portsText, dataDir, initialize] = process.argv.slice(2);
const id = Number(idText) as NodeId;
const ports = (portsText ?? '').split(',').map(Number);
const voters = ports.map((_, i) => (i + 1) as NodeId);
const CLUSTER = 'raft-bench';
const SECRET = 'raft-bench-secret-0123456789';

let applied = 0;
const storage = await LevelRaftStorage.open(dataDir as string, {
  clusterId: CLUSTER,
  nodeId: id,
  voters,
  initialize: initialize === 'init',
});
const node = new RaftNode<number>({
  id,
  storage,
  stateMachine: {
    apply: () => ++applied,
    snapshot: () => Buffer.from(String(applied)),
    restore: (snapshot) => {
      applied = Number(Buffer.from(snapshot.data).toString());
    },
  },
  snapshotEveryEntries: 100_000,
});
const app = createServer({ logger: false, bodyLimitBytes: 64 * 1024 * 1024 });
registerRaftRoute(app, { clusterId: CLUSTER, self: id, voters, clusterSecret: SECRET, sink: node });
app.get('/bench/status', async () => ({
  id,
  isLeader: node.isLeader,
  leaderId: node.leaderId,
  term: node.status().term,
  applied,
}));

const LoadSchema = z.strictObject({
  inFlight: z.int().min(1).max(10_000),
  entries: z.int().min(1),
  entryBytes: z.int().min(1),
});
app.post('/bench/load', { handlerTimeout: 600_000 }, async (request) => {
  const { inFlight, entries, entryBytes } = LoadSchema.parse(request.body);
  const payload = Buffer.alloc(entryBytes, 0x61);
  const latencies = new Float64Array(entries);
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < entries) {
      const i = next++;
      const t0 = performance.now();
      await node.propose(payload, 30_000);
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort();
  const at = (q: number) => latencies[Math.min(entries - 1, Math.floor(q * entries))] as number;
  return { commitsPerSecond: entries / seconds, p50Ms: at(0.5), p99Ms: at(0.99) };
});

// RAFT_BENCH_DEBUG=1 logs leadership changes and event-loop stalls, to explain slow figures.
node.onLeaderChange((change) => {
  if (process.env.RAFT_BENCH_DEBUG)
    console.error(`[${Date.now() % 100000}] node ${id}: leader ${change.leaderId} term ${change.term}`);
});
if (process.env.RAFT_BENCH_DEBUG) {
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 150)
      console.error(`[${Date.now() % 100000}] node ${id}: event loop stalled ${(now - last - 50).toFixed(0)} ms`);
    last = now;
  }, 50);
}
await listen(app, { host: '127.0.0.1', port: ports[id - 1] as number });
node.start(
  new HttpRaftTransport({
    clusterId: CLUSTER,
    self: id,
    peers: new Map(voters.map((v) => [v, `http://127.0.0.1:${ports[v - 1]}`] as const)),
    clusterSecret: SECRET,
    sink: node,
  }),
);
process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => node.stop())
    .then(() => process.exit(0));
});
