import { ErrorBodySchema, encodeFrame, MillraceError } from '@millrace/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createServer, requireBearerToken, requireClusterSecret } from '../src/index.js';
import { adminToken, buildTestServer, clusterSecret, onCleanup } from './support.js';

// These tests drive the server through app.inject(), without a socket. test/h2.test.ts repeats the
// important cases over a real h2c connection.

const json = { 'content-type': 'application/json' };

function build(...args: Parameters<typeof buildTestServer>) {
  const server = buildTestServer(...args);
  onCleanup(() => server.app.close());
  return server;
}

/** The catalogue body of an answer, checked against the protocol's schema. */
function errorOf(response: { body: string }) {
  return ErrorBodySchema.parse(JSON.parse(response.body)).error;
}

describe('bad JSON bodies are refused before the handler runs', () => {
  const cases: [string, string, RegExp][] = [
    ['malformed JSON', '{"name": "a", "count": 1', /not valid JSON/],
    ['a JSON array', '[{"name": "a", "count": 1}]', /must be a JSON object, not an array/],
    ['a JSON string', '"hello"', /must be a JSON object, not a string/],
    ['a JSON number', '42', /must be a JSON object, not a number/],
    ['JSON null', 'null', /must be a JSON object, not null/],
    ['an empty body', '', /body is empty/],
    ['a __proto__ key', '{"name": "a", "count": 1, "__proto__": {"admin": true}}', /"__proto__"/],
    ['a nested __proto__ key', '{"name": "a", "count": 1, "x": [{"__proto__": {}}]}', /"__proto__"/],
    ['a __proto__ key spelled with an escape', '{"\\u005f_proto__": {"admin": true}}', /"__proto__"/],
    ['a constructor key', '{"name": "a", "count": 1, "constructor": {"prototype": {"admin": true}}}', /"constructor"/],
    ['a plain constructor key', '{"constructor": 1}', /"constructor"/],
  ];
  it.each(cases)('%s → 400 INVALID_REQUEST', async (_name, payload, message) => {
    const { app, handled } = build({ logger: false });
    const response = await app.inject({ method: 'POST', url: '/v1/echo', headers: json, payload });
    expect(response.statusCode).toBe(400);
    const error = errorOf(response);
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toMatch(message);
    expect(handled).toEqual([]);
    expect(Object.prototype).not.toHaveProperty('admin');
  });

  it('no body at all on a JSON route → 400 naming the body', async () => {
    const { app } = build({ logger: false });
    const response = await app.inject({ method: 'POST', url: '/v1/echo' });
    expect(response.statusCode).toBe(400);
    expect(errorOf(response)).toMatchObject({ code: 'INVALID_REQUEST', details: { fields: ['body'] } });
  });

  it('property: any JSON value is either refused with 400 or reaches the handler unchanged', async () => {
    const { app } = build({ logger: false });
    const hasForbiddenKey = (value: unknown): boolean =>
      typeof value === 'object' &&
      value !== null &&
      Object.entries(value).some(
        ([key, inner]) => key === '__proto__' || key === 'constructor' || hasForbiddenKey(inner),
      );
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const payload = JSON.stringify(value);
        const response = await app.inject({ method: 'POST', url: '/v1/raw', headers: json, payload });
        const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
        if (isObject && !hasForbiddenKey(value)) {
          expect(response.statusCode).toBe(200);
          expect(response.body).toBe(payload);
        } else {
          expect(response.statusCode).toBe(400);
          expect(errorOf(response).code).toBe('INVALID_REQUEST');
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('content types', () => {
  it.each([
    ['text/plain', { 'content-type': 'text/plain' }, /"text\/plain" is not accepted/],
    ['application/x-www-form-urlencoded', { 'content-type': 'application/x-www-form-urlencoded' }, /not accepted/],
    ['no content type', {}, /without a content type is not accepted/],
  ])('%s with a body → 415 UNSUPPORTED_MEDIA_TYPE', async (_name, headers, message) => {
    const { app, handled } = build({ logger: false });
    const response = await app.inject({ method: 'POST', url: '/v1/echo', headers, payload: 'name=a&count=1' });
    expect(response.statusCode).toBe(415);
    expect(errorOf(response)).toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: expect.stringMatching(message),
    });
    expect(handled).toEqual([]);
  });

  it('application/json with a charset is JSON', async () => {
    const { app } = build({ logger: false });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/echo',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: '{"name":"a","count":1}',
    });
    expect(response.statusCode).toBe(200);
  });

  it('a frame on a JSON route → 415, and JSON on a frame route → 415', async () => {
    const { app } = build({ logger: false });
    const frame = await app.inject({
      method: 'POST',
      url: '/v1/echo',
      headers: { 'content-type': 'application/vnd.millrace.frame' },
      payload: encodeFrame({}, []),
    });
    expect(frame.statusCode).toBe(415);
    const jsonOnFrameRoute = await app.inject({ method: 'POST', url: '/v1/frame', headers: json, payload: '{}' });
    expect(jsonOnFrameRoute.statusCode).toBe(415);
  });

  it('a frame body reaches the handler as raw bytes', async () => {
    const { app } = build({ logger: false });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/frame',
      headers: { 'content-type': 'application/vnd.millrace.frame' },
      payload: encodeFrame({ topic: 'orders' }, [Buffer.from([1, 2]), Buffer.from([3])]),
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/vnd.millrace.frame');
    expect(
      response.rawPayload.equals(encodeFrame({ echoed: { topic: 'orders' } }, [Buffer.from([3]), Buffer.from([1, 2])])),
    ).toBe(true);
  });
});

describe('body size', () => {
  it('a body over the server limit → 413 PAYLOAD_TOO_LARGE naming the limit', async () => {
    const { app, handled } = build({ logger: false, bodyLimitBytes: 1024 });
    const payload = JSON.stringify({ name: 'x'.repeat(2000), count: 1 });
    const response = await app.inject({ method: 'POST', url: '/v1/echo', headers: json, payload });
    expect(response.statusCode).toBe(413);
    expect(errorOf(response)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { bodyLimitBytes: 1024 } });
    expect(handled).toEqual([]);
  });

  it('a route can set a smaller limit of its own', async () => {
    const { app } = build({ logger: false });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/tiny',
      headers: json,
      payload: '{"a":"0123456789"}',
    });
    expect(response.statusCode).toBe(413);
    expect(errorOf(response).message).toMatch(/limit of 16 bytes/);
  });
});

