import { ContentType, MillraceError, parseOrThrow } from '@millrace/protocol';
import type { z } from 'zod';

// The request parameters are typed by the one property each helper reads, so the helpers accept a
// fastify request of any server type (HTTP/2 here, HTTP/1 in someone's test) without generics.

/**
 * The JSON body, checked by `schema`. A failure is INVALID_REQUEST naming each field as
 * `body.field`. A frame body on a JSON route is UNSUPPORTED_MEDIA_TYPE rather than a confusing
 * schema error, and a missing body fails the schema like any other wrong value.
 */
export function parseBody<S extends z.ZodType>(schema: S, request: { readonly body: unknown }): z.output<S> {
  if (Buffer.isBuffer(request.body)) {
    throw new MillraceError(
      'UNSUPPORTED_MEDIA_TYPE',
      `This route takes ${ContentType.json}, not ${ContentType.frame}.`,
    );
  }
  return parseOrThrow(schema, request.body, 'body');
}

/** The query string, checked by `schema`; failures name fields as `query.field`. Values arrive as strings. */
export function parseQuery<S extends z.ZodType>(schema: S, request: { readonly query: unknown }): z.output<S> {
  return parseOrThrow(schema, request.query, 'query');
}

/** The route's path parameters (`:topic`), checked by `schema`; failures name fields as `path.field`. */
export function parseParams<S extends z.ZodType>(schema: S, request: { readonly params: unknown }): z.output<S> {
  return parseOrThrow(schema, request.params, 'path');
}

/**
 * The raw bytes of a frame body (`application/vnd.millrace.frame`), to hand to the protocol's
 * frame decoders. Any other body is UNSUPPORTED_MEDIA_TYPE.
 */
export function frameBody(request: { readonly body: unknown }): Buffer {
  if (!Buffer.isBuffer(request.body)) {
    throw new MillraceError('UNSUPPORTED_MEDIA_TYPE', `This route takes a ${ContentType.frame} body.`);
  }
  return request.body;
}
