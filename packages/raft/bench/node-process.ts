/**
 * One Raft node as a process, for the benchmark: LevelDB storage, the HTTP/2 transport, a state
 * machine that only counts, and two benchmark routes: GET /bench/status and POST /bench/load,
 * which proposes from this node (as an application on the leader would) and reports commits/s
 * and commit latencies. Arguments: id, comma-separated ports of nodes 1..n, data folder.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
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
  // The runtime's defaults unless the benchmark is asked to try others.
  tickMs: optionalNumber(process.env.RAFT_TICK_MS),
  electionTimeoutTicks: optionalNumber(process.env.RAFT_ELECTION_TIMEOUT_TICKS),
  heartbeatTimeoutTicks: optionalNumber(process.env.RAFT_HEARTBEAT_TIMEOUT_TICKS),
});
function optionalNumber(text: string | undefined): number | undefined {
  return text === undefined ? undefined : Number(text);
}
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

// RAFT_BENCH_DEBUG=1 logs leadership and role changes and event-loop stalls, to explain slow figures.
node.onLeaderChange((change) => {
  if (process.env.RAFT_BENCH_DEBUG)
    console.error(`[${Date.now() % 100000}] node ${id}: leader ${change.leaderId} term ${change.term}`);
});
if (process.env.RAFT_BENCH_DEBUG) {
  // Role and term as they change (sampled every 5 ms), to tell one election round from two.
  let seen = '';
  setInterval(() => {
    const { role, term } = node.status();
    const now = `${role} term ${term}`;
    if (now !== seen) console.error(`[${Date.now() % 100000}] node ${id}: ${now}`);
    seen = now;
  }, 5).unref();
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 150)
      console.error(`[${Date.now() % 100000}] node ${id}: event loop stalled ${(now - last - 50).toFixed(0)} ms`);
    last = now;
  }, 50);
}
// Counters for RAFT_BENCH_DEBUG: what the runtime does per second under load (GET /bench/stats).
const stats = {
  rejects: 0,
  readies: 0,
  readyEntries: 0,
  persistMs: 0,
  syncs: 0,
  sent: 0,
  sendCalls: 0,
  received: 0,
  receiveCalls: 0,
};
if (process.env.RAFT_BENCH_DEBUG) {
  const persist = storage.persistReady.bind(storage);
  storage.persistReady = async (ready) => {
    stats.readies++;
    stats.readyEntries += ready.entries.length;
    if (ready.mustSync) stats.syncs++;
    const t0 = performance.now();
    await persist(ready);
    stats.persistMs += performance.now() - t0;
  };
  const receive = node.receive.bind(node);
  node.receive = (messages) => {
    stats.receiveCalls++;
    stats.received += messages.length;
    for (const m of messages) if (m.type === 'AppResp' && m.reject) stats.rejects++;
    receive(messages);
  };
}
// The benchmark's RAFT_BENCH_CPU_PROF: a V8 CPU profile of this process around one load.
const ProfileSchema = z.strictObject({ action: z.enum(['start', 'stop']), file: z.string() });
let profiler: Session | undefined;
app.post('/bench/profile', async (request) => {
  const { action, file } = ProfileSchema.parse(request.body);
  if (action === 'start') {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  } else if (profiler !== undefined) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    profiler.disconnect();
    profiler = undefined;
  }
  return {};
});
app.get('/bench/stats', async () => {
  const cpu = process.cpuUsage();
  return { ...stats, atMs: performance.now(), cpuMs: (cpu.user + cpu.system) / 1000 };
});
await listen(app, { host: '127.0.0.1', port: ports[id - 1] as number });
const transport = new HttpRaftTransport({
  clusterId: CLUSTER,
  self: id,
  peers: new Map(voters.map((v) => [v, `http://127.0.0.1:${ports[v - 1]}`] as const)),
  clusterSecret: SECRET,
  sink: node,
});
if (process.env.RAFT_BENCH_DEBUG) {
  const send = transport.send.bind(transport);
  transport.send = (messages) => {
    stats.sendCalls++;
    stats.sent += messages.length;
    send(messages);
  };
}
node.start(transport);
process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => node.stop())
    .then(() => process.exit(0));
});
