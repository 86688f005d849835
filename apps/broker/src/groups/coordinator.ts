import type { MetadataImage } from '@millrace/metadata';
import {
  decodeRecordBatch,
  encodeRecordBatch,
  type GroupHeartbeatResponse,
  MillraceError,
  NO_LEADER,
  OFFSETS_TOPIC,
} from '@millrace/protocol';
import type { Logger } from 'pino';
import type { Partition } from '../replication/partition.js';
import type { ReplicaManager } from '../replication/replica-manager.js';
import {
  type CommittedOffset,
  type GroupDescription,
  type GroupSettings,
  GroupStore,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type OffsetCommitRequest,
  type TopicsView,
} from './group-store.js';
import { fromJson, samePartitions } from './partitions.js';
import { decodeGroupRecord, encodeGroupRecord, type GroupRecord } from './records.js';

export interface GroupCoordinatorOptions {
  readonly brokerId: number;
  readonly manager: ReplicaManager;
  /** The metadata image once this broker serves clients (throws NODE_NOT_READY before). */
  readonly readyImage: () => MetadataImage;
  /** Asks the active controller to create `__consumer_offsets` (idempotent). */
  readonly createOffsetsTopic: () => Promise<void>;
  readonly settings: GroupSettings;
  readonly logger: Logger;
  /** How often sessions are checked, leaderships followed and held heartbeats reconsidered. Default 100 ms. */
  readonly tickMs?: number;
  /** How long a write of group records waits for the ISR. Default 10 s. */
  readonly writeTimeoutMs?: number;
}

/** Where to find a group's coordinator. */
export interface CoordinatorAddress {
  readonly brokerId: number;
  readonly endpoint: { readonly host: string; readonly port: number };
}

/** A heartbeat held open because nothing changed for its member (a long poll). */
interface Held {
  readonly request: HeartbeatRequest;
  readonly told: HeartbeatResponse;
  readonly deadline: number;
  readonly answer: (response: Promise<HeartbeatResponse>) => void;
}

/**
 * One partition of `__consumer_offsets` led by this broker: its groups (loaded from the partition
 * when this broker became its leader), the queue that runs their operations one at a time, and
 * the heartbeats held open.
 *
 * An operation runs against the store, then its records are written to the partition as one batch
 * with acks=all, and only then is it answered; the next operation starts after that. So no answer
 * ever rests on a change the log might not keep. A write that fails leaves the store ahead of the
 * log: the shard stops, and the next tick loads the partition again.
 */
class Shard {
  readonly partition: Partition;
  readonly leaderEpoch: number;
  readonly store: GroupStore;
  state: 'loading' | 'active' | 'failed' = 'loading';
  failure: string | undefined;
  readonly held = new Set<Held>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(partition: Partition, settings: GroupSettings) {
    this.partition = partition;
    this.leaderEpoch = partition.leaderEpoch;
    this.store = new GroupStore(settings);
  }

  get index(): number {
    return this.partition.log.tp.partition;
  }

  /** Whether this broker still leads the partition in the epoch the shard was loaded for. */
  get current(): boolean {
    return this.partition.role === 'leader' && this.partition.leaderEpoch === this.leaderEpoch;
  }

  enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * The group coordinator of this broker: it coordinates the groups whose partition of
 * `__consumer_offsets` this broker leads, so coordination moves with that partition's leadership
 * on failover, as in Kafka. A group's partition is Kafka's: the absolute value of the Java hash of
 * its id, modulo the topic's partition count.
 */
export class GroupCoordinator {
  readonly #options: GroupCoordinatorOptions;
  readonly #shards = new Map<number, Shard>();
  #creating: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastExpiry = 0;
  #closed = false;

