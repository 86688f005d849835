import { createServer as createTcpServer } from 'node:net';
import { decodeFrame, encodeFrame, isMillraceError, type MillraceError } from '@millrace/protocol';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createH2Client, createServer, listen, requestFrame, requestJson } from '../src/index.js';
import {
  clusterSecret,
  EchoSchema,
  onCleanup,
  rawSession,
  startTestServer,
  testClient,
  trickle,
  within,
} from './support.js';

// A real server on 127.0.0.1, port 0, reached over h2c by the clients this package makes.

const Ok = z.strictObject({ ok: z.literal(true) });

/** The typed error a promise rejects with; fails the test if it resolves or rejects with something else. */
async function rejection(promise: Promise<unknown>): Promise<MillraceError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  if (!isMillraceError(outcome.error)) throw outcome.error;
  return outcome.error;
}

describe('requestJson against a live h2c server', () => {
  it('sends JSON and returns the answer checked by the schema', async () => {
    const { origin } = await startTestServer({ logger: false });
    const client = testClient(origin);
    const answer = await requestJson(client, {
      method: 'POST',
      path: '/v1/echo',
      body: { name: 'orders', count: 3 },
      responseSchema: EchoSchema,
      timeoutMs: 5_000,
    });
    expect(answer).toEqual({ name: 'orders', count: 3 });
  });

  it('rebuilds the server’s typed error: code, retriable, message and details', async () => {
    const { origin } = await startTestServer({ logger: false });
    const error = await rejection(
      requestJson(testClient(origin), { method: 'GET', path: '/v1/not-leader', responseSchema: Ok, timeoutMs: 5_000 }),
    );
    expect(error.code).toBe('NOT_LEADER_OR_FOLLOWER');
    expect(error.retriable).toBe(true);
    expect(error.message).toBe('Broker 1 is not the leader of orders-0.');
    expect(error.details).toEqual({ leaderId: 2, leaderEpoch: 7 });
  });

  it('a zod failure on the server comes back as INVALID_REQUEST naming the field', async () => {
    const { origin } = await startTestServer({ logger: false });
    const error = await rejection(
      requestJson(testClient(origin), {
        method: 'POST',
        path: '/v1/echo',
        body: { name: 'orders', count: 'three' },
        responseSchema: EchoSchema,
        timeoutMs: 5_000,
      }),
    );
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.details).toEqual({ fields: ['body.count'] });
  });

  it('a 500 carries only the generic message', async () => {
    const { origin } = await startTestServer({ logger: false });
    const error = await rejection(
      requestJson(testClient(origin), { method: 'GET', path: '/v1/boom', responseSchema: Ok, timeoutMs: 5_000 }),
    );
    expect(error.code).toBe('UNKNOWN_SERVER_ERROR');
    expect(error.message).toBe('The server hit an unexpected error.');
  });

  it('a 2xx answer that fails the schema is UNKNOWN_SERVER_ERROR saying so', async () => {
    const { origin } = await startTestServer({ logger: false });
    const error = await rejection(
      requestJson(testClient(origin), {
        method: 'GET',
        path: '/v1/wrong-shape',
        responseSchema: EchoSchema,
        timeoutMs: 5_000,
      }),
    );
    expect(error.code).toBe('UNKNOWN_SERVER_ERROR');
    expect(error.message).toMatch(/\/v1\/wrong-shape did not match the expected schema/);
    expect(error.message).toMatch(/response\.name/);
  });

  it('an answer over maxResponseBytes is refused, and the connection stays usable', async () => {
    const { origin } = await startTestServer({ logger: false });
    const client = testClient(origin);
    const error = await rejection(
      requestJson(client, {
        method: 'GET',
        path: '/v1/big',
        responseSchema: z.unknown(),
        timeoutMs: 5_000,
        maxResponseBytes: 1024,
      }),
    );
    expect(error.code).toBe('UNKNOWN_SERVER_ERROR');
    expect(error.message).toMatch(/larger than 1024 bytes/);
    const health = await requestJson(client, {
      method: 'GET',
      path: '/health',
      responseSchema: z.unknown(),
      timeoutMs: 5_000,
    });
    expect(health).toEqual({ status: 'ok' });
  });

  it('404 and 405 (with Allow) over the wire', async () => {
    const { origin } = await startTestServer({ logger: false });
    const client = testClient(origin);
    const missing = await rejection(
      requestJson(client, { method: 'GET', path: '/v1/nope', responseSchema: Ok, timeoutMs: 5_000 }),
    );
    expect(missing.code).toBe('NOT_FOUND');
    const response = await client.request({ method: 'PUT', path: '/v1/echo' });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(await response.body.json()).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
  });

  it('415 for text/plain over the wire', async () => {
    const { origin, handled } = await startTestServer({ logger: false });
    const response = await testClient(origin).request({
      method: 'POST',
      path: '/v1/echo',
      headers: { 'content-type': 'text/plain' },
      body: 'name=orders',
    });
    expect(response.statusCode).toBe(415);
    expect(await response.body.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    expect(handled).toEqual([]);
  });

  it('an oversized body is answered 413 while it is still arriving', async () => {
    const { origin, handled } = await startTestServer({ logger: false, bodyLimitBytes: 64 * 1024 });
    const error = await rejection(
      requestJson(testClient(origin), {
        method: 'POST',
        path: '/v1/echo',
        body: { name: 'x'.repeat(4 * 1024 * 1024), count: 1 },
        responseSchema: EchoSchema,
        timeoutMs: 10_000,
      }),
    );
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(handled).toEqual([]);
  });

  it('a wrong cluster secret is refused before a large body is read', async () => {
    const { origin, handled } = await startTestServer({ logger: false });
    const error = await rejection(
      requestJson(testClient(origin), {
        method: 'POST',
        path: '/v1/secret',
        headers: { 'x-millrace-cluster-secret': 'guess' },
        body: { padding: 'x'.repeat(4 * 1024 * 1024) },
        responseSchema: Ok,
        timeoutMs: 10_000,
      }),
    );
    expect(error.code).toBe('AUTHENTICATION_FAILED');
    expect(handled).toEqual([]);
  });

  it('the right cluster secret passes', async () => {
    const { origin } = await startTestServer({ logger: false });
    const answer = await requestJson(testClient(origin), {
      method: 'POST',
      path: '/v1/secret',
      headers: { 'x-millrace-cluster-secret': clusterSecret },
      body: {},
      responseSchema: Ok,
      timeoutMs: 5_000,
    });
    expect(answer).toEqual({ ok: true });
  });

  it('requests on one client are multiplexed: a parked request does not hold up the next', async () => {
    const { origin, releaseHanging } = await startTestServer({ logger: false });
    const client = testClient(origin);
    const parked = requestJson(client, {
      method: 'GET',
      path: '/v1/hang',
      responseSchema: z.unknown(),
      timeoutMs: 10_000,
    });
    const quick = await within(
      3_000,
      requestJson(client, { method: 'GET', path: '/health', responseSchema: z.unknown(), timeoutMs: 3_000 }),
      'a second request while the first is parked',
    );
    expect(quick).toEqual({ status: 'ok' });
    releaseHanging();
    expect(await parked).toEqual({ released: true });
  });
});

