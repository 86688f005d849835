import { type ClientHttp2Session, connect as connectH2 } from 'node:http2';
import { Writable } from 'node:stream';
import { decodeFrame, encodeFrame, MillraceError } from '@millrace/protocol';
import { pino } from 'pino';
import type { Client } from 'undici';
import { afterEach } from 'vitest';
import { z } from 'zod';
import {
  createH2Client,
  createServer,
  frameBody,
  listen,
  type MillraceServer,
  parseBody,
  parseParams,
  parseQuery,
  requireBearerToken,
  requireClusterSecret,
  type ServerOptions,
} from '../src/index.js';

export const clusterSecret = 'cluster-secret-for-tests';
export const adminToken = 'admin-token-for-tests';

/** Everything a test starts is stopped after it, last started first. */
const cleanups: (() => Promise<unknown>)[] = [];
export function onCleanup(cleanup: () => Promise<unknown>): void {
  cleanups.push(cleanup);
}
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

export const EchoSchema = z.strictObject({
  name: z.string().min(1),
  count: z.number().int().nonnegative(),
});

/** Log lines captured in memory, so a test can see what the server logged and at which level. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly err?: { readonly message: string; readonly stack: string };
}

export interface TestServer {
  readonly app: MillraceServer;
  /** Route names of the handlers that ran, in order: an auth test checks its handler never did. */
  readonly handled: string[];
  readonly logs: LogLine[];
  /** Lets every request parked on /v1/hang finish. */
  readonly releaseHanging: () => void;
}

/** A server with one route per behaviour under test. */
export function buildTestServer(options: Partial<ServerOptions> = {}): TestServer {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString('utf8')) as LogLine);
      done();
    },
  });
  const app = createServer({ logger: pino({ level: 'debug' }, sink), ...options });
  const handled: string[] = [];
  let releaseHanging = () => {};
  const hanging = new Promise<void>((resolve) => {
    releaseHanging = resolve;
  });

  app.post('/v1/echo', async (request) => {
    handled.push('echo');
    return parseBody(EchoSchema, request);
  });
  app.post('/v1/raw', async (request) => {
    handled.push('raw');
    return request.body;
  });
  app.post('/v1/tiny', { bodyLimit: 16 }, async (request) => {
    handled.push('tiny');
    return request.body;
  });
  app.get('/v1/topics/:topic', async (request) => {
    handled.push('topic');
    return parseParams(z.strictObject({ topic: z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/) }), request);
  });
  app.get('/v1/search', async (request) => {
    handled.push('search');
    return parseQuery(z.strictObject({ limit: z.coerce.number().int().min(1).max(100) }), request);
  });
  app.post('/v1/secret', { onRequest: requireClusterSecret(clusterSecret) }, async () => {
    handled.push('secret');
    return { ok: true };
  });
  app.post('/v1/admin', { onRequest: requireBearerToken(adminToken) }, async () => {
    handled.push('admin');
    return { ok: true };
  });
  app.get('/v1/boom', async () => {
    handled.push('boom');
    throw new Error('connection string postgres://admin:hunter2@db');
  });
  app.get('/v1/not-leader', async () => {
    handled.push('not-leader');
    throw new MillraceError('NOT_LEADER_OR_FOLLOWER', 'Broker 1 is not the leader of orders-0.', {
      details: { leaderId: 2, leaderEpoch: 7 },
    });
  });
  app.get('/v1/wrong-shape', async () => ({ name: 42 }));
  app.get('/v1/big', async () => ({ blob: 'x'.repeat(64 * 1024) }));
  app.post('/v1/frame', async (request, reply) => {
    handled.push('frame');
    const { header, sections } = decodeFrame(frameBody(request));
    reply.type('application/vnd.millrace.frame');
    return encodeFrame({ echoed: header }, [...sections].reverse());
  });
  app.post('/v1/frame-sections', async (request) => {
    handled.push('frame-sections');
    return { sections: decodeFrame(frameBody(request)).sections.length };
  });
  app.get('/v1/hang', async () => {
    handled.push('hang');
    await hanging;
    return { released: true };
  });
  app.post('/v1/hang', async (request, reply) => {
    handled.push('hang');
    frameBody(request);
    await hanging;
    reply.type('application/vnd.millrace.frame');
    return encodeFrame({ released: true }, []);
  });
  addHotRoutes(app, handled, hanging);
  return { app, handled, logs, releaseHanging: () => releaseHanging() };
}