describe('routing', () => {
  it('an unknown path → 404 NOT_FOUND', async () => {
    const { app } = build({ logger: false });
    const response = await app.inject({ method: 'GET', url: '/v1/nothing-here?x=1' });
    expect(response.statusCode).toBe(404);
    expect(errorOf(response)).toMatchObject({ code: 'NOT_FOUND', message: 'There is no route /v1/nothing-here.' });
  });

  it('a known path with another method → 405 METHOD_NOT_ALLOWED with Allow', async () => {
    const { app } = build({ logger: false });
    const response = await app.inject({ method: 'GET', url: '/v1/echo' });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(errorOf(response)).toMatchObject({ code: 'METHOD_NOT_ALLOWED', details: { allow: ['POST'] } });
  });

  it('405 also for a path that matches a route with parameters', async () => {
    const { app } = build({ logger: false });
    const response = await app.inject({ method: 'DELETE', url: '/v1/topics/orders' });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('GET, HEAD');
  });

  it('an unknown path is refused without reading its body', async () => {
    const { app } = build({ logger: false, bodyLimitBytes: 10 });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/nowhere',
      headers: json,
      payload: 'not json at all, and long',
    });
    expect(response.statusCode).toBe(404);
  });

  it('a malformed URL → 400 INVALID_REQUEST in the catalogue shape', async () => {
    const { app } = build({ logger: false });
    const response = await app.inject({ method: 'GET', url: '/v1/topics/%E0%A4%A' });
    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe('INVALID_REQUEST');
  });
});

