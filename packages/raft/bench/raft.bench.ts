/**
 * The Raft benchmark: three node processes (bench/node-process.ts) with LevelDB and HTTP/2 on
 * loopback, default timeouts (tick 50 ms, election 10 ticks). Measures committed proposals per
 * second and commit latency for 100 B entries with 1 and with 256 proposals in flight, and the time
 * from the leader's kill -9 to a new leader, over 20 trials.
 *
 * Run: pnpm --filter @millrace/raft bench   (TRIALS, ENTRIES_1, ENTRIES_256 to change the run)
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
    const r = await load(inFlight, entries);
    rows.push(
      `| 100 B entries, ${inFlight} in flight (${entries.toLocaleString('en')}) | ${Math.round(r.commitsPerSecond).toLocaleString('en')} | ${r.p50Ms.toFixed(2)} ms | ${r.p99Ms.toFixed(2)} ms |`,
    );
  }

  const elections: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const killed = await leader();
    const t0 = performance.now();
    children.get(killed)?.kill('SIGKILL');
    await clients.get(killed)?.destroy();
    clients.delete(killed);
    await leader(killed);
    elections.push(performance.now() - t0);
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
