import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants as http2Constants,
  type IncomingHttpHeaders,
} from 'node:http2';
import { MillraceError } from '@millrace/protocol';
import type { z } from 'zod';
import {
  type Answer,
  checkFrameAnswer,
  checkJsonAnswer,
  type Exchange,
  jsonExchange,
  requestFrameExchange,
  sendFrameExchange,
} from './answers.js';
import { clientDefaults, type FrameRequest, type H2ClientOptions, type JsonRequest } from './client.js';
import { CONNECTION_WINDOW_BYTES, FRAME_BYTES, STREAM_WINDOW_BYTES } from './windows.js';

/**
 * Requests over a `node:http2` session: the same exchanges as `requestFrame`, `requestJson` and
 * `sendFrame` on an undici client (one deadline for the whole exchange, a bounded answer read to
 * its end, the same typed errors), for hot paths bound by requests per second. DESIGN.md allows it
 * there, chosen by benchmark: the Raft transport sends hundreds of requests a second to each peer,
 * and with this session a three-node cluster spent about an eighth less CPU per commit and
 * committed about an eighth more per second than with undici's HTTP/2 client (BENCHMARKS.md,
 * packages/raft). The client SDK uses it for every call to a broker, for that cost and because it
 * can time out an unanswered PING (`pingTimeoutMs`), which undici cannot.
 *
 * One session (one h2c connection, prior knowledge) to one origin, opened on the first request
 * and opened again on the next request after it closes, fails or is told to go away. Like the
 * undici client it pings every `pingIntervalMs` while open, so the server's idle timer keeps it,
 * and it does not keep the process alive while no request is in flight. Requests beyond the
 * server's stream limit wait in Node's queue (`maxConcurrentStreams` is not used). `close()` ends
 * it for good: requests in flight and after fail with NETWORK_EXCEPTION.
 */
export interface FrameSession {
  /** Where requests go, e.g. `http://127.0.0.1:9093`. */
  readonly origin: string;
  /** As `requestFrame`: resolves to a 2xx answer's bytes; every failure is a MillraceError (or the caller's abort reason). */
  requestFrame(request: FrameRequest): Promise<Buffer>;
  /** As `requestJson`. */
  requestJson<S extends z.ZodType>(request: JsonRequest<S>): Promise<z.output<S>>;
  /** As `sendFrame`: a frame in, a JSON answer out. */
  sendFrame<S extends z.ZodType>(
    request: Omit<FrameRequest, 'bodyType'> & { readonly responseSchema: S },
  ): Promise<z.output<S>>;
  /** Closes the session at once; requests in flight fail with NETWORK_EXCEPTION. */
  close(): Promise<void>;
}

export function createFrameSession(origin: string, options: H2ClientOptions = {}): FrameSession {
  return new NodeFrameSession(new URL(origin).origin, options);
}

class NodeFrameSession implements FrameSession {
  readonly origin: string;
  readonly #options: H2ClientOptions;
  #session: ClientHttp2Session | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #closed = false;

  constructor(origin: string, options: H2ClientOptions) {
    this.origin = origin;
    this.#options = options;
  }

