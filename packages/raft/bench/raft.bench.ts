/**
 * The Raft benchmark: three node processes (bench/node-process.ts) with LevelDB and HTTP/2 on
 * loopback, default timeouts (tick 50 ms, election 10 ticks). Measures committed proposals per
 * second and commit latency for 100 B entries with 1 and with 256 proposals in flight, and the time
 * from the leader's kill -9 to a new leader, over 20 trials.
 *
 * Run: pnpm --filter @millrace/raft bench   (TRIALS, ENTRIES_1, ENTRIES_256 to change the run)
 *
 * To see where the time goes: RAFT_BENCH_DEBUG=1 logs each node's role, term and leader as they
 * change, every kill and how long its election took, and event-loop stalls, and prints what each
 * node did during each load (CPU, Ready rounds, entries per Ready, time per persist, synced
 * writes, messages and requests, rejected appends) and the three nodes' CPU per commit;
 * RAFT_BENCH_CPU_PROF=<folder> writes each node's V8 CPU profile of the 256-in-flight load there
 * (node<id>.cpuprofile). RAFT_TICK_MS, RAFT_ELECTION_TIMEOUT_TICKS and
 * RAFT_HEARTBEAT_TIMEOUT_TICKS replace the runtime's default timing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createH2Client, requestJson } from '@millrace/http';
import type { Client } from 'undici';
import { z } from 'zod';

const SCRIPT = fileURLToPath(new URL('./node-process.ts', import.meta.url));
const TRIALS = Number(process.env.TRIALS ?? 20);
const ENTRIES_1 = Number(process.env.ENTRIES_1 ?? 3_000);
const ENTRIES_256 = Number(process.env.ENTRIES_256 ?? 100_000);
const DEBUG = process.env.RAFT_BENCH_DEBUG !== undefined;
const CPU_PROF = process.env.RAFT_BENCH_CPU_PROF;

const root = mkdtempSync(join(tmpdir(), 'millrace-raft-bench-'));
const ports = await Promise.all(
  [1, 2, 3].map(
    () =>
      new Promise<number>((resolve) => {
        const server = createNetServer().listen(0, '127.0.0.1', () => {
          const { port } = server.address() as { port: number };
          server.close(() => resolve(port));
        });
      }),
  ),
);
const children = new Map<number, ChildProcess>();
const exits = new Map<number, Promise<unknown>>();
const clients = new Map<number, Client>();

function start(id: number, init: boolean): void {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', SCRIPT, String(id), ports.join(','), join(root, `n${id}`), init ? 'init' : ''],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  children.set(id, child);
  exits.set(id, new Promise((resolve) => child.once('exit', resolve)));
}
function client(id: number): Client {
  let c = clients.get(id);
  if (c === undefined) {
    c = createH2Client(`http://127.0.0.1:${ports[id - 1]}`, { connectTimeoutMs: 200 });
    clients.set(id, c);
  }
  return c;
}
const StatusSchema = z.object({
  id: z.number(),
  isLeader: z.boolean(),
  leaderId: z.number(),
  term: z.number(),
  applied: z.number(),
});
const status = (id: number) =>
  requestJson(client(id), { method: 'GET', path: '/bench/status', responseSchema: StatusSchema, timeoutMs: 500 });

async function leader(excluding?: number, deadlineMs = 30_000): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    for (const id of [1, 2, 3]) {
      if (id === excluding) continue;
      const s = await status(id).catch(() => undefined);
      if (s?.isLeader) return id;
    }
    if (Date.now() > deadline) throw new Error('no leader');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const StatsSchema = z.object({
  rejects: z.number(),
  readies: z.number(),
  readyEntries: z.number(),
  persistMs: z.number(),
  syncs: z.number(),
  sent: z.number(),
  sendCalls: z.number(),
  received: z.number(),
  receiveCalls: z.number(),
  atMs: z.number(),
  cpuMs: z.number(),
});
const stats = (id: number) =>
  requestJson(client(id), { method: 'GET', path: '/bench/stats', responseSchema: StatsSchema, timeoutMs: 2000 });

/** Per-second rates of one node between two samples of its counters. */
function describeStats(id: number, a: z.infer<typeof StatsSchema>, b: z.infer<typeof StatsSchema>): string {
  const s = (b.atMs - a.atMs) / 1000;
  const d = (k: keyof typeof a) => b[k] - a[k];
  const per = (x: number, y: number) => (y === 0 ? '-' : (x / y).toFixed(2));
  return (
    `node ${id}: cpu ${((100 * d('cpuMs')) / (b.atMs - a.atMs)).toFixed(0)}%, ${(d('readies') / s).toFixed(0)} Readies/s, ${per(d('readyEntries'), d('readies'))} entries/Ready, ${per(d('persistMs'), d('readies'))} ms/persist, ` +
    `${(d('syncs') / s).toFixed(0)} synced writes/s, sent ${(d('sent') / s).toFixed(0)} msgs/s in ${(d('sendCalls') / s).toFixed(0)} sends/s, ` +
    `received ${(d('receiveCalls') / s).toFixed(0)} requests/s with ${per(d('received'), d('receiveCalls'))} msgs each, ${d('rejects')} rejections`
  );
}

