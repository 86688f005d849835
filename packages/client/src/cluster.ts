import { createFrameSession, type FrameSession } from '@millrace/http';
import { type ErrorCode, MetadataResponseSchema, MillraceError, Routes } from '@millrace/protocol';
import type { Logger } from './logger.js';
import { ClusterMetadata, type CurrentLeader, type LeaderInfo, type TopicInfo } from './metadata.js';
import { type RetryOptions, withRetry } from './retry.js';

export interface ClusterOptions {
  /** Origins (`http://host:port`) to ask first, in order. */
  readonly bootstrap: readonly string[];
  readonly clientId: string;
  readonly token: string | undefined;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly metadataMaxAgeMs: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly retry: RetryOptions;
  readonly logger: Logger;
}

/** Errors after which the partition's leader may have moved: its topic's metadata is asked again. */
const STALE_LEADER_CODES: ReadonlySet<ErrorCode> = new Set([
  'NOT_LEADER_OR_FOLLOWER',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'LEADER_NOT_AVAILABLE',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'UNKNOWN_TOPIC_ID',
  'NOT_ENOUGH_REPLICAS',
  'NODE_NOT_READY',
  'KAFKA_STORAGE_ERROR',
  'REPLICA_NOT_AVAILABLE',
]);
/** Errors that say a broker, not a partition, is in trouble: everything it led may have moved. */
const BROKER_DOWN_CODES: ReadonlySet<ErrorCode> = new Set(['NETWORK_EXCEPTION', 'REQUEST_TIMED_OUT']);

/**
 * The client's view of the cluster and its connections, shared by its producers, consumers and
 * admin: one HTTP/2 session per broker, metadata asked of any broker (the bootstrap list is the
 * fallback when no known broker answers), refreshed when older than `metadataMaxAgeMs` and after
 * any error that says a leader may have moved.
 */
export class Cluster {
  readonly metadata = new ClusterMetadata();
  readonly #options: ClusterOptions;
  readonly #sessions = new Map<string, FrameSession>();
  /** The refresh under way, which later callers join rather than start another. */
  #refreshing: { readonly topics: ReadonlySet<string> | 'all'; readonly done: Promise<void> } | undefined;
  readonly #closing = new AbortController();
  readonly #headers: Readonly<Record<string, string>>;