describe('network failures become typed, retriable errors', () => {
  it('a refused connection → NETWORK_EXCEPTION naming the origin and path', async () => {
    // Bind a port, then free it: nothing listens there during the request.
    const probe = createTcpServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));

    const error = await rejection(
      requestJson(testClient(`http://127.0.0.1:${port}`), {
        method: 'GET',
        path: '/v1/metadata',
        responseSchema: Ok,
        timeoutMs: 5_000,
      }),
    );
    expect(error.code).toBe('NETWORK_EXCEPTION');
    expect(error.retriable).toBe(true);
    expect(error.message).toContain(`http://127.0.0.1:${port}/v1/metadata`);
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('no answer within timeoutMs → REQUEST_TIMED_OUT, and the client still works', async () => {
    const { origin, handled } = await startTestServer({ logger: false });
    const client = testClient(origin);
    const started = performance.now();
    const error = await rejection(
      requestJson(client, { method: 'GET', path: '/v1/hang', responseSchema: Ok, timeoutMs: 200 }),
    );
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(error.code).toBe('REQUEST_TIMED_OUT');
    expect(error.retriable).toBe(true);
    expect(error.message).toBe(`GET ${origin}/v1/hang got no answer within 200 ms.`);
    expect(handled).toEqual(['hang']);
    const health = await requestJson(client, {
      method: 'GET',
      path: '/health',
      responseSchema: z.unknown(),
      timeoutMs: 5_000,
    });
    expect(health).toEqual({ status: 'ok' });
  });

  it('a caller’s abort rejects with the caller’s reason, not a network error', async () => {
    const { origin } = await startTestServer({ logger: false });
    const controller = new AbortController();
    const request = requestJson(testClient(origin), {
      method: 'GET',
      path: '/v1/hang',
      responseSchema: Ok,
      timeoutMs: 10_000,
      signal: controller.signal,
    });
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(request).rejects.toBe(reason);
  });
});

