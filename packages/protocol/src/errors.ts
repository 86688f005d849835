import { z } from 'zod';

/**
 * The one error catalogue of Millrace. Codes that Kafka has keep Kafka's name, number and
 * retriable flag (from Kafka's `Errors` table), so people who know Kafka read them at a glance.
 * Codes Kafka has no name for (HTTP-level conditions) live at 1000 and above.
 *
 * `httpStatus` is the status a server answers with when the error is the outcome of a whole
 * request. Per-partition errors inside a multi-partition response travel in the body instead.
 */
export const ErrorCatalogue = {
  UNKNOWN_SERVER_ERROR: { code: -1, retriable: false, httpStatus: 500, message: 'The server hit an unexpected error.' },
  OFFSET_OUT_OF_RANGE: {
    code: 1,
    retriable: false,
    httpStatus: 416,
    message: 'The requested offset is outside the range of offsets the partition holds.',
  },
  CORRUPT_MESSAGE: {
    code: 2,
    retriable: true,
    httpStatus: 400,
    message: 'The record batch is corrupt: it failed its CRC or its structure is impossible.',
  },
  UNKNOWN_TOPIC_OR_PARTITION: {
    code: 3,
    retriable: true,
    httpStatus: 404,
    message: 'This server does not host this topic-partition.',
  },
  INVALID_FETCH_SIZE: { code: 4, retriable: false, httpStatus: 400, message: 'The requested fetch size is invalid.' },
  LEADER_NOT_AVAILABLE: {
    code: 5,
    retriable: true,
    httpStatus: 503,
    message: 'There is no leader for this topic-partition, as a leader election is under way.',
  },
  NOT_LEADER_OR_FOLLOWER: {
    code: 6,
    retriable: true,
    httpStatus: 421,
    message: 'This server is not the leader (or a follower) of this partition.',
  },
  REQUEST_TIMED_OUT: { code: 7, retriable: true, httpStatus: 504, message: 'The request timed out.' },
  BROKER_NOT_AVAILABLE: { code: 8, retriable: false, httpStatus: 503, message: 'The broker is not available.' },
  REPLICA_NOT_AVAILABLE: {
    code: 9,
    retriable: true,
    httpStatus: 503,
    message: 'The replica is not available for the requested topic-partition.',
  },
  MESSAGE_TOO_LARGE: {
    code: 10,
    retriable: false,
    httpStatus: 413,
    message: 'The record batch is larger than the maximum the server accepts.',
  },
  STALE_CONTROLLER_EPOCH: {
    code: 11,
    retriable: false,
    httpStatus: 409,
    message: 'The controller epoch is older than the current one.',
  },
  OFFSET_METADATA_TOO_LARGE: {
    code: 12,
    retriable: false,
    httpStatus: 400,
    message: 'The metadata of a committed offset is larger than the server accepts.',
  },
  NETWORK_EXCEPTION: {
    code: 13,
    retriable: true,
    httpStatus: 503,
    message: 'The server disconnected before a response was received.',
  },
  COORDINATOR_LOAD_IN_PROGRESS: {
    code: 14,
    retriable: true,
    httpStatus: 503,
    message: 'The coordinator is loading and cannot serve requests yet.',
  },
  COORDINATOR_NOT_AVAILABLE: {
    code: 15,
    retriable: true,
    httpStatus: 503,
    message: 'The coordinator is not available.',
  },
  NOT_COORDINATOR: { code: 16, retriable: true, httpStatus: 421, message: 'This is not the correct coordinator.' },
  INVALID_TOPIC_EXCEPTION: { code: 17, retriable: false, httpStatus: 400, message: 'The topic name is invalid.' },
  RECORD_LIST_TOO_LARGE: {
    code: 18,
    retriable: false,
    httpStatus: 413,
    message: 'The request carries more record data than the server accepts.',
  },
  NOT_ENOUGH_REPLICAS: {
    code: 19,
    retriable: true,
    httpStatus: 503,
    message: 'The in-sync replicas are fewer than min.insync.replicas; the write was refused before append.',
  },
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: {
    code: 20,
    retriable: true,
    httpStatus: 503,
    message: 'The write was appended but fewer than min.insync.replicas replicas acknowledged it.',
  },
  INVALID_REQUIRED_ACKS: { code: 21, retriable: false, httpStatus: 400, message: 'acks must be 0, 1 or all.' },
  ILLEGAL_GENERATION: {
    code: 22,
    retriable: false,
    httpStatus: 409,
    message: 'The generation is not the group coordinator’s current one.',
  },
  INVALID_GROUP_ID: { code: 24, retriable: false, httpStatus: 400, message: 'The group id is invalid.' },
  UNKNOWN_MEMBER_ID: {
    code: 25,
    retriable: false,
    httpStatus: 409,
    message: 'The member id is not known to the coordinator.',
  },
  INVALID_SESSION_TIMEOUT: {
    code: 26,
    retriable: false,
    httpStatus: 400,
    message: 'The session timeout is outside the allowed range.',
  },
  REBALANCE_IN_PROGRESS: { code: 27, retriable: false, httpStatus: 409, message: 'The group is rebalancing.' },
  CLUSTER_AUTHORIZATION_FAILED: {
    code: 31,
    retriable: false,
    httpStatus: 403,
    message: 'The caller is not allowed to perform this cluster operation.',
  },
  INVALID_TIMESTAMP: { code: 32, retriable: false, httpStatus: 400, message: 'The timestamp is invalid.' },
  UNSUPPORTED_VERSION: {
    code: 35,
    retriable: false,
    httpStatus: 400,
    message: 'The version of this request or record is not supported.',
  },
  TOPIC_ALREADY_EXISTS: { code: 36, retriable: false, httpStatus: 409, message: 'The topic already exists.' },
  INVALID_PARTITIONS: { code: 37, retriable: false, httpStatus: 400, message: 'The number of partitions is invalid.' },
  INVALID_REPLICATION_FACTOR: {
    code: 38,
    retriable: false,
    httpStatus: 400,
    message: 'The replication factor is invalid or larger than the number of live brokers.',
  },
  INVALID_REPLICA_ASSIGNMENT: {
    code: 39,
    retriable: false,
    httpStatus: 400,
    message: 'The replica assignment is invalid.',
  },
  INVALID_CONFIG: { code: 40, retriable: false, httpStatus: 400, message: 'The configuration is invalid.' },
  NOT_CONTROLLER: {
    code: 41,
    retriable: true,
    httpStatus: 421,
    message: 'This controller is not the active controller.',
  },
  INVALID_REQUEST: { code: 42, retriable: false, httpStatus: 400, message: 'The request is malformed.' },
  POLICY_VIOLATION: {
    code: 44,
    retriable: false,
    httpStatus: 400,
    message: 'The request violates a configured policy.',
  },
  OUT_OF_ORDER_SEQUENCE_NUMBER: {
    code: 45,
    retriable: false,
    httpStatus: 409,
    message: 'The broker received an out-of-order sequence number.',
  },
  DUPLICATE_SEQUENCE_NUMBER: {
    code: 46,
    retriable: false,
    httpStatus: 409,
    message: 'The broker received a duplicate sequence number.',
  },
  INVALID_PRODUCER_EPOCH: {
    code: 47,
    retriable: false,
    httpStatus: 409,
    message: 'The producer epoch is older than the current one.',
  },
  INVALID_PRODUCER_ID_MAPPING: {
    code: 49,
    retriable: false,
    httpStatus: 409,
    message: 'The producer id is not known.',
  },
  OPERATION_NOT_ATTEMPTED: {
    code: 55,
    retriable: false,
    httpStatus: 409,
    message: 'The operation was not attempted because another in the same request failed.',
  },
  KAFKA_STORAGE_ERROR: {
    code: 56,
    retriable: true,
    httpStatus: 500,
    message: 'The storage under this replica or node failed.',
  },
  UNKNOWN_PRODUCER_ID: {
    code: 59,
    retriable: false,
    httpStatus: 409,
    message: 'The broker holds no state for this producer id.',
  },
  NON_EMPTY_GROUP: { code: 68, retriable: false, httpStatus: 409, message: 'The group has members.' },
  GROUP_ID_NOT_FOUND: { code: 69, retriable: false, httpStatus: 404, message: 'The group does not exist.' },
  FETCH_SESSION_ID_NOT_FOUND: {
    code: 70,
    retriable: true,
    httpStatus: 404,
    message: 'The fetch session does not exist.',
  },
  INVALID_FETCH_SESSION_EPOCH: {
    code: 71,
    retriable: true,
    httpStatus: 409,
    message: 'The fetch session epoch is not the expected one.',
  },
  FENCED_LEADER_EPOCH: {
    code: 74,
    retriable: true,
    httpStatus: 409,
    message: 'The leader epoch in the request is older than the replica’s.',
  },
  UNKNOWN_LEADER_EPOCH: {
    code: 75,
    retriable: true,
    httpStatus: 409,
    message: 'The leader epoch in the request is newer than the replica’s.',
  },
  UNSUPPORTED_COMPRESSION_TYPE: {
    code: 76,
    retriable: false,
    httpStatus: 400,
    message: 'The compression type is not supported.',
  },
  STALE_BROKER_EPOCH: {
    code: 77,
    retriable: false,
    httpStatus: 409,
    message: 'The broker epoch is not the current one.',
  },
  OFFSET_NOT_AVAILABLE: {
    code: 78,
    retriable: true,
    httpStatus: 503,
    message: 'The leader high watermark has not caught up yet.',
  },
  PREFERRED_LEADER_NOT_AVAILABLE: {
    code: 80,
    retriable: true,
    httpStatus: 503,
    message: 'The preferred leader is not available.',
  },
  GROUP_MAX_SIZE_REACHED: {
    code: 81,
    retriable: false,
    httpStatus: 409,
    message: 'The group has as many members as it may have.',
  },
  ELIGIBLE_LEADERS_NOT_AVAILABLE: {
    code: 83,
    retriable: true,
    httpStatus: 503,
    message: 'No replica eligible to lead is available.',
  },
  ELECTION_NOT_NEEDED: {
    code: 84,
    retriable: true,
    httpStatus: 409,
    message: 'The preferred leader is already the leader.',
  },
  INVALID_RECORD: { code: 87, retriable: false, httpStatus: 400, message: 'A record failed the broker’s validation.' },
  THROTTLING_QUOTA_EXCEEDED: { code: 89, retriable: true, httpStatus: 429, message: 'The request was throttled.' },
  PRODUCER_FENCED: {
    code: 90,
    retriable: false,
    httpStatus: 409,
    message: 'A newer producer with the same id has been started.',
  },
  RESOURCE_NOT_FOUND: { code: 91, retriable: false, httpStatus: 404, message: 'The resource does not exist.' },
  DUPLICATE_RESOURCE: { code: 92, retriable: false, httpStatus: 409, message: 'The resource already exists.' },
  INVALID_UPDATE_VERSION: {
    code: 95,
    retriable: false,
    httpStatus: 409,
    message: 'The partition epoch in the request is not the current one.',
  },
  UNKNOWN_TOPIC_ID: {
    code: 100,
    retriable: true,
    httpStatus: 404,
    message: 'This server does not know this topic id.',
  },
  DUPLICATE_BROKER_REGISTRATION: {
    code: 101,
    retriable: false,
    httpStatus: 409,
    message: 'A live broker with this id is already registered.',
  },
  BROKER_ID_NOT_REGISTERED: {
    code: 102,
    retriable: false,
    httpStatus: 404,
    message: 'No broker with this id is registered.',
  },
  INCONSISTENT_CLUSTER_ID: {
    code: 104,
    retriable: false,
    httpStatus: 409,
    message: 'The cluster id does not match this cluster’s.',
  },
  INELIGIBLE_REPLICA: {
    code: 107,
    retriable: false,
    httpStatus: 409,
    message: 'A replica in the new ISR is fenced, shutting down or not a replica of the partition.',
  },
  FENCED_MEMBER_EPOCH: {
    code: 110,
    retriable: false,
    httpStatus: 409,
    message: 'The member epoch is fenced by the coordinator.',
  },
  STALE_MEMBER_EPOCH: { code: 113, retriable: false, httpStatus: 409, message: 'The member epoch is stale.' },
  // Millrace's own codes: HTTP conditions and node states that Kafka's binary protocol has no name for.
  UNSUPPORTED_MEDIA_TYPE: {
    code: 1000,
    retriable: false,
    httpStatus: 415,
    message: 'The request’s content type is not accepted by this route.',
  },
  METHOD_NOT_ALLOWED: {
    code: 1001,
    retriable: false,
    httpStatus: 405,
    message: 'This route does not accept that HTTP method.',
  },
  PAYLOAD_TOO_LARGE: {
    code: 1002,
    retriable: false,
    httpStatus: 413,
    message: 'The request body is larger than this route accepts.',
  },
  AUTHENTICATION_FAILED: {
    code: 1003,
    retriable: false,
    httpStatus: 401,
    message: 'The credentials are missing or wrong.',
  },
  NODE_NOT_READY: {
    code: 1004,
    retriable: true,
    httpStatus: 503,
    message: 'The node is starting or catching up and does not serve this request yet.',
  },
  NOT_FOUND: { code: 1005, retriable: false, httpStatus: 404, message: 'There is no such route.' },
  CLIENT_CLOSED: {
    code: 1006,
    retriable: false,
    httpStatus: 499,
    message: 'The client, producer or consumer is closed; the call was not made or its outcome is unknown.',
  },
} as const satisfies Record<string, ErrorSpec>;

