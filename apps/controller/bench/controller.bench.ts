/**
 * The controller benchmark: three controller processes (dist/main.js) on loopback, three brokers
 * registered and heartbeating (played by this script), then:
 *   1. create one topic of 10,000 partitions at RF 3: time until the create answers;
 *   2. the metadata snapshot's size (the records that rebuild the image);
 *   3. kill -9 the active controller, with that metadata: time until another is active and has
 *      committed a write (several trials, the killed one restarted between them);
 *   4. stop one broker's heartbeats: time until every partition it led has a new leader.
 * Prints a table; the figures go to BENCHMARKS.md by hand, with the machine and the date.
 *
 * Run: pnpm --filter @millrace/controller bench   (builds first through turbo)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createH2Client, requestJson } from '@millrace/http';
import { MetadataImage } from '@millrace/metadata';
import {
  ClusterDescriptionSchema,
  DescribeConfigsResponseSchema,
  Headers,
  MetadataStreamFrameSchema,
  TopicDescriptionSchema,
} from '@millrace/protocol';
import type { Client } from 'undici';
import {
  controllerArgs,
  freePorts,
  heartbeatFakeBroker,
  killHard,
  type Proc,
  registerFakeBroker,
  spawnNode,
  stop,
  waitFor,
} from '../test/harness.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const CLUSTER = 'bench';
const ADMIN = 'bench-admin-token-0123456789';
const SECRET = 'bench-cluster-secret-0123456789';
const PARTITIONS = Number(process.env.PARTITIONS ?? 10_000);
const FAILOVER_TRIALS = Number(process.env.FAILOVER_TRIALS ?? 5);
const ids = [1, 2, 3];
const secret = { [Headers.clusterSecret]: SECRET };

const root = mkdtempSync(join(tmpdir(), 'millrace-ctl-bench-'));
const ports = await freePorts(3);
const procs = new Map<number, Proc>();
const clients = new Map<number, Client>();

function start(id: number, initialize: boolean): void {
  const args = controllerArgs({
    id,
    ports,
    root,
    clusterId: CLUSTER,
    adminToken: ADMIN,
    clusterSecret: SECRET,
    initialize,
  });
  procs.set(id, spawnNode(`controller-${id}`, MAIN, args));
}
function client(id: number): Client {
  let c = clients.get(id);
  if (c === undefined) {
    c = createH2Client(`http://127.0.0.1:${ports[id - 1]}`, { connectTimeoutMs: 300 });
    clients.set(id, c);
  }
  return c;
}
const cluster = (id: number) =>
  requestJson(client(id), {
    method: 'GET',
    path: '/v1/cluster',
    responseSchema: ClusterDescriptionSchema,
    timeoutMs: 1000,
  });
const live = () =>
  ids.filter((id) => procs.get(id)?.child.exitCode === null && procs.get(id)?.child.signalCode === null);
async function active(excluding: number[] = []): Promise<number> {
  return waitFor(
    'an active controller',
    async () => {
      const answers = await Promise.all(
        live()
          .filter((id) => !excluding.includes(id))
          .map((id) => cluster(id)),
      );
      const a = answers[0]?.activeControllerId;
      return a !== null && a !== undefined && !excluding.includes(a) && answers.every((x) => x.activeControllerId === a)
        ? a
        : undefined;
    },
    30_000,
  );
}

const brokerEpochs = new Map<number, number>();
const silent = new Set<number>();
/** When each broker's last heartbeat was answered (performance.now()). */
const lastAnswered = new Map<number, number>();
let heartbeatTimer: NodeJS.Timeout | undefined;

async function beat(brokerId: number): Promise<void> {
  const leader = (await cluster(live()[0] ?? 1)).activeControllerId;
  if (leader === null) return;
  const offset = (await cluster(leader)).metadataOffset;
  await heartbeatFakeBroker(client(leader), {
    clusterSecret: SECRET,
    brokerId,
    brokerEpoch: brokerEpochs.get(brokerId),
    metadataOffset: offset,
  });
  lastAnswered.set(brokerId, performance.now());
}

