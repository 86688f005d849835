/**
 * The costs behind the Raft runtime's choices, each measured alone in one process (the figures
 * and the reasoning are in BENCHMARKS.md, packages/raft):
 *
 * - decoding a frame of Raft messages: per message for a frame of 100 acknowledgements, per entry
 *   for one append of 100 entries (what coalescing appends turns the first into);
 * - a synced LevelDB write of 100 entries as an array batch and as a chained batch;
 * - one frame request to a Millrace server (fastify, h2c) over undici's HTTP/2 client and over a
 *   `node:http2` session, one at a time and 16 at a time.
 *
 * Run: npx tsx bench/runtime-parts.bench.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFrameSession,
  createH2Client,
  createServer,
  frameBody,
  listen,
  requestFrame,
  requireClusterSecret,
} from '@millrace/http';
import { Level } from 'level';
import { decodeRaftFrame, encodeRaftFrame } from '../src/driver/wire.js';
import type { Entry, LogIndex, Message, NodeId, Term } from '../src/index.js';

/** Wall time per call of `fn`, in µs, after a warm-up, over about a second. */
function timeSync(fn: () => void): number {
  for (let i = 0; i < 200; i++) fn();
  const started = performance.now();
  let calls = 0;
  while (performance.now() - started < 1000) {
    fn();
    calls++;
  }
  return ((performance.now() - started) * 1000) / calls;
}

/** Wall and CPU time (this process) per call of `fn`, in µs. */
async function timeAsync(fn: () => Promise<void>, calls: number): Promise<{ wallUs: number; cpuUs: number }> {
  for (let i = 0; i < Math.min(300, calls); i++) await fn();
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < calls; i++) await fn();
  const used = process.cpuUsage(cpu);
  return { wallUs: ((performance.now() - started) * 1000) / calls, cpuUs: (used.user + used.system) / calls };
}

const rows: string[] = [];
const row = (what: string, figure: string) => rows.push(`| ${what} | ${figure} |`);

// --- Frames ---------------------------------------------------------------------------------
const data = Buffer.alloc(113, 0x61);
const head = { from: 1 as NodeId, to: 2 as NodeId, term: 5 as Term };
const acks: Message[] = Array.from({ length: 100 }, (_, i) => ({
  ...head,
  from: 2 as NodeId,
  to: 1 as NodeId,
  type: 'AppResp',
  index: (1000 + i) as LogIndex,
  reject: false,
  rejectHint: 0 as LogIndex,
  logTerm: 0 as Term,
}));
const entries: Entry[] = Array.from({ length: 100 }, (_, i) => ({
  term: 5 as Term,
  index: (1000 + i) as LogIndex,
  type: 'normal',
  data,
}));
const appends: Message[] = entries.map((entry) => ({
  ...head,
  type: 'App',
  prevLogIndex: (entry.index - 1) as LogIndex,
  prevLogTerm: 5 as Term,
  entries: [entry],
  commit: 900 as LogIndex,
}));
const oneAppend: Message[] = [
  { ...head, type: 'App', prevLogIndex: 999 as LogIndex, prevLogTerm: 5 as Term, entries, commit: 900 as LogIndex },
];
const peers = new Set([1, 2, 3]);
const ackFrame = encodeRaftFrame('bench', 2 as NodeId, acks);
const appendsFrame = encodeRaftFrame('bench', 1 as NodeId, appends);
const oneAppendFrame = encodeRaftFrame('bench', 1 as NodeId, oneAppend);
const perHundred = (us: number) => `${(us / 100).toFixed(2)} µs`;
row(
  'decode a frame of 100 acknowledgements, per message',
  perHundred(timeSync(() => decodeRaftFrame(ackFrame, { clusterId: 'bench', to: 1 as NodeId, peers }))),
);
row(
  'decode a frame of 100 one-entry appends, per entry',
  perHundred(timeSync(() => decodeRaftFrame(appendsFrame, { clusterId: 'bench', to: 2 as NodeId, peers }))),
);
row(
  'decode one append of 100 entries, per entry',
  perHundred(timeSync(() => decodeRaftFrame(oneAppendFrame, { clusterId: 'bench', to: 2 as NodeId, peers }))),
);
row(
  'encode one append of 100 entries, per entry',
  perHundred(timeSync(() => encodeRaftFrame('bench', 1 as NodeId, oneAppend))),
);

// --- LevelDB ----------------------------------------------------------------------------------
const folder = mkdtempSync(join(tmpdir(), 'millrace-raft-parts-'));
try {
  const db = new Level<Buffer, Buffer>(folder, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const value = Buffer.alloc(126, 1);
  let next = 0;
  const key = () => {
    const k = Buffer.allocUnsafe(9);
    k[0] = 0x45;
    k.writeUInt32BE(0, 1);
    k.writeUInt32BE(next++, 5);
    return k;
  };
  const arrayBatch = await timeAsync(async () => {
    const ops: { type: 'put'; key: Buffer; value: Buffer }[] = [];
    for (let i = 0; i < 100; i++) ops.push({ type: 'put', key: key(), value });
    await db.batch(ops, { sync: true });
  }, 500);
  const chainedBatch = await timeAsync(async () => {
    const batch = db.batch();
    for (let i = 0; i < 100; i++) batch.put(key(), value);
    await batch.write({ sync: true });
  }, 500);
  const describe = (t: { wallUs: number; cpuUs: number }) =>
    `${(t.wallUs / 1000).toFixed(2)} ms wall, ${(t.cpuUs / 100).toFixed(1)} µs CPU per entry`;
  row('synced write of 100 entries, array batch', describe(arrayBatch));
  row('synced write of 100 entries, chained batch', describe(chainedBatch));
  await db.close();
} finally {
  rmSync(folder, { recursive: true, force: true });
}

// --- HTTP/2 -----------------------------------------------------------------------------------
const secret = 'bench-secret-0123456789abcdef';
const app = createServer({ logger: false });
app.post('/v1/raft', { onRequest: requireClusterSecret(secret) }, async (request, reply) => {
  frameBody(request);
  return reply.code(204).send();
});
const { origin } = await listen(app, { host: '127.0.0.1', port: 0 });
const body = Buffer.alloc(2000, 1);
const request = { path: '/v1/raft', body, headers: { 'x-millrace-cluster-secret': secret }, timeoutMs: 5000 };
const undici = createH2Client(origin);
const session = createFrameSession(origin);
const viaUndici = async () => {
  await requestFrame(undici, request);
};
const viaSession = async () => {
  await session.requestFrame(request);
};
for (const [name, send] of [
  ['undici', viaUndici],
  ['node:http2 session', viaSession],
] as const) {
  const one = await timeAsync(send, 3000);
  row(
    `a 2 KB frame request, one at a time, ${name}`,
    `${one.wallUs.toFixed(0)} µs round trip, ${one.cpuUs.toFixed(0)} µs CPU (client and server)`,
  );
  const started = performance.now();
  const cpu = process.cpuUsage();
  let sent = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (sent++ < 8000) await send();
    }),
  );
  const used = process.cpuUsage(cpu);
  row(
    `a 2 KB frame request, 16 at a time, ${name}`,
    `${Math.round(8000 / ((performance.now() - started) / 1000)).toLocaleString('en')} requests/s, ${((used.user + used.system) / 8000).toFixed(0)} µs CPU each`,
  );
}
await session.close();
await undici.destroy();
await app.close();

console.log(`node ${process.version}`);
console.log('| what | cost |\n| --- | --: |');
for (const line of rows) console.log(line);
