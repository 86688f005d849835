/**
 * The server of the server-cost benchmark (bench/server-cost.bench.ts), in a process of its own so
 * that its CPU time is its own: `createServer()` (from dist/) with its defaults and two routes that do the same
 * work, answering a produce-like JSON body of about 120 bytes:
 *   POST /bench/fastify   an ordinary fastify route (`app.post`);
 *   POST /bench/hot       a hot route (`app.hotPost`), which fastify also serves when the URL has
 *                         a query string (`/bench/hot?via=fastify`).
 *
 * It speaks to the benchmark over the IPC channel only: once listening (127.0.0.1, a port the
 * system chose) it sends `{ type: 'listening', port }`; to `{ type: 'sample' }` it answers with its
 * CPU time (`process.cpuUsage()`: every thread of the process, the garbage collector's included) and
 * how many requests went through Node's compatibility layer, so the benchmark can tell that a hot
 * request never did. SIGTERM closes the server and exits; so does losing the channel (the
 * benchmark gone).
 */
import { ContentType } from '@millrace/protocol';
import type * as Http from '../src/index.js';

// The package as built (dist/, which the benchmark checks is newer than src/), not its sources
// through tsx: tsx's transform wraps every closure a request creates in a `__name` call, a cost
// the built server does not have and fastify (plain JavaScript from node_modules) would not share.
const { createServer, listen } = (await import(new URL('../dist/index.js', import.meta.url).href)) as typeof Http;

export type FromServer =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'sample'; readonly cpuUs: number; readonly compatRequests: number };
export type ToServer = { readonly type: 'sample' };

const send = (message: FromServer): void => {
  process.send?.(message);
};

const app = createServer({ logger: false });

let offset = 0;
/** What both routes answer: the shape of a produce answer, one partition; about 120 bytes. */
function answerFor(body: unknown): string {
  const receivedBytes = Buffer.isBuffer(body) ? body.length : -1;
  const baseOffset = offset;
  offset += 1;
  return JSON.stringify({
    topic: 'server-cost-bench',
    partition: 0,
    errorCode: 0,
    baseOffset: String(baseOffset),
    logAppendTimeMs: -1,
    receivedBytes,
  });
}

app.post('/bench/fastify', async (request, reply) => reply.type(ContentType.json).send(answerFor(request.body)));
app.hotPost('/bench/hot', {}, async (request) => ({ contentType: ContentType.json, body: answerFor(request.body) }));

// Node emits 'request' only for streams its compatibility layer serves (fastify's way in); the hot
// dispatch answers its streams before that layer sees them.
let compatRequests = 0;
app.server.on('request', () => {
  compatRequests += 1;
});

process.on('message', (message: ToServer) => {
  if (message.type === 'sample') {
    const cpu = process.cpuUsage();
    send({ type: 'sample', cpuUs: cpu.user + cpu.system, compatRequests });
  }
});

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void app.close().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('disconnect', stop);

const { port } = await listen(app, { host: '127.0.0.1', port: 0 });
send({ type: 'listening', port });
