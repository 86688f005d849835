import { createHash, timingSafeEqual } from 'node:crypto';
import { Headers, MillraceError } from '@millrace/protocol';

/**
 * An authentication hook. Register it as `onRequest` (route option or `addHook` in a plugin), not
 * `preHandler`: onRequest runs before the body is read, so a caller without credentials cannot
 * make the node receive and parse a large body first.
 */
export type AuthHook = (
  request: { readonly headers: Readonly<Record<string, string | string[] | undefined>> },
  reply: { header(name: string, value: string): unknown },
) => Promise<void>;

/** Refuses, with 401 AUTHENTICATION_FAILED, any request whose cluster-secret header is not `secret`. */
export function requireClusterSecret(secret: string): AuthHook {
  const expected = digestOf(requireNonEmpty(secret, 'cluster secret'));
  return async (request) => {
    const given = request.headers[Headers.clusterSecret];
    if (typeof given !== 'string' || given.length === 0) {
      throw new MillraceError('AUTHENTICATION_FAILED', `The ${Headers.clusterSecret} header is missing.`);
    }
    if (!matches(given, expected)) {
      throw new MillraceError('AUTHENTICATION_FAILED', `The ${Headers.clusterSecret} header is wrong.`);
    }
  };
}

/** Refuses, with 401 AUTHENTICATION_FAILED, any request without `Authorization: Bearer <token>`. */
export function requireBearerToken(token: string): AuthHook {
  const expected = digestOf(requireNonEmpty(token, 'bearer token'));
  return async (request, reply) => {
    const refuse = (message: string): never => {
      // RFC 6750: a 401 for a bearer-protected resource names the scheme the caller should use.
      reply.header('www-authenticate', 'Bearer');
      throw new MillraceError('AUTHENTICATION_FAILED', message);
    };
    const given = request.headers[Headers.authorization];
    const presented = typeof given === 'string' ? /^Bearer +(\S+) *$/i.exec(given)?.[1] : undefined;
    if (presented === undefined) refuse('The authorization header is missing or is not "Bearer <token>".');
    else if (!matches(presented, expected)) refuse('The bearer token is wrong.');
  };
}

function requireNonEmpty(value: string, what: string): string {
  // An empty credential would let anyone in who sends an empty header: a configuration bug.
  if (value.length === 0) throw new MillraceError('INVALID_CONFIG', `The ${what} must not be empty.`);
  return value;
}

function digestOf(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Compares in constant time. timingSafeEqual needs equal lengths, and comparing lengths first would
 * leak the secret's length, so both sides are hashed to 32 bytes and the digests compared.
 */
function matches(given: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(digestOf(given), expectedDigest);
}
