import { createServer as createH2Server } from 'node:http2';
import { connect as connectTcp, createServer as createTcpServer } from 'node:net';
import { decodeFrame, encodeFrame, isMillraceError, type MillraceError } from '@millrace/protocol';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createFrameSession, type FrameSession, listen, type ServerOptions } from '../src/index.js';
import { buildTestServer, clusterSecret, EchoSchema, onCleanup, startTestServer, within } from './support.js';

// The node:http2 frame session against a real server on 127.0.0.1: the same exchange, and the same
// typed failures, as requestFrame on an undici client (h2.test.ts).

async function rejection(promise: Promise<unknown>): Promise<MillraceError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${String(outcome.value)}`);
  if (!isMillraceError(outcome.error)) throw outcome.error;
  return outcome.error;
}

function session(origin: string, options: Parameters<typeof createFrameSession>[1] = {}): FrameSession {
  const created = createFrameSession(origin, options);
  onCleanup(() => created.close());
  return created;
}

const frame = encodeFrame({ topic: 'orders', partition: 0 }, [Buffer.from([0, 1, 2, 255]), Buffer.alloc(100_000, 7)]);

describe('createFrameSession', () => {
  it('a frame round trip: raw bytes in, raw bytes out, many requests on one session', async () => {
    const { origin, handled } = await startTestServer({ logger: false });
    const frames = session(origin);
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(
        [1, 2, 3].map(() => frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 })),
      );
      for (const answer of answers) {
        const decoded = decodeFrame(answer);
        expect(decoded.header).toEqual({ echoed: { topic: 'orders', partition: 0 } });
        expect(decoded.sections[0]?.equals(Buffer.alloc(100_000, 7))).toBe(true);
        expect(decoded.sections[1]?.equals(Buffer.from([0, 1, 2, 255]))).toBe(true);
      }
    }
    expect(handled).toHaveLength(9);
  });

  it('thousands of requests, 16 at a time, on one session all succeed', async () => {
    const { origin } = await startTestServer({ logger: false });
    const frames = session(origin);
    const small = encodeFrame({ n: 1 }, [Buffer.alloc(2000, 1)]);
    let sent = 0;
    let answered = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (sent++ < 3000) {
          await frames.requestFrame({ path: '/v1/frame', body: small, timeoutMs: 5_000 });
          answered++;
        }
      }),
    );
    expect(answered).toBe(3000);
  });

  it('the server’s typed error comes back as itself: a malformed frame is INVALID_REQUEST', async () => {
    const { origin } = await startTestServer({ logger: false });
    const error = await rejection(
      session(origin).requestFrame({ path: '/v1/frame', body: Buffer.from('not a frame'), timeoutMs: 5_000 }),
    );
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toMatch(/Malformed frame/);
  });

  it('a wrong cluster secret is AUTHENTICATION_FAILED, the right one passes', async () => {
    const { origin, handled } = await startTestServer({ logger: false });
    const frames = session(origin);
    const refused = await rejection(
      frames.requestFrame({
        path: '/v1/secret',
        body: frame,
        headers: { 'x-millrace-cluster-secret': 'guess' },
        timeoutMs: 5_000,
      }),
    );
    expect(refused.code).toBe('AUTHENTICATION_FAILED');
    expect(handled).toEqual([]);
    // The route answers JSON, which is not what a frame request expects.
    const wrongType = await rejection(
      frames.requestFrame({
        path: '/v1/secret',
        body: frame,
        headers: { 'x-millrace-cluster-secret': clusterSecret },
        timeoutMs: 5_000,
      }),
    );
    expect(handled).toEqual(['secret']);
    expect(wrongType.code).toBe('UNKNOWN_SERVER_ERROR');
    expect(wrongType.message).toBe(
      `The answer from ${origin}/v1/secret is application/json; charset=utf-8, not application/vnd.millrace.frame.`,
    );
  });

  it('an answer over maxResponseBytes is refused, and the session stays usable', async () => {
    const { origin } = await startTestServer({ logger: false });
    const frames = session(origin);
    const error = await rejection(
      frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000, maxResponseBytes: 1024 }),
    );
    expect(error.code).toBe('UNKNOWN_SERVER_ERROR');
    expect(error.message).toBe(`The answer from ${origin}/v1/frame is larger than 1024 bytes.`);
    const answer = await frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 });
    expect(decodeFrame(answer).sections).toHaveLength(2);
  });

  it('a refused connection → NETWORK_EXCEPTION naming the origin and path', async () => {
    const probe = createTcpServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const error = await rejection(
      session(`http://127.0.0.1:${port}`).requestFrame({ path: '/v1/raft', body: frame, timeoutMs: 5_000 }),
    );
    expect(error.code).toBe('NETWORK_EXCEPTION');
    expect(error.retriable).toBe(true);
    expect(error.message).toContain(`http://127.0.0.1:${port}/v1/raft`);
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('no answer within timeoutMs → REQUEST_TIMED_OUT, and the session still works', async () => {
    const { origin, handled } = await startTestServer({ logger: false });
    const frames = session(origin);
    const started = performance.now();
    const error = await rejection(frames.requestFrame({ path: '/v1/hang', body: frame, timeoutMs: 200 }));
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(error.code).toBe('REQUEST_TIMED_OUT');
    expect(error.retriable).toBe(true);
    expect(error.message).toBe(`POST ${origin}/v1/hang got no answer within 200 ms.`);
    expect(handled).toEqual(['hang']);
    const answer = await frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 });
    expect(decodeFrame(answer).header).toEqual({ echoed: { topic: 'orders', partition: 0 } });
  });

  it('an answer cut off part-way is NETWORK_EXCEPTION, never a short success', async () => {
    // A raw server: fastify would never send half an answer.
    const server = createH2Server();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/vnd.millrace.frame' });
      stream.write(frame.subarray(0, 1000), () => stream.session?.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as { port: number };
    const error = await rejection(
      session(`http://127.0.0.1:${port}`).requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 }),
    );
    expect(error.code).toBe('NETWORK_EXCEPTION');
    expect(error.message).toMatch(/closed before the answer was complete/);
  });

  it('a parked request does not hold up the next', async () => {
    const { origin, releaseHanging } = await startTestServer({ logger: false });
    const frames = session(origin);
    const parked = frames.requestFrame({ path: '/v1/hang', body: frame, timeoutMs: 10_000 });
    await within(
      3_000,
      frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 3_000 }),
      'a second request while the first is parked',
    );
    releaseHanging();
    expect(decodeFrame(await parked).header).toEqual({ released: true });
  });

  it('a caller’s abort rejects with the caller’s reason, not a network error', async () => {
    const { origin } = await startTestServer({ logger: false });
    const controller = new AbortController();
    const request = session(origin).requestFrame({
      path: '/v1/hang',
      body: frame,
      timeoutMs: 10_000,
      signal: controller.signal,
    });
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(request).rejects.toBe(reason);
  });

  it('opens a new connection after the server drops an idle one, and after the server restarts', async () => {
    const options: Partial<ServerOptions> = { logger: false, sessionIdleTimeoutMs: 200 };
    const first = buildTestServer(options);
    const { origin, port } = await listen(first.app, { host: '127.0.0.1', port: 0 });
    onCleanup(() => first.app.close());
    const frames = session(origin, { pingIntervalMs: 0 });
    await frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 });
    // Without pings the server drops the connection after 200 ms of silence.
    await new Promise((resolve) => setTimeout(resolve, 600));
    await frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 });
    expect(first.handled).toEqual(['frame', 'frame']);

    await first.app.close();
    const down = await rejection(frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 }));
    expect(down.code).toBe('NETWORK_EXCEPTION');
    const second = buildTestServer(options);
    await listen(second.app, { host: '127.0.0.1', port });
    onCleanup(() => second.app.close());
    await frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 });
    expect(second.handled).toEqual(['frame']);
  });

  it('pings keep an idle connection open past the server’s idle timeout', async () => {
    const { origin, app } = await startTestServer({ logger: false, sessionIdleTimeoutMs: 300 });
    let sessions = 0;
    app.server.on('session', () => sessions++);
    const frames = session(origin, { pingIntervalMs: 50 });
    await frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 900));
    await frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 });
    expect(sessions).toBe(1);
  });

  it('close() fails the requests in flight and every later one with NETWORK_EXCEPTION', async () => {
    const { origin } = await startTestServer({ logger: false });
    const frames = createFrameSession(origin);
    const parked = frames.requestFrame({ path: '/v1/hang', body: frame, timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await frames.close();
    expect((await rejection(parked)).code).toBe('NETWORK_EXCEPTION');
    const later = await rejection(frames.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 }));
    expect(later.code).toBe('NETWORK_EXCEPTION');
    expect(later.message).toBe(`POST ${origin}/v1/frame failed: the session is closed.`);
  });

  it('JSON requests on the same session: GET and POST, typed errors with details, schema mismatches', async () => {
    const { origin } = await startTestServer({ logger: false });
    const calls = session(origin);
    const echoed = await calls.requestJson({
      method: 'POST',
      path: '/v1/echo',
      body: { name: 'orders', count: 3 },
      responseSchema: EchoSchema,
      timeoutMs: 5_000,
    });
    expect(echoed).toEqual({ name: 'orders', count: 3 });
    const topic = await calls.requestJson({
      method: 'GET',
      path: '/v1/topics/orders',
      responseSchema: z.strictObject({ topic: z.string() }),
      timeoutMs: 5_000,
    });
    expect(topic).toEqual({ topic: 'orders' });

    const notLeader = await rejection(
      calls.requestJson({ method: 'GET', path: '/v1/not-leader', responseSchema: z.unknown(), timeoutMs: 5_000 }),
    );
    expect(notLeader.code).toBe('NOT_LEADER_OR_FOLLOWER');
    expect(notLeader.details).toEqual({ leaderId: 2, leaderEpoch: 7 });

    const badBody = await rejection(
      calls.requestJson({
        method: 'POST',
        path: '/v1/echo',
        body: { name: '', count: -1 },
        responseSchema: EchoSchema,
        timeoutMs: 5_000,
      }),
    );
    expect(badBody.code).toBe('INVALID_REQUEST');

    const mismatch = await rejection(
      calls.requestJson({ method: 'GET', path: '/v1/wrong-shape', responseSchema: EchoSchema, timeoutMs: 5_000 }),
    );
    expect(mismatch.code).toBe('UNKNOWN_SERVER_ERROR');
    expect(mismatch.message).toContain(`The answer from ${origin}/v1/wrong-shape did not match the expected schema.`);
  });

  it('sendFrame: a frame in, a checked JSON answer out', async () => {
    const { origin } = await startTestServer({ logger: false });
    const answer = await session(origin).sendFrame({
      path: '/v1/frame-sections',
      body: frame,
      responseSchema: z.strictObject({ sections: z.number() }),
      timeoutMs: 5_000,
    });
    expect(answer).toEqual({ sections: 2 });
  });

  it('a peer that stops answering PINGs is dropped within pingIntervalMs + pingTimeoutMs, failing what is parked on it', async () => {
    const { origin: target } = await startTestServer({ logger: false });
    // A TCP relay that can go silent, as a machine that vanished without a FIN.
    const targetPort = Number(new URL(target).port);
    let silent = false;
    const relay = createTcpServer((inbound) => {
      const outbound = connectTcp(targetPort, '127.0.0.1');
      inbound.on('data', (chunk) => {
        if (!silent) outbound.write(chunk);
      });
      outbound.on('data', (chunk) => {
        if (!silent) inbound.write(chunk);
      });
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => relay.close(resolve)));
    const { port } = relay.address() as { port: number };
    const calls = session(`http://127.0.0.1:${port}`, { pingIntervalMs: 100, pingTimeoutMs: 300 });
    await calls.requestFrame({ path: '/v1/frame', body: frame, timeoutMs: 5_000 });
    const parked = calls.requestFrame({ path: '/v1/hang', body: frame, timeoutMs: 20_000 });
    silent = true;
    const started = performance.now();
    const error = await rejection(parked);
    expect(error.code).toBe('NETWORK_EXCEPTION');
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