const profile = (id: number, action: 'start' | 'stop') =>
  requestJson(client(id), {
    method: 'POST',
    path: '/bench/profile',
    body: { action, file: join(CPU_PROF ?? '.', `node${id}.cpuprofile`) },
    responseSchema: z.object({}),
    timeoutMs: 30_000,
  });

const LoadResultSchema = z.object({ commitsPerSecond: z.number(), p50Ms: z.number(), p99Ms: z.number() });
const load = async (inFlight: number, entries: number) =>
  requestJson(client(await leader()), {
    method: 'POST',
    path: '/bench/load',
    body: { inFlight, entries, entryBytes: 100 },
    responseSchema: LoadResultSchema,
    timeoutMs: 600_000,
  });

const rows: string[] = [];
try {
  for (const id of [1, 2, 3]) start(id, true);
  await leader();
  await load(64, 5_000); // warm-up
  for (const [inFlight, entries] of [
    [1, ENTRIES_1],
    [256, ENTRIES_256],
  ] as const) {
    const before = DEBUG ? await Promise.all([1, 2, 3].map(stats)) : [];
    const profiling = CPU_PROF !== undefined && inFlight === 256;
    if (profiling) await Promise.all([1, 2, 3].map((id) => profile(id, 'start')));
    const r = await load(inFlight, entries);
    if (profiling) await Promise.all([1, 2, 3].map((id) => profile(id, 'stop')));
    if (DEBUG) {
      const after = await Promise.all([1, 2, 3].map(stats));
      console.error(`${inFlight} in flight:`);
      for (const i of [0, 1, 2]) console.error(`  ${describeStats(i + 1, before[i]!, after[i]!)}`);
      const cpuMs = [0, 1, 2].reduce((sum, i) => sum + after[i]!.cpuMs - before[i]!.cpuMs, 0);
      console.error(`  CPU of the three nodes per commit: ${((cpuMs * 1000) / entries).toFixed(0)} µs`);
    }
    rows.push(
      `| 100 B entries, ${inFlight} in flight (${entries.toLocaleString('en')}) | ${Math.round(r.commitsPerSecond).toLocaleString('en')} | ${r.p50Ms.toFixed(2)} ms | ${r.p99Ms.toFixed(2)} ms |`,
    );
  }

  const elections: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const killed = await leader();
    const t0 = performance.now();
    children.get(killed)?.kill('SIGKILL');
    if (DEBUG) console.error(`[${Date.now() % 100000}] kill -9 of node ${killed}, the leader`);
    await clients.get(killed)?.destroy();
    clients.delete(killed);
    await leader(killed);
    elections.push(performance.now() - t0);
    if (DEBUG) console.error(`  a new leader after ${(elections.at(-1) as number).toFixed(0)} ms`);
    await exits.get(killed);
    start(killed, false);
    // The next trial starts from a settled cluster: all three up, agreeing on the leader and caught
    // up, so a restarting process's start-up work does not slow the survivors' clocks.
    const settleBy = Date.now() + 30_000;
    for (;;) {
      const all = await Promise.all([1, 2, 3].map((id) => status(id).catch(() => undefined)));
      const agreed = all.every(
        (s) => s !== undefined && s.leaderId === all[0]?.leaderId && s.leaderId !== 0 && s.applied === all[0]?.applied,
      );
      if (agreed) break;
      if (Date.now() > settleBy) throw new Error('the cluster did not settle after a restart');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  elections.sort((a, b) => a - b);
  if (elections.length === 0) elections.push(Number.NaN);
  const q = (p: number) => elections[Math.min(elections.length - 1, Math.floor(p * elections.length))] as number;
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs`);
  console.log('| load | commits/s | p50 commit latency | p99 commit latency |\n| --- | --: | --: | --: |');
  for (const row of rows) console.log(row);
  console.log(
    `\nkill -9 of the leader → a new leader, ${TRIALS} trials: p50 ${q(0.5).toFixed(0)} ms, p99 ${q(0.99).toFixed(0)} ms, max ${elections.at(-1)?.toFixed(0)} ms`,
  );
} finally {
  for (const c of clients.values()) await c.destroy().catch(() => undefined);
  for (const child of children.values()) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