  requestFrame(request: FrameRequest): Promise<Buffer> {
    return this.#exchange(requestFrameExchange(request)).then((answer) =>
      checkFrameAnswer(`${this.origin}${request.path}`, answer),
    );
  }

  requestJson<S extends z.ZodType>(request: JsonRequest<S>): Promise<z.output<S>> {
    return this.#exchange(jsonExchange(request)).then((answer) =>
      checkJsonAnswer(`${this.origin}${request.path}`, answer, request.responseSchema),
    );
  }

  sendFrame<S extends z.ZodType>(
    request: Omit<FrameRequest, 'bodyType'> & { readonly responseSchema: S },
  ): Promise<z.output<S>> {
    return this.#exchange(sendFrameExchange(request)).then((answer) =>
      checkJsonAnswer(`${this.origin}${request.path}`, answer, request.responseSchema),
    );
  }

  /** One request and its whole answer, of any status, read up to a bound under one deadline. */
  #exchange(request: Exchange): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const where = `${this.origin}${request.path}`;
      const maxBytes = request.maxResponseBytes;
      let stream: ClientHttp2Stream | undefined;
      let settled = false;
      let answered = false;
      const settle = (error: unknown, answer?: Answer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.signal?.removeEventListener('abort', onCallerAbort);
        if (--this.#inFlight === 0) this.#session?.unref();
        // A stream given up on (a deadline, an abort, an oversized answer) is cancelled, so it
        // holds neither the server's work nor the connection's flow-control window. One whose
        // answer ended closes by itself.
        if (stream !== undefined && !answered && !stream.closed) stream.close(http2Constants.NGHTTP2_CANCEL);
        if (error === undefined) resolve(answer as Answer);
        else reject(error);
      };
      const networkError = (reason: string, cause?: unknown) =>
        new MillraceError('NETWORK_EXCEPTION', `${request.method} ${where} failed: ${reason}.`, { cause });
      const timer = setTimeout(() => {
        settle(
          new MillraceError(
            'REQUEST_TIMED_OUT',
            `${request.method} ${where} got no answer within ${request.timeoutMs} ms.`,
            { details: { timeoutMs: request.timeoutMs } },
          ),
        );
      }, request.timeoutMs);
      const onCallerAbort = () => settle(request.signal?.reason);
      this.#inFlight++;
      if (request.signal?.aborted === true) {
        onCallerAbort();
        return;
      }
      if (this.#closed) {
        settle(networkError('the session is closed'));
        return;
      }
      request.signal?.addEventListener('abort', onCallerAbort, { once: true });

      let session: ClientHttp2Session;
      try {
        session = this.#connect();
        session.ref();
        stream = session.request(
          { ':method': request.method, ':path': request.path, ...request.headers },
          { endStream: request.body === undefined },
        );
      } catch (error) {
        // A session that closed between our look and the request.
        settle(networkError(describeError(error), error));
        return;
      }

      let status = 0;
      let contentType = '';
      const chunks: Buffer[] = [];
      let length = 0;
      const tooLarge = () =>
        new MillraceError('UNKNOWN_SERVER_ERROR', `The answer from ${where} is larger than ${maxBytes} bytes.`, {
          details: { maxResponseBytes: maxBytes },
        });
      stream.on('response', (headers: IncomingHttpHeaders) => {
        status = Number(headers[':status']);
        const type = headers['content-type'];
        contentType = typeof type === 'string' ? type : '';
        if (Number(headers['content-length']) > maxBytes) settle(tooLarge());
      });
      stream.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > maxBytes) {
          settle(tooLarge());
          return;
        }
        chunks.push(chunk);
      });
      stream.on('end', () => {
        answered = true;
        // The readable side also ends when the stream is torn down: without an answer (the
        // session destroyed), or with part of one (reset mid-answer). Neither is an answer.
        const code = stream?.rstCode ?? http2Constants.NGHTTP2_NO_ERROR;
        if (status === 0 || code !== http2Constants.NGHTTP2_NO_ERROR) {
          settle(networkError(`the stream closed before the answer was complete (HTTP/2 code ${code})`));
          return;
        }
        const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
        settle(undefined, { status, contentType, body });
      });
      stream.on('error', (error) => settle(networkError(describeError(error), error)));
      // A stream reset without an error (the peer's RST_STREAM, the session closing) ends here.
      stream.on('close', () => {
        // Every stream closes, most after their answer: only one closed early needs an error built.
        if (settled) return;
        const code = stream?.rstCode ?? 0;
        settle(networkError(`the stream closed before the answer was complete (HTTP/2 code ${code})`));
      });
      if (request.body !== undefined) stream.end(request.body);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session;
    this.#forget(session);
    session?.destroy();
  }

  /** The open session, or a new one. */
  #connect(): ClientHttp2Session {
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    // Answers of megabytes (fetches) would otherwise crawl through HTTP/2's default 64 KiB
    // windows in 16 KiB frames: a round trip per window and a Buffer per frame. Large windows and
    // frames let them stream; memory stays bounded by `maxResponseBytes` and the streams in flight.
    const session = connect(this.origin, {
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW_BYTES, maxFrameSize: FRAME_BYTES },
    });
    session.once('connect', () => {
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        // A session already closing: nothing to widen.
      }
    });
    this.#session = session;
    const connectTimer = setTimeout(
      () => session.destroy(new Error(`no connection within ${this.#connectTimeoutMs()} ms`)),
      this.#connectTimeoutMs(),
    );
    connectTimer.unref();
    session.once('connect', () => clearTimeout(connectTimer));
    // Failures reach the requests through their streams; the session's own error event only
    // needs a listener so that it is not thrown.
    session.on('error', () => {});
    session.once('goaway', () => this.#forget(session));
    session.once('close', () => {
      clearTimeout(connectTimer);
      this.#forget(session);
    });
    const pingIntervalMs = this.#options.pingIntervalMs ?? clientDefaults.pingIntervalMs;
    if (pingIntervalMs > 0) {
      clearInterval(this.#pingTimer);
      const pingTimeoutMs = this.#options.pingTimeoutMs ?? clientDefaults.pingTimeoutMs;
      let awaitingAck = false;
      this.#pingTimer = setInterval(() => {
        if (session.closed || session.destroyed || awaitingAck) return;
        let deadline: NodeJS.Timeout | undefined;
        try {
          awaitingAck = session.ping(() => {
            awaitingAck = false;
            clearTimeout(deadline);
          });
        } catch {
          // A session closing: there is nothing left to watch.
          return;
        }
        if (awaitingAck && pingTimeoutMs > 0) {
          deadline = setTimeout(() => {
            session.destroy(new Error(`the peer did not answer a PING within ${pingTimeoutMs} ms`));
          }, pingTimeoutMs);
          deadline.unref();
        }
      }, pingIntervalMs);
      this.#pingTimer.unref();
    }
    if (this.#inFlight === 0) session.unref();
    return session;
  }

  #connectTimeoutMs(): number {
    return this.#options.connectTimeoutMs ?? clientDefaults.connectTimeoutMs;
  }

  /** Stops using `session`: the next request opens a new one. */
  #forget(session: ClientHttp2Session | undefined): void {
    if (session === undefined || this.#session !== session) return;
    this.#session = undefined;
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
  }
}

function describeError(error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && !reason.includes(code) ? `${reason} (${code})` : reason;
}