describe('validation names the field at fault', () => {
  it('body fields', async () => {
    const { app } = build({ logger: false });
    const payload = JSON.stringify({ name: '', count: -1 });
    const response = await app.inject({ method: 'POST', url: '/v1/echo', headers: json, payload });
    expect(response.statusCode).toBe(400);
    const error = errorOf(response);
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toMatch(/body\.name: /);
    expect(error.message).toMatch(/body\.count: /);
    expect(error.details).toEqual({ fields: ['body.name', 'body.count'] });
  });

  it('an unknown field is refused (schemas are strict)', async () => {
    const { app } = build({ logger: false });
    const payload = JSON.stringify({ name: 'a', count: 1, admin: true });
    const response = await app.inject({ method: 'POST', url: '/v1/echo', headers: json, payload });
    expect(response.statusCode).toBe(400);
    expect(errorOf(response).message).toMatch(/admin/);
  });

  it('query fields', async () => {
    const { app } = build({ logger: false });
    const response = await app.inject({ method: 'GET', url: '/v1/search?limit=1.5' });
    expect(response.statusCode).toBe(400);
    expect(errorOf(response).details).toEqual({ fields: ['query.limit'] });
    expect((await app.inject({ method: 'GET', url: '/v1/search?limit=7' })).json()).toEqual({ limit: 7 });
  });

  it('path parameters', async () => {
    const { app } = build({ logger: false });
    const response = await app.inject({ method: 'GET', url: '/v1/topics/bad%20name' });
    expect(response.statusCode).toBe(400);
    expect(errorOf(response).details).toEqual({ fields: ['path.topic'] });
  });
});

