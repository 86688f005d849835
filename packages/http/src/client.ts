import { MillraceError } from '@millrace/protocol';
import { Client } from 'undici';
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

export interface H2ClientOptions {
  /** Longest wait for the TCP connection to be established. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /**
   * Interval between HTTP/2 PINGs. They keep the server's idle timer (`sessionIdleTimeoutMs`) from
   * dropping a healthy idle connection, and they give a connection whose peer vanished without a
   * FIN something to send: a connection never written to looks open forever, while an
   * unacknowledged PING makes TCP give up on the dead path (after its retransmission time; Node
   * has no PING-ack timeout, so a request's own deadline usually fires first). 0 turns pings off.
   * Default 10 s.
   */
  readonly pingIntervalMs?: number;
  /**
   * `node:http2` sessions only (`createFrameSession`): a PING not acknowledged within this long
   * closes the session as dead, failing its requests with NETWORK_EXCEPTION, so a peer that
   * vanished without a FIN (a machine gone, a network cut, a paused process) is noticed in
   * `pingIntervalMs + pingTimeoutMs` rather than at the requests' deadlines or TCP's give-up time.
   * undici has no such timeout. 0 turns it off. Default 0.
   */
  readonly pingTimeoutMs?: number;
  /** Requests in flight at once on the one connection. Default 100. */
  readonly maxConcurrentStreams?: number;
}

export const clientDefaults = {
  connectTimeoutMs: 5_000,
  pingIntervalMs: 10_000,
  pingTimeoutMs: 0,
  maxConcurrentStreams: 100,
  maxJsonResponseBytes: 16 * 1024 * 1024,
  maxFrameResponseBytes: 64 * 1024 * 1024,
} as const;

/** undici 7.30 reads `useH2c` at runtime but its type declarations omit it; this adds it back. */
type ClientOptionsWithH2c = Client.Options & { readonly useH2c?: boolean };

/** The origin each client was made for, so error messages can name the peer. */
const originOf = new WeakMap<Client, string>();

/**
 * An undici client speaking h2c (HTTP/2 over cleartext, with prior knowledge) to one origin, as
 * every Millrace server expects: `allowH2` alone would open with HTTP/1.1 and fail. One client is
 * one connection; requests are multiplexed over it as HTTP/2 streams. The caller closes it.
 */