/**
 * Hot twins of the routes above, under /v1/hot/. A request to the exact path is served from its
 * stream; the same path with a query string goes through fastify, so one test can check both.
 */
function addHotRoutes(app: MillraceServer, handled: string[], hanging: Promise<void>): void {
  const json = (value: unknown) => ({ contentType: 'application/json', body: JSON.stringify(value) });
  app.hotPost('/v1/hot/echo', {}, async (request) => {
    handled.push('hot-echo');
    return json(parseBody(EchoSchema, request));
  });
  app.hotPost('/v1/hot/frame', {}, async (request) => {
    handled.push('hot-frame');
    const { header, sections } = decodeFrame(frameBody(request));
    return {
      contentType: 'application/vnd.millrace.frame',
      body: encodeFrame({ echoed: header }, [...sections].reverse()),
    };
  });
  app.hotPost('/v1/hot/tiny', { bodyLimit: 16 }, async (request) => {
    handled.push('hot-tiny');
    return json(request.body);
  });
  app.hotPost('/v1/hot/secret', { auth: requireClusterSecret(clusterSecret) }, async () => {
    handled.push('hot-secret');
    return json({ ok: true });
  });
  app.hotPost('/v1/hot/admin', { auth: requireBearerToken(adminToken) }, async () => {
    handled.push('hot-admin');
    return json({ ok: true });
  });
  app.hotPost('/v1/hot/boom', {}, async () => {
    handled.push('hot-boom');
    throw new Error('connection string postgres://admin:hunter2@db');
  });
  app.hotPost('/v1/hot/not-leader', {}, async () => {
    handled.push('hot-not-leader');
    throw new MillraceError('NOT_LEADER_OR_FOLLOWER', 'Broker 1 is not the leader of orders-0.', {
      details: { leaderId: 2, leaderEpoch: 7 },
    });
  });
  app.hotPost('/v1/hot/hang', { timeoutMs: 60_000 }, async (request) => {
    handled.push('hot-hang');
    let closed = false;
    request.once('close', () => {
      closed = true;
    });
    await hanging;
    return json({ released: true, closed });
  });
  app.hotPost(
    '/v1/hot/opened',
    { opened: (request) => handled.push(`opened ${request.headers['x-n']}`) },
    async (request) => {
      handled.push(`handled ${request.headers['x-n']}`);
      return json({ connection: request.connection === undefined ? 'none' : 'h2' });
    },
  );
}

/** A test server listening on 127.0.0.1 on a free port, stopped after the test. */
export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<TestServer & { origin: string }> {
  const server = buildTestServer(options);
  onCleanup(async () => {
    server.releaseHanging();
    await server.app.close();
  });
  const { origin } = await listen(server.app, { host: '127.0.0.1', port: 0 });
  return { ...server, origin };
}

/** An h2c client, destroyed after the test (closing would wait for requests a test left parked). */
export function testClient(origin: string): Client {
  const client = createH2Client(origin);
  onCleanup(() => client.destroy());
  return client;
}

/** Rejects if `promise` has not settled within `ms`: every wait in these tests is bounded. */
export function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A raw node:http2 session, for what undici will not do (trickle a body, read SETTINGS); destroyed after the test. */
export function rawSession(origin: string): Promise<ClientHttp2Session> {
  const session = connectH2(origin);
  onCleanup(async () => session.destroy());
  return within(
    5_000,
    new Promise((resolve, reject) => {
      session.once('remoteSettings', () => resolve(session));
      session.once('error', reject);
    }),
    'the HTTP/2 handshake',
  );
}

/**
 * POSTs to `path` a JSON body that announces 1,000 bytes and sends a few, then waits for the
 * answer's status and for the server to close the stream; the reset code says how it closed.
 */
export async function trickle(origin: string, path: string): Promise<{ status: number; rstCode: number | undefined }> {
  const session = await rawSession(origin);
  const stream = session.request({
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/json',
    'content-length': '1000',
  });
  stream.write('{"name": "slo');
  const status = await within(
    5_000,
    new Promise<number>((resolve) => stream.once('response', (headers) => resolve(Number(headers[':status'])))),
    'the answer to a trickled body',
  );
  stream.resume();
  await within(5_000, new Promise((resolve) => stream.once('close', resolve)), 'the server to reset the stream');
  return { status, rstCode: stream.rstCode };
}
