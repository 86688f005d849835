import { MillraceError } from '@millrace/protocol';

/**
 * How the SDK retries a failed call: exponential backoff with jitter, a bounded number of
 * attempts, and a total deadline. kafkajs's `retry` block, with the deadline added (Kafka's
 * `delivery.timeout.ms`): a call never retries past it, however many attempts are left.
 */
export interface RetryOptions {
  /** Retries after the first attempt. Default 10. */
  readonly retries: number;
  /** The first backoff. Default 100 ms. */
  readonly initialRetryTimeMs: number;
  /** No single backoff is longer. Default 2,000 ms. */
  readonly maxRetryTimeMs: number;
  /** Each backoff is the previous one times this. Default 2. */
  readonly multiplier: number;
  /** Jitter: each backoff is moved at random by up to this fraction either way. Default 0.2. */
  readonly factor: number;
  /** The whole call, every attempt and backoff included, gives up after this long. Default 30,000 ms. */
  readonly deadlineMs: number;
}

export const retryDefaults: RetryOptions = {
  retries: 10,
  initialRetryTimeMs: 100,
  maxRetryTimeMs: 2_000,
  multiplier: 2,
  factor: 0.2,
  deadlineMs: 30_000,
};

/** The backoff before retry number `retry` (0 for the first retry); `random` is in [0, 1). */
export function backoffMs(options: RetryOptions, retry: number, random: number): number {
  const base = Math.min(options.maxRetryTimeMs, options.initialRetryTimeMs * options.multiplier ** retry);
  const jittered = base * (1 - options.factor + 2 * options.factor * random);
  return Math.max(0, Math.round(Math.min(options.maxRetryTimeMs, jittered)));
}

export interface RetryContext {
  /** 0 for the first attempt. */
  readonly attempt: number;
  /** Milliseconds left before the deadline. */
  readonly remainingMs: number;
}

export interface RetryHooks {
  /** Called before each backoff with the error that caused it (refresh metadata here). */
  readonly onRetry?: (error: MillraceError, attempt: number) => void | Promise<void>;
  /** Ends the waiting early (the client closing); the call then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  readonly random?: () => number;
  readonly now?: () => number;
  /** Retry only these codes (default: every error whose `retriable` is true). */
  readonly retryOn?: ReadonlySet<string>;
}

/**
 * Runs `attempt` until it succeeds, fails with an error that is not retriable, runs out of
 * retries, or reaches the deadline. Errors that are not MillraceErrors are bugs and propagate at
 * once. The error given up on says how many attempts were made.
 */
export async function withRetry<T>(
  what: string,
  options: RetryOptions,
  attempt: (context: RetryContext) => Promise<T>,
  hooks: RetryHooks = {},
): Promise<T> {
  const now = hooks.now ?? (() => performance.now());
  const random = hooks.random ?? Math.random;
  const deadline = now() + options.deadlineMs;
  for (let tries = 0; ; tries++) {
    hooks.signal?.throwIfAborted();
    let error: MillraceError;
    try {
      return await attempt({ attempt: tries, remainingMs: Math.max(0, deadline - now()) });
    } catch (thrown) {
      if (!(thrown instanceof MillraceError)) throw thrown;
      error = thrown;
    }
    if (!(hooks.retryOn?.has(error.code) ?? error.retriable)) throw error;
    const wait = backoffMs(options, tries, random());
    if (tries >= options.retries || now() + wait >= deadline) {
      throw new MillraceError(error.code, `${what} failed after ${tries + 1} attempts: ${error.message}`, {
        cause: error,
        details: { ...error.details, attempts: tries + 1 },
      });
    }
    await hooks.onRetry?.(error, tries);
    await sleep(wait, hooks.signal);
  }
}

/** A wait that an abort ends early with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
