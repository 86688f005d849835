import { createFrameSession, createH2Client, type FrameSession, requestJson } from '@millrace/http';
import {
  type DecodedFetchResponse,
  decodeFetchResponse,
  Headers,
  isMillraceError,
  lastOffsetOf,
  OffsetsForLeaderEpochResponseSchema,
  offsetToJson,
  Routes,
  readRecordBatchHeader,
  splitRecordBatches,
  toMillraceError,
} from '@millrace/protocol';
import type { Logger } from 'pino';
import type { Client } from 'undici';
import { z } from 'zod';
import { truncationAfterEpochAnswer } from '../log/index.js';
import { maxOffset, minOffset } from '../log/types.js';
import type { SessionPartitionRequest } from './fetch-sessions.js';
import type { Partition } from './partition.js';
import { FetchSessionBuilder } from './session-builder.js';

export interface ReplicaFetcherOptions {
  readonly brokerId: number;
  readonly brokerEpoch: () => number | undefined;
  readonly leaderId: number;
  /** The leader broker's origin, e.g. `http://127.0.0.1:9092`. */
  readonly origin: string;
  readonly clusterSecret: string;
  readonly logger: Logger;
  /** Long-poll wait of one fetch. Default 500 ms (Kafka's replica.fetch.wait.max.ms). */
  readonly maxWaitMs?: number;
  /** Bytes per answer. Default 10 MiB (Kafka's replica.fetch.response.max.bytes). */
  readonly maxBytes?: number;
  /** Bytes per partition per answer. Default 1 MiB (Kafka's replica.fetch.max.bytes). */
  readonly partitionMaxBytes?: number;
  /** Wait after a failed round before the next. Default 250 ms (Kafka's replica.fetch.backoff.ms is 1 s). */
  readonly backoffMs?: number;
  /** Bytes and records appended, for metrics. */
  readonly onAppended?: (bytes: number, records: number) => void;
}

type FetchState = 'truncating' | 'fetching' | 'delayed';

interface Fetched {
  readonly partition: Partition;
  readonly leaderEpoch: number;
  state: FetchState;
  delayedUntilMs: number;
}

/** Errors after which a partition waits for metadata (a new leader, a new epoch) rather than retrying at once. */
const WAIT_FOR_METADATA = new Set([
  'NOT_LEADER_OR_FOLLOWER',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'UNKNOWN_TOPIC_ID',
]);

const OutOfRangeDetailsSchema = z.object({ logStartOffset: z.string(), logEndOffset: z.string() });

/**
 * Pulls every partition this broker follows on one leader broker through one incremental fetch
 * session (DESIGN.md decision 6), one request in flight at a time, long-polling.
 *
 * A partition added here (this broker became its follower in a leader epoch) is first truncated by
 * epoch: the follower asks the leader where its own latest epoch ends in the leader's log
 * (OffsetsForLeaderEpoch, KIP-101/279) and cuts its log there, step by step until the logs agree.
 * Only then is it fetched. If the leader later reports a divergence in a fetch answer (KIP-320),
 * the partition goes back to truncation. Batches are appended exactly as the leader sent them.
 */
export class ReplicaFetcher {
  readonly leaderId: number;
  readonly origin: string;
  readonly #options: ReplicaFetcherOptions;
  readonly #partitions = new Map<string, Fetched>();
  readonly #builder = new FetchSessionBuilder();
  readonly #session: FrameSession;
  readonly #json: Client;
  #running: Promise<void> | undefined;
  #stopped = false;
  #abort = new AbortController();
  #wake: (() => void) | undefined;
  /** Records behind the leader's high watermark as of the last answer, per partition. */
  readonly #lag = new Map<string, bigint>();

  constructor(options: ReplicaFetcherOptions) {
    this.leaderId = options.leaderId;
    this.origin = options.origin;
    this.#options = options;
    this.#session = createFrameSession(options.origin, { connectTimeoutMs: 1000 });
    this.#json = createH2Client(options.origin, { connectTimeoutMs: 1000 });
  }

  get size(): number {
    return this.#partitions.size;
  }

