import { decodeFrame, ErrorBodySchema, encodeFrame } from '@millrace/protocol';
import { describe, expect, it } from 'vitest';
import {
  adminToken,
  buildTestServer,
  clusterSecret,
  onCleanup,
  rawSession,
  startTestServer,
  testClient,
  trickle,
  within,
} from './support.js';

// Hot routes are served from their HTTP/2 stream; the same path with a query string goes through
// fastify (the route's twin). Every case below runs both ways and must answer the same: the
// guarantees of the fast path are the server's, not a subset.

const paths = [
  ['the stream', ''],
  ['fastify', '?via=fastify'],
] as const;

const json = { 'content-type': 'application/json' };

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

async function post(
  origin: string,
  path: string,
  body: string | Buffer | undefined,
  headers: Record<string, string> = json,
): Promise<Answer> {
  const response = await testClient(origin).request({
    method: 'POST',
    path,
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
}

function errorOf(answer: Answer) {
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  return ErrorBodySchema.parse(JSON.parse(answer.text)).error;
}

describe.each(paths)('a hot route served through %s', (_way, query) => {
  it('a JSON body reaches the handler parsed and checked', async () => {
    const { origin, handled } = await startTestServer({ logger: false });
    const answer = await post(origin, `/v1/hot/echo${query}`, '{"name":"orders","count":3}');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ name: 'orders', count: 3 });
    expect(handled).toEqual(['hot-echo']);
  });

  it('a frame round trip: raw bytes in, raw bytes out', async () => {
    const { origin } = await startTestServer({ logger: false });
    const sections = [Buffer.from([1, 2, 3]), Buffer.alloc(200_000, 7)];
    const answer = await testClient(origin).request({
      method: 'POST',
      path: `/v1/hot/frame${query}`,
      headers: { 'content-type': 'application/vnd.millrace.frame' },
      body: encodeFrame({ n: 1 }, sections),
    });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toBe('application/vnd.millrace.frame');
    const decoded = decodeFrame(Buffer.from(await answer.body.arrayBuffer()));
    expect(decoded.header).toEqual({ echoed: { n: 1 } });
    expect(decoded.sections.map((s) => Buffer.from(s))).toEqual([...sections].reverse());
  });

  const badBodies: [string, string, RegExp][] = [
    ['malformed JSON', '{"name": "a"', /not valid JSON/],
    ['a JSON array', '[1]', /must be a JSON object, not an array/],
    ['an empty body', '', /body is empty/],
    ['a __proto__ key', '{"name":"a","count":1,"__proto__":{"admin":true}}', /"__proto__"/],
    ['a constructor key', '{"constructor": 1}', /"constructor"/],
    ['an unknown field', '{"name":"a","count":1,"extra":true}', /extra/],
    ['a negative count', '{"name":"a","count":-1}', /count/],
  ];
  it.each(badBodies)('%s → 400 INVALID_REQUEST', async (_name, body, message) => {
    const { origin, handled } = await startTestServer({ logger: false });
    const answer = await post(origin, `/v1/hot/echo${query}`, body);
    expect(answer.status).toBe(400);
    const error = errorOf(answer);
    expect(error.code).toBe('INVALID_REQUEST');
    expect(`${error.message} ${JSON.stringify(error.details ?? {})}`).toMatch(message);
    expect(Object.prototype).not.toHaveProperty('admin');
    // The schema runs in the handler; nothing else of it did.
    expect(handled.filter((h) => h !== 'hot-echo')).toEqual([]);
  });

  it('text/plain → 415, and a frame on a JSON route → 415', async () => {
    const { origin } = await startTestServer({ logger: false });
    const plain = await post(origin, `/v1/hot/echo${query}`, 'name=orders', { 'content-type': 'text/plain' });
    expect(plain.status).toBe(415);
    expect(errorOf(plain).message).toMatch(/"text\/plain" is not accepted/);
    const frame = await post(origin, `/v1/hot/echo${query}`, encodeFrame({}, []), {
      'content-type': 'application/vnd.millrace.frame',
    });
    expect(frame.status).toBe(415);
    expect(errorOf(frame).code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('a body over the route limit → 413 naming the limit, and the handler never runs', async () => {
    const { origin, handled } = await startTestServer({ logger: false });
    const answer = await post(origin, `/v1/hot/tiny${query}`, JSON.stringify({ padding: 'x'.repeat(1000) }));
    expect(answer.status).toBe(413);
    expect(errorOf(answer)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { bodyLimitBytes: 16 } });
    expect(handled).toEqual([]);
  });

  it('a body over the server limit is refused while it is still arriving', async () => {
    const { origin, handled } = await startTestServer({ logger: false, bodyLimitBytes: 64 * 1024 });
    const answer = await post(origin, `/v1/hot/echo${query}`, JSON.stringify({ name: 'x'.repeat(4 << 20), count: 1 }));
    expect(answer.status).toBe(413);
    expect(errorOf(answer).code).toBe('PAYLOAD_TOO_LARGE');
    expect(handled).toEqual([]);
  });

  it('a missing or wrong cluster secret → 401 before the body is read; the right one passes', async () => {
    const { origin, handled } = await startTestServer({ logger: false });
    const big = JSON.stringify({ padding: 'x'.repeat(4 << 20) });
    const missing = await post(origin, `/v1/hot/secret${query}`, big);
    expect(missing.status).toBe(401);
    expect(errorOf(missing).message).toMatch(/header is missing/);
    const wrong = await post(origin, `/v1/hot/secret${query}`, big, { ...json, 'x-millrace-cluster-secret': 'guess' });
    expect(wrong.status).toBe(401);
    expect(errorOf(wrong).message).toMatch(/header is wrong/);
    expect(handled).toEqual([]);
    const right = await post(origin, `/v1/hot/secret${query}`, '{}', {
      ...json,
      'x-millrace-cluster-secret': clusterSecret,
    });
    expect(right.status).toBe(200);
    expect(handled).toEqual(['hot-secret']);
  });

  it('a bearer-token refusal carries WWW-Authenticate', async () => {
    const { origin } = await startTestServer({ logger: false });
    const refused = await post(origin, `/v1/hot/admin${query}`, '{}', { ...json, authorization: 'Bearer nope' });
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    const passed = await post(origin, `/v1/hot/admin${query}`, '{}', {
      ...json,
      authorization: `Bearer ${adminToken}`,
    });
    expect(passed.status).toBe(200);
    expect(passed.headers['www-authenticate']).toBeUndefined();
  });

  it('a typed error keeps its code, status and details; an unexpected one is a 500 with a generic message', async () => {
    const { origin } = await startTestServer({ logger: false });
    const typed = await post(origin, `/v1/hot/not-leader${query}`, '{}');
    expect(typed.status).toBe(421);
    expect(errorOf(typed)).toMatchObject({
      code: 'NOT_LEADER_OR_FOLLOWER',
      message: 'Broker 1 is not the leader of orders-0.',
      details: { leaderId: 2, leaderEpoch: 7 },
    });
    const boom = await post(origin, `/v1/hot/boom${query}`, '{}');
    expect(boom.status).toBe(500);
    expect(boom.text).not.toContain('hunter2');
    expect(errorOf(boom).code).toBe('UNKNOWN_SERVER_ERROR');
  });

  it('a client that trickles its body is answered 504 REQUEST_TIMED_OUT and its stream closed', async () => {
    const server = await startTestServer({ logger: false, requestTimeoutMs: 200 });
    const { status, rstCode } = await trickle(server.origin, `/v1/hot/echo${query}`);
    expect(status).toBe(504);
    expect(rstCode).toBe(0); // NO_ERROR: "stop sending", not a failure
    expect(server.handled).toEqual([]);
  });

  it('a client that cancels its request: the handler hears the close, and the server goes on', async () => {
    const { origin, handled, releaseHanging } = await startTestServer({ logger: false });
    const session = await rawSession(origin);
    const stream = session.request({ ':method': 'POST', ':path': `/v1/hot/hang${query}`, ...json });
    stream.end('{}');
    await within(
      5_000,
      (async () => {
        while (!handled.includes('hot-hang')) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
      'the handler to start',
    );
    stream.close(0x8); // CANCEL
    releaseHanging();
    const after = await post(origin, `/v1/hot/echo${query}`, '{"name":"a","count":1}');
    expect(after.status).toBe(200);
  });
});

describe('hot routes and the rest of the server', () => {
  it('requests are opened in stream order, with their connection, before their bodies are read', async () => {
    const { origin, handled } = await startTestServer({ logger: false });
    const session = await rawSession(origin);
    const answers = [1, 2, 3].map(
      (n) =>
        new Promise<string>((resolve) => {
          const stream = session.request({ ':method': 'POST', ':path': '/v1/hot/opened', ...json, 'x-n': String(n) });
          let text = '';
          stream.on('data', (chunk: Buffer) => {
            text += chunk.toString();
          });
          stream.on('end', () => resolve(text));
          // The first body comes last: opening order, not arrival order, is what `opened` sees.
          setTimeout(() => stream.end('{}'), n === 1 ? 50 : 0);
        }),
    );
    expect(await within(5_000, Promise.all(answers), 'the answers')).toEqual(
      Array(3).fill(JSON.stringify({ connection: 'h2' })),
    );
    expect(handled.filter((h) => h.startsWith('opened'))).toEqual(['opened 1', 'opened 2', 'opened 3']);
  });

  it('inject reaches the fastify twin, without a connection', async () => {
    const { app, handled } = buildTestServer({ logger: false });
    onCleanup(() => app.close());
    const response = await app.inject({ method: 'POST', url: '/v1/hot/opened', headers: json, payload: '{}' });
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ connection: 'none' });
    expect(handled).toEqual(['opened undefined', 'handled undefined']);
  });

  it('another method on a hot path → 405 with Allow; other routes are untouched', async () => {
    const { origin } = await startTestServer({ logger: false });
    const response = await testClient(origin).request({ method: 'GET', path: '/v1/hot/echo' });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('POST');
    await response.body.dump();
    expect((await post(origin, '/v1/echo', '{"name":"a","count":1}')).status).toBe(200);
  });

  it('a closing server refuses hot requests with NODE_NOT_READY', async () => {
    const server = await startTestServer({ logger: false });
    const session = await rawSession(server.origin);
    const parked = session.request({ ':method': 'POST', ':path': '/v1/hot/hang', ...json });
    parked.end('{}');
    parked.on('error', () => {});
    await within(
      5_000,
      (async () => {
        while (!server.handled.includes('hot-hang')) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
      'the handler to start',
    );
    const closing = server.app.close();
    const refused = await within(
      5_000,
      new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/v1/hot/echo', ...json });
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
        stream.end('{"name":"a","count":1}');
      }).catch(() => 'refused by the transport'),
      'the refusal',
    );
    // Node may already have sent GOAWAY, which refuses the stream itself; either is a refusal.
    expect([503, 'refused by the transport']).toContain(refused);
    server.releaseHanging();
    // A raw session does not leave on GOAWAY by itself (undici's does); close() waits for it.
    session.destroy();
    await within(5_000, closing, 'the server to close');
  });

  it('/metrics counts hot requests under their route', async () => {
    const { origin } = await startTestServer({ logger: false });
    await post(origin, '/v1/hot/echo', '{"name":"a","count":1}');
    await post(origin, '/v1/hot/echo', '[]');
    const metrics = await (await testClient(origin).request({ method: 'GET', path: '/metrics' })).body.text();
    expect(metrics).toMatch(
      /millrace_http_request_duration_seconds_count\{[^}]*route="\/v1\/hot\/echo"[^}]*status_code="200"\} 1/,
    );
    expect(metrics).toMatch(
      /millrace_http_request_duration_seconds_count\{[^}]*route="\/v1\/hot\/echo"[^}]*status_code="400"\} 1/,
    );
  });
});