  constructor(options: GroupCoordinatorOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer = setInterval(() => this.tick(), this.#options.tickMs ?? 100);
    this.#timer.unref();
  }

  /** The broker that coordinates `groupId`; creates `__consumer_offsets` on first use. */
  findCoordinator(groupId: string): CoordinatorAddress {
    const image = this.#options.readyImage();
    const topic = image.topicByName(OFFSETS_TOPIC);
    if (topic === undefined) {
      this.#createOffsetsTopic();
      throw new MillraceError(
        'COORDINATOR_NOT_AVAILABLE',
        `${OFFSETS_TOPIC} is being created (it needs offsets.topic.replication.factor live brokers); try again shortly.`,
      );
    }
    const state = topic.partitions[groupPartition(groupId, topic.partitions.length)];
    const broker = state === undefined || state.leader === NO_LEADER ? undefined : image.broker(state.leader);
    if (state === undefined || broker === undefined)
      throw new MillraceError(
        'COORDINATOR_NOT_AVAILABLE',
        `The partition of ${OFFSETS_TOPIC} that holds group ${groupId} has no leader right now.`,
      );
    return { brokerId: state.leader, endpoint: broker.endpoint };
  }

  /**
   * A member's heartbeat. One that would change nothing for the member (same epoch, same
   * assignment as it reports) is held until its assignment changes or the heartbeat interval ends,
   * so members hear of a rebalance at once.
   */
  async heartbeat(
    request: HeartbeatRequest & { readonly noWait?: boolean },
    signal?: AbortSignal,
  ): Promise<GroupHeartbeatResponse> {
    const shard = this.#shardFor(request.groupId);
    const response = await this.#run(shard, (store, now, topics) => store.heartbeat(request, now, topics));
    const unchanged =
      request.memberEpoch > 0 &&
      response.memberEpoch === request.memberEpoch &&
      request.ownedPartitions !== undefined &&
      samePartitions(fromJson(response.assignment), fromJson(request.ownedPartitions));
    if (!unchanged || request.noWait === true || signal?.aborted === true) return this.#toWire(response);
    const held = await new Promise<Promise<HeartbeatResponse>>((resolve) => {
      const entry: Held = {
        request,
        told: response,
        deadline: Date.now() + this.#options.settings.heartbeatIntervalMs,
        answer: (answer) => {
          shard.held.delete(entry);
          signal?.removeEventListener('abort', onAbort);
          resolve(answer);
        },
      };
      const onAbort = () => entry.answer(Promise.resolve(response));
      signal?.addEventListener('abort', onAbort, { once: true });
      shard.held.add(entry);
      // News that came between the answer above and this hold is not missed.
      const image = this.#options.manager.image;
      if (
        image !== undefined &&
        shard.store.wouldChange(request.groupId, request.memberId, response, topicsView(image))
      )
        this.#answerAgain(shard, entry);
    });
    return this.#toWire(await held);
  }

  async commitOffsets(request: OffsetCommitRequest): Promise<number> {
    const shard = this.#shardFor(request.groupId);
    await this.#run(shard, (store, now) => ({ records: store.commitOffsets(request, now), response: undefined }));
    return request.offsets.length;
  }

  async fetchOffsets(
    groupId: string,
    partitions?: readonly { topic: string; partition: number }[],
  ): Promise<CommittedOffset[]> {
    const shard = this.#shardFor(groupId);
    // Through the queue: an answer never shows a commit whose write has not finished.
    return this.#run(shard, (store) => ({ records: [], response: store.fetchOffsets(groupId, partitions) }));
  }

  async describeGroup(groupId: string): Promise<{ description: GroupDescription; offsets: CommittedOffset[] }> {
    const shard = this.#shardFor(groupId);
    return this.#run(shard, (store) => {
      const description = store.describe(groupId);
      if (description === undefined) throw new MillraceError('GROUP_ID_NOT_FOUND', `Group ${groupId} does not exist.`);
      return { records: [], response: { description, offsets: store.fetchOffsets(groupId) } };
    });
  }

  async deleteGroup(groupId: string): Promise<void> {
    const shard = this.#shardFor(groupId);
    await this.#run(shard, (store, now) => ({ records: store.deleteGroup(groupId, now), response: undefined }));
  }

  /** The groups this broker coordinates now (the loaded partitions only). */
  listGroups(): { groupId: string; state: GroupDescription['state']; members: number }[] {
    const groups: { groupId: string; state: GroupDescription['state']; members: number }[] = [];
    for (const shard of this.#shards.values()) {
      if (shard.state !== 'active' || !shard.current) continue;
      for (const groupId of shard.store.groupIds()) {
        const description = shard.store.describe(groupId);
        if (description !== undefined)
          groups.push({ groupId, state: description.state, members: description.members.length });
      }
    }
    return groups.sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
  }

