import { isMillraceError } from '@millrace/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type FetchSession,
  FetchSessionCache,
  type SessionPartitionRequest,
  sessionKey,
} from '../../src/replication/fetch-sessions.js';
import { FetchSessionBuilder } from '../../src/replication/session-builder.js';
import { OTHER_TOPIC, position, positionsOf, TOPIC } from './positions.js';

const SESSION_ID = 1234;

/** A builder whose full request was answered with SESSION_ID. */
function opened(positions: SessionPartitionRequest[]): FetchSessionBuilder {
  const builder = new FetchSessionBuilder();
  builder.build(positions);
  builder.onAnswer(SESSION_ID);
  return builder;
}

describe('fetch session builder (KIP-227, follower side)', () => {
  it('the first request opens a session: id 0, epoch 0, every partition, nothing forgotten', () => {
    const builder = new FetchSessionBuilder();
    expect(builder.sessionId).toBe(0);
    const positions = [position(0, 5n), position(1, 9n), position(0, 1n, { topicId: OTHER_TOPIC })];
    expect(builder.build(positions)).toEqual({ sessionId: 0, sessionEpoch: 0, partitions: positions, forgotten: [] });
  });

  it('after the answer, a request carries the id, epoch 1, and no partition when nothing moved', () => {
    const positions = [position(0, 5n), position(1, 9n)];
    const builder = opened(positions);
    expect(builder.sessionId).toBe(SESSION_ID);
    expect(builder.build(positions)).toEqual({ sessionId: SESSION_ID, sessionEpoch: 1, partitions: [], forgotten: [] });
  });

  it('lists only the positions that changed in any field, and new partitions', () => {
    const builder = opened([position(0), position(1), position(2), position(3), position(4), position(5)]);
    const now = [
      position(0, 10n),
      position(1, 0n, { currentLeaderEpoch: 4 }),
      position(2, 0n, { lastFetchedEpoch: undefined }),
      position(3, 0n, { logStartOffset: 2n }),
      position(4, 0n, { partitionMaxBytes: 1024 }),
      position(5),
      position(6),
    ];
    const request = builder.build(now);
    expect(request.partitions).toEqual([now[0], now[1], now[2], now[3], now[4], now[6]]);
    expect(request.forgotten).toEqual([]);
    // What was listed is now what the leader holds: listing it again would be redundant.
    expect(builder.build(now).partitions).toEqual([]);
  });

  it('names partitions no longer fetched in forgotten, once', () => {
    const builder = opened([position(0), position(1), position(0, 0n, { topicId: OTHER_TOPIC })]);
    const request = builder.build([position(1)]);
    expect(request.partitions).toEqual([]);
    expect(request.forgotten).toEqual([
      { topicId: TOPIC, partition: 0 },
      { topicId: OTHER_TOPIC, partition: 0 },
    ]);
    builder.onAnswer(SESSION_ID);
    expect(builder.build([position(1)]).forgotten).toEqual([]);
    builder.onAnswer(SESSION_ID);
    // Fetched again: listed as new.
    expect(builder.build([position(1), position(0, 3n)]).partitions).toEqual([position(0, 3n)]);
  });

  it('a topic id in another case is the same partition', () => {
    const builder = opened([position(0)]);
    expect(builder.build([position(0, 0n, { topicId: TOPIC.toUpperCase() })])).toMatchObject({
      partitions: [],
      forgotten: [],
    });
  });

  it('epochs go 1, 2, 3… with each answer in the same session', () => {
    const builder = opened([position(0)]);
    const epochs: number[] = [];
    for (let i = 0; i < 5; i++) {
      epochs.push(builder.build([position(0)]).sessionEpoch);
      builder.onAnswer(SESSION_ID);
    }
    expect(epochs).toEqual([1, 2, 3, 4, 5]);
  });

  it('an answer carrying another id means a new session: epoch 1 again', () => {
    const builder = opened([position(0)]);
    builder.build([position(0)]);
    builder.onAnswer(SESSION_ID);
    builder.onAnswer(SESSION_ID + 1);
    expect(builder.build([position(0)])).toMatchObject({ sessionId: SESSION_ID + 1, sessionEpoch: 1 });
  });

  it('reset goes back to a full request', () => {
    const builder = opened([position(0), position(1)]);
    builder.build([position(0, 4n), position(1)]);
    builder.reset();
    expect(builder.sessionId).toBe(0);
    expect(builder.build([position(0, 4n), position(1)])).toEqual({
      sessionId: 0,
      sessionEpoch: 0,
      partitions: [position(0, 4n), position(1)],
      forgotten: [],
    });
  });

  it.each([undefined, 0])('an answer without a session id (%s) resets: the next request is full', (id) => {
    const builder = opened([position(0)]);
    builder.build([position(0, 2n)]);
    builder.onAnswer(id);
    expect(builder.sessionId).toBe(0);
    expect(builder.build([position(0, 2n)])).toEqual({
      sessionId: 0,
      sessionEpoch: 0,
      partitions: [position(0, 2n)],
      forgotten: [],
    });
  });
});

/** One partition a follower fetches: index into a small universe of topics and partitions. */
const slot = fc.record({ topic: fc.constantFrom(TOPIC, OTHER_TOPIC), partition: fc.integer({ min: 0, max: 5 }) });

