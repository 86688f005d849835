import type { MetadataImage } from '@millrace/metadata';
import { MillraceError, NO_LEADER, type PartitionErrorBody, toPartitionError } from '@millrace/protocol';
import type { Partition } from '../replication/partition.js';
import type { ReplicaManager } from '../replication/replica-manager.js';

/** The reply body of a fetch stops growing past this, whatever the request asked (Kafka's fetch.max.bytes). */
export const FETCH_RESPONSE_MAX_BYTES = 50 * 1024 * 1024;
/** Long polls and acks=all waits may take up to the schemas' 300 s; the route's deadline sits just past it. */
export const LONG_REQUEST_TIMEOUT_MS = 305_000;

export interface CurrentLeader {
  readonly leaderId: number;
  readonly leaderEpoch: number;
  readonly endpoint: { readonly host: string; readonly port: number };
}

/** The leader the image names for a partition, with its address (Kafka's KIP-951), if it has one. */
export function currentLeaderOf(image: MetadataImage, topicId: string, partition: number): CurrentLeader | undefined {
  const state = image.partition(topicId, partition);
  if (state === undefined || state.leader === NO_LEADER) return undefined;
  const broker = image.broker(state.leader);
  if (broker === undefined) return undefined;
  return { leaderId: state.leader, leaderEpoch: state.leaderEpoch, endpoint: broker.endpoint };
}

/**
 * A per-partition error for an answer. Errors that mean "ask another broker" carry the current
 * leader, so a client reroutes without a metadata round trip.
 */
export function partitionFailure(
  error: unknown,
  image: MetadataImage,
  topicId: string | undefined,
  partition: number,
): { error: PartitionErrorBody; currentLeader?: CurrentLeader } {
  const body = toPartitionError(error);
  if (topicId === undefined) return { error: body };
  if (body.code !== 'NOT_LEADER_OR_FOLLOWER' && body.code !== 'FENCED_LEADER_EPOCH') return { error: body };
  const currentLeader = currentLeaderOf(image, topicId, partition);
  return currentLeader === undefined ? { error: body } : { error: body, currentLeader };
}

/**
 * The partition a client names, hosted here, or the error to answer with: the topic or partition
 * does not exist (UNKNOWN_TOPIC_OR_PARTITION), or another broker holds it (NOT_LEADER_OR_FOLLOWER).
 */
export function resolvePartition(
  manager: ReplicaManager,
  image: MetadataImage,
  topic: string,
  partition: number,
): { topicId: string | undefined; partition?: Partition; error?: unknown } {
  const state = image.topicByName(topic);
  if (state === undefined) {
    return {
      topicId: undefined,
      error: new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${topic}" does not exist.`),
    };
  }
  if (partition >= state.partitions.length) {
    return {
      topicId: state.topicId,
      error: new MillraceError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `Topic "${topic}" has ${state.partitions.length} partitions; ${partition} is not one of them.`,
      ),
    };
  }
  const hosted = manager.get(state.topicId, partition);
  if (hosted === undefined) {
    const leader = state.partitions[partition]?.leader ?? NO_LEADER;
    return {
      topicId: state.topicId,
      error: new MillraceError('NOT_LEADER_OR_FOLLOWER', `This broker holds no replica of ${topic}-${partition}.`, {
        details: { leaderId: leader },
      }),
    };
  }
  return { topicId: state.topicId, partition: hosted };
}

/**
 * Runs `round` until it has an answer: at once, then each time one of `partitions` changes (an
 * append, a high watermark move, a role change), and a last time, with `final` set, when
 * `maxWaitMs` has passed or `signal` aborts (the client went away).
 */
export async function longPoll<T>(options: {
  readonly maxWaitMs: number;
  readonly partitions: Iterable<Partition>;
  readonly signal?: AbortSignal;
  readonly round: (final: boolean) => Promise<T | undefined>;
}): Promise<T> {
  const deadline = Date.now() + options.maxWaitMs;
  for (;;) {
    const remaining = deadline - Date.now();
    const final = remaining <= 0 || options.signal?.aborted === true;
    const answer = await options.round(final);
    if (answer !== undefined) return answer;
    if (final) throw new Error('invariant broken: a final long-poll round gave no answer');
    await new Promise<void>((resolve) => {
      const cancels: (() => void)[] = [];
      const done = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', done);
        for (const cancel of cancels) cancel();
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      options.signal?.addEventListener('abort', done, { once: true });
      for (const partition of options.partitions) cancels.push(partition.onceChanged(done));
    });
  }
}

/**
 * Runs `work` with a signal that aborts if the client goes away first (its request closes). The
 * listener goes once the work is done, so a request answered normally costs no abort.
 */
export async function whileConnected<T>(
  raw: { once(event: 'close', listener: () => void): unknown; off(event: 'close', listener: () => void): unknown },
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const aborted = new AbortController();
  const onClose = () => aborted.abort();
  raw.once('close', onClose);
  try {
    return await work(aborted.signal);
  } finally {
    raw.off('close', onClose);
  }
}
