import { ContentType, MillraceError } from '@millrace/protocol';
import type { FastifyBaseLogger } from 'fastify';

/**
 * The refusals a server makes before a handler runs, built in one place: fastify's path
 * (server.ts, from fastify's own errors) and the hot path (hot-routes.ts) must answer them with
 * the same codes and words.
 */

export function shuttingDown(): MillraceError {
  return new MillraceError('NODE_NOT_READY', 'The node is shutting down.');
}

export function requestTimedOut(timeoutMs: number | undefined, cause?: unknown): MillraceError {
  return new MillraceError('REQUEST_TIMED_OUT', `The server gave up on the request after ${timeoutMs} ms.`, { cause });
}

/** `given` is the request's content-type header; undefined when a body came without one. */
export function unsupportedMediaType(given: string | string[] | undefined, cause?: unknown): MillraceError {
  const what =
    typeof given === 'string' ? `Content type "${given.slice(0, 100)}" is` : 'A body without a content type is';
  return new MillraceError(
    'UNSUPPORTED_MEDIA_TYPE',
    `${what} not accepted; send ${ContentType.json} or ${ContentType.frame}.`,
    { cause },
  );
}

export function payloadTooLarge(limit: number | undefined, cause?: unknown): MillraceError {
  return new MillraceError('PAYLOAD_TOO_LARGE', `The body is larger than this route's limit of ${limit} bytes.`, {
    cause,
    details: { bodyLimitBytes: limit },
  });
}

/** A bug at error with its stack, a retriable refusal at info, the rest at debug. */
export function logRefusal(
  log: FastifyBaseLogger,
  error: unknown,
  status: number,
  body: { readonly code: string; readonly message: string; readonly retriable: boolean },
): void {
  if (status >= 500 && !body.retriable) {
    log.error({ err: error, code: body.code }, 'request failed: %s', body.message);
  } else if (status >= 500) {
    // A retriable condition (no leader yet, a coordinator loading, not enough replicas): the
    // caller retries; it is worth a line, not an error with a stack.
    log.info({ code: body.code }, 'request refused for now: %s', body.message);
  } else {
    log.debug({ err: error, code: body.code }, 'request refused: %s', body.message);
  }
}