const rows: [string, string][] = [];
try {
  for (const id of ids) start(id, true);
  const first = await active();
  for (const brokerId of [1, 2, 3]) {
    const brokerEpoch = await registerFakeBroker(client(first), {
      clusterId: CLUSTER,
      clusterSecret: SECRET,
      brokerId,
    });
    brokerEpochs.set(brokerId, brokerEpoch);
  }
  heartbeatTimer = setInterval(() => {
    for (const brokerId of brokerEpochs.keys()) if (!silent.has(brokerId)) beat(brokerId).catch(() => undefined);
  }, 500);
  await waitFor('three live brokers', async () => (await cluster(first)).brokers.every((b) => b.state === 'alive'));

  // 1. Creation.
  const created = performance.now();
  await requestJson(client(first), {
    method: 'POST',
    path: '/v1/topics',
    headers: { authorization: `Bearer ${ADMIN}` },
    body: { name: 'big', partitions: PARTITIONS, replicationFactor: 3 },
    responseSchema: TopicDescriptionSchema,
    timeoutMs: 60_000,
  });
  rows.push([
    `create ${PARTITIONS.toLocaleString('en')} partitions, RF 3`,
    `${(performance.now() - created).toFixed(0)} ms`,
  ]);

  // 2. Snapshot size: rebuild the image from the stream and measure the records that rebuild it.
  const image = new MetadataImage();
  const response = await client(first).request({
    method: 'GET',
    path: '/v1/metadata/stream?fromOffset=0',
    headers: secret,
  });
  let buffered = '';
  const target = (await cluster(first)).metadataOffset;
  for await (const chunk of response.body) {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const frame = MetadataStreamFrameSchema.parse(JSON.parse(line));
      if (frame.kind === 'batch') for (const record of frame.records) image.applyUnchecked(frame.offset, record);
    }
    if (image.offset >= target) break;
  }
  response.body.destroy();
  const snapshotBytes = Buffer.byteLength(JSON.stringify({ offset: image.offset, records: image.toRecords() }));
  rows.push([
    'metadata snapshot size',
    `${(snapshotBytes / 1024 / 1024).toFixed(2)} MiB (${image.toRecords().length.toLocaleString('en')} records)`,
  ]);

  // 3. Failover with that metadata.
  const failovers: number[] = [];
  for (let trial = 0; trial < FAILOVER_TRIALS; trial++) {
    const killed = await active();
    const killedAt = performance.now();
    await killHard(procs.get(killed) as Proc);
    await clients.get(killed)?.destroy();
    clients.delete(killed);
    const next = await active([killed]);
    await requestJson(client(next), {
      method: 'PATCH',
      path: '/v1/topics/big/configs',
      headers: { authorization: `Bearer ${ADMIN}` },
      body: { set: { 'retention.ms': 3_600_000 + trial } },
      responseSchema: DescribeConfigsResponseSchema,
      timeoutMs: 10_000,
    });
    failovers.push(performance.now() - killedAt);
    start(killed, false);
    await waitFor(
      'the killed controller to catch up',
      async () => (await cluster(killed)).metadataOffset >= (await cluster(next)).metadataOffset,
      60_000,
    );
  }
  failovers.sort((a, b) => a - b);
  rows.push([
    `kill -9 active → new active commits a write (${FAILOVER_TRIALS} trials)`,
    `median ${failovers[Math.floor(failovers.length / 2)]?.toFixed(0)} ms, max ${failovers.at(-1)?.toFixed(0)} ms`,
  ]);

  // 4. A broker's heartbeats stop: its leaderships move.
  const leaderNow = await active();
  const victim = 2;
  // Its session runs from its last answered heartbeat, which the failovers above may have delayed:
  // silence it only once one has been answered since the new active controller took over.
  const since = performance.now();
  await waitFor(
    'a heartbeat of the victim to be answered',
    async () => (lastAnswered.get(victim) ?? 0) > since,
    10_000,
  );
  silent.add(victim);
  const silencedAt = lastAnswered.get(victim) as number;
  await waitFor(
    'the silent broker to lead nothing',
    async () => {
      const topic = await requestJson(client(leaderNow), {
        method: 'GET',
        path: '/v1/topics/big',
        responseSchema: TopicDescriptionSchema,
        timeoutMs: 10_000,
      });
      return topic.partitions.every((p) => p.leader !== victim && p.leader !== null);
    },
    60_000,
  );
  const movedMs = performance.now() - silencedAt;
  rows.push([
    `broker silent → its ${Math.round(PARTITIONS / 3).toLocaleString('en')} leaderships moved`,
    `${movedMs.toFixed(0)} ms from its last answered heartbeat (the controllers' session timeout, 2000 ms by default, included)`,
  ]);
} finally {
  clearInterval(heartbeatTimer);
  for (const c of clients.values()) await c.destroy().catch(() => undefined);
  await Promise.all([...procs.values()].map((proc) => stop(proc)));
  rmSync(root, { recursive: true, force: true });
}

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs`);
console.log('| measure | result |\n| --- | --- |');
for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