export interface ErrorSpec {
  /** Stable number: Kafka's where Kafka has the code, 1000+ for Millrace's own. */
  readonly code: number;
  readonly retriable: boolean;
  readonly httpStatus: number;
  readonly message: string;
}

export type ErrorCode = keyof typeof ErrorCatalogue;

const errorCodeNames = Object.keys(ErrorCatalogue) as [ErrorCode, ...ErrorCode[]];
export const ErrorCodeSchema = z.enum(errorCodeNames);

const codeByNumber = new Map<number, ErrorCode>(errorCodeNames.map((name) => [ErrorCatalogue[name].code, name]));

/** The catalogue entry for a Kafka-style numeric code, if the catalogue has it. */
export function errorCodeFromNumber(code: number): ErrorCode | undefined {
  return codeByNumber.get(code);
}

export interface MillraceErrorOptions {
  readonly cause?: unknown;
  /** Structured facts that help the caller act: the field at fault, the current leader, the valid range. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * The error every Millrace package throws for an operating condition (bad input, stale epoch,
 * dead peer). A broken invariant is not a MillraceError: it is a bug and crashes loudly.
 */
export class MillraceError extends Error {
  readonly code: ErrorCode;
  readonly errorCode: number;
  readonly retriable: boolean;
  readonly httpStatus: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message?: string, options: MillraceErrorOptions = {}) {
    const spec: ErrorSpec = ErrorCatalogue[code];
    super(message ?? spec.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MillraceError';
    this.code = code;
    this.errorCode = spec.code;
    this.retriable = spec.retriable;
    this.httpStatus = spec.httpStatus;
    this.details = options.details;
  }
}

export function isMillraceError(error: unknown, code?: ErrorCode): error is MillraceError {
  return error instanceof MillraceError && (code === undefined || error.code === code);
}

/** The body every Millrace HTTP server answers an error with. */
export const ErrorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.string().min(1).max(100),
    errorCode: z.number().int(),
    message: z.string().max(10_000),
    retriable: z.boolean(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

export interface ErrorResponse {
  readonly status: number;
  readonly body: ErrorBody;
}

/**
 * Turns any error into the standard response. MillraceErrors keep their code and message; zod
 * errors become INVALID_REQUEST naming each field; the errors fastify raises for bodies it cannot
 * take map to their typed codes; anything else is UNKNOWN_SERVER_ERROR with a generic message, so
 * internals never leak to a caller.
 */
export function toErrorResponse(error: unknown): ErrorResponse {
  const typed = toMillraceError(error);
  const body: ErrorBody = {
    error: {
      code: typed.code,
      errorCode: typed.errorCode,
      message: typed.message,
      retriable: typed.retriable,
      ...(typed.details === undefined ? {} : { details: { ...typed.details } }),
    },
  };
  return { status: typed.httpStatus, body };
}

/** A per-partition error as answers carry it (PartitionErrorSchema): the error body without its number. */
export interface PartitionErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
  readonly retriable: boolean;
  readonly details?: Record<string, unknown>;
}

/** Any error as a per-partition error, with the same mapping as `toErrorResponse`. */
export function toPartitionError(error: unknown): PartitionErrorBody {
  const { code, message, retriable, details } = toMillraceError(error);
  return { code, message, retriable, ...(details === undefined ? {} : { details: { ...details } }) };
}

/** A per-partition error from an answer, as the typed error it stands for (the inverse of `toPartitionError`). */
export function fromPartitionError(error: PartitionErrorBody): MillraceError {
  return new MillraceError(error.code, error.message, error.details === undefined ? {} : { details: error.details });
}

/** Maps fastify's own error codes (raised before a route's handler runs) to catalogue codes. */
const fastifyErrorCodes: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_REQUEST',
};

