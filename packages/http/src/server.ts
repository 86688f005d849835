import {
  type Http2Server,
  type ServerOptions as Http2ServerOptions,
  type Http2ServerRequest,
  type Http2ServerResponse,
  constants as http2Constants,
} from 'node:http2';
import { ContentType, MillraceError, Routes, toErrorResponse } from '@millrace/protocol';
import {
  type FastifyBaseLogger,
  type FastifyHttp2Options,
  type FastifyInstance,
  fastify,
  type HTTPMethods,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type HotHandler, type HotRequest, type HotRouteOptions, HotRoutes } from './hot-routes.js';
import { parseJsonObject } from './json.js';
import { createHttpMetrics } from './metrics.js';
import { logRefusal, payloadTooLarge, requestTimedOut, shuttingDown, unsupportedMediaType } from './refusals.js';
import { CONNECTION_WINDOW_BYTES, FRAME_BYTES, STREAM_WINDOW_BYTES } from './windows.js';

export type HealthStatus = 'ok' | 'starting' | 'degraded';

/** What `/health` answers: a status, plus whatever facts the node adds (role, term, lag, …). */
export interface HealthReport {
  readonly status: HealthStatus;
  readonly [fact: string]: unknown;
}

export interface ServerOptions {
  /** The node's pino logger; `false` for silence (tests). */
  readonly logger: Logger | false;
  /** Largest request body accepted; a route may set its own `bodyLimit`. Default 1 MiB. */
  readonly bodyLimitBytes?: number;
  /**
   * Longest a request may take from its arrival to its answer, receiving the body included: a
   * client that trickles a body, or a handler that hangs, gets 504 REQUEST_TIMED_OUT and frees its
   * slot. A route that waits on purpose (a long poll) sets its own `handlerTimeout`; a stream calls
   * `reply.hijack()`, which stops the clock. Default 30 s.
   */
  readonly requestTimeoutMs?: number;
  /**
   * An HTTP/2 session (one client connection) that carries no frames for this long is destroyed:
   * a peer that vanished without a FIN, one that connects and never speaks, one that stopped
   * reading its answers. Received PINGs count as activity, and clients from `createH2Client` ping
   * more often than this, so a healthy idle connection survives. Default 60 s.
   *
   * This is the only connection timeout an h2c server has: HTTP/1's `keepAliveTimeout` and
   * `requestTimeout` do not apply to an HTTP/2 server, and fastify's `connectionTimeout` and
   * `http2SessionTimeout` both arm this same per-session timer.
   */
  readonly sessionIdleTimeoutMs?: number;
  /** Streams one client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). Default 256. */
  readonly maxConcurrentStreams?: number;
  /** What `/health` reports. Default: always `{ status: 'ok' }`. */
  readonly health?: () => HealthReport | Promise<HealthReport>;
  /** Log every request and response at info level (fastify's request logging). Default false: hot paths would flood the log. */
  readonly logRequests?: boolean;
}

export const serverDefaults = {
  bodyLimitBytes: 1024 * 1024,
  requestTimeoutMs: 30_000,
  sessionIdleTimeoutMs: 60_000,
  maxConcurrentStreams: 256,
} as const;

/** A fastify instance over h2c, configured as every Millrace node needs. */
export type MillraceServer = FastifyInstance<
  Http2Server,
  Http2ServerRequest,
  Http2ServerResponse,
  FastifyBaseLogger
> & {
  /** This server's own Prometheus registry, served at `/metrics`; add the node's metrics to it. */
  readonly metricsRegistry: Registry;
  /**
   * A POST route for a hot data path (produce, fetch, replica fetch): served straight from its
   * HTTP/2 stream, and through fastify as well for `inject()` and URLs with a query string, with
   * the same guarantees either way (see hot-routes.ts).
   */
  hotPost(url: string, options: HotRouteOptions, handler: HotHandler): void;
};

/**
 * Builds the fastify instance a Millrace node serves from. Every answer that is not a success is a
 * catalogue error body (`toErrorResponse`), whichever stage refused it: routing (404, 405),
 * authentication (401), body reading (413, 415, 400), validation (400), the handler (its typed code,
 * or a generic 500) or the clock (504). Routes are added by the caller, as plugins.
 */
