import { MillraceError } from '@millrace/protocol';

/**
 * The leader's side of incremental fetch sessions (Kafka's KIP-227), as pure bookkeeping.
 *
 * A follower opens a session with sessionId 0 and epoch 0, listing every partition it fetches
 * from this leader. The leader answers with every partition and the session's id. After that the
 * follower sends the id and the next epoch, listing only partitions whose fetch position changed
 * (or that are new) and naming in `forgotten` those it stopped fetching; the leader remembers the
 * rest. An answer carries only partitions with news: records, a moved high watermark or log start,
 * an error, a divergence. So a session of thousands of idle partitions costs a few bytes per
 * round trip.
 *
 * An epoch out of order (a lost answer, a duplicate) is INVALID_FETCH_SESSION_EPOCH; an unknown id
 * (the leader restarted, or evicted it) is FETCH_SESSION_ID_NOT_FOUND. Either way the follower
 * opens a new session. A follower has one session per leader: a new one replaces its older ones.
 */
export interface SessionPartitionRequest {
  readonly topicId: string;
  readonly partition: number;
  readonly fetchOffset: bigint;
  readonly currentLeaderEpoch: number;
  readonly lastFetchedEpoch?: number | undefined;
  readonly logStartOffset: bigint;
  readonly partitionMaxBytes: number;
}

export interface SessionEntry extends SessionPartitionRequest {
  readonly key: string;
  /** What the follower was last told, so unchanged partitions are left out of answers. */
  sentHighWatermark: bigint | undefined;
  sentLogStartOffset: bigint | undefined;
  sentError: string | undefined;
  /** The last answer reported a divergence: the position is not counted until the follower lists the partition again. */
  diverged: boolean;
}

export interface FetchSession {
  readonly id: number;
  readonly replicaId: number;
  /** The epoch the next request must carry. */
  nextEpoch: number;
  readonly entries: Map<string, SessionEntry>;
  lastUsedMs: number;
  /** Rotates where answers start, so a partition late in the list is not starved by the byte budget. */
  rotation: number;
}

export interface SessionRequest {
  readonly replicaId: number;
  readonly sessionId: number;
  readonly sessionEpoch: number;
  readonly partitions: readonly SessionPartitionRequest[];
  readonly forgotten?: readonly { readonly topicId: string; readonly partition: number }[] | undefined;
}

export interface OpenedSession {
  readonly session: FetchSession;
  /** A new session: every partition goes in the answer. */
  readonly full: boolean;
  /** Keys of the partitions the request listed. */
  readonly listed: ReadonlySet<string>;
}

export interface FetchSessionCacheOptions {
  /** Sessions kept at most; the least recently used goes first. Default 1000. */
  readonly maxSessions?: number;
  /** Sessions unused this long are dropped. Default 120 s. */
  readonly idleTimeoutMs?: number;
  /** Source of new session ids (a number in [0, 1)). Default Math.random. */
  readonly random?: () => number;
}

const INT32_MAX = 0x7fff_ffff;

export function sessionKey(topicId: string, partition: number): string {
  return `${topicId.toLowerCase()}:${partition}`;
}

export class FetchSessionCache {
  readonly #sessions = new Map<number, FetchSession>();
  readonly #maxSessions: number;
  readonly #idleTimeoutMs: number;
  readonly #random: () => number;