  constructor(options: ClusterOptions) {
    this.#options = options;
    this.#headers = {
      'x-millrace-client-id': options.clientId,
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
    };
  }

  get options(): ClusterOptions {
    return this.#options;
  }

  /** Aborted when the client closes: retries and long waits stop with it. */
  get signal(): AbortSignal {
    return this.#closing.signal;
  }

  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** Headers every request carries: the client id, and the token when one is set. */
  get headers(): Readonly<Record<string, string>> {
    return this.#headers;
  }

  /** The one session to `origin`, opened on first use. */
  session(origin: string): FrameSession {
    if (this.closed) throw closedError();
    let session = this.#sessions.get(origin);
    if (session === undefined) {
      session = createFrameSession(origin, {
        connectTimeoutMs: this.#options.connectTimeoutMs,
        pingIntervalMs: this.#options.pingIntervalMs,
        pingTimeoutMs: this.#options.pingTimeoutMs,
      });
      this.#sessions.set(origin, session);
    }
    return session;
  }

  /** Makes sure the metadata of `topics` is younger than `metadataMaxAgeMs`. */
  async ensure(topics: readonly string[]): Promise<void> {
    const now = performance.now();
    const stale = topics.filter((topic) => !this.metadata.isFresh(topic, now, this.#options.metadataMaxAgeMs));
    if (stale.length > 0) await this.refresh(stale);
  }

  /** The topic's partitions, from metadata younger than the maximum age; typed error if it does not exist. */
  async topic(name: string): Promise<TopicInfo> {
    await this.ensure([name]);
    const info = this.metadata.topic(name);
    if (info === undefined) this.metadata.leader(name, 0); // throws the topic's error
    return info as TopicInfo;
  }

  /**
   * The topic's partitions, asking again (with fresh metadata) while it is unknown or has no
   * leaders yet, within the retry block: a topic just created is known to the brokers a moment
   * after the create answers, and Kafka's clients wait for it the same way.
   */
  findTopic(name: string, retry: RetryOptions = this.#options.retry): Promise<TopicInfo> {
    return withRetry(`Finding topic ${name}`, retry, () => this.topic(name), {
      signal: this.signal,
      onRetry: () => this.metadata.invalidate(name),
    });
  }

  async leader(topic: string, partition: number): Promise<LeaderInfo> {
    await this.ensure([topic]);
    return this.metadata.leader(topic, partition);
  }

  /**
   * Asks for the metadata of `topics` (every topic when undefined), joining a refresh under way
   * that covers them. The brokers known are asked first, then the bootstrap addresses, each once;
   * the first answer wins. Fails with the last error when none answers.
   */
  async refresh(topics?: readonly string[]): Promise<void> {
    const under = this.#refreshing;
    if (
      under !== undefined &&
      (under.topics === 'all' || (topics?.every((t) => under.topics !== 'all' && under.topics.has(t)) ?? false))
    ) {
      return under.done;
    }
    const wanted: ReadonlySet<string> | 'all' = topics === undefined ? 'all' : new Set(topics);
    const done = (async () => {
      if (under !== undefined) await under.done.catch(() => undefined);
      await this.#askMetadata(topics);
    })();
    const entry = { topics: wanted, done };
    this.#refreshing = entry;
    try {
      await done;
    } finally {
      if (this.#refreshing === entry) this.#refreshing = undefined;
    }
  }

  async #askMetadata(topics: readonly string[] | undefined): Promise<void> {
    const tried: string[] = [];
    let last: unknown;
    for (const origin of this.#candidates()) {
      if (this.closed) throw closedError();
      try {
        const answer = await this.session(origin).requestJson({
          method: 'POST',
          path: Routes.metadata,
          body: topics === undefined ? {} : { topics: [...topics] },
          headers: this.#headers,
          responseSchema: MetadataResponseSchema,
          timeoutMs: this.#options.requestTimeoutMs,
        });
        this.metadata.apply(answer, performance.now());
        this.#options.logger.debug('metadata refreshed', { from: origin, topics, brokers: answer.brokers.length });
        return;
      } catch (error) {
        if (error instanceof MillraceError && !error.retriable) throw error;
        this.#options.logger.debug('a broker did not answer metadata', { from: origin, error });
        tried.push(`${origin} (${error instanceof Error ? error.message : String(error)})`);
        last = error;
      }
    }
    const code = last instanceof MillraceError ? last.code : 'NETWORK_EXCEPTION';
    throw new MillraceError(code, `No broker answered a metadata request. Tried: ${tried.join('; ')}`, {
      cause: last,
    });
  }

  /** Known brokers in a random order (spreading the load), then the bootstrap list, each once. */
  #candidates(): string[] {
    const known = this.metadata.brokers().map((broker) => broker.origin);
    for (let i = known.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [known[i], known[j]] = [known[j] as string, known[i] as string];
    }
    return [...new Set([...known, ...this.#options.bootstrap])];
  }

  /**
   * Runs a call that any broker can answer (the admin API), trying the brokers as `refresh` does
   * while they fail with NETWORK_EXCEPTION or NODE_NOT_READY (a timeout is not retried here: the
   * call may have been done; callers decide).
   */
  async anyBroker<T>(call: (session: FrameSession) => Promise<T>): Promise<T> {
    let last: unknown;
    for (const origin of this.#candidates()) {
      if (this.closed) throw closedError();
      try {
        return await call(this.session(origin));
      } catch (error) {
        if (!(error instanceof MillraceError) || !['NETWORK_EXCEPTION', 'NODE_NOT_READY'].includes(error.code)) {
          throw error;
        }
        last = error;
      }
    }
    throw last ?? new MillraceError('NETWORK_EXCEPTION', 'No broker is known to the client.');
  }

  /**
   * Learns from a failed call on a partition: a leader hint (KIP-951) newer than what is known is
   * taken at once, so the retry goes straight to the new leader; otherwise an error that says the
   * leader may have moved marks the topic for a refresh, and a broker that did not answer marks
   * every topic, since everything it led may have moved.
   */
  noteFailure(code: ErrorCode, topic: string, partition: number, currentLeader?: CurrentLeader): void {
    if (currentLeader !== undefined && this.metadata.applyLeaderHint(topic, partition, currentLeader)) return;
    if (STALE_LEADER_CODES.has(code)) this.metadata.invalidate(topic);
    if (BROKER_DOWN_CODES.has(code)) this.metadata.invalidate();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.#closing.abort(closedError());
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(sessions.map((session) => session.close()));
  }
}

export function closedError(): MillraceError {
  return new MillraceError('CLIENT_CLOSED');
}