export function createH2Client(origin: string, options: H2ClientOptions = {}): Client {
  const maxConcurrentStreams = options.maxConcurrentStreams ?? clientDefaults.maxConcurrentStreams;
  const clientOptions: ClientOptionsWithH2c = {
    allowH2: true,
    useH2c: true,
    maxConcurrentStreams,
    // undici caps requests in flight at `pipelining` (default 1) even over HTTP/2; left alone, a
    // client would send one request at a time. The stream limit is the real bound.
    pipelining: maxConcurrentStreams,
    connect: { timeout: options.connectTimeoutMs ?? clientDefaults.connectTimeoutMs },
    pingInterval: options.pingIntervalMs ?? clientDefaults.pingIntervalMs,
  };
  const client = new Client(origin, clientOptions);
  originOf.set(client, new URL(origin).origin);
  return client;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface JsonRequest<S extends z.ZodType> {
  readonly method: HttpMethod;
  /** Path and query, e.g. `/v1/topics/orders?includeConfigs=true`. */
  readonly path: string;
  /** Sent as JSON when present. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Checks a 2xx answer; the promise resolves to its output. */
  readonly responseSchema: S;
  /** Deadline for the whole exchange: connecting, sending, the server's work and reading the answer. */
  readonly timeoutMs: number;
  /** Cancels the request; the promise then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Largest answer read. Default 16 MiB. */
  readonly maxResponseBytes?: number;
}

/**
 * Sends a JSON request and returns the answer checked by `responseSchema`. Every failure is a
 * MillraceError:
 * - a non-2xx answer is the server's typed error, rebuilt by `errorFromResponse`;
 * - a 2xx answer that is not JSON or fails the schema is UNKNOWN_SERVER_ERROR;
 * - no answer within `timeoutMs` is REQUEST_TIMED_OUT;
 * - a refused, reset or closed connection is NETWORK_EXCEPTION.
 * The last two are retriable, and their messages name the origin and path.
 */
export async function requestJson<S extends z.ZodType>(client: Client, request: JsonRequest<S>): Promise<z.output<S>> {
  const answer = await exchange(client, jsonExchange(request));
  return checkJsonAnswer(describe(client, request.path), answer, request.responseSchema);
}

/**
 * POSTs a frame whose answer is JSON (produce): the frame goes as `application/vnd.millrace.frame`,
 * the answer is checked by `responseSchema`. Failures as in `requestJson`.
 */
export async function sendFrame<S extends z.ZodType>(
  client: Client,
  request: Omit<FrameRequest, 'bodyType'> & { readonly responseSchema: S },
): Promise<z.output<S>> {
  const answer = await exchange(client, sendFrameExchange(request));
  return checkJsonAnswer(describe(client, request.path), answer, request.responseSchema);
}

export interface FrameRequest {
  readonly path: string;
  /** A frame (see the protocol's `encodeFrame`), sent as `application/vnd.millrace.frame`; or JSON bytes with `bodyType: 'json'`. */
  readonly body: Uint8Array;
  /**
   * What the body is. Default `frame`. `json` is for the calls whose request is JSON and whose
   * answer is a frame (fetch, replica fetch).
   */
  readonly bodyType?: 'frame' | 'json';
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Largest answer read. Default 64 MiB. */
  readonly maxResponseBytes?: number;
}

/**
 * POSTs a frame and returns the 2xx answer's bytes, for the protocol's frame decoders to check. A
 * 2xx answer of another content type is UNKNOWN_SERVER_ERROR; everything else fails as in
 * `requestJson`.
 */
export async function requestFrame(client: Client, request: FrameRequest): Promise<Buffer> {
  const answer = await exchange(client, requestFrameExchange(request));
  return checkFrameAnswer(describe(client, request.path), answer);
}

/**
 * One request and its whole answer, read into memory up to a bound, under one deadline. The
 * answer's body is always read to the end or destroyed, so no stream is left holding the
 * connection's flow-control window.
 */
async function exchange(client: Client, request: Exchange): Promise<Answer> {
  // One controller carries both the deadline and the caller's signal. A plain timer is used rather
  // than AbortSignal.timeout so it is cleared as soon as the answer is in: at thousands of requests
  // a second, deadlines left pending for their full length would pile up.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, request.timeoutMs);
  const onCallerAbort = () => controller.abort(request.signal?.reason);
  if (request.signal?.aborted === true) onCallerAbort();
  request.signal?.addEventListener('abort', onCallerAbort, { once: true });

  let response: Awaited<ReturnType<Client['request']>> | undefined;
  try {
    response = await client.request({
      method: request.method,
      path: request.path,
      headers: request.headers,
      body: request.body,
      signal: controller.signal,
      // undici holds every later request on the connection until a non-idempotent or "blocking"
      // one (any POST, by default) has its answer's headers: HTTP/1.1 pipelining rules, which it
      // applies to HTTP/2 as well. A long poll would then stall every call behind it. HTTP/2
      // streams are independent, and undici never resends a request by itself, so neither
      // guard is needed here.
      idempotent: true,
      blocking: false,
    });
    const body = await readBounded(response, request.maxResponseBytes, () => describe(client, request.path));
    const contentType = response.headers['content-type'];
    return { status: response.statusCode, contentType: typeof contentType === 'string' ? contentType : '', body };
  } catch (error) {
    response?.body.destroy();
    if (request.signal?.aborted === true && !timedOut) throw request.signal.reason;
    throw toNetworkError(error, timedOut, client, request);
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener('abort', onCallerAbort);
  }
}

async function readBounded(
  response: Awaited<ReturnType<Client['request']>>,
  maxBytes: number,
  where: () => string,
): Promise<Buffer> {
  const tooLarge = () =>
    new MillraceError('UNKNOWN_SERVER_ERROR', `The answer from ${where()} is larger than ${maxBytes} bytes.`, {
      details: { maxResponseBytes: maxBytes },
    });
  // undici enforces its own `maxResponseSize` over HTTP/1.1 only, so the bound is kept here.
  if (Number(response.headers['content-length']) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response.body) {
    length += (chunk as Buffer).length;
    if (length > maxBytes) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
}

/** undici's codes for its own timeouts; the deadline's abort is recognised by the signal. */
const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
/** Mistakes in the call itself: bugs, so they propagate unchanged rather than look retriable. */
const programmingErrorCodes = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_ARG_TYPE']);

function toNetworkError(error: unknown, timedOut: boolean, client: Client, request: Exchange): unknown {
  if (error instanceof MillraceError) return error;
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && programmingErrorCodes.has(code)) return error;
  const where = describe(client, request.path);
  if (timedOut || (typeof code === 'string' && timeoutCodes.has(code))) {
    return new MillraceError(
      'REQUEST_TIMED_OUT',
      `${request.method} ${where} got no answer within ${request.timeoutMs} ms.`,
      {
        cause: error,
        details: { timeoutMs: request.timeoutMs },
      },
    );
  }
  const reason = error instanceof Error ? error.message : String(error);
  const codeText = typeof code === 'string' ? ` (${code})` : '';
  return new MillraceError('NETWORK_EXCEPTION', `${request.method} ${where} failed: ${reason}${codeText}.`, {
    cause: error,
  });
}

function describe(client: Client, path: string): string {
  return `${originOf.get(client) ?? 'the server'}${path}`;
}