  constructor(options: FetchSessionCacheOptions = {}) {
    this.#maxSessions = options.maxSessions ?? 1000;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
    this.#random = options.random ?? Math.random;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Applies a request to its session (a new one for sessionId 0) and returns it. */
  open(request: SessionRequest, nowMs: number): OpenedSession {
    this.#expire(nowMs);
    const listed = new Set<string>();
    if (request.sessionId === 0) {
      if (request.sessionEpoch !== 0) {
        throw new MillraceError(
          'INVALID_FETCH_SESSION_EPOCH',
          `A new fetch session (sessionId 0) must start at epoch 0, not ${request.sessionEpoch}.`,
        );
      }
      for (const [id, session] of this.#sessions) {
        if (session.replicaId === request.replicaId) this.#sessions.delete(id);
      }
      const session: FetchSession = {
        id: this.#newId(),
        replicaId: request.replicaId,
        nextEpoch: 1,
        entries: new Map(),
        lastUsedMs: nowMs,
        rotation: 0,
      };
      for (const partition of request.partitions) listed.add(upsert(session, partition));
      this.#sessions.set(session.id, session);
      this.#evict();
      return { session, full: true, listed };
    }
    const session = this.#sessions.get(request.sessionId);
    if (session === undefined || session.replicaId !== request.replicaId) {
      throw new MillraceError(
        'FETCH_SESSION_ID_NOT_FOUND',
        `Fetch session ${request.sessionId} is not known here (expired, replaced, or this broker restarted); open a new one.`,
        { details: { sessionId: request.sessionId } },
      );
    }
    if (request.sessionEpoch !== session.nextEpoch) {
      // The session is of no more use: the follower's idea of it has gone apart from ours.
      this.#sessions.delete(session.id);
      throw new MillraceError(
        'INVALID_FETCH_SESSION_EPOCH',
        `Fetch session ${session.id} expected epoch ${session.nextEpoch}, not ${request.sessionEpoch}; open a new one.`,
        { details: { sessionId: session.id, expectedEpoch: session.nextEpoch } },
      );
    }
    session.nextEpoch = session.nextEpoch >= INT32_MAX ? 1 : session.nextEpoch + 1;
    session.lastUsedMs = nowMs;
    // Re-insert to keep the map in least-recently-used order.
    this.#sessions.delete(session.id);
    this.#sessions.set(session.id, session);
    for (const gone of request.forgotten ?? []) session.entries.delete(sessionKey(gone.topicId, gone.partition));
    for (const partition of request.partitions) listed.add(upsert(session, partition));
    return { session, full: false, listed };
  }

  remove(sessionId: number): void {
    this.#sessions.delete(sessionId);
  }

  #newId(): number {
    for (;;) {
      const id = 1 + Math.floor(this.#random() * (INT32_MAX - 1));
      if (!this.#sessions.has(id)) return id;
    }
  }

  #evict(): void {
    while (this.#sessions.size > this.#maxSessions) {
      const oldest = this.#sessions.keys().next().value as number;
      this.#sessions.delete(oldest);
    }
  }

  #expire(nowMs: number): void {
    for (const [id, session] of this.#sessions) {
      if (nowMs - session.lastUsedMs > this.#idleTimeoutMs) this.#sessions.delete(id);
    }
  }
}

function upsert(session: FetchSession, partition: SessionPartitionRequest): string {
  const key = sessionKey(partition.topicId, partition.partition);
  const previous = session.entries.get(key);
  session.entries.set(key, {
    ...partition,
    key,
    sentHighWatermark: previous?.sentHighWatermark,
    sentLogStartOffset: previous?.sentLogStartOffset,
    sentError: previous?.sentError,
    diverged: false,
  });
  return key;
}

/** What the leader found for one session partition in this round. */
export interface SessionPartitionResult {
  readonly highWatermark: bigint;
  readonly logStartOffset: bigint;
  readonly hasRecords: boolean;
  readonly diverging: boolean;
  readonly errorCode: string | undefined;
}

/**
 * Whether a partition's news is worth answering a parked fetch for: records, a divergence, a new
 * error or the end of one, a moved log start. A high watermark that moved alone is not (Kafka's
 * rule): the follower learns it with its next answer, so the fetch that reports a follower's new
 * position, which is what moves the high watermark, is not answered just to say so; at a few
 * hundred writes a second that halves the replica fetches. Acknowledgements do not wait for it:
 * the leader answers producers when it moves its own high watermark.
 */
export function isUrgent(entry: SessionEntry, result: SessionPartitionResult): boolean {
  return (
    result.hasRecords ||
    result.diverging ||
    result.errorCode !== entry.sentError ||
    (result.errorCode === undefined && entry.sentLogStartOffset !== result.logStartOffset)
  );
}

/**
 * Whether a partition goes in the answer: always in a full answer; otherwise when it has records,
 * a divergence, a new error or the end of one, or a high watermark or log start the follower has
 * not been told.
 * Records what the follower is told when it does.
 */
export function includeInAnswer(entry: SessionEntry, result: SessionPartitionResult, full: boolean): boolean {
  const news =
    full ||
    result.hasRecords ||
    result.diverging ||
    result.errorCode !== entry.sentError ||
    (result.errorCode === undefined &&
      (entry.sentHighWatermark !== result.highWatermark || entry.sentLogStartOffset !== result.logStartOffset));
  if (!news) return false;
  entry.sentError = result.errorCode;
  if (result.errorCode === undefined) {
    entry.sentHighWatermark = result.highWatermark;
    entry.sentLogStartOffset = result.logStartOffset;
  }
  entry.diverged = result.diverging;
  return true;
}