describe('authentication runs before the body is read', () => {
  const body = { headers: json, payload: '{"this": "is never parsed"' };

  it.each([
    ['a missing cluster secret', {}, /missing/],
    ['a wrong cluster secret', { 'x-millrace-cluster-secret': 'guess' }, /wrong/],
    ['a cluster secret that differs only in length', { 'x-millrace-cluster-secret': `${clusterSecret}x` }, /wrong/],
  ])('%s → 401 AUTHENTICATION_FAILED, handler not called', async (_name, headers, message) => {
    const { app, handled } = build({ logger: false });
    const response = await app.inject({ method: 'POST', url: '/v1/secret', ...body, headers: { ...json, ...headers } });
    expect(response.statusCode).toBe(401);
    expect(errorOf(response)).toMatchObject({ code: 'AUTHENTICATION_FAILED', message: expect.stringMatching(message) });
    expect(handled).toEqual([]);
  });

  it('the right cluster secret passes', async () => {
    const { app, handled } = build({ logger: false });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/secret',
      headers: { ...json, 'x-millrace-cluster-secret': clusterSecret },
      payload: '{}',
    });
    expect(response.statusCode).toBe(200);
    expect(handled).toEqual(['secret']);
  });

  it.each([
    ['a missing token', {}],
    ['a wrong token', { authorization: 'Bearer guess' }],
    ['another scheme', { authorization: `Basic ${adminToken}` }],
  ])('%s → 401 with WWW-Authenticate: Bearer, handler not called', async (_name, headers) => {
    const { app, handled } = build({ logger: false });
    const response = await app.inject({ method: 'POST', url: '/v1/admin', ...body, headers: { ...json, ...headers } });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(errorOf(response).code).toBe('AUTHENTICATION_FAILED');
    expect(handled).toEqual([]);
  });

  it('the right bearer token passes, without a WWW-Authenticate header', async () => {
    const { app, handled } = build({ logger: false });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/admin',
      headers: { ...json, authorization: `bearer ${adminToken}` },
      payload: '{}',
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['www-authenticate']).toBeUndefined();
    expect(handled).toEqual(['admin']);
  });

  it('a plugin can protect every route it holds with one hook', async () => {
    const app = createServer({ logger: false });
    onCleanup(() => app.close());
    await app.register(async (internal) => {
      internal.addHook('onRequest', requireClusterSecret(clusterSecret));
      internal.get('/v1/internal/state', async () => ({ ok: true }));
    });
    expect((await app.inject({ method: 'GET', url: '/v1/internal/state' })).statusCode).toBe(401);
    const allowed = await app.inject({
      method: 'GET',
      url: '/v1/internal/state',
      headers: { 'x-millrace-cluster-secret': clusterSecret },
    });
    expect(allowed.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('an empty secret or token is a configuration error', () => {
    expect(() => requireClusterSecret('')).toThrow(MillraceError);
    expect(() => requireBearerToken('')).toThrow(/must not be empty/);
  });
});

describe('errors from handlers', () => {
  it('an unexpected exception → 500 with a generic message, logged at error with its cause', async () => {
    const { app, logs } = build();
    const response = await app.inject({ method: 'GET', url: '/v1/boom' });
    expect(response.statusCode).toBe(500);
    expect(errorOf(response)).toEqual({
      code: 'UNKNOWN_SERVER_ERROR',
      errorCode: -1,
      message: 'The server hit an unexpected error.',
      retriable: false,
    });
    expect(response.body).not.toMatch(/hunter2|Error:|at /);
    const logged = logs.find((line) => line.level === 50);
    expect(logged?.err?.message).toMatch(/hunter2/);
  });

  it('a typed error keeps its code, status, message and details; a 4xx is logged at debug', async () => {
    const { app, logs } = build();
    const response = await app.inject({ method: 'GET', url: '/v1/not-leader' });
    expect(response.statusCode).toBe(421);
    expect(errorOf(response)).toEqual({
      code: 'NOT_LEADER_OR_FOLLOWER',
      errorCode: 6,
      message: 'Broker 1 is not the leader of orders-0.',
      retriable: true,
      details: { leaderId: 2, leaderEpoch: 7 },
    });
    expect(logs.filter((line) => line.level >= 40)).toEqual([]);
    expect(logs.some((line) => line.level === 20 && line.msg.includes('not the leader'))).toBe(true);
  });
});

describe('/health and /metrics', () => {
  it('/health answers what the node reports', async () => {
    const app = createServer({ logger: false, health: () => ({ status: 'starting', role: 'follower' }) });
    onCleanup(() => app.close());
    const response = await app.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'starting', role: 'follower' });
  });

  it('/health defaults to ok', async () => {
    const app = createServer({ logger: false });
    onCleanup(() => app.close());
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' });
  });

  it('/metrics has process metrics and a duration histogram labelled by route pattern, not URL', async () => {
    const { app } = build({ logger: false });
    await app.inject({ method: 'GET', url: '/v1/topics/orders' });
    await app.inject({ method: 'GET', url: '/v1/topics/payments' });
    await app.inject({ method: 'GET', url: '/v1/no/such/route' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.body;
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toContain(
      'millrace_http_request_duration_seconds_count{method="GET",route="/v1/topics/:topic",status_code="200"} 2',
    );
    expect(text).toContain('route="unmatched",status_code="404"');
    expect(text).not.toContain('/v1/topics/orders');
    expect(text).not.toContain('/v1/no/such/route');
  });

  it('each server has its own registry, open to the node’s own metrics', async () => {
    const first = build({ logger: false }).app;
    const second = build({ logger: false }).app;
    expect(first.metricsRegistry).not.toBe(second.metricsRegistry);
    const { Counter } = await import('prom-client');
    new Counter({ name: 'millrace_test_total', help: 'A test counter.', registers: [first.metricsRegistry] }).inc(3);
    expect((await first.inject({ method: 'GET', url: '/metrics' })).body).toContain('millrace_test_total 3');
    expect((await second.inject({ method: 'GET', url: '/metrics' })).body).not.toContain('millrace_test_total');
  });
});