const step = fc.oneof(
  fc.record({ kind: fc.constant('advance' as const), slot, by: fc.bigInt({ min: 0n, max: 50n }) }),
  fc.record({ kind: fc.constant('new-epoch' as const), slot, lastFetched: fc.option(fc.integer({ min: 0, max: 9 })) }),
  fc.record({ kind: fc.constant('log-start' as const), slot, by: fc.bigInt({ min: 1n, max: 5n }) }),
  fc.record({ kind: fc.constant('max-bytes' as const), slot, bytes: fc.integer({ min: 1, max: 1 << 20 }) }),
  fc.record({ kind: fc.constant('add' as const), slot, at: fc.bigInt({ min: 0n, max: 1000n }) }),
  fc.record({ kind: fc.constant('remove' as const), slot }),
  // The request reached the leader but its answer was lost: the follower opens a new session.
  fc.record({ kind: fc.constant('answer-lost' as const) }),
  // The request never reached the leader: the follower opens a new session.
  fc.record({ kind: fc.constant('request-lost' as const) }),
  // The leader forgot the session (it restarted, or evicted it).
  fc.record({ kind: fc.constant('leader-forgets' as const) }),
  fc.record({ kind: fc.constant('idle' as const), ms: fc.integer({ min: 0, max: 12_000 }) }),
);

describe('fetch session builder and cache together', () => {
  it("after every answered request, the leader's session holds exactly the follower's positions (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 2 }), fc.array(step, { maxLength: 80 }), (seed, steps) => {
        let draws = seed;
        const cache = new FetchSessionCache({
          idleTimeoutMs: 10_000,
          // A seeded Lehmer source: the session ids are part of the replayed run.
          random: () => {
            draws = Number((BigInt(draws) * 48_271n) % 2_147_483_647n);
            return draws / 2_147_483_647;
          },
        });
        const builder = new FetchSessionBuilder();
        const positions = new Map<string, SessionPartitionRequest>();
        let nowMs = 0;
        let leaderSession: FetchSession | undefined;

        const keyOf = (s: { topic: string; partition: number }) => sessionKey(s.topic, s.partition);
        const change = (s: { topic: string; partition: number }, f: (p: SessionPartitionRequest) => object) => {
          const current = positions.get(keyOf(s));
          if (current !== undefined) positions.set(keyOf(s), { ...current, ...f(current) });
        };
        /** Sends the follower's request; returns whether the follower got the answer. */
        const round = (deliver: 'answered' | 'answer-lost' | 'request-lost'): boolean => {
          const request = builder.build([...positions.values()]);
          if (request.sessionId === 0) {
            expect(request.sessionEpoch).toBe(0);
            expect(request.forgotten).toEqual([]);
            expect(request.partitions.length).toBe(positions.size);
          }
          if (deliver === 'request-lost') {
            builder.reset();
            return false;
          }
          try {
            leaderSession = cache.open({ replicaId: 2, ...request }, nowMs).session;
          } catch (error) {
            // The only refusal a well-behaved follower meets: its session is gone (forgotten or idle).
            if (!isMillraceError(error, 'FETCH_SESSION_ID_NOT_FOUND')) throw error;
            builder.reset();
            return false;
          }
          if (deliver === 'answer-lost') {
            builder.reset();
            return false;
          }
          builder.onAnswer(leaderSession.id);
          return true;
        };

        for (const s of steps) {
          switch (s.kind) {
            case 'advance':
              change(s.slot, (p) => ({ fetchOffset: p.fetchOffset + s.by }));
              break;
            case 'new-epoch':
              change(s.slot, (p) => ({
                currentLeaderEpoch: p.currentLeaderEpoch + 1,
                lastFetchedEpoch: s.lastFetched ?? undefined,
              }));
              break;
            case 'log-start':
              change(s.slot, (p) => ({ logStartOffset: p.logStartOffset + s.by }));
              break;
            case 'max-bytes':
              change(s.slot, () => ({ partitionMaxBytes: s.bytes }));
              break;
            case 'add':
              if (!positions.has(keyOf(s.slot))) {
                positions.set(keyOf(s.slot), {
                  topicId: s.slot.topic,
                  partition: s.slot.partition,
                  fetchOffset: s.at,
                  currentLeaderEpoch: 1,
                  logStartOffset: 0n,
                  partitionMaxBytes: 1 << 20,
                });
              }
              break;
            case 'remove':
              positions.delete(keyOf(s.slot));
              break;
            case 'leader-forgets':
              if (builder.sessionId !== 0) cache.remove(builder.sessionId);
              break;
            case 'idle':
              nowMs += s.ms;
              break;
            case 'answer-lost':
            case 'request-lost':
              round(s.kind);
              continue;
          }
          if (!round('answered')) continue;
          // One session per follower: lost answers and new sessions leave no stale one behind.
          expect(cache.size).toBe(1);
          expect(leaderSession!.id).toBe(builder.sessionId);
          expect(positionsOf(leaderSession!.entries)).toEqual(positionsOf(positions));
        }
      }),
      // Fixed so a run is repeatable; FC_SEED=<n> explores (and replays) others.
      { numRuns: 300, seed: Number(process.env.FC_SEED ?? 227) },
    );
  });
});