export function createServer(options: ServerOptions): MillraceServer {
  const bodyLimitBytes = options.bodyLimitBytes ?? serverDefaults.bodyLimitBytes;
  const requestTimeoutMs = options.requestTimeoutMs ?? serverDefaults.requestTimeoutMs;
  const sessionIdleTimeoutMs = options.sessionIdleTimeoutMs ?? serverDefaults.sessionIdleTimeoutMs;
  const http2Options: Http2ServerOptions = {
    // Wide windows and large frames, as the clients here announce (windows.ts).
    settings: {
      maxConcurrentStreams: options.maxConcurrentStreams ?? serverDefaults.maxConcurrentStreams,
      initialWindowSize: STREAM_WINDOW_BYTES,
      maxFrameSize: FRAME_BYTES,
    },
  };

  // fastify's HTTP/2 option type lacks `http`, but with `http2: true` fastify passes `http` to
  // http2.createServer, which is what reads `settings`.
  const fastifyOptions: FastifyHttp2Options<Http2Server> & { readonly http: Http2ServerOptions } = {
    http2: true,
    http: http2Options,
    loggerInstance: options.logger === false ? undefined : (options.logger as FastifyBaseLogger),
    logController: new LogController({ disableRequestLogging: !(options.logRequests ?? false) }),
    bodyLimit: bodyLimitBytes,
    handlerTimeout: requestTimeoutMs,
    // For an HTTP/2 server, `connectionTimeout` sets each session's idle timer and makes its expiry
    // destroy the session; `http2SessionTimeout` re-arms the same timer (to close gracefully, which
    // could wait forever on a dead peer's streams) and would override the length, so both get it.
    connectionTimeout: sessionIdleTimeoutMs,
    http2SessionTimeout: sessionIdleTimeoutMs,
    // Node 20's http2 server.close() waits for every open session to end; this makes fastify send
    // them GOAWAY on close, so close() returns once the requests in flight are answered.
    forceCloseConnections: true,
    // fastify's own 503 while closing bypasses the error handler; the onRequest hook below answers
    // NODE_NOT_READY instead, so even that refusal is a catalogue body.
    return503OnClosing: false,
    // Errors raised before routing (a malformed URL) go through the same handler as the rest.
    frameworkErrors: (error, request, reply) => sendError(error, request, reply),
  };
  const app = fastify(fastifyOptions);

  // Node hands a received PING to JavaScript, and so counts it as activity on the session's idle
  // timer, only when the session has a 'ping' listener. Without this one, a client's keep-alive
  // PINGs would not keep its connection open.
  app.server.on('session', (session) => {
    session.on('ping', keepAlive);
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
  });

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));

  // Only two content types exist on Millrace's wire. Removing fastify's defaults (text/plain among
  // them) makes anything else a 415 before a byte of the body is read.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(ContentType.json, { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonObject(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  app.addContentTypeParser(ContentType.frame, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Unknown routes are refused here, in the first hook, rather than in the not-found handler:
  // fastify would otherwise read and parse the body of a request that has nowhere to go, and
  // its request timeout does not cover not-found requests.
  app.addHook('onRequest', async (request, reply) => {
    if (closing) throw shuttingDown();
    if (request.is404) throw routeNotFound(app, request.method, request.url, reply);
  });
  app.setNotFoundHandler(async (request, reply) => {
    throw routeNotFound(app, request.method, request.url, reply);
  });
  // An answer can go out before the request's body has all arrived: refused credentials, a body
  // over the limit, a client too slow to finish in time. fastify then sets `connection: close`,
  // HTTP/1's way to stop the upload, which HTTP/2 forbids (Node drops it with a warning). The
  // HTTP/2 way (RFC 9113 §8.1) is to reset the stream with NO_ERROR once the answer is sent; Node
  // does that itself only if nothing read the body, and without it a trickling client would keep
  // its stream, and the body parser waiting on it, for as long as it liked.
  app.addHook('onSend', async (request, reply, payload) => {
    reply.removeHeader('connection');
    const { raw } = request;
    if (!raw.complete && raw.stream !== undefined) {
      const { stream } = raw;
      stream.once('finish', () => {
        if (!stream.destroyed) stream.close(http2Constants.NGHTTP2_NO_ERROR);
      });
    }
    return payload;
  });

  const metrics = createHttpMetrics();
  app.addHook('onResponse', async (request, reply) => {
    metrics.observe(
      request.method,
      request.is404 ? undefined : request.routeOptions.url,
      reply.statusCode,
      reply.elapsedTime,
    );
  });

  const health = options.health ?? (() => ({ status: 'ok' as const }));
  app.get(Routes.health, async () => await health());
  app.get(Routes.metrics, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return await metrics.registry.metrics();
  });

  const hot = new HotRoutes({
    log: app.log,
    metrics,
    bodyLimit: bodyLimitBytes,
    timeoutMs: requestTimeoutMs,
    closing: () => closing,
  });
  hot.install(app.server);
  /** The fastify twin of a hot route hands its handler the same view of the request at every step. */
  const views = new WeakMap<object, HotRequest>();
  const viewOf = (request: FastifyRequestLike): HotRequest => {
    let view = views.get(request);
    if (view === undefined) {
      const { raw } = request;
      view = {
        get body() {
          return request.body;
        },
        headers: request.headers,
        connection: raw.stream?.session,
        once: (event, listener) => raw.once(event, listener),
        off: (event, listener) => raw.off(event, listener),
      };
      views.set(request, view);
    }
    return view;
  };
  const hotPost = (url: string, routeOptions: HotRouteOptions, handler: HotHandler): void => {
    hot.add({ ...routeOptions, url, handler });
    const { auth, opened } = routeOptions;
    app.post(
      url,
      {
        // Only a route with an `opened` hook gets a hook beyond its authentication.
        onRequest: [
          ...(auth === undefined ? [] : [auth]),
          ...(opened === undefined
            ? []
            : [
                async (request: FastifyRequestLike) => {
                  opened(viewOf(request));
                },
              ]),
        ],
        ...(routeOptions.bodyLimit === undefined ? {} : { bodyLimit: routeOptions.bodyLimit }),
        ...(routeOptions.timeoutMs === undefined ? {} : { handlerTimeout: routeOptions.timeoutMs }),
      },
      async (request, reply) => {
        const answer = await handler(viewOf(request));
        return reply.type(answer.contentType).send(answer.body);
      },
    );
  };

  app.decorate('metricsRegistry', metrics.registry);
  app.decorate('hotPost', hotPost);
  // fastify's types cannot see a decoration; the lines above are what make this one true.
  return app as typeof app & { readonly metricsRegistry: Registry; hotPost: typeof hotPost };
}

