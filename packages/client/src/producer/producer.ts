import {
  type CompressionType,
  encodeProduceRequest,
  encodeRecordBatch,
  fromPartitionError,
  InitProducerIdResponseSchema,
  MillraceError,
  ProduceResponseSchema,
  type RecordHeader,
  type RecordInput,
  Routes,
} from '@millrace/protocol';
import type { z } from 'zod';
import { ByteBudget } from '../byte-budget.js';
import { type Cluster, closedError } from '../cluster.js';
import type { Logger } from '../logger.js';
import { backoffMs, type RetryOptions, withRetry } from '../retry.js';
import { PartitionQueue, type PendingBatch, type SendOutcome } from './partition-queue.js';
import { type Partitioner, type PartitionerInput, StickyPartitions } from './partitioner.js';

/** Errors that mean the partition's leader is gone or moved: a newer leader ends the retry's backoff. */
const LEADER_FAILURES: ReadonlySet<string> = new Set([
  'NOT_LEADER_OR_FOLLOWER',
  'FENCED_LEADER_EPOCH',
  'LEADER_NOT_AVAILABLE',
  'NETWORK_EXCEPTION',
  'REQUEST_TIMED_OUT',
]);
/** How long a send to a partition the metadata does not show yet waits for it to appear. */
const PARTITION_WAIT_MS = 5_000;
/** How often a partition whose leader failed asks for metadata while it waits for the new one. */
const LEADER_POLL_MS = 100;

/** One record as `send` takes it. Strings are sent as UTF-8. */
export interface Message {
  readonly key?: Buffer | string | null;
  readonly value: Buffer | string | null;
  /** An object (one value per name) or a list (repeated names allowed, order kept). */
  readonly headers?: Readonly<Record<string, Buffer | string>> | readonly RecordHeader[];
  /** Milliseconds since the epoch; default the time of `send`. */
  readonly timestamp?: number;
  /** Bypasses the partitioner. */
  readonly partition?: number;
}

export interface TopicMessages {
  readonly topic: string;
  readonly messages: readonly Message[];
}

/** Where a record was written. */
export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  /** The record's offset; -1n with acks=0, where no answer says it. */
  readonly offset: bigint;
  /** The record's timestamp as stored (its create time, or the log append time if the topic uses it). */
  readonly timestamp: number;
}

export interface ProducerOptions {
  /** 0, 1 or 'all'. Default 'all' (and the only value an idempotent producer accepts). */
  readonly acks: 0 | 1 | 'all';
  /**
   * Default true: the producer gets a producer id, numbers its batches per partition, and the
   * leader refuses duplicates and gaps, so a retry never writes a record twice and order within a
   * partition holds with several batches in flight.
   */
  readonly idempotent: boolean;
  /** How long a batch waits for more records before it is sent. Default 5 ms (Kafka's `linger.ms`). */
  readonly lingerMs: number;
  /** A batch is sent once it holds this many bytes. Default 64 KiB. */
  readonly batchBytes: number;
  /** 'none' (default) or 'gzip'. */
  readonly compression: Extract<CompressionType, 'none' | 'gzip'>;
  /** Bytes of records buffered and unacknowledged at most; `send` waits beyond. Default 32 MiB. */
  readonly maxBufferedBytes: number;
  /** Produce requests in flight to one broker at once, and batches per partition. Default 5. */
  readonly maxInFlightRequests: number;
  /** How long a leader may take to answer (and, with acks=all, to replicate). Default 30 s. */
  readonly requestTimeoutMs: number;
  /** A record not acknowledged within this long of `send` fails. Default 120 s (Kafka's `delivery.timeout.ms`). */
  readonly deliveryTimeoutMs: number;
  /** Replaces the default (Kafka-compatible murmur2 for keys, sticky for keyless records). */
  readonly partitioner: Partitioner | undefined;
}

type ProduceAnswer = z.output<typeof ProduceResponseSchema>;

/** Codes after which a batch is sent again (as long as its delivery deadline allows). */
function isRetriable(error: MillraceError): boolean {
  return error.retriable;
}

/** Bytes a record adds to a batch, roughly: enough to bound memory and size batches. */
function estimateBytes(record: RecordInput): number {
  let bytes = 24 + sizeOf(record.key) + sizeOf(record.value);
  const headers = record.headers;
  if (Array.isArray(headers)) {
    for (const header of headers as readonly RecordHeader[])
      bytes += 10 + Buffer.byteLength(header.key) + sizeOf(header.value);
  } else if (headers !== undefined) {
    for (const [key, value] of Object.entries(headers)) bytes += 10 + Buffer.byteLength(key) + sizeOf(value);
  }
  return bytes;
}