  /**
   * Follows leaderships of `__consumer_offsets` (loads newly led partitions, drops lost ones),
   * removes members whose session ran out, and answers held heartbeats whose member has news or
   * whose interval is over.
   */
  tick(): void {
    if (this.#closed) return;
    const image = this.#options.manager.image;
    const topic = image?.topicByName(OFFSETS_TOPIC);
    const led = new Set<number>();
    if (topic !== undefined) {
      for (let index = 0; index < topic.partitions.length; index++) {
        const partition = this.#options.manager.get(topic.topicId, index);
        if (partition?.role !== 'leader') continue;
        led.add(index);
        const shard = this.#shards.get(index);
        if (shard?.current && shard.state !== 'failed') continue;
        if (shard !== undefined) this.#unload(shard, 'reloading');
        this.#load(new Shard(partition, this.#options.settings));
      }
    }
    for (const shard of [...this.#shards.values()])
      if (!led.has(shard.index) || !shard.current) this.#unload(shard, 'no longer leads it');
    const now = Date.now();
    const expire = now - this.#lastExpiry >= 250;
    if (expire) this.#lastExpiry = now;
    for (const shard of this.#shards.values()) {
      if (shard.state !== 'active') continue;
      // Sessions to check only where there are members: 50 idle partitions cost nothing.
      if (expire && shard.store.hasMembers)
        void this.#run(shard, (store, at, topics) => ({
          records: store.expire(at, topics),
          response: undefined,
        })).catch(() => undefined);
      this.#reconsiderHeld(shard, now);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const shard of [...this.#shards.values()]) this.#unload(shard, 'the broker is stopping');
  }

  #shardFor(groupId: string): Shard {
    const image = this.#options.readyImage();
    const topic = image.topicByName(OFFSETS_TOPIC);
    if (topic === undefined)
      throw new MillraceError('COORDINATOR_NOT_AVAILABLE', `${OFFSETS_TOPIC} does not exist yet.`);
    const index = groupPartition(groupId, topic.partitions.length);
    const shard = this.#shards.get(index);
    if (shard?.current) {
      if (shard.state === 'active') return shard;
      if (shard.state === 'loading')
        throw new MillraceError(
          'COORDINATOR_LOAD_IN_PROGRESS',
          `Broker ${this.#options.brokerId} is loading the groups of ${OFFSETS_TOPIC}-${index}.`,
        );
      throw new MillraceError(
        'COORDINATOR_NOT_AVAILABLE',
        `${OFFSETS_TOPIC}-${index} could not be loaded: ${shard.failure}`,
      );
    }
    const partition = this.#options.manager.get(topic.topicId, index);
    if (partition?.role === 'leader') {
      // Led here since the last tick: start loading now rather than at the next one.
      this.tick();
      throw new MillraceError(
        'COORDINATOR_LOAD_IN_PROGRESS',
        `Broker ${this.#options.brokerId} is loading the groups of ${OFFSETS_TOPIC}-${index}.`,
      );
    }
    let hint: CoordinatorAddress | undefined;
    try {
      hint = this.findCoordinator(groupId);
    } catch {
      hint = undefined;
    }
    throw new MillraceError(
      'NOT_COORDINATOR',
      `Broker ${this.#options.brokerId} does not coordinate group ${groupId}${hint === undefined ? '' : `: broker ${hint.brokerId} does`}.`,
      hint === undefined ? {} : { details: { coordinator: hint } },
    );
  }