describe('the server keeps slow clients from holding it', () => {
  it('a handler that outlives requestTimeoutMs is answered 504 REQUEST_TIMED_OUT', async () => {
    const { origin } = await startTestServer({ logger: false, requestTimeoutMs: 200 });
    const error = await rejection(
      requestJson(testClient(origin), { method: 'GET', path: '/v1/hang', responseSchema: Ok, timeoutMs: 5_000 }),
    );
    expect(error.code).toBe('REQUEST_TIMED_OUT');
    expect(error.message).toBe('The server gave up on the request after 200 ms.');
  });

  it('a client that trickles its body is answered 504 and its stream closed', async () => {
    const { origin, handled } = await startTestServer({ logger: false, requestTimeoutMs: 300 });
    const { status, rstCode } = await trickle(origin, '/v1/echo');
    expect(status).toBe(504);
    expect(rstCode).toBe(0); // NO_ERROR: "stop sending", not a failure
    expect(handled).toEqual([]);
  });

  it('a connection that stays silent past sessionIdleTimeoutMs is dropped', async () => {
    const { origin } = await startTestServer({ logger: false, sessionIdleTimeoutMs: 300 });
    const session = await rawSession(origin); // node:http2 sends no PINGs of its own
    await within(
      5_000,
      new Promise((resolve) => session.once('close', resolve)),
      'the server to drop a silent session',
    );
  });

  it('a client that pings keeps its idle connection past sessionIdleTimeoutMs', async () => {
    const { origin } = await startTestServer({ logger: false, sessionIdleTimeoutMs: 500 });
    const client = createH2Client(origin, { pingIntervalMs: 50 });
    onCleanup(() => client.destroy());
    let disconnects = 0;
    client.on('disconnect', () => disconnects++);
    await requestJson(client, { method: 'GET', path: '/health', responseSchema: z.unknown(), timeoutMs: 5_000 });
    // Watch for more than two idle timeouts' worth of time: the connection must not be dropped.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(disconnects).toBe(0);
  });

  it('the server advertises its stream limit in SETTINGS', async () => {
    const { origin } = await startTestServer({ logger: false, maxConcurrentStreams: 7 });
    const session = await rawSession(origin);
    expect(session.remoteSettings.maxConcurrentStreams).toBe(7);
  });

  it('close() returns while a client still holds its connection open', async () => {
    const server = createServer({ logger: false });
    onCleanup(() => server.close());
    const { origin } = await listen(server, { host: '127.0.0.1', port: 0 });
    await requestJson(testClient(origin), {
      method: 'GET',
      path: '/health',
      responseSchema: z.unknown(),
      timeoutMs: 5_000,
    });
    await within(5_000, server.close(), 'close() with an idle client connected');
  });
});

describe('frames', () => {
  it('a frame body round trip: raw bytes in, raw bytes out', async () => {
    const { origin } = await startTestServer({ logger: false });
    const sections = [Buffer.from([0, 1, 2, 255]), Buffer.alloc(100_000, 7)];
    const answer = await requestFrame(testClient(origin), {
      path: '/v1/frame',
      body: encodeFrame({ topic: 'orders', partition: 0 }, sections),
      timeoutMs: 5_000,
    });
    const decoded = decodeFrame(answer);
    expect(decoded.header).toEqual({ echoed: { topic: 'orders', partition: 0 } });
    expect(decoded.sections.map((section) => section.equals(sections[1] as Buffer))).toEqual([true, false]);
    expect(decoded.sections[1]?.equals(sections[0] as Buffer)).toBe(true);
  });

  it('a malformed frame comes back as the server’s INVALID_REQUEST', async () => {
    const { origin } = await startTestServer({ logger: false });
    const error = await rejection(
      requestFrame(testClient(origin), { path: '/v1/frame', body: Buffer.from('not a frame'), timeoutMs: 5_000 }),
    );
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toMatch(/Malformed frame/);
  });

  it('a 2xx answer that is not a frame is UNKNOWN_SERVER_ERROR', async () => {
    const { origin } = await startTestServer({ logger: false });
    // /v1/raw answers whatever body it got, so a frame comes back as application/octet-stream.
    const error = await rejection(
      requestFrame(testClient(origin), { path: '/v1/raw', body: Buffer.from([1]), timeoutMs: 5_000 }),
    );
    expect(error.code).toBe('UNKNOWN_SERVER_ERROR');
    expect(error.message).toBe(
      `The answer from ${origin}/v1/raw is application/octet-stream, not application/vnd.millrace.frame.`,
    );
  });
});

describe('listen', () => {
  it('port 0 binds a free port and reports it', async () => {
    const { origin } = await startTestServer({ logger: false });
    expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(origin).port)).toBeGreaterThan(0);
  });

  it('a port in use is INVALID_CONFIG naming the address, not a stack trace', async () => {
    const { origin } = await startTestServer({ logger: false });
    const port = Number(new URL(origin).port);
    const second = createServer({ logger: false });
    onCleanup(() => second.close());
    const error = await rejection(listen(second, { host: '127.0.0.1', port }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toBe(
      `Cannot listen on 127.0.0.1:${port}: the address is already in use (is another node running?).`,
    );
    expect(error.details).toEqual({ host: '127.0.0.1', port, errno: 'EADDRINUSE' });
  });

  it('/metrics over the wire carries the route label', async () => {
    const { origin } = await startTestServer({ logger: false });
    const client = testClient(origin);
    await requestJson(client, {
      method: 'GET',
      path: '/v1/topics/orders',
      responseSchema: z.unknown(),
      timeoutMs: 5_000,
    });
    const response = await client.request({ method: 'GET', path: '/metrics' });
    const text = await response.body.text();
    expect(text).toContain(
      'millrace_http_request_duration_seconds_bucket{le="0.5",method="GET",route="/v1/topics/:topic"',
    );
  });
});