function sizeOf(value: Buffer | string | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

const BATCH_OVERHEAD_BYTES = 61;

/**
 * A batching, by default idempotent, producer. `send` puts records into per-partition batches;
 * a batch goes when it is full (`batchBytes`), has waited `lingerMs`, or on `flush`. Batches go
 * straight to their partitions' leaders, up to one per partition per request and
 * `maxInFlightRequests` requests per broker. A failed batch is retried (same bytes, same
 * sequence numbers) after a backoff until its delivery deadline; an error that is not retriable
 * fails its records at once.
 */
export class Producer {
  readonly #cluster: Cluster;
  readonly #options: ProducerOptions;
  readonly #retry: RetryOptions;
  readonly #logger: Logger;
  readonly #budget: ByteBudget;
  readonly #sticky = new StickyPartitions();
  readonly #queues = new Map<string, PartitionQueue>();
  /** Produce requests in flight per broker origin. */
  readonly #inFlightByBroker = new Map<string, number>();
  #drainScheduled = false;
  #lingerTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Topics whose metadata is being asked again; their batches wait for it. */
  readonly #refreshing = new Set<string>();
  /** Metadata refreshes failed in a row: the backoff before the next grows with it. */
  #refreshFailures = 0;
  #producerId = -1n;
  #producerEpoch = -1;
  /** The id held before a broken sequence cleared `#producerId`: the next one is a new epoch of it. */
  #lastProducerId = -1n;
  #gettingProducerId: Promise<void> | undefined;
  /** `close()` was called: new sends are refused. */
  #closing = false;
  /** `close()` has flushed: nothing more is sent. */
  #closed = false;
  #closedPromise: Promise<void> | undefined;
  /** The previous `send`'s append phase: the next one starts after it. */
  #appendTurn: Promise<void> = Promise.resolve();

  constructor(cluster: Cluster, options: ProducerOptions, retry: RetryOptions, logger: Logger) {
    if (options.idempotent && options.acks !== 'all') {
      throw new MillraceError(
        'INVALID_CONFIG',
        `An idempotent producer needs acks 'all' (got ${String(options.acks)}); set idempotent: false to use acks 0 or 1.`,
      );
    }
    this.#cluster = cluster;
    this.#options = options;
    this.#retry = retry;
    this.#logger = logger;
    this.#budget = new ByteBudget(options.maxBufferedBytes);
  }

  /**
   * Batches in flight per partition. An idempotent producer may have up to `maxInFlightRequests`,
   * the broker's sequence checks keeping them in order; a plain one keeps one, since two in flight
   * could land out of order (a failed first one retried after the second, or a smaller second
   * request overtaking a larger first on its own HTTP/2 stream).
   */
  get #perPartitionInFlight(): number {
    return this.#options.idempotent ? this.#options.maxInFlightRequests : 1;
  }

  /** The producer id and epoch in use (-1n / -1 before the first send, or when not idempotent). */
  get producerIdentity(): { readonly producerId: bigint; readonly producerEpoch: number } {
    return { producerId: this.#producerId, producerEpoch: this.#producerEpoch };
  }

  /** Bytes of records buffered or in flight. */
  get bufferedBytes(): number {
    return this.#budget.used;
  }

  /** Sends records to one topic; resolves to where each was written, in the order given. */
  send(request: TopicMessages): Promise<RecordMetadata[]> {
    return this.sendBatch([request]);
  }

  /** Sends records to several topics at once; resolves to where each was written, topic by topic, in order. */
  async sendBatch(requests: readonly TopicMessages[]): Promise<RecordMetadata[]> {
    if (this.#closing) throw closedError();
    checkRequests(requests);
    // Records are appended in the order `send` was called, whatever each call waits for (metadata,
    // buffer space), so that order per partition is the order of the calls.
    const appended = this.#appendTurn.then(() => this.#appendAll(requests));
    this.#appendTurn = appended.then(
      () => undefined,
      () => undefined,
    );
    const outcome = await appended;
    this.#scheduleDrain();
    return outcome.promise;
  }

  /**
   * Places every record of one `sendBatch` call. Every topic and partition is resolved and every
   * record checked before the first is appended, so a call refused for a bad argument or an
   * unknown topic leaves nothing behind. Should the call fail part-way after that (the producer
   * closing while it waited for buffer room), the records already appended are still delivered,
   * and their outcomes are observed so none rejects unhandled.
   */
  async #appendAll(requests: readonly TopicMessages[]): Promise<SendTracker> {
    const now = Date.now();
    const placed: {
      topic: string;
      /** undefined: a keyless record for the sticky partitioner, placed at append time. */
      partition: number | undefined;
      record: RecordInput;
      bytes: number;
      input: PartitionerInput;
    }[] = [];
    for (const { topic, messages } of requests) {
      let info = await this.#cluster.findTopic(topic, this.#retry);
      // A partition beyond those known may have been added since: wait for the brokers' metadata to
      // show it, within the retry block (Kafka's producer waits for a partition's metadata too).
      const highest = Math.max(
        -1,
        ...messages.map((m) => (Number.isInteger(m.partition) ? (m.partition as number) : -1)),
      );
      if (highest >= info.partitions.length) {
        info = await withRetry(
          `Finding partition ${highest} of ${topic}`,
          // A partition just added shows within moments; a partition that does not exist should
          // not hold the send for the whole retry deadline.
          { ...this.#retry, deadlineMs: Math.min(this.#retry.deadlineMs, PARTITION_WAIT_MS) },
          async () => {
            this.#cluster.metadata.invalidate(topic);
            const fresh = await this.#cluster.topic(topic);
            if (highest >= fresh.partitions.length)
              throw new MillraceError(
                'UNKNOWN_TOPIC_OR_PARTITION',
                `Topic ${topic} has partitions 0 to ${fresh.partitions.length - 1}; partition ${highest} does not exist.`,
              );
            return fresh;
          },
          { signal: this.#cluster.signal },
        ).catch((error: unknown) => {
          // Still not there when the retries ran out: the partition check below names it.
          if (error instanceof MillraceError && error.code === 'UNKNOWN_TOPIC_OR_PARTITION') return info;
          throw error;
        });
      }
      const partitionCount = info.partitions.length;
      const available = info.partitions.filter((p) => p.leader !== null).map((p) => p.partition);
      for (const message of messages) {
        // This loop runs for every record sent: the record is written out rather than spread, and
        // a string key becomes bytes once, for the partitioner and the encoder both.
        const keyBytes = message.key === undefined || message.key === null ? null : toBytes(message.key);
        const timestamp = message.timestamp ?? now;
        const record: RecordInput =
          message.headers === undefined
            ? { key: keyBytes, value: message.value, timestamp }
            : { key: keyBytes, value: message.value, headers: message.headers as RecordInput['headers'], timestamp };
        const input: PartitionerInput = { topic, key: keyBytes, partitionCount, availablePartitions: available };
        // A keyless record's sticky partition is chosen when it is appended, where the batches it
        // fills are known; every other partition is known now and checked before anything is
        // appended.
        const sticky = message.partition === undefined && keyBytes === null && this.#options.partitioner === undefined;
        const partition = sticky ? 0 : (message.partition ?? this.#choosePartition(input));
        if (!Number.isInteger(partition) || partition < 0 || partition >= partitionCount) {
          throw new MillraceError(
            'UNKNOWN_TOPIC_OR_PARTITION',
            `Topic ${topic} has partitions 0 to ${partitionCount - 1}; partition ${partition} does not exist.`,
          );
        }
        const bytes = estimateBytes(record);
        if (bytes + BATCH_OVERHEAD_BYTES > this.#options.maxBufferedBytes) {
          throw new MillraceError(
            'MESSAGE_TOO_LARGE',
            `A record of about ${bytes} bytes is larger than the producer's buffer (maxBufferedBytes ${this.#options.maxBufferedBytes}).`,
          );
        }
        placed.push({ topic, partition: sticky ? undefined : partition, record, bytes, input });
      }
    }
    const tracker = new SendTracker(placed.length);
    try {
      for (let index = 0; index < placed.length; index++) {
        const { topic, partition, record, bytes, input } = placed[index] as (typeof placed)[number];
        // Waits only when the buffer is full: an await per record would cost a promise and a turn.
        if (!this.#budget.tryAcquire(bytes)) await this.#budget.acquire(bytes, `A record for ${topic}`);
        if (this.#closed) {
          this.#budget.release(bytes);
          throw closedError();
        }
        this.#append(topic, partition ?? this.#choosePartition(input), record, bytes, tracker, index);
      }
    } catch (error) {
      // The records already appended are still delivered; nobody waits for their outcome.
      tracker.promise.catch(() => undefined);
      throw error;
    }
    return tracker;
  }

  /**
   * Sends every record of the `send` calls made before it, now, and waits until each is
   * acknowledged or failed. Records sent after it are not waited for.
   */
  async flush(): Promise<void> {
    // Calls still placing their records (waiting for metadata or buffer room) are part of "before".
    await this.#appendTurn;
    const waiting: Promise<void>[] = [];
    for (const queue of this.#queues.values()) {
      queue.close();
      for (const batch of [...queue.ready, ...queue.inFlight]) waiting.push(batch.settled);
    }
    this.#scheduleDrain();
    await Promise.all(waiting);
  }

  /**
   * Stops taking records (later sends fail with CLIENT_CLOSED), flushes what was sent before, then
   * fails anything still left and releases every timer.
   */
  async close(): Promise<void> {
    if (this.#closing) return this.#closed ? undefined : this.#closedPromise;
    this.#closing = true;
    this.#closedPromise = (async () => {
      await this.flush().catch(() => undefined);
      this.#closed = true;
      this.#budget.close(closedError());
      clearTimeout(this.#lingerTimer);
      clearTimeout(this.#retryTimer);
      this.#lingerTimer = undefined;
      this.#retryTimer = undefined;
      for (const queue of this.#queues.values()) {
        queue.close();
        for (const batch of queue.ready.splice(0)) this.#rejectBatch(batch, closedError());
      }
    })();
    return this.#closedPromise;
  }

  #choosePartition(input: PartitionerInput): number {
    if (this.#options.partitioner !== undefined) return this.#options.partitioner(input);
    // The sticky partition moves on once its batch has gone (KIP-480): a keyless record that
    // would start a new batch there goes to another partition instead.
    return this.#sticky.partition(
      input,
      (partition) => this.#queues.get(`${input.topic}\u0000${partition}`)?.open !== undefined,
    );
  }

  #append(topic: string, partition: number, record: RecordInput, bytes: number, outcome: SendOutcome, index: number) {
    const key = `${topic}\u0000${partition}`;
    let queue = this.#queues.get(key);
    if (queue === undefined) {
      queue = new PartitionQueue(topic, partition);
      this.#queues.set(key, queue);
    }
    if (queue.open !== undefined && queue.open.bytes + bytes > this.#options.batchBytes) queue.close();
    if (queue.open === undefined) {
      queue.open = queue.newBatch(performance.now(), this.#options.deliveryTimeoutMs);
      queue.open.bytes = BATCH_OVERHEAD_BYTES;
      this.#armLinger();
    }
    const batch = queue.open;
    batch.records.push(record);
    batch.bytes += bytes;
    batch.outcomes.push(outcome);
    batch.indexes.push(index);
    if (batch.bytes >= this.#options.batchBytes) queue.close();
  }

  #armLinger(): void {
    if (this.#lingerTimer !== undefined) return;
    this.#lingerTimer = setTimeout(() => {
      this.#lingerTimer = undefined;
      this.#drain();
    }, this.#options.lingerMs);
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    setImmediate(() => {
      this.#drainScheduled = false;
      this.#drain();
    });
  }

  /** Closes batches that have lingered long enough, then sends what the rules allow. */
  #drain(): void {
    const now = performance.now();
    let nextLinger = Number.POSITIVE_INFINITY;
    for (const queue of this.#queues.values()) {
      const open = queue.open;
      if (open === undefined) continue;
      if (now - open.createdAt >= this.#options.lingerMs) queue.close();
      else nextLinger = Math.min(nextLinger, open.createdAt + this.#options.lingerMs);
    }
    if (nextLinger !== Number.POSITIVE_INFINITY && this.#lingerTimer === undefined) {
      this.#lingerTimer = setTimeout(
        () => {
          this.#lingerTimer = undefined;
          this.#drain();
        },
        Math.max(0, nextLinger - now),
      );
    }
    this.#failExpired(now);
    if (this.#options.idempotent && this.#producerId < 0n) {
      if (this.#hasReady()) this.#getProducerId();
      return;
    }

    // Per broker: the batches to send, taken partition by partition in rounds so that one
    // request carries at most one batch per partition.
    const byBroker = new Map<string, { queue: PartitionQueue; batch: PendingBatch; leaderEpoch: number }[][]>();
    const staleTopics = new Set<string>();
    let nextRetry = Number.POSITIVE_INFINITY;
    for (const queue of this.#queues.values()) {
      if (queue.ready.length === 0) continue;
      if (this.#refreshing.has(queue.topic)) continue;
      if (now < queue.retryAt) {
        if (queue.failedLeaderEpoch === undefined) {
          nextRetry = Math.min(nextRetry, queue.retryAt);
          continue;
        }
        // Backing off because the leader failed: a newer leader ends the wait at once. Until one
        // is known, the metadata is asked again every LEADER_POLL_MS.
        if (!this.#newLeaderKnown(queue)) {
          if (!this.#cluster.metadata.isFresh(queue.topic, now, LEADER_POLL_MS)) {
            this.#cluster.metadata.invalidate(queue.topic);
            staleTopics.add(queue.topic);
          }
          nextRetry = Math.min(nextRetry, queue.retryAt, now + LEADER_POLL_MS);
          continue;
        }
        queue.retryAt = 0;
      }
      if (!this.#cluster.metadata.isFresh(queue.topic, now, this.#cluster.options.metadataMaxAgeMs)) {
        staleTopics.add(queue.topic);
        continue;
      }
      let leader: { origin: string; leaderEpoch: number };
      try {
        leader = this.#cluster.metadata.leader(queue.topic, queue.partition);
      } catch (error) {
        this.#failOrRetryQueue(queue, error as MillraceError, now);
        nextRetry = Math.min(nextRetry, queue.retryAt);
        continue;
      }
      let rounds = byBroker.get(leader.origin);
      if (rounds === undefined) {
        rounds = [];
        byBroker.set(leader.origin, rounds);
      }
      const capacity = this.#options.maxInFlightRequests - (this.#inFlightByBroker.get(leader.origin) ?? 0);
      let round = 0;
      while (round < capacity) {
        const batch = queue.sendable(now, this.#perPartitionInFlight);
        if (batch === undefined) break;
        queue.sent(batch, this.#options.idempotent);
        batch.sentLeaderEpoch = leader.leaderEpoch;
        queue.failedLeaderEpoch = undefined;
        const entries = rounds[round] ?? [];
        rounds[round] = entries;
        entries.push({ queue, batch, leaderEpoch: leader.leaderEpoch });
        round++;
      }
    }
    for (const [origin, rounds] of byBroker) {
      for (const round of rounds) this.#sendRequest(origin, round);
    }
    if (staleTopics.size > 0) this.#refreshTopics([...staleTopics]);
    if (nextRetry !== Number.POSITIVE_INFINITY) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => this.#drain(), Math.max(1, nextRetry - now));
    }
  }

  /** One produce request to `origin`, carrying one batch for each partition in `entries`. */
  #sendRequest(origin: string, entries: { queue: PartitionQueue; batch: PendingBatch; leaderEpoch: number }[]): void {
    const inFlight = this.#inFlightByBroker.get(origin) ?? 0;
    this.#inFlightByBroker.set(origin, inFlight + 1);
    const topics = new Map<string, { partition: number; leaderEpoch: number; records: Buffer }[]>();
    for (const entry of entries) {
      const { batch, queue } = entry;
      batch.encoded ??= encodeRecordBatch({
        records: batch.records,
        compression: this.#options.compression,
        producerId: this.#options.idempotent ? this.#producerId : -1n,
        producerEpoch: this.#options.idempotent ? this.#producerEpoch : -1,
        baseSequence: batch.baseSequence,
      });
      let partitions = topics.get(queue.topic);
      if (partitions === undefined) {
        partitions = [];
        topics.set(queue.topic, partitions);
      }
      partitions.push({ partition: queue.partition, leaderEpoch: entry.leaderEpoch, records: batch.encoded });
    }
    const body = encodeProduceRequest({
      acks: this.#options.acks,
      timeoutMs: this.#options.requestTimeoutMs,
      topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
    });
    let session: ReturnType<Cluster['session']>;
    try {
      session = this.#cluster.session(origin);
    } catch (error) {
      this.#requestDone(origin, entries, error);
      return;
    }
    session
      .sendFrame({
        path: Routes.produce,
        body,
        headers: this.#cluster.headers,
        responseSchema: ProduceResponseSchema,
        // The broker's own deadline comes first; this one covers a broker that never answers.
        timeoutMs: this.#options.requestTimeoutMs + 5_000,
      })
      .then(
        (answer) => this.#requestDone(origin, entries, undefined, answer),
        (error: unknown) => this.#requestDone(origin, entries, error),
      );
  }

  #requestDone(
    origin: string,
    entries: { queue: PartitionQueue; batch: PendingBatch }[],
    error: unknown,
    answer?: ProduceAnswer,
  ): void {
    this.#inFlightByBroker.set(origin, (this.#inFlightByBroker.get(origin) ?? 1) - 1);
    const now = performance.now();
    for (const { queue, batch } of entries) {
      queue.answered(batch);
      if (error !== undefined) {
        const failure =
          error instanceof MillraceError
            ? error
            : new MillraceError('UNKNOWN_SERVER_ERROR', String(error), { cause: error });
        this.#cluster.noteFailure(failure.code, queue.topic, queue.partition);
        this.#batchFailed(queue, batch, failure, now);
        continue;
      }
      if (this.#options.acks === 0) {
        this.#batchSucceeded(queue, batch, -1n, -1);
        continue;
      }
      const result = answer?.topics
        .find((t) => t.topic === queue.topic)
        ?.partitions.find((p) => p.partition === queue.partition);
      if (result === undefined) {
        this.#batchFailed(
          queue,
          batch,
          new MillraceError(
            'UNKNOWN_SERVER_ERROR',
            `The produce answer from ${origin} left out ${queue.topic}-${queue.partition}.`,
          ),
          now,
        );
        continue;
      }
      if (result.error === undefined && result.baseOffset !== undefined) {
        this.#batchSucceeded(queue, batch, result.baseOffset, result.logAppendTimeMs);
        continue;
      }
      const failure =
        result.error === undefined
          ? new MillraceError(
              'UNKNOWN_SERVER_ERROR',
              `The produce answer for ${queue.topic}-${queue.partition} had no offset.`,
            )
          : fromPartitionError(result.error);
      this.#cluster.noteFailure(failure.code, queue.topic, queue.partition, result.currentLeader);
      this.#batchFailed(queue, batch, failure, now);
    }
    this.#drain();
  }

  #batchSucceeded(queue: PartitionQueue, batch: PendingBatch, baseOffset: bigint, logAppendTimeMs: number): void {
    this.#budget.release(batch.bytes - BATCH_OVERHEAD_BYTES);
    const { topic, partition } = queue;
    for (let i = 0; i < batch.records.length; i++) {
      const offset = baseOffset < 0n ? -1n : baseOffset + BigInt(i);
      const timestamp = logAppendTimeMs >= 0 ? logAppendTimeMs : ((batch.records[i]?.timestamp as number) ?? -1);
      (batch.outcomes[i] as SendOutcome).written(batch.indexes[i] as number, topic, partition, offset, timestamp);
    }
    batch.markSettled();
  }

  #batchFailed(queue: PartitionQueue, batch: PendingBatch, error: MillraceError, now: number): void {
    batch.lastError = error;
    // A gap the broker saw because an earlier batch of ours failed: this one goes again after it.
    const retriable =
      isRetriable(error) || (error.code === 'OUT_OF_ORDER_SEQUENCE_NUMBER' && queue.hasEarlierUnacknowledged(batch));
    if (retriable && now < batch.deadline) {
      this.#logger.debug('retrying a batch', {
        topic: queue.topic,
        partition: queue.partition,
        attempts: batch.attempts,
        error,
      });
      queue.requeue(
        batch,
        now + backoffMs(this.#retry, batch.attempts - 1, Math.random()),
        LEADER_FAILURES.has(error.code) ? batch.sentLeaderEpoch : undefined,
      );
      return;
    }
    this.#logger.warn('a batch failed', {
      topic: queue.topic,
      partition: queue.partition,
      attempts: batch.attempts,
      error,
    });
    this.#rejectBatch(batch, error);
    if (this.#options.idempotent && batch.baseSequence >= 0) this.#sequenceBroken(queue, error);
  }

  #rejectBatch(batch: PendingBatch, error: MillraceError): void {
    this.#budget.release(batch.bytes - BATCH_OVERHEAD_BYTES);
    const final =
      batch.attempts > 1
        ? new MillraceError(error.code, `${error.message} (after ${batch.attempts} attempts)`, {
            cause: error,
            details: { ...error.details, attempts: batch.attempts },
          })
        : error;
    for (const outcome of batch.outcomes) outcome.failed(final);
    batch.markSettled();
  }

  /**
   * A sequenced batch failed for good: the broker's next expected sequence for this partition is
   * now unknown, so the batches queued behind it would only meet OUT_OF_ORDER_SEQUENCE_NUMBER. They
   * fail with the same error, and the producer takes a new epoch (as Kafka's KIP-360) once nothing
   * is in flight, restarting every partition's sequence.
   */
  #sequenceBroken(queue: PartitionQueue, error: MillraceError): void {
    for (const batch of queue.ready.splice(0)) this.#rejectBatch(batch, error);
    this.#producerId = -1n;
  }

  /** Whether the metadata names a leader for the queue's partition newer than the one that failed. */
  #newLeaderKnown(queue: PartitionQueue): boolean {
    try {
      return this.#cluster.metadata.leader(queue.topic, queue.partition).leaderEpoch > (queue.failedLeaderEpoch ?? -1);
    } catch {
      return false; // no leader yet
    }
  }

  #failOrRetryQueue(queue: PartitionQueue, error: MillraceError, now: number): void {
    if (error.retriable) {
      queue.retryAt = now + backoffMs(this.#retry, 0, Math.random());
      this.#cluster.metadata.invalidate(queue.topic);
      return;
    }
    const failed = queue.ready.splice(0);
    for (const batch of failed) this.#rejectBatch(batch, error);
    if (this.#options.idempotent && failed.some((batch) => batch.baseSequence >= 0)) this.#sequenceBroken(queue, error);
  }

  /** Batches past their delivery deadline that are not in flight fail with their last error. */
  #failExpired(now: number): void {
    for (const queue of this.#queues.values()) {
      while (queue.ready.length > 0 && (queue.ready[0] as PendingBatch).deadline <= now) {
        const batch = queue.ready.shift() as PendingBatch;
        const error =
          batch.lastError ??
          new MillraceError(
            'REQUEST_TIMED_OUT',
            `${batch.records.length} records for ${queue.topic}-${queue.partition} were not sent within deliveryTimeoutMs (${this.#options.deliveryTimeoutMs} ms).`,
          );
        this.#rejectBatch(
          batch,
          new MillraceError(error.code, `Delivery timed out: ${error.message}`, {
            cause: error,
            details: { ...error.details, deliveryTimeoutMs: this.#options.deliveryTimeoutMs },
          }),
        );
        if (this.#options.idempotent && batch.baseSequence >= 0) this.#sequenceBroken(queue, error);
      }
    }
  }

  /** One metadata request for every topic whose batches wait for it; a failure backs off, growing. */
  #refreshTopics(topics: string[]): void {
    const asked = topics.filter((topic) => !this.#refreshing.has(topic));
    if (asked.length === 0) return;
    for (const topic of asked) this.#refreshing.add(topic);
    this.#cluster
      .ensure(asked)
      .then(
        () => {
          this.#refreshFailures = 0;
        },
        (error: unknown) => {
          this.#logger.debug('metadata refresh failed', { topics: asked, error });
          const wait = backoffMs(this.#retry, Math.min(this.#refreshFailures++, 10), Math.random());
          for (const queue of this.#queues.values()) {
            if (asked.includes(queue.topic)) queue.retryAt = Math.max(queue.retryAt, performance.now() + wait);
          }
        },
      )
      .finally(() => {
        for (const topic of asked) this.#refreshing.delete(topic);
        this.#drain();
      });
  }

  /** Gets a producer id (or, after a broken sequence, a new epoch of the one held), then drains. */
  #getProducerId(): void {
    if (this.#gettingProducerId !== undefined) return;
    // A new epoch restarts sequences: only safe once nothing sequenced is in flight.
    for (const queue of this.#queues.values()) if (queue.inFlight.length > 0) return;
    const previous = this.#producerEpoch >= 0 ? { id: this.#lastProducerId, epoch: this.#producerEpoch } : undefined;
    this.#gettingProducerId = withRetry(
      'Getting a producer id',
      // Until the delivery deadline, however many attempts that takes: a producer started before
      // its cluster, or bumping its epoch while a broker restarts, waits rather than fails.
      { ...this.#retry, retries: Number.MAX_SAFE_INTEGER, deadlineMs: this.#options.deliveryTimeoutMs },
      () =>
        this.#cluster.anyBroker((session) =>
          session.requestJson({
            method: 'POST',
            path: Routes.initProducerId,
            body: previous === undefined ? {} : { producerId: previous.id.toString(), producerEpoch: previous.epoch },
            headers: this.#cluster.headers,
            responseSchema: InitProducerIdResponseSchema,
            timeoutMs: this.#options.requestTimeoutMs,
          }),
        ),
      { signal: this.#cluster.signal },
    )
      .then(
        (answer) => {
          this.#producerId = answer.producerId;
          this.#lastProducerId = answer.producerId;
          this.#producerEpoch = answer.producerEpoch;
          // A new epoch starts every partition's sequence at 0, so every batch waiting is numbered
          // (and encoded) afresh. One that was sent before, failed retriably, and was in fact
          // written could then be written twice: the one case where a new epoch gives up
          // exactly-once, as in Kafka (KIP-360). It arises only after a batch failed for good.
          for (const queue of this.#queues.values()) {
            queue.nextSequence = 0;
            for (const batch of queue.ready) {
              batch.encoded = undefined;
              batch.baseSequence = -1;
            }
          }
          this.#logger.info('producer id', { producerId: answer.producerId, producerEpoch: answer.producerEpoch });
        },
        (error: unknown) => {
          const failure =
            error instanceof MillraceError ? error : new MillraceError('UNKNOWN_SERVER_ERROR', String(error));
          // The records waiting fail; the producer stays usable, and the next send asks again.
          this.#logger.error('could not get a producer id', { error: failure });
          for (const queue of this.#queues.values()) {
            for (const batch of queue.ready.splice(0)) this.#rejectBatch(batch, failure);
          }
        },
      )
      .finally(() => {
        this.#gettingProducerId = undefined;
        this.#drain();
      });
  }

  #hasReady(): boolean {
    for (const queue of this.#queues.values()) if (queue.ready.length > 0) return true;
    return false;
  }
}

/** The outcome of one `send` call: resolves with every record's metadata, in call order, or rejects once. */
class SendTracker implements SendOutcome {
  readonly promise: Promise<RecordMetadata[]>;
  readonly #results: RecordMetadata[];
  #pending: number;
  #settled = false;
  #resolve!: (results: RecordMetadata[]) => void;
  #reject!: (error: MillraceError) => void;

  constructor(count: number) {
    this.#results = new Array(count);
    this.#pending = count;
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (count === 0) {
      this.#settled = true;
      this.#resolve(this.#results);
    }
  }

  written(index: number, topic: string, partition: number, offset: bigint, timestamp: number): void {
    if (this.#settled) return;
    this.#results[index] = { topic, partition, offset, timestamp };
    if (--this.#pending === 0) {
      this.#settled = true;
      this.#resolve(this.#results);
    }
  }

  failed(error: MillraceError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(error);
  }
}

function toBytes(value: Buffer | string): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

function checkRequests(requests: readonly TopicMessages[]): void {
  if (!Array.isArray(requests)) throw invalid('send takes { topic, messages }; sendBatch takes a list of them');
  for (const [i, request] of requests.entries()) {
    if (typeof request !== 'object' || request === null) throw invalid(`request ${i} is not an object`);
    if (typeof request.topic !== 'string' || request.topic.length === 0)
      throw invalid(`request ${i}: topic must be a non-empty string`);
    if (!Array.isArray(request.messages)) throw invalid(`${request.topic}: messages must be an array`);
    for (const [j, message] of request.messages.entries()) {
      const where = `${request.topic} message ${j}`;
      if (typeof message !== 'object' || message === null) throw invalid(`${where} is not an object`);
      if (!isBytes(message.value) && message.value !== null)
        throw invalid(`${where}: value must be a Buffer, a string or null`);
      if (message.key !== undefined && message.key !== null && !isBytes(message.key)) {
        throw invalid(`${where}: key must be a Buffer, a string or null`);
      }
      if (message.timestamp !== undefined && (!Number.isSafeInteger(message.timestamp) || message.timestamp < 0)) {
        throw invalid(`${where}: timestamp must be a non-negative integer of milliseconds`);
      }
      if (message.partition !== undefined && (!Number.isInteger(message.partition) || message.partition < 0)) {
        throw invalid(`${where}: partition must be a non-negative integer`);
      }
    }
  }
}

function isBytes(value: unknown): value is Buffer | string {
  return typeof value === 'string' || Buffer.isBuffer(value);
}

function invalid(message: string): MillraceError {
  return new MillraceError('INVALID_RECORD', message);
}
