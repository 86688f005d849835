import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ErrorBodySchema,
  ErrorCatalogue,
  type ErrorCode,
  errorCodeFromNumber,
  errorFromResponse,
  isMillraceError,
  MillraceError,
  parseOrThrow,
  toErrorResponse,
} from '../src/errors.js';

describe('error catalogue', () => {
  it('gives every code a unique number, an HTTP error status and a message', () => {
    const numbers = new Set<number>();
    for (const [name, spec] of Object.entries(ErrorCatalogue)) {
      expect(numbers.has(spec.code), `${name} reuses ${spec.code}`).toBe(false);
      numbers.add(spec.code);
      expect(spec.httpStatus).toBeGreaterThanOrEqual(400);
      expect(spec.httpStatus).toBeLessThan(600);
      expect(spec.message.length).toBeGreaterThan(10);
      expect(errorCodeFromNumber(spec.code)).toBe(name);
    }
  });

  it('is documented in full in docs/protocol.md', () => {
    const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
    for (const [name, spec] of Object.entries(ErrorCatalogue)) {
      // Table cells may be padded by the formatter.
      const cells = [`\`${name}\``, String(spec.code), String(spec.httpStatus), spec.retriable ? 'yes' : 'no'];
      const row = new RegExp(`\\|${cells.map((cell) => ` *${cell} *`).join('\\|')}\\|`);
      expect(doc, name).toMatch(row);
    }
  });

  it("keeps Kafka's numbers and retriable flags for Kafka's codes", () => {
    const kafka: [ErrorCode, number, boolean][] = [
      ['OFFSET_OUT_OF_RANGE', 1, false],
      ['CORRUPT_MESSAGE', 2, true],
      ['UNKNOWN_TOPIC_OR_PARTITION', 3, true],
      ['LEADER_NOT_AVAILABLE', 5, true],
      ['NOT_LEADER_OR_FOLLOWER', 6, true],
      ['MESSAGE_TOO_LARGE', 10, false],
      ['NOT_ENOUGH_REPLICAS', 19, true],
      ['NOT_ENOUGH_REPLICAS_AFTER_APPEND', 20, true],
      ['INVALID_REPLICATION_FACTOR', 38, false],
      ['NOT_CONTROLLER', 41, true],
      ['INVALID_REQUEST', 42, false],
      ['OUT_OF_ORDER_SEQUENCE_NUMBER', 45, false],
      ['DUPLICATE_SEQUENCE_NUMBER', 46, false],
      ['FENCED_LEADER_EPOCH', 74, true],
      ['UNSUPPORTED_COMPRESSION_TYPE', 76, false],
      ['STALE_BROKER_EPOCH', 77, false],
    ];
    for (const [name, code, retriable] of kafka) {
      expect(ErrorCatalogue[name]).toMatchObject({ code, retriable });
    }
  });
});

describe('toErrorResponse', () => {
  it('keeps a MillraceError as it is, with its details', () => {
    const error = new MillraceError('NOT_LEADER_OR_FOLLOWER', 'broker 2 leads p0', { details: { leaderId: 2 } });
    expect(toErrorResponse(error)).toEqual({
      status: 421,
      body: {
        error: {
          code: 'NOT_LEADER_OR_FOLLOWER',
          errorCode: 6,
          message: 'broker 2 leads p0',
          retriable: true,
          details: { leaderId: 2 },
        },
      },
    });
  });

  it('turns a zod error into INVALID_REQUEST naming each field', () => {
    const schema = z.strictObject({ topics: z.array(z.strictObject({ partition: z.int() })) });
    const result = schema.safeParse({ topics: [{ partition: 1.5 }], extra: true });
    expect(result.success).toBe(false);
    const { status, body } = toErrorResponse(result.error);
    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_REQUEST');
    expect(body.error.message).toContain('body.topics[0].partition');
    expect(body.error.message).toContain('extra');
  });

  it("maps fastify's body errors to their typed codes", () => {
    const cases: [object, number, string][] = [
      [
        { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415, message: 'Unsupported Media Type' },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413, message: 'Request body is too large' },
        413,
        'PAYLOAD_TOO_LARGE',
      ],
      [{ code: 'FST_ERR_CTP_EMPTY_JSON_BODY', statusCode: 400, message: 'empty' }, 400, 'INVALID_REQUEST'],
      [Object.assign(new SyntaxError('Unexpected token } in JSON'), { statusCode: 400 }), 400, 'INVALID_REQUEST'],
    ];
    for (const [error, status, code] of cases) {
      const response = toErrorResponse(error);
      expect(response.status).toBe(status);
      expect(response.body.error.code).toBe(code);
    }
  });

  it('hides the message of an unexpected error', () => {
    const response = toErrorResponse(new TypeError('cannot read x of undefined at /srv/secret/path.ts'));
    expect(response.status).toBe(500);
    expect(response.body.error.code).toBe('UNKNOWN_SERVER_ERROR');
    expect(response.body.error.message).not.toContain('secret');
    expect(toErrorResponse('a string').body.error.code).toBe('UNKNOWN_SERVER_ERROR');
    expect(toErrorResponse(null).body.error.code).toBe('UNKNOWN_SERVER_ERROR');
  });

  it('produces bodies that its own schema accepts', () => {
    const body = toErrorResponse(new MillraceError('OFFSET_OUT_OF_RANGE')).body;
    expect(ErrorBodySchema.parse(body)).toEqual(body);
  });
});

describe('errorFromResponse', () => {
  it('rebuilds the typed error a server sent', () => {
    const sent = toErrorResponse(
      new MillraceError('FENCED_LEADER_EPOCH', 'epoch 3 < 4', { details: { leaderEpoch: 4 } }),
    );
    const error = errorFromResponse(sent.status, sent.body);
    expect(isMillraceError(error, 'FENCED_LEADER_EPOCH')).toBe(true);
    expect(error.retriable).toBe(true);
    expect(error.message).toBe('epoch 3 < 4');
    expect(error.details).toEqual({ leaderEpoch: 4 });
  });

  it('never trusts a body that is not a Millrace error body', () => {
    for (const body of [
      undefined,
      'oops',
      { error: 'x' },
      { error: { code: 'NOPE', errorCode: 1, message: '', retriable: true } },
    ]) {
      const error = errorFromResponse(502, body);
      expect(error.code).toBe('UNKNOWN_SERVER_ERROR');
    }
  });
});

describe('parseOrThrow', () => {
  it('names the input in the message', () => {
    expect(() => parseOrThrow(z.strictObject({ port: z.int() }), { port: 'x' }, 'config file c.json')).toThrow(
      /Invalid config file c\.json: config file c\.json\.port/,
    );
  });
});