  /** Runs one operation in the shard's queue, writes its records (acks=all), then answers. */
  #run<T>(
    shard: Shard,
    operation: (
      store: GroupStore,
      nowMs: number,
      topics: TopicsView,
    ) => { records: readonly GroupRecord[]; response: T },
  ): Promise<T> {
    return shard.enqueue(async () => {
      if (!shard.current || shard.state !== 'active')
        throw new MillraceError(
          'NOT_COORDINATOR',
          `Broker ${this.#options.brokerId} no longer coordinates ${OFFSETS_TOPIC}-${shard.index}.`,
        );
      const image = this.#options.readyImage();
      const { records, response } = operation(shard.store, Date.now(), topicsView(image));
      if (records.length === 0) return response;
      try {
        await this.#write(shard, records, image);
      } catch (error) {
        // The store holds changes the log may not: stop this shard; the next tick loads it again.
        shard.state = 'failed';
        shard.failure = error instanceof Error ? error.message : String(error);
        this.#options.logger.warn(
          { err: error, partition: shard.partition.name },
          'writing group records failed; reloading the partition',
        );
        throw new MillraceError('COORDINATOR_NOT_AVAILABLE', `Writing the group's records failed: ${shard.failure}`);
      }
      this.#reconsiderHeld(shard, Date.now());
      return response;
    });
  }

  async #write(shard: Shard, records: readonly GroupRecord[], image: MetadataImage): Promise<void> {
    const now = Date.now();
    const batch = encodeRecordBatch({ records: records.map(encodeGroupRecord), now });
    await shard.partition.appendAsLeader({
      batches: [batch],
      acks: 'all',
      leaderEpoch: shard.leaderEpoch,
      minInsyncReplicas: Number(image.topicConfig(OFFSETS_TOPIC, 'min.insync.replicas')),
      // Group records are the coordinator's own: a large group's assignment may exceed a user batch limit.
      maxBatchBytes: 64 * 1024 * 1024,
      timestampType: 'create-time',
      nowMs: now,
      timeoutMs: this.#options.writeTimeoutMs ?? 10_000,
    });
  }

  #load(shard: Shard): void {
    this.#shards.set(shard.index, shard);
    void this.#readLog(shard).then(
      () => {
        if (this.#shards.get(shard.index) !== shard) return;
        shard.state = 'active';
        this.#options.logger.info(
          { partition: shard.partition.name, groups: shard.store.groupIds().length },
          'coordinating the groups of this partition',
        );
      },
      (error: unknown) => {
        shard.state = 'failed';
        shard.failure = error instanceof Error ? error.message : String(error);
        this.#options.logger.error({ err: error, partition: shard.partition.name }, 'loading group records failed');
      },
    );
  }

  /**
   * Replays every record of the partition, then waits until the high watermark covers what was
   * read: the previous leader's last records are answered on only once they are committed.
   */
  async #readLog(shard: Shard): Promise<void> {
    const log = shard.partition.log;
    const end = log.logEndOffset;
    let offset = log.logStartOffset;
    while (offset < end) {
      if (!shard.current) throw new Error('leadership moved while loading');
      const read = await log.read(offset, { maxBytes: 8 * 1024 * 1024, maxOffset: end, minOneBatch: true });
      if (read.batches.length === 0) break;
      for (const batch of read.batches) {
        for (const record of decodeRecordBatch(batch).records) {
          if (record.offset < offset) continue;
          let decoded: GroupRecord;
          try {
            decoded = decodeGroupRecord(record.key, record.value);
          } catch (error) {
            throw new Error(
              `the record at offset ${record.offset} of ${log.name} is not a group record: ${String(error)}`,
            );
          }
          shard.store.replay(decoded, Date.now());
          offset = record.offset + 1n;
        }
      }
    }
    shard.store.startSessions(Date.now());
    const deadline = Date.now() + 60_000;
    while (log.highWatermark < end) {
      if (!shard.current) throw new Error('leadership moved while loading');
      if (Date.now() > deadline) throw new Error('the high watermark did not reach the loaded records within 60 s');
      // Woken by the partition's next change (a follower's fetch moves the high watermark), or in 100 ms.
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          cancel();
          resolve();
        };
        const timer = setTimeout(done, 100);
        const cancel = shard.partition.onceChanged(done);
      });
    }
  }

  #unload(shard: Shard, why: string): void {
    if (this.#shards.get(shard.index) === shard) this.#shards.delete(shard.index);
    const error = new MillraceError(
      'NOT_COORDINATOR',
      `Broker ${this.#options.brokerId} no longer coordinates ${OFFSETS_TOPIC}-${shard.index}: ${why}.`,
    );
    for (const held of [...shard.held]) held.answer(Promise.reject(error));
    if (shard.state === 'active')
      this.#options.logger.info(
        { partition: shard.partition.name, why },
        'stopped coordinating the groups of this partition',
      );
  }

  /** Answers held heartbeats whose member would now hear something new, or whose time is up. */
  #reconsiderHeld(shard: Shard, now: number): void {
    if (shard.held.size === 0) return;
    const image = this.#options.manager.image;
    if (image === undefined) return;
    const topics = topicsView(image);
    for (const held of [...shard.held]) {
      const { groupId, memberId } = held.request;
      if (now < held.deadline && !shard.store.wouldChange(groupId, memberId, held.told, topics)) continue;
      this.#answerAgain(shard, held);
    }
  }

  /** Answers a held heartbeat by asking again, as the member would: the answer is current, and its session is renewed. */
  #answerAgain(shard: Shard, held: Held): void {
    held.answer(this.#run(shard, (store, at, view) => store.heartbeat(held.request, at, view)));
  }

  #toWire(response: HeartbeatResponse): GroupHeartbeatResponse {
    const image = this.#options.manager.image;
    return {
      memberId: response.memberId,
      memberEpoch: response.memberEpoch,
      heartbeatIntervalMs: response.heartbeatIntervalMs,
      sessionTimeoutMs: this.#options.settings.sessionTimeoutMs,
      assignment: response.assignment.map(({ topicId, partitions }) => ({
        topicId,
        topic: image?.topicById(topicId)?.name ?? null,
        partitions: [...partitions],
      })),
    };
  }

  #createOffsetsTopic(): void {
    this.#creating ??= this.#options
      .createOffsetsTopic()
      .catch((error: unknown) => this.#options.logger.info({ err: error }, `${OFFSETS_TOPIC} could not be created yet`))
      .finally(() => {
        this.#creating = undefined;
      });
  }
}

function topicsView(image: MetadataImage): TopicsView {
  return {
    topic(name) {
      const topic = image.topicByName(name);
      return topic === undefined ? undefined : { topicId: topic.topicId, partitions: topic.partitions.length };
    },
  };
}

/** Kafka's partition of a group: `Utils.abs(groupId.hashCode()) % partitionCount`, Java's String hash. */
export function groupPartition(groupId: string, partitionCount: number): number {
  let hash = 0;
  for (let i = 0; i < groupId.length; i++) hash = (Math.imul(31, hash) + groupId.charCodeAt(i)) | 0;
  return (hash & 0x7fffffff) % partitionCount;
}