  /** Records behind the leaders' high watermarks, summed over the partitions fetched here, as of the last answers. */
  get lagRecords(): bigint {
    let sum = 0n;
    for (const lag of this.#lag.values()) sum += lag;
    return sum;
  }

  /** Starts (or restarts) fetching `partition` from this leader in `leaderEpoch`, beginning with truncation. */
  add(partition: Partition, leaderEpoch: number): void {
    this.#partitions.set(keyOf(partition), { partition, leaderEpoch, state: 'truncating', delayedUntilMs: 0 });
    this.#kick();
  }

  remove(partition: Partition): void {
    const key = keyOf(partition);
    this.#partitions.delete(key);
    this.#lag.delete(key);
  }

  has(partition: Partition): boolean {
    return this.#partitions.has(keyOf(partition));
  }

  start(): void {
    if (this.#running !== undefined) return;
    this.#running = this.#loop().catch((error: unknown) => {
      this.#options.logger.error({ err: error, leaderId: this.leaderId }, 'replica fetcher stopped on a bug');
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    this.#wake?.();
    await this.#running;
    await this.#session.close();
    await this.#json.destroy().catch(() => undefined);
  }

  #kick(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      const now = Date.now();
      for (const fetched of this.#partitions.values()) {
        if (fetched.state === 'delayed' && fetched.delayedUntilMs <= now) fetched.state = 'truncating';
      }
      const truncating = [...this.#partitions.values()].filter((f) => f.state === 'truncating');
      if (truncating.length > 0) {
        const ok = await this.#truncate(truncating);
        if (!ok) await this.#pause(this.#options.backoffMs ?? 250);
        continue;
      }
      const fetching = [...this.#partitions.values()].filter((f) => f.state === 'fetching');
      if (fetching.length === 0) {
        const delays = [...this.#partitions.values()].map((f) => f.delayedUntilMs - now);
        await this.#pause(delays.length === 0 ? undefined : Math.max(10, Math.min(...delays)));
        continue;
      }
      const ok = await this.#fetch(fetching);
      if (!ok) await this.#pause(this.#options.backoffMs ?? 250);
    }
  }

  /** Waits for `ms` (or until something is added or the fetcher stops; forever with no `ms`). */
  #pause(ms: number | undefined): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /**
   * One round of truncation by epoch for the partitions that need it. A partition with an empty
   * log, or whose logs agree, moves on to fetching. Returns false when the leader could not be asked.
   */
  async #truncate(list: readonly Fetched[]): Promise<boolean> {
    const ready: Fetched[] = [];
    const ask: Fetched[] = [];
    for (const fetched of list) {
      if (fetched.partition.log.lastBatchEpoch < 0) ready.push(fetched);
      else ask.push(fetched);
    }
    for (const fetched of ready) fetched.state = 'fetching';
    if (ask.length === 0) return true;
    let answer: z.output<typeof OffsetsForLeaderEpochResponseSchema>;
    try {
      answer = await requestJson(this.#json, {
        method: 'POST',
        path: Routes.offsetsForLeaderEpoch,
        body: {
          replicaId: this.#options.brokerId,
          partitions: ask.map((f) => ({
            topic: f.partition.topic,
            partition: f.partition.log.tp.partition,
            currentLeaderEpoch: f.leaderEpoch,
            leaderEpoch: f.partition.log.lastBatchEpoch,
          })),
        },
        headers: { [Headers.clusterSecret]: this.#options.clusterSecret },
        responseSchema: OffsetsForLeaderEpochResponseSchema,
        timeoutMs: 5000,
        signal: this.#abort.signal,
      });
    } catch (error) {
      if (!this.#stopped)
        this.#options.logger.warn({ err: error, leaderId: this.leaderId }, 'offsets for leader epoch failed');
      return false;
    }
    const byName = new Map(ask.map((f) => [`${f.partition.topic}:${f.partition.log.tp.partition}`, f]));
    for (const item of answer.partitions) {
      const fetched = byName.get(`${item.topic}:${item.partition}`);
      if (fetched === undefined || this.#partitions.get(keyOf(fetched.partition)) !== fetched) continue;
      if (item.error !== undefined) {
        this.#delay(fetched, item.error.code);
        continue;
      }
      const log = fetched.partition.log;
      const leaderAnswer = { leaderEpoch: item.leaderEpoch, endOffset: item.endOffset };
      const step = truncationAfterEpochAnswer({
        leaderAnswer,
        followerAnswer: log.endOffsetForEpoch(Math.max(0, item.leaderEpoch)),
        followerLogEndOffset: log.logEndOffset,
        followerHighWatermark: log.highWatermark,
      });
      if (step.offset < log.logEndOffset) {
        const belowHighWatermark = step.offset < log.highWatermark;
        const level = belowHighWatermark ? 'warn' : 'info';
        this.#options.logger[level](
          {
            partition: log.name,
            from: offsetToJson(log.logEndOffset),
            to: offsetToJson(step.offset),
            highWatermark: offsetToJson(log.highWatermark),
            leaderEpoch: fetched.leaderEpoch,
          },
          belowHighWatermark
            ? 'truncating below the high watermark: the leader does not have records this replica saw committed (an unclean election)'
            : 'truncating the divergent suffix of the log',
        );
        try {
          await log.truncateTo(step.offset, { allowBelowHighWatermark: true });
        } catch (error) {
          this.#options.logger.error({ err: error, partition: log.name }, 'truncation failed');
          this.#delay(fetched, 'KAFKA_STORAGE_ERROR');
          continue;
        }
      }
      if (step.done || log.lastBatchEpoch < 0) fetched.state = 'fetching';
    }
    return true;
  }

  /** One fetch round: send the session's request, apply the answer. Returns false on a failed round. */
  async #fetch(list: readonly Fetched[]): Promise<boolean> {
    const brokerEpoch = this.#options.brokerEpoch();
    if (brokerEpoch === undefined) return false;
    const positions: SessionPartitionRequest[] = [];
    const sent = new Map<string, { fetched: Fetched; fetchOffset: bigint }>();
    const partitionMaxBytes = this.#options.partitionMaxBytes ?? 1024 * 1024;
    for (const fetched of list) {
      const log = fetched.partition.log;
      const lastFetchedEpoch = log.lastBatchEpoch;
      positions.push({
        topicId: log.tp.topicId,
        partition: log.tp.partition,
        fetchOffset: log.logEndOffset,
        currentLeaderEpoch: fetched.leaderEpoch,
        ...(lastFetchedEpoch >= 0 ? { lastFetchedEpoch } : {}),
        logStartOffset: log.logStartOffset,
        partitionMaxBytes,
      });
      sent.set(`${fetched.partition.topic}:${log.tp.partition}`, { fetched, fetchOffset: log.logEndOffset });
    }
    const request = this.#builder.build(positions);
    const maxWaitMs = this.#options.maxWaitMs ?? 500;
    let answer: DecodedFetchResponse;
    try {
      const body = Buffer.from(
        JSON.stringify({
          replicaId: this.#options.brokerId,
          brokerEpoch,
          sessionId: request.sessionId,
          sessionEpoch: request.sessionEpoch,
          maxWaitMs,
          minBytes: 1,
          maxBytes: this.#options.maxBytes ?? 10 * 1024 * 1024,
          partitions: request.partitions.map((p) => ({
            ...p,
            fetchOffset: offsetToJson(p.fetchOffset),
            logStartOffset: offsetToJson(p.logStartOffset),
          })),
          ...(request.forgotten.length > 0 ? { forgotten: request.forgotten } : {}),
        }),
      );
      const bytes = await this.#session.requestFrame({
        path: Routes.replicaFetch,
        body,
        bodyType: 'json',
        headers: { [Headers.clusterSecret]: this.#options.clusterSecret },
        timeoutMs: maxWaitMs + 5000,
        signal: this.#abort.signal,
      });
      answer = decodeFetchResponse(bytes);
    } catch (error) {
      this.#builder.reset();
      if (this.#stopped) return true;
      const typed = toMillraceError(error);
      const level =
        typed.code === 'FETCH_SESSION_ID_NOT_FOUND' || typed.code === 'INVALID_FETCH_SESSION_EPOCH' ? 'info' : 'warn';
      this.#options.logger[level]({ err: typed, leaderId: this.leaderId }, 'replica fetch failed');
      return typed.code === 'FETCH_SESSION_ID_NOT_FOUND' || typed.code === 'INVALID_FETCH_SESSION_EPOCH';
    }
    this.#builder.onAnswer(answer.sessionId);
    // Partitions are independent (each log queues its own writes), so their appends go to the
    // store together: LevelDB commits concurrent writes as one group, and the next fetch, which
    // tells the leader the new positions and so moves its high watermark, leaves sooner.
    const applied: Promise<void>[] = [];
    for (const topic of answer.topics) {
      for (const item of topic.partitions) {
        const entry = sent.get(`${topic.topic}:${item.partition}`);
        if (entry === undefined) continue;
        applied.push(this.#apply(entry.fetched, entry.fetchOffset, item, topic.topic));
      }
    }
    await Promise.all(applied);
    return true;
  }

  async #apply(
    fetched: Fetched,
    fetchOffset: bigint,
    item: DecodedFetchResponse['topics'][number]['partitions'][number],
    topic: string,
  ): Promise<void> {
    const { partition } = fetched;
    const log = partition.log;
    // The partition may have been removed, re-added in a new epoch, or truncated meanwhile.
    if (this.#partitions.get(keyOf(partition)) !== fetched || fetched.state !== 'fetching') return;
    if (log.logEndOffset !== fetchOffset) return;
    if (item.error !== undefined) {
      if (item.error.code === 'OFFSET_OUT_OF_RANGE') {
        await this.#outOfRange(fetched, item.error.details);
      } else {
        this.#delay(fetched, item.error.code);
      }
      return;
    }
    if (item.divergingEpoch !== undefined) {
      this.#options.logger.info(
        { partition: log.name, divergingEpoch: item.divergingEpoch },
        'the leader reports a divergent log; truncating by epoch',
      );
      fetched.state = 'truncating';
      return;
    }
    let batches: Buffer[] = [];
    let records = 0;
    if (item.records.length > 0) {
      try {
        batches = splitRecordBatches(item.records);
      } catch (error) {
        this.#options.logger.warn({ err: error, partition: log.name }, 'the leader sent malformed record batches');
        this.#delay(fetched, 'CORRUPT_MESSAGE');
        return;
      }
      const last = batches[batches.length - 1];
      if (last !== undefined) records = Number(lastOffsetOf(readRecordBatchHeader(last)) - fetchOffset + 1n);
    }
    try {
      const applied = await partition.appendAsFollower(
        batches,
        fetched.leaderEpoch,
        item.highWatermark,
        this.#options.partitionMaxBytes ?? 1024 * 1024 * 64,
      );
      if (!applied) return;
      if (batches.length > 0) this.#options.onAppended?.(item.records.length, Math.max(0, records));
      // The answer tells the leader's high watermark, not its log end: the lag is counted against it.
      this.#lag.set(keyOf(partition), maxOffset(0n, item.highWatermark - log.logEndOffset));
      // DeleteRecords and retention on the leader move its log start; followers follow, never past their high watermark.
      const leaderStart = item.logStartOffset;
      const start = minOffset(leaderStart, log.highWatermark);
      if (start > log.logStartOffset) await log.deleteBefore(start);
    } catch (error) {
      const typed = toMillraceError(error);
      this.#options.logger.warn(
        { err: typed, partition: log.name, topic },
        'appending the leader batches failed; truncating by epoch again',
      );
      if (isMillraceError(error, 'KAFKA_STORAGE_ERROR')) this.#delay(fetched, typed.code);
      else fetched.state = 'truncating';
    }
  }

  /** The leader no longer has our fetch offset: it is below its log start (we fell too far behind) or past its end. */
  async #outOfRange(fetched: Fetched, details: unknown): Promise<void> {
    const log = fetched.partition.log;
    const range = OutOfRangeDetailsSchema.safeParse(details);
    if (!range.success) {
      this.#delay(fetched, 'OFFSET_OUT_OF_RANGE');
      return;
    }
    const leaderStart = BigInt(range.data.logStartOffset);
    if (log.logEndOffset < leaderStart) {
      this.#options.logger.info(
        {
          partition: log.name,
          logEndOffset: offsetToJson(log.logEndOffset),
          leaderLogStartOffset: range.data.logStartOffset,
        },
        'the leader no longer has the records after this log end; restarting the log at its log start',
      );
      await log.truncateFullyAndStartAt(leaderStart, { allowBelowHighWatermark: true });
      return;
    }
    // Past the leader's end: our suffix is not the leader's. Truncate by epoch again.
    fetched.state = 'truncating';
  }

  #delay(fetched: Fetched, code: string): void {
    fetched.state = 'delayed';
    const ms = WAIT_FOR_METADATA.has(code) ? 1000 : code === 'UNKNOWN_LEADER_EPOCH' ? 100 : 500;
    fetched.delayedUntilMs = Date.now() + ms;
  }
}

function keyOf(partition: Partition): string {
  return `${partition.log.tp.topicId}:${partition.log.tp.partition}`;
}
