import { fromZodError, MillraceError } from '@millrace/protocol';
import { z } from 'zod';
import { LOG_LEVELS, type LogSink } from './logger.js';
import { retryDefaults } from './retry.js';

/**
 * Every option the SDK takes, checked where it enters (a typo or a wrong type is INVALID_CONFIG
 * naming the field, never a silent default), with the defaults documented in docs/client.md.
 */

const ms = (max: number) => z.int().min(0).max(max);

/** `host:port` or `http://host:port`; the SDK speaks h2c to brokers. */
const BootstrapAddressSchema = z
  .string()
  .min(1)
  .transform((text, context) => {
    const withScheme = text.includes('://') ? text : `http://${text}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      context.addIssue({ code: 'custom', message: `"${text}" is not host:port` });
      return z.NEVER;
    }
    if (url.protocol !== 'http:' || url.port === '' || url.pathname !== '/' || url.search !== '') {
      context.addIssue({ code: 'custom', message: `"${text}" is not host:port (or http://host:port)` });
      return z.NEVER;
    }
    return url.origin;
  });

export const RetrySchema = z.strictObject({
  retries: z.int().min(0).max(1_000).default(retryDefaults.retries),
  initialRetryTimeMs: ms(60_000).default(retryDefaults.initialRetryTimeMs),
  maxRetryTimeMs: ms(600_000).default(retryDefaults.maxRetryTimeMs),
  multiplier: z.number().min(1).max(10).default(retryDefaults.multiplier),
  factor: z.number().min(0).max(1).default(retryDefaults.factor),
  deadlineMs: ms(3_600_000).default(retryDefaults.deadlineMs),
});

/** A producer's or consumer's changes to the client's retry block: only the fields given count. */
const RetryOverrideSchema = z.strictObject({
  retries: z.int().min(0).max(1_000).optional(),
  initialRetryTimeMs: ms(60_000).optional(),
  maxRetryTimeMs: ms(600_000).optional(),
  multiplier: z.number().min(1).max(10).optional(),
  factor: z.number().min(0).max(1).optional(),
  deadlineMs: ms(3_600_000).optional(),
});

/** `{ ...base, ...override }` without the override's absent fields. */
export function withOverride<T extends object>(base: T, override: Partial<T> | undefined): T {
  if (override === undefined) return base;
  const present = Object.fromEntries(Object.entries(override).filter(([, value]) => value !== undefined));
  return { ...base, ...present };
}

export const ClientOptionsSchema = z.strictObject({
  bootstrap: z.array(BootstrapAddressSchema).min(1, 'give at least one bootstrap broker').max(100),
  clientId: z.string().min(1).max(255).default('millrace'),
  token: z.string().min(1).max(4096).optional(),
  requestTimeoutMs: ms(600_000).min(1).default(30_000),
  connectTimeoutMs: ms(600_000).min(1).default(5_000),
  // At least a second: metadata younger than one round trip would always look stale.
  metadataMaxAgeMs: ms(86_400_000).min(1_000).default(300_000),
  pingIntervalMs: ms(600_000).default(2_000),
  pingTimeoutMs: ms(600_000).default(3_000),
  retry: RetrySchema.default(RetrySchema.parse({})),
  logLevel: z.enum(LOG_LEVELS).default('warn'),
  logger: z.custom<LogSink>((value) => typeof value === 'function', 'expected a function').optional(),
});
export type ClientOptionsInput = z.input<typeof ClientOptionsSchema>;

export const ProducerOptionsSchema = z.strictObject({
  acks: z
    .union([z.literal(0), z.literal(1), z.literal('all'), z.literal(-1).transform(() => 'all' as const)])
    .default('all'),
  idempotent: z.boolean().default(true),
  lingerMs: ms(60_000).default(5),
  batchBytes: z
    .int()
    .min(1)
    .max(64 * 1024 * 1024)
    .default(64 * 1024),
  compression: z.enum(['none', 'gzip']).default('none'),
  maxBufferedBytes: z
    .int()
    .min(1024)
    .max(2 ** 40)
    .default(32 * 1024 * 1024),
  maxInFlightRequests: z.int().min(1).max(5).default(5),
  requestTimeoutMs: ms(600_000).min(1).default(30_000),
  deliveryTimeoutMs: ms(86_400_000).min(1).default(120_000),
  partitioner: z
    .custom<(input: unknown) => number>((value) => typeof value === 'function', 'expected a function')
    .optional(),
  retry: RetryOverrideSchema.optional(),
});
export type ProducerOptionsInput = z.input<typeof ProducerOptionsSchema>;

export const ConsumerOptionsSchema = z.strictObject({
  /** Where to start when a partition has no position, or its position is out of range. */
  autoOffsetReset: z.enum(['earliest', 'latest', 'none']).default('latest'),
  maxWaitMs: ms(300_000).default(500),
  minBytes: z
    .int()
    .min(0)
    .max(256 * 1024 * 1024)
    .default(1),
  maxBytes: z
    .int()
    .min(1)
    .max(256 * 1024 * 1024)
    .default(50 * 1024 * 1024),
  maxBytesPerPartition: z
    .int()
    .min(1)
    .max(256 * 1024 * 1024)
    .default(1024 * 1024),
  maxBufferedBytes: z
    .int()
    .min(1024)
    .max(2 ** 40)
    .default(64 * 1024 * 1024),
  requestTimeoutMs: ms(600_000).min(1).default(30_000),
  /**
   * Joins this consumer group: partitions come from `subscribe()`, shared with the group's other
   * members by the coordinator, and positions start from the group's committed offsets.
   */
  groupId: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^\p{Cc}]+$/u, 'a group id must not contain control characters')
    .optional(),
  /** Commit the positions of processed records every `autoCommitIntervalMs`, and on revocation and close. */
  autoCommit: z.boolean().default(true),
  autoCommitIntervalMs: ms(3_600_000).min(100).default(5000),
  /** How long the member may take to give up partitions in a rebalance before it is removed (Kafka's max.poll.interval.ms). */
  rebalanceTimeoutMs: ms(3_600_000).min(1000).default(300_000),
  retry: RetryOverrideSchema.optional(),
});
export type ConsumerOptionsInput = z.input<typeof ConsumerOptionsSchema>;

/** Parses options with `schema`; anything wrong is INVALID_CONFIG naming the fields. */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const error = fromZodError(parsed.error, what);
  throw new MillraceError('INVALID_CONFIG', error.message, {
    cause: parsed.error,
    ...(error.details === undefined ? {} : { details: error.details }),
  });
}
