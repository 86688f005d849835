import { EventEmitter } from 'node:events';
import {
  decodeFetchResponse,
  decodeRecordBatch,
  fromPartitionError,
  ListOffsetsResponseSchema,
  MillraceError,
  type OffsetSpec,
  Routes,
  readRecordBatchHeader,
  splitRecordBatches,
} from '@millrace/protocol';
import type { z } from 'zod';
import { ByteBudget } from '../byte-budget.js';
import { type Cluster, closedError } from '../cluster.js';
import type { Logger } from '../logger.js';
import { backoffMs, type RetryOptions } from '../retry.js';
import { GroupMember, type RebalanceListener } from './group.js';

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** One record as the consumer hands it over. */
export interface ConsumedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** By name; a name repeated in the record keeps its last value (all of them are in `headerList`). */
  readonly headers: Readonly<Record<string, Buffer | null>>;
  readonly headerList: readonly { readonly key: string; readonly value: Buffer | null }[];
}

export interface ConsumedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly ConsumedMessage[];
  /** The partition's high watermark when the batch was fetched: `highWatermark - 1n - lastOffset` is the lag. */
  readonly highWatermark: bigint;
}

/** Where `seek` puts a partition. */
export type SeekTo = 'earliest' | 'latest' | bigint | { readonly timestamp: number };

export interface ConsumerOptions {
  readonly autoOffsetReset: 'earliest' | 'latest' | 'none';
  readonly maxWaitMs: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly maxBytesPerPartition: number;
  readonly maxBufferedBytes: number;
  readonly requestTimeoutMs: number;
  /** Set: a member of this consumer group, reading what `subscribe` gets it. */
  readonly groupId?: string | undefined;
  readonly autoCommit: boolean;
  readonly autoCommitIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
}

export interface RunOptions {
  readonly eachMessage?: (message: ConsumedMessage) => Promise<void> | void;
  readonly eachBatch?: (batch: ConsumedBatch) => Promise<void> | void;
}

interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  /** Its key in the consumer's map, made once: ownership is checked for every record handed over. */
  readonly key: string;
  /** The next offset to fetch; undefined while it is to be found (`reset`). */
  fetchOffset: bigint | undefined;
  /** The next offset to hand to the application. */
  position: bigint | undefined;
  /** The position after the last record the application has finished with: what a group commits. */
  processed: bigint | undefined;
  /** How to find the position when it is unknown. */
  reset: OffsetSpec | undefined;
  paused: boolean;
  /** Bumped by every seek, so answers to fetches sent before it are dropped. */
  generation: number;
  /** No fetch for this partition before this time (a backoff after an error). */
  retryAt: number;
  errors: number;
}

interface Fetched {
  readonly state: PartitionState;
  readonly generation: number;
  readonly messages: ConsumedMessage[];
  readonly highWatermark: bigint;
  readonly bytes: number;
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** Damaged fetch answers in a row for one partition before the consumer gives up. */
const CORRUPT_ANSWERS_MAX = 3;

/** Anything thrown, as a MillraceError (a bug's error keeps its message and is the cause). */
function asMillraceError(error: unknown): MillraceError {
  return error instanceof MillraceError
    ? error
    : new MillraceError('UNKNOWN_SERVER_ERROR', error instanceof Error ? error.message : String(error), {
        cause: error,
      });
}

/**
 * A consumer of partitions the application assigns (consumer groups come later): long-polling
 * fetches grouped by leader broker, one in flight per broker, with fetched records buffered up to
 * `maxBufferedBytes`. Read with `for await (const message of consumer)`, or `run({ eachMessage })`
 * / `run({ eachBatch })`. It follows leader changes by itself; an error it cannot go past (an out
 * of range position with `autoOffsetReset: 'none'`, a handler that throws, a closed client) ends
 * `run`'s promise (and the iterator) with the error and emits `error` when someone listens.
 */
export class Consumer extends EventEmitter {
  readonly #cluster: Cluster;
  readonly #options: ConsumerOptions;
  readonly #retry: RetryOptions;
  readonly #logger: Logger;
  readonly #partitions = new Map<string, PartitionState>();
  readonly #budget: ByteBudget;
  readonly #buffer: Fetched[] = [];
  /** Leader origins with a fetch in flight. */
  readonly #fetching = new Set<string>();
  /**
   * Partitions in a fetch in flight. A partition whose leader moves while a fetch is out is not
   * asked of the new leader until that answer is in, or the two answers would both be buffered.
   */
  readonly #inFetch = new Set<PartitionState>();
  /** Corrupt answers in a row per partition: past a few, the consumer stops rather than loop. */
  readonly #corrupt = new Map<PartitionState, number>();
  /** A reader (the iterator or `run`) is waiting or reading: only one at a time. */
  #reading = false;
  #resetting = false;
  #waiter: (() => void) | undefined;
  /** Why the consumer stopped: a MillraceError, or the error a handler threw. */
  #failure: unknown;
  #running = false;
  /** Set once the application reads (the iterator or `run`). */
  #consuming = false;
  #closed = false;
  readonly #stop = new AbortController();
  #pumpTimer: NodeJS.Timeout | undefined;
  #refreshing = false;
  /** The partition whose records a handler is working on, and when it will be done. */
  #handling: { state: PartitionState; done: Promise<void> } | undefined;
  readonly #group: GroupMember | undefined;
  #closing: Promise<void> | undefined;