export function toMillraceError(error: unknown): MillraceError {
  if (error instanceof MillraceError) return error;
  if (error instanceof z.ZodError) return fromZodError(error);
  if (typeof error === 'object' && error !== null) {
    const { code, statusCode, message } = error as { code?: unknown; statusCode?: unknown; message?: unknown };
    const text = typeof message === 'string' ? message : undefined;
    if (typeof code === 'string' && code in fastifyErrorCodes) {
      return new MillraceError(fastifyErrorCodes[code] as ErrorCode, text, { cause: error });
    }
    // JSON.parse failures inside fastify's parser surface as SyntaxError with statusCode 400, and
    // a body with __proto__ or constructor keys is refused the same way.
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      if (statusCode === 413) return new MillraceError('PAYLOAD_TOO_LARGE', text, { cause: error });
      if (statusCode === 415) return new MillraceError('UNSUPPORTED_MEDIA_TYPE', text, { cause: error });
      return new MillraceError(
        'INVALID_REQUEST',
        text === undefined ? undefined : `The request is malformed: ${text}`,
        {
          cause: error,
        },
      );
    }
  }
  return new MillraceError('UNKNOWN_SERVER_ERROR', undefined, { cause: error });
}

/** INVALID_REQUEST whose message names every field at fault, as `where.path: problem`. */
export function fromZodError(error: z.ZodError, where = 'body'): MillraceError {
  const problems = error.issues.slice(0, 20).map((issue) => `${formatPath(where, issue.path)}: ${issue.message}`);
  const more = error.issues.length > 20 ? ` (and ${error.issues.length - 20} more)` : '';
  return new MillraceError('INVALID_REQUEST', `Invalid ${where}: ${problems.join('; ')}${more}`, {
    cause: error,
    details: { fields: error.issues.slice(0, 20).map((issue) => formatPath(where, issue.path)) },
  });
}

