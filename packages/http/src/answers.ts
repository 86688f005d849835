import { ContentType, errorFromResponse, fromZodError, MillraceError } from '@millrace/protocol';
import type { z } from 'zod';
import { clientDefaults, type FrameRequest, type HttpMethod, type JsonRequest } from './client.js';

/** One request as both transports (undici's client and a `node:http2` session) send it. */
export interface Exchange {
  readonly method: HttpMethod;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string | Uint8Array | undefined;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly maxResponseBytes: number;
}

/** A whole answer, of any status, read into memory. */
export interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * A 2xx JSON answer checked by `schema`. A non-2xx answer is the server's typed error, rebuilt by
 * `errorFromResponse`; a 2xx answer that is not JSON or fails the schema is UNKNOWN_SERVER_ERROR.
 * `where` names the peer and path in messages.
 */
export function checkJsonAnswer<S extends z.ZodType>(where: string, answer: Answer, schema: S): z.output<S> {
  if (!isSuccess(answer.status)) throw errorFromResponse(answer.status, parseJsonOrUndefined(answer.body));
  let value: unknown;
  try {
    value = answer.body.length === 0 ? undefined : JSON.parse(answer.body.toString('utf8'));
  } catch (error) {
    throw new MillraceError('UNKNOWN_SERVER_ERROR', `The answer from ${where} is not valid JSON.`, { cause: error });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const mismatch = fromZodError(parsed.error, 'response');
    throw new MillraceError(
      'UNKNOWN_SERVER_ERROR',
      `The answer from ${where} did not match the expected schema. ${mismatch.message}`,
      { cause: parsed.error, details: mismatch.details },
    );
  }
  return parsed.data;
}

/** A 2xx frame answer's bytes, for the protocol's frame decoders to check; errors as `checkJsonAnswer`. */
export function checkFrameAnswer(where: string, answer: Answer): Buffer {
  if (!isSuccess(answer.status)) throw errorFromResponse(answer.status, parseJsonOrUndefined(answer.body));
  if (answer.body.length > 0 && !answer.contentType.startsWith(ContentType.frame)) {
    throw new MillraceError(
      'UNKNOWN_SERVER_ERROR',
      `The answer from ${where} is ${answer.contentType || 'untyped'}, not ${ContentType.frame}.`,
    );
  }
  return answer.body;
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** An error answer's body, if it is JSON; `errorFromResponse` copes with anything else. */
function parseJsonOrUndefined(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The three kinds of exchange, built from the caller's request the same way for both transports:
 * a JSON call, a frame in with a JSON answer (produce), a frame (or JSON) in with a frame answer.
 */
export function jsonExchange(request: JsonRequest<z.ZodType>): Exchange {
  const headers: Record<string, string> = { accept: ContentType.json, ...request.headers };
  if (request.body !== undefined) headers['content-type'] = ContentType.json;
  return {
    method: request.method,
    path: request.path,
    headers,
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
    timeoutMs: request.timeoutMs,
    signal: request.signal,
    maxResponseBytes: request.maxResponseBytes ?? clientDefaults.maxJsonResponseBytes,
  };
}

export function sendFrameExchange(request: Omit<FrameRequest, 'bodyType'>): Exchange {
  return {
    method: 'POST',
    path: request.path,
    headers: { accept: ContentType.json, ...request.headers, 'content-type': ContentType.frame },
    body: request.body,
    timeoutMs: request.timeoutMs,
    signal: request.signal,
    maxResponseBytes: request.maxResponseBytes ?? clientDefaults.maxJsonResponseBytes,
  };
}

export function requestFrameExchange(request: FrameRequest): Exchange {
  return {
    method: 'POST',
    path: request.path,
    headers: {
      accept: `${ContentType.frame}, ${ContentType.json}`,
      ...request.headers,
      'content-type': request.bodyType === 'json' ? ContentType.json : ContentType.frame,
    },
    body: request.body,
    timeoutMs: request.timeoutMs,
    signal: request.signal,
    maxResponseBytes: request.maxResponseBytes ?? clientDefaults.maxFrameResponseBytes,
  };
}