  constructor(cluster: Cluster, options: ConsumerOptions, retry: RetryOptions, logger: Logger) {
    super();
    this.#cluster = cluster;
    this.#options = options;
    this.#retry = retry;
    this.#logger = logger;
    this.#budget = new ByteBudget(options.maxBufferedBytes);
    if (options.groupId !== undefined) {
      this.#group = new GroupMember(
        cluster,
        {
          take: (partitions) => this.#take(partitions),
          release: (partitions) => this.#release(partitions),
          processed: (tp) => this.#partitions.get(key(tp.topic, tp.partition))?.processed,
          fail: (error) => this.#fail(error),
        },
        {
          groupId: options.groupId,
          autoCommit: options.autoCommit,
          autoCommitIntervalMs: options.autoCommitIntervalMs,
          rebalanceTimeoutMs: options.rebalanceTimeoutMs,
          requestTimeoutMs: options.requestTimeoutMs,
        },
        retry,
        logger.child('group'),
      );
    }
  }

  /** The group member's id (a UUID), when this consumer is in a group. */
  get memberId(): string | undefined {
    return this.#group?.memberId;
  }

  /**
   * Joins the consumer group (the `groupId` option) with these topics, or the topics whose names
   * match a pattern (matched here, against the cluster's topics, at each metadata refresh); calling
   * it again changes the subscription. The coordinator shares the topics' partitions among the
   * group's members; `listener` hears of each change.
   */
  subscribe(topics: readonly string[] | RegExp, listener: RebalanceListener = {}): void {
    this.#checkOpen();
    if (this.#group === undefined)
      throw new MillraceError('INVALID_REQUEST', 'subscribe needs the groupId option; without a group, use assign.');
    if (!(topics instanceof RegExp) && (topics.length === 0 || topics.some((t) => typeof t !== 'string' || t === '')))
      throw new MillraceError('INVALID_REQUEST', 'subscribe takes a non-empty list of topic names, or a RegExp.');
    this.#group.subscribe(topics, listener);
  }

  /**
   * Commits offsets to the group: the given ones, or the position after the last record the
   * application has finished with, for each partition this member owns (at-least-once: a record is
   * finished once its handler returned, or once the iterator was asked for the next record).
   */
  async commit(offsets?: readonly (TopicPartition & { readonly offset: bigint })[]): Promise<void> {
    this.#checkOpen();
    if (this.#group === undefined) throw new MillraceError('INVALID_REQUEST', 'commit needs the groupId option.');
    await this.#group.commit(offsets);
  }

  /** Group: starts reading partitions the coordinator gave, from their committed offsets. */
  #take(partitions: readonly (TopicPartition & { readonly committed: bigint | undefined })[]): void {
    for (const { topic, partition, committed } of partitions) {
      const k = key(topic, partition);
      this.#partitions.set(k, {
        topic,
        partition,
        key: k,
        fetchOffset: committed,
        position: committed,
        processed: committed,
        reset: committed === undefined ? this.#defaultReset() : undefined,
        paused: false,
        generation: 0,
        retryAt: 0,
        errors: 0,
      });
    }
    this.#pump();
  }

  /** Group: stops reading partitions, and waits for a handler still working on one of them. */
  async #release(partitions: readonly TopicPartition[]): Promise<Map<string, bigint>> {
    const gone = new Set(partitions.map(({ topic, partition }) => key(topic, partition)));
    const states = [...gone].flatMap((k) => {
      const state = this.#partitions.get(k);
      return state === undefined ? [] : [state];
    });
    const handling = this.#handling;
    for (const k of gone) this.#partitions.delete(k);
    this.#dropBuffered((state) => gone.has(state.key));
    if (handling !== undefined && gone.has(handling.state.key)) await handling.done;
    // Read after the handler finished: its last record counts as processed.
    const processed = new Map<string, bigint>();
    for (const state of states) if (state.processed !== undefined) processed.set(state.key, state.processed);
    return processed;
  }

  /**
   * Adds partitions to read. A partition starts where `seek` puts it, or else where
   * `autoOffsetReset` says. `{ topic }` alone assigns every partition of the topic.
   */
  async assign(assignments: readonly (TopicPartition | { readonly topic: string })[]): Promise<void> {
    this.#checkOpen();
    if (this.#group !== undefined)
      throw new MillraceError(
        'INVALID_REQUEST',
        'A group member reads what the group gives it: use subscribe, not assign.',
      );
    for (const assignment of assignments) {
      const partitions =
        'partition' in assignment
          ? [assignment.partition]
          : (await this.#cluster.findTopic(assignment.topic, this.#retry)).partitions.map((p) => p.partition);
      for (const partition of partitions) {
        if (!Number.isInteger(partition) || partition < 0) {
          throw new MillraceError('INVALID_REQUEST', `partition must be a non-negative integer, got ${partition}`);
        }
        const k = key(assignment.topic, partition);
        if (this.#partitions.has(k)) continue;
        this.#partitions.set(k, {
          topic: assignment.topic,
          partition,
          key: k,
          fetchOffset: undefined,
          position: undefined,
          processed: undefined,
          reset: this.#defaultReset(),
          paused: false,
          generation: 0,
          retryAt: 0,
          errors: 0,
        });
      }
    }
    this.#pump();
  }

  /** Stops reading partitions; their buffered records are dropped. */
  unassign(partitions: readonly TopicPartition[]): void {
    for (const { topic, partition } of partitions) this.#partitions.delete(key(topic, partition));
    this.#dropBuffered((state) => !this.#partitions.has(key(state.topic, state.partition)));
  }

  assignment(): TopicPartition[] {
    return [...this.#partitions.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  /** Moves a partition: to its earliest or latest offset, an offset, or the first record at or after a time. */
  seek(tp: TopicPartition, to: SeekTo): void {
    const state = this.#state(tp);
    state.generation++;
    state.errors = 0;
    state.retryAt = 0;
    if (typeof to === 'bigint') {
      if (to < 0n) throw new MillraceError('INVALID_REQUEST', `seek offset must be non-negative, got ${to}`);
      state.fetchOffset = to;
      state.position = to;
      state.processed = to;
      state.reset = undefined;
    } else {
      state.fetchOffset = undefined;
      state.position = undefined;
      state.reset =
        to === 'earliest' || to === 'latest'
          ? to
          : typeof to === 'object' && Number.isSafeInteger(to.timestamp) && to.timestamp >= 0
            ? { timestampMs: to.timestamp }
            : invalidSeek(to);
    }
    this.#dropBuffered((s) => s === state);
    this.#pump();
  }

  /** The next offset the application will get from the partition, once known. */
  position(tp: TopicPartition): bigint | undefined {
    return this.#state(tp).position;
  }

  pause(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) this.#state(tp).paused = true;
  }

  resume(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) this.#state(tp).paused = false;
    this.#pump();
    this.#wake();
  }

  paused(): TopicPartition[] {
    return [...this.#partitions.values()].filter((s) => s.paused).map(({ topic, partition }) => ({ topic, partition }));
  }

  /** Records one by one, in order within each partition, until the consumer is closed or fails. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumedMessage, void, undefined> {
    this.#startReading();
    try {
      yield* this.#messages();
    } finally {
      this.#reading = false;
    }
  }

  async *#messages(): AsyncGenerator<ConsumedMessage, void, undefined> {
    for (;;) {
      const fetched = await this.#next();
      if (fetched === undefined) return;
      for (let i = 0; i < fetched.messages.length; i++) {
        const message = fetched.messages[i] as ConsumedMessage;
        if (fetched.generation !== fetched.state.generation || !this.#owns(fetched.state)) break;
        fetched.state.position = message.offset + 1n;
        yield message;
        // Asked for the next one: the application is done with this one.
        fetched.state.processed = message.offset + 1n;
      }
    }
  }

  /**
   * Hands records to `eachMessage` (one at a time, awaited) or batches to `eachBatch`. Resolves
   * when the consumer is closed; rejects, and emits `error`, when it cannot go on. The position
   * moves past a record only once its handler has returned, so a handler that throws stops the
   * consumer on that record.
   */
  async run(options: RunOptions): Promise<void> {
    this.#checkOpen();
    if (this.#running) throw new MillraceError('INVALID_REQUEST', 'This consumer is already running.');
    if ((options.eachMessage === undefined) === (options.eachBatch === undefined)) {
      throw new MillraceError('INVALID_REQUEST', 'run takes exactly one of eachMessage and eachBatch.');
    }
    this.#startReading();
    this.#running = true;
    try {
      for (;;) {
        const fetched = await this.#next();
        if (fetched === undefined) return;
        const { state } = fetched;
        const current = () => fetched.generation === state.generation && this.#owns(state);
        let finished = () => {};
        this.#handling = {
          state,
          done: new Promise<void>((resolve) => {
            finished = resolve;
          }),
        };
        try {
          if (options.eachBatch !== undefined) {
            if (!current()) continue;
            await options.eachBatch({
              topic: state.topic,
              partition: state.partition,
              messages: fetched.messages,
              highWatermark: fetched.highWatermark,
            });
            const last = fetched.messages.at(-1);
            if (last !== undefined) {
              state.processed = last.offset + 1n;
              if (current()) state.position = last.offset + 1n;
            }
          } else {
            for (const message of fetched.messages) {
              if (!current()) break;
              await options.eachMessage?.(message);
              state.processed = message.offset + 1n;
              if (current()) state.position = message.offset + 1n;
            }
          }
        } catch (error) {
          // The application's own error, unchanged: it is its code that failed, not the cluster.
          // The consumer stops on that record (its position stays there) and reports it.
          this.#logger.error('a handler failed; the consumer stops', {
            topic: state.topic,
            partition: state.partition,
            position: state.position,
            error,
          });
          this.#fail(error);
          throw error;
        } finally {
          this.#handling = undefined;
          finished();
        }
      }
    } finally {
      this.#running = false;
      this.#reading = false;
    }
  }

  /** One reader at a time: two would take turns at random and each see half the records. */
  #startReading(): void {
    this.#checkOpen();
    if (this.#reading) {
      throw new MillraceError(
        'INVALID_REQUEST',
        'This consumer is already being read (by run() or an iterator); use one reader at a time.',
      );
    }
    this.#reading = true;
  }

  /** Stops fetching and ends the iterator and `run`; releases every timer. Positions stay readable. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // A member commits, gives up its partitions and leaves the group while it can still talk.
    await this.#group?.close();
    this.#closed = true;
    this.#stop.abort(closedError());
    clearTimeout(this.#pumpTimer);
    this.#budget.close(closedError());
    this.#buffer.length = 0;
    this.#wake();
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError();
    if (this.#failure !== undefined) throw this.#failure;
  }

  #defaultReset(): OffsetSpec | undefined {
    return this.#options.autoOffsetReset === 'none' ? undefined : this.#options.autoOffsetReset;
  }

  #state(tp: TopicPartition): PartitionState {
    const state = this.#partitions.get(key(tp.topic, tp.partition));
    if (state === undefined) {
      throw new MillraceError('INVALID_REQUEST', `${tp.topic}-${tp.partition} is not assigned to this consumer.`);
    }
    return state;
  }

  #owns(state: PartitionState): boolean {
    return this.#partitions.get(state.key) === state;
  }

  /** The next buffered batch of a partition that is not paused; waits for one. undefined once closed. */
  async #next(): Promise<Fetched | undefined> {
    if (!this.#consuming) {
      this.#consuming = true;
      this.#pump();
    }
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#closed) return undefined;
      const at = this.#buffer.findIndex((f) => !f.state.paused || !this.#owns(f.state));
      if (at >= 0) {
        const [fetched] = this.#buffer.splice(at, 1) as [Fetched];
        this.#budget.release(fetched.bytes);
        this.#pump();
        if (fetched.generation !== fetched.state.generation || !this.#owns(fetched.state)) continue;
        return fetched;
      }
      this.#pump();
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  #fail(error: unknown): void {
    if (this.#failure !== undefined || this.#closed) return;
    this.#failure = error;
    this.#logger.error('the consumer stopped', { error });
    this.#stop.abort(error);
    clearTimeout(this.#pumpTimer);
    if (this.listenerCount('error') > 0) this.emit('error', error);
    this.#wake();
  }

  #dropBuffered(which: (state: PartitionState) => boolean): void {
    for (let i = this.#buffer.length - 1; i >= 0; i--) {
      const fetched = this.#buffer[i] as Fetched;
      if (!which(fetched.state)) continue;
      this.#buffer.splice(i, 1);
      this.#budget.release(fetched.bytes);
    }
  }

  /** Starts what can start: position lookups, and one fetch per leader broker with partitions to read. */
  #pump(): void {
    if (this.#closed || this.#failure !== undefined) return;
    const now = performance.now();
    // A partition with no position and no reset rule (autoOffsetReset 'none') waits for a seek;
    // once the application reads, that is an error, as Kafka's NoOffsetForPartitionException.
    const needReset = [...this.#partitions.values()].filter(
      (s) => s.fetchOffset === undefined && now >= s.retryAt && (s.reset !== undefined || this.#consuming),
    );
    if (needReset.length > 0) this.#resetPositions(needReset);
    // Fetch only while the buffer has room for a full answer's worth of one partition.
    // Paused partitions' answers do not count: they could otherwise fill the buffer and stop
    // every other partition until the application resumes them.
    if (this.#budget.used - this.#pausedBytes() >= this.#budget.capacity && this.#buffer.length > 0) return;
    // Up to two answers per partition wait in the buffer: one being read, one fetched ahead.
    const buffered = new Map<PartitionState, number>();
    for (const f of this.#buffer) buffered.set(f.state, (buffered.get(f.state) ?? 0) + 1);
    const byLeader = new Map<string, { state: PartitionState; leaderEpoch: number }[]>();
    let nextRetry = Number.POSITIVE_INFINITY;
    let stale = false;
    for (const state of this.#partitions.values()) {
      if (now < state.retryAt) {
        // Partitions waiting out a backoff, to fetch or to find their position, wake the pump.
        nextRetry = Math.min(nextRetry, state.retryAt);
        continue;
      }
      if (
        state.fetchOffset === undefined ||
        state.paused ||
        this.#inFetch.has(state) ||
        (buffered.get(state) ?? 0) >= 2
      ) {
        continue;
      }
      if (!this.#cluster.metadata.isFresh(state.topic, now, this.#cluster.options.metadataMaxAgeMs)) {
        stale = true;
        continue;
      }
      let leader: { origin: string; leaderEpoch: number };
      try {
        leader = this.#cluster.metadata.leader(state.topic, state.partition);
      } catch (error) {
        this.#partitionFailed(state, asMillraceError(error));
        nextRetry = Math.min(nextRetry, state.retryAt);
        continue;
      }
      if (this.#fetching.has(leader.origin)) continue;
      let list = byLeader.get(leader.origin);
      if (list === undefined) {
        list = [];
        byLeader.set(leader.origin, list);
      }
      list.push({ state, leaderEpoch: leader.leaderEpoch });
    }
    for (const [origin, list] of byLeader) this.#fetch(origin, list);
    if (stale) this.#refresh();
    if (nextRetry !== Number.POSITIVE_INFINITY) {
      clearTimeout(this.#pumpTimer);
      this.#pumpTimer = setTimeout(() => this.#pump(), Math.max(1, nextRetry - now));
    }
  }

  #pausedBytes(): number {
    let bytes = 0;
    for (const fetched of this.#buffer) if (fetched.state.paused) bytes += fetched.bytes;
    return bytes;
  }

  #refresh(): void {
    if (this.#refreshing) return;
    this.#refreshing = true;
    const topics = [...new Set([...this.#partitions.values()].map((s) => s.topic))];
    this.#cluster
      .ensure(topics)
      .catch((error: unknown) => {
        this.#logger.debug('metadata refresh failed', { error });
        for (const state of this.#partitions.values()) {
          state.retryAt = Math.max(state.retryAt, performance.now() + backoffMs(this.#retry, 0, Math.random()));
        }
      })
      .finally(() => {
        this.#refreshing = false;
        this.#pump();
      });
  }

  /** An error on one partition: a leader change is followed, anything retriable backs off, the rest is fatal. */
  #partitionFailed(
    state: PartitionState,
    error: MillraceError,
    currentLeader?: Parameters<Cluster['noteFailure']>[3],
  ): void {
    this.#cluster.noteFailure(error.code, state.topic, state.partition, currentLeader);
    if (error.code === 'OFFSET_OUT_OF_RANGE') {
      const reset = this.#defaultReset();
      if (reset === undefined) {
        this.#fail(
          new MillraceError(
            'OFFSET_OUT_OF_RANGE',
            `${state.topic}-${state.partition}: offset ${String(state.fetchOffset)} is out of range and autoOffsetReset is 'none'. ${error.message}`,
            { cause: error, details: { ...error.details, topic: state.topic, partition: state.partition } },
          ),
        );
        return;
      }
      this.#logger.info('position out of range: resetting', { topic: state.topic, partition: state.partition, reset });
      state.fetchOffset = undefined;
      state.position = undefined;
      state.reset = reset;
      state.generation++;
      return;
    }
    if (!error.retriable) {
      this.#fail(
        new MillraceError(error.code, `${state.topic}-${state.partition}: ${error.message}`, {
          cause: error,
          ...(error.details === undefined ? {} : { details: error.details }),
        }),
      );
      return;
    }
    state.errors++;
    state.retryAt = performance.now() + backoffMs(this.#retry, Math.min(state.errors - 1, 10), Math.random());
    this.#logger.debug('fetch failed, retrying', { topic: state.topic, partition: state.partition, error });
  }

  #fetch(origin: string, list: { state: PartitionState; leaderEpoch: number }[]): void {
    this.#fetching.add(origin);
    for (const { state } of list) this.#inFetch.add(state);
    const sent = list.map(({ state }) => ({
      state,
      generation: state.generation,
      fetchOffset: state.fetchOffset as bigint,
    }));
    const topics = new Map<
      string,
      { partition: number; fetchOffset: string; currentLeaderEpoch: number; partitionMaxBytes: number }[]
    >();
    for (const { state, leaderEpoch } of list) {
      let partitions = topics.get(state.topic);
      if (partitions === undefined) {
        partitions = [];
        topics.set(state.topic, partitions);
      }
      partitions.push({
        partition: state.partition,
        fetchOffset: (state.fetchOffset as bigint).toString(),
        currentLeaderEpoch: leaderEpoch,
        partitionMaxBytes: this.#options.maxBytesPerPartition,
      });
    }
    const body = Buffer.from(
      JSON.stringify({
        maxWaitMs: this.#options.maxWaitMs,
        minBytes: this.#options.minBytes,
        maxBytes: this.#options.maxBytes,
        topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
      }),
    );
    let session: ReturnType<Cluster['session']>;
    try {
      session = this.#cluster.session(origin);
    } catch (error) {
      this.#fetching.delete(origin);
      for (const { state } of list) this.#inFetch.delete(state);
      this.#fail(asMillraceError(error));
      return;
    }
    session
      .requestFrame({
        path: Routes.fetch,
        body,
        bodyType: 'json',
        headers: this.#cluster.headers,
        timeoutMs: this.#options.maxWaitMs + this.#options.requestTimeoutMs,
        signal: this.#stop.signal,
        maxResponseBytes: this.#options.maxBytes + 16 * 1024 * 1024,
      })
      .then(
        (answer) => this.#fetched(sent, answer),
        (error: unknown) => {
          if (this.#closed || this.#failure !== undefined) return;
          const failure =
            error instanceof MillraceError
              ? error
              : new MillraceError('UNKNOWN_SERVER_ERROR', String(error), { cause: error });
          for (const { state, generation } of sent) {
            if (generation === state.generation && this.#owns(state)) this.#partitionFailed(state, failure);
          }
        },
      )
      .finally(() => {
        this.#fetching.delete(origin);
        for (const { state } of list) this.#inFetch.delete(state);
        this.#pump();
      });
  }

  #fetched(sent: { state: PartitionState; generation: number; fetchOffset: bigint }[], answer: Buffer): void {
    if (this.#closed || this.#failure !== undefined) return;
    let decoded: ReturnType<typeof decodeFetchResponse>;
    try {
      decoded = decodeFetchResponse(answer);
    } catch (error) {
      for (const { state } of sent) this.#partitionFailed(state, asMillraceError(error));
      return;
    }
    for (const topic of decoded.topics) {
      for (const result of topic.partitions) {
        const entry = sent.find((s) => s.state.topic === topic.topic && s.state.partition === result.partition);
        if (entry === undefined) continue;
        const { state, generation, fetchOffset } = entry;
        if (generation !== state.generation || !this.#owns(state)) continue;
        if (result.error !== undefined) {
          this.#partitionFailed(state, fromPartitionError(result.error), result.currentLeader);
          continue;
        }
        state.errors = 0;
        let messages: ConsumedMessage[];
        let nextOffset: bigint;
        try {
          ({ messages, nextOffset } = decodeRecords(topic.topic, result.partition, result.records, fetchOffset));
          this.#corrupt.delete(state);
        } catch (error) {
          const failure = asMillraceError(error);
          // A damaged batch may be a transfer fault (fetched again) or damage at the leader, which
          // fetching again will never cure: after three in a row the consumer stops, visibly.
          const times = (this.#corrupt.get(state) ?? 0) + 1;
          this.#corrupt.set(state, times);
          if (times >= CORRUPT_ANSWERS_MAX) {
            this.#fail(
              new MillraceError(
                failure.code,
                `${state.topic}-${state.partition} at offset ${fetchOffset}: ${times} answers in a row were damaged: ${failure.message}`,
                { cause: failure },
              ),
            );
            return;
          }
          this.#partitionFailed(state, failure);
          continue;
        }
        state.fetchOffset = nextOffset;
        if (messages.length === 0) continue;
        const bytes = result.records.length;
        // Counted even past the budget: it is in memory already, and the pump fetches no more
        // until the application has read the buffer down.
        this.#budget.add(bytes);
        this.#buffer.push({ state, generation, messages, highWatermark: result.highWatermark, bytes });
      }
    }
    this.#wake();
  }

  /** Finds positions for partitions that have none: list-offsets to each leader. */
  #resetPositions(states: PartitionState[]): void {
    if (this.#resetting) return;
    this.#resetting = true;
    void this.#lookUpPositions(states)
      .catch((error: unknown) => {
        if (this.#closed || this.#failure !== undefined) return;
        const failure =
          error instanceof MillraceError ? error : new MillraceError('UNKNOWN_SERVER_ERROR', String(error));
        for (const state of states) if (state.fetchOffset === undefined) this.#partitionFailed(state, failure);
      })
      .finally(() => {
        this.#resetting = false;
        this.#pump();
      });
  }

  async #lookUpPositions(states: PartitionState[]): Promise<void> {
    const missing = states.filter((s) => s.reset === undefined);
    if (missing.length > 0) {
      const first = missing[0] as PartitionState;
      this.#fail(
        new MillraceError(
          'OFFSET_OUT_OF_RANGE',
          `${first.topic}-${first.partition} has no position and autoOffsetReset is 'none': seek first.`,
        ),
      );
      return;
    }
    const generations = new Map(states.map((state) => [state, state.generation]));
    await this.#cluster.ensure([...new Set(states.map((s) => s.topic))]);
    // A seek while metadata was asked for gave a partition its position (or a new rule): only
    // those still without one, unchanged since, are looked up.
    const still = states.filter(
      (state) =>
        generations.get(state) === state.generation &&
        this.#owns(state) &&
        state.fetchOffset === undefined &&
        state.reset !== undefined,
    );
    const byLeader = new Map<string, { state: PartitionState; leaderEpoch: number; generation: number }[]>();
    for (const state of still) {
      let leader: { origin: string; leaderEpoch: number };
      try {
        leader = this.#cluster.metadata.leader(state.topic, state.partition);
      } catch (error) {
        this.#partitionFailed(state, asMillraceError(error));
        continue;
      }
      const list = byLeader.get(leader.origin) ?? [];
      list.push({ state, leaderEpoch: leader.leaderEpoch, generation: state.generation });
      byLeader.set(leader.origin, list);
    }
    await Promise.all(
      [...byLeader].map(async ([origin, list]) => {
        const topics = new Map<string, { partition: number; spec: OffsetSpec; currentLeaderEpoch: number }[]>();
        for (const { state, leaderEpoch } of list) {
          const partitions = topics.get(state.topic) ?? [];
          partitions.push({
            partition: state.partition,
            spec: state.reset as OffsetSpec,
            currentLeaderEpoch: leaderEpoch,
          });
          topics.set(state.topic, partitions);
        }
        let answer: z.output<typeof ListOffsetsResponseSchema>;
        try {
          answer = await this.#cluster.session(origin).requestJson({
            method: 'POST',
            path: Routes.listOffsets,
            body: { topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) },
            headers: this.#cluster.headers,
            responseSchema: ListOffsetsResponseSchema,
            timeoutMs: this.#options.requestTimeoutMs,
            signal: this.#stop.signal,
          });
        } catch (error) {
          if (this.#closed || this.#failure !== undefined) return;
          for (const { state, generation } of list) {
            if (generation === state.generation && this.#owns(state))
              this.#partitionFailed(state, asMillraceError(error));
          }
          return;
        }
        for (const { state, generation } of list) {
          if (generation !== state.generation || !this.#owns(state)) continue;
          const result = answer.topics
            .find((t) => t.topic === state.topic)
            ?.partitions.find((p) => p.partition === state.partition);
          if (result === undefined) continue;
          if (result.error !== undefined) {
            this.#partitionFailed(state, fromPartitionError(result.error), result.currentLeader);
            continue;
          }
          // No record at or after the time asked: read from the end, as Kafka's offsetsForTimes → latest.
          if (result.offset === undefined) {
            state.reset = 'latest';
            continue;
          }
          state.fetchOffset = result.offset;
          state.position = result.offset;
          // Everything before a position found by reset counts as done: a group commits it even
          // for a partition with no record yet, so its lag shows from the start.
          state.processed = result.offset;
          state.errors = 0;
          this.#logger.debug('position found', {
            topic: state.topic,
            partition: state.partition,
            offset: result.offset,
          });
        }
      }),
    );
  }
}

function invalidSeek(to: unknown): never {
  throw new MillraceError(
    'INVALID_REQUEST',
    `seek takes 'earliest', 'latest', an offset as bigint, or { timestamp }; got ${String(to)}`,
  );
}

/** The headers of every record that has none: one frozen object rather than one per record. */
const NO_HEADERS: Readonly<Record<string, Buffer | null>> = Object.freeze({});

/**
 * The records of a fetch answer from `fetchOffset` on. A batch can start before the offset asked
 * for (batches are whole); records before it are skipped, as are control batches. Every batch's
 * CRC is checked.
 */
export function decodeRecords(
  topic: string,
  partition: number,
  records: Buffer,
  fetchOffset: bigint,
): { messages: ConsumedMessage[]; nextOffset: bigint } {
  const messages: ConsumedMessage[] = [];
  let nextOffset = fetchOffset;
  if (records.length === 0) return { messages, nextOffset };
  for (const raw of splitRecordBatches(records)) {
    const header = readRecordBatchHeader(raw);
    const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
    if (lastOffset < fetchOffset) continue;
    if (!header.isControl) {
      const batch = decodeRecordBatch(raw);
      for (const record of batch.records) {
        if (record.offset < fetchOffset) continue;
        let headers: Record<string, Buffer | null> = NO_HEADERS;
        if (record.headers.length > 0) {
          headers = {};
          for (const h of record.headers) headers[h.key] = h.value;
        }
        messages.push({
          topic,
          partition,
          offset: record.offset,
          timestamp: record.timestamp,
          key: record.key,
          value: record.value,
          headers,
          headerList: record.headers,
        });
      }
    }
    if (lastOffset + 1n > nextOffset) nextOffset = lastOffset + 1n;
  }
  return { messages, nextOffset };
}