function formatPath(where: string, path: readonly PropertyKey[]): string {
  let out = where;
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : `.${String(part)}`;
  }
  return out;
}

/**
 * Parses `value` with `schema`, throwing INVALID_REQUEST that names the fields at fault. `where`
 * says which input it was (`body`, `query`, `config file /etc/millrace.json`).
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw fromZodError(result.error, where);
  return result.data;
}

/**
 * Rebuilds a typed error from an error body a server sent. A body that is not a Millrace error
 * body, or names a code this catalogue does not know, becomes UNKNOWN_SERVER_ERROR carrying what
 * was received, so a client never trusts an unchecked shape.
 */
export function errorFromResponse(status: number, body: unknown): MillraceError {
  const parsed = ErrorBodySchema.safeParse(body);
  if (!parsed.success) {
    return new MillraceError(
      'UNKNOWN_SERVER_ERROR',
      `The server answered HTTP ${status} without a Millrace error body.`,
      {
        details: { status },
      },
    );
  }
  const { code, message, details } = parsed.data.error;
  const known = ErrorCodeSchema.safeParse(code);
  if (!known.success) {
    return new MillraceError(
      'UNKNOWN_SERVER_ERROR',
      `The server answered with an unknown error code ${code}: ${message}`,
      {
        details: { status, code },
      },
    );
  }
  return new MillraceError(known.data, message, details === undefined ? {} : { details });
}
