import { isMillraceError, type MillraceError } from '@millrace/protocol';
import { describe, expect, it } from 'vitest';
import {
  FetchSessionCache,
  includeInAnswer,
  isUrgent,
  type SessionEntry,
  type SessionPartitionRequest,
  type SessionPartitionResult,
  type SessionRequest,
  sessionKey,
} from '../../src/replication/fetch-sessions.js';
import { OTHER_TOPIC, position, positionsOf, TOPIC } from './positions.js';

const INT32_MAX = 0x7fff_ffff;

/** A seeded source in [0, 1) (mulberry32): session ids are the same at every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function openRequest(replicaId: number, partitions: SessionPartitionRequest[]): SessionRequest {
  return { replicaId, sessionId: 0, sessionEpoch: 0, partitions };
}

/** The typed error `run` throws. */
function refusal(run: () => unknown): MillraceError {
  try {
    run();
  } catch (error) {
    if (isMillraceError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal, but it succeeded');
}

function result(overrides: Partial<SessionPartitionResult> = {}): SessionPartitionResult {
  return {
    highWatermark: 10n,
    logStartOffset: 0n,
    hasRecords: false,
    diverging: false,
    errorCode: undefined,
    ...overrides,
  };
}

describe('fetch session cache (KIP-227, leader side)', () => {
  it('a request with sessionId 0 and epoch 0 opens a session holding every partition it lists', () => {
    const cache = new FetchSessionCache({ random: seeded(1) });
    const opened = cache.open(openRequest(2, [position(0, 5n), position(1, 7n), position(2)]), 1_000);
    expect(opened.full).toBe(true);
    expect(opened.session.id).toBeGreaterThanOrEqual(1);
    expect(opened.session.id).toBeLessThan(INT32_MAX);
    expect(Number.isInteger(opened.session.id)).toBe(true);
    expect(opened.session.replicaId).toBe(2);
    expect(opened.session.nextEpoch).toBe(1);
    expect(opened.session.lastUsedMs).toBe(1_000);
    expect([...opened.listed].sort()).toEqual([0, 1, 2].map((p) => sessionKey(TOPIC, p)).sort());
    expect(positionsOf(opened.session.entries)).toEqual(
      new Map([0, 1, 2].map((p) => [sessionKey(TOPIC, p), position(p, [5n, 7n, 0n][p])])),
    );
    for (const entry of opened.session.entries.values()) {
      expect(entry.sentHighWatermark).toBeUndefined();
      expect(entry.sentLogStartOffset).toBeUndefined();
      expect(entry.sentError).toBeUndefined();
      expect(entry.diverged).toBe(false);
    }
    expect(cache.size).toBe(1);
  });

  it('keys partitions by topic id regardless of its case', () => {
    expect(sessionKey('ABC-def', 3)).toBe(sessionKey('abc-DEF', 3));
    expect(sessionKey('abc', 3)).not.toBe(sessionKey('abc', 4));
  });

  it('the same seed gives the same session ids', () => {
    const ids = (seed: number) => {
      const cache = new FetchSessionCache({ random: seeded(seed) });
      return [2, 3, 4].map((replica) => cache.open(openRequest(replica, [position(0)]), 0).session.id);
    };
    expect(ids(42)).toEqual(ids(42));
    expect(new Set(ids(42)).size).toBe(3);
  });

  it('draws again when a new id is already taken', () => {
    const draws = [0.5, 0.5, 0.25];
    const cache = new FetchSessionCache({ random: () => draws.shift()! });
    const first = cache.open(openRequest(2, [position(0)]), 0).session.id;
    const second = cache.open(openRequest(3, [position(0)]), 0).session.id;
    expect(second).not.toBe(first);
    expect(draws).toEqual([]);
    expect(cache.size).toBe(2);
  });

  it('an incremental request updates listed partitions, adds new ones, forgets named ones and keeps the rest', () => {
    const cache = new FetchSessionCache({ random: seeded(2) });
    const { session } = cache.open(openRequest(2, [position(0), position(1), position(2)]), 0);
    const opened = cache.open(
      {
        replicaId: 2,
        sessionId: session.id,
        sessionEpoch: 1,
        partitions: [position(0, 40n, { lastFetchedEpoch: 4 }), position(7, 0n, { topicId: OTHER_TOPIC })],
        forgotten: [{ topicId: TOPIC.toUpperCase(), partition: 2 }],
      },
      500,
    );
    expect(opened.full).toBe(false);
    expect(opened.session).toBe(session);
    expect([...opened.listed].sort()).toEqual([sessionKey(TOPIC, 0), sessionKey(OTHER_TOPIC, 7)].sort());
    expect(session.nextEpoch).toBe(2);
    expect(session.lastUsedMs).toBe(500);
    expect(positionsOf(session.entries)).toEqual(
      new Map([
        [sessionKey(TOPIC, 0), position(0, 40n, { lastFetchedEpoch: 4 })],
        [sessionKey(TOPIC, 1), position(1)],
        [sessionKey(OTHER_TOPIC, 7), position(7, 0n, { topicId: OTHER_TOPIC })],
      ]),
    );
    // An empty incremental request is how an idle follower long-polls: nothing changes but the epoch.
    const idle = cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 2, partitions: [] }, 600);
    expect(idle.listed.size).toBe(0);
    expect(session.entries.size).toBe(3);
    expect(session.nextEpoch).toBe(3);
  });

  it('an updated partition keeps what the follower was told, and a listed one is counted again after a divergence', () => {
    const cache = new FetchSessionCache({ random: seeded(3) });
    const { session } = cache.open(openRequest(2, [position(0)]), 0);
    const entry = session.entries.get(sessionKey(TOPIC, 0))!;
    includeInAnswer(entry, result({ highWatermark: 9n, logStartOffset: 2n, diverging: true }), true);
    expect(entry.diverged).toBe(true);
    cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 1, partitions: [position(0, 9n)] }, 1);
    const updated = session.entries.get(sessionKey(TOPIC, 0))!;
    expect(updated.fetchOffset).toBe(9n);
    expect(updated.sentHighWatermark).toBe(9n);
    expect(updated.sentLogStartOffset).toBe(2n);
    expect(updated.diverged).toBe(false);
    // Nothing new for it: left out of the answer.
    expect(includeInAnswer(updated, result({ highWatermark: 9n, logStartOffset: 2n }), false)).toBe(false);
  });

  it('a parked fetch is answered for records, a divergence, an error or a moved log start, not for a moved high watermark alone', () => {
    const cache = new FetchSessionCache({ random: seeded(8) });
    const { session } = cache.open(openRequest(2, [position(0)]), 0);
    const entry = session.entries.get(sessionKey(TOPIC, 0))!;
    includeInAnswer(entry, result({ highWatermark: 10n, logStartOffset: 0n }), true);
    // The follower's own fetch moved the high watermark: news, but it can ride with the next answer.
    const moved = result({ highWatermark: 12n });
    expect(isUrgent(entry, moved)).toBe(false);
    expect(isUrgent(entry, result({ highWatermark: 12n, hasRecords: true }))).toBe(true);
    expect(isUrgent(entry, result({ diverging: true }))).toBe(true);
    expect(isUrgent(entry, result({ errorCode: 'NOT_LEADER_OR_FOLLOWER' }))).toBe(true);
    expect(isUrgent(entry, result({ logStartOffset: 4n }))).toBe(true);
    // When an answer goes anyway (another partition's records, or the wait is over), it says so.
    expect(includeInAnswer(entry, moved, false)).toBe(true);
    expect(entry.sentHighWatermark).toBe(12n);
    expect(isUrgent(entry, moved)).toBe(false);
    // The end of an error is news too.
    includeInAnswer(entry, result({ errorCode: 'NOT_LEADER_OR_FOLLOWER' }), false);
    expect(isUrgent(entry, moved)).toBe(true);
  });

  it('a forgotten partition listed again starts afresh: the follower is told everything about it', () => {
    const cache = new FetchSessionCache({ random: seeded(4) });
    const { session } = cache.open(openRequest(2, [position(0)]), 0);
    includeInAnswer(session.entries.get(sessionKey(TOPIC, 0))!, result(), true);
    cache.open(
      {
        replicaId: 2,
        sessionId: session.id,
        sessionEpoch: 1,
        partitions: [],
        forgotten: [{ topicId: TOPIC, partition: 0 }],
      },
      1,
    );
    expect(session.entries.size).toBe(0);
    cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 2, partitions: [position(0)] }, 2);
    const entry = session.entries.get(sessionKey(TOPIC, 0))!;
    expect(entry.sentHighWatermark).toBeUndefined();
    expect(includeInAnswer(entry, result(), false)).toBe(true);
  });

  it('an epoch out of order is INVALID_FETCH_SESSION_EPOCH, and the session is dropped', () => {
    const cache = new FetchSessionCache({ random: seeded(5) });
    const { session } = cache.open(openRequest(2, [position(0)]), 0);
    cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 1, partitions: [] }, 1);
    // A duplicate of the last request (its answer was lost, and the follower retried it).
    const error = refusal(() =>
      cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 1, partitions: [] }, 2),
    );
    expect(error.code).toBe('INVALID_FETCH_SESSION_EPOCH');
    expect(error.details).toEqual({ sessionId: session.id, expectedEpoch: 2 });
    expect(cache.size).toBe(0);
    // Even the right epoch now finds no session: the follower must open a new one.
    const after = refusal(() =>
      cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 2, partitions: [] }, 3),
    );
    expect(after.code).toBe('FETCH_SESSION_ID_NOT_FOUND');
  });

  it('an epoch ahead of the expected one is refused too', () => {
    const cache = new FetchSessionCache({ random: seeded(6) });
    const { session } = cache.open(openRequest(2, [position(0)]), 0);
    const error = refusal(() =>
      cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 5, partitions: [] }, 1),
    );
    expect(error.code).toBe('INVALID_FETCH_SESSION_EPOCH');
    expect(cache.size).toBe(0);
  });

  it('an unknown id is FETCH_SESSION_ID_NOT_FOUND', () => {
    const cache = new FetchSessionCache({ random: seeded(7) });
    const { session } = cache.open(openRequest(2, [position(0)]), 0);
    const unknown = session.id === 1 ? 2 : 1;
    const error = refusal(() => cache.open({ replicaId: 2, sessionId: unknown, sessionEpoch: 1, partitions: [] }, 1));
    expect(error.code).toBe('FETCH_SESSION_ID_NOT_FOUND');
    expect(error.details).toEqual({ sessionId: unknown });
    // The replica's own session is untouched.
    expect(cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 1, partitions: [] }, 2).session).toBe(
      session,
    );
  });

  it("another replica's session id is FETCH_SESSION_ID_NOT_FOUND, and the owner's session survives", () => {
    const cache = new FetchSessionCache({ random: seeded(8) });
    const { session } = cache.open(openRequest(2, [position(0)]), 0);
    const error = refusal(() =>
      cache.open({ replicaId: 3, sessionId: session.id, sessionEpoch: 1, partitions: [] }, 1),
    );
    expect(error.code).toBe('FETCH_SESSION_ID_NOT_FOUND');
    expect(session.nextEpoch).toBe(1);
    expect(session.entries.size).toBe(1);
    expect(cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 1, partitions: [] }, 2).full).toBe(false);
  });

  it('a new session must start at epoch 0, and a refused one leaves the old session in place', () => {
    const cache = new FetchSessionCache({ random: seeded(9) });
    const { session } = cache.open(openRequest(2, [position(0)]), 0);
    const error = refusal(() => cache.open({ replicaId: 2, sessionId: 0, sessionEpoch: 1, partitions: [] }, 1));
    expect(error.code).toBe('INVALID_FETCH_SESSION_EPOCH');
    expect(cache.size).toBe(1);
    expect(cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 1, partitions: [] }, 2).session).toBe(
      session,
    );
  });

  it("a replica's new session replaces its old one, and leaves other replicas' sessions alone", () => {
    const cache = new FetchSessionCache({ random: seeded(10) });
    const old = cache.open(openRequest(2, [position(0)]), 0).session;
    const other = cache.open(openRequest(3, [position(0)]), 0).session;
    const fresh = cache.open(openRequest(2, [position(1)]), 1).session;
    expect(fresh.id).not.toBe(old.id);
    expect(cache.size).toBe(2);
    expect(
      refusal(() => cache.open({ replicaId: 2, sessionId: old.id, sessionEpoch: 1, partitions: [] }, 2)).code,
    ).toBe('FETCH_SESSION_ID_NOT_FOUND');
    expect(cache.open({ replicaId: 3, sessionId: other.id, sessionEpoch: 1, partitions: [] }, 2).session).toBe(other);
    expect(cache.open({ replicaId: 2, sessionId: fresh.id, sessionEpoch: 1, partitions: [] }, 2).session).toBe(fresh);
  });

  it('keeps at most maxSessions, dropping the least recently used', () => {
    const cache = new FetchSessionCache({ maxSessions: 2, random: seeded(11) });
    const a = cache.open(openRequest(2, [position(0)]), 0).session;
    const b = cache.open(openRequest(3, [position(0)]), 1).session;
    // Using a makes b the least recently used.
    cache.open({ replicaId: 2, sessionId: a.id, sessionEpoch: 1, partitions: [] }, 2);
    const c = cache.open(openRequest(4, [position(0)]), 3).session;
    expect(cache.size).toBe(2);
    expect(refusal(() => cache.open({ replicaId: 3, sessionId: b.id, sessionEpoch: 1, partitions: [] }, 4)).code).toBe(
      'FETCH_SESSION_ID_NOT_FOUND',
    );
    expect(cache.open({ replicaId: 2, sessionId: a.id, sessionEpoch: 2, partitions: [] }, 5).session).toBe(a);
    expect(cache.open({ replicaId: 4, sessionId: c.id, sessionEpoch: 1, partitions: [] }, 6).session).toBe(c);
    // Now c was used last: a new session pushes a out.
    cache.open(openRequest(5, [position(0)]), 7);
    expect(cache.size).toBe(2);
    expect(refusal(() => cache.open({ replicaId: 2, sessionId: a.id, sessionEpoch: 3, partitions: [] }, 8)).code).toBe(
      'FETCH_SESSION_ID_NOT_FOUND',
    );
  });

  it('drops sessions idle longer than idleTimeoutMs; a request keeps its session alive', () => {
    const cache = new FetchSessionCache({ idleTimeoutMs: 1_000, random: seeded(12) });
    const busy = cache.open(openRequest(2, [position(0)]), 0).session;
    const idle = cache.open(openRequest(3, [position(0)]), 0).session;
    // Exactly at the timeout a session is still there.
    cache.open({ replicaId: 2, sessionId: busy.id, sessionEpoch: 1, partitions: [] }, 1_000);
    expect(cache.size).toBe(2);
    cache.open({ replicaId: 2, sessionId: busy.id, sessionEpoch: 2, partitions: [] }, 1_800);
    expect(cache.size).toBe(1);
    expect(
      refusal(() => cache.open({ replicaId: 3, sessionId: idle.id, sessionEpoch: 1, partitions: [] }, 1_801)).code,
    ).toBe('FETCH_SESSION_ID_NOT_FOUND');
    // busy was last used at 1800: still there at 2800, gone after.
    expect(cache.open({ replicaId: 2, sessionId: busy.id, sessionEpoch: 3, partitions: [] }, 2_800).session).toBe(busy);
    expect(
      refusal(() => cache.open({ replicaId: 2, sessionId: busy.id, sessionEpoch: 4, partitions: [] }, 3_801)).code,
    ).toBe('FETCH_SESSION_ID_NOT_FOUND');
    expect(cache.size).toBe(0);
  });

  it('remove drops a session', () => {
    const cache = new FetchSessionCache({ random: seeded(13) });
    const { session } = cache.open(openRequest(2, [position(0)]), 0);
    cache.remove(session.id);
    expect(cache.size).toBe(0);
    cache.remove(session.id); // Removing twice is harmless.
  });

  it('the epoch wraps from INT32_MAX to 1, never to 0 (which opens a session)', () => {
    const cache = new FetchSessionCache({ random: seeded(14) });
    const { session } = cache.open(openRequest(2, [position(0)]), 0);
    session.nextEpoch = INT32_MAX;
    cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: INT32_MAX, partitions: [] }, 1);
    expect(session.nextEpoch).toBe(1);
    cache.open({ replicaId: 2, sessionId: session.id, sessionEpoch: 1, partitions: [] }, 2);
    expect(session.nextEpoch).toBe(2);
  });
});

