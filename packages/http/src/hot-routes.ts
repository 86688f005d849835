import {
  type Http2Server,
  constants as http2Constants,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { ContentType, toErrorResponse } from '@millrace/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { AuthHook } from './auth.js';
import { parseJsonObject } from './json.js';
import type { HttpMetrics } from './metrics.js';
import { logRefusal, payloadTooLarge, requestTimedOut, shuttingDown, unsupportedMediaType } from './refusals.js';

/**
 * What a hot route's handler sees of its request, whichever way it came: straight from an HTTP/2
 * stream, or through fastify (`app.inject()` in tests, a URL with a query string).
 */
export interface HotRequest {
  /** As fastify gives it: a JSON body parsed to an object, a frame body as its bytes, no body undefined. */
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The client's connection (its HTTP/2 session); undefined without one (inject). */
  readonly connection: object | undefined;
  /** `close` fires once, when the request's stream closes: answered, cancelled or dropped. */
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

/** A 200 answer. */
export interface HotAnswer {
  readonly contentType: string;
  readonly body: Buffer | string;
}

export interface HotRouteOptions {
  /** Largest body accepted; default the server's. */
  readonly bodyLimit?: number;
  /** From the request's arrival to its answer; default the server's `requestTimeoutMs`. */
  readonly timeoutMs?: number;
  /** Checked before a byte of the body is read. */
  readonly auth?: AuthHook;
  /** Called once the request is authenticated, before its body is read, in the order streams opened. */
  readonly opened?: (request: HotRequest) => void;
}

export type HotHandler = (request: HotRequest) => Promise<HotAnswer>;

export interface HotRoute extends HotRouteOptions {
  readonly url: string;
  readonly handler: HotHandler;
}

/**
 * The stream-level side of hot routes: requests to a hot route's exact path, with POST, are served
 * from the HTTP/2 stream itself; every other stream goes on to fastify through Node's compatibility
 * layer, as if nothing stood in between.
 *
 * Why: a 1 KiB request through fastify costs the server about 1.5 to 1.7 times the CPU of the same
 * exchange on the stream (Node's compat request and response objects, fastify's hooks and reply,
 * and the AbortController with its DOMException that a route timeout builds and aborts at every
 * request's close); at 64 KiB the two come out about even (BENCHMARKS.md, "packages/http — server
 * cost per request"). DESIGN.md decision 7 keeps fastify for the servers; this is the departure it
 * allows for hot data paths, written down in docs/development.md.
 *
 * What fastify guarantees, the hot path guarantees too, with the same catalogue errors: NODE_NOT_READY
 * while closing, authentication before the body is read (401), the content type (415), the body
 * limit while it arrives (413), the deadline (504), JSON parsing with forbidden keys (400), a
 * logged 500 for an unexpected failure, the request-duration metric, and a stream answered before its
 * body ended reset with NO_ERROR so the client stops sending.
 */
export class HotRoutes {
  readonly #routes = new Map<string, HotRoute>();
  readonly #log: FastifyBaseLogger;
  readonly #metrics: HttpMetrics;
  readonly #defaults: { readonly bodyLimit: number; readonly timeoutMs: number };
  readonly #closing: () => boolean;

  constructor(options: {
    readonly log: FastifyBaseLogger;
    readonly metrics: HttpMetrics;
    readonly bodyLimit: number;
    readonly timeoutMs: number;
    readonly closing: () => boolean;
  }) {
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#defaults = { bodyLimit: options.bodyLimit, timeoutMs: options.timeoutMs };
    this.#closing = options.closing;
  }

  add(route: HotRoute): void {
    if (this.#routes.has(route.url)) throw new Error(`invariant broken: hot route ${route.url} added twice`);
    this.#routes.set(route.url, route);
  }

  /**
   * Puts the dispatch in front of Node's compatibility layer. With a `request` listener (fastify's),
   * Node serves every stream through one `stream` listener of its own; that listener is taken off
   * and called for every stream that is not a hot route's.
   */
  install(server: Http2Server): void {
    const compat = server.listeners('stream');
    if (compat.length !== 1) {
      throw new Error(`invariant broken: expected Node's one compat stream listener, found ${compat.length}`);
    }
    const [serveCompat] = compat as [(...args: unknown[]) => void];
    server.removeAllListeners('stream');
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest: unknown[]) => {
      const route = headers[':method'] === 'POST' ? this.#routes.get(headers[':path'] ?? '') : undefined;
      if (route === undefined) serveCompat.call(server, stream, headers, ...rest);
      else this.#serve(route, stream, headers);
    });
  }

  #serve(route: HotRoute, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const started = performance.now();
    const bodyLimit = route.bodyLimit ?? this.#defaults.bodyLimit;
    const timeoutMs = route.timeoutMs ?? this.#defaults.timeoutMs;
    let answered = false;
    let bodyEnded = false;
    const replyHeaders: Record<string, string> = {};

    const answer = (status: number, contentType: string, body: Buffer | string): void => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      this.#metrics.observe('POST', route.url, status, performance.now() - started);
      if (stream.destroyed || stream.closed) return;
      stream.respond({ ':status': status, 'content-type': contentType, ...replyHeaders });
      // The end goes once the body's write has completed. With end(body) the stream closes (both
      // sides done) and is destroyed before Node runs the write's completion, and Node's Writable
      // then builds an ERR_STREAM_DESTROYED, stack and all, for nobody: 10 % of the CPU of a
      // 64 KiB request.
      stream.write(body, () => stream.end());
      // Answered before the whole body came (a refusal, the deadline): RFC 9113 §8.1's way to stop
      // the upload is to reset the stream with NO_ERROR once the answer is out.
      if (!bodyEnded) {
        stream.once('finish', () => {
          if (!stream.destroyed) stream.close(http2Constants.NGHTTP2_NO_ERROR);
        });
      }
    };
    // A body cut off by the stream's close rejects with undefined after the close listener below
    // (registered first) has settled the request, so it ends here.
    const fail = (error: unknown): void => {
      if (answered) return;
      const { status, body } = toErrorResponse(error);
      logRefusal(this.#log, error, status, body.error);
      answer(status, ContentType.json, JSON.stringify(body));
    };
    const timer = setTimeout(() => fail(requestTimedOut(timeoutMs)), timeoutMs);
    // A stream reset by the client, or closed with its session, is answered no more.
    stream.once('close', () => {
      answered = true;
      clearTimeout(timer);
    });
    stream.on('error', () => {});

    const request: HotRequest & { body: unknown } = {
      body: undefined,
      headers,
      connection: stream.session as ServerHttp2Session | undefined,
      once: (event, listener) => stream.once(event, listener),
      off: (event, listener) => stream.off(event, listener),
    };

    const run = async (): Promise<void> => {
      if (this.#closing()) throw shuttingDown();
      if (route.auth !== undefined) {
        await route.auth(request, {
          header: (name: string, value: string) => {
            replyHeaders[name.toLowerCase()] = value;
          },
        });
      }
      route.opened?.(request);
      const type = mediaType(headers['content-type']);
      if (type !== undefined && type !== ContentType.json && type !== ContentType.frame) {
        throw unsupportedMediaType(headers['content-type']);
      }
      const declared = Number(headers['content-length']);
      if (Number.isFinite(declared) && declared > bodyLimit) throw payloadTooLarge(bodyLimit);
      const bytes = await readBody(stream, bodyLimit);
      bodyEnded = true;
      if (bytes.length > 0 && type === undefined) throw unsupportedMediaType(undefined);
      if (type === ContentType.json) request.body = parseJsonObject(bytes.toString('utf8'));
      else if (type === ContentType.frame) request.body = bytes;
      const result = await route.handler(request);
      answer(200, result.contentType, result.body);
    };
    run().catch(fail);
  }
}

/**
 * Reads the whole body, refusing it (413) as soon as it passes `limit`. A stream that closes before
 * its end (reset by the client, its session gone) rejects with undefined: the close listener in
 * #serve has already settled the request, and an error built for every request would cost its
 * stack trace each time.
 */
function readBody(stream: ServerHttp2Stream, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) {
        stop();
        stream.pause();
        reject(payloadTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length));
    };
    const onClose = () => {
      stop();
      reject(undefined);
    };
    const stop = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onClose);
  });
}

/** `application/json; charset=utf-8` → `application/json`; undefined when absent. */
function mediaType(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  return (header.split(';', 1)[0] as string).trim().toLowerCase();
}