/** What the fastify twin of a hot route reads of fastify's request. */
interface FastifyRequestLike {
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly raw: {
    readonly stream?: { readonly session?: object };
    once(event: 'close', listener: () => void): unknown;
    off(event: 'close', listener: () => void): unknown;
  };
}

function keepAlive(): void {}

/** The reply surface `sendError` needs; fastify's reply for any server type has it. */
interface ErrorReply {
  code(statusCode: number): ErrorReply;
  type(contentType: string): ErrorReply;
  send(payload?: unknown): unknown;
}

interface ErrorRequest {
  readonly log: FastifyBaseLogger;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly routeOptions: { readonly bodyLimit: number; readonly handlerTimeout: number };
}

function sendError(error: unknown, request: ErrorRequest, reply: ErrorReply): void {
  const { status, body } = toErrorResponse(explainFastifyError(error, request));
  logRefusal(request.log, error, status, body.error);
  reply.code(status).type(ContentType.json).send(body);
}

/**
 * `toErrorResponse` already maps fastify's codes; these three get a message that says what to do
 * about it, which the catalogue's general message cannot.
 */
function explainFastifyError(error: unknown, request: ErrorRequest): unknown {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  switch (code) {
    case 'FST_ERR_HANDLER_TIMEOUT':
      return requestTimedOut(request.routeOptions.handlerTimeout, error);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return unsupportedMediaType(request.headers['content-type'], error);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return payloadTooLarge(request.routeOptions.bodyLimit, error);
    default:
      return error;
  }
}

/**
 * 405 with `Allow` when the path exists under other methods, else 404. The router itself answers
 * which methods match the path, so routes with parameters (`/v1/topics/:topic`) are covered
 * without a second registry of patterns.
 */
function routeNotFound(
  app: FastifyInstance<Http2Server, Http2ServerRequest, Http2ServerResponse, FastifyBaseLogger>,
  method: string,
  url: string,
  reply: { header(name: string, value: string): unknown },
): MillraceError {
  const path = url.split('?', 1)[0] ?? url;
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  const allowed = app.supportedMethods.filter(
    (candidate) => candidate !== method && app.findRoute({ method: candidate as HTTPMethods, url: path }) !== null,
  );
  if (allowed.length === 0) return new MillraceError('NOT_FOUND', `There is no route ${shown}.`);
  reply.header('allow', allowed.join(', '));
  return new MillraceError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${shown}; use ${allowed.join(', ')}.`, {
    details: { allow: allowed },
  });
}