describe('includeInAnswer: what an answer carries', () => {
  function entry(): SessionEntry {
    const cache = new FetchSessionCache({ random: seeded(20) });
    return cache.open(openRequest(2, [position(0)]), 0).session.entries.get(sessionKey(TOPIC, 0))!;
  }

  it('a full answer carries every partition, news or not, and remembers what it said', () => {
    const e = entry();
    expect(includeInAnswer(e, result({ highWatermark: 10n, logStartOffset: 3n }), true)).toBe(true);
    expect(e.sentHighWatermark).toBe(10n);
    expect(e.sentLogStartOffset).toBe(3n);
    expect(includeInAnswer(e, result({ highWatermark: 10n, logStartOffset: 3n }), true)).toBe(true);
  });

  it('an incremental answer leaves out a partition with nothing new', () => {
    const e = entry();
    includeInAnswer(e, result(), true);
    expect(includeInAnswer(e, result(), false)).toBe(false);
    expect(includeInAnswer(e, result(), false)).toBe(false);
  });

  it('a partition never told anything goes in the first incremental answer', () => {
    expect(includeInAnswer(entry(), result(), false)).toBe(true);
  });

  it('records always go in', () => {
    const e = entry();
    includeInAnswer(e, result(), true);
    expect(includeInAnswer(e, result({ hasRecords: true }), false)).toBe(true);
    expect(includeInAnswer(e, result({ hasRecords: true }), false)).toBe(true);
  });

  it('a moved high watermark or log start goes in once', () => {
    const e = entry();
    includeInAnswer(e, result(), true);
    expect(includeInAnswer(e, result({ highWatermark: 11n }), false)).toBe(true);
    expect(e.sentHighWatermark).toBe(11n);
    expect(includeInAnswer(e, result({ highWatermark: 11n }), false)).toBe(false);
    expect(includeInAnswer(e, result({ highWatermark: 11n, logStartOffset: 4n }), false)).toBe(true);
    expect(e.sentLogStartOffset).toBe(4n);
    expect(includeInAnswer(e, result({ highWatermark: 11n, logStartOffset: 4n }), false)).toBe(false);
  });

  it('a divergence goes in and is remembered until a round without one', () => {
    const e = entry();
    includeInAnswer(e, result(), true);
    expect(includeInAnswer(e, result({ diverging: true }), false)).toBe(true);
    expect(e.diverged).toBe(true);
    expect(includeInAnswer(e, result({ diverging: true }), false)).toBe(true);
    expect(includeInAnswer(e, result({ hasRecords: true }), false)).toBe(true);
    expect(e.diverged).toBe(false);
  });

  it('a new error goes in; the same error is not repeated; a different one is', () => {
    const e = entry();
    includeInAnswer(e, result(), true);
    expect(includeInAnswer(e, result({ errorCode: 'NOT_LEADER_OR_FOLLOWER', highWatermark: 0n }), false)).toBe(true);
    expect(e.sentError).toBe('NOT_LEADER_OR_FOLLOWER');
    // An error answer carries no real high watermark: what the follower was told before stands.
    expect(e.sentHighWatermark).toBe(10n);
    expect(includeInAnswer(e, result({ errorCode: 'NOT_LEADER_OR_FOLLOWER', highWatermark: 0n }), false)).toBe(false);
    expect(includeInAnswer(e, result({ errorCode: 'FENCED_LEADER_EPOCH', highWatermark: 0n }), false)).toBe(true);
    expect(e.sentError).toBe('FENCED_LEADER_EPOCH');
    // Records clear it: the answer carries no error, and a later error is news again.
    expect(includeInAnswer(e, result({ hasRecords: true, highWatermark: 12n }), false)).toBe(true);
    expect(e.sentError).toBeUndefined();
    expect(e.sentHighWatermark).toBe(12n);
    expect(includeInAnswer(e, result({ errorCode: 'FENCED_LEADER_EPOCH', highWatermark: 0n }), false)).toBe(true);
  });

  it('a full answer repeats an error the follower was already told', () => {
    const e = entry();
    includeInAnswer(e, result({ errorCode: 'UNKNOWN_LEADER_EPOCH' }), true);
    expect(includeInAnswer(e, result({ errorCode: 'UNKNOWN_LEADER_EPOCH' }), true)).toBe(true);
  });
});
